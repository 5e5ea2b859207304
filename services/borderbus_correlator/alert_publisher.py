"""The last stage: findings keyed by alert id become alert versions, exactly once.

Each batch's alert versions, the new alert states (in the compacted topic ``correlator.alert-state``,
one partition per partition of ``correlator.decisions``) and the consumed offsets commit together
or not at all (:class:`~borderbus.exactly_once.ExactlyOnceStage`). So a worker killed at any point
restarts to exactly the versions already published: none lost, none published twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson
from confluent_kafka import Message

from borderbus import codec
from borderbus.bus import Bus
from borderbus.catalogue import ALERTS_TOPIC, DEAD_LETTER_TOPIC
from borderbus.exactly_once import ExactlyOnceStage
from borderbus.schema_registry import SchemaRegistry
from borderbus_correlator.alert_book import AlertBook, AlertState
from borderbus_correlator.correlate_stage import DECISIONS_TOPIC, FINDING_SCHEMA, SERVICE
from borderbus_correlator.metrics import ALERTS_EMITTED, EVENT_TO_ALERT_LATENCY, TABLE_ENTRIES
from borderbus_correlator.model import finding_from_json
from borderbus_correlator.rule_config import load_rule_config

ALERT_STATE_TOPIC = "correlator.alert-state"


def _encode_state(state: AlertState) -> bytes:
    return orjson.dumps(state.to_json())


def _decode_state(value: bytes) -> AlertState:
    return AlertState.from_json(orjson.loads(value))


class AlertPublisher(ExactlyOnceStage[AlertState]):
    """One member of the alert-publishing consumer group; run :meth:`run` in its own thread."""

    def __init__(self, bus: Bus, *, group_id: str, instance_id: str, now_ms: Callable[[], int] | None = None) -> None:
        settings, catalogue = bus.settings, bus.catalogue
        super().__init__(
            settings,
            source_topic=catalogue.topic(DECISIONS_TOPIC),
            state_topic=catalogue.topic(ALERT_STATE_TOPIC),
            dead_letter_topic=catalogue.topic(DEAD_LETTER_TOPIC),
            group_id=group_id,
            transactional_id=f"{group_id}-{instance_id}",
            service=SERVICE,
            encode_state=_encode_state,
            decode_state=_decode_state,
        )
        self.alerts_topic = catalogue.topic(ALERTS_TOPIC)
        self.book = AlertBook(catalogue.agencies, catalogue.border_points, load_rule_config(settings.config_dir / "rules.yaml"))
        self.schema = bus.schemas.latest("alert")
        self.finding_schema = bus.schemas.latest(FINDING_SCHEMA)
        self.registry = SchemaRegistry(settings, known=bus.schemas)
        self.now_ms = now_ms or (lambda: int(time.time() * 1000))

    def run(self) -> None:
        self.registry.register(self.schema)
        super().run()

    def process(self, message: Message) -> AlertState | None:
        partition, alert_id = message.partition() or 0, (message.key() or b"").decode()
        try:
            record = codec.decode(message.value() or b"", self.finding_schema, self.registry.lookup)
        except codec.DecodeError as error:
            self.dead_letter(message, error.reason, error.detail)
            return None
        state = self.book.apply(self.get(partition, alert_id), finding_from_json(record), self.now_ms())
        if state is None:
            return None
        self.put(partition, alert_id, state)
        self.produce(self.alerts_topic, alert_id.encode(), codec.encode(self.schema, self.book.to_record(state)))
        return state

    def published(self, results: list[object]) -> None:
        TABLE_ENTRIES.labels("alert-state").set(self.store.count() if self.store is not None else 0)
        for state in results:
            assert isinstance(state, AlertState)
            ALERTS_EMITTED.labels(state.rule, state.severity).inc()
            if state.status == "OPEN" and state.evidence:
                newest = max(observation.reported_at_ms for observation in state.evidence.values())
                EVENT_TO_ALERT_LATENCY.observe(max(0.0, time.time() - newest / 1000))
