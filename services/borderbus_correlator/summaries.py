"""Alert summaries, built from an alert's evidence set and nothing else.

The alert book merges findings from many subjects' perspectives, each of which sees only part of
the evidence; a summary written by one perspective can therefore count fewer sightings than the
alert holds, or describe another traveller's sighting. So the book (and the rules, for the same
evidence) call :func:`summarise`, which re-reads the final evidence: every count, time gap,
subject and place it states can be derived from the evidence it is printed with. The rules'
thresholds appear only where labelled as such ("limit 120 km/h", "cap 50").

Each summariser states its summary once, as phrases (:mod:`borderbus.phrases`: template keys and
typed values); the English text is rendered from them, and the console renders the same phrases in
the officer's language from the catalogue of that locale.

Pure functions: no clock, no state.
"""

from __future__ import annotations

import itertools
from bisect import bisect_right
from collections.abc import Callable, Sequence

from borderbus.phrases import Param, Phrase, duration, ident, moment, money, number, phrase, render_english, text
from borderbus.phrases import key as choose
from borderbus.phrases import place as at_place
from borderbus.phrases import utc as utc
from borderbus_correlator.facts import (
    Points,
    Position,
    distinct_entities,
    great_circle_km,
    group_of,
    implicated,
    kind_of,
    position,
)
from borderbus_correlator.model import Observation
from borderbus_correlator.rule_config import DAY_MS, HOUR_MS, RuleConfig

Summariser = Callable[[list[str], list[Observation], Points, RuleConfig], list[Phrase]]


def summary_phrases(
    rule: str, alert_key: str, evidence: Sequence[Observation], points: Points, cfg: RuleConfig
) -> list[Phrase] | None:
    """The summary of an alert of ``rule`` with this ``alert_key`` and evidence, as phrases; None when the
    evidence does not have the shape the rule gives it (a caller's own decision then keeps its words)."""
    summariser = _SUMMARISERS.get(rule)
    if summariser is None:
        return None
    ordered = sorted({o.event_id: o for o in evidence}.values(), key=lambda o: (o.occurred_at_ms, o.event_id))
    try:
        return summariser(alert_key.split("|"), ordered, points, cfg)
    except (IndexError, KeyError, StopIteration, ValueError):
        return None


def summarise(rule: str, alert_key: str, evidence: Sequence[Observation], points: Points, cfg: RuleConfig) -> str | None:
    """The English summary (see :func:`summary_phrases`)."""
    phrases = summary_phrases(rule, alert_key, evidence, points, cfg)
    return None if phrases is None else english(phrases, points)


def english(phrases: Sequence[Phrase], points: Points) -> str:
    return render_english(phrases, {code: point.name for code, point in points.items()})


def where(observation: Observation) -> Param:
    """Its border point, else its coordinates, else no place (the catalogue says how each reads)."""
    return at_place(observation.border_point, observation.latitude, observation.longitude)


def corroboration(agencies: list[str]) -> Phrase:
    return phrase("corroborated", count=number(len(agencies)), agencies=ident(*agencies))


def _named(key: list[str], start: int, evidence: list[Observation], end: int | None = None) -> str:
    """The subject an alert key names from ``start`` (subject keys hold no '|'); it must be in the evidence."""
    subject = "|".join(key[start:end])
    if not any(subject in o.subjects for o in evidence):
        raise ValueError("the alert key names no subject of the evidence")
    return subject


# --------------------------------------------------------------------------- one summariser per rule


def _wanted(key: list[str], evidence: list[Observation], points: Points, cfg: RuleConfig) -> list[Phrase]:
    subject = _named(key, 3, evidence)
    warrant = next(o for o in evidence if o.event_type == "case-update" and o.facts.get("status") == "WARRANT_ISSUED")
    sightings = [o for o in evidence if o.event_type == "sighting"]
    latest = sightings[-1]
    role = (warrant.facts.get("roles") or {}).get(subject)
    ref = warrant.facts.get("warrant_ref")
    said = [
        phrase(
            "wanted_subject_sighted.sighted",
            subject=ident(subject),
            role=text(role),
            warrant=choose("wanted_subject_sighted.warrant" if ref else "wanted_subject_sighted.no_warrant_ref"),
            warrant_ref=ident(ref) if ref else text(None),
            case_id=ident(warrant.facts["case_id"]),
            warrant_agency=ident(warrant.agency),
            issued_at=moment(warrant.occurred_at_ms),
            agency=ident(latest.agency),
            place=where(latest),
            seen_at=moment(latest.occurred_at_ms),
            gap=duration(latest.occurred_at_ms - warrant.occurred_at_ms),
        )
    ]
    if len(sightings) > 1:
        said.append(phrase("wanted_subject_sighted.sightings", count=number(len(sightings))))
    return said


