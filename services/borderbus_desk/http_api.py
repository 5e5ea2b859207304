"""The desk's HTTP face: JSON API, a Server-Sent-Events stream, the web console, health and metrics.

Every ``/api/`` request carries ``Authorization: Bearer <officer token>`` (the console sends it from
``fetch``, the stream included, so no token is ever in a URL, a cookie or a log). An alert an
officer may not see answers 404 exactly like one that does not exist, so the API is no existence
oracle. Failed sign-ins are limited per client address (429 with ``Retry-After``) and counted;
every response carries the security headers of :mod:`borderbus.http_security` (a CSP without
inline script or style: the console is three static files).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from borderbus import limits
from borderbus.http_security import (
    CALLER_KEY,
    CONSOLE_HEADERS,
    FailedAuthLimiter,
    access_logging,
    authenticate_request,
    client_address,
    security_headers,
)
from borderbus.tokens import INVALID, MISSING, RATE_LIMITED, REVOKED
from borderbus_desk import audit
from borderbus_desk.audit_log import AuditUnavailable
from borderbus_desk.desk import DeskError, DutyDesk, SilenceNotice, Subscriber
from borderbus_desk.metrics import ALERT_DELIVERY_LATENCY, FAILED_SIGNINS, SUBSCRIBERS
from borderbus_desk.officers import LOCALES, Officer
from borderbus_desk.state import AlertFilter, FilterError

SILENCE_STATES = ("pending", "active", "expired")
AUDIT_WINDOW_MS = 7 * 24 * 3600 * 1000
"""What ``GET /api/v1/audit`` searches without ``since``: the last 7 days."""

DESK_KEY = web.AppKey("desk", DutyDesk)
LIMITER_KEY = web.AppKey("limiter", FailedAuthLimiter)
OFFICER_KEY = web.RequestKey("officer", Officer)
CONSOLE_DIR = Path(str(resources.files("borderbus_desk") / "console"))
SUMMARY_CATALOGUES = Path(str(resources.files("borderbus") / "i18n"))
KEEPALIVE_S = 15.0
MAX_LIST = limits.MAX_LIST
FILTERED = ("status", "rule", "border_point")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(
    status: int, code: str, message: str, field_name: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response({"error": code, "field": field_name, "message": message}, status=status, headers=headers)


_REFUSAL = {
    MISSING: "send 'Authorization: Bearer <officer token>'",
    INVALID: "the token is not an officer's token",
    REVOKED: "the token has been revoked",
}


def _sign_in(request: web.Request) -> web.Response | None:
    """Authenticate an ``/api/`` request: None when the officer is known, else the refusal (401, or
    429 while the client address has too many failed sign-ins: see ``authenticate_request``)."""
    result = authenticate_request(request, request.app[DESK_KEY].officers.check, request.app[LIMITER_KEY])
    if result.principal is None:
        failure = result.failure or INVALID
        FAILED_SIGNINS.labels(failure).inc()
        desk = request.app[DESK_KEY]
        desk.audit.write_nowait(  # not awaited: a flood of wrong tokens must not cost the desk a wait each
            desk.audit_entry(
                None,
                audit.SIGNIN_FAILED,
                client_address(request),
                detail=f"{request.method} {request.path}: {failure}",
                outcome=audit.refused(failure),
            )
        )
        if failure == RATE_LIMITED:
            wait = result.retry_after
            return _error(
                429,
                "too_many_failed_signins",
                f"too many failed sign-ins from this address; retry in {wait} s",
                "Authorization",
                {"Retry-After": str(wait), "WWW-Authenticate": 'Bearer realm="borderbus-desk"'},
            )
        challenge = 'Bearer realm="borderbus-desk"' + ("" if failure == MISSING else ', error="invalid_token"')
        return _error(401, "unauthorized", _REFUSAL[failure], "Authorization", {"WWW-Authenticate": challenge})
    request[OFFICER_KEY] = result.principal
    request[CALLER_KEY] = f"{result.principal.officer_id}@{result.principal.agency}"
    return None


_CONSOLE_FILES = frozenset(str(path.relative_to(CONSOLE_DIR)) for path in CONSOLE_DIR.rglob("*") if path.is_file())


@web.middleware
async def errors_and_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    name = request.path.removeprefix("/console/")
    if request.path.startswith("/console/") and name not in _CONSOLE_FILES and not name.startswith("summaries/"):
        # aiohttp's static handler answers an unknown file with an empty 404, and a name over 255 bytes with a 500
        return _error(404, "not_found", "no such console file", "path")
    if request.path.startswith("/api/"):
        refusal = _sign_in(request)
        if refusal is not None:
            return refusal
    try:
        return await handler(request)
    except DeskError as error:
        return _error(error.status, error.code, str(error), error.field)
    except FilterError as error:
        return _error(422, "invalid_filter", str(error), error.field)
    except audit.AuditQueryError as error:
        return _error(400, "invalid_query", str(error), error.field)
    except AuditUnavailable as error:
        return _error(503, "audit_unavailable", f"the audit trail could not record this request, so it is not answered: {error}")
    except web.HTTPException as error:  # aiohttp's own refusals (404, 405, 413) in the same JSON shape
        if error.status < 400:
            raise
        if isinstance(error, web.HTTPRequestEntityTooLarge):
            return _error(413, "body_too_large", f"body is larger than {limits.DESK_MAX_BODY_BYTES} bytes", "body")
        code = error.reason.lower().replace(" ", "_")
        field_name = {404: "path", 405: "method"}.get(error.status, "request")
        kept = {name: value for name, value in error.headers.items() if name.lower() in ("allow", "retry-after")}
        why = "; the audit trail and other records cannot be changed through the API" if error.status == 405 else ""
        return _error(error.status, code, (error.text or error.reason) + why, field_name, kept)


def _alert_filter(request: web.Request) -> AlertFilter:
    """The filters of a list or stream request, within :mod:`borderbus.limits` (422 naming the parameter)."""
    for name, value in request.query.items():
        if len(value) > limits.MAX_QUERY_VALUE:
            raise FilterError(name or "query", f"has {len(value)} characters; at most {limits.MAX_QUERY_VALUE}")
    for name in FILTERED:
        items = request.query.get(name, "").count(",") + 1
        if items > limits.MAX_FILTER_ITEMS:
            raise FilterError(name, f"names {items} values; at most {limits.MAX_FILTER_ITEMS}")
    return AlertFilter.from_query(request.query)


def _alert_id(request: web.Request) -> str:
    """The path's alert id; one no alert can have answers 404 like an unknown one (no existence oracle)."""
    alert_id = request.match_info["alert_id"]
    if not limits.ALERT_ID.match(alert_id):
        raise DeskError(404, "unknown_alert", "no such alert", "alert_id")
    return alert_id


