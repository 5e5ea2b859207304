"""A chaos run: the whole bus on real processes while a seeded fault schedule kills and pauses its parts.

The simulator's scenario goes through the agencies' HTTP APIs (one sender thread per agency, retrying
every batch with the same ``event_id`` values until it is answered 202); meanwhile a schedule drawn
from ``seed`` SIGKILLs or pauses (SIGSTOP, then SIGCONT) agency services, the correlator workers, the
duty desk and one broker of the three-node cluster at a time, each brought back after a random delay.
An officer resolves alerts through the desk meanwhile. When the schedule ends everything is brought
back, the run waits until the bus settles, reads every topic with a read_committed consumer, replays
the desk's logs into a fresh :class:`~borderbus_desk.state.DeskState`, and :mod:`chaos_checker`
classifies the anomalies. ``make chaos`` (tests/bench/chaos.py) and tests/integration/test_chaos.py
run it.

Each attempt sends its own ``reported_at`` (a marker unique per attempt), so the checker can tell
which attempt wrote a record although retries reuse the event id.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import os
import queue
import random
import signal
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient

from agency_clients import write_clients
from borderbus import codec
from borderbus.access import AccessPolicy
from borderbus.acls import apply_users
from borderbus.bus import Bus
from borderbus.catalogue import ALERT_ACTIONS_TOPIC, ALERTS_TOPIC
from borderbus.config import Settings
from borderbus.schema_registry import SchemaRegistry
from borderbus_desk.state import Action, DeskState, visible_to
from borderbus_simulator.scenario import Scenario, build_scenario, iso_millis
from chaos_checker import ACCEPTED, FAILED, REFUSED, UNKNOWN, Attempt, IngestRecord, Version, check, render_text
from correlator_worker import read_alert_versions, wait_for_quiet_alerts
from desk_process import DeskProcess
from kafka_reading import read_all
from local_kafka import LocalKafkaCluster
from service_process import ServiceProcess
from topic_namespace import apply_namespace

TICK_SECONDS = 0.2
HTTP_TIMEOUT_S = 15.0
PROBE_EVERY = 25
"""Every so many batches an agency's sender also sends a request that must be refused (422)."""
CHAOS_DESK_CONFIG = {
    # No automatic escalation: an escalation racing a retraction is decided by arrival order (see the note
    # in the report), and the replay would not see the race as the live desk did.
    "acknowledgement_deadlines_seconds": {"CRITICAL": None, "HIGH": None, "MEDIUM": None, "LOW": None},
    "note_required": ["RESOLVE", "FALSE_POSITIVE", "ESCALATE"],
    "checkpoint_interval_seconds": 2,
    "webhooks": [],
}


@dataclass(frozen=True)
class Fault:
    at: float
    kind: str  # "kill" or "pause"
    target: str  # "agency:<code>", "worker:<n>", "desk", "broker:<n>"
    duration: float  # seconds until restart (kill) or SIGCONT (pause)

    def __str__(self) -> str:
        verb = "SIGKILL" if self.kind == "kill" else "SIGSTOP"
        back = "restart" if self.kind == "kill" else "SIGCONT"
        return f"t={self.at:6.1f}s {verb} {self.target}, {back} after {self.duration:.1f}s"


def fault_schedule(seed: int, seconds: float, targets: list[str], *, mean_gap: float) -> list[Fault]:
    """A random but reproducible schedule: the same seed and targets give the same faults."""
    rng = random.Random(f"chaos:{seed}")
    weights = {"agency": 3.0, "worker": 2.5, "desk": 1.5, "broker": 3.0}
    kinds = sorted({t.split(":")[0] for t in targets})
    faults = []
    at = rng.uniform(3.0, 6.0)
    while at < seconds:
        kind = rng.choices(kinds, [weights[k] for k in kinds])[0]
        target = rng.choice(sorted(t for t in targets if t.split(":")[0] == kind))
        action = rng.choice(("kill", "pause"))
        duration = rng.uniform(2.0, 12.0) if kind == "broker" else rng.uniform(1.0, 8.0)
        faults.append(Fault(round(at, 1), action, target, round(duration, 1)))
        at += rng.uniform(0.4, 1.6) * mean_gap
    return faults


