"""The agency ingest API's OpenAPI description, shipped next to this module as ``openapi.yaml``.

Built here, beside the routes it describes, from the Avro schemas and :mod:`borderbus.limits` with the
library's :mod:`borderbus.openapi`; ``python -m borderbus_cli.openapi`` writes it, and a test fails
when the shipped file is stale or a route of :mod:`borderbus_agency.http_api` is not described.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from borderbus import limits
from borderbus.catalogue import EVENT_TYPES
from borderbus.openapi import JsonSchema, document, plain, responses
from borderbus.schemas import SchemaCatalogue

FILE = Path(__file__).resolve().with_name("openapi.yaml")

AGENCY_ERROR = {
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
"""The body of every refusal (:func:`borderbus_agency.http_api._error`): each problem by index and field."""


def spec(schemas: SchemaCatalogue, max_subjects: int) -> dict[str, Any]:
    """The ingest API: one operation per event type, its body the type's latest schema as JSON input."""
    converter = JsonSchema(max_subjects)
    components: dict[str, Any] = {"AgencyError": AGENCY_ERROR}
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
                "responses": responses(publish_codes, error, accepted),
            }
        }
    paths["/v1/events/{event_type}"] = {
        "post": {
            "summary": "Publish events of a type: the four types above; any other answers 404",
            "operationId": "publish_events",
            "parameters": [{"name": "event_type", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {}}}},
            "responses": responses(publish_codes, error, accepted),
        }
    }
    paths["/"] = {
        "get": {
            "summary": "This agency service: its agency and what it publishes where",
            "operationId": "about",
            "responses": responses(
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
                "200": plain("Prometheus text format"),
                "401": {"description": "no valid token", "content": {"application/json": {"schema": {"$ref": error}}}},
            },
        }
    }
    return document(
        "borderbus agency ingest API",
        "Generated by `python -m borderbus_cli.openapi` from the Avro schemas and borderbus/limits.py; do not edit by hand.",
        paths,
        components,
        "an agency client token (bba_…)",
    )
