"""Every alert as the duty desk sees it, rebuilt from two logs: alert versions and officers' actions.

Pure logic: the Kafka reader feeds records in, the HTTP layer reads views out. Replaying the same
records gives the same statuses, because an alert's actions share one partition (keyed by alert id)
and so always arrive in the same order; an action that was legal when an officer clicked but lost
a race (two officers acknowledging at once) is ignored the same way on every replay.

The desk follows the facts: a RETRACTED version (alert schema v2) takes an open alert out of the
workflow (``retracted``: nothing to acknowledge, no escalation) until a later version re-raises it;
an acknowledgement covers the version the officer saw, so a later version that raises the severity
reopens the alert (``new`` again, with ``reopened`` saying why and the escalation clock restarted),
while new evidence alone keeps it acknowledged and shows ``updated_since_acknowledged``. Each notice is
a :class:`Notice` (a code and its parameters, which the console words per locale); ``reopened`` and
``updated_since_acknowledged`` are its English text.

Each alert's state is also a status record (:func:`status_record`, schema ``desk-alert-status``)
kept in a compacted topic, so the desk's memory does not depend on the retention of the logs.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from borderbus.markings import SEVERITIES

STATUSES = ("new", "acknowledged", "escalated", "retracted", "resolved", "false_positive")
OPEN_STATUSES = ("new", "acknowledged", "escalated")
FINAL_STATUSES = ("resolved", "false_positive")
"""Statuses an officer still has to act on; ``retracted`` is not one (the facts took the alert back)."""
_CLOSABLE = (*OPEN_STATUSES, "retracted")
_TRANSITIONS: dict[str, dict[str, str]] = {
    "ACKNOWLEDGE": {"new": "acknowledged", "escalated": "acknowledged"},
    "ESCALATE": {"new": "escalated", "acknowledged": "escalated"},
    "RESOLVE": {status: "resolved" for status in _CLOSABLE},
    "FALSE_POSITIVE": {status: "false_positive" for status in _CLOSABLE},
}
ACTIONS = tuple(_TRANSITIONS)
SYSTEM_ACTOR = "system"
SYSTEM_AGENCY = "borderbus"
EVERY_AGENCY = "*"
"""In ``allowed_agencies``, stands for every agency on the bus, except for TLP:RED alerts."""

_CHANGE_LOG_LENGTH = 50_000
_VERSIONS_KEPT = 100


class IllegalTransition(ValueError):
    def __init__(self, action: str, status: str) -> None:
        allowed = sorted(status_before for status_before in _TRANSITIONS[action])
        super().__init__(f"cannot {action} an alert that is {status}; {action} applies to {', '.join(allowed)} alerts")
        self.action = action
        self.status = status


NOTICE_REOPENED_RERAISED = "reopened.reraised"
NOTICE_REOPENED_SEVERITY = "reopened.severity_raised"
NOTICE_UPDATED = "updated_since_acknowledged"
NOTICE_TEXT = "text"
"""A notice known only by its English text (restored from a version 1 status record)."""
NEW_VERSION = "NEW_VERSION"
"""In a notice's ``changes``: a version that says no change (alert schema v1)."""


@dataclass(frozen=True)
class Notice:
    """Why the desk shows a notice on an alert: a code and its values, worded per locale by the console."""

    code: str
    params: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, code: str, **params: object) -> Notice:
        return cls(code, tuple((name, str(value)) for name, value in params.items()))

    @property
    def values(self) -> dict[str, str]:
        return dict(self.params)

    @property
    def text(self) -> str:
        """The notice in English, as the API, the CLI and webhooks have always said it."""
        p = self.values
        if self.code == NOTICE_REOPENED_RERAISED:
            return f"reopened: re-raised in version {p['version']} after it was retracted"
        if self.code == NOTICE_REOPENED_SEVERITY:
            return f"reopened: severity raised from {p['from']} to {p['to']} in version {p['version']}"
        if self.code == NOTICE_UPDATED:
            changes = ", ".join("new version" if item == NEW_VERSION else item for item in p["changes"].split(","))
            return (
                f"updated since acknowledged: version {p['version']} ({changes}) "
                f"after the acknowledgement of version {p['acknowledged_version']}"
            )
        return p.get("text", self.code)

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "params": self.values, "text": self.text}

    def to_record(self) -> dict[str, Any]:
        return {"code": self.code, "params": self.values}

    @classmethod
    def restore(cls, record: Mapping[str, Any] | None, text: str | None) -> Notice | None:
        """From a status record's notice (version 2), else from its English text alone (version 1)."""
        if record:
            return cls(str(record["code"]), tuple(sorted((str(k), str(v)) for k, v in (record.get("params") or {}).items())))
        return cls.of(NOTICE_TEXT, text=text) if text else None


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


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


