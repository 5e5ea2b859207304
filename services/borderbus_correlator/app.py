"""A correlator worker: the Faust app wires topics, tables and the pure steps of :mod:`pipeline` together.

ingest.<agency>.<type> ─FanOut─▶ correlator.by-subject ─correlate─▶ correlator.decisions ─AlertPublisher─▶ alerts.shared
                                  (key: subject)      [subject-history]  (key: alert id)   [correlator.alert-state]

How a killed worker loses and duplicates nothing:

- :class:`~borderbus_correlator.fan_out.FanOut` (confluent-kafka, beside Faust: see its module
  for why) and the Faust correlate stage run at least once, and are idempotent: a replayed event
  is a duplicate in the subject's history, and replaying it only re-sends what it caused
  downstream, where that adds nothing. (Faust's own exactly-once mode crashes on consumer-group
  rebalances: faust-streaming issue #323, seen here with two workers.)
- Whatever order a replay delivers in, the standing alerts are the same: histories are a function
  of the set of events, lateness is bounded by the retention only, and a finding that an event
  takes away is retracted (:func:`~borderbus_correlator.pipeline.findings`).
- The last stage, :class:`AlertPublisher`, is exactly once with Kafka transactions, so every alert
  version is published once. Alert ids are deterministic, so even a replay from scratch finds the
  same alerts.
- Every consumer reads ``read_committed``: an agency batch that was aborted never counts.
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
import time
from collections import Counter as Tally
from pathlib import Path
from typing import Any

import aiokafka
import faust
import faust.transport.drivers.aiokafka as faust_aiokafka
import mode
from confluent_kafka import Consumer, TopicPartition
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from borderbus import codec
from borderbus.bus import Bus
from borderbus.catalogue import DEAD_LETTER_TOPIC
from borderbus.codec import DecodeError
from borderbus.config import REPO_ROOT, Settings
from borderbus.dead_letter import DEAD_LETTERS, dead_letter_headers
from borderbus.schema_registry import SchemaRegistry
from borderbus.supervision import ProgressWatch, dead_threads, exit_stalled, start_or_exit
from borderbus_correlator.alert_book import alert_id
from borderbus_correlator.alert_publisher import DECISIONS_TOPIC, AlertPublisher
from borderbus_correlator.fan_out import FanOut
from borderbus_correlator.history import SubjectHistory
from borderbus_correlator.metrics import (
    CONSUMER_LAG,
    HUBS_DETECTED,
    LATE_EVENTS,
    ROUTES_PROCESSED,
    STAGE_WAITING,
    TABLE_ENTRIES,
)
from borderbus_correlator.pipeline import Route, correlate
from borderbus_correlator.rule_config import load_rule_config

SERVICE = "correlator"
BY_SUBJECT_TOPIC = "correlator.by-subject"
ROUTE_SCHEMA = "correlator-route"  # Avro of correlator.by-subject
FINDING_SCHEMA = "correlator-finding"  # Avro of correlator.decisions
STATE_PARTITIONS = 6
HOUSEKEEPING_SECONDS = 30.0
STALL_ENV = "BORDERBUS_STALL_SECONDS"
DEFAULT_STALL_SECONDS = 120.0  # longer than any recovery that still moves; a stalled one does not move at all
GROUP_SESSION_TIMEOUT_SECONDS = 10.0  # a killed worker's partitions move to the others after this long, not Faust's 60 s


def faust_broker(settings: Settings) -> tuple[str, Any]:
    """Faust's broker URL and credentials from the same settings every other client uses."""
    url = ";".join(f"kafka://{server.strip()}" for server in settings.bootstrap_servers.split(","))
    protocol = settings.security_protocol.upper()
    ssl_context = None
    if protocol in ("SSL", "SASL_SSL"):
        ssl_context = ssl.create_default_context(cafile=settings.ssl_ca_location)
        if settings.ssl_certificate_location:
            ssl_context.load_cert_chain(settings.ssl_certificate_location, settings.ssl_key_location)
    if protocol.startswith("SASL"):
        return url, faust.SASLCredentials(
            username=settings.kafka_principal,
            password=settings.password(),
            mechanism=settings.sasl_mechanism or "SCRAM-SHA-512",
            ssl_context=ssl_context,
        )
    return url, (faust.SSLCredentials(ssl_context) if ssl_context else None)


