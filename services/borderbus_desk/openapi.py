"""The duty desk API's OpenAPI description, shipped next to this module as ``openapi.yaml``.

Built here, beside the routes it describes, from :mod:`borderbus.limits` and the desk's own statuses and
actions (:mod:`borderbus_desk.state`) with the library's :mod:`borderbus.openapi`;
``python -m borderbus_cli.openapi`` writes it, and a test fails when the shipped file is stale or a
route of :mod:`borderbus_desk.http_api` is not described.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from borderbus import limits
from borderbus.markings import SEVERITIES
from borderbus.openapi import document, plain, responses
from borderbus_desk.state import ACTIONS, STATUSES

FILE = Path(__file__).resolve().with_name("openapi.yaml")

DESK_ERROR = {
    "type": "object",
    "required": ["error", "field", "message"],
    "properties": {"error": {"type": "string"}, "field": {"type": ["string", "null"]}, "message": {"type": "string"}},
}
"""The body of every refusal (:func:`borderbus_desk.http_api._error`): a code, the field at fault, why."""


def spec() -> dict[str, Any]:
    """The desk's JSON API, its event stream, the console's files, health and metrics."""
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
                "responses": responses({"200": "the officer", "401": codes["401"]}, error, view),
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
                "responses": responses({"200": "the alerts", **codes}, error, view),
            }
        },
        "/api/v1/alerts/{alert_id}": {
            "get": {
                "operationId": "get_alert",
                "summary": "One alert (404 if unknown or not the officer's to see)",
                "parameters": [alert_id],
                "responses": responses({"200": "the alert", "401": codes["401"], "404": "unknown alert"}, error, view),
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
                "responses": responses(
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
                    "200": plain("an endless event stream", "text/event-stream"),
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
                "responses": responses({"200": "the graph", "401": codes["401"], "404": "unknown alert"}, error, view),
            }
        },
        "/api/v1/border-points": {
            "get": {
                "operationId": "border_points",
                "summary": "Border points with their coordinates and localized names (for the map)",
                "responses": responses({"200": "the border points", "401": codes["401"]}, error, view),
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
                "responses": responses({"200": "the silences", **codes}, error, view),
            },
            "post": {
                "operationId": "create_silence",
                "summary": "A new silence (role silence or supervisor); written with its audit record",
                "requestBody": silence_body,
                "responses": responses(silence_codes, error, view),
            },
        },
        "/api/v1/silences/{silence_id}": {
            "get": {
                "operationId": "get_silence",
                "summary": "One silence, its newest version",
                "parameters": [silence_id],
                "responses": responses({"200": "the silence", "401": codes["401"], "404": "unknown silence"}, error, view),
            },
            "put": {
                "operationId": "edit_silence",
                "summary": "A new version of a silence",
                "parameters": [silence_id],
                "requestBody": silence_body,
                "responses": responses({**silence_codes, "404": "unknown silence"}, error, view),
            },
        },
        "/api/v1/silences/{silence_id}/expire": {
            "post": {
                "operationId": "expire_silence",
                "summary": "End a silence now",
                "parameters": [silence_id],
                "responses": responses({**silence_codes, "404": "unknown silence"}, error, view),
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
                "responses": responses(
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
                "responses": {"200": plain("the console page", "text/html")},
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
                    "200": plain("a file", "application/octet-stream"),
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
                "responses": {"200": plain("Prometheus text format")},
            }
        },
    }
    return document(
        "borderbus duty desk API",
        "Generated by `python -m borderbus_cli.openapi` from borderbus/limits.py; do not edit by hand.",
        paths,
        {"DeskError": DESK_ERROR},
        "an officer token (bbo_…)",
    )
