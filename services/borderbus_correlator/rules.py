"""The correlation rules: pure functions from one subject's history to alert decisions.

Every rule re-reads the whole history on every call, so the same history gives the same
decisions whatever order its events arrived in; the alert book downstream merges decisions by
``alert_key`` and publishes a new version only when the evidence grows.

An ``alert_key`` is built only from the evidence (event ids, case ids, subject keys, border
points, UTC dates), never from ``history.subject``: the same finding made in two subjects'
histories, possibly on two partitions, must land on the same alert. (The rules judged from one
subject's own history, movement and hubs, name that subject, which their evidence names too.)

Rules leave a finding's summary empty: the alert book writes it from the alert's merged evidence
(:mod:`summaries`), and most findings are compared and dropped, never sent. :func:`evaluate` adds
the summary the book would write, for readers of a single history; shared definitions
(membership, places) live in :mod:`facts`.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from typing import NamedTuple

from borderbus.markings import SEVERITIES
from borderbus_correlator.facts import (
    OBSERVING_TYPES,
    Points,
    Position,
    distinct_entities,
    great_circle_km,
    group_of,
    implicated,
    kind_of,
    observed_with,
    position,
    sites,
)
from borderbus_correlator.history import Seen, SubjectHistory, event_order
from borderbus_correlator.model import AlertDecision, Observation
from borderbus_correlator.rule_config import DAY_MS, HOUR_MS, RULE_NAMES, RuleConfig
from borderbus_correlator.summaries import speed_limit, summarise

Rule = Callable[[SubjectHistory, RuleConfig, Points], list[AlertDecision]]

CONTACT_KINDS = frozenset({"PHONE", "PLATFORM_ACCOUNT", "CRYPTO_WALLET"})
WARRANT_ENDS = frozenset({"WARRANT_WITHDRAWN", "CLOSED"})


def _evidence(observations: Iterable[Observation]) -> tuple[Observation, ...]:
    unique = {observation.event_id: observation for observation in observations}
    return tuple(sorted(unique.values(), key=event_order))


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
    points: Points,
    cfg: RuleConfig,
) -> AlertDecision:
    """A finding without its summary (:func:`with_summary`)."""
    assert severity in SEVERITIES
    return AlertDecision(
        rule=rule,
        alert_key=f"{rule}|{key}",
        severity=severity,
        score=round(min(1.0, max(0.0, score)), 4),
        subjects=tuple(sorted(set(subjects))),
        evidence=_evidence(evidence),
        border_point=border_point,
        summary="",
    )


def with_summary(decision: AlertDecision, points: Points, cfg: RuleConfig) -> AlertDecision:
    """The finding with the summary the alert book would write for the same evidence (:mod:`summaries`)."""
    text = summarise(decision.rule, decision.alert_key, decision.evidence, points, cfg) or decision.rule
    return replace(decision, summary=text)


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
    sightings = _sightings_by_subject(history.seen("sighting"), {s for w in warrants for s in implicated(w)})
    found: dict[str, tuple[list[Observation], list[Observation], str]] = {}
    for warrant in warrants:
        case_id, ref = warrant.facts["case_id"], warrant.facts.get("warrant_ref") or warrant.event_id
        attributed: set[str] = set()
        for subject in implicated(warrant):
            under = _under_warrant(warrant, subject, sightings.get(subject, []), ends)
            matches = [s for s in under if s.event_id not in attributed]
            attributed.update(s.event_id for s in matches)
            if matches:
                issued, seen, _ = found.setdefault(f"{case_id}|{ref}|{subject}", ([], [], subject))
                issued.append(warrant)
                seen.extend(matches)
    return [_wanted_decision(key, *found[key], points, cfg) for key in sorted(found)]


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
    key: str, warrants: list[Observation], sightings: list[Observation], subject: str, points: Points, cfg: RuleConfig
) -> AlertDecision:
    latest = max(sightings, key=event_order)
    return _decision(
        "wanted_subject_sighted", key, "CRITICAL", 1.0, [subject], [*warrants, *sightings], latest.border_point, points, cfg
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
    together = observed_with(history.subject, history.direct)
    decisions = []
    for flag in flags:
        at = flag.observation.occurred_at_ms
        nearby = sightings[bisect_left(times, at - window) : bisect_right(times, at + window)]
        matches = [seen.observation for seen in nearby if _connects(flag, seen, together)]
        if matches:
            decisions.append(_money_decision(flag.observation, matches, cfg, points))
    return decisions


def _connects(flag: Seen, sighting: Seen, together: set[str]) -> bool:
    """True when the sighting names a flagged subject or a subject linked to one, as far as this history can tell.

    Here the flag names this subject (flag direct: every sighting here names it or one of its links),
    or this subject is linked to a flagged one (flag linked: sightings naming this subject count).
    A link counts only when an observation named both (``together``): two people a case names
    together are not one traveller. Two linked observations are two hops apart unless the sighting
    names a flagged subject itself.
    """
    if flag.via is None:
        return sighting.via is None or sighting.via in together
    if sighting.via is None:
        return flag.via in together
    return not set(flag.observation.subjects).isdisjoint(sighting.observation.subjects)


def _money_decision(flag: Observation, sightings: list[Observation], cfg: RuleConfig, points: Points) -> AlertDecision:
    risk = int(flag.facts.get("risk_score", 0))
    return _decision(
        "flagged_money_meets_border",
        flag.event_id,
        "HIGH",
        risk / 100,
        [*flag.subjects, *(s.subjects[0] for s in sightings)],
        [flag, *sightings],
        _latest_point(sightings),
        points,
        cfg,
    )


# --------------------------------------------------------------------------- 3. network_convergence


def network_convergence(history: SubjectHistory, cfg: RuleConfig, points: Points) -> list[AlertDecision]:
    """Two or more distinct members of one case or network sighted at one border point within the window.

    A sighting away from any border point (a drone, a patrol, a maritime contact, by its coordinates)
    counts at every border point within ``convergence_radius_km`` of it.
    """
    updates = [seen.observation for seen in history.seen("case-update")]
    if not updates:
        return []
    groups, ends = _case_membership(updates)
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
        at = sighting.occurred_at_ms
        for group in sorted({g for s in sighting.subjects for g in member_of.get(s, ()) if member_then(g, s, at)}):
            for site in sites(sighting, points, cfg.convergence_radius_km):
                buckets[(group, site)].append(sighting)
    decisions = []
    for (group, point), sightings in sorted(buckets.items()):
        for cluster in _clusters(sightings, cfg.convergence_window_ms):
            if len(cluster) == 1 and len(cluster[0].subjects) < 2:
                continue  # one sighting of one subject: one member at most
            members = {s for o in cluster for s in o.subjects if member_then(group, s, o.occurred_at_ms)}
            if len(members) >= 2 and (entities := distinct_entities(cluster, members)) >= 2:
                decisions.append(_convergence_decision(group, point, cluster, members, entities, updates, points, cfg))
    return decisions


def _case_membership(updates: list[Observation]) -> tuple[dict[str, set[str]], dict[tuple[str, str], int]]:
    """Network id (else case id) -> the subjects case-updates implicate in it; and (group, subject) -> when the
    subject stopped being part of the group, if its last word is an end. One pass, each update read once.

    A closed case ends every membership in it; an update's ``removed`` ends the named subjects'.
    A later update implicating the subject again makes it a member once more.
    """
    groups: dict[str, set[str]] = defaultdict(set)
    last_added: dict[tuple[str, str], int] = {}
    last_ended: dict[tuple[str, str], int] = {}
    for update in updates:
        group, at = group_of(update), update.occurred_at_ms
        closing = update.facts.get("status") == "CLOSED"
        for subject in update.subjects if closing else update.facts.get("removed") or ():
            last_ended[(group, subject)] = max(last_ended.get((group, subject), at), at)
        members = implicated(update)
        groups[group].update(members)
        if not closing:
            for subject in members:
                last_added[(group, subject)] = max(last_added.get((group, subject), at), at)
    return groups, {key: end for key, end in last_ended.items() if end >= last_added.get(key, end)}


def _clusters(sightings: list[Observation], window_ms: int) -> list[list[Observation]]:
    """Runs of sightings (in event order) whose consecutive gaps are all within the window."""
    clusters: list[list[Observation]] = []
    for sighting in sightings:
        if clusters and sighting.occurred_at_ms - clusters[-1][-1].occurred_at_ms <= window_ms:
            clusters[-1].append(sighting)
        else:
            clusters.append([sighting])
    return clusters


def _convergence_decision(
    group: str,
    point: str,
    cluster: list[Observation],
    members: set[str],
    entities: int,
    updates: list[Observation],
    points: Points,
    cfg: RuleConfig,
) -> AlertDecision:
    seen_members = sorted({s for sighting in cluster for s in sighting.subjects if s in members})
    basis = [u for u in updates if group_of(u) == group and not set(implicated(u)).isdisjoint(seen_members)]
    first = cluster[0]
    return _decision(
        "network_convergence",
        f"{group}|{point}|{first.event_id}",
        "HIGH",
        0.4 + 0.2 * entities,
        seen_members,
        [*cluster, *basis],
        point,
        points,
        cfg,
    )


# --------------------------------------------------------------------------- 4. implausible_movement


class _Offence(NamedTuple):
    """A run of the vehicle's sightings (indices ``first``..``last``) that no honest journey explains.

    A tuple, not a frozen dataclass: a long history makes an offence per sighting, and a tuple is built fast.
    """

    first: int
    last: int
    speed_kmh: float = 0.0
    km: float = 0.0
    distinct_points: int = 0


def implausible_movement(history: SubjectHistory, cfg: RuleConfig, points: Points) -> list[AlertDecision]:
    """A vehicle or vessel too fast between two places, or at too many border points in a day; from its own history only.

    Places are border points or, away from them, the sighting's coordinates (great-circle distance).
    Two places within ``convergence_radius_km`` of each other are one place, so a drone fix next to a
    crossing is not read as a jump.
    """
    limit = speed_limit(history.subject, cfg)
    if limit is None:
        return []
    subject = history.subject
    located = [
        (o, where)
        for o in history.direct
        if o.event_type == "sighting" and subject in o.subjects and (where := position(o, points)) is not None
    ]
    if len(located) < 2 and cfg.distinct_points_per_day > 1:
        return []  # no two places, no day at enough points: a vehicle's first sighting, the common case
    sightings = [o for o, _ in located]
    offences = _too_fast(located, limit, cfg.convergence_radius_km) + _too_many_points(sightings, cfg.distinct_points_per_day)
    return [
        _movement_decision(history.subject, sightings, episode, limit, cfg, points)
        for episode in _episodes(sorted(offences, key=lambda o: (o.first, o.last)), sightings)
    ]


def _too_fast(located: list[tuple[Observation, Position]], limit_kmh: float, same_place_km: float) -> list[_Offence]:
    """Consecutive sightings (with their places) too far apart for the time between them; a vehicle mostly
    passes the same few places, so each distance is computed once per pair of places."""
    distances: dict[tuple[Position, Position], float] = {}
    offences = []
    for index, ((a, start), (b, end)) in enumerate(itertools.pairwise(located)):
        if start == end:
            continue
        km = distances.get((start, end))
        if km is None:
            km = distances[(start, end)] = great_circle_km(start, end)
        if km <= same_place_km:
            continue
        elapsed = (b.occurred_at_ms - a.occurred_at_ms) / HOUR_MS
        speed = km / elapsed if elapsed > 0 else float("inf")
        if speed > limit_kmh:
            offences.append(_Offence(index, index + 1, speed_kmh=speed, km=km))
    return offences


def _too_many_points(sightings: list[Observation], threshold: int) -> list[_Offence]:
    """Every 24 h window (sliding over the sightings at border points) that holds ``threshold`` or more distinct points."""
    offences = []
    counts: dict[str, int] = defaultdict(int)
    at_points = [(i, o.occurred_at_ms, str(o.border_point)) for i, o in enumerate(sightings) if o.border_point is not None]
    start = 0
    for index, at, point in at_points:
        counts[point] += 1
        while at - at_points[start][1] > DAY_MS:
            left = at_points[start][2]
            counts[left] -= 1
            if not counts[left]:
                del counts[left]
            start += 1
        if len(counts) >= threshold:
            offences.append(_Offence(at_points[start][0], index, distinct_points=len(counts)))
    return offences


def moves_unchanged(history: SubjectHistory, gone: Sequence[Seen], found: Sequence[AlertDecision]) -> bool:
    """True when :func:`implausible_movement` finds in ``history`` what it found (``found``) with ``gone`` still held.

    So it is when expiry took only sightings older than all ``history`` holds and none was evidence:
    offences never reach back before their first sighting, so each one stays, shifted, and no
    offence, hence no episode, is new.
    """
    oldest = event_order(history.direct[0]) if history.direct else None
    evidence = {o.event_id for decision in found for o in decision.evidence}
    return all(
        seen.via is not None
        or seen.observation.event_type != "sighting"
        or (oldest is not None and event_order(seen.observation) < oldest and seen.observation.event_id not in evidence)
        for seen in gone
    )


def moves_with_newest(
    history: SubjectHistory, observation: Observation, found: Sequence[AlertDecision], cfg: RuleConfig, points: Points
) -> Sequence[AlertDecision] | None:
    """What :func:`implausible_movement` finds in ``history``, whose newest observation is ``observation``, from what
    it found there without it (``found``); None when ``observation`` is not that newest located sighting.

    Its sighting ends the list, so it adds only offences that end with it (a jump from the sighting
    before, a day of too many points up to it), the earliest starting at sighting ``S``. Offences are
    grouped in order of their first sighting, and once one ends at the newest sighting every later one
    joins its episode: an episode that ends before ``S``, over a day before it, stays as it was; all the
    others merge with the new offences into one. The merged finding's evidence is the union of theirs,
    its score the highest (rounding and capping keep the order), its key the date of its first sighting.
    """
    if not history.direct or history.direct[-1] is not observation:
        return None
    subject, since = history.subject, observation.occurred_at_ms - DAY_MS
    limit = speed_limit(subject, cfg)
    if limit is None:
        return found
    tail: list[tuple[Observation, Position]] = []
    for o in reversed(history.direct):
        if o.event_type == "sighting" and subject in o.subjects and (where := position(o, points)) is not None:
            tail.append((o, where))
            if o.occurred_at_ms < since and len(tail) >= 2:
                break
    tail.reverse()
    if not tail or tail[-1][0] is not observation:
        return None
    last = len(tail) - 1
    sightings = [o for o, _ in tail]
    added = [_Offence(last - 1, last, o.speed_kmh, o.km) for o in _too_fast(tail[-2:], limit, cfg.convergence_radius_km)]
    added += [o for o in _too_many_points(sightings, cfg.distinct_points_per_day) if o.last == last]
    if not added:
        return found
    added.sort(key=lambda o: (o.first, o.last))
    start = sightings[added[0].first]
    kept = 0
    for decision in found:
        reach = decision.evidence[-1]
        if not (event_order(reach) < event_order(start) and start.occurred_at_ms - reach.occurred_at_ms > DAY_MS):
            break
        kept += 1
    new = _movement_decision(subject, sightings, added, limit, cfg, points)
    merged = [*found[kept:], new]
    if len(merged) == 1:
        return [*found[:kept], new]
    observed = list(_evidence(o for decision in merged for o in decision.evidence))
    return [*found[:kept], _movement_found(subject, observed, max(d.score for d in merged), cfg, points)]


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
        if offence.last > reach:
            reach = offence.last
    return episodes


def _movement_decision(
    subject: str, sightings: list[Observation], episode: list[_Offence], limit: float, cfg: RuleConfig, points: Points
) -> AlertDecision:
    observed = [sightings[i] for i in _covered(episode)]
    score = 0.0
    fastest = max((o for o in episode if o.speed_kmh), key=lambda o: o.speed_kmh, default=None)
    if fastest is not None:
        score = min(1.0, fastest.speed_kmh / limit / 2)
    widest = max((o.distinct_points for o in episode), default=0)
    if widest:
        score = max(score, min(1.0, widest / cfg.distinct_points_per_day / 2))
    return _movement_found(subject, observed, score, cfg, points)


def _movement_found(subject: str, observed: list[Observation], score: float, cfg: RuleConfig, points: Points) -> AlertDecision:
    """The finding of an episode whose sightings, in event order, are ``observed``."""
    day = datetime.fromtimestamp(observed[0].occurred_at_ms / 1000, UTC).date().isoformat()
    return _decision(
        "implausible_movement",
        f"{subject}|{day}",
        "MEDIUM",
        score,
        [subject],
        observed,
        next((o.border_point for o in reversed(observed) if o.border_point is not None), None),
        points,
        cfg,
    )


def _covered(episode: list[_Offence]) -> list[int]:
    """The indices the episode's offences span, each once and in order (the offences are sorted by ``first``)."""
    indices: list[int] = []
    for offence in episode:
        indices.extend(range(max(offence.first, indices[-1] + 1 if indices else 0), offence.last + 1))
    return indices


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
    gap = actions[0].occurred_at_ms - report.occurred_at_ms
    return _decision(
        "advert_to_action",
        f"{report.event_id}|{contact}",
        "MEDIUM",
        0.5 + 0.5 * (1 - gap / cfg.advert_window_ms),
        [contact, *(a.subjects[0] for a in actions)],
        [report, *actions],
        _latest_point(actions),
        points,
        cfg,
    )


