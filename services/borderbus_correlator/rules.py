"""The correlation rules: pure functions from one subject's history to alert decisions.

Every rule re-reads the whole history on every call, so the same history gives the same
decisions whatever order its events arrived in; the alert book downstream merges decisions by
``alert_key`` and publishes a new version only when the evidence grows.

An ``alert_key`` is built only from the evidence (event ids, case ids, subject keys, border
points, UTC dates), never from ``history.subject``: the same finding made in two subjects'
histories, possibly on two partitions, must land on the same alert.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from borderbus.catalogue import BorderPoint
from borderbus_correlator.history import Seen, SubjectHistory, event_order
from borderbus_correlator.model import SEVERITIES, AlertDecision, Observation
from borderbus_correlator.rule_config import DAY_MS, HOUR_MS, RuleConfig

Points = Mapping[str, BorderPoint]
Rule = Callable[[SubjectHistory, RuleConfig, Points], list[AlertDecision]]

CONTACT_KINDS = frozenset({"PHONE", "PLATFORM_ACCOUNT", "CRYPTO_WALLET"})
PERSON_KINDS = frozenset({"PERSON_DOCUMENT"})
CONVEYANCE_KINDS = frozenset({"VEHICLE_PLATE", "VESSEL"})
WARRANT_ENDS = frozenset({"WARRANT_WITHDRAWN", "CLOSED"})
BYSTANDER_ROLES = frozenset({"VICTIM", "WITNESS"})
"""Roles a case names without implicating: nobody is wanted, or a network member, as a victim or witness."""


def kind_of(subject: str) -> str:
    return subject.split(":", 1)[0]


def _evidence(observations: Iterable[Observation]) -> tuple[Observation, ...]:
    unique = {observation.event_id: observation for observation in observations}
    return tuple(sorted(unique.values(), key=event_order))


def _implicated(update: Observation) -> list[str]:
    """The subjects a case update names as part of the case: not bystanders, not those it removes."""
    roles: Mapping[str, str] = update.facts.get("roles") or {}
    removed = set(update.facts.get("removed") or ())
    return [subject for subject in update.subjects if roles.get(subject) not in BYSTANDER_ROLES and subject not in removed]


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _place(code: str | None, points: Points) -> str:
    if code is None:
        return "away from a border point"
    point = points.get(code)
    return f"{code} ({point.name})" if point else code


def _hours(ms: int) -> str:
    return f"{ms / HOUR_MS:.1f} h" if ms >= HOUR_MS else f"{ms / 60_000:.0f} min"


def _latest_point(observations: Iterable[Observation]) -> str | None:
    located = [o for o in observations if o.border_point is not None]
    return max(located, key=event_order).border_point if located else None


def _decision(
    rule: str,
    key: str,
    severity: str,
    score: float,
    subjects: Iterable[str],
    evidence: Iterable[Observation],
    border_point: str | None,
    summary: str,
) -> AlertDecision:
    assert severity in SEVERITIES
    return AlertDecision(
        rule=rule,
        alert_key=f"{rule}|{key}",
        severity=severity,
        score=round(min(1.0, max(0.0, score)), 4),
        subjects=tuple(sorted(set(subjects))),
        evidence=_evidence(evidence),
        border_point=border_point,
        summary=summary,
    )


# --------------------------------------------------------------------------- 1. wanted_subject_sighted


def wanted_subject_sighted(history: SubjectHistory, cfg: RuleConfig, points: Points) -> list[AlertDecision]:
    """A subject under an open warrant is sighted: the sighting must name the wanted subject itself.

    A sighting counts for the first subject of the warrant (primary first) whose warrant it falls
    under, so a person scanned with the phone the same warrant names raises one alert, not two.
    """
    updates = [seen.observation for seen in history.seen("case-update")]
    warrants = [update for update in updates if update.facts.get("status") == "WARRANT_ISSUED"]
    if not warrants:
        return []
    ends = _warrant_ends(updates)
    sightings = _sightings_by_subject(history.seen("sighting"), {s for w in warrants for s in _implicated(w)})
    found: dict[str, tuple[list[Observation], list[Observation], str]] = {}
    for warrant in warrants:
        case_id, ref = warrant.facts["case_id"], warrant.facts.get("warrant_ref") or warrant.event_id
        attributed: set[str] = set()
        for subject in _implicated(warrant):
            under = _under_warrant(warrant, subject, sightings.get(subject, []), ends)
            matches = [s for s in under if s.event_id not in attributed]
            attributed.update(s.event_id for s in matches)
            if matches:
                issued, seen, _ = found.setdefault(f"{case_id}|{ref}|{subject}", ([], [], subject))
                issued.append(warrant)
                seen.extend(matches)
    return [_wanted_decision(key, *found[key], points) for key in sorted(found)]


def _warrant_ends(updates: list[Observation]) -> dict[tuple[str, str], list[int]]:
    """(case_id, subject) -> sorted times of the updates that end a warrant on that subject."""
    ends: dict[tuple[str, str], list[int]] = defaultdict(list)
    for update in updates:
        ending = update.subjects if update.facts.get("status") in WARRANT_ENDS else update.facts.get("removed") or ()
        for subject in ending:
            ends[(update.facts["case_id"], subject)].append(update.occurred_at_ms)
    for times in ends.values():
        times.sort()
    return ends


def _sightings_by_subject(sightings: Sequence[Seen], wanted: set[str]) -> dict[str, list[Observation]]:
    by_subject: dict[str, list[Observation]] = defaultdict(list)
    for seen in sightings:
        for subject in seen.observation.subjects:
            if subject in wanted:
                by_subject[subject].append(seen.observation)
    return by_subject


def _under_warrant(
    warrant: Observation, subject: str, sightings: list[Observation], ends: Mapping[tuple[str, str], list[int]]
) -> list[Observation]:
    """Sightings from the warrant's time until (excluding) the first withdrawal or closure at or after it."""
    start = warrant.occurred_at_ms
    end_times = ends.get((warrant.facts["case_id"], subject), [])
    after = bisect_left(end_times, start)
    stop = end_times[after] if after < len(end_times) else None
    times = [s.occurred_at_ms for s in sightings]
    last = bisect_left(times, stop) if stop is not None else len(sightings)
    return sightings[bisect_left(times, start) : last]


