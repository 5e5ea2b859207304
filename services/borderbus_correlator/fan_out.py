"""The first stage: each agency event from the ingest topics becomes one route per named subject.

It ran in Faust until measured otherwise: Faust's at-least-once offset tracking mishandles the
offset gaps that transaction markers leave in the agencies' (transactional) ingest topics, and
committed an ingest offset whose event had never been fanned out (faust-streaming issue #606):
after a SIGKILL, a flagged_money_meets_border alert never formed, because its finance flag had no
route at all on ``correlator.by-subject``.

At least once, without a transaction (it keeps no state): routes and dead letters are flushed
(idempotent, ``acks=all``) before the offsets of their events are committed, so a crash only repeats
routes, which the subjects' histories recognise as duplicates. That happens every
:data:`COMMIT_INTERVAL_SECONDS`, not after every batch. Every producer of the bus
partitions keys alike (murmur2), so a subject's direct and linked routes meet in one partition.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition

from borderbus.batches import next_batch
from borderbus.bus import Bus
from borderbus.catalogue import DEAD_LETTER_TOPIC
from borderbus.codec import DecodeError
from borderbus.config import PIPELINE_FETCH_WAIT_MS, KafkaConfig, Settings
from borderbus.dead_letter import produce_dead_letter
from borderbus.exactly_once import BATCH_RECORDS
from borderbus.ingest import decode_ingest
from borderbus.schema_registry import SchemaRegistry
from borderbus_correlator.metrics import CONSUMER_LAG, EVENTS_CONSUMED
from borderbus_correlator.observation import observe
from borderbus_correlator.pipeline import fan_out
from borderbus_correlator.route_codec import route_messages

log = logging.getLogger(__name__)

SERVICE = "correlator"
SESSION_TIMEOUT_MS = 10_000
LAG_INTERVAL_SECONDS = 5.0
COMMIT_INTERVAL_SECONDS = 0.1
"""How often the fan-out waits for its routes' acknowledgements and commits its offsets. Done after every batch, the
fan-out stood idle for each batch's acknowledgements and sent an offset commit per batch (at a few hundred events/s,
one per event or two); in six paired 50,000-event drains of one process this drained at 6,176 events/s against 5,517
(means). Routes are sent as they are made either way; a crash repeats at most this long's routes, which add nothing."""

FETCH_MIN_BYTES = 100_000
"""The broker answers the fan-out's fetch once this much is there, or after ``fetch.wait.max.ms``. Each fetch names
every ingest partition (sixty; librdkafka has no incremental fetch sessions), about 0.8 ms of the broker's CPU, and
answered at the first record the fan-out fetched 300-500 times a second at 500 events/s. Records of the agencies'
transactions become visible at their commit, which does not wake a waiting fetch, so it waited out
``fetch.wait.max.ms`` at low rates already. Paired runs at 500 events/s: fetches of all stages 459-500 -> 292-297/s,
broker CPU 2.63-2.81 -> 2.35-2.45 ms/event, event-to-alert p99 466-512 -> 262-381 ms."""


def consumer_config(settings: Settings, group_id: str) -> KafkaConfig:
    """The bus's consumer, fetching in bulk (:data:`FETCH_MIN_BYTES`)."""
    overrides = {
        "session.timeout.ms": SESSION_TIMEOUT_MS,
        "fetch.wait.max.ms": PIPELINE_FETCH_WAIT_MS,
        "fetch.min.bytes": FETCH_MIN_BYTES,
    }
    return settings.consumer_config(group_id, **overrides)


def producer_config(settings: Settings) -> KafkaConfig:
    """The bus's producer, reporting only failed deliveries: a Python callback per route acknowledged was a tenth of
    the fan-out's time, and the batch's flush already waits for every acknowledgement."""
    return {**settings.producer_config(), "delivery.report.only.error": True}