def delivery_id(alert_id: str, version: int, kind: str) -> str:
    """A webhook delivery's id from what it reports, so every desk (and every restart) gives one change
    the same id and receivers can deduplicate."""
    return hashlib.sha256(f"{alert_id}|{version}|{kind}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class VersionSeen:
    version: int
    severity: str
    change: str | None


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
    acknowledged_version: int | None = None
    acknowledged_severity: str | None = None
    escalated: bool = False
    escalation_pending: bool = False
    clock_start_ms: int | None = None
    """When the acknowledgement clock started: creation, or the version that reopened the alert."""
    clock_version: int | None = None
    """The version that restarted the clock (None: creation); part of the escalation's id."""
    reopened_notice: Notice | None = None
    updated_notice: Notice | None = None
    versions: list[VersionSeen] = field(default_factory=list)
    message: bytes | None = None
    """The alert version's message as read from ``alerts.shared``, kept for the status record."""
    pending_deliveries: dict[str, PendingDelivery] = field(default_factory=dict)
    """Webhook deliveries offered but not yet done, by ``subscription|delivery id`` (re-offered after a crash)."""
    silenced_by: tuple[str, ...] = ()
    """The silences keeping this alert quiet now (see :mod:`borderbus_desk.silences`): kept, not pushed."""
    silence_clock_ms: int | None = None
    """When the last silence that covered the alert ended, if after the clock started: the clock starts then."""

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

    @property
    def reopened(self) -> str | None:
        """Why the alert is ``new`` again, in English (see :attr:`reopened_notice`)."""
        return self.reopened_notice.text if self.reopened_notice else None

    @property
    def updated_since_acknowledged(self) -> str | None:
        """What changed since the acknowledgement, in English (see :attr:`updated_notice`)."""
        return self.updated_notice.text if self.updated_notice else None

    def notices(self) -> list[dict[str, Any]]:
        """The alert's notices as codes and parameters (the console words them per locale)."""
        notices = []
        if self.retraction is not None:
            retraction = self.retraction
            notices.append({
                "code": "retracted",
                "params": {"reason": retraction["reason"], "events": ",".join(retraction["event_ids"])},
                "text": f"retracted ({retraction['reason']}): {retraction['detail']}",
            })  # fmt: skip
        notices += [notice.to_json() for notice in (self.reopened_notice, self.updated_notice) if notice is not None]
        return notices

    @property
    def clock_ms(self) -> int:
        return self.created_ms if self.clock_start_ms is None else self.clock_start_ms

    @property
    def retraction(self) -> dict[str, Any] | None:
        if self.record.get("status", "OPEN") != "RETRACTED":
            return None
        retraction = self.record.get("retraction") or {"reason": "unknown", "detail": "", "event_ids": []}
        return {"reason": retraction["reason"], "detail": retraction["detail"], "event_ids": list(retraction["event_ids"])}

    def escalation_deadline_ms(self, deadlines: Mapping[str, float | None]) -> int | None:
        deadline = deadlines.get(self.severity)
        if self.status != "new" or deadline is None:
            return None
        return max(self.clock_ms, self.silence_clock_ms or 0) + int(deadline * 1000)

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
            "summary_phrases": [dict(item) for item in record.get("summary_phrases") or []],
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
            "acknowledged_version": self.acknowledged_version,
            "acknowledged_severity": self.acknowledged_severity,
            "escalated": self.escalated,
            "change": record.get("change"),
            "previous_severity": record.get("previous_severity"),
            "retracted": self.retraction is not None,
            "retraction": self.retraction,
            "reopened": self.reopened,
            "updated_since_acknowledged": self.updated_since_acknowledged,
            "notices": self.notices(),
            "silenced": bool(self.silenced_by),
            "silenced_by": list(self.silenced_by),
        }


