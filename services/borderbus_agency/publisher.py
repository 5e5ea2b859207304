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

Batches that arrive while a transaction is under way are written together in the next one (group
commit): each stays all or nothing inside it, and each caller still learns its own outcome. Under
concurrent requests that is one transaction per round instead of one per request, and the broker's
cost is per transaction (its transaction coordinator took about half of its CPU at 460
transactions/s). Under contention the next transaction also waits, briefly, for as many batches as the
last one held (:data:`TRANSACTION_INTERVAL_SECONDS`); a caller publishing alone never waits.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
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
    BATCHES_PER_TRANSACTION,
    COMMITS_IN_DOUBT,
    DUPLICATE_EVENTS,
    EVENTS_ACCEPTED,
    EVENTS_REJECTED,
    LAST_ACCEPTED,
    PACING_WAIT,
    PRODUCE_LATENCY,
)

log = logging.getLogger(__name__)

REMEMBERED_EVENT_IDS = 100_000
TRANSACTION_INTERVAL_SECONDS = 0.05
"""Under contention, the longest a transaction waits for as many batches as the last one held, counted from the last
one's start. The broker's cost is per transaction and per partition it touches, about 3 ms of its CPU for a
one-partition transaction on this machine. Sixteen callers publishing one event each (``bench_agency``, paired with
the next transaction taking whatever had queued): 8.3 -> 16.0 batches per transaction, broker CPU 0.33-0.49 ->
0.24-0.27 ms per event, 1,215-1,534 -> 1,471-1,622 events/s, publish p99 30-37 -> 16-18 ms."""
ROUND_EVENTS = 1_000
"""Most events of one transaction, unless one batch alone has more; a paced round starts at once when this many wait."""
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
    event_ids_by_type: dict[str, list[str]]

    @property
    def event_ids(self) -> list[str]:
        return [event_id for ids in self.event_ids_by_type.values() for event_id in ids]


@dataclass
class _Request:
    """One caller's batch waiting for a transaction, and what became of it."""

    events: list[PreparedEvent]
    on_acknowledged: Callable[[int], None] | None
    started: float
    fresh: list[PreparedEvent] = field(default_factory=list)  # to write: not committed before, not earlier in the round
    already: list[str] = field(default_factory=list)
    error: PublishNotAcknowledged | None = None
    finished: bool = False

    @property
    def event_ids(self) -> list[str]:
        return [event.event_id for event in self.events]

    def fail(self, error: PublishNotAcknowledged, cause: BaseException | None = None) -> None:
        error.__cause__ = cause
        self.error, self.finished = error, True


