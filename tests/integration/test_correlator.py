"""The correlator end to end on the real broker: ground truth recovered, crash-safe, scalable."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from borderbus.bus import Bus
from borderbus.dead_letter import HEADER_REASON, HEADER_SERVICE
from borderbus_simulator.driver import LibrarySender
from borderbus_simulator.scenario import Scenario, build_scenario
from chaos_checker import match_ground_truth
from correlator_worker import (
    AlertVersion,
    CorrelatorWorker,
    final_state,
    latest_versions,
    publish,
    read_alert_versions,
    wait_for_quiet_alerts,
    wait_for_settled_group,
)
from kafka_reading import read_all
from topic_namespace import own_topics

pytestmark = pytest.mark.broker

SEED = 11
EVENT_COUNT = 400
END_MS = int(time.time() * 1000) - 60_000  # fixed for the whole session, so every run sends identical events



@pytest.fixture(scope="module")
def scenario(offline_bus: Bus) -> Scenario:
    config_dir = offline_bus.settings.config_dir
    return build_scenario(
        seed=SEED,
        event_count=EVENT_COUNT,
        end_ms=END_MS,
        agencies_path=config_dir / "agencies.yaml",
        border_points_path=config_dir / "border_points.yaml",
    )


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[[Bus, str], CorrelatorWorker]]:
    started: list[CorrelatorWorker] = []

    def start(bus: Bus, name: str = "worker", stages: str | None = None) -> CorrelatorWorker:
        worker = CorrelatorWorker(bus, tmp_path, name, stages).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def assert_exactly_once_shape(versions: list[AlertVersion]) -> None:
    """No alert version twice, and each alert's versions are 1..n without gaps."""
    pairs = [(v.alert_id, v.version) for v in versions]
    assert len(pairs) == len(set(pairs)), "an alert version was published twice"
    by_alert: dict[str, list[int]] = {}
    for alert_id, version in pairs:
        by_alert.setdefault(alert_id, []).append(version)
    for alert_id, numbers in by_alert.items():
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), f"{alert_id} has versions {sorted(numbers)}"


@pytest.mark.parametrize("processes", [("fan-out,correlate,alert-publisher",), ("fan-out", "correlate,alert-publisher")])
def test_ground_truth_is_recovered_with_nothing_outside_it(
    fresh_bus: Bus, scenario: Scenario, workers: Any, processes: tuple[str, ...]
) -> None:
    """One worker, as one process or as its stages in two (``--stages``)."""
    started = [workers(fresh_bus, f"worker-{n}", stages) for n, stages in enumerate(processes)]
    publish(fresh_bus, scenario)
    versions = wait_for_quiet_alerts(fresh_bus, minimum=len(scenario.ground_truth["expected_alerts"]))
    alerts = latest_versions(versions)
    missing, unexpected = match_ground_truth(scenario.ground_truth, alerts)
    assert missing == [], json.dumps(missing, indent=1)[:3000]
    assert unexpected == [], unexpected[:5]
    assert_exactly_once_shape(versions)
    for alert in alerts.values():
        assert alert.allowed_agencies, alert

    metrics = "".join(worker.metrics() for worker in started)
    assert "borderbus_correlator_events_consumed_total{" in metrics
    assert f"borderbus_correlator_event_to_alert_latency_seconds_count {float(len(versions))}" in metrics
    for rule in {a.rule for a in alerts.values()}:
        assert f'borderbus_correlator_alert_versions_emitted_total{{rule="{rule}"' in metrics


