"""Consume, transform with per-partition state, produce: one Kafka transaction per batch.

The one consume-transform-produce mechanism of the bus. A batch's output records, the state it
changed (its newest value per key, written to a compacted changelog topic with one partition per
input partition) and its consumed offsets commit together or not at all. Changes reach memory
only once the commit succeeded, so after an abort the store (:mod:`borderbus.state_store`) still holds
the committed state and the consumer is rewound to the committed offsets. Assigned partitions are reloaded from the changelog,
so a worker killed at any moment restarts to exactly its committed output: nothing lost, nothing
published twice. A worker that lost its partitions without noticing (a zombie) cannot commit: the
group generation travels with the offsets (KIP-447) and the broker refuses the stale one.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from prometheus_client import Counter, Histogram

from borderbus.config import PIPELINE_FETCH_WAIT_MS, Settings
from borderbus.dead_letter import produce_dead_letter
from borderbus.partition_reader import PartitionReader
from borderbus.state_store import Change, Stamp, StateStore, stamp_from_headers, stamp_headers
from borderbus.supervision import bounded
from borderbus.transactions import add_offsets

log = logging.getLogger(__name__)

T = TypeVar("T")

TRANSACTION_TIMEOUT_MS = 10_000  # how long a killed worker's open transaction can hold read_committed readers back
SESSION_TIMEOUT_MS = 10_000  # how long a killed worker keeps its partitions from the others
BATCH_RECORDS = 2000  # fetched at once
BATCH_SECONDS = 0.05  # processing per transaction: a record's output is visible downstream only once its batch commits
OVERDUE_SECONDS = 90.0  # a transactional call given 30 s that has not returned by then never will (``bounded``)

TRANSACTIONS = Counter(
    "borderbus_stage_transactions_total",
    "Transactions of a consume-transform-produce stage, by source topic and outcome (committed, aborted). Each one costs "
    "the broker a commit and a marker per partition it wrote: their rate is the broker's load beyond the records.",
    ["source_topic", "outcome"],
)
TRANSACTION_SECONDS = Histogram(
    "borderbus_stage_transaction_seconds",
    "From a stage's transaction begun to its commit confirmed: what a record waits at this hop beyond its fetch.",
    ["source_topic"],
    buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0, 5.0),
)


def freeze_what_survives_full_collections() -> None:
    """From now on, what survives a full collection of the cyclic garbage collector is frozen (``gc.freeze``).

    A full collection walks every tracked object while holding the GIL: 5 s at 850,000 subject histories on
    this machine, and past the 10 s transaction timeout the worker was fenced and restarted in a soak. What
    survives one is reachable, so long-lived (stage state) or in use; frozen, it is never walked again, and
    each full collection walks only what is younger than the last. Stage state holds no reference cycles,
    so reference counting still frees what a batch replaces. Measured in a 50,000-event drain: collections
    took 2.05 of the worker's 15.4 CPU seconds with a freeze every 30 s, 0.74 of 13.9 with this.
    """
    if _freeze_after_full not in gc.callbacks:
        gc.callbacks.append(_freeze_after_full)


def _freeze_after_full(phase: str, info: dict[str, int]) -> None:
    if phase == "stop" and info.get("generation") == 2:
        gc.freeze()


class ExactlyOnceStage(Generic[T]):
    """One member of a consumer group over ``source_topic``; run :meth:`run` in its own thread.

    Subclasses implement :meth:`process` for one input message, reading and changing state with
    :meth:`get`, :meth:`put` and :meth:`delete` and emitting records with :meth:`produce`; what it
    returns (if not None) is handed to :meth:`published` once the batch committed.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        source_topic: str,
        state_topic: str | None,
        dead_letter_topic: str,
        group_id: str,
        transactional_id: str,
        service: str,
        encode_state: Callable[[T], bytes] | None = None,
        decode_state: Callable[[bytes], T] | None = None,
        stamp_state: Callable[[T], Stamp] | None = None,
    ) -> None:
        """``state_topic`` None: a stage without state (it only transforms), nothing to write or reload.

        ``stamp_state`` tells housekeeping how old a value is (:meth:`StateStore.older_than`); without it values last.
        """
        self.settings = settings
        self.source_topic, self.state_topic, self.dead_letter_topic = source_topic, state_topic, dead_letter_topic
        topic_label = source_topic.removeprefix(settings.topic_prefix)  # a test namespace's prefix is no new series
        self._committed_count = TRANSACTIONS.labels(topic_label, "committed")
        self._aborted_count = TRANSACTIONS.labels(topic_label, "aborted")
        self._transaction_seconds = TRANSACTION_SECONDS.labels(topic_label)
        self.service = service
        self.encode_state, self.decode_state, self.stamp_state = encode_state, decode_state, stamp_state
        overrides = {
            "session.timeout.ms": SESSION_TIMEOUT_MS,
            "enable.partition.eof": True,
            "fetch.wait.max.ms": PIPELINE_FETCH_WAIT_MS,
        }
        self.consumer = Consumer(settings.consumer_config(group_id, **overrides))
        self.producer = Producer(
            {**settings.producer_config(transactional_id=transactional_id), "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS}
        )
        self.store: StateStore[T] | None = None
        if state_topic is not None and encode_state is not None and decode_state is not None:
            cache_bytes = int(settings.state_cache_mb * 1024 * 1024)
            self.store = StateStore(settings.state_dir, transactional_id, encode_state, decode_state, cache_bytes)
        self._held: set[int] = set()
        self.stop_event = threading.Event()
        self._changes: dict[int, dict[str, T | None]] = {}
        self._next_offsets: dict[int, int] = {}  # per assigned partition: the next offset to read (past control records)
        self._generation = 0  # counts rebalances, so a batch read across one is recognised
        self._group_metadata: tuple[int, object] | None = None  # (generation, the consumer's group metadata then)
        self._assigned = 0
        self._waiting = 0
        self._pending: list[Message] = []  # fetched, not yet processed: the last batch ran out of time

    # -- for subclasses -------------------------------------------------------------------------

    def process(self, message: Message) -> object | None:
        raise NotImplementedError

    def published(self, results: list[object]) -> None:
        """Called with what :meth:`process` returned, after the batch committed."""

    def tick(self) -> None:
        """Called between batches, in the stage's thread (housekeeping, measurements)."""

    def get(self, partition: int, key: str) -> T | None:
        changes = self._changes.get(partition, {})
        if key in changes:
            return changes[key]
        return self.store.get(partition, key) if self.store is not None else None

    def put(self, partition: int, key: str, value: T) -> None:
        self._changes.setdefault(partition, {})[key] = value

    def delete(self, partition: int, key: str) -> None:
        self._changes.setdefault(partition, {})[key] = None

    def produce(
        self, topic: str, key: bytes | None, value: bytes | None, *, partition: int | None = None, headers: Any = None
    ) -> None:
        if partition is None:
            self.producer.produce(topic, key=key, value=value, headers=headers)
        else:
            self.producer.produce(topic, key=key, value=value, partition=partition, headers=headers)

    def dead_letter(self, message: Message, reason: str, detail: str) -> None:
        """In the batch's transaction, so the record is dead-lettered exactly when its offset commits."""
        produce_dead_letter(self.producer, self.dead_letter_topic, message, reason=reason, detail=detail, service=self.service)

    def transact(self, work: Callable[[], None]) -> bool:
        """Run ``work`` (state changes and records, no consumed offsets) as one transaction; False if aborted."""
        return self._transaction(work, offsets=None) is not None

    # -- what every stage shares -------------------------------------------------------------------

    def run(self) -> None:
        if self.state_topic is not None:
            freeze_what_survives_full_collections()
        self.producer.init_transactions(30)
        self.consumer.subscribe([self.source_topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        try:
            while not self.stop_event.is_set():
                generation = self._generation
                messages = self._next_batch()
                if generation != self._generation:  # a rebalance happened while reading: start from the committed offsets
                    self._rewind()
                elif messages:
                    self._process_batch(messages)
                self._waiting = self._count_waiting()
                self.tick()
        finally:
            self.consumer.close()
            if self.store is not None:
                self.store.close()

    def stop(self) -> None:
        self.stop_event.set()

    def assigned(self) -> int:
        """Partitions held, for other threads (the consumer itself is only touched by its own thread)."""
        return self._assigned

    def waiting(self) -> int:
        """Records of the assigned partitions not read yet, as of the last batch (for other threads)."""
        return self._waiting

    def _count_waiting(self) -> int:
        """Transaction markers are not waiting records: a partition read to its end counts 0."""
        waiting = len(self._pending)
        for partition, next_offset in list(self._next_offsets.items()):
            _low, high = self.consumer.get_watermark_offsets(TopicPartition(self.source_topic, partition), cached=True) or (0, 0)
            waiting += max(0, high - next_offset)
        return waiting

    def _next_batch(self) -> list[Message]:
        """What the last batch left, else up to a batch of messages: waits up to 0.5 s for the first only, and notes
        where each partition's reading is."""
        if self._pending:
            messages, self._pending = self._pending, []
            return messages
        first = self.consumer.poll(0.5)
        if first is None:
            return []
        messages = []
        for message in [first, *self.consumer.consume(BATCH_RECORDS - 1, 0)]:
            error, partition = message.error(), message.partition()
            if error is None:
                messages.append(message)
                self._next_offsets[partition or 0] = (message.offset() or 0) + 1
            elif error.code() == KafkaError._PARTITION_EOF and partition in self._next_offsets:
                self._next_offsets[partition or 0] = message.offset() or 0
            elif error.code() != KafkaError._PARTITION_EOF:
                log.warning("%s: %s", self.source_topic, error)
        return messages

    def _process_batch(self, messages: list[Message]) -> None:
        """One transaction over the messages processed within ``BATCH_SECONDS`` (at least one); the rest wait for the next.

        Bounded by time, not count: a record's output waits for its whole batch to commit, and a route costs
        from microseconds to milliseconds."""
        deadline = time.monotonic() + BATCH_SECONDS
        done: list[Message] = []

        def work() -> list[object]:
            results = []
            for message in messages:
                if done and time.monotonic() > deadline:
                    break
                done.append(message)
                result = self.process(message)
                if result is not None:
                    results.append(result)
            return results

        def offsets() -> list[TopicPartition]:
            next_offsets = {(m.partition() or 0): (m.offset() or 0) + 1 for m in done}
            return [TopicPartition(self.source_topic, partition, offset) for partition, offset in next_offsets.items()]

        results = self._transaction(work, offsets=offsets)
        if results is None:
            self._rewind()
            return
        self._pending = messages[len(done) :]
        if results:
            self.published(results)

    def _transaction(
        self, work: Callable[[], Iterable[object] | None], *, offsets: Callable[[], list[TopicPartition]] | None
    ) -> list[object] | None:
        self._changes = {}
        committed: dict[int, list[Change[T]]] = {}
        begun = time.perf_counter()
        self.producer.begin_transaction()
        try:
            results = list(work() or [])
            for partition, changes in self._changes.items():
                written = committed[partition] = []
                for key, value in changes.items():
                    assert self.state_topic is not None and self.encode_state is not None, "a stage without state changed state"
                    encoded = None if value is None else self.encode_state(value)
                    stamp = self.stamp_state(value) if value is not None and self.stamp_state is not None else None
                    headers = stamp_headers(stamp) if stamp is not None else None
                    self.producer.produce(self.state_topic, key=key.encode(), value=encoded, partition=partition, headers=headers)
                    written.append(Change(key, value, encoded, stamp))
            if offsets is not None:
                with bounded(f"{self.source_topic}: send_offsets_to_transaction", OVERDUE_SECONDS):
                    add_offsets(self.producer, offsets(), self._current_group_metadata())
            with bounded(f"{self.source_topic}: commit_transaction", OVERDUE_SECONDS):
                self.producer.commit_transaction(30)
        except KafkaException as error:
            if error.args and isinstance(error.args[0], KafkaError) and error.args[0].fatal():
                raise  # fenced by a newer instance: the thread dies and the supervisor restarts the process
            log.warning("%s: batch aborted, it will be processed again: %s", self.source_topic, error)
            with bounded(f"{self.source_topic}: abort_transaction", OVERDUE_SECONDS):
                self.producer.abort_transaction(30)
            self._changes = {}
            self._group_metadata = None  # perhaps refused as stale: asked for again
            self._aborted_count.inc()
            return None
        self._committed_count.inc()
        self._transaction_seconds.observe(time.perf_counter() - begun)
        if self.store is not None:
            for partition, written in committed.items():
                self.store.write(partition, written)  # a partition revoked meanwhile is ignored (its commit would have failed)
        self._changes = {}
        return results

    def _current_group_metadata(self) -> object:
        """The consumer's group metadata (KIP-447: member and generation), asked for once per rebalance.

        ``consumer_group_metadata()`` waits for librdkafka's main thread while holding the GIL: asked for every
        transaction, it was 17% of a worker's GIL-held samples at 200 events/s. It changes only in a rebalance, and
        every rebalance calls ``_on_assign`` or ``_on_revoke`` (which count ``_generation``) before the next batch.
        """
        if self._group_metadata is None or self._group_metadata[0] != self._generation:
            self._group_metadata = (self._generation, self.consumer.consumer_group_metadata())
        return self._group_metadata[1]

    def _rewind(self) -> None:
        """Back to the committed offsets; memory already holds the committed state."""
        self._pending = []
        assignment = self.consumer.assignment()
        if not assignment:
            return
        for tp in self.consumer.committed(assignment, timeout=30):
            offset = tp.offset if tp.offset >= 0 else self._low(tp.partition)
            self.consumer.seek(TopicPartition(tp.topic, tp.partition, offset))
            self._next_offsets[tp.partition] = offset

    def _low(self, partition: int) -> int:
        low, _high = self.consumer.get_watermark_offsets(TopicPartition(self.source_topic, partition), timeout=30)
        return int(low)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._generation += 1
        self._load_state([tp.partition for tp in partitions])
        for tp in partitions:
            self._held.add(tp.partition)
            self._next_offsets[tp.partition] = 0  # unknown until the first record or the end is read
        self._assigned = len(self._held)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._generation += 1
        for tp in partitions:
            self._held.discard(tp.partition)
            if self.store is not None:
                self.store.revoke(tp.partition)
            self._next_offsets.pop(tp.partition, None)
        self._assigned = len(self._held)

    def _load_state(self, partitions: list[int]) -> None:
        """These partitions of the changelog up to their ends (committed records only), read by one consumer.

        Values are stored encoded, as the changelog holds them; a record written without a stamp (before
        stamps existed) is decoded once to stamp it."""
        if self.store is None or self.state_topic is None or not partitions:
            return
        for partition in partitions:
            self.store.assign(partition)
        with PartitionReader.connect(self.settings, f"{self.state_topic}-loader", what="loading the stage state") as reader:
            changelog = [TopicPartition(self.state_topic, partition) for partition in partitions]
            records = reader.read(reader.from_low(changelog, retry_for=0, call_timeout=30))
            self.store.load(self._stamped(message) for message in records)

    def _stamped(self, message: Message) -> tuple[int, str, bytes | None, Stamp | None]:
        key, value = (message.key() or b"").decode(), message.value()
        stamp = stamp_from_headers(message.headers())
        if stamp is None and value is not None and self.stamp_state is not None and self.decode_state is not None:
            stamp = self.stamp_state(self.decode_state(value))
        return message.partition() or 0, key, value, stamp