def _money(key: list[str], evidence: list[Observation], points: Points, cfg: RuleConfig) -> list[Phrase]:
    flag = next(o for o in evidence if o.event_id == key[1])
    sightings = [o for o in evidence if o.event_type == "sighting"]
    flagged = set(flag.subjects)
    closest = min(
        sightings,
        key=lambda s: (flagged.isdisjoint(s.subjects), abs(s.occurred_at_ms - flag.occurred_at_ms), s.event_id),
    )
    seen = next((s for s in closest.subjects if s in flagged), closest.subjects[0])
    gap = closest.occurred_at_ms - flag.occurred_at_ms
    several = len(sightings) > 1
    return [
        phrase(
            "flagged_money_meets_border.flagged",
            agency=ident(flag.agency),
            channel=text(flag.facts.get("channel")),
            amount=money(flag.facts.get("amount"), flag.facts.get("currency")),
            flagged=ident(*flag.subjects),
            risk=number(int(flag.facts.get("risk_score", 0))),
            flagged_at=moment(flag.occurred_at_ms),
            seen=ident(seen),
            sighting_agency=ident(closest.agency),
            place=where(closest),
            seen_at=moment(closest.occurred_at_ms),
            gap=duration(abs(gap)),
            order=choose("flagged_money_meets_border.after" if gap >= 0 else "flagged_money_meets_border.before"),
            count=number(len(sightings)) if several else text(None),
            first=moment(sightings[0].occurred_at_ms),
            last=moment(sightings[-1].occurred_at_ms),
        )
    ]


def _convergence(key: list[str], evidence: list[Observation], points: Points, cfg: RuleConfig) -> list[Phrase]:
    group, point = key[1], key[2]
    updates = [o for o in evidence if o.event_type == "case-update" and group_of(o) == group]
    sightings = [o for o in evidence if o.event_type == "sighting"]
    members = {s for update in updates for s in implicated(update)}
    seen_members = sorted({s for sighting in sightings for s in sighting.subjects if s in members})
    first, last = sightings[0], sightings[-1]
    nearby = [s for s in sightings if s.border_point is None]
    prefix = "network_convergence."
    said = [
        phrase(
            prefix + "sighted",
            count=number(distinct_entities(sightings, set(seen_members))),
            label=choose(prefix + ("network" if any(u.facts.get("network_id") for u in updates) else "case")),
            group=ident(group),
            members=ident(*seen_members),
            where=choose(prefix + ("near" if nearby else "at")),
            point=at_place(point),
            when=choose(prefix + ("together" if first is last else "within")),
            first=moment(first.occurred_at_ms),
            last=moment(last.occurred_at_ms),
            span=duration(last.occurred_at_ms - first.occurred_at_ms),
            agencies=ident(*sorted({s.agency for s in sightings})),
        )
    ]
    said += [
        phrase(
            prefix + "away",
            agency=ident(s.agency),
            method=text(str(s.facts.get("method", "sighting"))),
            place=where(s),
            seen_at=moment(s.occurred_at_ms),
        )
        for s in nearby
    ]
    return said


def speed_limit(subject: str, cfg: RuleConfig) -> float | None:
    return {"VEHICLE_PLATE": cfg.max_vehicle_speed_kmh, "VESSEL": cfg.max_vessel_speed_kmh}.get(kind_of(subject))


