"""Reads the alert and action logs from their beginning into the desk's state, in one thread.

Every desk instance reads every partition itself (no consumer group): each needs the whole state.
The desk is *caught up* once it has applied both logs up to the ends they had when it started;
only then does it serve /readyz, escalate, or push to webhooks, so a restart never mistakes
history for news. An undecodable alert is skipped here and dead-lettered once by the router,
which (unlike this reader) commits its position, so a restart does not dead-letter it again.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from borderbus import codec
from borderbus.batches import next_batch
from borderbus.bus import Bus
from borderbus.catalogue import ALERT_ACTIONS_TOPIC, ALERTS_TOPIC
from borderbus.codec import DecodeError
from borderbus.schema_registry import SchemaRegistry
from borderbus_desk.metrics import ALERTS_BY_STATUS, CAUGHT_UP, CONSUMER_LAG, TIME_TO_ACKNOWLEDGE
from borderbus_desk.state import Action, ActionOutcome, Change, DeskState

log = logging.getLogger(__name__)

ChangeListener = Callable[[list[Change], list[ActionOutcome], bool], None]
"""Called after each batch with the changes, the action outcomes, and whether the desk was caught up."""

_LAG_INTERVAL_S = 5.0


class AlertLogReader:
    def __init__(self, bus: Bus, state: DeskState, lock: threading.Lock, listener: ChangeListener) -> None:
        settings = bus.settings
        self.alerts_topic = bus.catalogue.topic(ALERTS_TOPIC)
        self.actions_topic = bus.catalogue.topic(ALERT_ACTIONS_TOPIC)
        self.alert_schema = bus.schemas.latest("alert")
        self.action_schema = bus.schemas.latest("alert-action")
        self.registry = SchemaRegistry(settings, known=bus.schemas)
        self.consumer = Consumer(settings.consumer_config(f"{settings.topic_prefix}borderbus-desk-reader-{uuid.uuid4().hex[:8]}"))
        self.state, self.lock, self.listener = state, lock, listener
        self.caught_up = threading.Event()
        self._targets: dict[tuple[str, int], int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="desk-log-reader", daemon=True)
        self._last_lag = 0.0

    def start(self) -> None:
        """Assign every partition of both topics from the beginning and note where 'now' ends."""
        metadata = self.consumer.list_topics(timeout=30)
        partitions = []
        for topic in (self.alerts_topic, self.actions_topic):
            if topic not in metadata.topics or metadata.topics[topic].error is not None:
                raise RuntimeError(f"topic {topic} does not exist: run 'borderbus topics apply'")
            for partition in metadata.topics[topic].partitions:
                low, high = self.consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30, cached=False)
                if high > low:
                    self._targets[(topic, partition)] = high
                partitions.append(TopicPartition(topic, partition, OFFSET_BEGINNING))
        self.consumer.assign(partitions)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                messages = next_batch(self.consumer, 500, 0.2)
                if messages:
                    self._apply(messages)
                if not self.caught_up.is_set():
                    self._check_caught_up()
                if time.monotonic() - self._last_lag >= _LAG_INTERVAL_S:
                    self._update_lag()
        except Exception:
            log.exception("desk log reader stopped")
            raise
        finally:
            self.consumer.close()

    def _apply(self, messages: list[Message]) -> None:
        live = self.caught_up.is_set()
        changes: list[Change] = []
        outcomes: list[ActionOutcome] = []
        for message in messages:
            try:
                record = codec.decode(
                    message.value() or b"",
                    self.alert_schema if message.topic() == self.alerts_topic else self.action_schema,
                    self.registry.lookup,
                )
            except DecodeError as error:
                log.warning("skipping %s[%s]@%s: %s", message.topic(), message.partition(), message.offset(), error)
                continue
            with self.lock:
                if message.topic() == self.alerts_topic:
                    _, published_ms = message.timestamp()
                    changes += self.state.apply_alert(record, published_ms)
                else:
                    outcome = self.state.apply_action(Action.from_record(record))
                    outcomes.append(outcome)
                    if outcome.change is not None:
                        changes.append(outcome.change)
                    if live and outcome.applied and outcome.action.action == "ACKNOWLEDGE":
                        alert = self.state.alerts[outcome.action.alert_id]
                        TIME_TO_ACKNOWLEDGE.labels(alert.severity).observe(
                            max(0.0, (outcome.action.occurred_at_ms - alert.created_ms) / 1000)
                        )
        with self.lock:
            counts = self.state.status_counts()
        for status, count in counts.items():
            ALERTS_BY_STATUS.labels(status).set(count)
        self.listener(changes, outcomes, live)

    def _positions(self) -> dict[tuple[str, int], int]:
        return {(tp.topic, tp.partition): tp.offset for tp in self.consumer.position(self.consumer.assignment())}

    def _check_caught_up(self) -> None:
        positions = self._positions()
        if all(positions.get(key, -1) >= target for key, target in self._targets.items()):
            self.caught_up.set()
            CAUGHT_UP.set(1)
            log.info("desk caught up: %d alerts", len(self.state.alerts))

    def _update_lag(self) -> None:
        self._last_lag = time.monotonic()
        lag = {self.alerts_topic: 0, self.actions_topic: 0}
        for (topic, partition), position in self._positions().items():
            _, high = self.consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True) or (0, 0)
            lag[topic] += max(0, high - max(position, 0))
        for topic, records in lag.items():
            CONSUMER_LAG.labels(topic).set(records)