# --------------------------------------------------------------------------- 6. hub_detected


def hub_detected(history: SubjectHistory, cfg: RuleConfig, points: Points) -> list[AlertDecision]:
    """A subject named together with more than ``max_links`` others: a hub, reported LOW for analysts.

    Decided from the distinct subjects named with it in its own events, which does not depend on the
    order they arrived in. The evidence is the earliest events (in event order) that take it over the
    cap, so later events do not make a new version each time.
    """
    if not is_hub(history, cfg):
        return []
    named: set[str] = set()
    evidence = []
    for observation in history.direct:
        evidence.append(observation)
        named.update(s for s in observation.subjects if s != history.subject)
        if len(named) > cfg.max_links:
            break
    return [_decision("hub_detected", history.subject, "LOW", 0.2, [history.subject], evidence, None, points, cfg)]


def is_hub(history: SubjectHistory, cfg: RuleConfig) -> bool:
    """True when the history links its subject to more than ``max_links`` others (the hub cap)."""
    return len(history.links) > cfg.max_links


# --------------------------------------------------------------------------- evaluation

RULES: tuple[Rule, ...] = (
    wanted_subject_sighted,
    flagged_money_meets_border,
    network_convergence,
    implausible_movement,
    advert_to_action,
    hub_detected,
)


