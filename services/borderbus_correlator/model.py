"""The correlator's plain data: what rules read and what they decide. No Kafka.

An :class:`Observation` is one agency event reduced to what correlation needs. A subject's
:class:`SubjectHistory` holds the observations that named it (direct) and those of subjects it
is linked to (linked, one hop). Rules turn a history into :class:`AlertDecision` objects; the
alert book (keyed by ``alert_id``) merges decisions from every perspective into alert versions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, init=False)
class Observation:
    """One agency event as correlation sees it.

    ``subjects`` are subject keys (``KIND:canonical-id``, see ``borderbus.identifiers.subject_key``),
    the primary subject first. ``facts`` holds the type-specific fields rules use:

    - sighting: ``method`` (DOCUMENT_SCAN, ANPR_CAMERA, DRONE, PATROL, MARITIME); a sighting away from
      any border point has only ``latitude``/``longitude``, and movement and convergence use them
    - finance-flag: ``risk_score`` (int 0-100), ``channel``, ``amount`` (str), ``currency``
    - case-update: ``case_id``, ``status`` (OPENED, SUBJECT_ADDED, WARRANT_ISSUED, WARRANT_WITHDRAWN,
      CHARGED, CLOSED), ``network_id`` (str or None), ``warrant_ref`` (str or None),
      ``roles`` (mapping subject key -> role)
    - platform-report: ``platform``, ``content_kind``, ``content_ref``
    """

    event_id: str
    agency: str
    event_type: str
    occurred_at_ms: int
    reported_at_ms: int
    tlp: str
    subjects: tuple[str, ...]
    border_point: str | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)
    revises: str | None = None
    revision: str | None = None  # CORRECT (this event replaces ``revises``) or RETRACT (it withdraws it)
    revision_reaches: tuple[str, ...] = ()  # subjects of the revised event this one no longer names
    latitude: float | None = None  # where it was observed, when the agency gave coordinates (drone, patrol, maritime)
    longitude: float | None = None

    def __init__(
        self,
        event_id: str,
        agency: str,
        event_type: str,
        occurred_at_ms: int,
        reported_at_ms: int,
        tlp: str,
        subjects: tuple[str, ...],
        border_point: str | None = None,
        facts: Mapping[str, Any] | None = None,
        revises: str | None = None,
        revision: str | None = None,
        revision_reaches: tuple[str, ...] = (),
        latitude: float | None = None,
        longitude: float | None = None,
    ) -> None:
        """One dictionary update instead of the frozen dataclass's fourteen ``object.__setattr__`` calls: an
        observation is made for every event and every route decoded, and this halves its cost (2.4 to 1.1 us)."""
        vars(self).update(
            event_id=event_id,
            agency=agency,
            event_type=event_type,
            occurred_at_ms=occurred_at_ms,
            reported_at_ms=reported_at_ms,
            tlp=tlp,
            subjects=subjects,
            border_point=border_point,
            facts={} if facts is None else facts,
            revises=revises,
            revision=revision,
            revision_reaches=revision_reaches,
            latitude=latitude,
            longitude=longitude,
        )

    @property
    def is_retraction(self) -> bool:
        """A retraction only withdraws the event it revises: it is never evidence itself."""
        return self.revision == "RETRACT"

    def to_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "agency": self.agency,
            "event_type": self.event_type,
            "occurred_at_ms": self.occurred_at_ms,
            "reported_at_ms": self.reported_at_ms,
            "tlp": self.tlp,
            "subjects": list(self.subjects),
            "border_point": self.border_point,
            "facts": dict(self.facts),
            "revises": self.revises,
            "revision": self.revision,
            "revision_reaches": list(self.revision_reaches),
            "latitude": self.latitude,
            "longitude": self.longitude,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Observation:
        return cls(
            event_id=data["event_id"],
            agency=data["agency"],
            event_type=data["event_type"],
            occurred_at_ms=int(data["occurred_at_ms"]),
            reported_at_ms=int(data["reported_at_ms"]),
            tlp=data["tlp"],
            subjects=tuple(data["subjects"]),
            border_point=data.get("border_point"),
            facts=dict(data.get("facts") or {}),
            revises=data.get("revises"),
            revision=data.get("revision"),
            revision_reaches=tuple(data.get("revision_reaches") or ()),
            latitude=_coordinate(data.get("latitude")),
            longitude=_coordinate(data.get("longitude")),
        )


def _coordinate(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class AlertDecision:
    """A rule's finding. Every perspective that finds the same thing must produce the same ``alert_key``.

    ``alert_key`` is built only from the evidence's contents (rule, event ids, subject keys,
    case ids, border points, time buckets), never from which subject's history found it, so the
    alert book can merge findings from several partitions into one alert.
    """

    rule: str
    alert_key: str
    severity: str
    score: float
    subjects: tuple[str, ...]
    evidence: tuple[Observation, ...]
    border_point: str | None
    summary: str  # empty in the pipeline's findings: the alert book writes the alert's summary from merged evidence
    reraised: bool = False  # the finding (re)appeared with this event, rather than being restated
    withdrawn: tuple[str, ...] = ()  # evidence this event took away from the finding (revoked, or no longer matching)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "finding",
            "reraised": self.reraised,
            "withdrawn": list(self.withdrawn),
            "rule": self.rule,
            "alert_key": self.alert_key,
            "severity": self.severity,
            "score": self.score,
            "subjects": list(self.subjects),
            "evidence": [observation.to_json() for observation in self.evidence],
            "border_point": self.border_point,
            "summary": self.summary,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AlertDecision:
        return cls(
            rule=data["rule"],
            alert_key=data["alert_key"],
            severity=data["severity"],
            score=float(data["score"]),
            subjects=tuple(data["subjects"]),
            evidence=tuple(Observation.from_json(item) for item in data["evidence"]),
            border_point=data.get("border_point"),
            summary=data["summary"],
            reraised=bool(data.get("reraised", False)),
            withdrawn=tuple(data.get("withdrawn") or ()),
        )


RETRACTION_REASONS = (
    "warrant_withdrawn",
    "case_closed",
    "member_removed",
    "event_retracted",
    "event_corrected",
    "superseded",
    "evidence_withdrawn",
)


@dataclass(frozen=True)
class AlertRetraction:
    """A rule no longer finds what an alert said: the event ``by`` took its support away.

    ``supported`` is the evidence the finding had just before, so the alert book can tell a
    stale restatement of that support (ignored) from genuinely new evidence (which re-raises).
    """

    rule: str
    alert_key: str
    reason: str
    detail: str
    by: tuple[str, ...]
    supported: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "retraction",
            "rule": self.rule,
            "alert_key": self.alert_key,
            "reason": self.reason,
            "detail": self.detail,
            "by": list(self.by),
            "supported": list(self.supported),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AlertRetraction:
        return cls(
            rule=data["rule"],
            alert_key=data["alert_key"],
            reason=data["reason"],
            detail=data["detail"],
            by=tuple(data["by"]),
            supported=tuple(data["supported"]),
        )


Finding = AlertDecision | AlertRetraction
"""What the correlate step sends to the alert book, keyed by alert id."""


def finding_from_json(data: Mapping[str, Any]) -> Finding:
    return AlertRetraction.from_json(data) if data.get("kind") == "retraction" else AlertDecision.from_json(data)
