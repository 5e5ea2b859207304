"""The last stage: findings keyed by alert id become alert versions, exactly once.

A consume-transform-produce loop with Kafka transactions (confluent-kafka): each batch's alert
versions, the new alert states and the consumed offsets commit together or not at all. The
state lives in the compacted topic ``correlator.alert-state``, one partition per partition of
``correlator.decisions``, and is reloaded whenever partitions are assigned. So a worker killed at
any point restarts to exactly the versions already published: none lost, none published twice.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from borderbus import codec
from borderbus.batches import next_batch
from borderbus.bus import Bus
from borderbus.catalogue import ALERTS_TOPIC, DEAD_LETTER_TOPIC
from borderbus.dead_letter import produce_dead_letter
from borderbus.schema_registry import SchemaRegistry
from borderbus_correlator.alert_book import AlertBook, AlertState
from borderbus_correlator.metrics import ALERTS_EMITTED, EVENT_TO_ALERT_LATENCY, TABLE_ENTRIES
from borderbus_correlator.model import finding_from_json
from borderbus_correlator.rule_config import load_rule_config

log = logging.getLogger(__name__)

SERVICE = "correlator"
DECISIONS_TOPIC = "correlator.decisions"
ALERT_STATE_TOPIC = "correlator.alert-state"
TRANSACTION_TIMEOUT_MS = 10_000  # how long a killed worker's open transaction can hold readers back
SESSION_TIMEOUT_MS = 10_000  # how long a killed worker keeps its partitions from the others


class AlertPublisher:
    """One member of the alert-publishing consumer group; run :meth:`run` in its own thread."""

    def __init__(self, bus: Bus, *, group_id: str, instance_id: str, now_ms: Callable[[], int] | None = None) -> None:
        settings, catalogue = bus.settings, bus.catalogue
        self.decisions_topic = catalogue.topic(DECISIONS_TOPIC)
        self.state_topic = catalogue.topic(ALERT_STATE_TOPIC)
        self.alerts_topic = catalogue.topic(ALERTS_TOPIC)
        self.dead_letter_topic = catalogue.topic(DEAD_LETTER_TOPIC)
        self.settings = settings
        self.book = AlertBook(catalogue.agencies, catalogue.border_points, load_rule_config(settings.config_dir / "rules.yaml"))
        self.schema = bus.schemas.latest("alert")
        self.finding_schema = bus.schemas.latest("correlator-finding")
        self.registry = SchemaRegistry(settings, known=bus.schemas)
        self.now_ms = now_ms or (lambda: int(time.time() * 1000))
        self.states: dict[int, dict[str, AlertState]] = {}
        self.consumer = Consumer(settings.consumer_config(group_id, **{"session.timeout.ms": SESSION_TIMEOUT_MS}))
        self.producer = Producer(
            {
                **settings.producer_config(transactional_id=f"{group_id}-{instance_id}"),
                "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS,
            }
        )
        self.stop_event = threading.Event()

    def run(self) -> None:
        self.registry.register(self.schema)
        self.producer.init_transactions(30)
        self.consumer.subscribe([self.decisions_topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        try:
            while not self.stop_event.is_set():
                messages = next_batch(self.consumer, 500, 0.5)
                if messages:
                    self._process_batch(messages)
        finally:
            self.consumer.close()

    def stop(self) -> None:
        self.stop_event.set()

    def _process_batch(self, messages: list[Message]) -> None:
        self.producer.begin_transaction()
        try:
            published = [self._apply(message) for message in messages]
            self.producer.send_offsets_to_transaction(
                self.consumer.position(self.consumer.assignment()), self.consumer.consumer_group_metadata()
            )
            self.producer.commit_transaction(30)
        except KafkaException as error:
            log.warning("alert batch aborted, will be processed again: %s", error)
            self.producer.abort_transaction(30)
            self._rewind()
            return
        TABLE_ENTRIES.labels("alert-state").set(sum(len(states) for states in self.states.values()))
        for state in (item for item in published if item is not None):
            ALERTS_EMITTED.labels(state.rule, state.severity).inc()
            if state.status == "OPEN" and state.evidence:
                newest = max(observation.reported_at_ms for observation in state.evidence.values())
                EVENT_TO_ALERT_LATENCY.observe(max(0.0, time.time() - newest / 1000))

    def _apply(self, message: Message) -> AlertState | None:
        partition = message.partition() or 0
        alert_id = (message.key() or b"").decode()
        try:
            record = codec.decode(message.value() or b"", self.finding_schema, self.registry.lookup)
        except codec.DecodeError as error:
            self._dead_letter(message, error)
            return None
        decision = finding_from_json(record)
        states = self.states.setdefault(partition, {})
        state = self.book.apply(states.get(alert_id), decision, self.now_ms())
        if state is None:
            return None
        states[alert_id] = state
        self.producer.produce(
            self.alerts_topic, key=alert_id.encode(), value=codec.encode(self.schema, self.book.to_record(state))
        )
        self.producer.produce(
            self.state_topic, partition=partition, key=alert_id.encode(), value=json.dumps(state.to_json()).encode()
        )
        return state

    def _dead_letter(self, message: Message, error: codec.DecodeError) -> None:
        """In the batch's transaction, so the record is dead-lettered exactly when its offset commits."""
        produce_dead_letter(
            self.producer, self.dead_letter_topic, message, reason=error.reason, detail=error.detail, service=SERVICE
        )

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.states[tp.partition] = self._load_state(tp.partition)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.states.pop(tp.partition, None)

    def _rewind(self) -> None:
        """After an abort: back to the committed offsets and the committed state."""
        assignment = self.consumer.assignment()
        for tp in self.consumer.committed(assignment, timeout=30):
            self.consumer.seek(TopicPartition(tp.topic, tp.partition, max(tp.offset, 0)))
            self.states[tp.partition] = self._load_state(tp.partition)

    def _load_state(self, partition: int) -> dict[str, AlertState]:
        """Read one partition of the state topic up to its end (committed records only)."""
        reader = Consumer(self.settings.consumer_config(f"{self.state_topic}-loader", **{"enable.partition.eof": True}))
        states: dict[str, AlertState] = {}
        try:
            tp = TopicPartition(self.state_topic, partition, 0)
            low, high = reader.get_watermark_offsets(tp, timeout=30)
            if high <= low:
                return states
            reader.assign([TopicPartition(self.state_topic, partition, low)])
            while True:
                message = reader.poll(1.0)
                if message is None:
                    continue
                error, value = message.error(), message.value()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        break
                    raise KafkaException(error)
                if value is not None:
                    states[(message.key() or b"").decode()] = AlertState.from_json(json.loads(value))
        finally:
            reader.close()
        return states