RULES_BY_NAME: dict[str, Rule] = {rule.__name__: rule for rule in RULES}


def run_rule(name: str, history: SubjectHistory, cfg: RuleConfig, points: Points) -> Sequence[AlertDecision]:
    return RULES_BY_NAME[name](history, cfg, points) or NOTHING


def evaluate(history: SubjectHistory, cfg: RuleConfig, points: Points) -> list[AlertDecision]:
    """Every enabled rule over the whole history, each finding with its summary; deterministic for a given history."""
    return [with_summary(decision, points, cfg) for decision in find(history, cfg, points)]


def find(history: SubjectHistory, cfg: RuleConfig, points: Points) -> list[AlertDecision]:
    """:func:`evaluate` without the summaries, for callers that compare findings and summarise only what they send."""
    return [decision for found in find_by_rule(history, cfg, points).values() for decision in found]


NEEDS: dict[str, tuple[frozenset[str], ...]] = {
    "wanted_subject_sighted": (frozenset({"case-update"}), frozenset({"sighting"})),
    "flagged_money_meets_border": (frozenset({"finance-flag"}), frozenset({"sighting"})),
    "network_convergence": (frozenset({"case-update"}), frozenset({"sighting"})),
    "implausible_movement": (frozenset({"sighting"}),),
    "advert_to_action": (frozenset({"platform-report"}), frozenset({"sighting", "finance-flag"})),
    "hub_detected": (),
}
"""Per rule, the event types of which a history must hold one each (one of every set) for the rule to find anything."""

