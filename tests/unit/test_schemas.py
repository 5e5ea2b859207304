"""The schema catalogue: complete, documented, compatible, and never edited in place."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from borderbus.bus import Bus
from borderbus.schemas import SchemaCatalogue, check_catalogue
from borderbus_cli.main import main

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas" / "avro"


def _fields_without_doc(schema: Any, path: str = "") -> list[str]:
    missing: list[str] = []
    if isinstance(schema, list):
        for branch in schema:
            missing += _fields_without_doc(branch, path)
    elif isinstance(schema, dict):
        for field in schema.get("fields", []):
            where = f"{path}.{field['name']}"
            if not field.get("doc"):
                missing.append(where)
            missing += _fields_without_doc(field["type"], where)
        for key in ("items", "values"):
            if key in schema:
                missing += _fields_without_doc(schema[key], path)
    return missing


def test_catalogue_has_every_event_type_and_the_alert_types(offline_bus: Bus) -> None:
    assert set(offline_bus.schemas.versions) == {
        "sighting",
        "finance-flag",
        "case-update",
        "correlator-route",
        "correlator-finding",
        "platform-report",
        "alert",
        "alert-action",
        "desk-alert-status",
        "desk-silence",
        "desk-audit",
    }


def test_every_field_has_a_doc(offline_bus: Bus) -> None:
    for version in offline_bus.schemas:
        assert _fields_without_doc(version.definition) == [], version.label


def test_shipped_schemas_pass_the_check(offline_bus: Bus) -> None:
    assert check_catalogue(offline_bus.schemas) == []


@pytest.fixture
def schema_copy(tmp_path: Path) -> Path:
    target = tmp_path / "avro"
    shutil.copytree(SCHEMA_DIR, target)
    return target


def _next_version(schema_dir: Path) -> int:
    """The version a new sighting schema would take: one past the newest in the folder."""
    return max(int(path.stem[1:]) for path in (schema_dir / "sighting").glob("v*.avsc")) + 1


def _write_next(schema_dir: Path, new_field: dict[str, Any]) -> None:
    newest = _next_version(schema_dir) - 1
    latest = json.loads((schema_dir / "sighting" / f"v{newest}.avsc").read_text())
    latest["fields"].append(new_field)
    (schema_dir / "sighting" / f"v{newest + 1}.avsc").write_text(json.dumps(latest))


def test_a_new_required_field_breaks_backward_compatibility(schema_copy: Path) -> None:
    _write_next(schema_copy, {"name": "operator_badge", "type": "string", "doc": "no default"})
    problems = check_catalogue(SchemaCatalogue(schema_copy))
    version = _next_version(schema_copy) - 1
    assert any(f"sighting/v{version} cannot read sighting/v1" in p and "operator_badge" in p for p in problems), problems
    assert main(["schemas", "check", "--dir", str(schema_copy)]) == 1


def test_an_optional_field_with_default_is_compatible_both_ways(schema_copy: Path) -> None:
    _write_next(schema_copy, {"name": "operator_badge", "type": ["null", "string"], "default": None, "doc": "ok"})
    assert check_catalogue(SchemaCatalogue(schema_copy)) == []


def test_removing_an_enum_symbol_breaks_forward_reading(schema_copy: Path) -> None:
    version = _next_version(schema_copy)
    latest = json.loads((schema_copy / "sighting" / f"v{version - 1}.avsc").read_text())
    method = next(f for f in latest["fields"] if f["name"] == "method")
    method["type"]["symbols"].remove("DRONE")
    (schema_copy / "sighting" / f"v{version}.avsc").write_text(json.dumps(latest))
    problems = check_catalogue(SchemaCatalogue(schema_copy))
    assert any(f"sighting/v{version} cannot read sighting/v1" in p for p in problems), problems


def test_editing_a_published_version_in_place_is_refused(schema_copy: Path) -> None:
    v1_path = schema_copy / "sighting" / "v1.avsc"
    v1 = json.loads(v1_path.read_text())
    v1["fields"].append({"name": "sneaky", "type": ["null", "int"], "default": None, "doc": "edited"})
    v1_path.write_text(json.dumps(v1))
    problems = check_catalogue(SchemaCatalogue(schema_copy))
    assert any("sighting/v1 was edited after it was published" in p for p in problems), problems
