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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from heapq import merge

from borderbus.catalogue import BorderPoint
from borderbus_correlator.history import SubjectHistory, event_order
from borderbus_correlator.model import SEVERITIES, AlertDecision, Observation
from borderbus_correlator.rule_config import DAY_MS, HOUR_MS, RuleConfig

Points = Mapping[str, BorderPoint]
Rule = Callable[[SubjectHistory, RuleConfig, Points], list[AlertDecision]]

CONTACT_KINDS = frozenset({"PHONE", "PLATFORM_ACCOUNT", "CRYPTO_WALLET"})
BODY_KINDS = frozenset({"PERSON_DOCUMENT", "VEHICLE_PLATE", "VESSEL"})
"""Subjects that physically cross a border; a phone in a sighting is one a traveller declared."""
WARRANT_ENDS = frozenset({"WARRANT_WITHDRAWN", "CLOSED"})
BYSTANDER_ROLES = frozenset({"VICTIM", "WITNESS"})
"""Roles a case names without implicating: nobody is wanted, or a network member, as a victim or witness."""


@dataclass(frozen=True)
class Seen:
    """An observation as a history holds it: ``via`` is the linked subject it came through, None if direct."""

    observation: Observation
    via: str | None


def kind_of(subject: str) -> str:
    return subject.split(":", 1)[0]


def _seen(history: SubjectHistory, *event_types: str) -> list[Seen]:
    """Direct and linked observations of the given types, in event order (both lists are already sorted)."""
    direct = (Seen(o, None) for o in history.direct if o.event_type in event_types)
    linked = (Seen(o, via) for via, o in history.linked if o.event_type in event_types)
    return list(merge(direct, linked, key=lambda seen: event_order(seen.observation)))


def _evidence(observations: Iterable[Observation]) -> tuple[Observation, ...]:
    unique = {observation.event_id: observation for observation in observations}
    return tuple(sorted(unique.values(), key=event_order))


def _implicated(update: Observation) -> list[str]:
    roles: Mapping[str, str] = update.facts.get("roles") or {}
    return [subject for subject in update.subjects if roles.get(subject) not in BYSTANDER_ROLES]


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _place(code: str | None, points: Points) -> str:
    if code is None:
        return "away from a border point"
    point = points.get(code)
    return f"{code} ({point.name})" if point else code


def _hours(ms: int) -> str:
    return f"{ms / HOUR_MS:.1f} h"


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
    """A subject under an open warrant is sighted: the sighting must name the wanted subject itself."""
    updates = [seen.observation for seen in _seen(history, "case-update")]
    ends = _warrant_ends(updates)
    sightings = _sightings_by_subject(_seen(history, "sighting"))
    found: dict[str, tuple[list[Observation], list[Observation], str]] = {}
    for warrant in updates:
        if warrant.facts.get("status") != "WARRANT_ISSUED":
            continue
        for subject in _implicated(warrant):
            matches = _under_warrant(warrant, subject, sightings.get(subject, []), ends)
            if matches:
                case_id, ref = warrant.facts["case_id"], warrant.facts.get("warrant_ref") or warrant.event_id
                warrants, seen, _ = found.setdefault(f"{case_id}|{ref}|{subject}", ([], [], subject))
                warrants.append(warrant)
                seen.extend(matches)
    return [_wanted_decision(key, *found[key], points) for key in sorted(found)]


def _warrant_ends(updates: list[Observation]) -> dict[tuple[str, str], list[int]]:
    """(case_id, subject) -> sorted times of the updates that end a warrant on that subject."""
    ends: dict[tuple[str, str], list[int]] = defaultdict(list)
    for update in updates:
        if update.facts.get("status") in WARRANT_ENDS:
            for subject in update.subjects:
                ends[(update.facts["case_id"], subject)].append(update.occurred_at_ms)
    return ends


