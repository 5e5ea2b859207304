"""The simulator scenario: deterministic, valid for the publisher, and honest about its ground truth.

The rule checks below recompute each rule from the generated events alone (canonical ids via the
bus's own normaliser, distances from border_points.yaml), so the ground truth is tested against
what a correlator would actually see, not against the generator's intentions.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from borderbus import identifiers
from borderbus.bus import Bus
from borderbus.events import EventPreparer
from borderbus_simulator.scenario import PlannedEvent, Scenario, build_scenario, write_ground_truth

CONFIG = Path(__file__).resolve().parents[2] / "ops" / "config"
AGENCIES = CONFIG / "agencies.yaml"
POINTS = CONFIG / "border_points.yaml"
END_MS = 1_795_939_200_000  # 2026-11-29T00:00:00Z
HOUR_MS = 3_600_000
DEFAULTS = {
    "finance_risk_threshold": 70,
    "finance_border_window_hours": 72,
    "convergence_window_hours": 6,
    "convergence_radius_km": 5,
    "max_vehicle_speed_kmh": 120,
    "max_vessel_speed_kmh": 60,
    "distinct_points_per_day": 3,
    "advert_window_days": 30,
    "max_links": 50,
}
RULES = (
    "wanted_subject_sighted",
    "flagged_money_meets_border",
    "network_convergence",
    "implausible_movement",
    "advert_to_action",
)


def build(seed: int = 7, event_count: int = 500, **kwargs: Any) -> Scenario:
    return build_scenario(
        seed=seed, event_count=event_count, end_ms=END_MS, agencies_path=AGENCIES, border_points_path=POINTS, **kwargs
    )


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return build()


@pytest.fixture(scope="module")
def long_scenario() -> Scenario:
    """Five days: long enough for the 'sighting 80 h after the flag' near miss."""
    return build(seed=11, event_count=800, span_ms=5 * 24 * HOUR_MS, networks=3)


# --------------------------------------------------------------------------- a correlator's view


Key = tuple[str, str]  # (kind, canonical id)


@dataclass(frozen=True)
class Seen:
    """One event as the correlator sees it: canonical subjects, time, place."""

    event: PlannedEvent
    subjects: tuple[Key, ...]

    @property
    def id(self) -> str:
        return self.event.event_id

    @property
    def t(self) -> int:
        return self.event.occurred_at_ms

    @property
    def agency(self) -> str:
        return self.event.agency

    @property
    def type(self) -> str:
        return self.event.event_type

    @property
    def body(self) -> dict[str, Any]:
        return self.event.body

    @property
    def point(self) -> str | None:
        location = self.body.get("location")
        return location["border_point"] if location else None

    @property
    def where(self) -> tuple[float, float] | None:
        """Coordinates: the sighting's own, else its border point's."""
        location = self.body.get("location") or {}
        if location.get("latitude") is not None:
            return location["latitude"], location["longitude"]
        return (points()[self.point]["latitude"], points()[self.point]["longitude"]) if self.point else None

    @property
    def sites(self) -> set[str]:
        """The border points it counts at for convergence: its own, or those within the radius of its fix."""
        if self.point:
            return {self.point}
        where = self.where
        if where is None:
            return set()
        radius = DEFAULTS["convergence_radius_km"]
        return {c for c, p in points().items() if km_between(where, (p["latitude"], p["longitude"])) <= radius}


def canonical(subject: dict[str, Any]) -> Key:
    return subject["kind"], identifiers.normalise(subject["kind"], subject["id"], subject.get("country"))


_VIEWS: dict[int, tuple[Scenario, dict[str, Seen]]] = {}


def view(scenario: Scenario) -> dict[str, Seen]:
    """Events by id with canonical subjects; cached, since normalising every subject is the slow part."""
    cached = _VIEWS.get(id(scenario))
    if cached is None or cached[0] is not scenario:
        seen = {e.event_id: Seen(e, tuple(canonical(s) for s in e.body["subjects"])) for e in scenario.events}
        cached = _VIEWS[id(scenario)] = (scenario, seen)
    return cached[1]


@functools.cache
def points() -> dict[str, dict[str, Any]]:
    return {p["code"]: p for p in yaml.safe_load(POINTS.read_text())["border_points"]}


def km_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def distance_km(a: str, b: str) -> float:
    pa, pb = points()[a], points()[b]
    return km_between((pa["latitude"], pa["longitude"]), (pb["latitude"], pb["longitude"]))


def speed_kmh(a: Seen, b: Seen) -> float:
    assert a.where and b.where
    hours = abs(b.t - a.t) / HOUR_MS
    return math.inf if hours == 0 else km_between(a.where, b.where) / hours


def case_named(seen: Iterable[Seen]) -> dict[str, set[Key]]:
    """network_id -> subjects given a role in any case update of that network."""
    named: dict[str, set[Key]] = defaultdict(set)
    for s in seen:
        if s.type == "case-update" and s.body["network_id"]:
            named[s.body["network_id"]] |= {s.subjects[r["subject_index"]] for r in s.body["subject_roles"]}
    return named


def firings(scenario: Scenario) -> dict[str, list[frozenset[str]]]:
    """Every event set on which each rule, at its default parameters, would fire."""
    seen = sorted(view(scenario).values(), key=lambda s: s.t)
    sightings = [s for s in seen if s.type == "sighting"]
    found: dict[str, list[frozenset[str]]] = defaultdict(list)

    withdrawn = defaultdict(list)
    for s in seen:
        if s.type == "case-update" and s.body["status"] == "WARRANT_WITHDRAWN":
            withdrawn[s.body["warrant_ref"]].append(s.t)
    by_subject: dict[Key, list[Seen]] = defaultdict(list)
    for s in sightings:
        for key in s.subjects:
            by_subject[key].append(s)

    def sighted(event: Seen) -> list[Seen]:
        return list({s.id: s for key in event.subjects for s in by_subject[key]}.values())

    for w in (s for s in seen if s.type == "case-update" and s.body["status"] == "WARRANT_ISSUED"):
        for s in sighted(w):
            cleared = any(w.t < t < s.t for t in withdrawn[w.body["warrant_ref"]])
            if s.t > w.t and set(w.subjects) & set(s.subjects) and not cleared:
                found["wanted_subject_sighted"].append(frozenset({w.id, s.id}))

    window = DEFAULTS["finance_border_window_hours"] * HOUR_MS
    for f in (s for s in seen if s.type == "finance-flag" and s.body["risk_score"] >= DEFAULTS["finance_risk_threshold"]):
        for s in sighted(f):
            if set(f.subjects) & set(s.subjects) and abs(s.t - f.t) <= window:
                found["flagged_money_meets_border"].append(frozenset({f.id, s.id}))

    window = DEFAULTS["convergence_window_hours"] * HOUR_MS
    for members in case_named(seen).values():
        present = [(s, set(s.subjects) & members) for s in sightings if set(s.subjects) & members]
        for s, mine in present:
            if len(mine) >= 2:
                found["network_convergence"].append(frozenset({s.id}))
        for (a, ma), (b, mb) in itertools.combinations(present, 2):
            if a.sites & b.sites and abs(a.t - b.t) <= window and len(ma | mb) >= 2:
                found["network_convergence"].append(frozenset({a.id, b.id}))

    reads: dict[Key, list[Seen]] = defaultdict(list)
    for s in sightings:
        for key in s.subjects:
            if key[0] in ("VEHICLE_PLATE", "VESSEL"):
                reads[key].append(s)
    limits = {"VEHICLE_PLATE": DEFAULTS["max_vehicle_speed_kmh"], "VESSEL": DEFAULTS["max_vessel_speed_kmh"]}
    for key, plate_reads in reads.items():
        for a, b in itertools.combinations(plate_reads, 2):
            apart = km_between(a.where, b.where) if a.where and b.where else 0.0
            if apart > DEFAULTS["convergence_radius_km"] and speed_kmh(a, b) > limits[key[0]]:
                found["implausible_movement"].append(frozenset({a.id, b.id}))
        for first in plate_reads:
            day = [r for r in plate_reads if first.t <= r.t <= first.t + 24 * HOUR_MS and r.point]
            if len({r.point for r in day}) >= DEFAULTS["distinct_points_per_day"]:
                found["implausible_movement"].append(frozenset(r.id for r in day))

    window = DEFAULTS["advert_window_days"] * 24 * HOUR_MS
    named_by: dict[Key, list[Seen]] = defaultdict(list)
    for s in seen:
        for key in set(s.subjects):
            named_by[key].append(s)
    for ad in (s for s in seen if s.type == "platform-report" and s.body["content_kind"] == "ADVERT"):
        phones = {k for k in ad.subjects if k[0] == "PHONE"}
        for s in (s for phone in phones for s in named_by[phone]):
            if s.type in ("sighting", "finance-flag") and phones & set(s.subjects) and 0 < s.t - ad.t <= window:
                found["advert_to_action"].append(frozenset({ad.id, s.id}))
    return found


def truth_keys(entries: Iterable[dict[str, Any]]) -> set[Key]:
    return {(e["kind"], identifiers.normalise(e["kind"], e["raw"], e.get("country"))) for e in entries}


def planted_keys(scenario: Scenario) -> set[Key]:
    keys: set[Key] = set()
    for network in scenario.ground_truth["networks"]:
        keys |= truth_keys(network["assets"])
        for member in network["members"]:
            keys |= truth_keys(member["subjects"])
    return keys


def events_of(scenario: Scenario, entry: dict[str, Any]) -> list[Seen]:
    seen = view(scenario)
    return [seen[event_id] for event_id in entry["event_ids"]]


def of_rule(scenario: Scenario, rule: str, key: str = "expected_alerts") -> list[dict[str, Any]]:
    return [entry for entry in scenario.ground_truth[key] if entry["rule"] == rule]


# --------------------------------------------------------------------------- the basics


def test_same_arguments_give_identical_scenarios(scenario: Scenario) -> None:
    again = build()
    assert again.events == scenario.events
    assert json.dumps(again.ground_truth, sort_keys=True) == json.dumps(scenario.ground_truth, sort_keys=True)


def test_different_seeds_give_different_worlds(scenario: Scenario) -> None:
    other = build(seed=8)
    assert {e.event_id for e in other.events}.isdisjoint(e.event_id for e in scenario.events)
    assert planted_keys(other).isdisjoint(planted_keys(scenario))


@pytest.mark.parametrize("count", [100, 101, 500, 1234])
def test_event_count_is_exact(count: int) -> None:
    assert len(build(event_count=count).events) == count


def test_too_few_events_names_the_minimum() -> None:
    with pytest.raises(ValueError, match=r"at least (\d+)") as raised:
        build(event_count=10)
    minimum = int(re.search(r"at least (\d+)", str(raised.value)).group(1))  # type: ignore[union-attr]
    at_minimum = build(event_count=minimum)
    assert len(at_minimum.events) == minimum
    planted = planted_keys(at_minimum)
    assert all(set(s.subjects) <= planted for s in view(at_minimum).values()), "the minimum holds planted events only"


def test_too_short_a_span_is_refused() -> None:
    with pytest.raises(ValueError, match="span_ms"):
        build(span_ms=6 * HOUR_MS)


def test_events_are_sorted_and_inside_the_window(scenario: Scenario) -> None:
    times = [e.occurred_at_ms for e in scenario.events]
    window = scenario.ground_truth["window"]
    assert times == sorted(times)
    assert window == {"start_ms": END_MS - 48 * HOUR_MS, "end_ms": END_MS}
    assert window["start_ms"] <= times[0] and times[-1] <= window["end_ms"]
    for event in scenario.events:
        parsed = datetime.fromisoformat(event.body["occurred_at"].replace("Z", "+00:00"))
        assert event.body["occurred_at"].endswith("Z") and int(parsed.timestamp() * 1000) == event.occurred_at_ms


def test_event_ids_are_unique_uuids(scenario: Scenario) -> None:
    ids = [e.event_id for e in scenario.events]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", i) for i in ids)


def test_each_agency_publishes_only_what_it_may(scenario: Scenario) -> None:
    agencies = {a["code"]: a for a in yaml.safe_load(AGENCIES.read_text())["agencies"]}
    for event in scenario.events:
        assert event.body["agency"] == event.agency
        assert event.event_type in agencies[event.agency]["publishes"], (event.agency, event.event_type)
        if event.event_type == "platform-report":
            assert event.body["platform"] in agencies[event.agency]["platforms"]
        if event.event_type == "sighting" and event.body["location"]["border_point"]:
            assert points()[event.body["location"]["border_point"]]["operated_by"] == event.agency
    assert {e.agency for e in scenario.events} == set(agencies), "every agency has traffic"


def test_every_body_passes_the_publisher(offline_bus: Bus, scenario: Scenario) -> None:
    """Schema, identifiers, subject indexes and meaning checks, exactly as the publisher runs them."""
    schemas = {t: offline_bus.schemas.latest(t) for t in ("sighting", "finance-flag", "case-update", "platform-report")}
    preparers = {
        code: EventPreparer(offline_bus.catalogue, schemas, agency) for code, agency in offline_bus.catalogue.agencies.items()
    }
    for event in scenario.events:
        assert "reported_at" not in event.body
        body = copy.deepcopy(event.body)  # the preparer rewrites subject_roles entries in place
        record = preparers[event.agency].prepare(event.event_type, body, now_ms=END_MS + 1000).record
        assert record["occurred_at"] == event.occurred_at_ms


def test_bodies_are_json_and_tlp_fits_the_event_type(scenario: Scenario) -> None:
    allowed = {
        "sighting": {"GREEN", "AMBER"},
        "platform-report": {"GREEN", "AMBER"},
        "finance-flag": {"AMBER", "AMBER+STRICT", "RED"},
        "case-update": {"AMBER", "AMBER+STRICT", "RED"},
    }
    for event in scenario.events:
        assert json.loads(json.dumps(event.body)) == event.body
        assert event.body["tlp"] in allowed[event.event_type]
        if event.event_type == "finance-flag":
            assert re.fullmatch(r"\d+\.\d{2}", event.body["amount"])
            assert all(party["subject_id"] is None for party in event.body["counterparties"])
        else:
            assert event.body["location"] is not None or event.event_type != "sighting"


def test_ibans_and_imo_numbers_carry_valid_check_digits(scenario: Scenario) -> None:
    lengths = {"GB": 22, "IQ": 23, "TR": 26, "DE": 22}
    subjects = [canonical(s) for e in scenario.events for s in e.body["subjects"]]
    ibans = [i for kind, i in subjects if kind == "BANK_ACCOUNT"]
    imos = [i for kind, i in subjects if kind == "VESSEL" and i.startswith("IMO:")]
    assert ibans and imos
    for iban in ibans:
        assert len(iban) == lengths[iban[:2]], iban
        assert int("".join(str(int(ch, 36)) for ch in iban[4:] + iban[:4])) % 97 == 1, iban
    for imo in imos:
        digits = imo.removeprefix("IMO:")
        assert sum(int(d) * w for d, w in zip(digits[:6], range(7, 1, -1), strict=True)) % 10 == int(digits[6])


def test_no_reserved_drama_numbers(scenario: Scenario) -> None:
    phones = [i for e in scenario.events for kind, i in map(canonical, e.body["subjects"]) if kind == "PHONE"]
    assert phones and not any(p.startswith("+4477009") for p in phones)


# --------------------------------------------------------------------------- ground truth


def test_ground_truth_shape_and_ids(scenario: Scenario, tmp_path: Path) -> None:
    truth = scenario.ground_truth
    assert truth["seed"] == 7 and truth["event_count"] == 500 and truth["rule_defaults"] == DEFAULTS
    ids = {e.event_id for e in scenario.events}
    for entry in truth["expected_alerts"] + truth["near_misses"]:
        assert set(entry["event_ids"]) <= ids
        times = [view(scenario)[i].t for i in entry["event_ids"]]
        assert times == sorted(times)
    assert len(truth["networks"]) == 2
    for network in truth["networks"]:
        assert network["case_ids"] and len(network["route"]) >= 3
        assert {m["role"] for m in network["members"]} >= {"ORGANISER", "FACILITATOR", "DRIVER", "FINANCIER", "MIGRANT"}
    path = tmp_path / "truth.json"
    write_ground_truth(scenario, path)
    assert json.loads(path.read_text()) == truth


def test_every_rule_has_an_expected_alert_and_a_near_miss(scenario: Scenario) -> None:
    for rule in RULES:
        assert of_rule(scenario, rule), rule
        assert of_rule(scenario, rule, "near_misses"), rule


def test_some_alert_is_corroborated_by_two_agencies(scenario: Scenario) -> None:
    assert any(len(alert["agencies"]) >= 2 for alert in scenario.ground_truth["expected_alerts"])


@pytest.mark.parametrize("which", ["scenario", "long_scenario"])
def test_rules_fire_exactly_on_the_expected_alerts(which: str, request: pytest.FixtureRequest) -> None:
    """No accidental alert from background or from planted events combining, and no expected
    alert that would not fire."""
    scenario: Scenario = request.getfixturevalue(which)
    found = firings(scenario)
    for rule in RULES:
        expected = [frozenset(a["event_ids"]) for a in of_rule(scenario, rule)]
        for firing in found[rule]:
            assert any(firing <= alert for alert in expected), (rule, sorted(firing))
        for alert in expected:
            # the pairs a rule fires on cover the planted alert exactly, nothing more
            assert frozenset().union(*(f for f in found[rule] if f <= alert)) == alert, (rule, sorted(alert))


def test_background_subjects_never_touch_planted_ones(scenario: Scenario) -> None:
    planted = planted_keys(scenario)
    background = 0
    for s in view(scenario).values():
        subjects = set(s.subjects)
        assert subjects <= planted or subjects.isdisjoint(planted), s.body
        background += subjects.isdisjoint(planted)
    assert background > 400


def test_background_vehicles_stay_plausible(scenario: Scenario) -> None:
    planted = planted_keys(scenario)
    reads: dict[Key, list[Seen]] = defaultdict(list)
    for s in view(scenario).values():
        for key in s.subjects:
            if key[0] == "VEHICLE_PLATE" and key not in planted and s.type == "sighting":
                reads[key].append(s)
    for plate_reads in reads.values():
        assert len(plate_reads) <= 2 and len({r.point for r in plate_reads}) <= 2
        for a, b in itertools.combinations(plate_reads, 2):
            assert a.point == b.point or speed_kmh(a, b) <= 60


# --------------------------------------------------------------------------- each rule, recomputed


def test_wanted_subject_sighted(scenario: Scenario) -> None:
    for alert in of_rule(scenario, "wanted_subject_sighted"):
        warrant, *sightings = events_of(scenario, alert)
        subject = truth_keys(alert["subjects"])
        assert warrant.type == "case-update" and warrant.body["status"] == "WARRANT_ISSUED"
        assert warrant.agency in ("uk-nca", "uk-cps") and warrant.body["warrant_ref"]
        for sighting in sightings:
            assert sighting.type == "sighting" and sighting.t > warrant.t
            assert subject <= set(warrant.subjects) and subject <= set(sighting.subjects)
            assert sighting.point == alert["border_point"]
        assert not [
            s
            for s in view(scenario).values()
            if s.body.get("status") == "WARRANT_WITHDRAWN" and s.body["warrant_ref"] == warrant.body["warrant_ref"]
        ]
    for miss in of_rule(scenario, "wanted_subject_sighted", "near_misses"):
        issued, withdrawn, sighting = events_of(scenario, miss)
        assert (issued.body["status"], withdrawn.body["status"]) == ("WARRANT_ISSUED", "WARRANT_WITHDRAWN")
        assert issued.body["warrant_ref"] == withdrawn.body["warrant_ref"]
        assert issued.t < withdrawn.t < sighting.t
        assert truth_keys(miss["subjects"]) <= set(issued.subjects) & set(sighting.subjects)


def _flag_and_sighting(scenario: Scenario, entry: dict[str, Any]) -> tuple[Seen, Seen]:
    events = events_of(scenario, entry)
    flag = next(e for e in events if e.type == "finance-flag")
    sighting = next(e for e in events if e.type == "sighting")
    return flag, sighting


@pytest.mark.parametrize("which", ["scenario", "long_scenario"])
def test_flagged_money_meets_border(which: str, request: pytest.FixtureRequest) -> None:
    scenario: Scenario = request.getfixturevalue(which)
    window, threshold = DEFAULTS["finance_border_window_hours"] * HOUR_MS, DEFAULTS["finance_risk_threshold"]
    orders = set()
    for alert in of_rule(scenario, "flagged_money_meets_border"):
        flag, sighting = _flag_and_sighting(scenario, alert)
        subject = truth_keys(alert["subjects"])
        assert flag.body["risk_score"] >= threshold
        assert subject <= set(flag.subjects) & set(sighting.subjects)
        assert {kind for kind, _ in subject} <= {"PERSON_DOCUMENT", "PHONE"}
        assert any(kind == "BANK_ACCOUNT" for kind, _ in flag.subjects)
        assert abs(sighting.t - flag.t) <= window
        orders.add("flag first" if flag.t < sighting.t else "sighting first")
    assert orders == {"flag first", "sighting first"}
    reasons = set()
    for miss in of_rule(scenario, "flagged_money_meets_border", "near_misses"):
        flag, sighting = _flag_and_sighting(scenario, miss)
        shared = set(flag.subjects) & set(sighting.subjects)
        if flag.body["risk_score"] < threshold:
            reasons.add("low risk")
            assert shared and abs(sighting.t - flag.t) <= window
        elif abs(sighting.t - flag.t) > window:
            reasons.add("too late")
            assert shared
        else:
            reasons.add("no shared subject")
            assert not shared
    assert {"low risk", "no shared subject"} <= reasons
    if which == "long_scenario":
        assert "too late" in reasons
    else:
        assert scenario.ground_truth["notes"], "the short span says which near miss it left out"


def test_network_convergence(scenario: Scenario) -> None:
    named = case_named(view(scenario).values())
    window = DEFAULTS["convergence_window_hours"] * HOUR_MS
    for entry, key in [(a, "alert") for a in of_rule(scenario, "network_convergence")] + [
        (m, "miss") for m in of_rule(scenario, "network_convergence", "near_misses")
    ]:
        first, second = events_of(scenario, entry)
        subjects = truth_keys(entry["subjects"])
        assert first.type == second.type == "sighting"
        assert len(subjects) == 2 and any(subjects <= members for members in named.values())
        assert set(first.subjects) & subjects != set(second.subjects) & subjects
        if key == "alert":
            assert second.t - first.t <= window and entry["border_point"] in first.sites & second.sites
            context = [view(scenario)[i] for i in entry["context_event_ids"]]
            assert context and all(c.type == "case-update" and subjects & set(c.subjects) for c in context)
        else:
            assert second.t - first.t > window or not first.sites & second.sites
    off_crossing = [e for e in of_rule(scenario, "network_convergence") if not all(s.point for s in events_of(scenario, e))]
    assert off_crossing, "a drone sighting off the crossing takes part in a convergence"


def limit_of(keys: set[Key]) -> int:
    ((kind, _),) = keys
    return DEFAULTS["max_vessel_speed_kmh"] if kind == "VESSEL" else DEFAULTS["max_vehicle_speed_kmh"]


def test_implausible_movement(scenario: Scenario) -> None:
    kinds = set()
    for alert in of_rule(scenario, "implausible_movement"):
        reads = events_of(scenario, alert)
        plate = truth_keys(alert["subjects"])
        assert all(plate <= set(r.subjects) and r.type == "sighting" for r in reads)
        if len(reads) == 2:
            kinds.add("too fast" if all(r.point for r in reads) else "too fast to a fix off the crossings")
            assert speed_kmh(*reads) > limit_of(plate)
        else:
            kinds.add("three points")
            assert len({r.point for r in reads}) >= 3 and reads[-1].t - reads[0].t <= 24 * HOUR_MS
    assert kinds == {"too fast", "three points", "too fast to a fix off the crossings"}
    for miss in of_rule(scenario, "implausible_movement", "near_misses"):
        a, b = events_of(scenario, miss)
        assert a.point != b.point and speed_kmh(a, b) <= limit_of(truth_keys(miss["subjects"]))


def test_advert_to_action(scenario: Scenario) -> None:
    seen = view(scenario).values()
    for alert in of_rule(scenario, "advert_to_action"):
        advert, later = events_of(scenario, alert)
        phone = truth_keys(alert["subjects"])
        assert advert.type == "platform-report" and advert.body["content_kind"] == "ADVERT"
        assert later.type in ("sighting", "finance-flag")
        assert phone <= set(advert.subjects) & set(later.subjects)
        assert 0 < later.t - advert.t <= DEFAULTS["advert_window_days"] * 24 * HOUR_MS
    for miss in of_rule(scenario, "advert_to_action", "near_misses"):
        (advert,) = events_of(scenario, miss)
        phone = truth_keys(miss["subjects"])
        assert phone <= set(advert.subjects)
        assert [s.id for s in seen if phone & set(s.subjects)] == [advert.id]


def test_a_live_scenario_plants_the_networks_asked_for(offline_bus: Bus) -> None:
    """The benchmark's live phases plant one network per thousand events, so their p99 rests on a hundred alerts."""
    from borderbus_simulator.driver import make_scenario

    default = make_scenario(offline_bus, seed=4, rate=100, duration=10)
    more = make_scenario(offline_bus, seed=4, rate=100, duration=10, networks=6)
    assert len(default.ground_truth["networks"]) == 2 and len(more.ground_truth["networks"]) == 6
    assert len(more.ground_truth["expected_alerts"]) >= 3 * len(default.ground_truth["expected_alerts"]) - 3
    assert len(more.events) == len(default.events) == 1000, "planted events take the place of background ones"
