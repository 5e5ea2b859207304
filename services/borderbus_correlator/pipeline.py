"""The correlator's steps as pure functions, and an in-memory run of them.

The worker's stages (:mod:`borderbus_correlator.app`) call exactly these steps between topics and
state; :class:`InMemoryPipeline` calls them between dicts and a queue, so the whole correlation
can be tested and benchmarked without a broker.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from borderbus.catalogue import BorderPoint
from borderbus_correlator.alert_book import AlertBook, AlertState, alert_id
from borderbus_correlator.history import Seen, SubjectHistory
from borderbus_correlator.model import AlertDecision, AlertRetraction, Finding, Observation
from borderbus_correlator.rule_config import RuleConfig
from borderbus_correlator.rules import (
    find_by_rule,
    is_hub,
    moves_unchanged,
    moves_with_newest,
    run_rule,
    unaffected_rules,
)
from borderbus_correlator.summaries import utc


@dataclass(frozen=True)
class Route:
    """One message for the by-subject topic: deliver ``observation`` to ``target``'s history."""

    target: str
    mode: str  # "direct" (the event names target), "linked" (it names a subject linked to target), "revoke",
    # or "unlink" (``via`` became a hub with ``observation``: target stops following it)
    via: str | None
    observation: Observation

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "via": self.via, "observation": self.observation.to_json()}

    @classmethod
    def from_json(cls, target: str, data: Mapping[str, Any]) -> Route:
        return cls(target, data["mode"], data.get("via"), Observation.from_json(data["observation"]))


@dataclass
class StepResult:
    outcome: str  # added | duplicate | late | revoked
    history: SubjectHistory
    routes: list[Route] = field(default_factory=list)
    decisions: list[Finding] = field(default_factory=list)
    became_hub: bool = False  # this event took the target over the links cap (counted, and reported as hub_detected)


def fan_out(observation: Observation) -> list[Route]:
    """An event goes to the history of every subject it names; a revision also to those its original named."""
    direct = [Route(subject, "direct", None, observation) for subject in observation.subjects]
    reaches = [s for s in observation.revision_reaches if s not in observation.subjects]
    return direct + [Route(subject, "revoke", None, observation) for subject in reaches]


def correlate(
    stored: SubjectHistory | None, route: Route, cfg: RuleConfig, points: Mapping[str, BorderPoint]
) -> StepResult:
    """Add ``route``'s observation to its target's history, share it one hop, and run the rules.

    A directly named event is forwarded to the subject's other links, and the subjects it names
    with this one receive this subject's earlier direct events, so either side of a link sees the
    other's past. A revision also goes to the subjects of the event it revokes that it no longer names.

    The rules run on the history with and without the observation: findings it takes part in, or
    that it made appear, are returned; findings it made disappear are returned as retractions, and
    evidence it took away as withdrawn. Both sides are computed from the same history, so expiry
    never looks like a retraction, and a replay computes exactly what the first arrival did.

    A duplicate (the same event again: a replay after a crash, or an agency resubmitting) changes
    nothing here but repeats what the event caused downstream, because a crash may have lost
    those messages; downstream, repeating them adds nothing.

    A subject linked to more than ``cfg.max_links`` others is a hub: it shares nothing more and
    takes in nothing through links, and the event that takes it over the cap tells every link to
    forget what came through it (``unlink``), so every history ends as if the hub had never
    forwarded, whatever the arrival order.
    """
    if stored is None and route.mode == "direct":
        first = _first_event(route, cfg, points)
        if first is not None:
            return first
    subject, observation = route.target, route.observation
    history = stored.copy() if stored is not None else SubjectHistory(subject)  # ``stored`` stays as it was
    known = stored.findings_by_rule if stored is not None else {}  # what the rules found in ``stored`` (none in nothing)
    plain_news = stored is None or not (stored.holds(observation.event_id) or observation.revises is not None)
    new_links: set[str] = set()
    was_hub = is_hub(history, cfg)
    before: SubjectHistory | None = None
    if route.mode == "direct":
        new_links = set(history.new_links(observation))
        if not was_hub and len(history.links) + len(new_links) > cfg.max_links:
            before = history.copy()  # this event makes a hub: its findings are judged against the history as it was
        outcome = history.add_direct(observation, cfg)
    elif route.mode == "revoke":
        outcome = history.add_revocation(observation)
    elif route.mode == "unlink":
        before = history.copy()
        outcome = history.drop_hub(route.via or "")
    elif was_hub:
        outcome = "hub"
    else:
        outcome = history.add_linked(route.via or "", observation, cfg)
    if outcome in ("late", "revoked", "hub"):
        return StepResult(outcome, history)
    routes: list[Route] = []
    hub = is_hub(history, cfg)
    if route.mode == "direct" and hub:
        if not was_hub or outcome == "duplicate":
            routes += [Route(n, "unlink", subject, observation) for n in sorted(history.links)]
        history.forget_linked()
    elif route.mode == "direct":
        named = set(observation.subjects) - {subject}
        routes += [Route(n, "linked", subject, observation) for n in sorted(history.links) if n not in named and n != subject]
        # a replay cannot tell which links this event formed the first time, so it backfills them all
        backfill = sorted(named if outcome == "duplicate" else new_links)
        if backfill:
            earlier = [o for o in history.direct if o.event_id != observation.event_id]
            routes += [Route(n, "linked", subject, o) for n in backfill for o in earlier]
    if route.mode == "direct":
        revoked = history.revoked.get(observation.revises or "")
        if revoked is not None and revoked.held is not None and revoked.held.via is None:
            unnamed = sorted(set(revoked.held.observation.subjects) - set(observation.subjects) - {subject})
            routes += [Route(n, "revoke", subject, observation) for n in unnamed]
    dropped = history.expire(cfg) if outcome == "added" else []
    became_hub = route.mode == "direct" and hub and not was_hub
    hub_named = subject if became_hub else route.via if route.mode == "unlink" else None
    # When the step only added a new plain observation (and expiry took some away), the history
    # without it differs from the one this step started from by known entries: only the rules that
    # can read them run again.
    simple = route.mode in ("direct", "linked") and before is None and not (hub or was_hub)
    if simple and outcome == "duplicate":
        history.findings_by_rule = known
    if stored is None:  # without its one event the history holds nothing, and the rules find nothing in nothing
        found = findings(history, observation, cfg, points, found_before={})
    elif simple and outcome == "added" and plain_news and not new_links:
        if known is None:
            known = find_by_rule(stored, cfg, points)
        entry = Seen(route.via if route.mode == "linked" else None, observation)
        found_before = _found_around(history, entry, stored, known, dropped, cfg, points)
        found = findings(history, observation, cfg, points, found_before=found_before)
    else:
        found = findings(history, observation, cfg, points, before, hub_named)
    return StepResult(outcome, history, routes, found, became_hub)


