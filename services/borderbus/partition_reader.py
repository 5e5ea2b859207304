"""Read partitions from chosen offsets up to their ends, then stop: the one loop behind loading a
changelog or a compacted topic whole, answering an audit query and recalling what an agency committed.

A :class:`PartitionReader` is a consumer of its own, assigned and never subscribed (it joins no group
and commits nothing), that sees committed records only (``read_committed``, from
:meth:`Settings.consumer_config`) and is told when it reaches a partition's end
(``enable.partition.eof``). Reading takes three steps, each with what its callers differ in said in
the call:

1. which partitions: :meth:`~PartitionReader.topic_partitions` (a missing topic refused, or skipped);
2. where each starts: :meth:`~PartitionReader.from_low` (the whole partition) or
   :meth:`~PartitionReader.from_time` (the first record at or after a time); an empty partition, or
   one with nothing since that time, is not read at all;
3. :meth:`~PartitionReader.read`: every record up to the end of every started partition, without a
   time limit or within one (:class:`PartitionsNotRead` past it, raised after the records read in time).
   An error raises, unless the caller chose to log and go on past errors that are not fatal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from types import TracebackType

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from borderbus.config import Settings

log = logging.getLogger(__name__)

POLL_S = 0.5


LEADER_MOVING = frozenset(
    {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE, KafkaError._UNKNOWN_PARTITION}
)
"""Errors that end once a partition has a leader again, which librdkafka does not mark retriable in an offsets
query. A single broker thawed after a SIGSTOP longer than its session answered NOT_LEADER_FOR_PARTITION for
its own partitions for a while, and its metadata briefly left them out (``_UNKNOWN_PARTITION``, local), in
``test_broker_down.py``. Only partitions just listed in the metadata are asked for, so an unknown one is moving."""


class PartitionsNotRead(KafkaException):
    """Some partitions were not read to their end in the time allowed."""


def watermarks(consumer: Consumer, tp: TopicPartition, *, retry_for: float = 30.0, call_timeout: float = 10.0) -> tuple[int, int]:
    """``(low, high)``, asking again on retriable errors for up to ``retry_for`` seconds (0: ask once):
    a just-created topic or a restarted broker may not have elected its leaders yet."""
    deadline = time.monotonic() + retry_for
    while True:
        try:
            low, high = consumer.get_watermark_offsets(tp, timeout=call_timeout, cached=False)
            return int(low), int(high)
        except KafkaException as error:
            kafka_error = error.args[0] if error.args else None
            if time.monotonic() >= deadline or not _transient(kafka_error):
                raise
            log.info("watermarks of %s[%d] not available yet (%s), retrying", tp.topic, tp.partition, error)
            time.sleep(0.2)


def _transient(error: object) -> bool:
    return isinstance(error, KafkaError) and (error.retriable() or error.code() in LEADER_MOVING)


class PartitionReader:
    """One consumer reading partitions to their ends; ``what`` names the reading in logs and errors.
    Use it in a ``with`` block (it closes the consumer)."""

    def __init__(self, consumer: Consumer, *, what: str) -> None:
        self.consumer = consumer
        self.what = what

    @classmethod
    def connect(cls, settings: Settings, group_id: str, *, what: str) -> PartitionReader:
        return cls(Consumer(settings.consumer_config(group_id, **{"enable.partition.eof": True})), what=what)

    def __enter__(self) -> PartitionReader:
        return self

    def __exit__(self, _type: type[BaseException] | None, _value: BaseException | None, _traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.consumer.close()

    def topic_partitions(self, topics: Sequence[str], *, timeout: float, skip_missing: bool = False) -> list[TopicPartition]:
        """Every partition of ``topics``. A topic that does not exist raises RuntimeError, or with
        ``skip_missing`` is left out (then the cluster is asked once for all its topics)."""
        if skip_missing:
            listed = self.consumer.list_topics(timeout=timeout).topics
            return [TopicPartition(topic, p) for topic in topics if topic in listed for p in listed[topic].partitions]
        found = []
        for topic in topics:
            metadata = self.consumer.list_topics(topic, timeout=timeout).topics.get(topic)
            if metadata is None or metadata.error is not None:
                raise RuntimeError(f"topic {topic} does not exist: run 'borderbus topics apply'")
            found += [TopicPartition(topic, p) for p in metadata.partitions]
        return found

    def from_low(
        self, partitions: Sequence[TopicPartition], *, retry_for: float = 30.0, call_timeout: float = 10.0
    ) -> list[TopicPartition]:
        """Each non-empty partition from its low watermark (see :func:`watermarks` for the two times)."""
        starts = []
        for tp in partitions:
            low, high = watermarks(self.consumer, tp, retry_for=retry_for, call_timeout=call_timeout)
            if high > low:
                starts.append(TopicPartition(tp.topic, tp.partition, low))
        return starts

    def from_time(
        self, partitions: Sequence[TopicPartition], since_ms: int, *, timeout: float, below_high: bool = False
    ) -> list[TopicPartition]:
        """Each partition from its first record at or after ``since_ms``, if it has one; with ``below_high``
        only where that offset is below the high watermark, asked once per partition."""
        if not partitions:
            return []
        found = self.consumer.offsets_for_times(
            [TopicPartition(tp.topic, tp.partition, since_ms) for tp in partitions], timeout=timeout
        )
        starts = []
        for tp in found:
            if tp.offset < 0:
                continue
            if below_high:
                _low, high = self.consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=timeout)
                if tp.offset >= high:
                    continue
            starts.append(TopicPartition(tp.topic, tp.partition, tp.offset))
        return starts

    def read(
        self, starts: Sequence[TopicPartition], *, within: float | None = None, skip_transient_errors: bool = False
    ) -> Iterator[Message]:
        """Every record from ``starts`` until each of those partitions reported its end.

        ``within`` seconds (None: no limit): then :class:`PartitionsNotRead` is raised, after the
        records read until then. An error raises KafkaException; with ``skip_transient_errors`` only a
        fatal one does, the others are logged and reading goes on.
        """
        remaining: set[tuple[str | None, int | None]] = {(tp.topic, tp.partition) for tp in starts}
        if not remaining:
            return
        self.consumer.assign(list(starts))
        deadline = None if within is None else time.monotonic() + within
        while remaining:
            if deadline is not None and time.monotonic() >= deadline:
                raise PartitionsNotRead(f"{self.what}: {len(remaining)} partitions not read in time")
            message = self.consumer.poll(POLL_S)
            if message is None:
                continue
            error = message.error()
            if error is None:
                yield message
            elif error.code() == KafkaError._PARTITION_EOF:
                remaining.discard((message.topic(), message.partition()))
            elif skip_transient_errors and not error.fatal():
                log.warning("%s: %s", self.what, error)
            else:
                raise KafkaException(error)
