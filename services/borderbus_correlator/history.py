"""One subject's history: the observations that named it (direct) and those of its links (linked, one hop).

The state is a pure function of the set of observations received, never of their arrival order:
lists stay sorted by ``(occurred_at_ms, event_id)``, links keep the latest time, a linked
observation reachable through several subjects keeps the smallest ``via``, and an event revoked
by its agency (a correction or retraction) stays revoked whether it arrives before or after the
revision. That is what lets a full re-evaluation of the rules give the same decisions whatever
the order Kafka delivered in, and so the same alerts after a crash and a replay.

Lateness is judged against the retention only (nothing a rule can still reach is refused): a
replay reads the agencies' topics in another order than live, so a tighter bound would make the
alerts depend on arrival order. Case updates are long-lived facts: they are kept until their case
closes, however old (a warrant issued 200 days before a sighting still counts).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, TypeVar

from borderbus_correlator.model import AlertDecision, Observation
from borderbus_correlator.rule_config import RuleConfig

AddOutcome = Literal["added", "duplicate", "late", "revoked", "hub"]
_T = TypeVar("_T")

LONG_LIVED_TYPES = frozenset({"case-update"})
"""Event types that state facts holding until a later event ends them, not observations of a moment."""


def event_order(observation: Observation) -> tuple[int, str]:
    """The one order of observations everywhere: event time, then event id to break ties."""
    return observation.occurred_at_ms, observation.event_id


def _linked_order(entry: tuple[str | None, Observation]) -> tuple[int, str]:
    return event_order(entry[1])


def _time(observation: Observation) -> int:
    return observation.occurred_at_ms


def _linked_time(entry: tuple[str | None, Observation]) -> int:
    return entry[1].occurred_at_ms


class Seen(NamedTuple):
    """An observation as a history holds it: ``via`` is the linked subject it came through, None when direct."""

    via: str | None
    observation: Observation


class Revocation(NamedTuple):
    """An event its agency revoked: by which event, and the revoked event as this history held it (if it did)."""

    by: Observation
    held: Seen | None


@dataclass
class SubjectHistory:
    """``direct``: events naming ``subject``; ``linked``: (via, event) of its links' events; both in event order.

    ``links`` maps each subject named together with this one to the last event time they were;
    ``max_seen_ms`` is this subject's event-time watermark; ``retractions`` are the agencies'
    retractions received (never evidence); ``revoked`` maps each revoked event id to its revocation.
    ``hubs`` are links that declared themselves hubs (their events are not followed), and
    ``other_vias`` the further links a linked event also came through, so dropping a hub keeps an
    event another link still vouches for. Change it only through its methods.
    """

    subject: str
    direct: list[Observation] = field(default_factory=list)
    linked: list[tuple[str, Observation]] = field(default_factory=list)
    links: dict[str, int] = field(default_factory=dict)
    max_seen_ms: int = 0
    retractions: dict[str, Observation] = field(default_factory=dict)
    revoked: dict[str, Revocation] = field(default_factory=dict)
    hubs: set[str] = field(default_factory=set)
    other_vias: dict[str, list[str]] = field(default_factory=dict)
    _direct_ids: set[str] = field(init=False, repr=False, compare=False)
    _linked_via: dict[str, str] = field(init=False, repr=False, compare=False)
    _by_type: dict[str, list[Seen]] | None = field(default=None, init=False, repr=False, compare=False)
    _view_owned: str | None = field(default=None, init=False, repr=False, compare=False)
    """An event type whose list in ``_by_type`` no other history shares, so it may change in place."""
    findings_by_rule: dict[str, Sequence[AlertDecision]] | None = field(default=None, init=False, repr=False, compare=False)
    """What each rule found in exactly this history, set by the step that made it (never copied, never stored)."""

    @property
    def findings_cache(self) -> list[AlertDecision] | None:
        """What the rules found in exactly this history, in rule order; None when not known."""
        if self.findings_by_rule is None:
            return None
        return [decision for found in self.findings_by_rule.values() for decision in found]

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
            by_type: dict[str, list[Seen]] = {}
            for observation in self.direct:
                by_type.setdefault(observation.event_type, []).append(Seen(None, observation))
            linked: dict[str, list[Seen]] = {}
            for via, observation in self.linked:
                linked.setdefault(observation.event_type, []).append(Seen(via, observation))
            for event_type, entries in linked.items():  # both lists are in event order: merge only where both have some
                both = by_type[event_type] + entries if event_type in by_type else None
                by_type[event_type] = sorted(both, key=_linked_order) if both is not None else entries
            self._by_type = by_type
        if len(event_types) == 1:
            return self._by_type.get(event_types[0], [])
        return sorted((entry for t in event_types for entry in self._by_type.get(t, [])), key=_linked_order)

    def event_types(self) -> frozenset[str]:
        """The event types of the observations held, direct or linked."""
        if self._by_type is not None:
            return frozenset(event_type for event_type, entries in self._by_type.items() if entries)
        return frozenset([o.event_type for o in self.direct] + [o.event_type for _, o in self.linked])

    def _seen_add(self, entry: Seen) -> None:
        """Keep the rules' merged view current after one insertion, copying only the list it changes.

        The view may be shared with the history this one was copied from, so a list is edited in place
        only once this history made it its own.
        """
        if self._by_type is None:
            return
        event_type = entry.observation.event_type
        entries = self._by_type.get(event_type)
        if entries is not None and event_type == self._view_owned:
            insort(entries, entry, key=_linked_order)
            return
        entries = list(entries or ())
        insort(entries, entry, key=_linked_order)
        self._by_type = {**self._by_type, event_type: entries}
        self._view_owned = event_type

    def holds(self, event_id: str) -> bool:
        return event_id in self._direct_ids or event_id in self._linked_via or event_id in self.retractions

    def new_links(self, observation: Observation) -> list[str]:
        """Subjects this observation would link for the first time (ask before :meth:`add_direct`)."""
        if observation.is_retraction:
            return []
        return [other for other in observation.subjects if other != self.subject and other not in self.links]

    def add_direct(self, observation: Observation, cfg: RuleConfig) -> AddOutcome:
        """Record an event naming this subject, and link this subject to the others it names.

        An event seen before only through a link moves to ``direct``: naming the subject is the stronger fact.
        """
        event_id = observation.event_id
        if event_id in self._direct_ids or event_id in self.retractions:
            return "duplicate"
        verdict = self._admit(observation, cfg)
        if verdict is not None:
            return verdict
        if observation.is_retraction:
            return self._add_retraction(observation)
        if event_id in self._linked_via:
            self._remove_linked(event_id)
        insort(self.direct, observation, key=event_order)
        self._direct_ids.add(event_id)
        self._seen_add(Seen(None, observation))
        for other in observation.subjects:
            if other != self.subject:
                self.links[other] = max(self.links.get(other, observation.occurred_at_ms), observation.occurred_at_ms)
        self.max_seen_ms = max(self.max_seen_ms, observation.occurred_at_ms)
        return "added"

    def add_linked(self, via: str, observation: Observation, cfg: RuleConfig) -> AddOutcome:
        """Record an event of the linked subject ``via``.

        Late only when older than the retention, as for direct events. Returns 'added' also when a
        smaller ``via`` replaces the stored one, since the state changed.
        """
        event_id = observation.event_id
        if via in self.hubs:
            return "hub"
        if event_id in self._direct_ids or event_id in self.retractions:
            return "duplicate"
        stored_via = self._linked_via.get(event_id)
        if stored_via is not None and stored_via <= via:
            return self._also_via(event_id, via)
        verdict = self._admit(observation, cfg)
        if verdict is not None:
            return verdict
        if observation.is_retraction:
            return self._add_retraction(observation)
        if stored_via is not None:
            self._remove_linked(event_id)
            self._also_via(event_id, stored_via)
        insort(self.linked, (via, observation), key=_linked_order)
        self._linked_via[event_id] = via
        self._seen_add(Seen(via, observation))
        self.max_seen_ms = max(self.max_seen_ms, observation.occurred_at_ms)
        return "added"

    def _also_via(self, event_id: str, via: str) -> AddOutcome:
        """Remember a further link ``event_id`` came through; 'added' only when it is news."""
        known = self.other_vias.setdefault(event_id, [])
        if via in known or via == self._linked_via.get(event_id):
            return "duplicate"
        known.append(via)
        known.sort()
        return "added"

    def drop_hub(self, hub: str) -> AddOutcome:
        """``hub`` links too many subjects: stop following it, and keep its events only where another link vouches.

        The result is the history that would have been had ``hub`` never forwarded anything, so it does
        not matter whether its events arrived before or after it became a hub.
        """
        if hub in self.hubs:
            return "duplicate"
        self.hubs.add(hub)
        for event_id in list(self.other_vias):
            self.other_vias[event_id] = [v for v in self.other_vias[event_id] if v != hub]
        for _, observation in [entry for entry in self.linked if entry[0] == hub]:
            self._remove_linked(observation.event_id)
            others = self.other_vias.pop(observation.event_id, [])
            if others:
                insort(self.linked, (others[0], observation), key=_linked_order)
                self._linked_via[observation.event_id] = others[0]
                if others[1:]:
                    self.other_vias[observation.event_id] = others[1:]
        self.other_vias = {k: v for k, v in self.other_vias.items() if v}
        self._by_type = None
        return "added"

    def forget_linked(self) -> None:
        """A hub keeps only its own events: what came through its many links would join strangers."""
        self.linked, self.other_vias = [], {}
        self._reindex()

    def add_revocation(self, revision: Observation) -> AddOutcome:
        """Apply only what ``revision`` revokes: it reached this subject because the revoked event named it."""
        if revision.revises is None:
            return "duplicate"
        known = self.revoked.get(revision.revises)
        if known is not None and known.by.event_id == revision.event_id:
            return "duplicate"
        self._revoke(revision)
        return "added"

    def _admit(self, observation: Observation, cfg: RuleConfig) -> AddOutcome | None:
        """None when the observation may enter; else why not. Applies the revision it carries."""
        revocation = self.revoked.get(observation.event_id)
        if revocation is not None and revocation.by.agency == observation.agency:
            return "revoked"
        long_lived = observation.event_type in LONG_LIVED_TYPES
        if not long_lived and observation.occurred_at_ms < self.max_seen_ms - cfg.retention_ms:
            return "late"
        if observation.revises is not None:
            self._revoke(observation)
        return None

    def _add_retraction(self, retraction: Observation) -> AddOutcome:
        self.retractions[retraction.event_id] = retraction
        return "added"

    def _revoke(self, revision: Observation) -> None:
        """Take the revised event out of the evidence; remember it so it stays out if it arrives later.

        Only the agency that published an event may revoke it; of two revisions of one event the
        earlier (in event order) is kept, so the outcome does not depend on which arrived first.
        """
        target = revision.revises
        assert target is not None
        known = self.revoked.get(target)
        if known is not None and event_order(known.by) <= event_order(revision):
            return
        held = known.held if known is not None else self._take(target, revision.agency)
        if held is None and self.holds(target):
            return  # held, but published by another agency: not the reviser's to revoke
        self.revoked[target] = Revocation(revision, held)

    def _take(self, event_id: str, agency: str) -> Seen | None:
        """Remove ``event_id`` from the evidence if ``agency`` published it; how it was held, or None."""
        if event_id in self._direct_ids:
            observation = next(o for o in self.direct if o.event_id == event_id)
            if observation.agency != agency:
                return None
            self.direct = [o for o in self.direct if o.event_id != event_id]
            self._reindex()
            return Seen(None, observation)
        if event_id in self._linked_via:
            via, observation = next(entry for entry in self.linked if entry[1].event_id == event_id)
            if observation.agency != agency:
                return None
            self._remove_linked(event_id)
            self._by_type = None
            return Seen(via, observation)
        return None

    def without(self, event_id: str) -> SubjectHistory:
        """This history as it would be had ``event_id`` never arrived: what the rules said before it.

        Links it formed are kept (they only widen which linked events count), everything else is undone,
        including the revocation it made.
        """
        direct = [o for o in self.direct if o.event_id != event_id]
        linked = [entry for entry in self.linked if entry[1].event_id != event_id]
        revoked = dict(self.revoked)
        for target, revocation in self.revoked.items():
            if revocation.by.event_id == event_id:
                del revoked[target]
                if revocation.held is not None and revocation.held.via is None:
                    direct.append(revocation.held.observation)
                elif revocation.held is not None and revocation.held.via is not None:
                    linked.append((revocation.held.via, revocation.held.observation))
        retractions = {k: v for k, v in self.retractions.items() if k != event_id}
        earlier = SubjectHistory(
            self.subject, direct, linked, dict(self.links), self.max_seen_ms, retractions, revoked, set(self.hubs), {}
        )
        if len(revoked) == len(self.revoked):  # nothing came back: the view is this one's without the event
            earlier._by_type = earlier._view_without(self._by_type, {event_id})
        return earlier

    def copy(self) -> SubjectHistory:
        """An independent history with the same content: every container is new, observations are immutable.

        The rules' merged view is shared, since no change edits it (each change drops it instead).
        """
        clone = object.__new__(SubjectHistory)
        clone.subject, clone.max_seen_ms = self.subject, self.max_seen_ms
        clone.direct, clone.linked, clone.links = list(self.direct), list(self.linked), dict(self.links)
        clone.retractions, clone.revoked, clone.hubs = dict(self.retractions), dict(self.revoked), set(self.hubs)
        clone.other_vias = {k: list(v) for k, v in self.other_vias.items()}
        clone._direct_ids, clone._linked_via, clone._by_type = set(self._direct_ids), dict(self._linked_via), self._by_type
        clone.findings_by_rule = None
        clone._view_owned = self._view_owned = None  # the view's lists are now shared by both
        return clone

    def expire(self, cfg: RuleConfig) -> list[Seen]:
        """Forget what no rule can reach any more, then keep the newest ``max_observations`` of each list.

        Case updates stay until their case has been closed for longer than the retention. Returns
        the observations dropped, direct then linked, each in event order (forgotten links,
        retractions and revocations are not among them).
        """
        horizon = self.max_seen_ms - cfg.retention_ms
        if self._nothing_expires(horizon, cfg):
            return []
        if not any(self.seen(event_type) for event_type in LONG_LIVED_TYPES):
            return self._expire_moments(horizon, cfg)
        closed = _closed_cases(self.direct, (o for _, o in self.linked))
        direct_before, linked_before = self.direct, self.linked

        def keep(observation: Observation) -> bool:
            if observation.event_type in LONG_LIVED_TYPES:
                return closed.get(str(observation.facts.get("case_id")), horizon) >= horizon
            return observation.occurred_at_ms >= horizon

        lasting = [o for o in self.direct if o.event_type in LONG_LIVED_TYPES and keep(o)]
        moments = [o for o in self.direct if o.event_type not in LONG_LIVED_TYPES and keep(o)]
        self.direct = sorted(lasting + _newest(moments, cfg), key=event_order)
        lasting_linked = [e for e in self.linked if e[1].event_type in LONG_LIVED_TYPES and keep(e[1])]
        moments_linked = [e for e in self.linked if e[1].event_type not in LONG_LIVED_TYPES and keep(e[1])]
        self.linked = sorted(lasting_linked + _newest(moments_linked, cfg), key=_linked_order)
        named_by_facts = {s for o in lasting for s in o.subjects} | {via for via, _ in lasting_linked}
        self.links = {other: ms for other, ms in self.links.items() if ms >= horizon or other in named_by_facts}
        self.retractions = {k: o for k, o in self.retractions.items() if o.occurred_at_ms >= horizon}
        self.revoked = {k: r for k, r in self.revoked.items() if keep(r.by)}
        held = {o.event_id for _, o in self.linked}
        self.other_vias = {k: v for k, v in self.other_vias.items() if k in held}
        view = self._by_type
        self._reindex()
        self._by_type = self._view_without(view, set())
        linked_via = self._linked_via
        return [Seen(None, o) for o in direct_before if o.event_id not in self._direct_ids] + [
            Seen(via, o) for via, o in linked_before if linked_via.get(o.event_id) != via
        ]

    def _expire_moments(self, horizon: int, cfg: RuleConfig) -> list[Seen]:
        """:meth:`expire` when no case update is held: each list, in event order, loses a prefix, and the
        indexes and the rules' view lose just that prefix instead of being rebuilt.

        The lists belong to this history alone (:meth:`copy` makes new ones), so the prefix is deleted in place.
        """
        cut = len(self.direct) - cfg.max_observations
        if self.direct and self.direct[0].occurred_at_ms < horizon:
            cut = max(bisect_left(self.direct, horizon, key=_time), cut)
        cut_linked = len(self.linked) - cfg.max_observations
        if self.linked and self.linked[0][1].occurred_at_ms < horizon:
            cut_linked = max(bisect_left(self.linked, horizon, key=_linked_time), cut_linked)
        cut, cut_linked = max(cut, 0), max(cut_linked, 0)
        dropped = [Seen(None, o) for o in self.direct[:cut]] + [Seen(via, o) for via, o in self.linked[:cut_linked]]
        del self.direct[:cut], self.linked[:cut_linked]
        gone = {seen.observation.event_id for seen in dropped}
        self._direct_ids.difference_update(gone)
        for event_id in gone:
            self._linked_via.pop(event_id, None)
        if self.links and min(self.links.values()) < horizon:
            self.links = {other: ms for other, ms in self.links.items() if ms >= horizon}
        if self.retractions:
            self.retractions = {k: o for k, o in self.retractions.items() if o.occurred_at_ms >= horizon}
        if self.revoked:
            self.revoked = {
                k: r for k, r in self.revoked.items() if r.by.event_type in LONG_LIVED_TYPES or r.by.occurred_at_ms >= horizon
            }
        if self.other_vias:
            self.other_vias = {k: v for k, v in self.other_vias.items() if k in self._linked_via}
        if dropped and self._by_type is not None:
            self._by_type = self._view_without_oldest(self._by_type, dropped, gone)
        return dropped

    def _view_without_oldest(self, view: dict[str, list[Seen]], dropped: list[Seen], gone: set[str]) -> dict[str, list[Seen]]:
        """The rules' view without ``dropped`` (whose ids are ``gone``), the oldest observations of a list: only
        the lists of their types change, and only where they start; the other lists are shared.

        A list this history made for itself since it was copied is cut in place; the others are copied once.
        """
        changed = dict(view)
        for event_type in {seen.observation.event_type for seen in dropped}:
            entries = view.get(event_type, [])
            wanted = sum(1 for seen in dropped if seen.observation.event_type == event_type)
            found = end = 0
            while found < wanted and end < len(entries):
                found += entries[end].observation.event_id in gone
                end += 1
            if found == end and event_type == self._view_owned:
                del entries[:end]
            elif found == end:
                changed[event_type] = entries[end:]
            else:
                changed[event_type] = [e for e in entries[:end] if e.observation.event_id not in gone] + entries[end:]
        return changed

    def _view_without(self, view: dict[str, list[Seen]] | None, gone: set[str]) -> dict[str, list[Seen]] | None:
        """The rules' merged view with only what this history still holds, after observations were only taken out.

        Filtering keeps the order, so the view need not be rebuilt and sorted again.
        """
        if view is None:
            return None
        direct, linked = self._direct_ids, self._linked_via

        def kept(entry: Seen) -> bool:
            event_id = entry.observation.event_id
            if event_id in gone:
                return False
            return event_id in direct if entry.via is None else linked.get(event_id) == entry.via

        return {event_type: [e for e in entries if kept(e)] for event_type, entries in view.items()}

    def _nothing_expires(self, horizon: int, cfg: RuleConfig) -> bool:
        """True when :meth:`expire` would keep everything: nothing older than ``horizon``, no list over the cap.

        The common case (a subject seen again within its windows), answered without rebuilding the lists.
        """
        return (
            (not self.direct or self.direct[0].occurred_at_ms >= horizon)
            and (not self.linked or self.linked[0][1].occurred_at_ms >= horizon)
            and len(self.direct) <= cfg.max_observations
            and len(self.linked) <= cfg.max_observations
            and (not self.links or min(self.links.values()) >= horizon)
            and (not self.retractions or all(o.occurred_at_ms >= horizon for o in self.retractions.values()))
            and (not self.revoked or all(r.by.occurred_at_ms >= horizon for r in self.revoked.values()))
            and (not self.other_vias or self.other_vias.keys() <= self._linked_via.keys())
        )

    def holds_lasting_facts(self) -> bool:
        """True while a case update is kept: the history must then outlive its subject's silence.

        Asked of every history written (its stamp): the rules' view answers without a scan where it is built.
        """
        if self._by_type is not None:
            return any(self._by_type.get(event_type) for event_type in LONG_LIVED_TYPES)
        return any(o.event_type in LONG_LIVED_TYPES for o in self.direct) or any(
            o.event_type in LONG_LIVED_TYPES for _, o in self.linked
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "direct": [observation.to_json() for observation in self.direct],
            "linked": [{"via": via, "observation": observation.to_json()} for via, observation in self.linked],
            "links": dict(sorted(self.links.items())),
            "max_seen_ms": self.max_seen_ms,
            "retractions": [observation.to_json() for observation in self.retractions.values()],
            "revoked": [
                {
                    "event_id": target,
                    "by": revocation.by.to_json(),
                    "held_via": revocation.held.via if revocation.held else None,
                    "held": revocation.held.observation.to_json() if revocation.held else None,
                }
                for target, revocation in sorted(self.revoked.items())
            ],
            "hubs": sorted(self.hubs),
            "other_vias": {k: list(v) for k, v in sorted(self.other_vias.items())},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SubjectHistory:
        revoked = {}
        for item in data.get("revoked") or ():
            held = Seen(item.get("held_via"), Observation.from_json(item["held"])) if item.get("held") else None
            revoked[item["event_id"]] = Revocation(Observation.from_json(item["by"]), held)
        retractions = (Observation.from_json(item) for item in data.get("retractions") or ())
        return cls(
            subject=data["subject"],
            direct=[Observation.from_json(item) for item in data["direct"]],
            linked=[(item["via"], Observation.from_json(item["observation"])) for item in data["linked"]],
            links={other: int(seen_ms) for other, seen_ms in data["links"].items()},
            max_seen_ms=int(data["max_seen_ms"]),
            retractions={o.event_id: o for o in retractions},
            revoked=revoked,
            hubs=set(data.get("hubs") or ()),
            other_vias={k: list(v) for k, v in (data.get("other_vias") or {}).items()},
        )

    def _remove_linked(self, event_id: str) -> None:
        self.linked = [entry for entry in self.linked if entry[1].event_id != event_id]
        del self._linked_via[event_id]
        self._by_type = None


def _closed_cases(*observations: Iterable[Observation]) -> dict[str, int]:
    """case id -> when it was last closed, from the case updates among ``observations``."""
    closed: dict[str, int] = {}
    for group in observations:
        for o in group:
            if o.event_type == "case-update" and o.facts.get("status") == "CLOSED":
                case_id = str(o.facts.get("case_id"))
                closed[case_id] = max(closed.get(case_id, o.occurred_at_ms), o.occurred_at_ms)
    return closed


def _newest(items: list[_T], cfg: RuleConfig) -> list[_T]:
    return items[max(0, len(items) - cfg.max_observations) :]