def _officer(request: web.Request) -> Officer:
    return request[OFFICER_KEY]


async def _audit(request: web.Request, what: str, *, outcome: str = "ok", **fields: Any) -> None:
    """Write the request's audit record and wait for Kafka's acknowledgement (AuditUnavailable: 503)."""
    desk = request.app[DESK_KEY]
    await desk.audit.write(desk.audit_entry(_officer(request), what, client_address(request), outcome=outcome, **fields))


async def _audited(request: web.Request, what: str, answer: Callable[[], Any], **fields: Any) -> Any:
    """``answer()``, audited whether it succeeds or is refused (who tried to read what counts too)."""
    try:
        result = answer()
    except (DeskError, FilterError, audit.AuditQueryError) as error:
        code = error.code if isinstance(error, DeskError) else "invalid_filter"
        if not (isinstance(error, DeskError) and error.audited):
            await _audit(request, what, outcome=audit.refused(code), **fields)
        raise
    await _audit(request, what, **fields)
    return result


async def me(request: web.Request) -> web.Response:
    officer = _officer(request)
    await _audit(request, audit.SIGNIN, detail="console or client sign-in (GET /api/v1/me)")
    return web.json_response(
        {
            "officer": officer.officer_id,
            "agency": officer.agency,
            "name": officer.name,
            "locale": officer.locale,
            "roles": sorted(officer.roles),
            "silences_expiring": request.app[DESK_KEY].expiring_for(officer),
        }
    )


