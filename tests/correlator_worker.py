"""Run correlator workers as real processes (so a test can SIGKILL one) and read what they publish."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from confluent_kafka import KafkaException

from borderbus import codec
from borderbus.bus import Bus
from borderbus.schema_registry import SchemaRegistry
from borderbus_simulator.driver import LibrarySender, send_scenario
from borderbus_simulator.scenario import Scenario
from kafka_reading import read_to_end
from service_process import ServiceProcess


class CorrelatorWorker(ServiceProcess):
    """``borderbus correlator run`` in a child process, logging to a file.

    Supervised like a pod: a worker that ends itself with status 70 (a dead thread) is started
    again on the same port, as Kubernetes would; ``restarts`` counts how often.
    """

    def __init__(self, bus: Bus, log_dir: Path, name: str = "worker", stages: str | None = None) -> None:
        """``stages``: only these (``--stages``), else all three in one process."""
        args = ["correlator", "run", *(["--stages", stages] if stages else [])]
        super().__init__(bus, log_dir, name, args, port_option="--web-port")
        self.restarts = 0
        self._supervisor: threading.Thread | None = None
        self._supervising = threading.Event()

    def start(self, timeout: float = 90.0) -> Self:
        super().start(timeout)
        if self._supervisor is None or not self._supervisor.is_alive():
            self._supervising.set()
            self._supervisor = threading.Thread(target=self._supervise, daemon=True)
            self._supervisor.start()
        return self

    def stop(self) -> None:
        self._supervising.clear()
        super().stop()

    def _supervise(self) -> None:
        while self._supervising.is_set():
            time.sleep(0.5)
            process = self.process
            if process is not None and process.poll() == 70 and self._supervising.is_set():
                self.restarts += 1
                with contextlib.suppress(RuntimeError):  # ended again before answering: the next round starts it again
                    ServiceProcess.start(self)

    def assigned_partitions(self) -> int:
        with urllib.request.urlopen(f"{self.url}/assignment", timeout=5) as response:
            return int(json.loads(response.read())["partitions"])


@dataclass(frozen=True)
class AlertVersion:
    alert_id: str
    version: int
    rule: str
    severity: str
    evidence: frozenset[str]
    subjects: frozenset[str]
    tlp: str
    allowed_agencies: frozenset[str]
    status: str = "OPEN"
    retraction_reason: str | None = None


def read_alert_versions(bus: Bus, *, timeout: float = 10.0, partial: bool = False) -> list[AlertVersion]:
    """Every alert version on the alerts topic (committed ones only), decoded: the topic read to the end of every
    partition, without joining a group.

    A read that cannot reach every end within ``timeout`` (a slow broker after a restart) raises
    :class:`PartitionsNotRead`: a count taken from it would be a guess, and a caller waiting for the count to
    stop changing would take the guess for a change. ``partial``: return what was read by then instead.
    """
    registry = SchemaRegistry(bus.settings, known=bus.schemas)
    schema = bus.schemas.latest("alert")
    versions = []
    for message in read_to_end(bus.settings, bus.catalogue.topic("alerts.shared"), timeout=timeout, partial=partial):
        record = codec.decode(message.value() or b"", schema, registry.lookup)
        versions.append(
            AlertVersion(
                alert_id=record["alert_id"],
                version=record["version"],
                rule=record["rule"],
                severity=record["severity"],
                evidence=frozenset(item["event_id"] for item in record["evidence"]),
                subjects=frozenset(f"{s['kind']}:{s['id']}" for s in record["subjects"]),
                tlp=record["tlp"],
                allowed_agencies=frozenset(record["allowed_agencies"]),
                status=record["status"],
                retraction_reason=(record["retraction"] or {}).get("reason"),
            )
        )
    return versions


def latest_versions(versions: list[AlertVersion]) -> dict[str, AlertVersion]:
    latest: dict[str, AlertVersion] = {}
    for version in versions:
        if version.alert_id not in latest or version.version > latest[version.alert_id].version:
            latest[version.alert_id] = version
    return latest


def not_caught_up(workers: list[CorrelatorWorker]) -> list[str]:
    """Why some worker is not caught up: it does not answer, or its correlate stage has by-subject records waiting."""
    reasons = []
    for worker in workers:
        try:
            metrics = worker.metrics()
        except OSError as error:
            reasons.append(f"{worker.log_path.stem} does not answer ({error})")
            continue
        if "borderbus_correlator_stage_waiting_records 0.0" not in metrics:
            waiting = [line for line in metrics.splitlines() if line.startswith("borderbus_correlator_stage_waiting_records")]
            reasons.append(f"{worker.log_path.stem}: {waiting or 'no waiting gauge yet'}")
    return reasons


def wait_for_quiet_alerts(
    bus: Bus, *, settle: float = 8.0, timeout: float = 180.0, minimum: int = 1, workers: list[CorrelatorWorker] | None = None
) -> list[AlertVersion]:
    """Poll the alerts topic until at least ``minimum`` versions exist, no new one came for ``settle`` seconds,
    and (given ``workers``) every worker has caught up: a worker being restarted is not quiet, only absent.
    A reading that failed or could not reach the topic's end in time says nothing, either way."""
    deadline = time.monotonic() + timeout
    last_count, last_change = -1, time.monotonic()
    waiting_on = "no complete reading of the alerts topic"
    while time.monotonic() < deadline:
        try:
            versions = read_alert_versions(bus, timeout=10.0)
        except KafkaException as error:  # not read to the end in time (PartitionsNotRead), or no answer at all
            waiting_on = str(error)
            time.sleep(1.0)
            continue
        if len(versions) != last_count:
            last_count, last_change = len(versions), time.monotonic()
            waiting_on = "the count changed"
        elif len(versions) < minimum:
            waiting_on = f"fewer than {minimum} versions"
        elif time.monotonic() - last_change >= settle:
            reasons = not_caught_up(workers or [])
            if not reasons:
                return versions
            waiting_on = "; ".join(reasons)
        time.sleep(1.0)
    raise AssertionError(f"alerts did not settle within {timeout} s (last count {last_count}; waiting on: {waiting_on})")