@dataclass(frozen=True)
class PendingDelivery:
    subscription: str
    delivery_id: str
    kind: str
    what: str = ""

    @property
    def key(self) -> str:
        return f"{self.subscription}|{self.delivery_id}"


@dataclass(frozen=True)
class Change:
    """One change of one alert, in the order the desk applied it (``seq``)."""

    seq: int
    alert_id: str
    kind: str  # "version" or "action"
    published_ms: int
    action: Action | None = None
    version: int = 0
    detail: str = ""
    """What changed: the version's ``change`` (RETRACTED, SEVERITY_RAISED...) or the action's kind."""

    @property
    def delivery_kind(self) -> str:
        if self.action is not None:
            return f"{self.action.action}/{self.action.action_id}"
        return self.detail

    @property
    def delivery_id(self) -> str:
        return delivery_id(self.alert_id, self.version, self.delivery_kind)


@dataclass(frozen=True)
class ActionOutcome:
    action: Action
    applied: bool
    previous_status: str | None
    change: Change | None
    reason: str | None = None


def version_change(record: Mapping[str, Any], previous: DeskAlert | None) -> str:
    """Why a version exists: its own ``change`` (v2), else RAISED for the first one seen, else NEW_VERSION (v1)."""
    if record.get("status", "OPEN") == "RETRACTED":
        return "RETRACTED"
    change = record.get("change")
    if change:
        return str(change)
    return "RAISED" if previous is None else "NEW_VERSION"


def follow_version(alert: DeskAlert) -> None:
    """What a new version (already in ``alert.record``) does to the desk's status of the alert."""
    version, severity = alert.version, alert.severity
    alert.versions = [*alert.versions[-(_VERSIONS_KEPT - 1) :], VersionSeen(version, severity, alert.record.get("change"))]
    if alert.record.get("status", "OPEN") == "RETRACTED":
        if alert.status in OPEN_STATUSES:
            alert.status, alert.escalation_pending = "retracted", False
        return
    if alert.status == "retracted":
        _reopen(alert, Notice.of(NOTICE_REOPENED_RERAISED, version=version))
        return
    review_acknowledgement(alert)


def review_acknowledgement(alert: DeskAlert) -> None:
    """An acknowledgement covers the version acknowledged: a later version that raised the severity
    (``SEVERITY_RAISED``, or a severity above the acknowledged one) reopens the alert; any other later
    version keeps it acknowledged and says so."""
    acked = alert.acknowledged_version
    if alert.status != "acknowledged" or acked is None or alert.version <= acked:
        return
    acked_severity = alert.acknowledged_severity or alert.severity
    later = [seen for seen in alert.versions if seen.version > acked]
    for seen in later:
        if seen.change == "SEVERITY_RAISED" or severity_rank(seen.severity) > severity_rank(acked_severity):
            start = acked_severity if severity_rank(seen.severity) > severity_rank(acked_severity) else _before(alert, seen)
            _reopen(alert, Notice.of(NOTICE_REOPENED_SEVERITY, **{"from": start, "to": seen.severity, "version": seen.version}))
            return
    changes = sorted({seen.change or "new version" for seen in later})  # the order the English text has always had
    alert.updated_notice = Notice.of(
        NOTICE_UPDATED,
        version=alert.version,
        changes=",".join(NEW_VERSION if item == "new version" else item for item in changes),
        acknowledged_version=acked,
    )


def _before(alert: DeskAlert, seen: VersionSeen) -> str:
    earlier = [other.severity for other in alert.versions if other.version < seen.version]
    return earlier[-1] if earlier else (alert.acknowledged_severity or seen.severity)


