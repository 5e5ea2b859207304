"""Every alert as the duty desk sees it, rebuilt from two logs: alert versions and officers' actions.

Pure logic: the Kafka reader feeds records in, the HTTP layer reads views out. Replaying the same
records gives the same statuses, because an alert's actions share one partition (keyed by alert id)
and so always arrive in the same order; an action that was legal when an officer clicked but lost
a race (two officers acknowledging at once) is ignored the same way on every replay.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SEVERITIES = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
STATUSES = ("new", "acknowledged", "escalated", "resolved", "false_positive")
OPEN_STATUSES = ("new", "acknowledged", "escalated")
_TRANSITIONS: dict[str, dict[str, str]] = {
    "ACKNOWLEDGE": {"new": "acknowledged", "escalated": "acknowledged"},
    "ESCALATE": {"new": "escalated", "acknowledged": "escalated"},
    "RESOLVE": {status: "resolved" for status in OPEN_STATUSES},
    "FALSE_POSITIVE": {status: "false_positive" for status in OPEN_STATUSES},
}
ACTIONS = tuple(_TRANSITIONS)
SYSTEM_ACTOR = "system"
SYSTEM_AGENCY = "borderbus"
EVERY_AGENCY = "*"
"""In ``allowed_agencies``, stands for every agency on the bus, except for TLP:RED alerts."""

_CHANGE_LOG_LENGTH = 50_000


class IllegalTransition(ValueError):
    def __init__(self, action: str, status: str) -> None:
        allowed = sorted(status_before for status_before in _TRANSITIONS[action])
        super().__init__(f"cannot {action} an alert that is {status}; {action} applies to {', '.join(allowed)} alerts")
        self.action = action
        self.status = status


class FilterError(ValueError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


def next_status(status: str, action: str) -> str:
    """The status after ``action``; IllegalTransition if it does not apply to ``status``."""
    try:
        return _TRANSITIONS[action][status]
    except KeyError:
        raise IllegalTransition(action, status) from None


def allowed_actions(status: str) -> list[str]:
    return [action for action, moves in _TRANSITIONS.items() if status in moves]


def visible_to(agency: str, alert: Mapping[str, Any]) -> bool:
    """Officers see an alert only if their agency is allowed; TLP:RED only if named, never by wildcard."""
    allowed = alert["allowed_agencies"]
    if agency in allowed:
        return True
    return EVERY_AGENCY in allowed and alert["tlp"] != "RED"


def to_millis(value: Any) -> Any:
    """Decoded Avro values with timestamps as UTC milliseconds, so records compare and serialise simply."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {key: to_millis(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_millis(item) for item in value]
    return value


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Action:
    action_id: str
    alert_id: str
    alert_version: int
    action: str
    actor: str
    agency: str
    note: str | None
    occurred_at_ms: int

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Action:
        return cls(
            action_id=str(record["action_id"]),
            alert_id=record["alert_id"],
            alert_version=int(record["alert_version"]),
            action=record["action"],
            actor=record["actor"],
            agency=record["agency"],
            note=record.get("note"),
            occurred_at_ms=int(to_millis(record["occurred_at"])),
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "action_id": self.action_id,
            "alert_id": self.alert_id,
            "alert_version": self.alert_version,
            "action": self.action,
            "actor": self.actor,
            "agency": self.agency,
            "note": self.note,
            "occurred_at": self.occurred_at_ms,
        }

    def to_json(self) -> dict[str, Any]:
        return {**self.to_record(), "occurred_at": iso(self.occurred_at_ms)}


