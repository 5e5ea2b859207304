"""Silences: officers' accountable decisions to keep matching alerts quiet for a while. Pure logic.

A silence has matchers (rules, subject, border points, contributing agencies, a severity range), a
start, an end, a mandatory comment and its creator. While it is active, a matching alert is still
created and kept (listed under ``?silenced=true``) but is not pushed as new to live streams, webhooks
or escalation; when the last silence covering it ends, an open alert behaves normally again and its
escalation clock starts from that moment (:func:`clock_after_silences`).

A silence applies only to alerts its creator's agency may see, so nobody quiets what they cannot
see. Each change (create, edit, expire early) is a new version of the silence's record in the
compacted topic ``desk.silences`` (schema ``desk-silence``), so every desk holds the same set.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from borderbus.markings import SEVERITIES
from borderbus_desk.state import Change, DeskAlert, DeskState, iso, severity_rank, to_millis, visible_to

MATCHER_FIELDS = ("rules", "subject", "border_points", "agencies", "min_severity", "max_severity")
MAX_COMMENT = 2000
MAX_MATCHER_VALUES = 50
ROLE_SILENCE = "silence"
ROLE_SUPERVISOR = "supervisor"
CHANGES = ("CREATED", "EDITED", "EXPIRED")


class SilenceError(ValueError):
    """A silence request that cannot be accepted; ``field`` names the part at fault (for a 400)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass(frozen=True)
class Matchers:
    rules: frozenset[str] = frozenset()
    subject: str | None = None
    border_points: frozenset[str] = frozenset()
    agencies: frozenset[str] = frozenset()
    min_severity: str | None = None
    max_severity: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.rules or self.subject or self.border_points or self.agencies or self.min_severity or self.max_severity)

    def matches(self, alert: Mapping[str, Any]) -> bool:
        """Whether an alert record (its latest version) passes every matcher that is set."""
        if self.rules and alert["rule"] not in self.rules:
            return False
        if self.border_points and (alert.get("border_point") or "").upper() not in self.border_points:
            return False
        severity = severity_rank(alert["severity"])
        if self.min_severity is not None and severity < severity_rank(self.min_severity):
            return False
        if self.max_severity is not None and severity > severity_rank(self.max_severity):
            return False
        if self.agencies and not self.agencies & {item["agency"] for item in alert.get("evidence") or []}:
            return False
        if self.subject is not None:
            wanted = self.subject.casefold()
            return any(wanted in (s["id"].casefold(), f"{s['kind']}:{s['id']}".casefold()) for s in alert["subjects"])
        return True

    def to_json(self) -> dict[str, Any]:
        return {
            "rules": sorted(self.rules),
            "subject": self.subject,
            "border_points": sorted(self.border_points),
            "agencies": sorted(self.agencies),
            "min_severity": self.min_severity,
            "max_severity": self.max_severity,
        }

    def describe(self) -> str:
        """One line for the audit trail and the CLI, e.g. ``rules=a,b subject=GB:1 min_severity=HIGH``."""
        parts = []
        for name, value in self.to_json().items():
            if value:
                parts.append(f"{name}={','.join(value) if isinstance(value, list) else value}")
        return " ".join(parts)