class FanOut:
    """One member of the fan-out consumer group; run :meth:`run` in its own thread."""

    def __init__(self, bus: Bus, *, group_id: str, by_subject_topic: str) -> None:
        self.bus = bus
        self.catalogue = bus.catalogue
        self.by_subject_topic = by_subject_topic
        self.dead_letter_topic = bus.catalogue.topic(DEAD_LETTER_TOPIC)
        self.registry = SchemaRegistry(bus.settings, known=bus.schemas)
        self.consumer = Consumer(consumer_config(bus.settings, group_id))
        self.producer = Producer(producer_config(bus.settings))
        self.stop_event = threading.Event()
        self._failures: list[str] = []
        self._last_lag = 0.0
        self._assigned = 0
        self._next_offsets: dict[tuple[str, int], int] = {}  # consumed, routes sent, not committed yet
        self._last_commit = time.monotonic()

    def run(self) -> None:
        self.consumer.subscribe(self.catalogue.ingest_topics(), on_assign=self._on_assign, on_revoke=self._on_revoke)
        try:
            while not self.stop_event.is_set():
                messages = next_batch(self.consumer, BATCH_RECORDS, 0.5)
                if messages:
                    self._process(messages)
                if time.monotonic() - self._last_commit >= COMMIT_INTERVAL_SECONDS:
                    self._commit()
                self._measure_lag()
            self._commit()
        finally:
            self.producer.flush(30)
            self.consumer.close()

    def stop(self) -> None:
        self.stop_event.set()

    def assigned(self) -> int:
        """Partitions held, for other threads (the consumer itself is only touched by its own thread)."""
        return self._assigned

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned = len(partitions)

    def _on_revoke(self, _consumer: Consumer, _partitions: list[TopicPartition]) -> None:
        self._commit()  # before the partitions move: their next owner starts after the routes sent here
        self._assigned = 0

    def _process(self, messages: list[Message]) -> None:
        next_offsets = self._next_offsets
        consumed: Counter[tuple[str, str]] = Counter()  # counted per batch: a labelled increment per event showed in profiles
        for message in messages:
            topic, partition, offset = message.topic() or "", message.partition() or 0, message.offset() or 0
            try:
                agency, event_type, record = decode_ingest(
                    self.catalogue, self.bus.schemas, self.registry.lookup, topic, message.value()
                )
            except DecodeError as error:
                self._dead_letter(message, error)
            else:
                consumed[(agency, event_type)] += 1
                for key, value in route_messages(fan_out(observe(agency, event_type, record))):
                    self._produce(key, value)
            next_offsets[(topic, partition)] = offset + 1
        for (agency, event_type), count in consumed.items():
            EVENTS_CONSUMED.labels(agency, event_type).inc(count)
        self.producer.poll(0)  # failed deliveries, reported so far
        self._check_delivered(remaining=0)

    def _commit(self) -> None:
        """Once every route sent is acknowledged, the offsets past the events they came from."""
        self._last_commit = time.monotonic()
        if not self._next_offsets:
            return
        self._check_delivered(remaining=self.producer.flush(30))
        offsets = [TopicPartition(topic, partition, offset) for (topic, partition), offset in self._next_offsets.items()]
        self._next_offsets = {}
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as error:  # revoked meanwhile: the next owner repeats these routes, which adds nothing
            log.warning("fan-out offsets not committed, these events will be fanned out again: %s", error)

    def _check_delivered(self, *, remaining: int) -> None:
        """Raise when a route or dead letter failed, or ``remaining`` of them are still unacknowledged."""
        if remaining or self._failures:
            raise KafkaException(f"fan-out routes not acknowledged: {self._failures[:3] or f'{remaining} pending'}")

    def _produce(self, key: bytes, value: bytes) -> None:
        """Queue one route; acknowledgements are served by the commit's flush, not after every route (a ``poll``
        per route was 16% of the worker's samples), except when the queue is full."""
        try:
            self.producer.produce(self.by_subject_topic, key=key, value=value, on_delivery=self._on_delivery)
        except BufferError:
            self.producer.poll(1.0)
            self.producer.produce(self.by_subject_topic, key=key, value=value, on_delivery=self._on_delivery)

    def _dead_letter(self, message: Message, error: DecodeError) -> None:
        produce_dead_letter(
            self.producer,
            self.dead_letter_topic,
            message,
            reason=error.reason,
            detail=error.detail,
            service=SERVICE,
            on_delivery=self._on_delivery,
        )

    def _on_delivery(self, error: object, _message: object) -> None:
        if error is not None:
            self._failures.append(str(error))

    def _measure_lag(self) -> None:
        if time.monotonic() - self._last_lag < LAG_INTERVAL_SECONDS:
            return
        self._last_lag = time.monotonic()
        lag: dict[str, int] = {}
        for tp in self.consumer.position(self.consumer.assignment()):
            _low, high = self.consumer.get_watermark_offsets(tp, cached=True) or (0, 0)
            lag[tp.topic] = lag.get(tp.topic, 0) + (max(0, high - tp.offset) if tp.offset >= 0 else 0)
        for topic, records in lag.items():
            CONSUMER_LAG.labels(topic).set(records)
