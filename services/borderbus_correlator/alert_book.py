"""The alert book: one alert's state, and when a rule finding makes a new version of it.

Pure code, no Kafka. Findings for one alert arrive keyed by :func:`alert_id` from
every subject's perspective, possibly several times and in any order; :meth:`AlertBook.apply`
folds them into an :class:`AlertState` so that the same set of findings always ends with the
same evidence, subjects, severity and handling, and a version is published only when the alert
learns something (new evidence, evidence withdrawn, new subjects, a higher base severity, a
retraction, or a re-raise after one).

The summary is written here, from the alert's merged evidence (:func:`summaries.summarise`), not
taken from the newest finding: one perspective sees one subject's history, so its words could
count fewer sightings than the alert holds or describe another traveller's sighting.

A retraction (the evidence no longer supports the alert) makes a RETRACTED version. Afterwards a
finding that only restates the evidence the alert had when it was retracted changes nothing (it
is a slower perspective catching up); one with new evidence, or one whose perspective saw the
finding appear anew, raises the alert again.

Handling (TLP 2.0) is part of the product, so the sharing policy lives here, in one place:

- the alert's ``tlp`` is the most restrictive marking among its evidence; an unknown marking
  counts as RED, so a marking this code does not understand can only narrow sharing;
- CLEAR and GREEN: every agency on the bus may see the alert;
- AMBER: the contributing agencies, the agencies operating the border points in the evidence
  (they act on it), and agencies of the same country as a contributing agency (the contributor's
  own national community, as TLP:AMBER allows sharing within the recipient's organisation and
  its clients);
- AMBER_STRICT (TLP:AMBER+STRICT): only the contributing agencies and the operators of the
  evidence's border points;
- RED: only the contributing agencies.

Severity is calibrated in one place too (:func:`_corroborated`): a rule's base severity rises one
step when two or more independent agencies *observed the subjects* in the evidence (sightings,
finance flags, platform reports). The context a rule is defined by (the case update that issues
the warrant or names the network) is not an observation: a prosecutor's warrant and one border
sighting are one agency's observation, so they stay at the rule's base severity. A ``hub_detected``
notice (a subject linked to too many others) is about the data, and is never raised.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from borderbus.catalogue import Agency, BorderPoint
from borderbus.markings import SEVERITIES, TLP_ORDER
from borderbus_correlator.facts import OBSERVING_TYPES
from borderbus_correlator.history import event_order
from borderbus_correlator.model import AlertDecision, AlertRetraction, Finding, Observation
from borderbus_correlator.rule_config import RuleConfig
from borderbus_correlator.summaries import corroboration, english, summary_phrases

_OPEN_MARKINGS = frozenset({"CLEAR", "GREEN"})
_OPERATOR_MARKINGS = frozenset({"AMBER", "AMBER_STRICT"})


def alert_id(decision_rule: str, alert_key: str) -> str:
    """Deterministic: 'AL-' + first 20 hex chars of sha256(rule + '|' + alert_key). Reprocessing can never mint a second id."""
    return "AL-" + hashlib.sha256(f"{decision_rule}|{alert_key}".encode()).hexdigest()[:20]


@dataclass
class AlertState:
    """What the book remembers of one alert between decisions (the ``alert-state`` table's value)."""

    alert_id: str
    rule: str
    version: int
    severity: str
    base_severity: str
    score: float
    created_at_ms: int
    updated_at_ms: int
    subjects: list[str]
    evidence: dict[str, Observation]
    border_point: str | None
    summary: str
    status: str = "OPEN"  # OPEN | RETRACTED
    change: str = "RAISED"
    previous_severity: str | None = None
    retraction: dict[str, Any] | None = None  # {reason, detail, event_ids} while RETRACTED
    withdrawn: frozenset[str] = frozenset()  # evidence taken away for good: never added back
    support_at_retraction: frozenset[str] = frozenset()
    phrases: list[dict[str, Any]] = field(default_factory=list)
    """The summary as phrase records (alert schema v3 ``summary_phrases``), for every locale to render."""

    @property
    def agencies(self) -> list[str]:
        """The distinct agencies that contributed evidence, sorted."""
        return sorted({observation.agency for observation in self.evidence.values()})

    @property
    def tlp(self) -> str:
        """The most restrictive marking among the evidence; RED when there is none to judge by."""
        ranks = [_tlp_rank(observation.tlp) for observation in self.evidence.values()]
        return TLP_ORDER[max(ranks, default=len(TLP_ORDER) - 1)]

    def to_json(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "rule": self.rule,
            "version": self.version,
            "severity": self.severity,
            "base_severity": self.base_severity,
            "score": self.score,
            "created_at_ms": self.created_at_ms,
            "updated_at_ms": self.updated_at_ms,
            "subjects": list(self.subjects),
            "evidence": [observation.to_json() for observation in _ordered(self.evidence.values())],
            "border_point": self.border_point,
            "summary": self.summary,
            "status": self.status,
            "change": self.change,
            "previous_severity": self.previous_severity,
            "retraction": self.retraction,
            "withdrawn": sorted(self.withdrawn),
            "support_at_retraction": sorted(self.support_at_retraction),
            "phrases": self.phrases,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AlertState:
        observations = (Observation.from_json(item) for item in data["evidence"])
        return cls(
            alert_id=data["alert_id"],
            rule=data["rule"],
            version=int(data["version"]),
            severity=data["severity"],
            base_severity=data["base_severity"],
            score=float(data["score"]),
            created_at_ms=int(data["created_at_ms"]),
            updated_at_ms=int(data["updated_at_ms"]),
            subjects=list(data["subjects"]),
            evidence={observation.event_id: observation for observation in observations},
            border_point=data.get("border_point"),
            summary=data["summary"],
            status=data.get("status", "OPEN"),
            change=data.get("change", "RAISED"),
            previous_severity=data.get("previous_severity"),
            retraction=data.get("retraction"),
            withdrawn=frozenset(data.get("withdrawn") or ()),
            support_at_retraction=frozenset(data.get("support_at_retraction") or ()),
            phrases=list(data.get("phrases") or ()),
        )


class AlertBook:
    """Merges decisions into alert states and renders them as Avro ``Alert`` records."""

    def __init__(
        self, agencies: Mapping[str, Agency], points: Mapping[str, BorderPoint], cfg: RuleConfig | None = None
    ) -> None:
        self._agencies = agencies
        self._points = points
        self._cfg = cfg or RuleConfig()

    def apply(self, state: AlertState | None, finding: Finding, now_ms: int) -> AlertState | None:
        """The new state if this finding changes the alert, else None (nothing to publish)."""
        if isinstance(finding, AlertRetraction):
            return self.retract(state, finding, now_ms)
        return self.merge(state, finding, now_ms)

    def merge(self, state: AlertState | None, decision: AlertDecision, now_ms: int) -> AlertState | None:
        """The new state if this decision changes the alert, else None (nothing to publish).

        First sight gives version 1; new evidence event ids, withdrawn evidence, new subjects or a
        higher base severity give version + 1. A re-found alert, a duplicate event, or another
        perspective seeing a subset of the evidence adds nothing, so it publishes nothing; in
        particular a different score alone is not news.
        """
        key = alert_id(decision.rule, decision.alert_key)
        if state is None:
            return _build(key, decision, now_ms, None, self._summary)
        if state.alert_id != key:
            raise ValueError(f"decision for {key} merged into alert {state.alert_id}")
        if state.status == "RETRACTED":
            known = set(state.evidence) | state.support_at_retraction | state.withdrawn
            if not decision.reraised and {o.event_id for o in decision.evidence} <= known:
                return None
            return _build(key, decision, now_ms, state, self._summary)
        if not _adds_to(state, decision):
            return None
        return _build(key, decision, now_ms, state, self._summary)

    def retract(self, state: AlertState | None, retraction: AlertRetraction, now_ms: int) -> AlertState | None:
        """A RETRACTED version of an open alert; nothing for one never raised or already retracted."""
        if state is None or state.status == "RETRACTED":
            return None
        return replace(
            state,
            version=state.version + 1,
            updated_at_ms=now_ms,
            status="RETRACTED",
            change="RETRACTED",
            previous_severity=None,
            retraction={"reason": retraction.reason, "detail": retraction.detail, "event_ids": list(retraction.by)},
            support_at_retraction=frozenset(retraction.supported),
        )

    def allowed_agencies(self, state: AlertState) -> list[str]:
        """Agency codes whose officers may see the alert, by its TLP (policy in the module docstring)."""
        contributors = set(state.agencies)
        tlp = state.tlp
        if tlp in _OPEN_MARKINGS:
            return sorted(set(self._agencies) | contributors)
        allowed = set(contributors)
        if tlp in _OPERATOR_MARKINGS:
            allowed |= self._operators(state.evidence.values())
        if tlp == "AMBER":
            allowed |= self._compatriots(contributors)
        return sorted(allowed)

    def to_record(self, state: AlertState) -> dict[str, Any]:
        """The Avro Alert record, in the value types fastavro writes (millis as int, enums as symbols)."""
        observations = _ordered(state.evidence.values())
        times = [observation.occurred_at_ms for observation in observations] or [state.created_at_ms]
        return {
            "alert_id": state.alert_id,
            "version": state.version,
            "rule": state.rule,
            "severity": state.severity,
            "score": float(state.score),
            "created_at": state.created_at_ms,
            "updated_at": state.updated_at_ms,
            "tlp": state.tlp,
            "allowed_agencies": self.allowed_agencies(state),
            "subjects": [_subject_record(key) for key in state.subjects],
            "border_point": state.border_point,
            "window_start": min(times),
            "window_end": max(times),
            "evidence": [_evidence_record(observation) for observation in observations],
            "summary": state.summary,
            "summary_phrases": state.phrases,
            "status": state.status,
            "change": state.change,
            "previous_severity": state.previous_severity,
            "retraction": state.retraction,
        }

    def _summary(self, decision: AlertDecision, evidence: Mapping[str, Observation], agencies: list[str]) -> Summary:
        """From the merged evidence (with the corroboration, if any); a finding of a rule without a summariser
        keeps its own words, in English only."""
        phrases = summary_phrases(decision.rule, decision.alert_key, list(evidence.values()), self._points, self._cfg)
        if phrases is None:
            return Summary(_corroboration_note(decision.summary or decision.rule, agencies), [])
        if len(agencies) >= 2:
            phrases.append(corroboration(agencies))
        return Summary(english(phrases, self._points), [item.to_record() for item in phrases])

    def _operators(self, observations: Iterable[Observation]) -> set[str]:
        codes = {observation.border_point for observation in observations}
        return {self._points[code].operated_by for code in codes if code is not None and code in self._points}

    def _compatriots(self, contributors: set[str]) -> set[str]:
        countries = {self._agencies[code].country for code in contributors if code in self._agencies}
        return {code for code, agency in self._agencies.items() if agency.country in countries}


def _adds_to(state: AlertState, decision: AlertDecision) -> bool:
    withdrawn = state.withdrawn | set(decision.withdrawn)
    return (
        any(o.event_id not in state.evidence and o.event_id not in withdrawn for o in decision.evidence)
        or any(event_id in state.evidence for event_id in decision.withdrawn)
        or not set(decision.subjects) <= set(state.subjects)
        or _severity_rank(decision.severity) > _severity_rank(state.base_severity)
    )


def _change(previous: AlertState | None, evidence: Mapping[str, Observation], subjects: list[str], severity: str) -> str:
    if previous is None:
        return "RAISED"
    if previous.status == "RETRACTED":
        return "RERAISED"
    if _severity_rank(severity) > _severity_rank(previous.severity):
        return "SEVERITY_RAISED"
    if _severity_rank(severity) < _severity_rank(previous.severity):
        return "SEVERITY_LOWERED"
    if not set(previous.evidence) <= set(evidence):
        return "EVIDENCE_WITHDRAWN"
    if set(evidence) - set(previous.evidence):
        return "EVIDENCE_ADDED"
    return "SUBJECTS_ADDED" if set(subjects) - set(previous.subjects) else "EVIDENCE_ADDED"


def _build(
    key: str,
    decision: AlertDecision,
    now_ms: int,
    previous: AlertState | None,
    summary_of: Callable[[AlertDecision, Mapping[str, Observation], list[str]], Summary],
) -> AlertState:
    """The state after ``decision``: unions and maxima, so the result does not depend on arrival order.

    Withdrawn evidence is the exception, and it is sticky: once an event is taken away from an
    alert, no perspective's finding brings it back.
    """
    withdrawn = (previous.withdrawn if previous else frozenset()) | frozenset(decision.withdrawn)
    evidence = {k: o for k, o in (previous.evidence if previous else {}).items() if k not in withdrawn}
    for observation in decision.evidence:
        if observation.event_id not in withdrawn:
            evidence.setdefault(observation.event_id, observation)
    base = decision.severity if previous is None else max(previous.base_severity, decision.severity, key=_severity_rank)
    agencies = observing_agencies(evidence.values())
    border_point = decision.border_point if decision.border_point is not None or previous is None else previous.border_point
    subjects = sorted(set(previous.subjects if previous else ()) | set(decision.subjects))
    if decision.rule in UNCORROBORATED_RULES:
        agencies = []
    severity = _corroborated(base, agencies)
    summary = summary_of(decision, evidence, agencies)
    return AlertState(
        alert_id=key,
        rule=decision.rule,
        version=previous.version + 1 if previous else 1,
        severity=severity,
        base_severity=base,
        score=decision.score if previous is None else max(previous.score, decision.score),
        created_at_ms=previous.created_at_ms if previous else now_ms,
        updated_at_ms=now_ms,
        subjects=subjects,
        evidence=evidence,
        border_point=border_point,
        summary=summary.text,
        phrases=summary.phrases,
        status="OPEN",
        change=_change(previous, evidence, subjects, severity),
        previous_severity=previous.severity if previous and previous.severity != severity else None,
        withdrawn=withdrawn,
    )


@dataclass(frozen=True)
class Summary:
    text: str
    phrases: list[dict[str, Any]]


UNCORROBORATED_RULES = frozenset({"hub_detected"})
"""Notices about the data, not findings: many agencies naming a hotline make it no more urgent."""


def observing_agencies(evidence: Iterable[Observation]) -> list[str]:
    """The distinct agencies whose evidence observed the subjects (see the module docstring), sorted."""
    return sorted({o.agency for o in evidence if o.event_type in OBSERVING_TYPES})


def _corroborated(base: str, agencies: list[str]) -> str:
    """Several agencies observing the subjects independently make the finding one step more urgent."""
    rank = _severity_rank(base) + (1 if len(agencies) >= 2 else 0)
    return SEVERITIES[min(rank, len(SEVERITIES) - 1)]


def _corroboration_note(summary: str, agencies: list[str]) -> str:
    if len(agencies) < 2:
        return summary
    return f"{summary} Corroborated by {len(agencies)} agencies that observed the subjects: {', '.join(agencies)}.".strip()


def _severity_rank(severity: str) -> int:
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        raise ValueError(f"unknown severity {severity!r}; known: {', '.join(SEVERITIES)}") from None


def _tlp_rank(tlp: str) -> int:
    """Unknown markings rank as RED: failing closed is the only safe reading of a marking we cannot parse."""
    return TLP_ORDER.index(tlp) if tlp in TLP_ORDER else len(TLP_ORDER) - 1


def _ordered(observations: Iterable[Observation]) -> list[Observation]:
    return sorted(observations, key=event_order)


def _subject_record(key: str) -> dict[str, Any]:
    kind, _, canonical_id = key.partition(":")
    return {"kind": kind, "id": canonical_id, "display_name": None}


def _evidence_record(observation: Observation) -> dict[str, Any]:
    return {
        "event_id": observation.event_id,
        "agency": observation.agency,
        "event_type": observation.event_type,
        "occurred_at": observation.occurred_at_ms,
        "border_point": observation.border_point,
        "summary": evidence_summary(observation),
        "subjects": list(observation.subjects),
        "latitude": observation.latitude,
        "longitude": observation.longitude,
        "facts": evidence_facts(observation),
    }


EVIDENCE_FACTS: dict[str, tuple[str, ...]] = {
    "sighting": ("method",),
    "finance-flag": ("risk_score", "channel", "amount", "currency"),
    "case-update": ("case_id", "status", "warrant_ref"),
    "platform-report": ("platform", "content_kind", "content_ref"),
}
"""Per event type, the facts its one-line description names: what the console words that line from."""


def evidence_facts(observation: Observation) -> dict[str, str]:
    """The facts :func:`evidence_summary` names, as the text it writes them in (absent ones left out)."""
    facts = observation.facts
    return {
        name: str(facts[name])
        for name in EVIDENCE_FACTS.get(observation.event_type, ())
        if facts.get(name) not in (None, "")
    }


def evidence_summary(observation: Observation) -> str:
    """One line saying what an event contributes, from whichever documented ``facts`` it carries."""
    describe = _DESCRIBERS.get(observation.event_type, _other)
    place = f"at {observation.border_point}" if observation.border_point else None
    if place is None and observation.latitude is not None and observation.longitude is not None:
        place = f"at {observation.latitude:.4f},{observation.longitude:.4f}"
    return _words(observation.agency, *describe(observation), place)


def _sighting(observation: Observation) -> list[str | None]:
    method = observation.facts.get("method")
    return ["sighting", f"({method})" if method else None]


def _finance_flag(observation: Observation) -> list[str | None]:
    facts = observation.facts
    risk = facts.get("risk_score")
    payment = _words(facts.get("channel"), facts.get("amount"), facts.get("currency"))
    return ["finance flag", f"risk {risk}" if risk is not None else None, f"({payment})" if payment else None]


def _case_update(observation: Observation) -> list[str | None]:
    facts = observation.facts
    warrant = facts.get("warrant_ref")
    return ["case", facts.get("case_id"), facts.get("status"), f"(warrant {warrant})" if warrant else None]


def _platform_report(observation: Observation) -> list[str | None]:
    facts = observation.facts
    return ["report of", facts.get("platform"), facts.get("content_kind"), facts.get("content_ref")]


def _other(observation: Observation) -> list[str | None]:
    return [observation.event_type]


_DESCRIBERS: dict[str, Callable[[Observation], list[str | None]]] = {
    "sighting": _sighting,
    "finance-flag": _finance_flag,
    "case-update": _case_update,
    "platform-report": _platform_report,
}


def _words(*parts: Any) -> str:
    return " ".join(str(part) for part in parts if part not in (None, ""))