def _reopen(alert: DeskAlert, why: Notice) -> None:
    alert.status, alert.reopened_notice, alert.updated_notice = "new", why, None
    alert.acknowledged_version = alert.acknowledged_severity = None
    alert.clock_start_ms, alert.clock_version, alert.escalation_pending = alert.updated_ms, alert.version, False


class DeskState:
    """All alerts by id, with a numbered log of recent changes for resumable streams."""

    def __init__(self, change_log_length: int = _CHANGE_LOG_LENGTH) -> None:
        self.alerts: dict[str, DeskAlert] = {}
        self.seq = 0
        self._changes: deque[Change] = deque(maxlen=change_log_length)
        self._seen_actions: set[str] = set()
        self._waiting_actions: dict[str, list[Action]] = {}
        self.outcomes: dict[str, ActionOutcome] = {}
        self.dirty: set[str] = set()
        """Alerts changed since the last status checkpoint took them (see :meth:`take_dirty`)."""
        self.silences: dict[str, Any] = {}
        """Every silence by id, latest version (:class:`borderbus_desk.silences.Silence`); kept by that module."""
        self.active_silences: frozenset[str] = frozenset()
        self.silences_changed = False

    def apply_alert(self, record: Mapping[str, Any], published_ms: int, message: bytes | None = None) -> list[Change]:
        """A new alert version; older or repeated versions change nothing."""
        converted: dict[str, Any] = to_millis(dict(record))
        alert_id = converted["alert_id"]
        current = self.alerts.get(alert_id)
        if current is not None and int(converted["version"]) <= current.version:
            return []
        kind = version_change(converted, current)
        change = self._record_change(alert_id, "version", published_ms, version=int(converted["version"]), detail=kind)
        if current is None:
            current = self.alerts[alert_id] = DeskAlert(record=converted, published_ms=published_ms, seq=change.seq)
        else:
            current.record, current.published_ms, current.seq = converted, published_ms, change.seq
        current.message = message
        follow_version(current)
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
            apply_to(alert, action)
        except IllegalTransition as error:
            outcome = ActionOutcome(action, False, previous, None, str(error))
        else:
            change = self._record_change(alert.alert_id, "action", alert.published_ms, action, version=action.alert_version)
            alert.seq = change.seq
            outcome = ActionOutcome(action, True, previous, change)
        self.outcomes[action.action_id] = outcome
        return outcome

    def preview(self, action: Action) -> DeskAlert:
        """The alert as it will be once ``action`` is applied (IllegalTransition if it cannot be), without
        changing the state: what the actions writer puts in the status record of the action's transaction."""
        alert = self.alerts[action.alert_id]
        after = replace(
            alert, actions=list(alert.actions), versions=list(alert.versions), pending_deliveries=dict(alert.pending_deliveries)
        )
        apply_to(after, action)
        return after

    def restore(self, status: Mapping[str, Any], record: Mapping[str, Any], message: bytes | None) -> None:
        """An alert as a status record left it (after a restart, before reading the logs' retained tail)."""
        self.seq += 1
        alert = alert_from_status(status, to_millis(dict(record)), self.seq)
        alert.message = message
        self.alerts[alert.alert_id] = alert
        self._seen_actions.update(action.action_id for action in alert.actions)

    def note_change(self, alert: DeskAlert, kind: str, detail: str) -> Change:
        """A change of an alert that is neither a version nor an action (a silence began or ended for it)."""
        change = self._record_change(alert.alert_id, kind, alert.published_ms, version=alert.version, detail=detail)
        alert.seq = change.seq
        return change

    def _record_change(
        self, alert_id: str, kind: str, published_ms: int, action: Action | None = None, *, version: int = 0, detail: str = ""
    ) -> Change:
        self.seq += 1
        change = Change(self.seq, alert_id, kind, published_ms, action, version, detail or (action.action if action else ""))
        self._changes.append(change)
        self.dirty.add(alert_id)
        return change

    def forget_closed(self, now_ms: int, keep_ms: int) -> list[str]:
        """Drop resolved and false-positive alerts untouched for ``keep_ms``; returns their ids (their
        status records become tombstones, so the desk's state grows with open alerts, not with history)."""
        gone = [
            alert.alert_id
            for alert in self.alerts.values()
            if alert.status in FINAL_STATUSES and last_touched_ms(alert) + keep_ms <= now_ms
        ]
        for alert_id in gone:
            del self.alerts[alert_id]
            self.dirty.discard(alert_id)
        return gone

    def take_dirty(self) -> list[DeskAlert]:
        """The alerts changed since the last call, for a status checkpoint."""
        dirty, self.dirty = self.dirty, set()
        return [self.alerts[alert_id] for alert_id in sorted(dirty) if alert_id in self.alerts]

    def changed_since(self, seq: int) -> list[DeskAlert] | None:
        """Alerts changed after ``seq``, oldest change first; None when ``seq`` is older than the kept log."""
        if seq > self.seq:
            return None
        if seq < self.seq and (not self._changes or self._changes[0].seq > seq + 1):
            return None
        alerts = {
            change.alert_id: self.alerts[change.alert_id]
            for change in self._changes
            if change.seq > seq and change.alert_id in self.alerts
        }
        return sorted(alerts.values(), key=lambda alert: alert.seq)

    def due_for_escalation(self, now_ms: int, deadlines: Mapping[str, float | None]) -> list[DeskAlert]:
        """New alerts whose acknowledgement deadline (by current severity, from creation or from the version
        that reopened them) has passed."""
        due = []
        for alert in self.alerts.values():
            deadline_ms = alert.escalation_deadline_ms(deadlines)
            if alert.silenced_by:
                continue
            if deadline_ms is not None and not alert.escalation_pending and deadline_ms <= now_ms:
                due.append(alert)
        return due

    def status_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for alert in self.alerts.values():
            counts[alert.status] += 1
        return counts