@dataclass
class DeskAlert:
    """The latest version of one alert and what officers (and the system) did about it."""

    record: dict[str, Any]
    published_ms: int
    seq: int
    status: str = "new"
    actions: list[Action] = field(default_factory=list)
    acknowledged_by: str | None = None
    acknowledged_at_ms: int | None = None
    escalated: bool = False
    escalation_pending: bool = False

    @property
    def alert_id(self) -> str:
        alert_id: str = self.record["alert_id"]
        return alert_id

    @property
    def version(self) -> int:
        return int(self.record["version"])

    @property
    def severity(self) -> str:
        severity: str = self.record["severity"]
        return severity

    @property
    def created_ms(self) -> int:
        return int(self.record["created_at"])

    @property
    def updated_ms(self) -> int:
        return int(self.record["updated_at"])

    def to_json(self) -> dict[str, Any]:
        record = self.record
        return {
            "alert_id": self.alert_id,
            "version": self.version,
            "rule": record["rule"],
            "severity": self.severity,
            "score": record["score"],
            "status": self.status,
            "allowed_actions": allowed_actions(self.status),
            "tlp": record["tlp"],
            "summary": record["summary"],
            "created_at": iso(self.created_ms),
            "updated_at": iso(self.updated_ms),
            "published_at": iso(self.published_ms),
            "border_point": record.get("border_point"),
            "window_start": iso(record.get("window_start")),
            "window_end": iso(record.get("window_end")),
            "subjects": [dict(subject) for subject in record["subjects"]],
            "allowed_agencies": list(record["allowed_agencies"]),
            "evidence": [
                {**item, "occurred_at": iso(item["occurred_at"])}
                for item in sorted(record["evidence"], key=lambda item: item["occurred_at"])
            ],
            "actions": [action.to_json() for action in self.actions],
            "acknowledged_by": self.acknowledged_by,
            "acknowledged_at": iso(self.acknowledged_at_ms),
            "escalated": self.escalated,
        }


@dataclass(frozen=True)
class Change:
    """One change of one alert, in the order the desk applied it (``seq``)."""

    seq: int
    alert_id: str
    kind: str  # "version" or "action"
    published_ms: int
    action: Action | None = None


@dataclass(frozen=True)
class ActionOutcome:
    action: Action
    applied: bool
    previous_status: str | None
    change: Change | None
    reason: str | None = None


class DeskState:
    """All alerts by id, with a numbered log of recent changes for resumable streams."""

    def __init__(self, change_log_length: int = _CHANGE_LOG_LENGTH) -> None:
        self.alerts: dict[str, DeskAlert] = {}
        self.seq = 0
        self._changes: deque[Change] = deque(maxlen=change_log_length)
        self._seen_actions: set[str] = set()
        self._waiting_actions: dict[str, list[Action]] = {}
        self.outcomes: dict[str, ActionOutcome] = {}

    def apply_alert(self, record: Mapping[str, Any], published_ms: int) -> list[Change]:
        """A new alert version; older or repeated versions change nothing."""
        converted: dict[str, Any] = to_millis(dict(record))
        alert_id = converted["alert_id"]
        current = self.alerts.get(alert_id)
        if current is not None and int(converted["version"]) <= current.version:
            return []
        change = self._record_change(alert_id, "version", published_ms)
        if current is None:
            self.alerts[alert_id] = DeskAlert(record=converted, published_ms=published_ms, seq=change.seq)
        else:
            current.record, current.published_ms, current.seq = converted, published_ms, change.seq
        changes = [change]
        for action in self._waiting_actions.pop(alert_id, []):
            outcome = self.apply_action(action)
            if outcome.change is not None:
                changes.append(outcome.change)
        return changes

    def apply_action(self, action: Action) -> ActionOutcome:
        """Apply an action from the log. A repeated action id is ignored; an action that is illegal in
        the alert's current status (it lost a race) is kept out of the alert's history."""
        if action.action_id in self._seen_actions:
            return ActionOutcome(action, False, None, None, "duplicate")
        alert = self.alerts.get(action.alert_id)
        if alert is None:
            self._waiting_actions.setdefault(action.alert_id, []).append(action)
            return ActionOutcome(action, False, None, None, "alert_not_seen_yet")
        self._seen_actions.add(action.action_id)
        previous = alert.status
        try:
            alert.status = next_status(previous, action.action)
        except IllegalTransition as error:
            outcome = ActionOutcome(action, False, previous, None, str(error))
        else:
            alert.actions.append(action)
            if action.action == "ACKNOWLEDGE":
                alert.acknowledged_by, alert.acknowledged_at_ms = action.actor, action.occurred_at_ms
            if action.action == "ESCALATE":
                alert.escalated, alert.escalation_pending = True, False
            change = self._record_change(alert.alert_id, "action", alert.published_ms, action)
            alert.seq = change.seq
            outcome = ActionOutcome(action, True, previous, change)
        self.outcomes[action.action_id] = outcome
        return outcome

    def _record_change(self, alert_id: str, kind: str, published_ms: int, action: Action | None = None) -> Change:
        self.seq += 1
        change = Change(self.seq, alert_id, kind, published_ms, action)
        self._changes.append(change)
        return change

    def changed_since(self, seq: int) -> list[DeskAlert] | None:
        """Alerts changed after ``seq``, oldest change first; None when ``seq`` is older than the kept log."""
        if seq > self.seq:
            return None
        if seq < self.seq and (not self._changes or self._changes[0].seq > seq + 1):
            return None
        alerts = {change.alert_id: self.alerts[change.alert_id] for change in self._changes if change.seq > seq}
        return sorted(alerts.values(), key=lambda alert: alert.seq)

    def due_for_escalation(self, now_ms: int, deadlines: Mapping[str, float | None]) -> list[DeskAlert]:
        """New alerts whose acknowledgement deadline (by current severity, from creation) has passed."""
        due = []
        for alert in self.alerts.values():
            deadline = deadlines.get(alert.severity)
            if alert.status != "new" or alert.escalation_pending or deadline is None:
                continue
            if alert.created_ms + deadline * 1000 <= now_ms:
                due.append(alert)
        return due

    def status_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for alert in self.alerts.values():
            counts[alert.status] += 1
        return counts