def create_app(
    bus: Bus, *, web_port: int = 6066, store: str = "memory://", state_dir: Path | None = None, fan_out: FanOut | None = None
) -> faust.App:
    """A correlator worker's Faust app for ``bus``; several workers with the same settings form one consumer group.

    ``fan_out`` is the worker's first stage, run beside the app: /assignment counts its partitions too.
    """
    settings, catalogue = bus.settings, bus.catalogue
    broker, credentials = faust_broker(settings)
    default_state_dir = Path(os.environ.get("BORDERBUS_STATE_DIR") or REPO_ROOT / ".local" / "correlator")
    datadir = (state_dir or default_state_dir) / f"worker-{web_port}"
    datadir.parent.mkdir(parents=True, exist_ok=True)
    replication = catalogue.topic_specs()[0].replication_factor
    app = faust.App(
        app_id(bus),
        broker=broker,
        broker_credentials=credentials,
        store=store,
        processing_guarantee="at_least_once",
        topic_partitions=STATE_PARTITIONS,
        topic_replication_factor=replication,
        # Every topic it uses is declared in topics.yaml (`borderbus topics apply`); the broker gives the
        # correlator no Create right, so Faust must not try to create any.
        topic_allow_declare=False,
        consumer_auto_offset_reset="earliest",
        web_host="127.0.0.1",
        web_port=web_port,
        web_enabled=True,
        datadir=str(datadir),
        autodiscover=False,
        broker_commit_every=100,
        broker_commit_interval=0.5,
        table_cleanup_interval=HOUSEKEEPING_SECONDS,
        broker_session_timeout=GROUP_SESSION_TIMEOUT_SECONDS,
        agent_supervisor=mode.CrashingSupervisor,  # a crashed agent takes the worker down, to be restarted, not left half-alive
    )
    rule_config = load_rule_config(settings.config_dir / "rules.yaml")
    points = catalogue.border_points
    registry = SchemaRegistry(settings, known=bus.schemas)

    progress = {"routes": 0}
    route_schema, finding_schema = bus.schemas.latest(ROUTE_SCHEMA), bus.schemas.latest(FINDING_SCHEMA)
    for schema in (route_schema, finding_schema):
        registry.register(schema)

    by_subject = app.topic(
        catalogue.topic(BY_SUBJECT_TOPIC), key_type=str, key_serializer="raw", value_serializer="raw", partitions=STATE_PARTITIONS
    )
    decisions = app.topic(catalogue.topic(DECISIONS_TOPIC), key_type=str, value_serializer="raw", partitions=STATE_PARTITIONS)
    dead_letters = app.topic(catalogue.topic(DEAD_LETTER_TOPIC), key_serializer="raw", value_serializer="raw")
    histories = app.Table("subject-history", default=None, key_type=str, partitions=STATE_PARTITIONS)

    async def dead_letter(value: bytes, key: bytes | None, message: Any, reason: str, detail: str) -> None:
        headers = dead_letter_headers(
            reason=reason,
            detail=detail,
            source_topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            service=SERVICE,
        )
        await dead_letters.send(key=key, value=value, headers=headers)
        DEAD_LETTERS.labels(SERVICE, reason).inc()

    async def send_routes(routes: list[Route]) -> None:
        for route in routes:
            await by_subject.send(key=route.target, value=codec.encode(route_schema, route.to_json()))

    @app.agent(by_subject)
    async def correlate_subjects(stream: faust.StreamT[dict[str, Any]]) -> None:
        """Keep each subject's history, share it one hop with linked subjects, and run the rules."""
        async for event in stream.events():
            try:
                route = Route.from_json(event.key, codec.decode(event.value, route_schema, registry.lookup))
            except DecodeError as error:
                await dead_letter(event.value or b"", (event.key or "").encode(), event.message, error.reason, error.detail)
                continue
            result = correlate(histories.get(route.target), route, rule_config, points)
            ROUTES_PROCESSED.labels(route.mode, result.outcome).inc()
            progress["routes"] += 1
            if result.outcome == "late":
                LATE_EVENTS.labels(route.observation.event_type).inc()
                detail = f"{route.observation.event_id} is older than {route.target}'s watermark minus the allowed lateness"
                await dead_letter(event.message.value, route.target.encode(), event.message, "late_event", detail)
                continue
            if result.outcome == "added":
                histories[route.target] = result.history.to_json()
            if result.became_hub:
                HUBS_DETECTED.labels(route.target.split(":", 1)[0]).inc()
            await send_routes(result.routes)
            for finding in result.decisions:
                value = codec.encode(finding_schema, finding.to_json())
                await decisions.send(key=alert_id(finding.rule, finding.alert_key), value=value)

    @app.timer(HOUSEKEEPING_SECONDS)  # type: ignore[untyped-decorator]
    async def housekeeping() -> None:
        """Forget subjects whose newest event is older than any window can reach, and report the table size.

        A history holding a case update (a warrant, a case membership) is kept: those facts last until their case ends.
        """
        watermark = max((h["max_seen_ms"] for h in histories.values() if h), default=0)
        horizon = watermark - rule_config.retention_ms
        stale = [s for s, h in histories.items() if h and h["max_seen_ms"] < horizon]
        for subject in stale:
            if not SubjectHistory.from_json(histories[subject]).holds_lasting_facts():
                del histories[subject]
        TABLE_ENTRIES.labels("subject-history").set(len(histories))

    watermarks = Consumer(settings.consumer_config(f"{app_id(bus)}-watchdog"))  # only asks for end offsets
    watch = ProgressWatch(float(os.environ.get(STALL_ENV, DEFAULT_STALL_SECONDS)))

    @app.timer(5.0)  # type: ignore[untyped-decorator]
    async def watchdog() -> None:
        """Exit (70) when by-subject records wait and the stage neither processes nor restores anything.

        Faust can leave a partition paused for good after a restart (its recovery and offset tracking
        have known hangs; seen here as one by-subject partition that was never processed again). A
        fresh process recovers it, so a stall is treated like a dead thread: the supervisor restarts us.
        """
        waiting = 0
        for tp in app.consumer.assignment():
            if tp.topic != by_subject.get_topic_name():
                continue
            position = await app.consumer.position(tp)
            ask = functools.partial(watermarks.get_watermark_offsets, TopicPartition(tp.topic, tp.partition), timeout=5)
            _low, high = await asyncio.get_running_loop().run_in_executor(None, ask)
            waiting += max(0, high - (position if position is not None else 0))
        STAGE_WAITING.set(waiting)
        recovery: Any = app.tables.recovery  # type: ignore[attr-defined]
        offsets = [*recovery.active_offsets.values(), *recovery.standby_offsets.values()]
        restored = sum(offset for offset in offsets if offset is not None)  # None: a partition not read yet
        if watch.stalled((progress["routes"], restored), waiting > 0, time.monotonic()):
            exit_stalled(f"the correlate stage made no progress for {watch.stall_seconds:.0f} s with {waiting} records waiting")

    @app.timer(5.0)  # type: ignore[untyped-decorator]
    async def measure_lag() -> None:
        lag: Tally[str] = Tally()
        for tp in app.consumer.assignment():
            if tp.topic.endswith("-changelog"):
                continue  # standby and recovery reads, not work waiting
            position = await app.consumer.position(tp)
            if position is not None:
                lag[tp.topic] += max(0, app.consumer.highwater(tp) - position)
        for topic, records in lag.items():
            CONSUMER_LAG.labels(topic).set(records)

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/assignment")
    async def assignment(web: Any, request: Any) -> Any:
        """How many source partitions this worker holds: tests and operators wait for a settled group."""
        stage_partitions = sum(1 for tp in app.consumer.assignment() if tp.topic == by_subject.get_topic_name())
        return web.json({"partitions": stage_partitions + (fan_out.assigned() if fan_out else 0)})

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        dead = dead_threads()
        if dead:
            return web.json({"status": "unhealthy", "dead": dead}, status=503)
        return web.json({"status": "ok"})

    return app