def _first_event(route: Route, cfg: RuleConfig, points: Mapping[str, BorderPoint]) -> StepResult | None:
    """:func:`correlate` for the first event of a subject that names it, the most common step (most subjects are
    seen once): nothing to forward, backfill, expire or compare with. None when the event is a revision or a
    retraction, or makes the subject a hub at once, which the general step handles."""
    observation = route.observation
    at = observation.occurred_at_ms
    if observation.revises is not None or observation.is_retraction or at < 0:
        return None
    links = {other: at for other in observation.subjects if other != route.target}
    if len(links) > cfg.max_links:
        return None
    history = SubjectHistory(route.target, [observation], [], links, at)
    return StepResult("added", history, [], findings(history, observation, cfg, points, found_before={}))


MOVES = "implausible_movement"


def _found_around(
    history: SubjectHistory,
    entry: Seen,
    stored: SubjectHistory,
    known: dict[str, Sequence[AlertDecision]],
    dropped: list[Seen],
    cfg: RuleConfig,
    points: Mapping[str, BorderPoint],
) -> dict[str, Sequence[AlertDecision]]:
    """The rules' findings on ``history`` without ``entry``; those on ``history`` are kept with it.

    ``history`` is ``stored`` (whose findings are ``known``) with ``entry`` added and what expiry took
    away (``dropped`` observations, and links) removed. Rules that none of these changes can reach
    keep the findings they had, so at the cap only the rules that read the expired observations run twice.
    """
    gone = [seen for seen in dropped if seen.observation is not entry.observation]  # what ``stored`` held
    links_changed = stored.links.keys() != history.links.keys()
    held = history.holds(entry.observation.event_id)
    added = [entry] if held else []
    before = known
    # One question for both sides: a rule that neither expiry nor the entry can reach keeps its findings on
    # each (asking separately would spare a rule reached by only one of them, a rare case, at twice the cost).
    keep = frozenset(known)
    if gone or links_changed or held:
        keep = unaffected_rules(history, gone + added, links_changed, cfg, points)
    if gone or links_changed:
        kept_before = keep
        if MOVES in known and MOVES not in keep and moves_unchanged(history, gone, known[MOVES]):
            kept_before = keep | {MOVES}
        if not kept_before.issuperset(known):
            earlier = history.without(entry.observation.event_id)
            before = {
                name: found if name in kept_before else run_rule(name, earlier, cfg, points) for name, found in known.items()
            }
    if not held:
        keep = frozenset(known)
    after = before
    if held and MOVES in before and MOVES not in keep:
        moves = moves_with_newest(history, entry.observation, before[MOVES], cfg, points)
        if moves is not None:
            after, keep = {**before, MOVES: moves}, keep | {MOVES}
    history.findings_by_rule = {
        name: found if name in keep else run_rule(name, history, cfg, points) for name, found in after.items()
    }
    return before