def _sightings_by_subject(sightings: list[Seen]) -> dict[str, list[Observation]]:
    by_subject: dict[str, list[Observation]] = defaultdict(list)
    for seen in sightings:
        for subject in seen.observation.subjects:
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
    sightings = _seen(history, "sighting")
    times = [seen.observation.occurred_at_ms for seen in sightings]
    window = cfg.finance_border_window_ms
    decisions = []
    for flag in _seen(history, "finance-flag"):
        at = flag.observation.occurred_at_ms
        if int(flag.observation.facts.get("risk_score", 0)) < cfg.finance_risk_threshold:
            continue
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
    closest = min(sightings, key=lambda s: (abs(s.occurred_at_ms - flag.occurred_at_ms), event_order(s)))
    gap = closest.occurred_at_ms - flag.occurred_at_ms
    amount = " ".join(str(flag.facts[k]) for k in ("amount", "currency") if flag.facts.get(k))
    channel = flag.facts.get("channel", "")
    summary = (
        f"{flag.agency} flagged a {channel} transfer{f' of {amount}' if amount else ''} naming "
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
    updates = [seen.observation for seen in _seen(history, "case-update")]
    groups = _case_groups(updates)
    member_of: dict[str, set[str]] = defaultdict(set)
    for group, members in groups.items():
        for member in members:
            member_of[member].add(group)
    buckets: dict[tuple[str, str], list[Observation]] = defaultdict(list)
    for seen in _seen(history, "sighting"):
        sighting = seen.observation
        if sighting.border_point is None:
            continue
        for group in sorted({g for s in sighting.subjects for g in member_of.get(s, ())}):
            buckets[(group, sighting.border_point)].append(sighting)
    decisions = []
    for (group, point), sightings in sorted(buckets.items()):
        for cluster in _clusters(sightings, cfg.convergence_window_ms):
            members = groups[group]
            entities = _distinct_entities(cluster, members)
            if entities >= 2:
                decisions.append(_convergence_decision(group, point, cluster, members, entities, updates, points))
    return decisions


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
    """How many different members a cluster shows, counting a traveller and the phone they declared once.

    A non-crossing subject (phone, account) named in a sighting with exactly one crossing subject
    (person, vehicle, vessel) is that one's; two people named in one sighting stay two.
    """
    parent: dict[str, str] = {}

    def root(subject: str) -> str:
        parent.setdefault(subject, subject)
        while parent[subject] != subject:
            parent[subject] = parent[parent[subject]]
            subject = parent[subject]
        return subject

    for sighting in cluster:
        bodies = [s for s in sighting.subjects if kind_of(s) in BODY_KINDS]
        for subject in sighting.subjects:
            root(subject)
            if len(bodies) == 1 and subject not in bodies:
                parent[root(subject)] = root(bodies[0])
    return len({root(s) for sighting in cluster for s in sighting.subjects if s in members})


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
    points: tuple[str, ...] = ()


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


def _too_fast(sightings: list[Observation], limit_kmh: float, points: Points) -> list[_Offence]:
    offences = []
    for index in range(len(sightings) - 1):
        a, b = sightings[index], sightings[index + 1]
        start, end = points.get(a.border_point or ""), points.get(b.border_point or "")
        if start is None or end is None or start.code == end.code:
            continue
        km, hours = start.distance_km(end), (b.occurred_at_ms - a.occurred_at_ms) / HOUR_MS
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
            window = sightings[start : end + 1]
            offences.append(_Offence(start, end, points=tuple(dict.fromkeys(o.border_point or "" for o in window))))
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
            f"{subject} was seen at {_place(a.border_point, points)} on {_utc(a.occurred_at_ms)} and at "
            f"{_place(b.border_point, points)} on {_utc(b.occurred_at_ms)}: {fastest.km:.0f} km in "
            f"{_hours(b.occurred_at_ms - a.occurred_at_ms)}, {speed} (limit {limit:.0f} km/h)."
        )
        score = min(1.0, fastest.speed_kmh / limit / 2)
    widest = max((o for o in episode if o.points), key=lambda o: (len(o.points), -o.first), default=None)
    if widest is not None:
        span = sightings[widest.last].occurred_at_ms - sightings[widest.first].occurred_at_ms
        facts.append(
            f"{subject} was seen at {len(widest.points)} distinct border points ({', '.join(widest.points)}) within "
            f"{_hours(span)}, from {_utc(sightings[widest.first].occurred_at_ms)} (threshold {per_day} a day)."
        )
        score = max(score, min(1.0, len(widest.points) / per_day / 2))
    day = datetime.fromtimestamp(observed[0].occurred_at_ms / 1000, UTC).date().isoformat()
    agencies = sorted({o.agency for o in observed})
    summary = " ".join(facts) + f" Reported by {', '.join(agencies)}."
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
    actions = _seen(history, "sighting", "finance-flag")
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
    if first.event_type == "sighting":
        what = f"sighted by {first.agency} at {_place(first.border_point, points)}"
    else:
        what = f"named in a finance flag by {first.agency} (risk score {first.facts.get('risk_score')})"
    facts = report.facts
    summary = (
        f"{contact} appeared in a {facts.get('platform', '')} {str(facts.get('content_kind', 'report')).lower()} "
        f"{facts.get('content_ref', '')} reported by {report.agency} on {_utc(report.occurred_at_ms)}. "
        f"{first.subjects[0]} was {what} on {_utc(first.occurred_at_ms)}, {gap / DAY_MS:.1f} days later"
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