def _wanted_decision(
    key: str, warrants: list[Observation], sightings: list[Observation], subject: str, points: Points
) -> AlertDecision:
    sightings = list(_evidence(sightings))
    warrant, latest = min(warrants, key=event_order), sightings[-1]
    role = (warrant.facts.get("roles") or {}).get(subject)
    ref = warrant.facts.get("warrant_ref") or "without reference"
    summary = (
        f"{subject}{f' ({role})' if role else ''}, wanted under warrant {ref} in case {warrant.facts['case_id']} "
        f"({warrant.agency}, issued {_utc(warrant.occurred_at_ms)}), was sighted by {latest.agency} at "
        f"{_place(latest.border_point, points)} on {_utc(latest.occurred_at_ms)}, "
        f"{_hours(latest.occurred_at_ms - warrant.occurred_at_ms)} after the warrant."
    )
    if len(sightings) > 1:
        summary += f" {len(sightings)} sightings since the warrant."
    return _decision(
        "wanted_subject_sighted", key, "CRITICAL", 1.0, [subject], [*warrants, *sightings], latest.border_point, summary
    )


# --------------------------------------------------------------------------- 2. flagged_money_meets_border


def flagged_money_meets_border(history: SubjectHistory, cfg: RuleConfig, points: Points) -> list[AlertDecision]:
    """A high-risk finance flag on F, and a sighting of F or of a subject linked to F, close in time (either order)."""
    flags = [
        f for f in history.seen("finance-flag") if int(f.observation.facts.get("risk_score", 0)) >= cfg.finance_risk_threshold
    ]
    if not flags:
        return []
    sightings = history.seen("sighting")
    times = [seen.observation.occurred_at_ms for seen in sightings]
    window = cfg.finance_border_window_ms
    decisions = []
    for flag in flags:
        at = flag.observation.occurred_at_ms
        nearby = sightings[bisect_left(times, at - window) : bisect_right(times, at + window)]
        matches = [seen.observation for seen in nearby if _connects(flag, seen)]
        if matches:
            decisions.append(_money_decision(flag.observation, matches, cfg, points))
    return decisions


