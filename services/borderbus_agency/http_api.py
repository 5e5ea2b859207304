"""HTTP front of the agency publisher.

``POST /v1/events/{event_type}`` takes one JSON event or an array of them. 202 comes back only
after Kafka acknowledged every event; 4xx names every bad item and field and publishes nothing;
503 means Kafka did not acknowledge and nothing of the request is visible.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from borderbus.events import FieldError, InvalidEvents, warnings_body
from borderbus_agency.metrics import EVENTS_REJECTED, EXPECTED_INTERVAL, REQUESTS_IN_FLIGHT
from borderbus_agency.publisher import AgencyPublisher, BrokerUnavailable

MAX_BATCH = 1000
MAX_BODY_BYTES = 16 * 1024 * 1024
_STATUS_FOR_CODE = {"unknown_event_type": 404, "event_type_not_allowed": 403}

PUBLISHER_KEY = web.AppKey("publisher", AgencyPublisher)


def _error(status: int, error: str, errors: list[dict[str, Any]]) -> web.Response:
    return web.json_response({"error": error, "errors": errors}, status=status)


async def publish_events(request: web.Request) -> web.Response:
    publisher = request.app[PUBLISHER_KEY]
    event_type = request.match_info["event_type"]
    agency = publisher.agency.code
    with REQUESTS_IN_FLIGHT.labels(agency).track_inprogress():
        try:
            payload = json.loads(await request.read())
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            EVENTS_REJECTED.labels(agency, "unknown", "invalid_json").inc()
            return _error(
                400, "invalid_json", [FieldError(None, "body", f"is not valid JSON: {error}", "invalid_json").as_dict()]
            )
        bodies = payload if isinstance(payload, list) else [payload]
        if len(bodies) > MAX_BATCH:
            return _error(
                413,
                "batch_too_large",
                [
                    FieldError(
                        None, "body", f"has {len(bodies)} events; at most {MAX_BATCH} per request", "batch_too_large"
                    ).as_dict()
                ],
            )
        if not bodies:
            return _error(400, "empty_batch", [FieldError(None, "body", "is an empty array", "empty_batch").as_dict()])
        try:
            events = publisher.prepare(event_type, bodies)
        except InvalidEvents as invalid:
            status = max((_STATUS_FOR_CODE.get(error.code, 422) for error in invalid.errors), default=422)
            return _error(status, "invalid_events", [error.as_dict() for error in invalid.errors])
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, publisher.publish_prepared, events)
        except BrokerUnavailable as error:
            return _error(
                503, "broker_unavailable", [{"index": None, "field": None, "reason": str(error), "code": "broker_unavailable"}]
            )
        return web.json_response(
            {
                "accepted": len(events),
                "event_ids": [event.event_id for event in events],
                "topic": publisher.catalogue.ingest_topic(agency, event_type),
                **warnings_body(events),
            },
            status=202,
        )


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    publisher = request.app[PUBLISHER_KEY]
    reachable = await asyncio.get_running_loop().run_in_executor(None, publisher.is_broker_reachable)
    if reachable:
        return web.json_response({"status": "ready"})
    return web.json_response({"status": "not ready", "reason": "Kafka is not reachable"}, status=503)


async def metrics(_request: web.Request) -> web.Response:
    response = web.Response(body=generate_latest())
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response


async def about(request: web.Request) -> web.Response:
    publisher = request.app[PUBLISHER_KEY]
    agency = publisher.agency
    return web.json_response(
        {
            "agency": agency.code,
            "name": agency.name,
            "publishes": {
                event_type: {
                    "endpoint": f"/v1/events/{event_type}",
                    "topic": publisher.catalogue.ingest_topic(agency.code, event_type),
                    "schema": publisher.writer_schemas[event_type].label,
                }
                for event_type in agency.publishes
            },
        }
    )


def build_app(publisher: AgencyPublisher) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[PUBLISHER_KEY] = publisher
    EXPECTED_INTERVAL.labels(publisher.agency.code).set(publisher.agency.expected_interval_seconds)
    app.router.add_get("/", about)
    app.router.add_post("/v1/events/{event_type}", publish_events)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)

    async def close_publisher(_app: web.Application) -> None:
        await asyncio.get_running_loop().run_in_executor(None, publisher.close)

    app.on_cleanup.append(close_publisher)
    return app


def serve(publisher: AgencyPublisher, host: str, port: int) -> None:
    web.run_app(build_app(publisher), host=host, port=port, print=None, access_log=None)