@dataclass(frozen=True)
class Silence:
    silence_id: str
    version: int
    change: str
    matchers: Matchers
    starts_at_ms: int
    ends_at_ms: int
    comment: str
    created_by: str
    agency: str
    created_at_ms: int
    changed_by: str
    changed_at_ms: int

    def active(self, now_ms: int) -> bool:
        return self.starts_at_ms <= now_ms < self.ends_at_ms

    def state(self, now_ms: int) -> str:
        if now_ms < self.starts_at_ms:
            return "pending"
        return "active" if now_ms < self.ends_at_ms else "expired"

    def expires_soon(self, now_ms: int, warn_ms: int) -> bool:
        """Active and ending within ``warn_ms``: its creator is told (stream event, console banner, API field)."""
        return self.active(now_ms) and self.ends_at_ms - now_ms <= warn_ms

    def applies_to(self, alert: Mapping[str, Any], now_ms: int) -> bool:
        """Active, the alert passes the matchers, and the creator's agency may see the alert."""
        return self.active(now_ms) and visible_to(self.agency, alert) and self.matchers.matches(alert)

    def covered(self, alert: Mapping[str, Any]) -> bool:
        """Whether the silence would apply to the alert at some moment of its span (time aside)."""
        return self.starts_at_ms < self.ends_at_ms and visible_to(self.agency, alert) and self.matchers.matches(alert)

    def to_record(self) -> dict[str, Any]:
        m = self.matchers
        return {
            "silence_id": self.silence_id,
            "version": self.version,
            "change": self.change,
            "rules": sorted(m.rules),
            "subject": m.subject,
            "border_points": sorted(m.border_points),
            "agencies": sorted(m.agencies),
            "min_severity": m.min_severity,
            "max_severity": m.max_severity,
            "starts_at": self.starts_at_ms,
            "ends_at": self.ends_at_ms,
            "comment": self.comment,
            "created_by": self.created_by,
            "agency": self.agency,
            "created_at": self.created_at_ms,
            "changed_by": self.changed_by,
            "changed_at": self.changed_at_ms,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Silence:
        r = to_millis(dict(record))
        matchers = Matchers(
            rules=frozenset(r["rules"]),
            subject=r.get("subject"),
            border_points=frozenset(r["border_points"]),
            agencies=frozenset(r["agencies"]),
            min_severity=r.get("min_severity"),
            max_severity=r.get("max_severity"),
        )
        return cls(
            silence_id=r["silence_id"],
            version=int(r["version"]),
            change=r["change"],
            matchers=matchers,
            starts_at_ms=int(r["starts_at"]),
            ends_at_ms=int(r["ends_at"]),
            comment=r["comment"],
            created_by=r["created_by"],
            agency=r["agency"],
            created_at_ms=int(r["created_at"]),
            changed_by=r["changed_by"],
            changed_at_ms=int(r["changed_at"]),
        )

    def to_json(self, now_ms: int, warn_ms: int) -> dict[str, Any]:
        return {
            "silence_id": self.silence_id,
            "version": self.version,
            "change": self.change,
            "matchers": self.matchers.to_json(),
            "starts_at": iso(self.starts_at_ms),
            "ends_at": iso(self.ends_at_ms),
            "comment": self.comment,
            "created_by": self.created_by,
            "agency": self.agency,
            "created_at": iso(self.created_at_ms),
            "changed_by": self.changed_by,
            "changed_at": iso(self.changed_at_ms),
            "state": self.state(now_ms),
            "expires_soon": self.expires_soon(now_ms, warn_ms),
        }


def newer(current: Silence | None, candidate: Silence) -> bool:
    """Whether ``candidate`` replaces ``current`` (a higher version; an equal one read later wins too)."""
    return current is None or candidate.version >= current.version


def silenced_by(alert: Mapping[str, Any], silences: Iterable[Silence], now_ms: int) -> tuple[str, ...]:
    """The ids of the silences that keep ``alert`` quiet at ``now_ms``, sorted."""
    return tuple(sorted(silence.silence_id for silence in silences if silence.applies_to(alert, now_ms)))


def clock_after_silences(clock_ms: int, alert: Mapping[str, Any], silences: Iterable[Silence], now_ms: int) -> int:
    """When the acknowledgement clock really started: ``clock_ms``, or the end of the last silence that
    covered the alert after that and has ended by ``now_ms`` (a silence's end starts the clock)."""
    start = clock_ms
    for silence in silences:
        if silence.ends_at_ms <= now_ms and silence.ends_at_ms > clock_ms and silence.covered(alert):
            start = max(start, silence.ends_at_ms)
    return start


def active_ids(silences: Iterable[Silence], now_ms: int) -> frozenset[str]:
    return frozenset(silence.silence_id for silence in silences if silence.active(now_ms))


def may_change(officer_id: str, agency: str, roles: frozenset[str], silence: Silence) -> bool:
    """The creator (still holding the silence role) or a supervisor of the silence's agency."""
    if agency != silence.agency:
        return False
    return ROLE_SUPERVISOR in roles or (ROLE_SILENCE in roles and officer_id == silence.created_by)


# --- requests: validated input, every problem named by its field ------------------------------------------


def _moment(field_name: str, value: Any) -> int:
    if isinstance(value, bool) or value is None:
        raise SilenceError(field_name, "expected an ISO-8601 time or epoch milliseconds")
    if isinstance(value, int):
        return value
    if not isinstance(value, str) or not value.strip():
        raise SilenceError(field_name, "expected an ISO-8601 time or epoch milliseconds")
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SilenceError(field_name, f"{value!r} is neither ISO-8601 nor epoch milliseconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _texts(field_name: str, value: Any, *, upper: bool = False) -> frozenset[str]:
    if value is None:
        return frozenset()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise SilenceError(field_name, "expected a string or a list of strings")
    cleaned = {part.strip() for item in items for part in item.split(",") if part.strip()}
    if len(cleaned) > MAX_MATCHER_VALUES:
        raise SilenceError(field_name, f"at most {MAX_MATCHER_VALUES} values")
    if any(len(item) > 200 for item in cleaned):
        raise SilenceError(field_name, "a value is longer than 200 characters")
    return frozenset(item.upper() if upper else item for item in cleaned)


def _severity(field_name: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or value.strip().upper() not in SEVERITIES:
        raise SilenceError(field_name, f"{value!r} is not one of {', '.join(SEVERITIES)}")
    return value.strip().upper()


def parse_matchers(raw: Any, known_agencies: Iterable[str], known_rules: Iterable[str] | None = None) -> Matchers:
    if not isinstance(raw, dict):
        raise SilenceError("matchers", "expected an object with rule, subject, border_point, agency, min_severity, max_severity")
    aliases = {"rule": "rules", "border_point": "border_points", "agency": "agencies"}
    given: dict[str, Any] = {}
    for key, value in raw.items():
        name = aliases.get(key, key)
        if name not in MATCHER_FIELDS:
            raise SilenceError(f"matchers.{key}", f"unknown matcher; known: {', '.join(MATCHER_FIELDS)}")
        if name in given:
            raise SilenceError(f"matchers.{key}", f"given twice (as {name})")
        given[name] = value
    subject = given.get("subject")
    if subject is not None and (not isinstance(subject, str) or not subject.strip() or len(subject) > 200):
        raise SilenceError("matchers.subject", "expected 'kind:id' or 'id' (at most 200 characters)")
    matchers = Matchers(
        rules=_texts("matchers.rules", given.get("rules")),
        subject=subject.strip() if isinstance(subject, str) else None,
        border_points=_texts("matchers.border_points", given.get("border_points"), upper=True),
        agencies=_texts("matchers.agencies", given.get("agencies")),
        min_severity=_severity("matchers.min_severity", given.get("min_severity")),
        max_severity=_severity("matchers.max_severity", given.get("max_severity")),
    )
    unknown = matchers.agencies - set(known_agencies)
    if unknown:
        raise SilenceError("matchers.agencies", f"unknown agency {', '.join(sorted(unknown))}")
    if known_rules is not None and matchers.rules - set(known_rules):
        raise SilenceError("matchers.rules", f"unknown rule {', '.join(sorted(matchers.rules - set(known_rules)))}")
    if (
        matchers.min_severity
        and matchers.max_severity
        and severity_rank(matchers.min_severity) > severity_rank(matchers.max_severity)
    ):
        raise SilenceError("matchers.max_severity", "is below min_severity")
    if matchers.empty:
        raise SilenceError("matchers", "at least one matcher is required (a silence never covers every alert)")
    return matchers


@dataclass(frozen=True)
class SilenceLimits:
    max_duration_ms: int = 7 * 24 * 3600 * 1000
    known_agencies: frozenset[str] = frozenset()
    known_rules: frozenset[str] | None = None


def _comment(raw: Mapping[str, Any]) -> str:
    comment = raw.get("comment")
    if not isinstance(comment, str) or not comment.strip():
        raise SilenceError("comment", "a comment saying why is required")
    if len(comment.strip()) > MAX_COMMENT:
        raise SilenceError("comment", f"longer than {MAX_COMMENT} characters")
    return comment.strip()


def _window(raw: Mapping[str, Any], now_ms: int, limits: SilenceLimits, default_start: int) -> tuple[int, int]:
    starts = _moment("starts_at", raw["starts_at"]) if raw.get("starts_at") not in (None, "") else default_start
    if "ends_at" in raw and "duration_seconds" in raw:
        raise SilenceError("ends_at", "give ends_at or duration_seconds, not both")
    if raw.get("ends_at") not in (None, ""):
        ends = _moment("ends_at", raw["ends_at"])
        where = "ends_at"
    elif "duration_seconds" in raw:
        duration = raw["duration_seconds"]
        if isinstance(duration, bool) or not isinstance(duration, int | float) or duration <= 0:
            raise SilenceError("duration_seconds", "expected seconds > 0")
        ends, where = starts + int(duration * 1000), "duration_seconds"
    else:
        raise SilenceError("ends_at", "required (or duration_seconds)")
    if ends <= starts:
        raise SilenceError(where, "the silence must end after it starts")
    if ends <= now_ms:
        raise SilenceError(where, "the silence would already be over")
    if ends - starts > limits.max_duration_ms:
        raise SilenceError(where, f"a silence lasts at most {limits.max_duration_ms // 1000} s")
    return starts, ends


_CREATE_FIELDS = {"matchers", "starts_at", "ends_at", "duration_seconds", "comment"}


def _check_fields(raw: Any, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        raise SilenceError("body", "expected a JSON object")
    for key in raw:
        if key not in allowed:
            raise SilenceError(str(key), f"unknown field; known: {', '.join(sorted(allowed))}")
    return raw


def new_silence(raw: Any, officer_id: str, agency: str, now_ms: int, limits: SilenceLimits) -> Silence:
    """A create request (``{"matchers": {...}, "starts_at"?, "ends_at" | "duration_seconds", "comment"}``)
    as version 1, or SilenceError naming the field."""
    body = _check_fields(raw, _CREATE_FIELDS)
    matchers = parse_matchers(body.get("matchers"), limits.known_agencies, limits.known_rules)
    starts, ends = _window(body, now_ms, limits, now_ms)
    comment = _comment(body)
    return Silence(
        silence_id=f"SI-{uuid.uuid4().hex[:16]}",
        version=1,
        change="CREATED",
        matchers=matchers,
        starts_at_ms=starts,
        ends_at_ms=ends,
        comment=comment,
        created_by=officer_id,
        agency=agency,
        created_at_ms=now_ms,
        changed_by=officer_id,
        changed_at_ms=now_ms,
    )


def edited(current: Silence, raw: Any, officer_id: str, now_ms: int, limits: SilenceLimits) -> Silence:
    """An edit: the fields given replace the current ones (matchers as a whole); a new comment is required."""
    if current.state(now_ms) == "expired":
        raise SilenceError("silence", "an expired silence cannot be edited; create a new one")
    body = _check_fields(raw, _CREATE_FIELDS)
    matchers = (
        parse_matchers(body["matchers"], limits.known_agencies, limits.known_rules) if "matchers" in body else current.matchers
    )
    window: dict[str, Any] = {"starts_at": body.get("starts_at") or current.starts_at_ms}
    if "duration_seconds" in body:
        window["duration_seconds"] = body["duration_seconds"]
    else:
        window["ends_at"] = body.get("ends_at") or current.ends_at_ms
    starts, ends = _window(window, now_ms, limits, current.starts_at_ms)
    return replace(
        current,
        version=current.version + 1,
        change="EDITED",
        matchers=matchers,
        starts_at_ms=starts,
        ends_at_ms=ends,
        comment=_comment(body),
        changed_by=officer_id,
        changed_at_ms=now_ms,
    )


def expired(current: Silence, raw: Any, officer_id: str, now_ms: int) -> Silence:
    """Expire early: the end moves to ``now_ms`` (a pending silence never starts); an optional new comment."""
    if current.state(now_ms) == "expired":
        raise SilenceError("silence", "already expired")
    body = _check_fields(raw if raw is not None else {}, {"comment"})
    comment = _comment(body) if body.get("comment") is not None else current.comment
    starts = min(current.starts_at_ms, now_ms)
    return replace(
        current,
        version=current.version + 1,
        change="EXPIRED",
        starts_at_ms=starts,
        ends_at_ms=now_ms,
        comment=comment,
        changed_by=officer_id,
        changed_at_ms=now_ms,
    )


# --- the desk's state: which alerts are silenced now ------------------------------------------------------

SILENCED, SILENCE_ENDED = "SILENCED", "SILENCE_ENDED"


def follow(state: DeskState, alerts: Iterable[DeskAlert], now_ms: int) -> list[Change]:
    """Recompute which silences keep each alert quiet (and when its clock starts); one change per alert
    that became silenced (``SILENCED``) or stopped being so (``SILENCE_ENDED``), for streams and webhooks."""
    silences = list(state.silences.values())
    changes = []
    for alert in alerts:
        before = bool(alert.silenced_by)
        alert.silenced_by = silenced_by(alert.record, silences, now_ms)
        clock = clock_after_silences(alert.clock_ms, alert.record, silences, now_ms)
        alert.silence_clock_ms = clock if clock > alert.clock_ms else None
        if before != bool(alert.silenced_by):
            state.dirty.add(alert.alert_id)
            changes.append(state.note_change(alert, "silence", SILENCED if alert.silenced_by else SILENCE_ENDED))
    return changes


def apply_silence(state: DeskState, silence: Silence) -> bool:
    """A silence version read from ``desk.silences``; False when an older one (nothing changed)."""
    if not newer(state.silences.get(silence.silence_id), silence):
        return False
    state.silences[silence.silence_id] = silence
    state.silences_changed = True  # the next refresh looks at every alert
    return True


def refresh(state: DeskState, now_ms: int) -> list[Change]:
    """Call often: when the set of active silences changed (one began, ended, was edited), every alert is
    looked at again; otherwise nothing is done (O(silences))."""
    active = active_ids(state.silences.values(), now_ms)
    if active == state.active_silences and not state.silences_changed:
        return []
    state.active_silences, state.silences_changed = active, False
    return follow(state, list(state.alerts.values()), now_ms)


def expiring(state: DeskState, now_ms: int, warn_ms: int) -> frozenset[str]:
    return frozenset(s.silence_id for s in state.silences.values() if s.expires_soon(now_ms, warn_ms))