def _connects(flag: Seen, sighting: Seen) -> bool:
    """True when the sighting names a flagged subject or a subject linked to one, as far as this history can tell.

    Here the flag names this subject (flag direct: every sighting here names it or one of its links),
    or this subject is linked to a flagged one (flag linked: sightings naming this subject count).
    Two linked observations are two hops apart unless the sighting names a flagged subject itself.
    """
    if flag.via is None or sighting.via is None:
        return True
    return not set(flag.observation.subjects).isdisjoint(sighting.observation.subjects)


def _money_decision(flag: Observation, sightings: list[Observation], cfg: RuleConfig, points: Points) -> AlertDecision:
    risk = int(flag.facts.get("risk_score", 0))
    flagged = set(flag.subjects)
    closest = min(
        sightings,
        key=lambda s: (flagged.isdisjoint(s.subjects), abs(s.occurred_at_ms - flag.occurred_at_ms), event_order(s)),
    )
    gap = closest.occurred_at_ms - flag.occurred_at_ms
    amount = " ".join(str(flag.facts[k]) for k in ("amount", "currency") if flag.facts.get(k))
    transfer = " ".join(filter(None, (flag.facts.get("channel"), "transfer", f"of {amount}" if amount else "")))
    summary = (
        f"{flag.agency} flagged a {transfer} naming "
        f"{', '.join(flag.subjects)} with risk score {risk} on {_utc(flag.occurred_at_ms)}. "
        f"{closest.subjects[0]} was sighted by {closest.agency} at {_place(closest.border_point, points)} on "
        f"{_utc(closest.occurred_at_ms)}, {_hours(abs(gap))} {'after' if gap >= 0 else 'before'} the flag"
        + (f" ({len(sightings)} sightings within {_hours(cfg.finance_border_window_ms)})." if len(sightings) > 1 else ".")
    )
    return _decision(
        "flagged_money_meets_border",
        flag.event_id,
        "HIGH",
        risk / 100,
        [*flag.subjects, *(s.subjects[0] for s in sightings)],
        [flag, *sightings],
        _latest_point(sightings),
        summary,
    )


# --------------------------------------------------------------------------- 3. network_convergence


def network_convergence(history: SubjectHistory, cfg: RuleConfig, points: Points) -> list[AlertDecision]:
    """Two or more distinct members of one case or network sighted at one border point within the window."""
    updates = [seen.observation for seen in history.seen("case-update")]
    if not updates:
        return []
    groups = _case_groups(updates)
    ends = _membership_ends(updates)
    member_of: dict[str, set[str]] = defaultdict(set)
    for group, members in groups.items():
        for member in members:
            member_of[member].add(group)

    def member_then(group: str, subject: str, at_ms: int) -> bool:
        end = ends.get((group, subject))
        return group in member_of.get(subject, ()) and (end is None or at_ms < end)

    buckets: dict[tuple[str, str], list[Observation]] = defaultdict(list)
    for seen in history.seen("sighting"):
        sighting = seen.observation
        if sighting.border_point is None:
            continue
        at = sighting.occurred_at_ms
        for group in sorted({g for s in sighting.subjects for g in member_of.get(s, ()) if member_then(g, s, at)}):
            buckets[(group, sighting.border_point)].append(sighting)
    decisions = []
    for (group, point), sightings in sorted(buckets.items()):
        for cluster in _clusters(sightings, cfg.convergence_window_ms):
            members = {s for o in cluster for s in o.subjects if member_then(group, s, o.occurred_at_ms)}
            if len(members) >= 2 and (entities := _distinct_entities(cluster, members)) >= 2:
                decisions.append(_convergence_decision(group, point, cluster, members, entities, updates, points))
    return decisions


