"""OpenAPI 3.1 descriptions of the agency ingest API and the duty desk API, made from the Avro schemas and
:mod:`borderbus.limits`, so the descriptions cannot drift from what the services enforce.

``python -m borderbus.openapi`` writes ``services/borderbus_agency/openapi.yaml`` and
``services/borderbus_desk/openapi.yaml``; a test checks the shipped files equal what this module makes
and that every route of both aiohttp apps is described. The fuzz tests generate requests from them.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import yaml

from borderbus import limits
from borderbus.markings import SEVERITIES
from borderbus.schemas import SchemaCatalogue

EVENT_TYPES = ("sighting", "finance-flag", "case-update", "platform-report")
SERVICES_DIR = Path(__file__).resolve().parents[1]
AGENCY_FILE = SERVICES_DIR / "borderbus_agency" / "openapi.yaml"
DESK_FILE = SERVICES_DIR / "borderbus_desk" / "openapi.yaml"
_FILLED_BY_SERVICE = ("event_id", "agency", "reported_at")


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [{"type": "null"}, schema]}


class _JsonSchema:
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


_AGENCY_ERROR = {
    "type": "object",
    "required": ["error", "errors"],
    "properties": {
        "error": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["index", "field", "reason", "code"],
                "properties": {
                    "index": {"type": ["integer", "null"]},
                    "field": {"type": ["string", "null"]},
                    "reason": {"type": "string"},
                    "code": {"type": "string"},
                },
            },
        },
        "event_ids": {"type": "array", "items": {"type": "string"}},
    },
}


def _responses(codes: dict[str, str], error_ref: str, ok: dict[str, Any] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for code, description in codes.items():
        body = ok if code.startswith("2") and ok is not None else {"$ref": error_ref}
        result[code] = {"description": description, "content": {"application/json": {"schema": body}}}
    return result


def _plain(description: str, media: str = "text/plain") -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": {"type": "string"}}}}


def agency_spec(schemas: SchemaCatalogue, max_subjects: int) -> dict[str, Any]:
    converter = _JsonSchema(max_subjects)
    components: dict[str, Any] = {"AgencyError": _AGENCY_ERROR}
    paths: dict[str, Any] = {}
    error = "#/components/schemas/AgencyError"
    accepted = {
        "type": "object",
        "required": ["accepted", "event_ids", "already_accepted", "topic"],
        "properties": {
            "accepted": {"type": "integer"},
            "event_ids": {"type": "array", "items": {"type": "string"}},
            "already_accepted": {"type": "integer"},
            "topic": {"type": "string"},
            "warnings": {"type": "array", "items": {"type": "object"}},
        },
    }
    publish_codes = {
        "202": "every event acknowledged by Kafka (one transaction)",
        "400": "not JSON, nested deeper than the limit, or an empty array",
        "401": "no valid client token",
        "403": "another agency's token, or an event type this agency does not publish",
        "404": "unknown event type",
        "413": f"body over {limits.MAX_BODY_BYTES} bytes, over {limits.MAX_BATCH} events, or an event over "
        f"{limits.MAX_EVENT_BYTES} bytes once encoded",
        "422": "invalid events: every problem, by index and field",
        "429": "too many failed authentications from this address",
        "503": "Kafka did not acknowledge: nothing is visible, send again",
        "504": "outcome unknown: send the same event ids again",
    }
    for event_type in EVENT_TYPES:
        name = schemas.latest(event_type).definition["name"]
        components[name] = converter.event(schemas.latest(event_type).definition)
        ref = {"$ref": f"#/components/schemas/{name}"}
        paths[f"/v1/events/{event_type}"] = {
            "post": {
                "summary": f"Publish one {event_type} event or an array of them",
                "operationId": f"publish_{event_type.replace('-', '_')}",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "anyOf": [ref, {"type": "array", "items": ref, "minItems": 1, "maxItems": limits.MAX_BATCH}]
                            }
                        }
                    },
                },
                "responses": _responses(publish_codes, error, accepted),
            }
        }
    paths["/v1/events/{event_type}"] = {
        "post": {
            "summary": "Publish events of a type: the four types above; any other answers 404",
            "operationId": "publish_events",
            "parameters": [{"name": "event_type", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {}}}},
            "responses": _responses(publish_codes, error, accepted),
        }
    }
    paths["/"] = {
        "get": {
            "summary": "This agency service: its agency and what it publishes where",
            "operationId": "about",
            "responses": _responses(
                {"200": "the agency", "401": "no valid client token", "403": "another agency's token"}, error, {"type": "object"}
            ),
        }
    }
    open_ops = {
        "/healthz": ("healthz", "alive"),
        "/readyz": ("readyz", "Kafka reachable (503 when not)"),
    }
    for path, (operation, description) in open_ops.items():
        paths[path] = {
            "get": {
                "summary": description,
                "operationId": operation,
                "security": [],
                "responses": {
                    "200": {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}},
                    "503": {"description": "not ready", "content": {"application/json": {"schema": {"type": "object"}}}},
                },
            }
        }
    paths["/metrics"] = {
        "get": {
            "summary": "Prometheus metrics (a scope: metrics credential when the service requires one)",
            "operationId": "metrics",
            "security": [{}, {"bearer": []}],
            "responses": {
                "200": _plain("Prometheus text format"),
                "401": {"description": "no valid token", "content": {"application/json": {"schema": {"$ref": error}}}},
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "borderbus agency ingest API",
            "version": "1",
            "description": "Generated by `python -m borderbus.openapi` from the Avro schemas and borderbus/limits.py; "
            "do not edit by hand.",
        },
        "security": [{"bearer": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "an agency client token (bba_…)"}},
        },
    }


_DESK_ERROR = {
    "type": "object",
    "required": ["error", "field", "message"],
    "properties": {"error": {"type": "string"}, "field": {"type": ["string", "null"]}, "message": {"type": "string"}},
}


def desk_spec() -> dict[str, Any]:
    from borderbus_desk.state import ACTIONS, STATUSES

    error = "#/components/schemas/DeskError"
    text = {"type": "string", "maxLength": limits.MAX_QUERY_VALUE}
    filters = [
        {"name": "min_severity", "in": "query", "schema": {"type": "string", "enum": list(SEVERITIES)}},
        {"name": "status", "in": "query", "description": f"comma-separated, of {', '.join(STATUSES)}", "schema": text},
        {"name": "rule", "in": "query", "description": "comma-separated rule names", "schema": text},
        {"name": "border_point", "in": "query", "description": "comma-separated border point codes", "schema": text},
        {"name": "subject", "in": "query", "schema": text},
        {"name": "since", "in": "query", "description": "ISO-8601 or epoch milliseconds", "schema": text},
        {"name": "until", "in": "query", "description": "ISO-8601 or epoch milliseconds", "schema": text},
    ]
    alert_id = {
        "name": "alert_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": limits.ALERT_ID.pattern, "maxLength": limits.MAX_ALERT_ID},
    }
    codes = {
        "401": "no valid officer token",
        "422": "a filter or body field out of its limits",
        "429": "too many failed sign-ins",
    }
    view = {"type": "object"}
    silence_id = {"name": "silence_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}
    listed = {"type": ["array", "string"], "items": {"type": "string"}}
    silence_body = {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["matchers", "comment"],
                    "properties": {
                        "matchers": {
                            "type": "object",
                            "properties": {
                                "rules": listed,
                                "subject": {"type": "string"},
                                "border_points": listed,
                                "agencies": listed,
                                "min_severity": {"type": "string", "enum": list(SEVERITIES)},
                                "max_severity": {"type": "string", "enum": list(SEVERITIES)},
                            },
                        },
                        "comment": {"type": "string", "maxLength": 2000},
                        "starts_at": {"type": ["string", "integer"], "description": "ISO-8601 or epoch milliseconds"},
                        "ends_at": {"type": ["string", "integer"], "description": "ISO-8601 or epoch milliseconds"},
                        "duration_seconds": {"type": "integer", "minimum": 1},
                    },
                }
            }
        },
    }
    silence_codes = {
        "200": "the silence, as changed",
        "400": "a field out of its limits (named)",
        "401": codes["401"],
        "403": "the officer lacks the role",
        "503": "Kafka unavailable: not recorded",
    }
    paths: dict[str, Any] = {
        "/api/v1/me": {
            "get": {
                "operationId": "me",
                "summary": "The signed-in officer",
                "responses": _responses({"200": "the officer", "401": codes["401"]}, error, view),
            }
        },
        "/api/v1/alerts": {
            "get": {
                "operationId": "list_alerts",
                "summary": "Alerts the officer may see, newest first",
                "parameters": [
                    *filters,
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": limits.MAX_LIST}},
                ],
                "responses": _responses({"200": "the alerts", **codes}, error, view),
            }
        },
        "/api/v1/alerts/{alert_id}": {
            "get": {
                "operationId": "get_alert",
                "summary": "One alert (404 if unknown or not the officer's to see)",
                "parameters": [alert_id],
                "responses": _responses({"200": "the alert", "401": codes["401"], "404": "unknown alert"}, error, view),
            }
        },
        "/api/v1/alerts/{alert_id}/actions": {
            "post": {
                "operationId": "act",
                "summary": "An officer's action, recorded in Kafka",
                "parameters": [alert_id],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["action"],
                                "properties": {
                                    "action": {"type": "string", "enum": list(ACTIONS)},
                                    "note": {"type": ["string", "null"], "maxLength": limits.MAX_NOTE},
                                },
                            }
                        }
                    },
                },
                "responses": _responses(
                    {
                        "200": "applied",
                        "202": "recorded, not yet applied",
                        "400": "not JSON",
                        "404": "unknown alert",
                        "409": "illegal transition",
                        "413": f"body over {limits.DESK_MAX_BODY_BYTES} bytes",
                        **codes,
                        "503": "Kafka unavailable: not recorded",
                    },
                    error,
                    view,
                ),
            }
        },
        "/api/v1/stream": {
            "get": {
                "operationId": "stream",
                "summary": "Server-Sent Events: current alerts, then every change",
                "parameters": [
                    *filters,
                    {"name": "Last-Event-ID", "in": "header", "schema": {"type": "string", "maxLength": limits.MAX_CURSOR}},
                ],
                "responses": {
                    "200": _plain("an endless event stream", "text/event-stream"),
                    **{
                        code: {"description": why, "content": {"application/json": {"schema": {"$ref": error}}}}
                        for code, why in codes.items()
                    },
                },
            }
        },
        "/api/v1/alerts/{alert_id}/graph": {
            "get": {
                "operationId": "alert_graph",
                "summary": "The alert's subjects, the links the evidence made, and other open alerts on those subjects",
                "parameters": [alert_id],
                "responses": _responses({"200": "the graph", "401": codes["401"], "404": "unknown alert"}, error, view),
            }
        },
        "/api/v1/border-points": {
            "get": {
                "operationId": "border_points",
                "summary": "Border points with their coordinates and localized names (for the map)",
                "responses": _responses({"200": "the border points", "401": codes["401"]}, error, view),
            }
        },
        "/api/v1/silences": {
            "get": {
                "operationId": "list_silences",
                "summary": "Silences of the officer's agency",
                "parameters": [
                    {"name": "state", "in": "query", "description": "comma-separated of pending, active, expired; or all",
                     "schema": text}
                ],
                "responses": _responses({"200": "the silences", **codes}, error, view),
            },
            "post": {
                "operationId": "create_silence",
                "summary": "A new silence (role silence or supervisor); written with its audit record",
                "requestBody": silence_body,
                "responses": _responses(silence_codes, error, view),
            },
        },
        "/api/v1/silences/{silence_id}": {
            "get": {
                "operationId": "get_silence",
                "summary": "One silence, its newest version",
                "parameters": [silence_id],
                "responses": _responses({"200": "the silence", "401": codes["401"], "404": "unknown silence"}, error, view),
            },
            "put": {
                "operationId": "edit_silence",
                "summary": "A new version of a silence",
                "parameters": [silence_id],
                "requestBody": silence_body,
                "responses": _responses({**silence_codes, "404": "unknown silence"}, error, view),
            },
        },
        "/api/v1/silences/{silence_id}/expire": {
            "post": {
                "operationId": "expire_silence",
                "summary": "End a silence now",
                "parameters": [silence_id],
                "responses": _responses({**silence_codes, "404": "unknown silence"}, error, view),
            }
        },
        "/api/v1/audit": {
            "get": {
                "operationId": "audit_trail",
                "summary": "Supervisors only, read-only: who read or did what (every other method answers 405)",
                "parameters": [
                    {"name": name, "in": "query", "schema": text} for name in ("officer", "alert", "what", "since", "until")
                ]
                + [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}}],
                "responses": _responses(
                    {"200": "the entries", "400": "a query parameter out of its limits", "403": "not a supervisor",
                     "401": codes["401"], "503": "the audit trail could not record this read"},
                    error,
                    view,
                ),
            }
        },
        "/console/summaries/{locale}.json": {
            "get": {
                "operationId": "summary_catalogue",
                "summary": "Alert summary templates of a locale (the correlator renders English from the same file)",
                "security": [],
                "parameters": [
                    {"name": "locale", "in": "path", "required": True, "schema": {"type": "string", "enum": ["en", "ar"]}}
                ],
                "responses": {
                    "200": {"description": "the catalogue", "content": {"application/json": {"schema": view}}},
                    "404": {"description": "no such locale", "content": {"application/json": {"schema": {"$ref": error}}}},
                },
            }
        },
        "/": {
            "get": {
                "operationId": "console",
                "summary": "The duty console",
                "security": [],
                "responses": {"200": _plain("the console page", "text/html")},
            }
        },
        "/console/{filename}": {
            "get": {
                "operationId": "console_asset",
                "summary": "The console's static files",
                "security": [],
                "parameters": [
                    {"name": "filename", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 256}}
                ],
                "responses": {
                    "200": _plain("a file", "application/octet-stream"),
                    "404": {"description": "no such file", "content": {"application/json": {"schema": {"$ref": error}}}},
                },
            }
        },
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "summary": "alive (503 once a worker died)",
                "security": [],
                "responses": {
                    "200": {"description": "ok", "content": {"application/json": {"schema": view}}},
                    "503": {"description": "unhealthy", "content": {"application/json": {"schema": view}}},
                },
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "summary": "caught up with the logs",
                "security": [],
                "responses": {
                    "200": {"description": "ready", "content": {"application/json": {"schema": view}}},
                    "503": {"description": "catching up", "content": {"application/json": {"schema": view}}},
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics",
                "security": [],
                "responses": {"200": _plain("Prometheus text format")},
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "borderbus duty desk API",
            "version": "1",
            "description": "Generated by `python -m borderbus.openapi` from borderbus/limits.py; do not edit by hand.",
        },
        "security": [{"bearer": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {"DeskError": _DESK_ERROR},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "an officer token (bbo_…)"}},
        },
    }


def render(spec: dict[str, Any]) -> str:
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=120)


def main() -> int:
    from borderbus.bus import Bus
    from borderbus.config import Settings

    bus = Bus.from_settings(Settings.from_env({}))
    AGENCY_FILE.write_text(render(agency_spec(bus.schemas, bus.catalogue.max_subjects_per_event)))
    DESK_FILE.write_text(render(desk_spec()))
    print(f"wrote {AGENCY_FILE} and {DESK_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
