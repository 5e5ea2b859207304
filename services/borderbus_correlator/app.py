"""The Faust application: it only wires topics, tables and the pure rules together.

ingest.<agency>.<type> ──fan_out──▶ correlator.by-subject ──correlate──▶ correlator.decisions ──publish_alerts──▶ alerts.shared
                                     (key: subject)         [subject-history]   (key: alert id)     [alert-state]

``processing_guarantee="exactly_once"``: every step's output, table changes and input offsets
commit in one Kafka transaction, so a killed worker neither loses nor repeats an alert version.
Alert ids are deterministic as well, so even a replay from scratch finds the same alerts.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from pathlib import Path
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from borderbus import codec
from borderbus.bus import Bus
from borderbus.catalogue import ALERTS_TOPIC, DEAD_LETTER_TOPIC
from borderbus.codec import DecodeError
from borderbus.config import REPO_ROOT, Settings
from borderbus.dead_letter import DEAD_LETTERS, dead_letter_headers
from borderbus.ingest import decode_ingest
from borderbus.schema_registry import SchemaRegistry
from borderbus_correlator.alert_book import AlertBook, AlertState, alert_id
from borderbus_correlator.history import SubjectHistory
from borderbus_correlator.metrics import (
    ALERTS_EMITTED,
    CONSUMER_LAG,
    EVENT_TO_ALERT_LATENCY,
    EVENTS_CONSUMED,
    LATE_EVENTS,
    TABLE_ENTRIES,
)
from borderbus_correlator.model import AlertDecision, Observation
from borderbus_correlator.observation import observe
from borderbus_correlator.rule_config import load_rule_config
from borderbus_correlator.rules import evaluate

SERVICE = "correlator"
BY_SUBJECT_TOPIC = "correlator.by-subject"
DECISIONS_TOPIC = "correlator.decisions"
STATE_PARTITIONS = 6
HOUSEKEEPING_SECONDS = 30.0


def faust_broker(settings: Settings) -> tuple[str, Any]:
    """Faust's broker URL and credentials from the same settings every other client uses."""
    url = ";".join(f"kafka://{server.strip()}" for server in settings.bootstrap_servers.split(","))
    protocol = settings.security_protocol.upper()
    ssl_context = None
    if protocol in ("SSL", "SASL_SSL"):
        ssl_context = faust.auth.ssl.create_default_context(cafile=settings.ssl_ca_location)
        if settings.ssl_certificate_location:
            ssl_context.load_cert_chain(settings.ssl_certificate_location, settings.ssl_key_location)
    if protocol.startswith("SASL"):
        return url, faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password,
            mechanism=settings.sasl_mechanism or "PLAIN",
            ssl_context=ssl_context,
        )
    return url, (faust.SSLCredentials(ssl_context) if ssl_context else None)