def test_sigkill_and_restart_equals_an_uninterrupted_run(bus: Bus, scenario: Scenario, workers: Any) -> None:
    """The whole scenario, withdrawn warrants included: the restart replays a backlog in another order."""
    runs = {}
    for mode in ("uninterrupted", "killed"):
        run_bus = own_topics(bus, f"kill-{mode}")
        worker = workers(run_bus, mode)
        stream = threading.Thread(target=publish, args=(run_bus, scenario))
        stream.start()
        if mode == "killed":
            deadline = time.monotonic() + 120
            while not read_alert_versions(run_bus, timeout=1.0, partial=True):  # mid-stream: some alerts out, more to come
                assert time.monotonic() < deadline, "no alert before the kill"
                time.sleep(0.2)
            worker.kill()
            worker.start()  # same port, same instance id: it fences what the killed one left open
            sources = len(run_bus.catalogue.ingest_topics()) * 6 + 6
            wait_for_settled_group([worker], sources)  # the dead member's session has to expire first
        stream.join()
        runs[mode] = wait_for_quiet_alerts(
            run_bus, minimum=len(scenario.ground_truth["expected_alerts"]), settle=12.0, workers=[worker]
        )
    assert_exactly_once_shape(runs["killed"])
    assert final_state(runs["killed"]) == final_state(runs["uninterrupted"])


def test_two_workers_give_the_same_alerts_as_one(bus: Bus, scenario: Scenario, workers: Any) -> None:
    results = {}
    for count in (1, 2):
        run_bus = own_topics(bus, f"scale{count}")
        started = [workers(run_bus, f"w{i}") for i in range(count)]
        sources = len(run_bus.catalogue.ingest_topics()) * 6 + 6  # ingest and by-subject partitions
        wait_for_settled_group(started, sources)
        publish(run_bus, scenario)
        results[count] = wait_for_quiet_alerts(
            run_bus, minimum=len(scenario.ground_truth["expected_alerts"]), workers=started
        )
        if count == 2:
            consumed = [m for m in (w.metrics() for w in started) if "borderbus_correlator_events_consumed_total{" in m]
            assert len(consumed) == 2, "both workers should have processed part of the stream"
    assert_exactly_once_shape(results[2])
    assert final_state(results[2]) == final_state(results[1])


def test_bad_and_late_records_are_dead_lettered_and_counted(fresh_bus: Bus, scenario: Scenario, workers: Any) -> None:
    worker = workers(fresh_bus)
    publish(fresh_bus, scenario, rate=400)
    wait_for_quiet_alerts(fresh_bus, minimum=1)
    sighting = next(e for e in scenario.events if e.event_type == "sighting")
    late = {
        **sighting.body,
        "event_id": str(uuid.uuid4()),
        "occurred_at": sighting.occurred_at_ms - 40 * 24 * 3600 * 1000,  # beyond the 37-day retention
    }
    sender = LibrarySender(fresh_bus, instance_id="late-test")
    try:
        sender(sighting.agency, "sighting", [late])
    finally:
        sender.close()
    producer = Producer(fresh_bus.settings.producer_config())
    producer.produce(fresh_bus.catalogue.ingest_topic("uk-bf", "sighting"), key=b"garbage", value=b"not avro at all")
    assert producer.flush(10) == 0

    deadline = time.monotonic() + 60
    reasons: set[str] = set()
    while time.monotonic() < deadline and not {"bad_marker", "late_event"} <= reasons:
        letters = read_all(fresh_bus.settings, fresh_bus.catalogue.topic("borderbus.deadletter"), timeout=5)
        headers = [{k: v.decode() for k, v in m.headers() or []} for m in letters]
        reasons = {h[HEADER_REASON] for h in headers if h.get(HEADER_SERVICE) == "correlator"}
    assert {"bad_marker", "late_event"} <= reasons
    metrics = worker.metrics()
    assert 'borderbus_correlator_late_events_total{event_type="sighting"}' in metrics
    assert 'borderbus_dead_letter_records_total{reason="bad_marker",service="correlator"}' in metrics


def send(bus: Bus, agency: str, event_type: str, bodies: list[dict[str, Any]]) -> None:
    sender = LibrarySender(bus, instance_id=f"test-{uuid.uuid4().hex[:6]}")
    try:
        sender(agency, event_type, bodies)
    finally:
        sender.close()


def wait_for_version(bus: Bus, alert_filter: Callable[[AlertVersion], bool], timeout: float = 90.0) -> AlertVersion:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [v for v in read_alert_versions(bus, timeout=2.0, partial=True) if alert_filter(v)]
        if found:
            return max(found, key=lambda v: v.version)
        time.sleep(0.5)
    raise AssertionError("no such alert version within the timeout")


