"""Every count, time gap, subject and place an alert summary states is derivable from the evidence it is printed with.

A property test over many random histories, run through the whole pipeline in random arrival orders:
the alert book merges findings from many perspectives, and its summary must describe the merged
evidence, not the newest perspective's view of it.
"""

from __future__ import annotations

import dataclasses
import itertools
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_retraction import CATALOGUE, run
from test_rules import ACCOUNT, BOAT, CAR, PERSON, PERSON2, PHONE, case, flag, report, sighting

from borderbus_correlator.alert_book import AlertState, observing_agencies
from borderbus_correlator.facts import distinct_entities, great_circle_km, group_of, implicated, position, sites
from borderbus_correlator.model import Observation
from borderbus_correlator.rule_config import DAY_MS, HOUR_MS, RuleConfig
from borderbus_correlator.summaries import utc

POINTS = CATALOGUE.border_points
CFG = dataclasses.replace(RuleConfig(), allowed_lateness_ms=60 * DAY_MS)
PERSON3 = "PERSON_DOCUMENT:TR:U12345678"
TRAVELLERS = [PERSON, PERSON2, PERSON3, PHONE]
CODES = ["GB-DOV", "GB-DNG", "GB-CQF", "IQ-IBK", "GR-EVR", "GR-LES"]
OPERATOR = {code: point.operated_by for code, point in POINTS.items()}
SUBJECT = re.compile(r"\b(?:PERSON_DOCUMENT|PHONE|VEHICLE_PLATE|VESSEL|BANK_ACCOUNT|CRYPTO_WALLET|PLATFORM_ACCOUNT):[^\s,()]+")


@st.composite
def histories(draw: st.DrawFn) -> list[Observation]:
    """Sightings (at border points or by coordinates near one), flags, warrants, network cases, adverts, retractions."""
    events: list[Observation] = []
    hours = st.integers(min_value=0, max_value=96 * 4).map(lambda quarter: quarter / 4)
    for n in range(draw(st.integers(min_value=2, max_value=14))):
        kind = draw(st.sampled_from(["sighting", "sighting", "sighting", "drone", "flag", "case", "report", "retract"]))
        at = draw(hours)
        if kind in ("sighting", "drone"):
            code = draw(st.sampled_from(CODES))
            subjects = draw(st.lists(st.sampled_from([*TRAVELLERS, CAR, BOAT]), min_size=1, max_size=2, unique=True))
            seen = sighting(f"s{n}", subjects, at, code, agency=OPERATOR[code])
            if kind == "drone":
                north_km = draw(st.floats(min_value=0.5, max_value=8))
                point = POINTS[code]
                seen = dataclasses.replace(
                    seen, border_point=None, latitude=point.latitude + north_km / 111.2, longitude=point.longitude,
                    facts={"method": "DRONE"},
                )
            events.append(seen)
        elif kind == "flag":
            holder = draw(st.sampled_from(TRAVELLERS))
            events.append(dataclasses.replace(flag(f"f{n}", [ACCOUNT, holder], at, draw(st.integers(60, 99))),
                                              agency=draw(st.sampled_from(["uk-fiu", "iq-fiu"]))))
        elif kind == "case":
            named = draw(st.lists(st.sampled_from([*TRAVELLERS, CAR]), min_size=1, max_size=3, unique=True))
            status = draw(st.sampled_from(["WARRANT_ISSUED", "SUBJECT_ADDED", "OPENED"]))
            events.append(case(f"c{n}", status, dict.fromkeys(named, "SUSPECT"), at - 24, network_id="OCG-1",
                               warrant_ref="W-1" if status == "WARRANT_ISSUED" else None))
        elif kind == "report":
            events.append(report(f"a{n}", [PHONE], at - 48))
        else:  # the agency withdraws one of its earlier events: evidence leaves the alerts built on it
            earlier = [o for o in events if o.event_type in ("sighting", "finance-flag") and o.revises is None]
            if earlier:
                original = draw(st.sampled_from(earlier))
                events.append(dataclasses.replace(original, event_id=f"r{n}", revises=original.event_id, revision="RETRACT"))
    order = draw(st.permutations(events))
    return list(order)


def gaps(evidence: list[Observation]) -> set[int]:
    times = [o.occurred_at_ms for o in evidence]
    return {abs(a - b) for a, b in itertools.combinations(times, 2)}


def said(ms: int) -> set[str]:
    return {f"{ms / HOUR_MS:.1f} h", f"{ms / 60_000:.0f} min", f"{ms / DAY_MS:.1f} days"}


