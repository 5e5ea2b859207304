"""The correlator's steps without a broker: the simulator's ground truth, replays, and any order."""

from __future__ import annotations

import random
import time

import pytest

from borderbus.bus import Bus
from borderbus.catalogue import EVENT_TYPES
from borderbus.events import EventPreparer
from borderbus_correlator.alert_book import AlertBook
from borderbus_correlator.model import Observation
from borderbus_correlator.observation import observe
from borderbus_correlator.pipeline import InMemoryPipeline
from borderbus_correlator.rule_config import load_rule_config
from borderbus_simulator.scenario import Scenario, build_scenario


@pytest.fixture(scope="module")
def world(offline_bus: Bus) -> tuple[Scenario, list[Observation]]:
    config_dir = offline_bus.settings.config_dir
    scenario = build_scenario(
        seed=21,
        event_count=600,
        end_ms=int(time.time() * 1000) - 60_000,
        agencies_path=config_dir / "agencies.yaml",
        border_points_path=config_dir / "border_points.yaml",
    )
    schemas = {event_type: offline_bus.schemas.latest(event_type) for event_type in EVENT_TYPES}
    observations = []
    for planned in scenario.events:
        preparer = EventPreparer(offline_bus.catalogue, schemas, offline_bus.catalogue.agency(planned.agency))
        observations.append(
            observe(planned.agency, planned.event_type, preparer.prepare(planned.event_type, planned.body).record)
        )
    return scenario, observations


def pipeline(bus: Bus) -> InMemoryPipeline:
    catalogue = bus.catalogue
    return InMemoryPipeline(
        load_rule_config(bus.settings.config_dir / "rules.yaml"),
        catalogue.border_points,
        AlertBook(catalogue.agencies, catalogue.border_points),
    )


def final(run: InMemoryPipeline) -> dict[str, tuple[str, str, frozenset[str]]]:
    """The standing alerts: a retracted one is no alert, whichever order led to it."""
    standing = {key: state for key, state in run.alerts.items() if state.status == "OPEN"}
    return {key: (state.rule, state.severity, frozenset(state.evidence)) for key, state in standing.items()}


def test_ground_truth_recovered_exactly(offline_bus: Bus, world: tuple[Scenario, list[Observation]]) -> None:
    scenario, observations = world
    run = pipeline(offline_bus)
    run.process(observations)
    expected = scenario.ground_truth["expected_alerts"]
    assert all(a.status == "OPEN" for a in run.alerts.values()), "in event-time order nothing needs retracting"
    planted = sorted((e["rule"], sorted({*e["event_ids"], *e["context_event_ids"]})) for e in expected)
    raised = sorted((a.rule, sorted(a.evidence)) for a in run.alerts.values())
    assert raised == planted, "every planted alert with exactly its evidence, and nothing else"
    assert run.late == []


def test_replaying_everything_publishes_nothing_new(offline_bus: Bus, world: tuple[Scenario, list[Observation]]) -> None:
    _, observations = world
    run = pipeline(offline_bus)
    run.process(observations)
    before = final(run)
    assert run.process(observations) == []
    assert final(run) == before


def test_out_of_order_within_lateness_gives_the_same_alerts(offline_bus: Bus, world: tuple[Scenario, list[Observation]]) -> None:
    _, observations = world
    in_order = pipeline(offline_bus)
    in_order.process(observations)
    shuffled = list(observations)
    rng = random.Random(4)
    for start in range(0, len(shuffled), 40):  # reorder within blocks of a few hours of event time
        block = shuffled[start : start + 40]
        rng.shuffle(block)
        shuffled[start : start + 40] = block
    out_of_order = pipeline(offline_bus)
    out_of_order.process(shuffled)
    assert final(out_of_order) == final(in_order)


def test_events_older_than_the_retention_are_set_aside(
    offline_bus: Bus, world: tuple[Scenario, list[Observation]]
) -> None:
    _, observations = world
    run = pipeline(offline_bus)
    run.process(observations)
    old = observations[-1]
    stale = Observation(
        event_id="late-0001",
        agency=old.agency,
        event_type=old.event_type,
        occurred_at_ms=old.occurred_at_ms - run.cfg.retention_ms - 3600 * 1000,
        reported_at_ms=old.reported_at_ms,
        tlp=old.tlp,
        subjects=old.subjects,
        border_point=old.border_point,
        facts=old.facts,
    )
    run.process([stale])
    assert {route.target for route in run.late} == set(old.subjects)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_any_arrival_order_of_the_whole_scenario_gives_the_same_standing_alerts(
    offline_bus: Bus, world: tuple[Scenario, list[Observation]], seed: int
) -> None:
    """What a replay after a crash does: every topic in another order, days of event time apart."""
    _, observations = world
    in_order = pipeline(offline_bus)
    in_order.process(observations)
    shuffled = list(observations)
    random.Random(seed).shuffle(shuffled)
    replayed = pipeline(offline_bus)
    replayed.process(shuffled)
    assert final(replayed) == final(in_order)
    retracted = [a for a in replayed.alerts.values() if a.status == "RETRACTED"]
    assert all(a.retraction and a.retraction["reason"] for a in retracted)
