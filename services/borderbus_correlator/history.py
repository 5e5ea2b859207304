"""One subject's history: the observations that named it (direct) and those of its links (linked, one hop).

The state is a pure function of the set of observations accepted, never of their arrival order:
lists stay sorted by ``(occurred_at_ms, event_id)``, links keep the latest time, and a linked
observation reachable through several subjects keeps the smallest ``via``. That is what lets a
full re-evaluation of the rules give the same decisions whatever the order Kafka delivered in.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, TypeVar

from borderbus_correlator.model import Observation
from borderbus_correlator.rule_config import RuleConfig

AddOutcome = Literal["added", "duplicate", "late"]
_T = TypeVar("_T")


def event_order(observation: Observation) -> tuple[int, str]:
    """The one order of observations everywhere: event time, then event id to break ties."""
    return observation.occurred_at_ms, observation.event_id


def _linked_order(entry: tuple[str | None, Observation]) -> tuple[int, str]:
    return event_order(entry[1])


class Seen(NamedTuple):
    """An observation as a history holds it: ``via`` is the linked subject it came through, None when direct."""

    via: str | None
    observation: Observation


@dataclass
class SubjectHistory:
    """``direct``: events naming ``subject``; ``linked``: (via, event) of its links' events; both in event order.

    ``links`` maps each subject named together with this one to the last event time they were;
    ``max_seen_ms`` is this subject's event-time watermark. Change it only through its methods.
    """

    subject: str
    direct: list[Observation] = field(default_factory=list)
    linked: list[tuple[str, Observation]] = field(default_factory=list)
    links: dict[str, int] = field(default_factory=dict)
    max_seen_ms: int = 0
    _direct_ids: set[str] = field(init=False, repr=False, compare=False)
    _linked_via: dict[str, str] = field(init=False, repr=False, compare=False)
    _by_type: dict[str, list[Seen]] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.direct.sort(key=event_order)
        self.linked.sort(key=_linked_order)
        self._reindex()

    def _reindex(self) -> None:
        self._by_type = None
        self._direct_ids = {observation.event_id for observation in self.direct}
        self._linked_via = {observation.event_id: via for via, observation in self.linked}

    def seen(self, *event_types: str) -> Sequence[Seen]:
        """Direct and linked observations of these types in event order.

        Every rule reads the history this way, so the merge is done once per change, not once per rule.
        """
        if self._by_type is None:
            self._by_type = {}
            merged: list[Seen] = [Seen(None, o) for o in self.direct] + [Seen(via, o) for via, o in self.linked]
            merged.sort(key=_linked_order)
            for entry in merged:
                self._by_type.setdefault(entry.observation.event_type, []).append(entry)
        if len(event_types) == 1:
            return self._by_type.get(event_types[0], [])
        return sorted((entry for t in event_types for entry in self._by_type.get(t, [])), key=_linked_order)

    def new_links(self, observation: Observation) -> list[str]:
        """Subjects this observation would link for the first time (ask before :meth:`add_direct`)."""
        return [other for other in observation.subjects if other != self.subject and other not in self.links]

    def add_direct(self, observation: Observation, cfg: RuleConfig) -> AddOutcome:
        """Record an event naming this subject, and link this subject to the others it names.

        An event seen before only through a link moves to ``direct``: naming the subject is the stronger fact.
        """
        if observation.event_id in self._direct_ids:
            return "duplicate"
        if observation.occurred_at_ms < self.max_seen_ms - cfg.allowed_lateness_ms:
            return "late"
        if observation.event_id in self._linked_via:
            self._remove_linked(observation.event_id)
        insort(self.direct, observation, key=event_order)
        self._direct_ids.add(observation.event_id)
        self._by_type = None
        for other in observation.subjects:
            if other != self.subject:
                self.links[other] = max(self.links.get(other, observation.occurred_at_ms), observation.occurred_at_ms)
        self.max_seen_ms = max(self.max_seen_ms, observation.occurred_at_ms)
        return "added"

    def add_linked(self, via: str, observation: Observation, cfg: RuleConfig) -> AddOutcome:
        """Record an event of the linked subject ``via``.

        Late only when older than the retention: a new link back-fills the other side's retained
        history, which is legitimately older than this subject's watermark minus the lateness.
        Returns 'added' also when a smaller ``via`` replaces the stored one, since the state changed.
        """
        event_id = observation.event_id
        if event_id in self._direct_ids:
            return "duplicate"
        stored_via = self._linked_via.get(event_id)
        if stored_via is not None and stored_via <= via:
            return "duplicate"
        if observation.occurred_at_ms < self.max_seen_ms - cfg.retention_ms:
            return "late"
        if stored_via is not None:
            self._remove_linked(event_id)
        insort(self.linked, (via, observation), key=_linked_order)
        self._linked_via[event_id] = via
        self._by_type = None
        self.max_seen_ms = max(self.max_seen_ms, observation.occurred_at_ms)
        return "added"

    def expire(self, cfg: RuleConfig) -> int:
        """Forget what no rule can reach any more, then keep the newest ``max_observations`` of each list.

        Returns the number of observations dropped (forgotten links are not counted).
        """
        horizon = self.max_seen_ms - cfg.retention_ms
        before = len(self.direct) + len(self.linked)
        self.direct = _newest(self.direct[bisect_left(self.direct, horizon, key=lambda o: o.occurred_at_ms) :], cfg)
        self.linked = _newest(self.linked[bisect_left(self.linked, horizon, key=lambda e: e[1].occurred_at_ms) :], cfg)
        self.links = {other: seen_ms for other, seen_ms in self.links.items() if seen_ms >= horizon}
        dropped = before - len(self.direct) - len(self.linked)
        if dropped:
            self._reindex()
        return dropped

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "direct": [observation.to_json() for observation in self.direct],
            "linked": [{"via": via, "observation": observation.to_json()} for via, observation in self.linked],
            "links": dict(sorted(self.links.items())),
            "max_seen_ms": self.max_seen_ms,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SubjectHistory:
        return cls(
            subject=data["subject"],
            direct=[Observation.from_json(item) for item in data["direct"]],
            linked=[(item["via"], Observation.from_json(item["observation"])) for item in data["linked"]],
            links={other: int(seen_ms) for other, seen_ms in data["links"].items()},
            max_seen_ms=int(data["max_seen_ms"]),
        )

    def _remove_linked(self, event_id: str) -> None:
        self.linked = [entry for entry in self.linked if entry[1].event_id != event_id]
        del self._linked_via[event_id]


def _newest(items: list[_T], cfg: RuleConfig) -> list[_T]:
    return items[max(0, len(items) - cfg.max_observations) :]