async def list_alerts(request: web.Request) -> web.Response:
    def answer() -> list[dict[str, Any]]:
        alert_filter = _alert_filter(request)
        limit_text = request.query.get("limit", str(MAX_LIST)).strip()
        if not limits.is_ascii_digits(limit_text) or not 1 <= int(limit_text) <= MAX_LIST:
            raise DeskError(422, "invalid_filter", f"limit: expected 1..{MAX_LIST}", "limit")
        result: list[dict[str, Any]] = request.app[DESK_KEY].matching(_officer(request), alert_filter, int(limit_text))
        return result

    alerts = await _audited(request, audit.ALERTS_LIST, answer, detail=audit.filter_detail(request.query))
    return web.json_response({"alerts": alerts, "count": len(alerts)})


async def get_alert(request: web.Request) -> web.Response:
    alert_id = _alert_id(request)
    view = await _audited(
        request, audit.ALERT_READ, lambda: request.app[DESK_KEY].get(_officer(request), alert_id), alert_id=alert_id
    )
    return web.json_response(view)


async def get_graph(request: web.Request) -> web.Response:
    return web.json_response(request.app[DESK_KEY].graph(_officer(request), _alert_id(request)))


async def border_points(request: web.Request) -> web.Response:
    return web.json_response({"border_points": request.app[DESK_KEY].border_points()})


async def summary_catalogue(request: web.Request) -> web.FileResponse:
    """The summary templates of a locale, from the shared library (the correlator renders English from the same file)."""
    locale = request.match_info["locale"]
    if locale not in LOCALES:
        raise web.HTTPNotFound()
    return web.FileResponse(SUMMARY_CATALOGUES / f"summaries.{locale}.json")


async def post_action(request: web.Request) -> web.Response:
    alert_id = _alert_id(request)
    try:
        body = limits.parse_json(await request.read(), max_depth=4)
    except limits.JsonRefused as refused:
        raise DeskError(400, refused.code, f"body {refused.reason}", "body") from None
    if not isinstance(body, dict):
        raise DeskError(422, "invalid_action", "body must be an object with 'action' and optional 'note'", "action")
    note = body.get("note")
    if note is not None and not isinstance(note, str):
        raise DeskError(422, "invalid_note", "note must be a string", "note")
    if note is not None and not note.isascii():
        try:
            note.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate ("\ud800" in JSON): Avro cannot write it
            raise DeskError(422, "invalid_note", "note is not valid Unicode text (it holds a lone surrogate)", "note") from None
    raw_action = body.get("action", "")
    if not isinstance(raw_action, str):
        raise DeskError(422, "invalid_action", "action must be a string", "action")
    if len(note or "") > limits.MAX_NOTE * 2:  # far too long even before trimming: refused without copying it
        raise DeskError(422, "note_too_long", f"note is longer than {limits.MAX_NOTE} characters", "note")
    action = raw_action.strip().upper()
    try:
        status, payload = await request.app[DESK_KEY].act(_officer(request), alert_id, action, note, client_address(request))
    except DeskError as error:  # the accepted ones are audited in the action's own transaction
        if not error.audited:
            await _audit(request, audit.ALERT_ACTION, alert_id=alert_id, detail=action, outcome=audit.refused(error.code))
        raise
    return web.json_response(payload, status=status)


async def _json_body(request: web.Request, *, optional: bool = False) -> Any:
    raw = await request.read()
    if optional and not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DeskError(400, "invalid_json", f"body is not JSON: {error}", "body") from None


def _silence_states(request: web.Request) -> frozenset[str] | None:
    text = (request.query.get("state") or "pending,active").strip().lower()
    if text == "all":
        return None
    states = frozenset(item.strip() for item in text.split(",") if item.strip())
    if not states or states - set(SILENCE_STATES):
        raise DeskError(400, "invalid_filter", f"state: expected all or some of {', '.join(SILENCE_STATES)}", "state")
    return states


