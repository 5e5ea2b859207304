"""The correlator's steps as pure functions, and an in-memory run of them.

The Faust app (:mod:`borderbus_correlator.app`) calls exactly these steps between topics and
tables; :class:`InMemoryPipeline` calls them between dicts and a queue, so the whole correlation
can be tested and benchmarked without a broker.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from borderbus.catalogue import BorderPoint
from borderbus_correlator.alert_book import AlertBook, AlertState, alert_id
from borderbus_correlator.history import SubjectHistory
from borderbus_correlator.model import AlertDecision, Observation
from borderbus_correlator.rule_config import RuleConfig
from borderbus_correlator.rules import evaluate


@dataclass(frozen=True)
class Route:
    """One message for the by-subject topic: deliver ``observation`` to ``target``'s history."""

    target: str
    mode: str  # "direct" (the event names target) or "linked" (it names a subject linked to target)
    via: str | None
    observation: Observation

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "via": self.via, "observation": self.observation.to_json()}

    @classmethod
    def from_json(cls, target: str, data: Mapping[str, Any]) -> Route:
        return cls(target, data["mode"], data.get("via"), Observation.from_json(data["observation"]))


@dataclass
class StepResult:
    outcome: str  # added | duplicate | late
    history: SubjectHistory
    routes: list[Route] = field(default_factory=list)
    decisions: list[AlertDecision] = field(default_factory=list)


def fan_out(observation: Observation) -> list[Route]:
    """An event goes to the history of every subject it names."""
    return [Route(subject, "direct", None, observation) for subject in observation.subjects]


def correlate(stored: Mapping[str, Any] | None, route: Route, cfg: RuleConfig, points: Mapping[str, BorderPoint]) -> StepResult:
    """Add ``route``'s observation to its target's history, share it one hop, and run the rules.

    A directly named event is forwarded to the subject's other links, and the subjects it names
    with this one receive this subject's earlier direct events, so either side of a link sees the
    other's past. Only decisions the observation takes part in are returned: the others were
    found before.

    A duplicate (the same event again: a replay after a crash, or an agency resubmitting) changes
    nothing here but repeats what the event caused downstream, because a crash may have lost
    those messages; downstream, repeating them adds nothing.
    """
    subject, observation = route.target, route.observation
    history = SubjectHistory.from_json(stored) if stored else SubjectHistory(subject)
    if route.mode == "direct":
        new_links = set(history.new_links(observation))
        outcome = history.add_direct(observation, cfg)
    else:
        outcome = history.add_linked(route.via or "", observation, cfg)
    if outcome == "late":
        return StepResult(outcome, history)
    routes: list[Route] = []
    if route.mode == "direct":
        named = set(observation.subjects) - {subject}
        routes += [Route(n, "linked", subject, observation) for n in history.links if n not in named and n != subject]
        # a replay cannot tell which links this event formed the first time, so it backfills them all
        backfill = sorted(named if outcome == "duplicate" else new_links)
        earlier = [o for o in history.direct if o.event_id != observation.event_id]
        routes += [Route(n, "linked", subject, o) for n in backfill for o in earlier]
    if outcome == "added":
        history.expire(cfg)
    decisions = [d for d in evaluate(history, cfg, points) if any(e.event_id == observation.event_id for e in d.evidence)]
    return StepResult(outcome, history, routes, decisions)


class InMemoryPipeline:
    """The correlator with dicts for tables and a queue for topics: the reference run, no broker."""

    def __init__(self, cfg: RuleConfig, points: Mapping[str, BorderPoint], book: AlertBook) -> None:
        self.cfg, self.points, self.book = cfg, points, book
        self.histories: dict[str, dict[str, Any]] = {}
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
                    self.histories[route.target] = result.history.to_json()
                queue.extend(result.routes)
                for decision in result.decisions:
                    key = alert_id(decision.rule, decision.alert_key)
                    state = self.book.merge(self.alerts.get(key), decision, now_ms)
                    if state is not None:
                        self.alerts[key] = state
                        published.append(state)
        self.versions += published
        return published