NOTHING: tuple[AlertDecision, ...] = ()
"""A rule's empty findings as kept with a history: shared, so most histories keep no list per rule."""


def find_by_rule(history: SubjectHistory, cfg: RuleConfig, points: Points) -> dict[str, Sequence[AlertDecision]]:
    """:func:`find`'s findings per rule, in rule order, so a later step can reuse the rules a change cannot reach.

    A hub's own history joins nothing: everything in it is joined only by the hub (a hotline
    named by strangers), so only ``hub_detected`` is judged there. A rule is not run on a history
    that lacks an event type it needs (:data:`NEEDS`): most histories hold one or two events.
    """
    runnable = _runnable(history.event_types(), is_hub(history, cfg), cfg.enabled_rules)
    return {name: (rule(history, cfg, points) or NOTHING) if rule else NOTHING for name, rule in runnable}


@cache
def _runnable(held: frozenset[str], hub: bool, enabled: frozenset[str]) -> tuple[tuple[str, Rule | None], ...]:
    """The enabled rules for a history holding ``held`` event types, each with None where it cannot find anything."""
    rules = (hub_detected,) if hub else RULES
    return tuple(
        (rule.__name__, rule if all(not held.isdisjoint(types) for types in NEEDS[rule.__name__]) else None)
        for rule in rules
        if rule.__name__ in enabled
    )


