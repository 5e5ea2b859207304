"""The Faust application: it only wires topics, tables and the pure steps of :mod:`pipeline` together.

ingest.<agency>.<type> ─fan_out─▶ correlator.by-subject ─correlate─▶ correlator.decisions ─AlertPublisher─▶ alerts.shared
                                   (key: subject)      [subject-history]  (key: alert id)   [correlator.alert-state]

How a killed worker loses and duplicates nothing:

- The Faust stages run at least once, and are idempotent: a replayed event is a duplicate in the
  subject's history, and replaying it only re-sends what it caused downstream, where that adds
  nothing. (Faust's own exactly-once mode crashes on consumer-group rebalances: faust-streaming
  issue #323, seen here with two workers.)
- The last stage, :class:`AlertPublisher`, is exactly once with Kafka transactions, so every alert
  version is published once. Alert ids are deterministic, so even a replay from scratch finds the
  same alerts.
- Every consumer reads ``read_committed``: an agency batch that was aborted never counts.
"""

from __future__ import annotations

import os
import ssl
import threading
from collections import Counter as Tally
from pathlib import Path
from typing import Any

import aiokafka
import faust
import faust.transport.drivers.aiokafka as faust_aiokafka
import mode
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from borderbus.bus import Bus
from borderbus.catalogue import DEAD_LETTER_TOPIC
from borderbus.codec import DecodeError
from borderbus.config import REPO_ROOT, Settings
from borderbus.dead_letter import DEAD_LETTERS, dead_letter_headers
from borderbus.ingest import decode_ingest
from borderbus.schema_registry import SchemaRegistry
from borderbus_correlator.alert_book import alert_id
from borderbus_correlator.alert_publisher import DECISIONS_TOPIC, AlertPublisher
from borderbus_correlator.metrics import (
    CONSUMER_LAG,
    EVENTS_CONSUMED,
    LATE_EVENTS,
    ROUTES_PROCESSED,
    TABLE_ENTRIES,
)
from borderbus_correlator.observation import observe
from borderbus_correlator.pipeline import Route, correlate, fan_out
from borderbus_correlator.rule_config import load_rule_config

SERVICE = "correlator"
BY_SUBJECT_TOPIC = "correlator.by-subject"
STATE_PARTITIONS = 6
HOUSEKEEPING_SECONDS = 30.0
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


def create_app(bus: Bus, *, web_port: int = 6066, store: str = "memory://", state_dir: Path | None = None) -> faust.App:
    """A correlator worker for ``bus``; several workers with the same settings form one consumer group."""
    settings, catalogue = bus.settings, bus.catalogue
    broker, credentials = faust_broker(settings)
    default_state_dir = Path(os.environ.get("BORDERBUS_STATE_DIR") or REPO_ROOT / ".local" / "correlator")
    datadir = (state_dir or default_state_dir) / f"worker-{web_port}"
    datadir.parent.mkdir(parents=True, exist_ok=True)
    replication = catalogue.topic_specs()[0].replication_factor
    app = faust.App(
        f"{settings.topic_prefix}borderbus-correlator",
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

    ingest = app.topic(*catalogue.ingest_topics(), key_serializer="raw", value_serializer="raw")
    by_subject = app.topic(catalogue.topic(BY_SUBJECT_TOPIC), key_type=str, value_serializer="json", partitions=STATE_PARTITIONS)
    decisions = app.topic(catalogue.topic(DECISIONS_TOPIC), key_type=str, value_serializer="json", partitions=STATE_PARTITIONS)
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
            await by_subject.send(key=route.target, value=route.to_json())

    @app.agent(ingest)
    async def fan_out_events(stream: faust.StreamT[bytes]) -> None:
        """Decode each agency event and send it to every subject it names."""
        async for event in stream.events():
            message = event.message
            try:
                agency, event_type, record = decode_ingest(catalogue, bus.schemas, registry.lookup, message.topic, event.value)
            except DecodeError as error:
                await dead_letter(event.value or b"", message.key, message, error.reason, error.detail)
                continue
            EVENTS_CONSUMED.labels(agency, event_type).inc()
            await send_routes(fan_out(observe(agency, event_type, record)))

    @app.agent(by_subject)
    async def correlate_subjects(stream: faust.StreamT[dict[str, Any]]) -> None:
        """Keep each subject's history, share it one hop with linked subjects, and run the rules."""
        async for event in stream.events():
            route = Route.from_json(event.key, event.value)
            result = correlate(histories.get(route.target), route, rule_config, points)
            ROUTES_PROCESSED.labels(route.mode, result.outcome).inc()
            if result.outcome == "late":
                LATE_EVENTS.labels(route.observation.event_type).inc()
                detail = f"{route.observation.event_id} is older than {route.target}'s watermark minus the allowed lateness"
                await dead_letter(event.message.value, route.target.encode(), event.message, "late_event", detail)
                continue
            if result.outcome == "added":
                histories[route.target] = result.history.to_json()
            await send_routes(result.routes)
            for decision in result.decisions:
                await decisions.send(key=alert_id(decision.rule, decision.alert_key), value=decision.to_json())

    @app.timer(HOUSEKEEPING_SECONDS)  # type: ignore[untyped-decorator]
    async def housekeeping() -> None:
        """Forget subjects whose newest event is older than any window can reach, and report the table size."""
        watermark = max((h["max_seen_ms"] for h in histories.values() if h), default=0)
        horizon = watermark - rule_config.retention_ms
        for subject in [s for s, h in histories.items() if h and h["max_seen_ms"] < horizon]:
            del histories[subject]
        TABLE_ENTRIES.labels("subject-history").set(len(histories))

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
        sources = {*catalogue.ingest_topics(), by_subject.get_topic_name()}
        return web.json({"partitions": sum(1 for tp in app.consumer.assignment() if tp.topic in sources)})

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    return app


def run_worker(bus: Bus, *, web_port: int, store: str, instance_id: str, loglevel: str = "warning") -> None:
    """Run one worker (the Faust stages and an alert publisher) until SIGTERM/SIGINT."""
    read_committed_everywhere()
    app = create_app(bus, web_port=web_port, store=store)
    publisher = AlertPublisher(bus, group_id=f"{app.conf.id}-alerts", instance_id=instance_id)
    thread = threading.Thread(target=publisher.run, name="alert-publisher", daemon=True)
    thread.start()
    try:
        faust.Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
    finally:
        publisher.stop()
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
