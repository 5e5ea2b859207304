"""Publish an agency's events: validate all, then write them in one Kafka transaction.

A transaction makes a batch all or nothing even when the broker fails half-way: consumers read
``read_committed``, so an aborted batch is never seen. ``publish`` returns only after Kafka has
acknowledged every event of the batch.

A failed publish ends one of two ways, and the caller is told which:

- :class:`BrokerUnavailable`: certainly not committed (a record was never acknowledged, or Kafka
  said the transaction must abort). Nothing is visible; sending the batch again is safe.
- :class:`OutcomeUnknown`: every record was acknowledged and the commit was sent, but its answer
  did not come in time (e.g. ``_TIMED_OUT``). The batch may be committed. Sending it again with
  the same ``event_id`` values is safe: the publisher keeps that transaction and, on the next publish,
  finishes its commit first (librdkafka resumes a timed-out commit); event ids it knows were
  committed are acknowledged again without being written twice.

Event ids committed are remembered (the last :data:`REMEMBERED_EVENT_IDS`), so a retry of a
committed batch, e.g. after its 202 was lost on the way, is answered without re-publishing. A
restarted service first reads back what its agency committed in the last :data:`RECALL_SECONDS`
(:meth:`AgencyPublisher.recall_committed`): measured by the chaos run, a service killed after its
commit reached Kafka but before its 202 left otherwise wrote the client's retry a second time. A
retry that reaches another instance at the same moment is still written again; the correlator
drops it as a duplicate ``event_id`` in the subject's history, so nothing downstream changes.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from borderbus.bus import Bus
from borderbus.catalogue import EVENT_TYPES
from borderbus.codec import DecodeError, encode
from borderbus.events import EventPreparer, FieldError, InvalidEvents, PreparedEvent
from borderbus.ingest import decode_ingest
from borderbus.partition_reader import PartitionReader
from borderbus.schema_registry import SchemaRegistry
from borderbus_agency.metrics import (
    COMMITS_IN_DOUBT,
    DUPLICATE_EVENTS,
    EVENTS_ACCEPTED,
    EVENTS_REJECTED,
    LAST_ACCEPTED,
    PRODUCE_LATENCY,
)

log = logging.getLogger(__name__)

REMEMBERED_EVENT_IDS = 100_000
RECALL_SECONDS = 15 * 60  # longer than any client keeps retrying one batch
ABORTED = "aborted"
PENDING = "pending"
UNRESOLVED = "unresolved"


class PublishNotAcknowledged(Exception):
    """Kafka did not confirm the batch: see the two subclasses for what that means."""


class BrokerUnavailable(PublishNotAcknowledged):
    """Kafka did not acknowledge the batch; nothing of it is visible to consumers."""


class OutcomeUnknown(PublishNotAcknowledged):
    """The commit was sent but not confirmed: the batch may be visible. Retrying with the same event ids is safe."""

    def __init__(self, message: str, event_ids: list[str]) -> None:
        super().__init__(message)
        self.event_ids = event_ids


def failed_commit_outcome(error: KafkaError | None) -> str:
    """What a failed ``commit_transaction`` (called once every record was acknowledged) means.

    ABORTED: certainly not committed; ``txn_requires_abort()`` means Kafka refused the transaction.
    PENDING: may be committed, and the commit can be resumed (``_TIMED_OUT`` or another retriable
    error: calling ``commit_transaction`` again finishes it). UNRESOLVED: may be committed, and this
    producer cannot find out (fatal, e.g. fenced); the next producer's fencing settles it on the
    broker. (With a record unacknowledged the publisher never calls commit, so that is ABORTED too:
    librdkafka sends the commit only after every record.)
    """
    if error is None:
        return UNRESOLVED
    if error.txn_requires_abort():
        return ABORTED
    if error.retriable() or error.code() == KafkaError._TIMED_OUT:
        return PENDING
    return UNRESOLVED


def _kafka_error(error: KafkaException) -> KafkaError | None:
    return error.args[0] if error.args and isinstance(error.args[0], KafkaError) else None


class RecentIds:
    """The last ``capacity`` event ids committed, oldest forgotten first."""

    def __init__(self, capacity: int = REMEMBERED_EVENT_IDS) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, event_ids: Iterable[str]) -> None:
        for event_id in event_ids:
            self._ids[event_id] = None
            self._ids.move_to_end(event_id)
        while len(self._ids) > self.capacity:
            self._ids.popitem(last=False)


@dataclass
class _InDoubt:
    """A transaction whose commit was sent but not confirmed, kept so its commit can be finished."""

    producer: Producer
    event_type: str
    event_ids: list[str]


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
        self.schemas = bus.schemas
        self.writer_schemas = {event_type: bus.schemas.latest(event_type) for event_type in self.agency.publishes}
        every_type = {event_type: bus.schemas.latest(event_type) for event_type in EVENT_TYPES}
        self.preparer = EventPreparer(catalogue, every_type, self.agency)
        self.registry = SchemaRegistry(catalogue.settings, timeout=timeout)
        self.timeout = timeout
        self.transactional_id = f"{catalogue.prefix}agency-{agency_code}-{instance_id or socket.gethostname()}"
        self._producer: Producer | None = None
        self._admin: AdminClient | None = None
        self._lock = threading.Lock()
        self.committed = RecentIds()
        self._in_doubt: _InDoubt | None = None

    def recall_committed(self, seconds: float = RECALL_SECONDS) -> int:
        """Remember the event ids this agency committed in the last ``seconds`` (read back from its own
        ingest topics, committed records only), so a client's retry after a restart is not written twice.
        Returns how many were recalled."""
        with self._lock:
            self._transactional_producer()  # fences a killed predecessor and lets a commit it had sent finish first
        settings = self.catalogue.settings
        since_ms = int((time.time() - seconds) * 1000)
        recalled: list[str] = []
        own_schemas = SchemaRegistry(settings, timeout=self.timeout, known=self.schemas)  # what this build wrote with
        with PartitionReader.connect(settings, f"{self.transactional_id}-recall", what="recalling committed event ids") as reader:
            topics = [self.catalogue.ingest_topic(self.agency.code, event_type) for event_type in self.agency.publishes]
            partitions = reader.topic_partitions(topics, timeout=self.timeout, skip_missing=True)
            starts = reader.from_time(partitions, since_ms, timeout=self.timeout)
            if not starts:
                return 0
            for message in reader.read(starts, within=4 * self.timeout, skip_transient_errors=True):
                try:
                    _agency, _type, record = decode_ingest(
                        self.catalogue, self.schemas, own_schemas.lookup, message.topic() or "", message.value()
                    )
                except (DecodeError, KafkaException):
                    continue  # written by another build: not ours to judge here (the correlator dead-letters the undecodable)
                recalled.append(str(record["event_id"]))
        self.committed.add(recalled)
        log.info("recalled %d event ids committed in the last %.0f s", len(recalled), seconds)
        return len(recalled)

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
        """Validate and publish a batch; returns the event ids once Kafka acknowledged all of them (or had already)."""
        events = self.prepare(event_type, bodies)
        self.publish_prepared(events, on_acknowledged=on_acknowledged)
        return [event.event_id for event in events]

    def publish_prepared(self, events: list[PreparedEvent], *, on_acknowledged: Callable[[int], None] | None = None) -> list[str]:
        """Publish in one transaction; returns the ids that were already committed (acknowledged, not rewritten).

        Raises :class:`BrokerUnavailable` (nothing visible) or :class:`OutcomeUnknown` (may be visible).
        """
        if not events:
            return []
        event_type = events[0].event_type
        schema = self.writer_schemas[event_type]
        topic = self.catalogue.ingest_topic(self.agency.code, event_type)
        started = time.perf_counter()
        with self._lock:
            self._settle_in_doubt([event.event_id for event in events])
            already = [event.event_id for event in events if event.event_id in self.committed]
            fresh = [event for event in events if event.event_id not in self.committed]
            if already:
                DUPLICATE_EVENTS.labels(self.agency.code, event_type).inc(len(already))
                if on_acknowledged:
                    on_acknowledged(len(already))
            if not fresh:
                return already
            payloads = [(event.key.encode(), encode(schema, event.record)) for event in fresh]
            event_ids = [event.event_id for event in fresh]
            try:
                self.registry.register(schema)
                producer = self._transactional_producer()
                producer.begin_transaction()
                for key, value in payloads:
                    self._produce(producer, topic, key, value, on_acknowledged)
                unacknowledged = producer.flush(self.timeout)
            except KafkaException as error:
                self._refuse(event_type, len(fresh), error)
            if unacknowledged:  # the commit is never sent with a record unacknowledged, so this is certain
                self._refuse(event_type, len(fresh), f"{unacknowledged} of {len(fresh)} events not acknowledged in time")
            try:
                self._commit_transaction(producer)
            except KafkaException as error:
                outcome = failed_commit_outcome(_kafka_error(error))
                if outcome == ABORTED:
                    self._refuse(event_type, len(fresh), error)
                COMMITS_IN_DOUBT.labels(self.agency.code, "unknown").inc()
                if outcome == PENDING:
                    self._producer = None  # kept aside: the next publish finishes this commit first
                    self._in_doubt = _InDoubt(producer, event_type, event_ids)
                else:
                    COMMITS_IN_DOUBT.labels(self.agency.code, UNRESOLVED).inc()
                    self._abandon_transaction()
                raise OutcomeUnknown(
                    f"Kafka did not confirm the commit ({error}); the events may be visible. "
                    "Retrying with the same event_ids is safe.",
                    [event.event_id for event in events],
                ) from error
            self._committed(event_type, event_ids)
        PRODUCE_LATENCY.labels(self.agency.code).observe(time.perf_counter() - started)
        return already

    def _commit_transaction(self, producer: Producer) -> None:
        """The one call whose failure can leave a batch's outcome unknown (a seam for the real-broker test)."""
        producer.commit_transaction(self.timeout)

    def _refuse(self, event_type: str, count: int, error: KafkaException | str) -> NoReturn:
        """Certainly not committed: abort, start over, and say nothing is visible."""
        self._abandon_transaction()
        EVENTS_REJECTED.labels(self.agency.code, event_type, "broker_unavailable").inc(count)
        cause = error if isinstance(error, KafkaException) else None
        raise BrokerUnavailable(f"Kafka did not acknowledge the batch: {error}") from cause

    def _committed(self, event_type: str, event_ids: list[str]) -> None:
        self.committed.add(event_ids)
        EVENTS_ACCEPTED.labels(self.agency.code, event_type).inc(len(event_ids))
        LAST_ACCEPTED.labels(self.agency.code).set_to_current_time()

    def _settle_in_doubt(self, requested: list[str]) -> None:
        """Finish an earlier in-doubt commit before anything else: committed, aborted, or still unknown.

        Still pending (Kafka still not answering): a retry of that batch gets :class:`OutcomeUnknown`
        again, any other batch :class:`BrokerUnavailable` (it was not sent). Aborted or unresolved
        (the producer failed for good; the next producer's fencing settles it): the ids are not
        remembered, so a retry writes them again (if they had been committed after all, a duplicate
        the correlator drops).
        """
        doubt = self._in_doubt
        if doubt is None:
            return
        try:
            doubt.producer.commit_transaction(self.timeout)
        except KafkaException as error:
            outcome = failed_commit_outcome(_kafka_error(error))
            if outcome == PENDING:
                if not set(doubt.event_ids).isdisjoint(requested):
                    raise OutcomeUnknown(
                        f"the earlier commit of these events is still unconfirmed ({error}); "
                        "retrying with the same event_ids is safe",
                        requested,
                    ) from error
                raise BrokerUnavailable(
                    f"an earlier batch's commit is still unconfirmed ({error}); nothing of this batch was sent"
                ) from error
            log.warning("in-doubt batch of %d events: %s (%s)", len(doubt.event_ids), outcome, error)
            COMMITS_IN_DOUBT.labels(self.agency.code, outcome).inc()
            self._in_doubt = None
            self._producer = doubt.producer
            self._abandon_transaction()
            return
        log.info("in-doubt batch of %d events: committed", len(doubt.event_ids))
        COMMITS_IN_DOUBT.labels(self.agency.code, "committed").inc()
        self._in_doubt = None
        self._producer = doubt.producer
        self._committed(doubt.event_type, doubt.event_ids)

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
            if self._in_doubt is not None:  # one last chance to finish its commit
                try:
                    self._settle_in_doubt([])
                except PublishNotAcknowledged as error:
                    log.warning("closing with a batch in doubt: %s", error)
            if self._producer is not None:
                self._producer.flush(self.timeout)
                self._producer = None
            self._admin = None  # its threads would otherwise keep dialling a broker that is gone