def last_touched_ms(alert: DeskAlert) -> int:
    """When the alert last changed: its latest version or its latest action."""
    return max([alert.updated_ms, alert.published_ms, *(action.occurred_at_ms for action in alert.actions)])


def apply_to(alert: DeskAlert, action: Action) -> None:
    """One action on one alert; IllegalTransition (and nothing changed) if the status forbids it."""
    alert.status = next_status(alert.status, action.action)
    alert.actions.append(action)
    if action.action == "ACKNOWLEDGE":
        alert.acknowledged_by, alert.acknowledged_at_ms = action.actor, action.occurred_at_ms
        alert.acknowledged_version = min(action.alert_version, alert.version)
        seen = {item.version: item.severity for item in alert.versions}
        alert.acknowledged_severity = seen.get(alert.acknowledged_version, alert.severity)
        alert.reopened_notice = alert.updated_notice = None
        review_acknowledgement(alert)
    if action.action == "ESCALATE":
        alert.escalated, alert.escalation_pending = True, False


def status_record(alert: DeskAlert, deadlines: Mapping[str, float | None], written_ms: int) -> dict[str, Any]:
    """The alert's ``desk-alert-status`` record: everything needed to restore it without the logs."""
    if alert.message is None:
        raise ValueError(f"{alert.alert_id}: no alert message to keep in its status record")
    return {
        "alert_id": alert.alert_id,
        "alert_version": alert.version,
        "alert_message": alert.message,
        "published_at": alert.published_ms,
        "status": alert.status,
        "actions": [{key: value for key, value in action.to_record().items() if key != "alert_id"} for action in alert.actions],
        "acknowledged_by": alert.acknowledged_by,
        "acknowledged_at": alert.acknowledged_at_ms,
        "acknowledged_version": alert.acknowledged_version,
        "acknowledged_severity": alert.acknowledged_severity,
        "escalated": alert.escalated,
        "clock_start": alert.clock_ms,
        "clock_version": alert.clock_version,
        "escalation_deadline": alert.escalation_deadline_ms(deadlines),
        "reopened": alert.reopened,
        "updated_since_acknowledged": alert.updated_since_acknowledged,
        "reopened_notice": alert.reopened_notice.to_record() if alert.reopened_notice else None,
        "updated_notice": alert.updated_notice.to_record() if alert.updated_notice else None,
        "versions": [{"version": seen.version, "severity": seen.severity, "change": seen.change} for seen in alert.versions],
        "pending_deliveries": [
            {"subscription": item.subscription, "delivery_id": item.delivery_id, "kind": item.kind, "what": item.what}
            for item in alert.pending_deliveries.values()
        ],
        "written_at": written_ms,
    }