class Service:
    """A service process the run may kill, pause, resume and restart; a supervisor restarts it when it
    exits on its own (a dead thread ends a service with status 70, for its supervisor to restart)."""

    def __init__(self, name: str, process: ServiceProcess) -> None:
        self.name, self.process = name, process
        self.lock = threading.Lock()
        self.faulted = False
        self.unplanned_exits = 0

    def alive(self) -> bool:
        popen = self.process.process
        return popen is not None and popen.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        popen = self.process.process
        if popen is not None and popen.poll() is None:
            popen.send_signal(sig)
            if sig == signal.SIGKILL:
                popen.wait(10)

    def start(self) -> None:
        for attempt in range(5):
            try:
                self.process.start(timeout=120)
                return
            except RuntimeError:
                self.signal(signal.SIGKILL)
                if attempt == 4:
                    raise
                time.sleep(2)


class Broker:
    """One node of the cluster, driven by pid through kafka.sh."""

    def __init__(self, cluster: LocalKafkaCluster, node: int) -> None:
        self.cluster, self.node, self.name = cluster, node, f"broker:{node}"
        self.failures: list[str] = []
        self.lock = threading.Lock()
        self.faulted = False
        self.unplanned_exits = 0

    def alive(self) -> bool:
        return self.cluster.node_pid(self.node) is not None

    def signal(self, sig: signal.Signals) -> None:
        pid = self.cluster.node_pid(self.node)
        if pid is not None:
            os.kill(pid, sig)
            if sig == signal.SIGKILL:
                deadline = time.monotonic() + 10
                while self.cluster.node_pid(self.node) is not None and time.monotonic() < deadline:
                    time.sleep(0.2)

    def start(self) -> None:
        """Start the node again; a second try if the first fails (the reason is kept in the fault log)."""
        try:
            self.cluster.start_node(self.node)
        except RuntimeError as error:
            self.failures.append(str(error)[-3000:])
            self.cluster.start_node(self.node)


@dataclass
class Run:
    """What happened: the clients' history, the faults, the timings."""

    attempts: list[Attempt] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    skipped: int = 0
    fault_log: list[str] = field(default_factory=list)
    actions_acknowledged: list[str] = field(default_factory=list)
    officer_errors: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, attempt: Attempt) -> None:
        with self.lock:
            self.attempts.append(attempt)