def wait_for_settled_group(workers: list[CorrelatorWorker], total: int, timeout: float = 90.0) -> None:
    """Until the workers together hold all ``total`` source partitions, each holding some, for 3 s.

    A worker that does not answer is reported as such, not as holding nothing: the two look alike
    from outside and have different causes.
    """
    deadline = time.monotonic() + timeout
    stable_since: float | None = None
    counts: list[int | str] = []
    while time.monotonic() < deadline:
        counts = []
        for worker in workers:
            try:
                counts.append(worker.assigned_partitions())
            except OSError as error:
                counts.append(f"no answer ({error})")
        numbers = [c for c in counts if isinstance(c, int)]
        if len(numbers) == len(counts) and sum(numbers) == total and all(numbers):
            stable_since = stable_since or time.monotonic()
            if time.monotonic() - stable_since >= 3.0:
                return
        else:
            stable_since = None
        time.sleep(0.5)
    raise AssertionError(f"consumer group did not settle: {counts} of {total}")


STREAM_RATE = 50.0  # events/s: two days of border activity in 8 s, an hour of event time in 170 ms


def publish(bus: Bus, scenario: Scenario, rate: float = STREAM_RATE) -> None:
    """Send the scenario in event-time order, as agencies would report it live."""
    sender = LibrarySender(bus, instance_id="correlator-test")
    try:
        report = send_scenario(scenario.events, sender, rate=rate)
    finally:
        sender.close()
    assert not report.refused, report.errors[:3]


def final_state(versions: list[AlertVersion]) -> dict[str, tuple[str, str, frozenset[str]]]:
    """The standing alerts, exactly: a retracted alert is no alert, whichever arrival order led to it."""
    standing = {alert_id: v for alert_id, v in latest_versions(versions).items() if v.status == "OPEN"}
    return {alert_id: (v.rule, v.severity, v.evidence) for alert_id, v in standing.items()}


