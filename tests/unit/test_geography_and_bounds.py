"""Sightings away from border points (by coordinates), and the degree cap on links (hubs), through the whole pipeline."""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections.abc import Iterable

from test_retraction import CATALOGUE, CFG, run
from test_rules import ACCOUNT, BOAT, CAR, PERSON, PERSON2, PHONE, case, event, flag, sighting

from borderbus_correlator.model import Observation
from borderbus_correlator.rule_config import RuleConfig

DNG = CATALOGUE.border_points["GB-DNG"]
KM_PER_DEGREE_LAT = 111.2


def drone(event_id: str, subjects: Iterable[str], hours: float, north_km: float, method: str = "DRONE") -> Observation:
    """A sighting with coordinates only, ``north_km`` north of the Dungeness crossing."""
    base = sighting(event_id, subjects, hours, "GB-DNG")
    return dataclasses.replace(
        base,
        border_point=None,
        latitude=DNG.latitude + north_km / KM_PER_DEGREE_LAT,
        longitude=DNG.longitude,
        facts={"method": method},
    )


def standing(events: list[Observation], cfg: RuleConfig = CFG) -> dict[str, tuple[str, str, frozenset[str]]]:
    pipeline = run(events, cfg)
    return {k: (a.rule, a.severity, frozenset(a.evidence)) for k, a in pipeline.alerts.items() if a.status == "OPEN"}


NETWORK = case("c1", "SUBJECT_ADDED", {PERSON: "DRIVER", PERSON2: "DRIVER"}, -48, network_id="OCG-7")


def test_a_drone_sighting_3_km_from_a_crossing_joins_a_convergence() -> None:
    events = [NETWORK, sighting("s1", [PERSON], 0, "GB-DNG"), drone("d1", [PERSON2], 2, north_km=3)]
    alerts = [a for a in run(events).alerts.values() if a.rule == "network_convergence"]
    assert [set(a.evidence) for a in alerts] == [{"c1", "s1", "d1"}]
    assert "at or near GB-DNG" in alerts[0].summary and "DRONE at 50.9400,0.9760" in alerts[0].summary
    for order in itertools.permutations(events):
        assert standing(list(order)) == standing(events)


def test_a_drone_sighting_beyond_the_radius_does_not() -> None:
    events = [NETWORK, sighting("s1", [PERSON], 0, "GB-DNG"), drone("d1", [PERSON2], 2, north_km=8)]
    assert not [a for a in run(events).alerts.values() if a.rule == "network_convergence"]
    wider = dataclasses.replace(RuleConfig(), convergence_radius_km=10)
    assert [a.rule for a in run(events, wider).alerts.values()] == ["network_convergence"]


def test_a_maritime_contact_by_coordinates_takes_part_in_movement() -> None:
    """A vessel at Mytilene port, then picked up by radar 150 km north an hour later: 150 km/h for a boat."""
    at_port = sighting("v1", [BOAT], 0, "GR-LES")
    radar = dataclasses.replace(
        sighting("v2", [BOAT], 1, "GR-LES", agency="gr-hcg"), border_point=None, latitude=39.104 + 150 / KM_PER_DEGREE_LAT,
        longitude=26.557, facts={"method": "MARITIME"},
    )
    (alert,) = run([at_port, radar]).alerts.values()
    assert alert.rule == "implausible_movement" and set(alert.evidence) == {"v1", "v2"}
    assert "150 km in 1.0 h, at 150 km/h (limit 60 km/h)" in alert.summary
    near = dataclasses.replace(radar, latitude=39.104 + 2 / KM_PER_DEGREE_LAT, occurred_at_ms=at_port.occurred_at_ms + 60_000)
    assert not run([at_port, near]).alerts, "a fix 2 km off the port a minute later is the same place, not a jump"


# --------------------------------------------------------------------------- the degree cap

HUB = PHONE
PEOPLE = [f"PERSON_DOCUMENT:IQ:B{n:07d}" for n in range(1, 6)]
CAP = dataclasses.replace(RuleConfig(), max_links=3)


def hub_world() -> list[Observation]:
    """A hotline named by five travellers; PERSON2 (never sighted) has a flagged account, and a flag names the hotline.

    Without the cap the flags would meet every traveller who declared the hotline, through it, in
    their histories and in the hotline's own.
    """
    return [
        event("f0", "finance-flag", [PERSON2, HUB], -50, risk_score=90, channel="WIRE", amount="10.00", currency="GBP"),
        flag("f1", [ACCOUNT, PERSON2], 0, 90),
        *(sighting(f"s{n}", [person, HUB], n, "GB-DOV") for n, person in enumerate(PEOPLE, start=1)),
    ]


def test_without_the_cap_a_hotline_joins_strangers() -> None:
    rules = {rule for rule, _, _ in standing(hub_world()).values()}
    assert "flagged_money_meets_border" in rules


def test_a_hub_stops_forwarding_and_is_reported_low_in_any_arrival_order() -> None:
    expected = standing(hub_world(), CAP)
    assert sorted(rule for rule, _, _ in expected.values()) == ["hub_detected"]
    ((_, severity, evidence),) = expected.values()
    assert severity == "LOW"
    assert evidence == {"f0", "s1", "s2", "s3"}, "the earliest events that take it over the cap"
    rng = random.Random(11)
    for _ in range(30):
        shuffled = hub_world()
        rng.shuffle(shuffled)
        assert standing(shuffled, CAP) == expected


def test_the_hub_alert_says_what_its_evidence_shows() -> None:
    (alert,) = [a for a in run(hub_world(), CAP).alerts.values() if a.rule == "hub_detected"]
    assert f"{HUB} was named together with 4 other subjects in 4 events" in alert.summary
    assert "cap of 3 links" in alert.summary


def test_a_link_that_another_subject_vouches_for_survives_the_hub() -> None:
    """An event reaching a history through the hub and through an ordinary link stays when the hub is dropped.

    The hub's key sorts first, so the event is first held as having come through the hub.
    """
    assert HUB < CAR
    world = [sighting("k1", [CAR, PERSON, HUB], -60, "GB-LHR"), sighting("s9", [CAR, HUB], 9, "GB-DOV"), *hub_world()]
    orders = [world, world[::-1]] + [random.Random(seed).sample(world, len(world)) for seed in range(8)]
    for order in orders:
        person = run(order, CAP).histories[PERSON]
        assert {(via, o.event_id) for via, o in person.linked} == {(CAR, "s9")}
    assert HUB in run(world, CAP).histories[PERSON].hubs, "s9 came through the hub first"
