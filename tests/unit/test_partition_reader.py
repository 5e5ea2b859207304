"""The partition reader's choices, against a stand-in consumer: where reading starts, when it stops,
and what an error or the time limit does. Its callers against the real broker are in tests/integration
(desk status and audit, the correlator's SIGKILL tests, the agency's restart)."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from borderbus.partition_reader import PartitionReader, PartitionsNotRead


class StandInMessage:
    def __init__(self, topic: str, partition: int, offset: int, value: bytes | None = b"", error: KafkaError | None = None):
        self._topic, self._partition, self._offset, self._value, self._error = topic, partition, offset, value, error

    def error(self) -> KafkaError | None:
        return self._error

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes | None:
        return self._value


def record(topic: str, partition: int, offset: int) -> StandInMessage:
    return StandInMessage(topic, partition, offset, value=f"{topic}[{partition}]@{offset}".encode())


def end(topic: str, partition: int, offset: int) -> StandInMessage:
    return StandInMessage(topic, partition, offset, value=None, error=KafkaError(KafkaError._PARTITION_EOF))


class StandInConsumer:
    def __init__(
        self,
        messages: list[StandInMessage] | None = None,
        *,
        topics: dict[str, list[int]] | None = None,
        marks: dict[tuple[str, int], tuple[int, int]] | None = None,
        times: dict[tuple[str, int], int] | None = None,
    ) -> None:
        self.messages = list(messages or [])
        self.topics = topics or {}
        self.marks = marks or {}
        self.times = times or {}
        self.assigned: list[TopicPartition] | None = None
        self.polls = 0
        self.watermark_failures: list[KafkaError] = []
        self.closed = False

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any:
        def metadata(name: str) -> Any:
            if name in self.topics:
                return SimpleNamespace(partitions={p: None for p in self.topics[name]}, error=None)
            return SimpleNamespace(partitions={}, error=KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART))

        if topic is None:
            return SimpleNamespace(topics={name: metadata(name) for name in self.topics})
        return SimpleNamespace(topics={topic: metadata(topic)})

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float = -1, cached: bool = False) -> tuple[int, int]:
        if self.watermark_failures:
            raise KafkaException(self.watermark_failures.pop(0))
        return self.marks[(tp.topic, tp.partition)]

    def offsets_for_times(self, partitions: list[TopicPartition], timeout: float = -1) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, self.times.get((tp.topic, tp.partition), -1)) for tp in partitions]

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned = partitions

    def poll(self, timeout: float) -> StandInMessage | None:
        self.polls += 1
        return self.messages.pop(0) if self.messages else None

    def close(self) -> None:
        self.closed = True


def reader(consumer: StandInConsumer) -> PartitionReader:
    return PartitionReader(consumer, what="reading for the test")  # type: ignore[arg-type]


def values(messages: Any) -> list[bytes | None]:
    return [message.value() for message in messages]


def test_reads_until_every_started_partition_reported_its_end() -> None:
    consumer = StandInConsumer(
        [record("t", 0, 5), end("t", 0, 6), record("t", 1, 0), record("t", 1, 1), end("t", 1, 2), record("t", 1, 2)]
    )
    starts = [TopicPartition("t", 0, 5), TopicPartition("t", 1, 0)]
    assert values(reader(consumer).read(starts)) == [b"t[0]@5", b"t[1]@0", b"t[1]@1"]
    assert consumer.assigned == starts
    assert len(consumer.messages) == 1, "nothing is read past the last end"


def test_the_same_partition_number_of_another_topic_is_not_its_end() -> None:
    consumer = StandInConsumer([end("a", 0, 3), record("b", 0, 7), end("b", 0, 8)])
    assert values(reader(consumer).read([TopicPartition("a", 0, 3), TopicPartition("b", 0, 7)])) == [b"b[0]@7"]


def test_nothing_started_is_nothing_read() -> None:
    consumer = StandInConsumer([record("t", 0, 0)])
    assert values(reader(consumer).read([])) == []
    assert consumer.assigned is None and consumer.polls == 0


def test_an_error_stops_the_read_unless_transient_errors_are_skipped() -> None:
    transient = StandInMessage("t", 0, 0, error=KafkaError(KafkaError._TRANSPORT, "broker down"))
    with pytest.raises(KafkaException):
        values(reader(StandInConsumer([transient, end("t", 0, 0)])).read([TopicPartition("t", 0, 0)]))
    consumer = StandInConsumer([transient, record("t", 0, 0), end("t", 0, 1)])
    assert values(reader(consumer).read([TopicPartition("t", 0, 0)], skip_transient_errors=True)) == [b"t[0]@0"]
    fatal = StandInMessage("t", 0, 0, error=KafkaError(KafkaError._FENCED, "fenced", fatal=True))
    with pytest.raises(KafkaException):
        values(reader(StandInConsumer([fatal, end("t", 0, 0)])).read([TopicPartition("t", 0, 0)], skip_transient_errors=True))


def test_past_the_time_limit_the_records_read_come_first_then_partitions_not_read() -> None:
    consumer = StandInConsumer([record("t", 0, 0), end("t", 0, 1), record("t", 1, 0)])  # t[1] never ends
    read: list[bytes | None] = []
    with pytest.raises(PartitionsNotRead, match=r"reading for the test: 1 partitions not read in time"):
        for message in reader(consumer).read([TopicPartition("t", 0, 0), TopicPartition("t", 1, 0)], within=0.05):
            read.append(message.value())
    assert read == [b"t[0]@0", b"t[1]@0"]
    assert issubclass(PartitionsNotRead, KafkaException), "callers that take any KafkaException take this one"


def test_from_low_starts_each_non_empty_partition_at_its_low_watermark() -> None:
    consumer = StandInConsumer(marks={("t", 0): (4, 9), ("t", 1): (3, 3)})
    starts = reader(consumer).from_low([TopicPartition("t", 0), TopicPartition("t", 1)])
    assert [(tp.topic, tp.partition, tp.offset) for tp in starts] == [("t", 0, 4)]


def test_from_low_asks_again_on_a_retriable_error_only_when_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "sleep", lambda _s: None)  # the retry pause
    not_yet = KafkaError(KafkaError.LEADER_NOT_AVAILABLE, "no leader yet", retriable=True)
    consumer = StandInConsumer(marks={("t", 0): (0, 2)})
    consumer.watermark_failures = [not_yet, not_yet]
    assert [tp.offset for tp in reader(consumer).from_low([TopicPartition("t", 0)])] == [0]
    consumer.watermark_failures = [not_yet]
    with pytest.raises(KafkaException):
        reader(consumer).from_low([TopicPartition("t", 0)], retry_for=0)
    consumer.watermark_failures = [KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "denied")]
    with pytest.raises(KafkaException):
        reader(consumer).from_low([TopicPartition("t", 0)])


@pytest.mark.parametrize("code", [KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError._UNKNOWN_PARTITION])
def test_from_low_waits_for_a_partition_leader_even_when_librdkafka_does_not_call_it_retriable(
    monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    """As a thawed broker answers until it leads its partitions again."""
    monkeypatch.setattr(time, "sleep", lambda _s: None)
    moving = KafkaError(code, "Failed to get watermark offsets")
    assert not moving.retriable()
    consumer = StandInConsumer(marks={("t", 0): (0, 2)})
    consumer.watermark_failures = [moving, moving]
    assert [tp.offset for tp in reader(consumer).from_low([TopicPartition("t", 0)])] == [0]


def test_from_time_starts_where_the_time_is_and_skips_partitions_without_records_since() -> None:
    consumer = StandInConsumer(times={("t", 0): 7, ("t", 2): 9}, marks={("t", 0): (0, 8), ("t", 2): (0, 9)})
    partitions = [TopicPartition("t", p) for p in range(3)]
    starts = reader(consumer).from_time(partitions, 1_000, timeout=1)
    assert [(tp.partition, tp.offset) for tp in starts] == [(0, 7), (2, 9)]
    starts = reader(consumer).from_time(partitions, 1_000, timeout=1, below_high=True)
    assert [(tp.partition, tp.offset) for tp in starts] == [(0, 7)], "at the high watermark: nothing to read"
    assert reader(consumer).from_time([], 1_000, timeout=1) == []


def test_a_missing_topic_is_refused_or_skipped() -> None:
    consumer = StandInConsumer(topics={"a": [0, 1]})
    assert [(tp.topic, tp.partition) for tp in reader(consumer).topic_partitions(["a"], timeout=1)] == [("a", 0), ("a", 1)]
    with pytest.raises(RuntimeError, match="topic b does not exist"):
        reader(consumer).topic_partitions(["a", "b"], timeout=1)
    found = reader(consumer).topic_partitions(["b", "a"], timeout=1, skip_missing=True)
    assert [(tp.topic, tp.partition) for tp in found] == [("a", 0), ("a", 1)]


def test_the_consumer_is_closed_when_the_read_fails() -> None:
    consumer = StandInConsumer(topics={})
    with pytest.raises(RuntimeError), reader(consumer) as failing:
        failing.topic_partitions(["a"], timeout=1)
    assert consumer.closed