def _membership_ends(updates: list[Observation]) -> dict[tuple[str, str], int]:
    """(group, subject) -> when the subject stopped being part of the group, if its last word is an end.

    A closed case ends every membership in it; an update's ``removed`` ends the named subjects'.
    A later update implicating the subject again makes it a member once more.
    """
    last_added: dict[tuple[str, str], int] = {}
    last_ended: dict[tuple[str, str], int] = {}
    for update in updates:
        group, at = _group_of(update), update.occurred_at_ms
        closing = update.facts.get("status") == "CLOSED"
        for subject in update.subjects if closing else update.facts.get("removed") or ():
            last_ended[(group, subject)] = max(last_ended.get((group, subject), at), at)
        if not closing:
            for subject in _implicated(update):
                last_added[(group, subject)] = max(last_added.get((group, subject), at), at)
    return {key: end for key, end in last_ended.items() if end >= last_added.get(key, end)}


def _group_of(update: Observation) -> str:
    return str(update.facts.get("network_id") or update.facts["case_id"])


def _case_groups(updates: list[Observation]) -> dict[str, set[str]]:
    """Network id (else case id) -> the subjects case-updates implicate in it."""
    groups: dict[str, set[str]] = defaultdict(set)
    for update in updates:
        groups[_group_of(update)].update(_implicated(update))
    return groups


def _clusters(sightings: list[Observation], window_ms: int) -> list[list[Observation]]:
    """Runs of sightings (in event order) whose consecutive gaps are all within the window."""
    clusters: list[list[Observation]] = []
    for sighting in sightings:
        if clusters and sighting.occurred_at_ms - clusters[-1][-1].occurred_at_ms <= window_ms:
            clusters[-1].append(sighting)
        else:
            clusters.append([sighting])
    return clusters


def _distinct_entities(cluster: list[Observation], members: set[str]) -> int:
    """How many different members a cluster shows, counting a traveller with their phone and vehicle once.

    In a sighting of exactly one person, every other subject (the phone they declared, the car they
    drove) is theirs; with no person, the same holds for a sole vehicle or vessel. Two people named
    in one sighting stay two.
    """
    parent: dict[str, str] = {}

    def root(subject: str) -> str:
        parent.setdefault(subject, subject)
        while parent[subject] != subject:
            parent[subject] = parent[parent[subject]]
            subject = parent[subject]
        return subject

    for sighting in cluster:
        anchor = _sole_traveller(sighting.subjects)
        for subject in sighting.subjects:
            root(subject)
            if anchor is not None:
                parent[root(subject)] = root(anchor)
    return len({root(s) for sighting in cluster for s in sighting.subjects if s in members})


def _sole_traveller(subjects: Sequence[str]) -> str | None:
    for kinds in (PERSON_KINDS, CONVEYANCE_KINDS):
        named = [s for s in subjects if kind_of(s) in kinds]
        if named:
            return named[0] if len(named) == 1 else None
    return None


def _convergence_decision(
    group: str,
    point: str,
    cluster: list[Observation],
    members: set[str],
    entities: int,
    updates: list[Observation],
    points: Points,
) -> AlertDecision:
    seen_members = sorted({s for sighting in cluster for s in sighting.subjects if s in members})
    basis = [u for u in updates if _group_of(u) == group and not set(_implicated(u)).isdisjoint(seen_members)]
    first, last = cluster[0], cluster[-1]
    agencies = sorted({s.agency for s in cluster})
    label = "network" if any(u.facts.get("network_id") for u in basis) else "case"
    summary = (
        f"{entities} members of {label} {group} ({', '.join(seen_members)}) were sighted at {_place(point, points)} "
        f"within {_hours(last.occurred_at_ms - first.occurred_at_ms)}, from {_utc(first.occurred_at_ms)} to "
        f"{_utc(last.occurred_at_ms)}, by {', '.join(agencies)}."
    )
    return _decision(
        "network_convergence",
        f"{group}|{point}|{first.event_id}",
        "HIGH",
        0.4 + 0.2 * entities,
        seen_members,
        [*cluster, *basis],
        point,
        summary,
    )


# --------------------------------------------------------------------------- 4. implausible_movement


@dataclass(frozen=True)
class _Offence:
    """A run of the vehicle's sightings (indices ``first``..``last``) that no honest journey explains."""

    first: int
    last: int
    speed_kmh: float = 0.0
    km: float = 0.0
    distinct_points: int = 0