def _ms_or_iso(field_name: str, value: str) -> int:
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise FilterError(field_name, f"{value!r} is neither ISO-8601 nor epoch milliseconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _choices(field_name: str, value: str, known: Iterable[str], *, upper: bool = False) -> frozenset[str]:
    chosen = frozenset(item.strip().upper() if upper else item.strip().lower() for item in value.split(",") if item.strip())
    unknown = chosen - set(known)
    if unknown:
        raise FilterError(field_name, f"unknown value(s) {', '.join(sorted(unknown))}; known: {', '.join(known)}")
    return chosen


@dataclass(frozen=True)
class AlertFilter:
    """The filters of the list API, the stream, the console and webhooks; times apply to ``updated_at``."""

    min_severity: str | None = None
    statuses: frozenset[str] | None = None
    rules: frozenset[str] | None = None
    border_points: frozenset[str] | None = None
    subject: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> AlertFilter:
        def text(name: str) -> str | None:
            value = query.get(name)
            return value.strip() if value and value.strip() else None

        min_severity = text("min_severity")
        if min_severity is not None:
            min_severity = min_severity.upper()
            if min_severity not in SEVERITIES:
                raise FilterError("min_severity", f"{min_severity!r} is not one of {', '.join(SEVERITIES)}")
        status, rule, point = text("status"), text("rule"), text("border_point")
        since, until = text("since"), text("until")
        result = cls(
            min_severity=min_severity,
            statuses=_choices("status", status, STATUSES) if status else None,
            rules=frozenset(item.strip() for item in rule.split(",")) if rule else None,
            border_points=frozenset(item.strip().upper() for item in point.split(",")) if point else None,
            subject=text("subject"),
            since_ms=_ms_or_iso("since", since) if since else None,
            until_ms=_ms_or_iso("until", until) if until else None,
        )
        if result.since_ms is not None and result.until_ms is not None and result.since_ms > result.until_ms:
            raise FilterError("until", "is before since")
        return result

    def matches(self, alert: DeskAlert) -> bool:
        record = alert.record
        if self.min_severity and SEVERITIES.index(alert.severity) < SEVERITIES.index(self.min_severity):
            return False
        if self.statuses is not None and alert.status not in self.statuses:
            return False
        if self.rules is not None and record["rule"] not in self.rules:
            return False
        if self.border_points is not None and (record.get("border_point") or "").upper() not in self.border_points:
            return False
        if self.since_ms is not None and alert.updated_ms < self.since_ms:
            return False
        if self.until_ms is not None and alert.updated_ms > self.until_ms:
            return False
        return self.subject is None or any(_subject_matches(self.subject, subject) for subject in record["subjects"])


def _subject_matches(wanted: str, subject: Mapping[str, str]) -> bool:
    wanted = wanted.casefold()
    return wanted in (subject["id"].casefold(), f"{subject['kind']}:{subject['id']}".casefold())
