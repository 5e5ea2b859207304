"""The middle stage: each route on ``correlator.by-subject`` meets its subject's history, exactly once.

For every route the pure step :func:`~borderbus_correlator.pipeline.correlate` gives the subject's
new history, the routes that share it one hop, and the rules' findings; the stage writes them (the
history to the compacted topic ``correlator.subject-history``, routes back to the by-subject topic,
findings to ``correlator.decisions``) in the batch's transaction with the consumed offsets
(:class:`~borderbus.exactly_once.ExactlyOnceStage`). A history is written once per batch however
many routes changed it.

This stage ran in Faust until measured otherwise: after a SIGKILL, 2 of 10 soak rounds ended with
one by-subject partition that the restarted worker was assigned but never fetched again (committed
offset 251 of 602, changelog complete), the hang of faust-streaming issue #629 (open).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import orjson
from confluent_kafka import Message

from borderbus import codec
from borderbus.bus import Bus
from borderbus.catalogue import DEAD_LETTER_TOPIC
from borderbus.codec import DecodeError
from borderbus.exactly_once import ExactlyOnceStage
from borderbus.schema_registry import SchemaRegistry
from borderbus.state_store import Stamp
from borderbus_correlator.alert_book import alert_id
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
from borderbus_correlator.route_codec import AVRO_ROUTE_SCHEMA, decode_route, route_messages
from borderbus_correlator.rule_config import load_rule_config

SERVICE = "correlator"
BY_SUBJECT_TOPIC = "correlator.by-subject"
DECISIONS_TOPIC = "correlator.decisions"
SUBJECT_HISTORY_TOPIC = "correlator.subject-history"
FINDING_SCHEMA = "correlator-finding"  # Avro of correlator.decisions
HOUSEKEEPING_SECONDS = 30.0
RECENT_ROUTES = 4096


@dataclass(frozen=True)
class _Processed:
    """What one route did, counted once its batch committed."""

    mode: str
    outcome: str
    late_type: str | None = None
    hub_kind: str | None = None


def _encode_history(history: SubjectHistory) -> bytes:
    return orjson.dumps(history.to_json())


def _decode_history(value: bytes) -> SubjectHistory:
    return SubjectHistory.from_json(orjson.loads(value))


def _stamp_history(history: SubjectHistory) -> Stamp:
    return Stamp(history.max_seen_ms, history.holds_lasting_facts())


class CorrelateStage(ExactlyOnceStage[SubjectHistory]):
    """One member of the correlate consumer group (the by-subject partitions); run :meth:`run` in a thread."""

    def __init__(self, bus: Bus, *, group_id: str, instance_id: str) -> None:
        catalogue = bus.catalogue
        super().__init__(
            bus.settings,
            source_topic=catalogue.topic(BY_SUBJECT_TOPIC),
            state_topic=catalogue.topic(SUBJECT_HISTORY_TOPIC),
            dead_letter_topic=catalogue.topic(DEAD_LETTER_TOPIC),
            group_id=group_id,
            transactional_id=f"{group_id}-subjects-{instance_id}",
            service=SERVICE,
            encode_state=_encode_history,
            decode_state=_decode_history,
            stamp_state=_stamp_history,
        )
        self.decisions_topic = catalogue.topic(DECISIONS_TOPIC)
        self.rule_config = load_rule_config(bus.settings.config_dir / "rules.yaml")
        self.points = catalogue.border_points
        self.avro_route_schema = bus.schemas.latest(AVRO_ROUTE_SCHEMA)
        self.finding_schema = bus.schemas.latest(FINDING_SCHEMA)
        self.registry = SchemaRegistry(bus.settings, known=bus.schemas)
        self._housekept = time.monotonic()
        self._recent_routes: dict[bytes, Route] = {}

    def run(self) -> None:
        self.registry.register(self.finding_schema)
        super().run()

    def process(self, message: Message) -> _Processed | None:
        partition, target = message.partition() or 0, (message.key() or b"").decode()
        try:
            route = self._route(target, message.value() or b"")
        except DecodeError as error:
            self.dead_letter(message, error.reason, error.detail)
            return None
        result = correlate(self.get(partition, target), route, self.rule_config, self.points)
        if result.outcome == "late":
            detail = f"{route.observation.event_id} is older than {target}'s watermark minus the allowed lateness"
            self.dead_letter(message, "late_event", detail)
            return _Processed(route.mode, result.outcome, late_type=route.observation.event_type)
        if result.outcome == "added":
            self.put(partition, target, result.history)
        for key, value in route_messages(result.routes):
            self.produce(self.source_topic, key, value)
        for finding in result.decisions:
            key = alert_id(finding.rule, finding.alert_key).encode()
            self.produce(self.decisions_topic, key, codec.encode(self.finding_schema, finding.to_json()))
        return _Processed(route.mode, result.outcome, hub_kind=target.split(":", 1)[0] if result.became_hub else None)

    def _route(self, target: str, value: bytes) -> Route:
        """The route a message carries; an observation forwarded to many links arrives as many equal values,
        decoded once (the last few thousand are remembered)."""
        known = self._recent_routes.get(value)
        if known is None:
            if len(self._recent_routes) >= RECENT_ROUTES:
                self._recent_routes.clear()
            known = self._recent_routes[value] = decode_route("", value, self.avro_route_schema, self.registry.lookup)
        return Route(target, known.mode, known.via, known.observation)

    def published(self, results: list[object]) -> None:
        """Counted per batch: a labelled increment per route was a measurable share of the stage's time."""
        routes: Counter[tuple[str, str]] = Counter()
        for processed in results:
            assert isinstance(processed, _Processed)
            routes[(processed.mode, processed.outcome)] += 1
            if processed.late_type is not None:
                LATE_EVENTS.labels(processed.late_type).inc()
            if processed.hub_kind is not None:
                HUBS_DETECTED.labels(processed.hub_kind).inc()
        for (mode, outcome), count in routes.items():
            ROUTES_PROCESSED.labels(mode, outcome).inc(count)

    def tick(self) -> None:
        waiting = self.waiting()
        STAGE_WAITING.set(waiting)
        CONSUMER_LAG.labels(self.source_topic).set(waiting)
        if time.monotonic() - self._housekept >= HOUSEKEEPING_SECONDS:
            self._housekept = time.monotonic()
            self.transact(self._forget_stale_subjects)
            TABLE_ENTRIES.labels("subject-history").set(self.store.count() if self.store is not None else 0)

    def _forget_stale_subjects(self) -> None:
        """Forget subjects whose newest event is older than any window can reach.

        A history holding a case update (a warrant, a case membership) is kept: those facts last until their case ends.
        """
        if self.store is None:
            return
        horizon = self.store.newest_time_ms() - self.rule_config.retention_ms
        for partition, subject in self.store.older_than(horizon):
            self.delete(partition, subject)