def implausible_movement(history: SubjectHistory, cfg: RuleConfig, points: Points) -> list[AlertDecision]:
    """A vehicle or vessel too fast between two points, or at too many points in a day; from its own history only."""
    limits = {"VEHICLE_PLATE": cfg.max_vehicle_speed_kmh, "VESSEL": cfg.max_vessel_speed_kmh}
    limit = limits.get(kind_of(history.subject))
    if limit is None:
        return []
    sightings = [o for o in history.direct if o.event_type == "sighting" and o.border_point and history.subject in o.subjects]
    offences = _too_fast(sightings, limit, points) + _too_many_points(sightings, cfg.distinct_points_per_day)
    return [
        _movement_decision(history.subject, sightings, episode, limit, cfg.distinct_points_per_day, points)
        for episode in _episodes(sorted(offences, key=lambda o: (o.first, o.last)), sightings)
    ]


@lru_cache(maxsize=4096)
def _km(start: BorderPoint, end: BorderPoint) -> float:
    return start.distance_km(end)


def _too_fast(sightings: list[Observation], limit_kmh: float, points: Points) -> list[_Offence]:
    offences = []
    for index in range(len(sightings) - 1):
        a, b = sightings[index], sightings[index + 1]
        start, end = points.get(a.border_point or ""), points.get(b.border_point or "")
        if start is None or end is None or start.code == end.code:
            continue
        km, hours = _km(start, end), (b.occurred_at_ms - a.occurred_at_ms) / HOUR_MS
        speed = km / hours if hours > 0 else float("inf")
        if speed > limit_kmh:
            offences.append(_Offence(index, index + 1, speed_kmh=speed, km=km))
    return offences


def _too_many_points(sightings: list[Observation], threshold: int) -> list[_Offence]:
    """Every 24 h window (sliding over the sightings) that holds ``threshold`` or more distinct points."""
    offences = []
    counts: dict[str, int] = defaultdict(int)
    start = 0
    for end, sighting in enumerate(sightings):
        counts[sighting.border_point or ""] += 1
        while sighting.occurred_at_ms - sightings[start].occurred_at_ms > DAY_MS:
            left = sightings[start].border_point or ""
            counts[left] -= 1
            if not counts[left]:
                del counts[left]
            start += 1
        if len(counts) >= threshold:
            offences.append(_Offence(start, end, distinct_points=len(counts)))
    return offences


def _episodes(offences: list[_Offence], sightings: list[Observation]) -> list[list[_Offence]]:
    """Offences that overlap or lie within a day of each other: one episode, hence one alert key per UTC date."""
    episodes: list[list[_Offence]] = []
    reach = -1
    for offence in offences:
        if episodes and (
            offence.first <= reach or sightings[offence.first].occurred_at_ms - sightings[reach].occurred_at_ms <= DAY_MS
        ):
            episodes[-1].append(offence)
        else:
            episodes.append([offence])
        reach = max(reach, offence.last)
    return episodes


def _movement_decision(
    subject: str, sightings: list[Observation], episode: list[_Offence], limit: float, per_day: int, points: Points
) -> AlertDecision:
    evidence = sorted({i for offence in episode for i in range(offence.first, offence.last + 1)})
    observed = [sightings[i] for i in evidence]
    facts, score = [], 0.0
    fastest = max((o for o in episode if o.speed_kmh), key=lambda o: o.speed_kmh, default=None)
    if fastest is not None:
        a, b = sightings[fastest.first], sightings[fastest.last]
        speed = "instantly" if fastest.speed_kmh == float("inf") else f"at {fastest.speed_kmh:.0f} km/h"
        facts.append(
            f"{subject} was seen by {a.agency} at {_place(a.border_point, points)} on {_utc(a.occurred_at_ms)} and by "
            f"{b.agency} at {_place(b.border_point, points)} on {_utc(b.occurred_at_ms)}: {fastest.km:.0f} km in "
            f"{_hours(b.occurred_at_ms - a.occurred_at_ms)}, {speed} (limit {limit:.0f} km/h)."
        )
        score = min(1.0, fastest.speed_kmh / limit / 2)
    widest = max((o for o in episode if o.distinct_points), key=lambda o: (o.distinct_points, -o.first), default=None)
    if widest is not None:
        window = sightings[widest.first : widest.last + 1]
        visited = dict.fromkeys(o.border_point for o in window)
        facts.append(
            f"{'It' if facts else subject} was seen at {len(visited)} distinct border points "
            f"({', '.join(map(str, visited))}) within {_hours(window[-1].occurred_at_ms - window[0].occurred_at_ms)} "
            f"from {_utc(window[0].occurred_at_ms)}, by {', '.join(sorted({o.agency for o in window}))} "
            f"(threshold {per_day} a day)."
        )
        score = max(score, min(1.0, len(visited) / per_day / 2))
    day = datetime.fromtimestamp(observed[0].occurred_at_ms / 1000, UTC).date().isoformat()
    summary = " ".join(facts)
    return _decision(
        "implausible_movement",
        f"{subject}|{day}",
        "MEDIUM",
        score,
        [subject],
        observed,
        observed[-1].border_point,
        summary,
    )