def app_id(bus: Bus) -> str:
    return f"{bus.settings.topic_prefix}borderbus-correlator"


def run_worker(bus: Bus, *, web_port: int, store: str, instance_id: str, loglevel: str = "warning") -> None:
    """Run one worker (fan-out, the Faust correlate stage and an alert publisher) until SIGTERM/SIGINT."""
    read_committed_everywhere()
    group = app_id(bus)
    stage = FanOut(
        bus,
        group_id=f"{group}-fan-out",
        by_subject_topic=bus.catalogue.topic(BY_SUBJECT_TOPIC),
        route_schema=bus.schemas.latest(ROUTE_SCHEMA),
    )
    app = create_app(bus, web_port=web_port, store=store, fan_out=stage)
    publisher = AlertPublisher(bus, group_id=f"{group}-alerts", instance_id=instance_id)
    threads = [start_or_exit("alert-publisher", publisher.run), start_or_exit("fan-out", stage.run)]
    try:
        faust.Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
    finally:
        stage.stop()
        publisher.stop()
        for thread in threads:
            thread.join(30)


def read_committed_everywhere() -> None:
    """Make Faust's consumers read only committed records, as every other reader of the bus does.

    faust-streaming reads ``read_uncommitted`` unless in its exactly-once mode, which would let an
    agency batch that Kafka aborted reach the rules.
    """

    class ReadCommittedConsumer(aiokafka.AIOKafkaConsumer):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["isolation_level"] = "read_committed"
            super().__init__(*args, **kwargs)

    faust_aiokafka.aiokafka.AIOKafkaConsumer = ReadCommittedConsumer  # type: ignore[attr-defined]
