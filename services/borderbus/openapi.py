"""Building blocks of the services' OpenAPI 3.1 descriptions, made from the Avro schemas and
:mod:`borderbus.limits` so no description can drift from what the services enforce.

Only what every description needs lives here: Avro (as the JSON the ingest preparer reads) to JSON
Schema with the limits, responses by status code, the document around the paths, and writing or
checking the YAML file. Each service describes its own routes next to its ``openapi.yaml``
(``borderbus_agency.openapi``, ``borderbus_desk.openapi``), so the library never imports a service;
``python -m borderbus_cli.openapi`` regenerates them all.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from borderbus import limits

_FILLED_BY_SERVICE = ("event_id", "agency", "reported_at")


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [{"type": "null"}, schema]}


class JsonSchema:
    """Avro (as the agency's JSON input) to JSON Schema, with the limits the preparer enforces."""

    def __init__(self, max_subjects: int) -> None:
        self.max_subjects = max_subjects
        self.names: dict[str, Any] = {}

    def convert(self, avro: Any, name: str) -> dict[str, Any]:
        if isinstance(avro, str) and avro in self.names:
            return copy.deepcopy(self.names[avro])
        if isinstance(avro, list):
            branches = [self.convert(branch, name) for branch in avro if branch != "null"]
            schema = branches[0] if len(branches) == 1 else {"anyOf": branches}
            return _nullable(schema) if "null" in avro else schema
        kind = avro if isinstance(avro, str) else avro["type"]
        logical = avro.get("logicalType") if isinstance(avro, dict) else None
        if logical == "timestamp-millis":
            low, high = limits.MIN_TIMESTAMP_MS, limits.MAX_TIMESTAMP_MS - 1
            return {
                "description": "epoch milliseconds, or ISO-8601 with a time zone; from 1900 to 2199",
                "anyOf": [{"type": "integer", "minimum": low, "maximum": high}, {"type": "string", "format": "date-time"}],
            }
        if logical == "uuid":
            return {"type": "string", "format": "uuid"}
        if logical == "decimal":
            return {
                "description": f"at most {avro['precision']} digits, {avro.get('scale', 0)} after the point",
                "anyOf": [{"type": "string", "pattern": r"^-?[0-9]{1,16}(\.[0-9]{1,2})?$"}, {"type": "number"}],
            }
        result = self._by_kind(kind, avro, name)
        if isinstance(avro, dict) and avro.get("type") in ("record", "enum"):
            self.names[avro["name"]] = result
            if avro.get("namespace"):
                self.names[f"{avro['namespace']}.{avro['name']}"] = result
        return result

    def _by_kind(self, kind: str, avro: Any, name: str) -> dict[str, Any]:
        bounds = limits.value_range(name)
        if kind == "record":
            return self._record(avro)
        if kind == "enum":
            symbols = list(avro["symbols"])
            return {"type": "string", "enum": symbols + (["AMBER+STRICT"] if "AMBER_STRICT" in symbols else [])}
        if kind == "array":
            most = self.max_subjects if limits.field_name(name) == "subjects" else limits.max_items(name)
            return {"type": "array", "items": self.convert(avro["items"], name), "maxItems": most}
        if kind == "string":
            return {"type": "string", "maxLength": limits.max_string(name)}
        if kind == "boolean":
            return {"type": "boolean"}
        if kind in ("int", "long"):
            low, high = bounds or (limits.INT_RANGE if kind == "int" else limits.LONG_RANGE)
            return {"type": "integer", "minimum": low, "maximum": high}
        if kind in ("double", "float"):
            schema: dict[str, Any] = {"type": "number"}
            if bounds:
                schema.update(minimum=bounds[0], maximum=bounds[1])
            return schema
        raise ValueError(f"no JSON Schema for Avro type {kind}")

    def _record(self, avro: dict[str, Any]) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required = []
        for field in avro["fields"]:
            properties[field["name"]] = self.convert(field["type"], field["name"])
            if "doc" in field:
                properties[field["name"]]["description"] = field["doc"]
            if "default" not in field:
                required.append(field["name"])
        if avro["name"] == "Subject":  # input: a country to read the id in; `verified` is the service's to set
            properties["country"] = _nullable({"type": "string", "maxLength": limits.max_string("country")})
            properties["id"]["description"] = "the identifier as the agency spells it; the service makes it canonical"
            properties.pop("verified", None)
        if "subject_id" in properties:  # input may point at a subject by position instead of its canonical id
            properties["subject_index"] = {"type": "integer", "minimum": 0, "maximum": self.max_subjects - 1}
            required = [name for name in required if name != "subject_id"]
        schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
        if required:
            schema["required"] = required
        return schema

    def event(self, avro: dict[str, Any]) -> dict[str, Any]:
        schema = self.convert(avro, "")
        schema["required"] = [name for name in schema["required"] if name not in _FILLED_BY_SERVICE]
        schema["properties"]["subjects"]["minItems"] = 1
        if "removed_subject_ids" in schema["properties"]:
            schema["properties"]["removed_subject_indexes"] = {
                "type": "array",
                "items": {"type": "integer", "minimum": 0, "maximum": self.max_subjects - 1},
                "maxItems": limits.max_items("removed_subject_indexes"),
            }
        schema["description"] = avro.get("doc", "")
        return schema


def responses(codes: dict[str, str], error_ref: str, ok: dict[str, Any] | None = None) -> dict[str, Any]:
    """JSON responses by status code: ``ok`` for the 2xx ones (when given), the error schema at ``error_ref`` for the rest."""
    result: dict[str, Any] = {}
    for code, description in codes.items():
        body = ok if code.startswith("2") and ok is not None else {"$ref": error_ref}
        result[code] = {"description": description, "content": {"application/json": {"schema": body}}}
    return result


def plain(description: str, media: str = "text/plain") -> dict[str, Any]:
    """A response whose body is not JSON: metrics text, an event stream, a page or a file."""
    return {"description": description, "content": {media: {"schema": {"type": "string"}}}}


def document(title: str, description: str, paths: dict[str, Any], schemas: dict[str, Any], token: str) -> dict[str, Any]:
    """The whole description: every operation needs a bearer ``token`` unless it says otherwise; paths sorted."""
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1", "description": description},
        "security": [{"bearer": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": token}},
        },
    }


def render(spec: dict[str, Any]) -> str:
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=120)


def write(path: Path, spec: dict[str, Any], *, check: bool = False) -> bool:
    """Whether ``path`` already held ``spec``; if not, writes it, unless only asked to ``check``."""
    text = render(spec)
    current = path.is_file() and path.read_text() == text
    if not current and not check:
        path.write_text(text)
    return current
