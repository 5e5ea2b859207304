"""Alert summaries, built from an alert's evidence set and nothing else.

The alert book merges findings from many subjects' perspectives, each of which sees only part of
the evidence; a summary written by one perspective can therefore count fewer sightings than the
alert holds, or describe another traveller's sighting. So the book (and the rules, for the same
evidence) call :func:`summarise`, which re-reads the final evidence: every count, time gap,
subject and place it states can be derived from the evidence it is printed with. The rules'
thresholds appear only where labelled as such ("limit 120 km/h", "cap 50").

Pure functions: no clock, no state.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from borderbus_correlator.facts import (
    Points,
    distinct_entities,
    great_circle_km,
    group_of,
    implicated,
    kind_of,
    position,
)
from borderbus_correlator.model import Observation
from borderbus_correlator.rule_config import DAY_MS, HOUR_MS, RuleConfig

Summariser = Callable[[list[str], list[Observation], Points, RuleConfig], str]


def summarise(rule: str, alert_key: str, evidence: Sequence[Observation], points: Points, cfg: RuleConfig) -> str | None:
    """The summary of an alert of ``rule`` with this ``alert_key`` and evidence; None when the evidence
    does not have the shape the rule gives it (a caller's own decision then keeps its words)."""
    summariser = _SUMMARISERS.get(rule)
    if summariser is None:
        return None
    ordered = sorted({o.event_id: o for o in evidence}.values(), key=lambda o: (o.occurred_at_ms, o.event_id))
    try:
        return summariser(alert_key.split("|"), ordered, points, cfg)
    except (IndexError, KeyError, StopIteration, ValueError):
        return None


def utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def hours(ms: int) -> str:
    return f"{ms / HOUR_MS:.1f} h" if ms >= HOUR_MS else f"{ms / 60_000:.0f} min"


def place(observation: Observation, points: Points) -> str:
    """Its border point with the point's name, else its coordinates, else that it had no place."""
    if observation.border_point is not None:
        point = points.get(observation.border_point)
        return f"{observation.border_point} ({point.name})" if point else observation.border_point
    if observation.latitude is not None and observation.longitude is not None:
        return f"{observation.latitude:.4f},{observation.longitude:.4f}"
    return "away from a border point"


def _named(key: list[str], start: int, evidence: list[Observation], end: int | None = None) -> str:
    """The subject an alert key names from ``start`` (subject keys hold no '|'); it must be in the evidence."""
    subject = "|".join(key[start:end])
    if not any(subject in o.subjects for o in evidence):
        raise ValueError("the alert key names no subject of the evidence")
    return subject


def _point_name(code: str, points: Points) -> str:
    point = points.get(code)
    return f"{code} ({point.name})" if point else code


# --------------------------------------------------------------------------- one summariser per rule


def _wanted(key: list[str], evidence: list[Observation], points: Points, cfg: RuleConfig) -> str:
    subject = _named(key, 3, evidence)
    warrant = next(o for o in evidence if o.event_type == "case-update" and o.facts.get("status") == "WARRANT_ISSUED")
    sightings = [o for o in evidence if o.event_type == "sighting"]
    latest = sightings[-1]
    role = (warrant.facts.get("roles") or {}).get(subject)
    ref = warrant.facts.get("warrant_ref") or "without reference"
    summary = (
        f"{subject}{f' ({role})' if role else ''}, wanted under warrant {ref} in case {warrant.facts['case_id']} "
        f"({warrant.agency}, issued {utc(warrant.occurred_at_ms)}), was sighted by {latest.agency} at "
        f"{place(latest, points)} on {utc(latest.occurred_at_ms)}, "
        f"{hours(latest.occurred_at_ms - warrant.occurred_at_ms)} after the warrant."
    )
    if len(sightings) > 1:
        summary += f" {len(sightings)} sightings since the warrant."
    return summary


def _money(key: list[str], evidence: list[Observation], points: Points, cfg: RuleConfig) -> str:
    flag = next(o for o in evidence if o.event_id == key[1])
    sightings = [o for o in evidence if o.event_type == "sighting"]
    flagged = set(flag.subjects)
    closest = min(
        sightings,
        key=lambda s: (flagged.isdisjoint(s.subjects), abs(s.occurred_at_ms - flag.occurred_at_ms), s.event_id),
    )
    seen = next((s for s in closest.subjects if s in flagged), closest.subjects[0])
    gap = closest.occurred_at_ms - flag.occurred_at_ms
    risk = int(flag.facts.get("risk_score", 0))
    amount = " ".join(str(flag.facts[k]) for k in ("amount", "currency") if flag.facts.get(k))
    transfer = " ".join(filter(None, (flag.facts.get("channel"), "transfer", f"of {amount}" if amount else "")))
    summary = (
        f"{flag.agency} flagged a {transfer} naming {', '.join(flag.subjects)} with risk score {risk} on "
        f"{utc(flag.occurred_at_ms)}. {seen} was sighted by {closest.agency} at {place(closest, points)} on "
        f"{utc(closest.occurred_at_ms)}, {hours(abs(gap))} {'after' if gap >= 0 else 'before'} the flag"
    )
    if len(sightings) > 1:
        first, last = sightings[0], sightings[-1]
        return summary + f" ({len(sightings)} sightings, {utc(first.occurred_at_ms)} to {utc(last.occurred_at_ms)})."
    return summary + "."


def _convergence(key: list[str], evidence: list[Observation], points: Points, cfg: RuleConfig) -> str:
    group, point = key[1], key[2]
    updates = [o for o in evidence if o.event_type == "case-update" and group_of(o) == group]
    sightings = [o for o in evidence if o.event_type == "sighting"]
    members = {s for update in updates for s in implicated(update)}
    seen_members = sorted({s for sighting in sightings for s in sighting.subjects if s in members})
    entities = distinct_entities(sightings, set(seen_members))
    first, last = sightings[0], sightings[-1]
    agencies = sorted({s.agency for s in sightings})
    label = "network" if any(u.facts.get("network_id") for u in updates) else "case"
    nearby = [s for s in sightings if s.border_point is None]
    where = f"at {_point_name(point, points)}" if not nearby else f"at or near {_point_name(point, points)}"
    if first is last:
        when = f"together on {utc(first.occurred_at_ms)}"
    else:
        when = (
            f"within {hours(last.occurred_at_ms - first.occurred_at_ms)}, from {utc(first.occurred_at_ms)} to "
            f"{utc(last.occurred_at_ms)}"
        )
    named = ", ".join(seen_members)
    summary = f"{entities} members of {label} {group} ({named}) were sighted {where} {when}, by {', '.join(agencies)}."
    if nearby:
        summary += " Away from the crossing: " + "; ".join(
            f"{s.agency} {s.facts.get('method', 'sighting')} at {place(s, points)} on {utc(s.occurred_at_ms)}" for s in nearby
        ) + "."
    return summary


def speed_limit(subject: str, cfg: RuleConfig) -> float | None:
    return {"VEHICLE_PLATE": cfg.max_vehicle_speed_kmh, "VESSEL": cfg.max_vessel_speed_kmh}.get(kind_of(subject))


def _movement(key: list[str], evidence: list[Observation], points: Points, cfg: RuleConfig) -> str:
    subject = _named(key, 1, evidence, -1)
    limit = speed_limit(subject, cfg)
    if limit is None:
        raise ValueError("not a vehicle or vessel")
    facts: list[str] = []
    fastest: tuple[float, float, Observation, Observation] | None = None
    located = [(o, position(o, points)) for o in evidence]
    steps = [(a, pa, b, pb) for (a, pa), (b, pb) in itertools.pairwise(located) if pa is not None and pb is not None]
    for a, pa, b, pb in steps:
        km = great_circle_km(pa, pb)
        if km <= cfg.convergence_radius_km:
            continue
        elapsed = (b.occurred_at_ms - a.occurred_at_ms) / HOUR_MS
        speed = km / elapsed if elapsed > 0 else float("inf")
        if speed > limit and (fastest is None or speed > fastest[0]):
            fastest = (speed, km, a, b)
    if fastest is not None:
        speed, km, a, b = fastest
        said = "instantly" if speed == float("inf") else f"at {speed:.0f} km/h"
        facts.append(
            f"{subject} was seen by {a.agency} at {place(a, points)} on {utc(a.occurred_at_ms)} and by "
            f"{b.agency} at {place(b, points)} on {utc(b.occurred_at_ms)}: {km:.0f} km in "
            f"{hours(b.occurred_at_ms - a.occurred_at_ms)}, {said} (limit {limit:.0f} km/h)."
        )
    at_points = [o for o in evidence if o.border_point is not None]
    widest: list[Observation] = []
    for start, first in enumerate(at_points):
        window = [o for o in at_points[start:] if o.occurred_at_ms - first.occurred_at_ms <= DAY_MS]
        if len({o.border_point for o in window}) > len({o.border_point for o in widest}):
            widest = window
    visited = list(dict.fromkeys(str(o.border_point) for o in widest))
    if len(visited) >= cfg.distinct_points_per_day:
        facts.append(
            f"{'It' if facts else subject} was seen at {len(visited)} distinct border points "
            f"({', '.join(visited)}) within {hours(widest[-1].occurred_at_ms - widest[0].occurred_at_ms)} "
            f"from {utc(widest[0].occurred_at_ms)}, by {', '.join(sorted({o.agency for o in widest}))} "
            f"(threshold {cfg.distinct_points_per_day} a day)."
        )
    if not facts:
        raise ValueError("the evidence shows no implausible movement")
    return " ".join(facts)


def _advert(key: list[str], evidence: list[Observation], points: Points, cfg: RuleConfig) -> str:
    report = next(o for o in evidence if o.event_id == key[1])
    contact = _named(key, 2, evidence)
    actions = [o for o in evidence if o.event_type in ("sighting", "finance-flag") and o.occurred_at_ms > report.occurred_at_ms]
    first = actions[0]
    gap = first.occurred_at_ms - report.occurred_at_ms
    later = f"on {utc(first.occurred_at_ms)}, {gap / DAY_MS:.1f} days later"
    if first.event_type == "sighting":
        what = f"{', '.join(first.subjects)} sighted by {first.agency} at {place(first, points)} {later}"
    else:
        risk = first.facts.get("risk_score")
        what = f"{first.agency} flagged a transfer naming {', '.join(first.subjects)} (risk score {risk}) {later}"
    facts = report.facts
    return (
        f"{contact} appeared in a {facts.get('platform', '')} {str(facts.get('content_kind', 'report')).lower()} "
        f"{facts.get('content_ref', '')} reported by {report.agency} on {utc(report.occurred_at_ms)}; then {what}"
        + (f" ({len(actions)} later events)." if len(actions) > 1 else ".")
    )


def _hub(key: list[str], evidence: list[Observation], points: Points, cfg: RuleConfig) -> str:
    subject = _named(key, 1, evidence)
    linked = sorted({s for o in evidence for s in o.subjects if s != subject})
    first, last = evidence[0], evidence[-1]
    return (
        f"{subject} was named together with {len(linked)} other subjects in {len(evidence)} events from "
        f"{utc(first.occurred_at_ms)} to {utc(last.occurred_at_ms)}, more than the cap of {cfg.max_links} links: "
        "its events are no longer shared with the subjects it is linked to. Check whether it is a shared "
        "number, a hotline or a data-entry default before relying on it."
    )


_SUMMARISERS: dict[str, Summariser] = {
    "wanted_subject_sighted": _wanted,
    "flagged_money_meets_border": _money,
    "network_convergence": _convergence,
    "implausible_movement": _movement,
    "advert_to_action": _advert,
    "hub_detected": _hub,
}