def _movement(key: list[str], evidence: list[Observation], points: Points, cfg: RuleConfig) -> list[Phrase]:
    subject = _named(key, 1, evidence, -1)
    limit = speed_limit(subject, cfg)
    if limit is None:
        raise ValueError("not a vehicle or vessel")
    facts: list[Phrase] = []
    fastest: tuple[float, float, Observation, Observation] | None = None
    located = [(o, position(o, points)) for o in evidence]
    steps = [(a, pa, b, pb) for (a, pa), (b, pb) in itertools.pairwise(located) if pa is not None and pb is not None]
    distances: dict[tuple[Position, Position], float] = {}  # a vehicle passes the same few places again and again
    for a, pa, b, pb in steps:
        km = distances.get((pa, pb))
        if km is None:
            km = distances[(pa, pb)] = great_circle_km(pa, pb)
        if km <= cfg.convergence_radius_km:
            continue
        elapsed = (b.occurred_at_ms - a.occurred_at_ms) / HOUR_MS
        speed = km / elapsed if elapsed > 0 else float("inf")
        if speed > limit and (fastest is None or speed > fastest[0]):
            fastest = (speed, km, a, b)
    if fastest is not None:
        speed, km, a, b = fastest
        instant = speed == float("inf")
        facts.append(
            phrase(
                "implausible_movement.fast",
                subject=ident(subject),
                from_agency=ident(a.agency),
                from_place=where(a),
                from_at=moment(a.occurred_at_ms),
                to_agency=ident(b.agency),
                to_place=where(b),
                to_at=moment(b.occurred_at_ms),
                km=number(f"{km:.0f}"),
                elapsed=duration(b.occurred_at_ms - a.occurred_at_ms),
                speed=choose("implausible_movement.instantly" if instant else "implausible_movement.speed"),
                kmh=text(None) if instant else number(f"{speed:.0f}"),
                limit=number(f"{limit:.0f}"),
            )
        )
    widest = _widest_day([o for o in evidence if o.border_point is not None])
    visited = list(dict.fromkeys(str(o.border_point) for o in widest))
    if len(visited) >= cfg.distinct_points_per_day:
        facts.append(
            phrase(
                "implausible_movement.points",
                who=choose("implausible_movement.it" if facts else "implausible_movement.subject"),
                subject=ident(subject),
                count=number(len(visited)),
                points=ident(*visited),
                span=duration(widest[-1].occurred_at_ms - widest[0].occurred_at_ms),
                start=moment(widest[0].occurred_at_ms),
                agencies=ident(*sorted({o.agency for o in widest})),
                threshold=number(cfg.distinct_points_per_day),
            )
        )
    if not facts:
        raise ValueError("the evidence shows no implausible movement")
    return facts


def _widest_day(at_points: list[Observation]) -> list[Observation]:
    """The first of the windows (the sightings from one, in event order, to a day after it) at the most distinct points.

    The windows slide forward together, so the points in the current one are counted as it moves.
    """
    times = [o.occurred_at_ms for o in at_points]
    counts: dict[str | None, int] = {}
    widest: list[Observation] = []
    most = end = 0
    for start, first in enumerate(at_points):
        stop = bisect_right(times, first.occurred_at_ms + DAY_MS, lo=start)
        for o in at_points[end:stop]:
            counts[o.border_point] = counts.get(o.border_point, 0) + 1
        end = max(end, stop)
        if len(counts) > most:
            widest, most = at_points[start:stop], len(counts)
        left = first.border_point
        counts[left] -= 1
        if not counts[left]:
            del counts[left]
    return widest


def _advert(key: list[str], evidence: list[Observation], points: Points, cfg: RuleConfig) -> list[Phrase]:
    report = next(o for o in evidence if o.event_id == key[1])
    contact = _named(key, 2, evidence)
    actions = [o for o in evidence if o.event_type in ("sighting", "finance-flag") and o.occurred_at_ms > report.occurred_at_ms]
    first = actions[0]
    facts = report.facts
    return [
        phrase(
            "advert_to_action.appeared",
            contact=ident(contact),
            platform=text(str(facts.get("platform", ""))),
            content_kind=text(str(facts.get("content_kind", "report")).lower()),
            content_ref=ident(str(facts.get("content_ref", ""))) if facts.get("content_ref") else text(None),
            agency=ident(report.agency),
            reported_at=moment(report.occurred_at_ms),
            then=choose("advert_to_action.sighted" if first.event_type == "sighting" else "advert_to_action.flagged"),
            subjects=ident(*first.subjects),
            action_agency=ident(first.agency),
            place=where(first),
            risk=number(str(first.facts["risk_score"])) if first.facts.get("risk_score") is not None else text(None),
            action_at=moment(first.occurred_at_ms),
            days=number(f"{(first.occurred_at_ms - report.occurred_at_ms) / DAY_MS:.1f}"),
            later=number(len(actions)) if len(actions) > 1 else text(None),
        )
    ]


def _hub(key: list[str], evidence: list[Observation], points: Points, cfg: RuleConfig) -> list[Phrase]:
    subject = _named(key, 1, evidence)
    linked = sorted({s for o in evidence for s in o.subjects if s != subject})
    return [
        phrase(
            "hub_detected.named",
            subject=ident(subject),
            linked=number(len(linked)),
            events=number(len(evidence)),
            first=moment(evidence[0].occurred_at_ms),
            last=moment(evidence[-1].occurred_at_ms),
            cap=number(cfg.max_links),
        )
    ]


_SUMMARISERS: dict[str, Summariser] = {
    "wanted_subject_sighted": _wanted,
    "flagged_money_meets_border": _money,
    "network_convergence": _convergence,
    "implausible_movement": _movement,
    "advert_to_action": _advert,
    "hub_detected": _hub,
}