class AgencyPublisher:
    """The publishing side of one agency. Thread-safe; one transaction at a time, holding every batch that
    arrived while the one before it was under way."""

    def __init__(
        self,
        bus: Bus,
        agency_code: str,
        *,
        instance_id: str | None = None,
        timeout: float = 10.0,
        transaction_interval: float | None = None,
        round_events: int = ROUND_EVENTS,
    ) -> None:
        """``transaction_interval``: see :data:`TRANSACTION_INTERVAL_SECONDS` (0: a round never waits for company);
        ``round_events``: see :data:`ROUND_EVENTS`."""
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
        self._lock = threading.Lock()  # the producer and the state below: held by one round's leader
        self._queue: list[_Request] = []
        self._leading = False  # a round is taking the queue
        queue_lock = threading.Lock()
        self._queue_changed = threading.Condition(queue_lock)  # a round ended
        self._batch_queued = threading.Condition(queue_lock)  # for a round's leader waiting for company
        self.transaction_interval = TRANSACTION_INTERVAL_SECONDS if transaction_interval is None else transaction_interval
        self.round_events = round_events
        self._next_round = 0.0  # monotonic time before which a contended round does not start
        self._last_round_batches = 0
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
        """Publish all or nothing; returns the ids that were already committed (acknowledged, not rewritten).

        The batch joins the next transaction: the caller that finds no round under way leads it, taking
        the batches queued by then (up to ``round_events`` events); the others wait for their outcome.
        ``on_acknowledged`` may run on the leader's thread. Raises :class:`BrokerUnavailable` (nothing
        visible) or :class:`OutcomeUnknown` (may be visible).
        """
        if not events:
            return []
        request = _Request(events, on_acknowledged, time.perf_counter())
        with self._queue_changed:
            self._queue.append(request)
            self._batch_queued.notify()
        while True:
            with self._queue_changed:
                while self._leading and not request.finished:
                    self._queue_changed.wait()
                if request.finished:
                    break
                self._leading = True
                self._pace()
                round_ = self._take_round()  # older batches first: this one may wait for the next round
            try:
                with self._lock:
                    self._publish_round(round_)
            finally:
                with self._queue_changed:
                    self._leading = False
                    for unfinished in (r for r in round_ if not r.finished):  # an unexpected error: nothing committed
                        unfinished.fail(BrokerUnavailable("the batch's transaction failed before its commit"))
                    self._queue_changed.notify_all()
        if request.error is not None:
            raise request.error
        return request.already

    def _pace(self) -> None:
        """Under contention (the last round held several batches), wait until as many batches are queued as the last
        round held, ``round_events`` events are, or ``transaction_interval`` has passed since the last round's start,
        whichever comes first; called holding the queue's lock.

        Callers that each wait for their answer before sending again are all back soon, and their round starts then;
        batches from independent senders gather for up to the interval. A caller alone is never held back: its
        rounds hold one batch each.
        """
        now = time.monotonic()
        if self._last_round_batches > 1 and self._next_round > now:
            while (
                (early := self._next_round - time.monotonic()) > 0
                and len(self._queue) < self._last_round_batches
                and sum(len(queued.events) for queued in self._queue) < self.round_events
            ):
                self._batch_queued.wait(early)  # the batches arriving meanwhile join this round
            PACING_WAIT.labels(self.agency.code).observe(time.monotonic() - now)
        self._next_round = time.monotonic() + self.transaction_interval

    def _take_round(self) -> list[_Request]:
        """The queued batches, oldest first, up to ``round_events`` events (always at least one batch); the rest wait for
        the next round. Called holding the queue's lock."""
        taken = events = 0
        for queued in self._queue:
            if taken and events + len(queued.events) > self.round_events:
                break
            taken, events = taken + 1, events + len(queued.events)
        round_, self._queue = self._queue[:taken], self._queue[taken:]
        self._last_round_batches = len(round_)
        return round_

    @property
    def queued_batches(self) -> int:
        """Batches waiting for the next transaction (the one under way holds the rest)."""
        with self._queue_changed:
            return len(self._queue)

    def _publish_round(self, round_: list[_Request]) -> None:
        """One transaction for every batch of the round; each request ends finished, with its own outcome."""
        pending = self._settle_in_doubt()
        if pending is not None:
            doubtful = set(self._in_doubt.event_ids) if self._in_doubt else set()
            for request in round_:
                if doubtful.isdisjoint(request.event_ids):
                    unsent = f"an earlier batch's commit is still unconfirmed ({pending}); nothing of this batch was sent"
                    request.fail(BrokerUnavailable(unsent), pending)
                else:
                    request.fail(
                        OutcomeUnknown(
                            f"the earlier commit of these events is still unconfirmed ({pending}); "
                            "retrying with the same event_ids is safe",
                            request.event_ids,
                        ),
                        pending,
                    )
            return
        in_round: set[str] = set()
        writing: list[_Request] = []  # whose outcome is this transaction's: what it writes, or what an earlier batch of it does
        for request in round_:
            duplicates: Counter[str] = Counter()
            for event in request.events:
                if event.event_id in self.committed or event.event_id in in_round:
                    request.already.append(event.event_id)
                    duplicates[event.event_type] += 1
                else:
                    request.fresh.append(event)
                    in_round.add(event.event_id)
            # a batch repeating ids of an earlier batch of the round (the same retry twice at once) shares its outcome
            if request.fresh or not in_round.isdisjoint(request.already):
                writing.append(request)
            else:
                request.finished = True  # every id committed before: answered whatever this transaction does
            for event_type, count in duplicates.items():
                DUPLICATE_EVENTS.labels(self.agency.code, event_type).inc(count)
            if request.already and request.on_acknowledged:
                request.on_acknowledged(len(request.already))
        if not writing:
            return
        try:
            self._write(writing)
        except PublishNotAcknowledged:
            return  # each writing request holds its error
        for request in writing:
            PRODUCE_LATENCY.labels(self.agency.code).observe(time.perf_counter() - request.started)

    def _write(self, writing: list[_Request]) -> None:
        """Produce every fresh event in one transaction and commit it; on failure every request is failed, then raised."""
        fresh_by_type: dict[str, list[str]] = {}
        payloads: list[tuple[str, bytes, bytes, Callable[[int], None] | None]] = []
        for request in writing:
            for event in request.fresh:
                fresh_by_type.setdefault(event.event_type, []).append(event.event_id)
                topic = self.catalogue.ingest_topic(self.agency.code, event.event_type)
                value = encode(self.writer_schemas[event.event_type], event.record)
                payloads.append((topic, event.key.encode(), value, request.on_acknowledged))
        try:
            for event_type in fresh_by_type:
                self.registry.register(self.writer_schemas[event_type])
            producer = self._transactional_producer()
            producer.begin_transaction()
            BATCHES_PER_TRANSACTION.labels(self.agency.code).observe(len(writing))
            for topic, key, value, on_acknowledged in payloads:
                self._produce(producer, topic, key, value, on_acknowledged)
            unacknowledged = producer.flush(self.timeout)
        except KafkaException as error:
            self._refuse(writing, error)
        if unacknowledged:  # the commit is never sent with a record unacknowledged, so this is certain
            self._refuse(writing, f"{unacknowledged} of the transaction's {len(payloads)} events not acknowledged in time")
        try:
            self._commit_transaction(producer)
        except KafkaException as error:
            outcome = failed_commit_outcome(_kafka_error(error))
            if outcome == ABORTED:
                self._refuse(writing, error)
            COMMITS_IN_DOUBT.labels(self.agency.code, "unknown").inc()
            if outcome == PENDING:
                self._producer = None  # kept aside: the next publish finishes this commit first
                self._in_doubt = _InDoubt(producer, fresh_by_type)
            else:
                COMMITS_IN_DOUBT.labels(self.agency.code, UNRESOLVED).inc()
                self._abandon_transaction()
            for request in writing:
                request.fail(
                    OutcomeUnknown(
                        f"Kafka did not confirm the commit ({error}); the events may be visible. "
                        "Retrying with the same event_ids is safe.",
                        request.event_ids,
                    ),
                    error,
                )
            raise OutcomeUnknown("commit unconfirmed", []) from error
        for event_type, event_ids in fresh_by_type.items():
            self._committed(event_type, event_ids)
        for request in writing:
            request.finished = True

    def _commit_transaction(self, producer: Producer) -> None:
        """The one call whose failure can leave a batch's outcome unknown (a seam for the real-broker test)."""
        producer.commit_transaction(self.timeout)

    def _refuse(self, writing: list[_Request], error: KafkaException | str) -> NoReturn:
        """Certainly not committed: abort, start over, and tell every request of the round nothing is visible."""
        self._abandon_transaction()
        cause = error if isinstance(error, KafkaException) else None
        for request in writing:
            for event_type, count in Counter(event.event_type for event in request.fresh).items():
                EVENTS_REJECTED.labels(self.agency.code, event_type, "broker_unavailable").inc(count)
            request.fail(BrokerUnavailable(f"Kafka did not acknowledge the batch: {error}"), cause)
        raise BrokerUnavailable(str(error)) from cause

    def _committed(self, event_type: str, event_ids: list[str]) -> None:
        self.committed.add(event_ids)
        EVENTS_ACCEPTED.labels(self.agency.code, event_type).inc(len(event_ids))
        LAST_ACCEPTED.labels(self.agency.code).set_to_current_time()

    def _settle_in_doubt(self) -> KafkaException | None:
        """Finish an earlier in-doubt commit before anything else: committed, aborted, or still unknown.

        Returns the error while it is still pending (Kafka still not answering): then a retry of that
        batch gets :class:`OutcomeUnknown` again, any other batch :class:`BrokerUnavailable` (it is not
        sent). Aborted or unresolved (the producer failed for good; the next producer's fencing settles
        it): the ids are not remembered, so a retry writes them again (if they had been committed after
        all, a duplicate the correlator drops).
        """
        doubt = self._in_doubt
        if doubt is None:
            return None
        try:
            doubt.producer.commit_transaction(self.timeout)
        except KafkaException as error:
            outcome = failed_commit_outcome(_kafka_error(error))
            if outcome == PENDING:
                return error
            log.warning("in-doubt batch of %d events: %s (%s)", len(doubt.event_ids), outcome, error)
            COMMITS_IN_DOUBT.labels(self.agency.code, outcome).inc()
            self._in_doubt = None
            self._producer = doubt.producer
            self._abandon_transaction()
            return None
        log.info("in-doubt batch of %d events: committed", len(doubt.event_ids))
        COMMITS_IN_DOUBT.labels(self.agency.code, "committed").inc()
        self._in_doubt = None
        self._producer = doubt.producer
        for event_type, event_ids in doubt.event_ids_by_type.items():
            self._committed(event_type, event_ids)
        return None

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
        try:
            producer.purge(in_queue=True, in_flight=True, blocking=False)
            producer.flush(0)
        except KafkaException as error:  # a producer already failed for good (seen in a chaos run: a 500, not a 503)
            log.warning("discarding a failed producer: %s", error)

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
            if self._in_doubt is not None and (pending := self._settle_in_doubt()) is not None:  # one last chance
                log.warning("closing with a batch of %d events in doubt: %s", len(self._in_doubt.event_ids), pending)
            if self._producer is not None:
                self._producer.flush(self.timeout)
                self._producer = None
            self._admin = None  # its threads would otherwise keep dialling a broker that is gone