async def list_silences(request: web.Request) -> web.Response:
    desk = request.app[DESK_KEY]
    found = await _audited(
        request,
        audit.SILENCES_LIST,
        lambda: desk.silence_list(_officer(request), _silence_states(request)),
        detail=audit.filter_detail(request.query),
    )
    return web.json_response({"silences": found, "count": len(found)})


async def get_silence(request: web.Request) -> web.Response:
    silence_id = request.match_info["silence_id"]
    desk = request.app[DESK_KEY]
    view = await _audited(
        request, audit.SILENCE_READ, lambda: desk.silence_view(_officer(request), silence_id), silence_id=silence_id
    )
    return web.json_response(view)


async def _change_silence(request: web.Request, what: str, silence_id: str | None, body: Any) -> web.Response:
    try:
        view = await request.app[DESK_KEY].change_silence(_officer(request), what, silence_id, body, client_address(request))
    except DeskError as error:  # accepted changes are audited in the silence's own transaction
        await _audit(request, what, silence_id=silence_id, outcome=audit.refused(error.code), detail=str(error)[:500])
        raise
    return web.json_response(view, status=201 if what == audit.SILENCE_CREATE else 200)


async def create_silence(request: web.Request) -> web.Response:
    return await _change_silence(request, audit.SILENCE_CREATE, None, await _json_body(request))


async def edit_silence(request: web.Request) -> web.Response:
    return await _change_silence(request, audit.SILENCE_EDIT, request.match_info["silence_id"], await _json_body(request))


async def expire_silence(request: web.Request) -> web.Response:
    body = await _json_body(request, optional=True)
    return await _change_silence(request, audit.SILENCE_EXPIRE, request.match_info["silence_id"], body)


async def audit_trail(request: web.Request) -> web.Response:
    """Supervisors only; read-only: GET is the only method the audit trail answers."""
    desk = request.app[DESK_KEY]
    officer = _officer(request)
    detail = audit.filter_detail(request.query)
    try:
        query = audit.AuditQuery.from_query(
            officer.agency, request.query, int(time.time() * 1000), default_window_ms=AUDIT_WINDOW_MS
        )
        entries = await desk.audit_trail(officer, query)
    except (DeskError, audit.AuditQueryError) as error:
        code = error.code if isinstance(error, DeskError) else "invalid_query"
        await _audit(request, audit.AUDIT_READ, detail=detail, outcome=audit.refused(code), alert_id=request.query.get("alert"))
        raise
    await _audit(request, audit.AUDIT_READ, detail=detail, alert_id=query.alert_id)
    return web.json_response({"entries": entries, "count": len(entries)})


def _sse(seq_cursor: str, view: dict[str, Any]) -> bytes:
    return f"id: {seq_cursor}\nevent: alert\ndata: {json.dumps(view, separators=(',', ':'))}\n\n".encode()


def _sse_silence(view: dict[str, Any]) -> bytes:
    """A silence of the subscriber's agency changed or is about to end (no id: cursors count alert changes)."""
    return f"event: silence\ndata: {json.dumps(view, separators=(',', ':'))}\n\n".encode()