# --------------------------------------------------------------------------- 5. advert_to_action


def advert_to_action(history: SubjectHistory, cfg: RuleConfig, points: Points) -> list[AlertDecision]:
    """A contact in a platform report is later sighted or flagged; judged in the contact's own history only.

    An event reaching this contact only through another contact of the same report is left to that
    contact's own history, which names it directly, so one event does not raise one alert per contact.
    """
    contact = history.subject
    if kind_of(contact) not in CONTACT_KINDS:
        return []
    reports = [o for o in history.direct if o.event_type == "platform-report" and contact in o.subjects]
    if not reports:
        return []
    actions = history.seen("sighting", "finance-flag")
    times = [seen.observation.occurred_at_ms for seen in actions]
    decisions = []
    for report in reports:
        co_contacts = {s for s in report.subjects if s != contact and kind_of(s) in CONTACT_KINDS}
        later = actions[
            bisect_right(times, report.occurred_at_ms) : bisect_right(times, report.occurred_at_ms + cfg.advert_window_ms)
        ]
        matches = [seen.observation for seen in later if _reaches(seen, contact, co_contacts, history.links)]
        if matches:
            decisions.append(_advert_decision(report, contact, matches, cfg, points))
    return decisions


def _reaches(seen: Seen, contact: str, co_contacts: set[str], links: Mapping[str, int]) -> bool:
    subjects = seen.observation.subjects
    if contact in subjects:
        return True
    return any((s == seen.via or s in links) and s not in co_contacts for s in subjects)


def _advert_decision(
    report: Observation, contact: str, actions: list[Observation], cfg: RuleConfig, points: Points
) -> AlertDecision:
    first = actions[0]
    gap = first.occurred_at_ms - report.occurred_at_ms
    later = f"on {_utc(first.occurred_at_ms)}, {gap / DAY_MS:.1f} days later"
    if first.event_type == "sighting":
        what = f"{', '.join(first.subjects)} sighted by {first.agency} at {_place(first.border_point, points)} {later}"
    else:
        risk = first.facts.get("risk_score")
        what = f"{first.agency} flagged a transfer naming {', '.join(first.subjects)} (risk score {risk}) {later}"
    facts = report.facts
    summary = (
        f"{contact} appeared in a {facts.get('platform', '')} {str(facts.get('content_kind', 'report')).lower()} "
        f"{facts.get('content_ref', '')} reported by {report.agency} on {_utc(report.occurred_at_ms)}; then {what}"
        + (f" ({len(actions)} later events)." if len(actions) > 1 else ".")
    )
    return _decision(
        "advert_to_action",
        f"{report.event_id}|{contact}",
        "MEDIUM",
        0.5 + 0.5 * (1 - gap / cfg.advert_window_ms),
        [contact, *(a.subjects[0] for a in actions)],
        [report, *actions],
        _latest_point(actions),
        summary,
    )


# --------------------------------------------------------------------------- evaluation

RULES: tuple[Rule, ...] = (
    wanted_subject_sighted,
    flagged_money_meets_border,
    network_convergence,
    implausible_movement,
    advert_to_action,
)


def evaluate(history: SubjectHistory, cfg: RuleConfig, points: Points) -> list[AlertDecision]:
    """Every enabled rule over the whole history; deterministic for a given history."""
    return [decision for rule in RULES if rule.__name__ in cfg.enabled_rules for decision in rule(history, cfg, points)]
