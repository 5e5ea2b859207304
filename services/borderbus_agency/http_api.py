"""HTTP front of the agency publisher.

``POST /v1/events/{event_type}`` takes one JSON event or an array of them. 202 comes back only
after Kafka acknowledged every event; 4xx names every bad item and field and publishes nothing;
503 means Kafka did not acknowledge and nothing of the request is visible; 504
``outcome_unknown`` means the commit was sent but not confirmed: the events may be visible, and
sending them again with the same ``event_id`` values (returned in the answer) is safe.

Every request but ``/healthz`` and ``/readyz`` carries ``Authorization: Bearer <client token>`` of
this agency (``agency-clients.yaml``); ``/metrics`` too when the service is told so. Callers are
checked before the body is read, so a refused caller publishes nothing.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from borderbus.events import FieldError, InvalidEvents, warnings_body
from borderbus.http_security import (
    API_HEADERS,
    CALLER_KEY,
    FailedAuthLimiter,
    Handler,
    access_logging,
    authenticate_request,
    security_headers,
)
from borderbus.limits import MAX_BATCH, MAX_BODY_BYTES, JsonRefused, parse_json
from borderbus.tokens import INVALID, MISSING, RATE_LIMITED, REVOKED
from borderbus_agency.clients import AgencyClients
from borderbus_agency.metrics import AUTH_FAILURES, EVENTS_REJECTED, EXPECTED_INTERVAL, REQUESTS_IN_FLIGHT
from borderbus_agency.publisher import AgencyPublisher, BrokerUnavailable, OutcomeUnknown

_STATUS_FOR_CODE = {"unknown_event_type": 404, "event_type_not_allowed": 403, "event_too_large": 413}

PUBLISHER_KEY = web.AppKey("publisher", AgencyPublisher)
CLIENTS_KEY = web.AppKey("clients", AgencyClients)
LIMITER_KEY = web.AppKey("limiter", FailedAuthLimiter)
METRICS_NEED_TOKEN_KEY = web.AppKey("metrics_need_token", bool)
PUBLISH_EXECUTOR_KEY = web.AppKey("publish_executor", ThreadPoolExecutor)
PUBLISH_THREADS = 64
"""Publishes waiting for Kafka at once, a thread each. Batches that wait together share a transaction: the default
executor (cores + 4 threads, 6 here) let at most 6 share one, however many requests were waiting."""
OPEN_PATHS = frozenset({"/healthz", "/readyz"})
REALM = 'Bearer realm="borderbus-agency"'


def _error(status: int, error: str, errors: list[dict[str, Any]], headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": error, "errors": errors}, status=status, headers=headers)


def _refuse(status: int, error: str, code: str, reason: str, challenge: str | None = None) -> web.Response:
    headers = {"WWW-Authenticate": f'{REALM}, error="{challenge}"' if challenge else REALM}
    return _error(status, error, [{"index": None, "field": "Authorization", "reason": reason, "code": code}], headers)


_UNAUTHORIZED_REASON = {
    MISSING: "send 'Authorization: Bearer <client token>' (issued by 'borderbus agency token')",
    INVALID: "the token is not a known client credential",
    REVOKED: "the token has been revoked",
}


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own refusals (413 body too large, 404, 405) in the JSON error shape every other refusal uses."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        if isinstance(error, web.HTTPRequestEntityTooLarge):
            reason = f"is larger than {MAX_BODY_BYTES} bytes; send fewer events per request"
            field, code = "body", "body_too_large"
        else:
            code, reason = error.reason.lower().replace(" ", "_"), error.text or error.reason
            field = {404: "path", 405: "method"}.get(error.status, "request")
        kept = {name: value for name, value in error.headers.items() if name.lower() in ("allow", "retry-after")}
        return _error(error.status, code, [{"index": None, "field": field, "reason": reason, "code": code}], kept)


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """401 without a valid token, 403 with another agency's (or a metrics-only one for publishing)."""
    path = request.path
    if path in OPEN_PATHS or (path == "/metrics" and not request.app[METRICS_NEED_TOKEN_KEY]):
        return await handler(request)
    agency = request.app[PUBLISHER_KEY].agency.code
    result = authenticate_request(request, request.app[CLIENTS_KEY].authenticate, request.app[LIMITER_KEY])
    if result.principal is None:
        failure = result.failure or INVALID
        AUTH_FAILURES.labels(agency, failure).inc()
        if failure == RATE_LIMITED:
            wait = result.retry_after
            response = _refuse(429, "too_many_failed_attempts", failure, f"too many failed attempts; retry in {wait} s")
            response.headers["Retry-After"] = str(wait)
            return response
        challenge = None if failure == MISSING else "invalid_token"
        return _refuse(401, "unauthorized", failure, _UNAUTHORIZED_REASON[failure], challenge)
    client = result.principal
    request[CALLER_KEY] = f"{client.client}@{client.agency}"
    scope = "metrics" if path == "/metrics" else "publish"
    if not client.may(agency, scope):
        reason = "wrong_scope" if client.agency in (agency, "*") else "wrong_agency"
        AUTH_FAILURES.labels(agency, reason).inc()
        what = "read /metrics" if scope == "metrics" else "publish"
        return _refuse(403, "forbidden", reason, f"this credential may not {what} for agency {agency}", "insufficient_scope")
    return await handler(request)


