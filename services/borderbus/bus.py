"""The three things every service loads at start: settings, the catalogue, and the schemas."""

from __future__ import annotations

from dataclasses import dataclass

from borderbus.catalogue import Catalogue
from borderbus.config import Settings
from borderbus.schemas import SchemaCatalogue


@dataclass(frozen=True)
class Bus:
    settings: Settings
    catalogue: Catalogue
    schemas: SchemaCatalogue

    @classmethod
    def from_settings(cls, settings: Settings) -> Bus:
        return cls(settings, Catalogue(settings), SchemaCatalogue(settings.schema_dir))

    @classmethod
    def from_env(cls) -> Bus:
        return cls.from_settings(Settings.from_env())