class Markers:
    """Unique, increasing ``reported_at`` values (ms), one per attempt."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._last = max(self._last + 1, int(time.time() * 1000))
            return self._last


class AgencySender(threading.Thread):
    """Sends one agency's batches in order; each is retried with the same event ids until answered 202."""

    def __init__(
        self, code: str, url: str, token: str, bus: Bus, run: Run, markers: Markers, give_up_at: Callable[[], float]
    ) -> None:
        super().__init__(name=f"sender-{code}", daemon=True)
        self.code, self.url, self.token, self.bus, self.run_log, self.markers = code, url, token, bus, run, markers
        self.give_up_at = give_up_at
        self.batches: queue.Queue[tuple[str, list[dict[str, Any]]] | None] = queue.Queue()
        self.sent = 0
        self.abandoned = 0

    def post(self, event_type: str, bodies: list[dict[str, Any]]) -> tuple[str, int | None]:
        request = urllib.request.Request(
            f"{self.url}/v1/events/{event_type}",
            data=json.dumps(bodies).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
                response.read()
                return (ACCEPTED if response.status == 202 else UNKNOWN), response.status
        except urllib.error.HTTPError as error:
            error.read()
            if error.code == 503:
                return FAILED, 503
            if 400 <= error.code < 500 and error.code not in (408, 429):
                return REFUSED, error.code
            return UNKNOWN, error.code
        except (OSError, ValueError):  # refused, reset, timed out: the request may have been processed
            return UNKNOWN, None

    def attempt(self, event_type: str, bodies: list[dict[str, Any]]) -> str:
        marker = self.markers.next()
        stamped = [{**body, "reported_at": iso_millis(marker)} for body in bodies]
        outcome, status = self.post(event_type, stamped)
        topic = self.bus.catalogue.ingest_topic(self.code, event_type)
        self.run_log.record(Attempt(topic, tuple(str(b["event_id"]) for b in bodies), marker, outcome, status))
        return outcome

    def probe(self, event_type: str, body: dict[str, Any]) -> None:
        """A request that must be refused as a whole: one valid event and one with an unreadable time."""
        good = {**copy.deepcopy(body), "event_id": str(uuid.uuid4())}
        bad = {**copy.deepcopy(body), "event_id": str(uuid.uuid4()), "occurred_at": "not a time"}
        self.attempt(event_type, [good, bad])

    def run(self) -> None:
        while True:
            item = self.batches.get()
            if item is None:
                return
            event_type, bodies = item
            self.sent += 1
            if self.sent % PROBE_EVERY == 0:
                self.probe(event_type, bodies[0])
            delay = 0.3
            while self.attempt(event_type, bodies) != ACCEPTED:
                if time.monotonic() > self.give_up_at():
                    self.abandoned += len(bodies)
                    break
                time.sleep(delay)
                delay = min(delay * 2, 3.0)


def feed(scenario: Scenario, senders: dict[str, AgencySender], rate: float, stop: threading.Event) -> None:
    """The scenario at ``rate`` events/s: each tick, one batch per agency and type (like send_scenario)."""
    per_tick = max(1, round(rate * TICK_SECONDS))
    started = time.monotonic()
    events = scenario.events
    for tick, start in enumerate(range(0, len(events), per_tick)):
        if stop.is_set():
            return
        chunk = sorted(events[start : start + per_tick], key=lambda e: (e.agency, e.event_type))
        for (agency, event_type), group in groupby(chunk, key=lambda e: (e.agency, e.event_type)):
            senders[agency].batches.put((event_type, [copy.deepcopy(e.body) for e in group]))
        delay = started + (tick + 1) * TICK_SECONDS - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def officer_loop(desk: DeskProcess, officers: list[str], run: Run, stop: threading.Event, seed: int) -> None:
    """Resolve some new alerts through the desk while faults happen (every action must reach the log)."""
    rng = random.Random(f"officer:{seed}")
    while not stop.wait(3.0):
        officer = rng.choice(officers)
        try:
            status, body = desk.request(officer, "GET", "/api/v1/alerts?status=new")
            if status != 200 or not body["alerts"] or rng.random() < 0.5:
                continue
            alert = rng.choice(body["alerts"])
            note = f"chaos {uuid.uuid4()}"
            path = f"/api/v1/alerts/{alert['alert_id']}/actions"
            status, body = desk.request(officer, "POST", path, {"action": "RESOLVE", "note": note})
        except (OSError, ValueError) as error:
            run.officer_errors[type(error).__name__] += 1
            continue
        if status == 202:
            run.actions_acknowledged.append(str(body["action_id"]))
        elif status == 200:
            run.actions_acknowledged += [a["action_id"] for a in body["actions"] if a.get("note") == note]
        else:
            run.officer_errors[str(status)] += 1


def ingest_records(bus: Bus) -> list[IngestRecord]:
    """Every committed record of every ingest topic, with its event id and reported_at."""
    registry = SchemaRegistry(bus.settings, known=bus.schemas)
    topics = {bus.catalogue.ingest_topic(code, t): t for code, agency in bus.catalogue.agencies.items() for t in agency.publishes}
    records = []
    for message in read_all(bus.settings, list(topics), timeout=120):
        topic = message.topic() or ""
        value = codec.decode(message.value() or b"", bus.schemas.latest(topics[topic]), registry.lookup)
        reported = value["reported_at"]
        reported_ms = int(reported.timestamp() * 1000) if hasattr(reported, "timestamp") else int(reported)
        records.append(IngestRecord(topic, message.partition() or 0, message.offset() or 0, str(value["event_id"]), reported_ms))
    return records


def desk_replay(bus: Bus, agencies: list[str]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """A fresh desk's state: both logs, read_committed, applied in the order they were written
    (per partition, and by timestamp across partitions); the views every agency's officers may see."""
    registry = SchemaRegistry(bus.settings, known=bus.schemas)
    alert_schema, action_schema = bus.schemas.latest("alert"), bus.schemas.latest("alert-action")
    alerts_topic, actions_topic = bus.catalogue.topic(ALERTS_TOPIC), bus.catalogue.topic(ALERT_ACTIONS_TOPIC)
    messages = read_all(bus.settings, [alerts_topic, actions_topic], timeout=120)
    messages.sort(key=lambda m: (m.timestamp()[1], m.topic() == actions_topic, m.offset() or 0))
    state = DeskState()
    action_ids = []
    for message in messages:
        value = message.value() or b""
        if message.topic() == alerts_topic:
            state.apply_alert(codec.decode(value, alert_schema, registry.lookup), message.timestamp()[1], value)
        else:
            action = Action.from_record(codec.decode(value, action_schema, registry.lookup))
            action_ids.append(action.action_id)
            state.apply_action(action)
    views = {
        alert_id: alert.to_json()
        for alert_id, alert in state.alerts.items()
        if any(visible_to(agency, alert.record) for agency in agencies)
    }
    return views, action_ids


def wait_for_desk(
    desk: DeskProcess, officers: list[str], versions: list[Any], timeout: float = 120.0
) -> dict[str, dict[str, Any]]:
    """The desk's views once it shows the latest version of every alert it shows, three polls running."""
    latest: dict[str, int] = {}
    for version in versions:
        latest[version.alert_id] = max(latest.get(version.alert_id, 0), version.version)
    deadline, steady, previous = time.monotonic() + timeout, 0, None
    while True:
        try:
            live = desk_views(desk, officers)
        except (DeskUnavailable, ConnectionError, urllib.error.URLError):
            if time.monotonic() > deadline:
                raise
            # a 503 until its audit trail records again, or a dropped connection while its supervisor restarts it
            # (a fresh-clone run met "Remote end closed connection without response"): not settled yet
            time.sleep(2.0)
            continue
        current = {alert_id: (view["version"], view["status"]) for alert_id, view in live.items()}
        caught_up = all(latest.get(alert_id) == version for alert_id, (version, _) in current.items())
        steady = steady + 1 if caught_up and current == previous else 0
        if steady >= 3 or time.monotonic() > deadline:
            return live
        previous = current
        time.sleep(2.0)


class DeskUnavailable(RuntimeError):
    """The desk answered 503: it is recovering from the faults (its audit trail cannot record yet)."""


def desk_views(desk: DeskProcess, officers: list[str]) -> dict[str, dict[str, Any]]:
    views: dict[str, dict[str, Any]] = {}
    for officer in officers:
        status, body = desk.request(officer, "GET", "/api/v1/alerts?limit=1000")
        if status == 503:
            raise DeskUnavailable(f"desk answered 503 to {officer}: {body}")
        if status != 200:
            raise RuntimeError(f"desk answered {status} to {officer}: {body}")
        views.update({view["alert_id"]: view for view in body["alerts"]})
    return views


@dataclass
class ChaosOptions:
    seconds: float = 600.0
    seed: int = 2026
    rate: float = 8.0
    mean_gap: float = 8.5
    """Mean seconds between faults (about 70 in 10 minutes)."""
    workers: int = 2
    scenario_seed: int = 11
    work_dir: Path = Path(".local/chaos")
    settle_timeout: float = 420.0
    say: Callable[[str], None] = print


def run_chaos(options: ChaosOptions, cluster: LocalKafkaCluster | None, bootstrap: str) -> dict[str, Any]:
    """One chaos run on ``bootstrap`` (the cluster's, whose brokers are faulted too, or one broker's);
    returns the summary with every anomaly class (``anomalies_total`` must be 0)."""
    say = options.say
    wall_started = time.monotonic()
    work = options.work_dir
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    base = Settings.from_env({**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}).with_default_principal("admin")
    settings = dataclasses.replace(
        base,
        topic_prefix=f"chaos-{options.seed}-{uuid.uuid4().hex[:6]}.",
        cluster_profile="production" if cluster is not None else "local",
    )
    bus = Bus.from_settings(settings)
    assert settings.credentials_dir is not None
    apply_users(AdminClient(settings.kafka_client_config()), AccessPolicy(bus.catalogue), settings.credentials_dir, prune=False)
    apply_namespace(bus)
    say(f"namespace {settings.topic_prefix} on {bootstrap} (profile {settings.cluster_profile})")

    config_dir = settings.config_dir
    scenario = build_scenario(
        seed=options.scenario_seed,
        event_count=max(400, int(options.rate * options.seconds)),
        end_ms=int(time.time() * 1000) - 60_000,
        agencies_path=config_dir / "agencies.yaml",
        border_points_path=config_dir / "border_points.yaml",
    )
    agencies = sorted(bus.catalogue.agencies)
    tokens = write_clients(work / "agency-clients.yaml", {f"chaos-{code}": (code, "publish") for code in agencies})
    services: dict[str, Service] = {}
    for code in agencies:
        args = ["agency", "serve", "--agency", code, "--clients", str(work / "agency-clients.yaml"), "--instance-id", "chaos"]
        services[f"agency:{code}"] = Service(f"agency:{code}", ServiceProcess(bus, logs, f"agency-{code}", args))
    for number in range(1, options.workers + 1):
        worker = ServiceProcess(bus, logs, f"worker-{number}", ["correlator", "run"], port_option="--web-port")
        services[f"worker:{number}"] = Service(f"worker:{number}", worker)
    officers = {f"officer-{code}": code for code in agencies}
    desk = DeskProcess(bus, work / "desk", officers, config=CHAOS_DESK_CONFIG, name="chaos-desk")
    services["desk"] = Service("desk", desk)
    parts: dict[str, Service | Broker] = dict(services)
    if cluster is not None:
        parts.update({f"broker:{n}": Broker(cluster, n) for n in (1, 2, 3)})

    schedule = fault_schedule(options.seed, options.seconds, sorted(parts), mean_gap=options.mean_gap)
    say(f"fault schedule, seed {options.seed}: {len(schedule)} faults over {options.seconds:.0f} s")
    for fault in schedule:
        say(f"  {fault}")

    run = Run()
    stop_officer, stop_feed, stop_supervisor = threading.Event(), threading.Event(), threading.Event()
    give_up = {"at": float("inf")}
    markers = Markers()
    senders = {
        code: AgencySender(
            code, services[f"agency:{code}"].process.url, tokens[f"chaos-{code}"], bus, run, markers, lambda: give_up["at"]
        )
        for code in agencies
    }
    restarts: list[threading.Thread] = []
    try:
        with ThreadPoolExecutor(4) as pool:  # one at a time takes minutes on a busy two-core machine
            list(pool.map(Service.start, services.values()))
        say(f"{len(services)} services up after {time.monotonic() - wall_started:.0f} s")

        def supervise() -> None:
            while not stop_supervisor.wait(1.0):
                for service in services.values():
                    with service.lock:
                        if not service.faulted and not service.alive():
                            service.unplanned_exits += 1
                            run.fault_log.append(f"{service.name} exited on its own: restarted")
                            with contextlib.suppress(RuntimeError):
                                service.start()

        supervisor = threading.Thread(target=supervise, daemon=True)
        supervisor.start()
        for sender in senders.values():
            sender.start()
        feeder = threading.Thread(target=feed, args=(scenario, senders, options.rate, stop_feed), daemon=True)
        officer = threading.Thread(target=officer_loop, args=(desk, list(officers), run, stop_officer, options.seed), daemon=True)
        started, started_at_ms = time.monotonic(), int(time.time() * 1000)
        feeder.start()
        officer.start()

        brokers_busy = threading.Lock()

        def recover(part: Service | Broker, fault: Fault, lock_held: threading.Lock | None) -> None:
            try:
                time.sleep(fault.duration)
                with part.lock:
                    if fault.kind == "pause":
                        part.signal(signal.SIGCONT)
                    else:
                        part.start()
                    part.faulted = False
            except Exception as error:  # a part that cannot come back is itself a finding: say so loudly
                run.fault_log.append(f"{part.name} did not come back after {fault}: {str(error)[-3000:]}")
                say(f"!! {part.name} did not come back: {error!s:.300}")
            finally:
                if lock_held is not None:
                    lock_held.release()

        for fault in schedule:
            time.sleep(max(0.0, started + fault.at - time.monotonic()))
            part = parts[fault.target]
            is_broker = isinstance(part, Broker)
            if part.faulted or (is_broker and not brokers_busy.acquire(blocking=False)):
                run.skipped += 1
                run.fault_log.append(f"skipped (target still recovering): {fault}")
                continue
            with part.lock:
                part.faulted = True
                part.signal(signal.SIGKILL if fault.kind == "kill" else signal.SIGSTOP)
            run.faults[f"{fault.kind} {fault.target.split(':')[0]}"] += 1
            run.fault_log.append(str(fault))
            say(f"[{time.monotonic() - started:6.1f}s] {fault}")
            thread = threading.Thread(target=recover, args=(part, fault, brokers_busy if is_broker else None), daemon=True)
            thread.start()
            restarts.append(thread)
        time.sleep(max(0.0, started + options.seconds - time.monotonic()))
        fault_seconds = time.monotonic() - started
        say(f"fault window over after {fault_seconds:.0f} s; bringing everything back and letting the bus settle")
        for thread in restarts:
            thread.join(timeout=300)
        feeder.join(timeout=options.settle_timeout)
        give_up["at"] = time.monotonic() + options.settle_timeout
        for sender in senders.values():
            sender.batches.put(None)
        for sender in senders.values():
            sender.join(timeout=options.settle_timeout)
        say(f"every batch answered after {time.monotonic() - started:.0f} s")
        stop_officer.set()  # the officer acts until the stream is in, so it has alerts to act on
        officer.join(timeout=60)
        workers = [services[f"worker:{n}"].process for n in range(1, options.workers + 1)]
        say("waiting for the correlator to go quiet")
        try:
            versions = wait_for_quiet_alerts(
                bus,
                minimum=len(scenario.ground_truth["expected_alerts"]),
                settle=15.0,
                timeout=options.settle_timeout,
                workers=workers,  # type: ignore[arg-type]  # ServiceProcess has what not_caught_up() asks
            )
        except AssertionError:
            for worker in workers:  # what the workers said last is where an investigation starts
                said = [line for line in worker.log_path.read_text(errors="replace").splitlines() if not line.startswith("%")]
                say(f"--- last lines of {worker.log_path.name} ---\n" + "\n".join(said[-25:]))
            raise
        say(f"{len(versions)} alert versions; waiting for the desk")
        live = wait_for_desk(desk, list(officers), versions)
        say("reading every topic for the checker")
        replay, action_ids = desk_replay(bus, agencies)
        records = ingest_records(bus)
        versions = read_alert_versions(bus, timeout=30)
    finally:
        stop_feed.set()
        stop_officer.set()
        stop_supervisor.set()
        for service in services.values():
            with contextlib.suppress(Exception):
                service.signal(signal.SIGCONT)
                service.process.stop()
        if cluster is not None:
            for node in (1, 2, 3):
                with contextlib.suppress(Exception):
                    Broker(cluster, node).signal(signal.SIGCONT)

    findings = check(
        attempts=run.attempts,
        records=records,
        truth=scenario.ground_truth,
        versions=[Version(v.alert_id, v.version, v.rule, v.status, v.evidence) for v in versions],
        desk_live=live,
        desk_replay=replay,
        actions_acknowledged=run.actions_acknowledged,
        actions_on_log=action_ids,
    )
    outcomes = Counter(a.outcome for a in run.attempts)
    # Every attempt of each example event, to start the investigation from (markers are ms since 1970).
    example_ids = {
        example["event_id"]
        for name in ("lost_write", "duplicate", "aborted_read")
        for example in findings.examples[name]
    }
    histories = {
        event_id: [dataclasses.asdict(a) for a in run.attempts if event_id in a.event_ids] for event_id in sorted(example_ids)
    }
    broker_restart_failures = {
        part.name: part.failures for part in parts.values() if isinstance(part, Broker) and part.failures
    }
    acknowledged = {e for a in run.attempts if a.outcome == ACCEPTED for e in a.event_ids}
    summary: dict[str, Any] = {
        "seed": options.seed,
        "scenario_seed": options.scenario_seed,
        "duration_s": round(fault_seconds, 1),
        "wall_s": round(time.monotonic() - wall_started, 1),
        "cluster": "three-node KRaft cluster (replication 3, min ISR 2)" if cluster is not None else "one broker",
        "bootstrap": bootstrap,
        "faults_total": sum(run.faults.values()),
        "faults_by_kind": dict(run.faults),
        "faults_skipped": run.skipped,
        "unplanned_exits": {s.name: s.unplanned_exits for s in services.values() if s.unplanned_exits},
        "clients": {
            "scenario events": len(scenario.events),
            "events acknowledged (202)": len(acknowledged),
            "events never acknowledged": sum(s.abandoned for s in senders.values()),
            "requests": len(run.attempts),
            "answered 202": outcomes[ACCEPTED],
            "answered 503 (not committed)": outcomes[FAILED],
            "refused (probes, 4xx)": outcomes[REFUSED],
            "unknown (504, timeout, reset)": outcomes[UNKNOWN],
            "records on ingest topics": len(records),
            "alert versions": len(versions),
            "expected alerts": len(scenario.ground_truth["expected_alerts"]),
            "desk alerts": len(live),
            "officer actions acknowledged": len(run.actions_acknowledged),
            "officer requests that failed": sum(run.officer_errors.values()),
        },
        "anomalies": findings.as_dict(),
        "anomalies_total": findings.total,
        "schedule": [str(f) for f in schedule],
        "fault_log": run.fault_log,
        "example_histories": histories,
        "broker_restart_failures": broker_restart_failures,
        "started_at_ms": started_at_ms,
    }
    return summary


def write_outputs(summary: dict[str, Any], json_path: Path, text_path: Path) -> str:
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    text = render_text(summary)
    text_path.write_text(text)
    return text