async def stream(request: web.Request) -> web.StreamResponse:
    desk = request.app[DESK_KEY]
    alert_filter = await _audited(
        request, audit.STREAM_SUBSCRIBE, lambda: _alert_filter(request), detail=audit.filter_detail(request.query)
    )
    subscriber = Subscriber(_officer(request), alert_filter)
    last_event_id = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    if last_event_id is not None and len(last_event_id) > limits.MAX_CURSOR:
        reason = f"has {len(last_event_id)} characters; at most {limits.MAX_CURSOR}"
        raise DeskError(422, "invalid_cursor", reason, "Last-Event-ID")
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    desk.subscribers.add(subscriber)  # before the backlog, so no change falls between the two
    SUBSCRIBERS.inc()
    sent: dict[str, int] = {}
    try:
        await response.write(b"retry: 2000\n\n")
        for seq, view in desk.backlog(subscriber, last_event_id):
            sent[view["alert_id"]] = seq
            await response.write(_sse(desk.cursor(seq), view))
        for silence_view in desk.silence_list(subscriber.officer, frozenset(("pending", "active"))):
            await response.write(_sse_silence(silence_view))
        while not subscriber.overflowed:
            try:
                change = await asyncio.wait_for(subscriber.queue.get(), KEEPALIVE_S)
            except TimeoutError:
                await response.write(b": keepalive\n\n")
                continue
            if isinstance(change, SilenceNotice):
                with contextlib.suppress(DeskError):  # another agency's, or gone
                    await response.write(_sse_silence(desk.silence_view(subscriber.officer, change.silence_id)))
                continue
            found = desk.view_for(subscriber, change.alert_id, matching_only=change.alert_id not in sent)
            if found is None or found[0] <= sent.get(change.alert_id, 0):
                continue
            seq, view = found
            sent[change.alert_id] = seq
            await response.write(_sse(desk.cursor(seq), view))
            if change.kind == "version":
                ALERT_DELIVERY_LATENCY.observe(max(0.0, time.time() - change.published_ms / 1000))
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        desk.subscribers.discard(subscriber)
        SUBSCRIBERS.dec()
    return response


async def healthz(request: web.Request) -> web.Response:
    """503 from the moment a worker died until the process exits (and its supervisor restarts it)."""
    problem = request.app[DESK_KEY].unhealthy()
    if problem is not None:
        return web.json_response({"status": "unhealthy", "reason": problem}, status=503)
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    desk = request.app[DESK_KEY]
    if not desk.caught_up:
        return web.json_response({"status": "catching up with alerts and actions"}, status=503)
    return web.json_response({"status": "ready", "alerts": len(desk.state.alerts), "officers": len(desk.officers)})


async def console(request: web.Request) -> web.FileResponse:
    return web.FileResponse(CONSOLE_DIR / "index.html")


async def _no_store(request: web.Request, response: web.StreamResponse) -> None:
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")


def build_app(desk: DutyDesk, *, limiter: FailedAuthLimiter | None = None) -> web.Application:
    app = web.Application(middlewares=[access_logging, errors_and_auth], client_max_size=limits.DESK_MAX_BODY_BYTES)
    app[DESK_KEY] = desk
    app[LIMITER_KEY] = limiter or FailedAuthLimiter()
    app.on_response_prepare.append(security_headers(CONSOLE_HEADERS))
    app.on_response_prepare.append(_no_store)

    async def lifecycle(app: web.Application) -> Any:
        await desk.start()
        yield
        await desk.stop()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/", console)
    app.router.add_get("/console/summaries/{locale}.json", summary_catalogue)
    app.router.add_static("/console/", CONSOLE_DIR)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", make_aiohttp_handler())
    app.router.add_get("/api/v1/me", me)
    app.router.add_get("/api/v1/alerts", list_alerts)
    app.router.add_get("/api/v1/alerts/{alert_id}", get_alert)
    app.router.add_get("/api/v1/alerts/{alert_id}/graph", get_graph)
    app.router.add_get("/api/v1/border-points", border_points)
    app.router.add_post("/api/v1/alerts/{alert_id}/actions", post_action)
    app.router.add_get("/api/v1/stream", stream)
    app.router.add_get("/api/v1/silences", list_silences)
    app.router.add_post("/api/v1/silences", create_silence)
    app.router.add_get("/api/v1/silences/{silence_id}", get_silence)
    app.router.add_put("/api/v1/silences/{silence_id}", edit_silence)
    app.router.add_post("/api/v1/silences/{silence_id}/expire", expire_silence)
    app.router.add_get("/api/v1/audit", audit_trail)  # GET only: nothing in the audit trail can be changed
    return app


def serve(desk: DutyDesk, host: str, port: int) -> None:
    web.run_app(build_app(desk), host=host, port=port, print=None, access_log=None, shutdown_timeout=5)