def create_app(bus: Bus, *, web_port: int = 6066, store: str = "memory://", state_dir: Path | None = None) -> faust.App:
    """A correlator worker for ``bus``; several workers with the same settings form one consumer group."""
    settings, catalogue = bus.settings, bus.catalogue
    broker, credentials = faust_broker(settings)
    replication = catalogue.topic_specs()[0].replication_factor
    app = faust.App(
        f"{settings.topic_prefix}borderbus-correlator",
        broker=broker,
        broker_credentials=credentials,
        store=store,
        processing_guarantee="exactly_once",
        topic_partitions=STATE_PARTITIONS,
        topic_replication_factor=replication,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        web_host="127.0.0.1",
        web_port=web_port,
        web_enabled=True,
        datadir=str((state_dir or REPO_ROOT / ".local" / "correlator") / f"worker-{web_port}"),
        autodiscover=False,
        broker_commit_every=100,
        broker_commit_interval=0.5,
        table_cleanup_interval=HOUSEKEEPING_SECONDS,
    )
    rule_config = load_rule_config(settings.config_dir / "rules.yaml")
    points = catalogue.border_points
    registry = SchemaRegistry(settings, known=bus.schemas)
    alert_schema = bus.schemas.latest("alert")
    book = AlertBook(catalogue.agencies, points)

    ingest = app.topic(*catalogue.ingest_topics(), key_serializer="raw", value_serializer="raw")
    by_subject = app.topic(catalogue.topic(BY_SUBJECT_TOPIC), key_type=str, value_serializer="json", partitions=STATE_PARTITIONS)
    decisions = app.topic(catalogue.topic(DECISIONS_TOPIC), key_type=str, value_serializer="json", partitions=STATE_PARTITIONS)
    alerts_out = app.topic(catalogue.topic(ALERTS_TOPIC), key_serializer="raw", value_serializer="raw")
    dead_letters = app.topic(catalogue.topic(DEAD_LETTER_TOPIC), key_serializer="raw", value_serializer="raw")
    histories = app.Table("subject-history", default=None, key_type=str, value_serializer="json", partitions=STATE_PARTITIONS)
    alert_states = app.Table("alert-state", default=None, key_type=str, value_serializer="json", partitions=STATE_PARTITIONS)

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

    async def route(target: str, mode: str, via: str | None, observation: Observation) -> None:
        await by_subject.send(key=target, value={"mode": mode, "via": via, "observation": observation.to_json()})

    @app.agent(ingest)
    async def fan_out(stream: faust.StreamT[bytes]) -> None:
        """Decode each agency event and send it to every subject it names."""
        async for event in stream.events():
            message = event.message
            try:
                agency, event_type, record = decode_ingest(catalogue, bus.schemas, registry.lookup, message.topic, event.value)
            except DecodeError as error:
                await dead_letter(event.value or b"", message.key, message, error.reason, error.detail)
                continue
            EVENTS_CONSUMED.labels(agency, event_type).inc()
            observation = observe(agency, event_type, record)
            for subject in observation.subjects:
                await route(subject, "direct", None, observation)

    @app.agent(by_subject)
    async def correlate(stream: faust.StreamT[dict[str, Any]]) -> None:
        """Keep each subject's history, share it one hop with linked subjects, and run the rules."""
        async for event in stream.events():
            subject: str = event.key
            observation = Observation.from_json(event.value["observation"])
            stored = histories[subject]
            history = SubjectHistory.from_json(stored) if stored else SubjectHistory(subject, [], [], {}, 0)
            if event.value["mode"] == "direct":
                new_links = history.new_links(observation)
                outcome = history.add_direct(observation, rule_config)
                if outcome == "added":
                    neighbours = [s for s in history.links if s not in observation.subjects and s != subject]
                    for neighbour in neighbours:
                        await route(neighbour, "linked", subject, observation)
                    for new_link in new_links:
                        for earlier in history.direct:
                            if earlier.event_id != observation.event_id:
                                await route(new_link, "linked", subject, earlier)
            else:
                outcome = history.add_linked(event.value["via"], observation, rule_config)
            if outcome == "late":
                LATE_EVENTS.labels(observation.event_type).inc()
                await dead_letter(
                    event.message.value, subject.encode(), event.message, "late_event",
                    f"{observation.event_id} is older than {subject}'s watermark minus the allowed lateness",
                )
                continue
            if outcome != "added":
                continue
            history.expire(rule_config)
            histories[subject] = history.to_json()
            for decision in evaluate(history, rule_config, points):
                if any(item.event_id == observation.event_id for item in decision.evidence):
                    await decisions.send(key=alert_id(decision.rule, decision.alert_key), value=decision.to_json())

    @app.agent(decisions)
    async def publish_alerts(stream: faust.StreamT[dict[str, Any]]) -> None:
        """Merge findings of one alert from every perspective; publish a version only when it changes."""
        registry.register(alert_schema)
        async for event in stream.events():
            decision = AlertDecision.from_json(event.value)
            key: str = event.key
            stored = alert_states[key]
            state = book.merge(AlertState.from_json(stored) if stored else None, decision, int(time.time() * 1000))
            if state is None:
                continue
            alert_states[key] = state.to_json()
            await alerts_out.send(key=key.encode(), value=codec.encode(alert_schema, book.to_record(state)))
            ALERTS_EMITTED.labels(state.rule, state.severity).inc()
            newest = max(item.reported_at_ms for item in decision.evidence)
            EVENT_TO_ALERT_LATENCY.observe(max(0.0, time.time() - newest / 1000))

    @app.timer(HOUSEKEEPING_SECONDS)
    async def housekeeping() -> None:
        """Forget subjects and alerts whose evidence is older than any window can reach, and report sizes."""
        watermark = max((h["max_seen_ms"] for h in histories.values() if h), default=0)
        horizon = watermark - rule_config.retention_ms
        for subject in [s for s, h in histories.items() if h and h["max_seen_ms"] < horizon]:
            del histories[subject]
        for key in [k for k, s in alert_states.items() if s and AlertState.from_json(s).updated_at_ms < time.time() * 1000 - 2 * rule_config.retention_ms]:
            del alert_states[key]
        TABLE_ENTRIES.labels("subject-history").set(len(histories))
        TABLE_ENTRIES.labels("alert-state").set(len(alert_states))

    @app.timer(5.0)
    async def measure_lag() -> None:
        lag: Tally[str] = Tally()
        for tp in app.consumer.assignment():
            position = await app.consumer.position(tp)
            if position is not None:
                lag[tp.topic] += max(0, app.consumer.highwater(tp) - position)
        for topic, records in lag.items():
            CONSUMER_LAG.labels(topic).set(records)

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    return app


def run_worker(bus: Bus, *, web_port: int, store: str, loglevel: str = "warning") -> None:
    """Run one worker until SIGTERM/SIGINT."""
    app = create_app(bus, web_port=web_port, store=store)
    faust.Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