def findings(
    history: SubjectHistory,
    observation: Observation,
    cfg: RuleConfig,
    points: Mapping[str, BorderPoint],
    previous: SubjectHistory | None = None,
    hub: str | None = None,
    *,
    found_before: dict[str, Sequence[AlertDecision]] | None = None,
) -> list[Finding]:
    """What ``observation`` changed in the rules' findings on ``history`` (which already holds it).

    ``previous`` is the history before this step when the step was not adding ``observation``
    (a hub's ``unlink``); by default it is ``history`` without the observation, whose findings
    the caller may pass as ``found_before``. The findings on ``history`` are kept with it.
    """
    if history.findings_by_rule is None:
        history.findings_by_rule = find_by_rule(history, cfg, points)
    after = {d.alert_key: d for found in history.findings_by_rule.values() for d in found}
    if found_before is None:
        base = previous if previous is not None else history.without(observation.event_id)
        found_before = find_by_rule(base, cfg, points)
    before = {d.alert_key: d for found in found_before.values() for d in found}
    result: list[Finding] = []
    for key, decision in after.items():
        earlier = before.get(key)
        if earlier is decision:
            continue  # the very finding made without the observation: it neither holds it nor lost evidence
        withdrawn = _ids(earlier) - _ids(decision) if earlier is not None else set()
        if earlier is None or withdrawn or observation.event_id in _ids(decision):
            result.append(replace(decision, reraised=earlier is None, withdrawn=tuple(sorted(withdrawn))))
    for key, decision in before.items():
        if key not in after:
            result.append(_retraction(decision, observation, after.values(), hub))
    return result


def _ids(decision: AlertDecision | None) -> set[str]:
    return {o.event_id for o in decision.evidence} if decision is not None else set()


_CASE_ENDS = {"WARRANT_WITHDRAWN": "warrant_withdrawn", "CLOSED": "case_closed"}


def _retraction(
    decision: AlertDecision, by: Observation, now_found: Iterable[AlertDecision], hub: str | None = None
) -> AlertRetraction:
    """Why ``by`` took ``decision``'s support away, in words an officer can check."""
    supported = _ids(decision)
    if hub is not None:
        reason = "evidence_withdrawn"
        detail = (
            f"{hub} is linked to too many subjects (a hub, see hub_detected): "
            "events that reached here only through it no longer count."
        )
    elif by.revision is not None:
        reason = "event_retracted" if by.is_retraction else "event_corrected"
        detail = f"{by.agency} {'retracted' if by.is_retraction else 'corrected'} event {by.revises}."
    elif by.event_type == "case-update" and by.facts.get("removed"):
        reason = "member_removed"
        detail = f"{by.agency} removed {', '.join(by.facts['removed'])} from case {by.facts.get('case_id')}."
    elif by.event_type == "case-update" and by.facts.get("status") in _CASE_ENDS:
        reason = _CASE_ENDS[str(by.facts["status"])]
        ended = "withdrew the warrant" if reason == "warrant_withdrawn" else "closed the case"
        detail = f"{by.agency} {ended} in case {by.facts.get('case_id')} on {utc(by.occurred_at_ms)}."
    else:
        wider = [d for d in now_found if d.rule == decision.rule and supported <= _ids(d)]
        if wider:
            reason = "superseded"
            detail = f"Merged into the alert {alert_id(wider[0].rule, wider[0].alert_key)}, which holds all its evidence."
        else:
            reason = "evidence_withdrawn"
            detail = f"Event {by.event_id} of {by.agency} no longer lets the rule find this."
    return AlertRetraction(decision.rule, decision.alert_key, reason, detail, (by.event_id,), tuple(sorted(supported)))




class InMemoryPipeline:
    """The correlator with dicts for tables and a queue for topics: the reference run, no broker."""

    def __init__(self, cfg: RuleConfig, points: Mapping[str, BorderPoint], book: AlertBook) -> None:
        self.cfg, self.points, self.book = cfg, points, book
        self.histories: dict[str, SubjectHistory] = {}
        self.alerts: dict[str, AlertState] = {}
        self.versions: list[AlertState] = []
        self.late: list[Route] = []

    def process(self, observations: Iterable[Observation], now_ms: int = 0) -> list[AlertState]:
        """Run observations through every step; returns the alert versions they caused, in order."""
        published: list[AlertState] = []
        for observation in observations:
            queue = deque(fan_out(observation))
            while queue:
                route = queue.popleft()
                result = correlate(self.histories.get(route.target), route, self.cfg, self.points)
                if result.outcome == "late":
                    self.late.append(route)
                    continue
                if result.outcome == "added":
                    self.histories[route.target] = result.history
                queue.extend(result.routes)
                for decision in result.decisions:
                    key = alert_id(decision.rule, decision.alert_key)
                    state = self.book.apply(self.alerts.get(key), decision, now_ms)
                    if state is not None:
                        self.alerts[key] = state
                        published.append(state)
        self.versions += published
        return published