async def publish_events(request: web.Request) -> web.Response:
    publisher = request.app[PUBLISHER_KEY]
    event_type = request.match_info["event_type"]
    agency = publisher.agency.code
    with REQUESTS_IN_FLIGHT.labels(agency).track_inprogress():
        try:
            payload = parse_json(await request.read())
        except JsonRefused as refused:
            EVENTS_REJECTED.labels(agency, "unknown", "invalid_json").inc()
            return _error(400, "invalid_json", [FieldError(None, "body", refused.reason, refused.code).as_dict()])
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
            already = await loop.run_in_executor(request.app[PUBLISH_EXECUTOR_KEY], publisher.publish_prepared, events)
        except BrokerUnavailable as error:
            reason = f"{error}; nothing of the request is visible, sending it again is safe"
            return _error(
                503,
                "broker_unavailable",
                [{"index": None, "field": None, "reason": reason, "code": "broker_unavailable"}],
                {"Retry-After": "5"},
            )
        except OutcomeUnknown as error:
            return web.json_response(
                {
                    "error": "outcome_unknown",
                    "errors": [{"index": None, "field": None, "reason": str(error), "code": "outcome_unknown"}],
                    "event_ids": error.event_ids,
                },
                status=504,
                headers={"Retry-After": "5"},
            )
        return web.json_response(
            {
                "accepted": len(events),
                "event_ids": [event.event_id for event in events],
                "already_accepted": len(already),
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


def build_app(
    publisher: AgencyPublisher,
    clients: AgencyClients,
    *,
    metrics_need_token: bool = False,
    limiter: FailedAuthLimiter | None = None,
) -> web.Application:
    """``metrics_need_token``: ``/metrics`` answers only a ``scope: metrics`` credential of this agency (or ``*``)."""
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[access_logging, json_errors, authenticate])
    app[PUBLISHER_KEY] = publisher
    app[CLIENTS_KEY] = clients
    app[LIMITER_KEY] = limiter or FailedAuthLimiter()
    app[METRICS_NEED_TOKEN_KEY] = metrics_need_token
    app[PUBLISH_EXECUTOR_KEY] = ThreadPoolExecutor(PUBLISH_THREADS, thread_name_prefix="publish")
    app.on_response_prepare.append(security_headers(API_HEADERS))
    EXPECTED_INTERVAL.labels(publisher.agency.code).set(publisher.agency.expected_interval_seconds)
    app.router.add_get("/", about)
    app.router.add_post("/v1/events/{event_type}", publish_events)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", make_aiohttp_handler())

    async def close_publisher(_app: web.Application) -> None:
        await asyncio.get_running_loop().run_in_executor(None, publisher.close)
        app[PUBLISH_EXECUTOR_KEY].shutdown(wait=False)

    app.on_cleanup.append(close_publisher)
    return app


def serve(publisher: AgencyPublisher, clients: AgencyClients, host: str, port: int, *, metrics_need_token: bool) -> None:
    app = build_app(publisher, clients, metrics_need_token=metrics_need_token)
    web.run_app(app, host=host, port=port, print=None, access_log=None)