def check_summary(alert: AlertState) -> None:
    evidence = sorted(alert.evidence.values(), key=lambda o: (o.occurred_at_ms, o.event_id))
    text = alert.summary
    subjects = {s for o in evidence for s in o.subjects}
    for subject in SUBJECT.findall(text):
        assert subject.rstrip(".;:") in subjects, (subject, text)
    places = {o.border_point for o in evidence} | {c for o in evidence for c in sites(o, POINTS, CFG.convergence_radius_km)}
    for code in re.findall(r"\b[A-Z]{2}-[A-Z]{3}\b", text):
        assert code in places, (code, text)
    times = {utc(o.occurred_at_ms) for o in evidence}
    for moment in re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", text):
        assert moment in times, (moment, text)
    durations = set().union(*(said(gap) for gap in gaps(evidence))) if len(evidence) > 1 else set()
    for duration in re.findall(r"\b\d+(?:\.\d)? (?:h|min|days)\b", text):
        assert duration in durations, (duration, text)
    sightings = [o for o in evidence if o.event_type == "sighting"]
    for count in re.findall(r"\b(\d+) sightings\b", text):
        assert int(count) == len(sightings), text
    for count in re.findall(r"\b(\d+) later events\b", text):
        assert int(count) == len([o for o in evidence if o.event_type in ("sighting", "finance-flag")]), text
    for count, listed in re.findall(r"\b(\d+) distinct border points \(([^)]*)\)", text):
        assert int(count) == len(listed.split(", ")) and set(listed.split(", ")) <= places, text
    for count, group in re.findall(r"\b(\d+) members of (?:network|case) (\S+) ", text):
        members = {s for u in evidence if u.event_type == "case-update" and group_of(u) == group for s in implicated(u)}
        assert int(count) == distinct_entities(sightings, members), text
    for risk in re.findall(r"risk score (\d+)", text):
        assert int(risk) in {o.facts.get("risk_score") for o in evidence}, text
    for km, speed in re.findall(r"(\d+) km in [^,]+, at (\d+) km/h", text):
        located = [position(o, POINTS) for o in evidence]
        pairs = [(a, b, oa, ob) for (oa, a), (ob, b) in itertools.combinations(zip(evidence, located, strict=True), 2) if a and b]
        assert any(
            f"{great_circle_km(a, b):.0f}" == km
            and f"{great_circle_km(a, b) / ((ob.occurred_at_ms - oa.occurred_at_ms) / HOUR_MS):.0f}" == speed
            for a, b, oa, ob in pairs
            if ob.occurred_at_ms > oa.occurred_at_ms
        ), text
    corroboration = re.search(r"Corroborated by (\d+) agencies that observed the subjects: ([^.]*)\.", text)
    if corroboration:
        assert corroboration.group(2).split(", ") == observing_agencies(evidence)
        assert int(corroboration.group(1)) == len(observing_agencies(evidence))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_every_summary_is_derivable_from_its_evidence(events: list[Observation]) -> None:
    for alert in run(events, CFG).alerts.values():
        check_summary(alert)


def test_the_checker_catches_a_count_the_evidence_does_not_hold() -> None:
    """The measured false summary: '3 sightings' while the evidence held 4."""
    events = [flag("f1", [ACCOUNT, PERSON], 0, 90), *(sighting(f"s{n}", [PERSON], n, "GB-DOV") for n in range(1, 5))]
    (alert,) = run(events, CFG).alerts.values()
    check_summary(alert)
    assert "4 sightings" in alert.summary
    wrong = dataclasses.replace(alert, summary=alert.summary.replace("4 sightings", "3 sightings"))
    try:
        check_summary(wrong)
    except AssertionError:
        return
    raise AssertionError("the checker accepted a wrong count")


def test_a_backlog_summary_describes_the_merged_evidence() -> None:
    """Two travellers with the flagged phone; the flag arrives last, reaching each through their own history.

    Whatever perspective speaks last, the summary names the sighting closest to the flag among all of them.
    """
    events = [
        sighting("s1", [PERSON, PHONE], 10, "GB-DOV"),
        sighting("s2", [PERSON2, PHONE], 2, "GB-DNG"),
        flag("f1", [ACCOUNT, PHONE], 0, 90),
    ]
    for order in itertools.permutations(events):
        (alert,) = run(list(order), CFG).alerts.values()
        check_summary(alert)
        assert "by uk-bf at GB-DNG" in alert.summary and "2.0 h after the flag" in alert.summary, alert.summary
        assert "2 sightings" in alert.summary


def test_the_widest_day_is_the_first_window_at_the_most_distinct_points() -> None:
    """The sliding count picks the same window as counting each day's sightings afresh."""
    import random

    from borderbus_correlator.summaries import _widest_day

    def afresh(at_points: list[Observation]) -> list[Observation]:
        widest: list[Observation] = []
        for start, first in enumerate(at_points):
            window = [o for o in at_points[start:] if o.occurred_at_ms - first.occurred_at_ms <= DAY_MS]
            if len({o.border_point for o in window}) > len({o.border_point for o in widest}):
                widest = window
        return widest

    rng = random.Random(3)
    for _ in range(300):
        days = [rng.choice([0, DAY_MS // 2, DAY_MS, 2 * DAY_MS]) for _ in range(rng.randint(0, 12))]
        times = sorted(day + rng.randint(0, 3) * HOUR_MS for day in days)
        seen = [sighting(f"s{i:02d}", [CAR], at / HOUR_MS, rng.choice(CODES)) for i, at in enumerate(times)]
        assert _widest_day(seen) == afresh(seen)