def test_a_withdrawal_that_arrives_after_the_sighting_retracts_the_alert_and_a_correction_is_applied(
    fresh_bus: Bus, scenario: Scenario, workers: Any
) -> None:
    """The withdrawn-warrant near miss delivered in the wrong order, then an agency correcting its own sighting."""
    workers(fresh_bus)
    near_miss = next(n for n in scenario.ground_truth["near_misses"] if "withdrawn" in n["why_silent"])
    planned = {e.body["event_id"]: e for e in scenario.events if e.body["event_id"] in near_miss["event_ids"]}
    issued, withdrawn, sighting = (planned[event_id] for event_id in near_miss["event_ids"])
    for event in (issued, sighting):  # the withdrawal is held back, as a slow case system would
        send(fresh_bus, event.agency, event.event_type, [event.body])
    raised = wait_for_version(fresh_bus, lambda v: v.rule == "wanted_subject_sighted" and sighting.body["event_id"] in v.evidence)
    assert raised.status == "OPEN"

    send(fresh_bus, withdrawn.agency, withdrawn.event_type, [withdrawn.body])
    retracted = wait_for_version(fresh_bus, lambda v: v.alert_id == raised.alert_id and v.status == "RETRACTED")
    assert retracted.version == raised.version + 1
    assert retracted.retraction_reason == "warrant_withdrawn"

    # a sighting from before the withdrawal raises the alert again; then its agency retracts that sighting
    early = {**sighting.body, "event_id": str(uuid.uuid4()), "occurred_at": issued.occurred_at_ms + 60_000}
    send(fresh_bus, sighting.agency, "sighting", [early])
    reraised = wait_for_version(fresh_bus, lambda v: v.alert_id == raised.alert_id and early["event_id"] in v.evidence)
    assert reraised.status == "OPEN"
    retraction = {**early, "event_id": str(uuid.uuid4()), "revises": {"event_id": early["event_id"], "action": "RETRACT",
                                                                      "reason": "scanner fault"}}
    send(fresh_bus, sighting.agency, "sighting", [retraction])
    final = wait_for_version(fresh_bus, lambda v: v.alert_id == raised.alert_id and v.version > reraised.version)
    assert final.status == "RETRACTED" and final.retraction_reason == "event_retracted", final


def test_undecodable_internal_records_are_dead_lettered_not_crash_looped(fresh_bus: Bus, workers: Any) -> None:
    worker = workers(fresh_bus)
    producer = Producer(fresh_bus.settings.producer_config())
    reasons = {  # routes are JSON (an Avro route is read too), findings Avro
        fresh_bus.catalogue.topic("correlator.by-subject"): "corrupt_body",
        fresh_bus.catalogue.topic("correlator.decisions"): "bad_marker",
    }
    for topic in reasons:
        producer.produce(topic, key=b"PHONE:+441234", value=b"{\"json\": \"from an old build\"}")
    assert producer.flush(10) == 0
    deadline = time.monotonic() + 60
    found: dict[str, str] = {}
    while time.monotonic() < deadline and len(found) < 2:
        letters = read_all(fresh_bus.settings, fresh_bus.catalogue.topic("borderbus.deadletter"), timeout=3)
        headers = [{k: v.decode() for k, v in m.headers() or []} for m in letters]
        found = {h["dlq.source.topic"]: h[HEADER_REASON] for h in headers if h.get(HEADER_SERVICE) == "correlator"}
    assert found == reasons
    assert worker.process is not None and worker.process.poll() is None, "the worker keeps running"


@pytest.mark.parametrize("thread", ["fan-out", "correlate", "alert-publisher"])
def test_a_worker_whose_thread_dies_exits_non_zero(fresh_bus: Bus, tmp_path: Path, thread: str) -> None:
    worker = CorrelatorWorker(fresh_bus, tmp_path, f"dies-{thread}")
    worker.extra_env["BORDERBUS_INJECT_FAULT"] = thread
    with pytest.raises(RuntimeError, match="exited with 70"):
        worker.start(timeout=120)
    assert f"thread {thread} died" in worker.log()
