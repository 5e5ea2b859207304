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

    def as_principal(self, name: str) -> Bus:
        """The same bus authenticating as Kafka principal ``name`` (see :meth:`Settings.as_principal`)."""
        settings = self.settings.as_principal(name)
        return self if settings is self.settings else Bus(settings, Catalogue(settings), self.schemas)

    @classmethod
    def from_env(cls) -> Bus:
        return cls.from_settings(Settings.from_env())