def unaffected_rules(
    history: SubjectHistory, changed: Sequence[Seen], links_changed: bool, cfg: RuleConfig, points: Points
) -> frozenset[str]:
    """The rules whose findings on ``history`` equal those on a history differing from it only by ``changed``.

    The other history holds ``changed`` where ``history`` does not, or the reverse, and may link other
    subjects (``links_changed``); neither may be a hub. Each rule reads only part of a history: an
    entry it cannot read, or one that no finding could join (a sighting far from every flag, of no
    case member, ...), leaves its findings as they were, so they need not be computed again. What
    decides that (warrants, case members, flags, reports) is read off ``history``; an entry that
    would change it counts as read, so both histories agree on it whenever it is used.
    """
    subject = history.subject
    read: set[str] = set()
    for seen in changed:
        observation, kind = seen.observation, seen.observation.event_type
        if kind == "case-update":
            read.update(("wanted_subject_sighted", "network_convergence"))
        if kind == "finance-flag" and int(observation.facts.get("risk_score", 0)) >= cfg.finance_risk_threshold:
            read.add("flagged_money_meets_border")
        if seen.via is None and kind in OBSERVING_TYPES and subject in observation.subjects and len(observation.subjects) > 1:
            read.add("flagged_money_meets_border")  # may change who was observed with the subject
        if seen.via is None and kind == "platform-report" and subject in observation.subjects:
            read.add("advert_to_action")
        if seen.via is None and kind == "sighting" and subject in observation.subjects and speed_limit(subject, cfg) is not None:
            read.add("implausible_movement")
    sightings = [seen.observation for seen in changed if seen.observation.event_type == "sighting"]
    actions = [seen.observation for seen in changed if seen.observation.event_type in ("sighting", "finance-flag")]
    if sightings and not read.issuperset(("wanted_subject_sighted", "network_convergence")):
        updates = [seen.observation for seen in history.seen("case-update")]
        wanted = {s for u in updates if u.facts.get("status") == "WARRANT_ISSUED" for s in implicated(u)}
        members = {s for u in updates for s in implicated(u)}
        if any(not wanted.isdisjoint(o.subjects) for o in sightings):
            read.add("wanted_subject_sighted")
        if any(not members.isdisjoint(o.subjects) for o in sightings):
            read.add("network_convergence")
    if sightings and "flagged_money_meets_border" not in read:
        window = cfg.finance_border_window_ms
        flags = [
            f.observation.occurred_at_ms
            for f in history.seen("finance-flag")
            if int(f.observation.facts.get("risk_score", 0)) >= cfg.finance_risk_threshold
        ]
        if any(bisect_left(flags, o.occurred_at_ms - window) < bisect_right(flags, o.occurred_at_ms + window) for o in sightings):
            read.add("flagged_money_meets_border")
    if (actions or links_changed) and "advert_to_action" not in read and kind_of(subject) in CONTACT_KINDS:
        reports = [o.occurred_at_ms for o in history.direct if o.event_type == "platform-report" and subject in o.subjects]
        window = cfg.advert_window_ms
        after_report = (
            bisect_left(reports, o.occurred_at_ms - window) < bisect_right(reports, o.occurred_at_ms)
            for o in actions
        )
        if reports and (links_changed or any(after_report)):
            read.add("advert_to_action")
    return frozenset(RULE_NAMES) - read