def alert_from_status(status: Mapping[str, Any], record: dict[str, Any], seq: int) -> DeskAlert:
    status = to_millis(dict(status))
    pending = [
        PendingDelivery(item["subscription"], item["delivery_id"], item["kind"], item.get("what", ""))
        for item in status["pending_deliveries"]
    ]
    return DeskAlert(
        record=record,
        published_ms=int(status["published_at"]),
        seq=seq,
        status=status["status"],
        actions=[Action.from_record({**item, "alert_id": status["alert_id"]}) for item in status["actions"]],
        acknowledged_by=status.get("acknowledged_by"),
        acknowledged_at_ms=status.get("acknowledged_at"),
        acknowledged_version=status.get("acknowledged_version"),
        acknowledged_severity=status.get("acknowledged_severity"),
        escalated=bool(status["escalated"]),
        clock_start_ms=int(status["clock_start"]),
        clock_version=status.get("clock_version"),
        reopened_notice=Notice.restore(status.get("reopened_notice"), status.get("reopened")),
        updated_notice=Notice.restore(status.get("updated_notice"), status.get("updated_since_acknowledged")),
        versions=[VersionSeen(int(item["version"]), item["severity"], item.get("change")) for item in status["versions"]],
        pending_deliveries={item.key: item for item in pending},
    )


def _ms_or_iso(field_name: str, value: str) -> int:
    text = value.strip()
    digits = text.removeprefix("-")
    if digits.isascii() and digits.isdigit():  # not str.isdigit alone: int() refuses '²'
        if len(digits) > 19:
            raise FilterError(field_name, "is outside the range of epoch milliseconds")
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1000)
    except (ValueError, OverflowError):  # OverflowError: year 1 at +14:00
        raise FilterError(field_name, f"{value[:60]!r} is neither ISO-8601 nor epoch milliseconds") from None


def _choices(field_name: str, value: str, known: Iterable[str], *, upper: bool = False) -> frozenset[str]:
    chosen = frozenset(item.strip().upper() if upper else item.strip().lower() for item in value.split(",") if item.strip())
    unknown = chosen - set(known)
    if unknown:
        raise FilterError(field_name, f"unknown value(s) {', '.join(sorted(unknown))}; known: {', '.join(known)}")
    return chosen


_SILENCED_CHOICES: dict[str, bool | None] = {"false": False, "true": True, "any": None}


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
    silenced: bool | None = False
    """False (the default): alerts no silence keeps quiet; True: only silenced ones; None (``any``): both."""

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
        silenced_text = (text("silenced") or "false").lower()
        if silenced_text not in _SILENCED_CHOICES:
            raise FilterError("silenced", f"{silenced_text!r} is not one of true, false, any")
        since, until = text("since"), text("until")
        result = cls(
            min_severity=min_severity,
            statuses=_choices("status", status, STATUSES) if status else None,
            rules=frozenset(item.strip() for item in rule.split(",")) if rule else None,
            border_points=frozenset(item.strip().upper() for item in point.split(",")) if point else None,
            subject=text("subject"),
            since_ms=_ms_or_iso("since", since) if since else None,
            until_ms=_ms_or_iso("until", until) if until else None,
            silenced=_SILENCED_CHOICES[silenced_text],
        )
        if result.since_ms is not None and result.until_ms is not None and result.since_ms > result.until_ms:
            raise FilterError("until", "is before since")
        return result

    def matches(self, alert: DeskAlert) -> bool:
        record = alert.record
        if self.silenced is not None and bool(alert.silenced_by) != self.silenced:
            return False
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
