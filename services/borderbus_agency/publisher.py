"""Publish an agency's events: validate all, then write them in one Kafka transaction.

A transaction makes a batch all or nothing even when the broker fails half-way: consumers read
``read_committed``, so an aborted batch is never seen. ``publish`` returns only after Kafka has
acknowledged every event of the batch.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient

from borderbus.bus import Bus
from borderbus.catalogue import EVENT_TYPES
from borderbus.codec import encode
from borderbus.events import EventPreparer, FieldError, InvalidEvents, PreparedEvent
from borderbus.schema_registry import SchemaRegistry
from borderbus_agency.metrics import EVENTS_ACCEPTED, EVENTS_REJECTED, LAST_ACCEPTED, PRODUCE_LATENCY

log = logging.getLogger(__name__)


class BrokerUnavailable(Exception):
    """Kafka did not acknowledge the batch; nothing of it is visible to consumers."""


class AgencyPublisher:
    """The publishing side of one agency. Thread-safe; batches are written one transaction at a time."""

    def __init__(
        self,
        bus: Bus,
        agency_code: str,
        *,
        instance_id: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        catalogue = self.catalogue = bus.catalogue
        self.agency = catalogue.agency(agency_code)
        self.writer_schemas = {event_type: bus.schemas.latest(event_type) for event_type in self.agency.publishes}
        every_type = {event_type: bus.schemas.latest(event_type) for event_type in EVENT_TYPES}
        self.preparer = EventPreparer(catalogue, every_type, self.agency)
        self.registry = SchemaRegistry(catalogue.settings, timeout=timeout)
        self.timeout = timeout
        self.transactional_id = f"{catalogue.prefix}agency-{agency_code}-{instance_id or socket.gethostname()}"
        self._producer: Producer | None = None
        self._admin: AdminClient | None = None
        self._lock = threading.Lock()

    def prepare(self, event_type: str, bodies: list[Any], *, first_index: int = 0) -> list[PreparedEvent]:
        """Validate without publishing (counts rejections)."""
        try:
            return self.preparer.prepare_batch(event_type, bodies, first_index=first_index)
        except InvalidEvents as invalid:
            self._count_rejections(event_type, invalid.errors, len(bodies))
            raise

    def publish(
        self,
        event_type: str,
        bodies: list[Any],
        *,
        on_acknowledged: Callable[[int], None] | None = None,
    ) -> list[str]:
        """Validate and publish a batch; returns the event ids once Kafka acknowledged all of them."""
        events = self.prepare(event_type, bodies)
        self.publish_prepared(events, on_acknowledged=on_acknowledged)
        return [event.event_id for event in events]

    def publish_prepared(self, events: list[PreparedEvent], *, on_acknowledged: Callable[[int], None] | None = None) -> None:
        if not events:
            return
        event_type = events[0].event_type
        schema = self.writer_schemas[event_type]
        payloads = [(event.key.encode(), encode(schema, event.record)) for event in events]
        topic = self.catalogue.ingest_topic(self.agency.code, event_type)
        started = time.perf_counter()
        with self._lock:
            try:
                self.registry.register(schema)
                producer = self._transactional_producer()
                producer.begin_transaction()
                for key, value in payloads:
                    self._produce(producer, topic, key, value, on_acknowledged)
                producer.commit_transaction(self.timeout)
            except KafkaException as error:
                self._abandon_transaction()
                EVENTS_REJECTED.labels(self.agency.code, event_type, "broker_unavailable").inc(len(events))
                raise BrokerUnavailable(f"Kafka did not acknowledge the batch: {error}") from error
        PRODUCE_LATENCY.labels(self.agency.code).observe(time.perf_counter() - started)
        EVENTS_ACCEPTED.labels(self.agency.code, event_type).inc(len(events))
        LAST_ACCEPTED.labels(self.agency.code).set_to_current_time()

    @staticmethod
    def _produce(producer: Producer, topic: str, key: bytes, value: bytes, on_acknowledged: Callable[[int], None] | None) -> None:
        callback = (lambda error, _msg: on_acknowledged(1) if error is None else None) if on_acknowledged else None
        while True:
            try:
                producer.produce(topic, key=key, value=value, on_delivery=callback)
                producer.poll(0)
                return
            except BufferError:
                producer.poll(0.1)  # local queue full: let deliveries drain, then retry

    def _transactional_producer(self) -> Producer:
        if self._producer is None:
            producer = Producer(
                {
                    **self.catalogue.settings.producer_config(transactional_id=self.transactional_id),
                    "transaction.timeout.ms": 60000,
                    "message.timeout.ms": int(self.timeout * 1000),
                }
            )
            producer.init_transactions(self.timeout)
            self._producer = producer
        return self._producer

    def _abandon_transaction(self) -> None:
        """Abort, then start over with a new producer.

        After a failure the old producer's sequence numbers may no longer match what the broker
        kept (seen as OUT_OF_ORDER_SEQUENCE_NUMBER after a broker restart); the next producer's
        ``init_transactions`` fences this one, aborts anything it left open, and starts clean.
        """
        producer, self._producer = self._producer, None
        if producer is None:
            return
        try:
            producer.abort_transaction(min(self.timeout, 5.0))
        except KafkaException as error:
            log.warning("abort failed (%s); the next producer's init fences it on the broker", error)
        producer.purge(in_queue=True, in_flight=True, blocking=False)
        producer.flush(0)

    def _count_rejections(self, event_type: str, errors: list[FieldError], batch_size: int) -> None:
        """Every event of a refused request is counted once: by its first error, or as refused with its batch."""
        label = event_type if event_type in self.writer_schemas else "unknown"
        request_level = [error.code for error in errors if error.index is None]
        if request_level:
            EVENTS_REJECTED.labels(self.agency.code, label, request_level[0]).inc(batch_size)
            return
        first_code: dict[int | None, str] = {}
        for error in errors:
            first_code.setdefault(error.index, error.code)
        for code in first_code.values():
            EVENTS_REJECTED.labels(self.agency.code, label, code).inc()
        if batch_size > len(first_code):
            EVENTS_REJECTED.labels(self.agency.code, label, "refused_with_batch").inc(batch_size - len(first_code))

    def is_broker_reachable(self, timeout: float = 2.0) -> bool:
        """True when the cluster answers a metadata request."""
        if self._admin is None:
            self._admin = AdminClient(self.catalogue.settings.kafka_client_config())
        try:
            self._admin.list_topics(timeout=timeout)
            return True
        except KafkaException:
            return False

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.flush(self.timeout)
                self._producer = None
            self._admin = None  # its threads would otherwise keep dialling a broker that is gone
