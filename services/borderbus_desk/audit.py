"""The duty desk's audit trail: who read, listed, followed or did what, when, from where. Pure logic.

Every alert detail read, list, stream subscription, action, silence change, sign-in and failed
sign-in becomes one ``desk-audit`` record in the topic ``desk.audit`` (keyed by officer, long
retention, only the desk writes, nobody deletes): :func:`entry` builds it, :func:`filter_detail`
says which filter a list or stream used (known filter names only, so a token wrongly put in a query
string never reaches the trail), and :class:`AuditQuery` is what supervisors ask of it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from borderbus_desk.state import FilterError, _ms_or_iso, iso, to_millis

ALERT_READ = "alert.read"
ALERTS_LIST = "alerts.list"
STREAM_SUBSCRIBE = "stream.subscribe"
ALERT_ACTION = "alert.action"
SILENCE_CREATE = "silence.create"
SILENCE_EDIT = "silence.edit"
SILENCE_EXPIRE = "silence.expire"
SILENCE_READ = "silence.read"
SILENCES_LIST = "silences.list"
AUDIT_READ = "audit.read"
SIGNIN = "signin"
SIGNIN_FAILED = "signin.failed"
WHAT = (
    ALERT_READ,
    ALERTS_LIST,
    STREAM_SUBSCRIBE,
    ALERT_ACTION,
    SILENCE_CREATE,
    SILENCE_EDIT,
    SILENCE_EXPIRE,
    SILENCE_READ,
    SILENCES_LIST,
    AUDIT_READ,
    SIGNIN,
    SIGNIN_FAILED,
)
UNKNOWN_OFFICER = "unknown"
FILTER_NAMES = (
    "min_severity",
    "status",
    "rule",
    "border_point",
    "subject",
    "since",
    "until",
    "silenced",
    "limit",
    "state",
    "officer",
    "alert",
    "what",
)
"""Query parameters an audit record may repeat; anything else (a token in a URL, say) is left out."""
_MAX_DETAIL = 2000


class AuditQueryError(ValueError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


def filter_detail(query: Mapping[str, str]) -> str:
    """The filter of a list or stream as ``name=value&...`` (known names only, sorted)."""
    return urlencode(sorted((name, str(query[name])) for name in FILTER_NAMES if query.get(name)))


def entry(
    *,
    what: str,
    officer: str | None,
    agency: str | None,
    client_address: str,
    desk: str,
    now_ms: int,
    alert_id: str | None = None,
    silence_id: str | None = None,
    detail: str = "",
    outcome: str = "ok",
    audit_id: str | None = None,
) -> dict[str, Any]:
    """One ``desk-audit`` record."""
    if what not in WHAT:
        raise ValueError(f"unknown audit kind {what!r}")
    return {
        "audit_id": audit_id or str(uuid.uuid4()),
        "occurred_at": now_ms,
        "officer": officer or UNKNOWN_OFFICER,
        "agency": agency,
        "what": what,
        "alert_id": _writable(alert_id),
        "silence_id": _writable(silence_id),
        "detail": _writable(detail[:_MAX_DETAIL]),
        "outcome": outcome,
        "client_address": client_address,
        "desk": desk,
    }


def _writable(text: str | None) -> str | None:
    """What a refused request sent, as text Avro can write: a lone surrogate (``"\\ud800"`` in a JSON
    action) is kept as its escape, so the refusal is audited instead of failing the request with a 500."""
    if text is None or text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def refused(code: str) -> str:
    return f"refused:{code}"


def key(record: Mapping[str, Any]) -> bytes:
    """Records are keyed by officer, so one officer's trail is in order in one partition."""
    return str(record["officer"]).encode()


def to_json(record: Mapping[str, Any]) -> dict[str, Any]:
    converted = to_millis(dict(record))
    return {**converted, "occurred_at": iso(int(converted["occurred_at"]))}


@dataclass(frozen=True)
class AuditQuery:
    """``GET /api/v1/audit?officer=&alert=&what=&since=&until=&limit=`` for a supervisor of ``agency``:
    only entries of that agency's officers (and failed sign-ins, which have no agency, are not theirs)."""

    agency: str
    officer: str | None = None
    alert_id: str | None = None
    what: frozenset[str] | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    limit: int = 500

    @classmethod
    def from_query(cls, agency: str, query: Mapping[str, str], now_ms: int, *, default_window_ms: int) -> AuditQuery:
        def text(name: str) -> str | None:
            value = query.get(name)
            return value.strip() if value and value.strip() else None

        since_text, until_text = text("since"), text("until")
        try:
            since = _ms_or_iso("since", since_text) if since_text else now_ms - default_window_ms
            until = _ms_or_iso("until", until_text) if until_text else None
        except FilterError as error:
            raise AuditQueryError(error.field, str(error).split(": ", 1)[-1]) from None
        if until is not None and until < since:
            raise AuditQueryError("until", "is before since")
        what = None
        if text("what"):
            what = frozenset(item.strip() for item in (text("what") or "").split(",") if item.strip())
            if what - set(WHAT):
                raise AuditQueryError("what", f"unknown {', '.join(sorted(what - set(WHAT)))}; known: {', '.join(WHAT)}")
        limit_text = text("limit") or "500"
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 5000:
            raise AuditQueryError("limit", "expected 1..5000")
        for name in query:
            if name not in ("officer", "alert", "what", "since", "until", "limit"):
                named = name.strip() or "query"  # "?=x" has a parameter without a name: the query is at fault
                raise AuditQueryError(named, "unknown parameter; known: officer, alert, what, since, until, limit")
        return cls(agency, text("officer"), text("alert"), what, since, until, int(limit_text))

    def matches(self, record: Mapping[str, Any]) -> bool:
        if record.get("agency") != self.agency:
            return False
        if self.officer is not None and record["officer"] != self.officer:
            return False
        if self.alert_id is not None and record.get("alert_id") != self.alert_id:
            return False
        if self.what is not None and record["what"] not in self.what:
            return False
        at = int(to_millis(record["occurred_at"]))
        if self.since_ms is not None and at < self.since_ms:
            return False
        return self.until_ms is None or at <= self.until_ms
