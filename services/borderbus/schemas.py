"""The Avro schemas in ``schemas/avro/<type>/v<N>.avsc``: loading, fingerprints and evolution checks.

Versions sit side by side and are never edited once published; ``fingerprints.lock.json``
records each published version's fingerprint so an in-place edit fails the check.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, cast

import avro.schema
import fastavro
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
from fastavro.schema import fingerprint as _fastavro_fingerprint
from fastavro.schema import to_parsing_canonical_form

LOCK_FILE = "fingerprints.lock.json"
_VERSION_FILE = re.compile(r"^v(?P<version>[1-9][0-9]*)\.avsc$")


def fingerprint(schema: dict[str, Any] | str | list[Any]) -> bytes:
    """CRC-64-AVRO of the Parsing Canonical Form, as the 8 little-endian bytes single-object encoding wants."""
    parsed = fastavro.parse_schema(schema, _write_hint=False)
    return bytes.fromhex(_fastavro_fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))


@dataclass(frozen=True)
class SchemaVersion:
    """One published version of one schema."""

    event_type: str
    version: int
    path: Path
    definition: dict[str, Any]

    @cached_property
    def parsed(self) -> dict[str, Any]:
        """fastavro's parsed form, ready for encoding and decoding."""
        return cast(dict[str, Any], fastavro.parse_schema(self.definition))

    @cached_property
    def fingerprint(self) -> bytes:
        return fingerprint(self.definition)

    @property
    def label(self) -> str:
        return f"{self.event_type}/v{self.version}"

    def json(self) -> str:
        """The full definition (with docs) as published to the schema topic."""
        return json.dumps(self.definition, sort_keys=True, separators=(",", ":"))


class SchemaCatalogue:
    """All versions of all schemas under one directory."""

    def __init__(self, schema_dir: Path) -> None:
        self.schema_dir = schema_dir
        self.versions: dict[str, list[SchemaVersion]] = {}
        for type_dir in sorted(path for path in schema_dir.iterdir() if path.is_dir()):
            found = []
            for file in type_dir.iterdir():
                match = _VERSION_FILE.match(file.name)
                if match:
                    definition = json.loads(file.read_text(encoding="utf-8"))
                    found.append(SchemaVersion(type_dir.name, int(match["version"]), file, definition))
            if found:
                self.versions[type_dir.name] = sorted(found, key=lambda v: v.version)
        self._by_fingerprint = {v.fingerprint: v for v in self}

    def __iter__(self) -> Iterator[SchemaVersion]:
        for versions in self.versions.values():
            yield from versions

    def latest(self, event_type: str) -> SchemaVersion:
        try:
            return self.versions[event_type][-1]
        except KeyError:
            raise KeyError(f"no schema for {event_type!r}; known: {', '.join(sorted(self.versions))}") from None

    def get(self, event_type: str, version: int) -> SchemaVersion:
        for candidate in self.versions.get(event_type, []):
            if candidate.version == version:
                return candidate
        raise KeyError(f"no schema {event_type}/v{version}")

    def by_fingerprint(self, fp: bytes) -> SchemaVersion | None:
        return self._by_fingerprint.get(fp)


def _compatible(reader: SchemaVersion, writer: SchemaVersion) -> tuple[bool, str]:
    result = ReaderWriterCompatibilityChecker().get_compatibility(  # type: ignore[no-untyped-call]
        avro.schema.parse(json.dumps(reader.definition)), avro.schema.parse(json.dumps(writer.definition))
    )
    if result.compatibility is SchemaCompatibilityType.compatible:
        return True, ""
    return False, "; ".join(sorted(result.messages)) + f" (at {', '.join(sorted(result.locations))})"


def check_catalogue(catalogue: SchemaCatalogue) -> list[str]:
    """Every problem that forbids publishing this set of schemas; empty when all is well.

    Each version must be readable by and able to read every earlier version of its type (full
    transitive compatibility), and every version recorded in the lock file must be unchanged.
    """
    problems: list[str] = []
    for event_type, versions in catalogue.versions.items():
        numbers = [v.version for v in versions]
        if numbers != list(range(1, len(numbers) + 1)):
            problems.append(f"{event_type}: versions must be v1..vN without gaps, found {numbers}")
        for position, newer in enumerate(versions):
            for older in versions[:position]:
                for reader, writer in ((newer, older), (older, newer)):
                    ok, why = _compatible(reader, writer)
                    if not ok:
                        problems.append(f"{reader.label} cannot read {writer.label}: {why}")
    locked = read_lock(catalogue.schema_dir)
    for version in catalogue:
        expected = locked.get(version.label)
        if expected is not None and expected != version.fingerprint.hex():
            problems.append(
                f"{version.label} was edited after it was published (fingerprint {version.fingerprint.hex()}, "
                f"locked {expected}); add a new version instead"
            )
    for label in sorted(set(locked) - {v.label for v in catalogue}):
        problems.append(f"{label} is in {LOCK_FILE} but its file is gone; published versions are never removed")
    return problems


def read_lock(schema_dir: Path) -> dict[str, str]:
    path = schema_dir / LOCK_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def lock_new_versions(catalogue: SchemaCatalogue) -> list[str]:
    """Record the fingerprints of versions not yet locked; never rewrites an existing entry."""
    locked = read_lock(catalogue.schema_dir)
    added = [v.label for v in catalogue if v.label not in locked]
    for version in catalogue:
        locked.setdefault(version.label, version.fingerprint.hex())
    (catalogue.schema_dir / LOCK_FILE).write_text(json.dumps(locked, indent=2, sort_keys=True) + "\n")
    return added
