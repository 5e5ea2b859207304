"""The exactly-once stage's bookkeeping: state changes reach memory only with a committed transaction.

The broker side (offsets and records in one transaction, fencing, reloading) is proven by the
SIGKILL tests in tests/integration/test_correlator.py; here the producer is a stand-in, so an
abort can be forced at the commit.
"""

from __future__ import annotations

import gc
import threading
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from borderbus import exactly_once
from borderbus.config import Settings
from borderbus.exactly_once import ExactlyOnceStage
from borderbus.partition_reader import PartitionReader


class StandInProducer:
    def __init__(self) -> None:
        self.fail_commit: KafkaError | None = None
        self.produced: list[tuple[str, Any, Any, int | None]] = []
        self.aborted = 0
        self.calls: list[str] = []  # what the transaction asked, in order (each produce as its topic)

    def begin_transaction(self) -> None:
        self.pending: list[tuple[str, Any, Any, int | None]] = []
        self.calls = ["begin"]

    def produce(self, topic: str, key: Any = None, value: Any = None, partition: int | None = None, **_: Any) -> None:
        self.pending.append((topic, key, value, partition))
        self.calls.append(topic)

    def flush(self, timeout: float) -> int:
        self.calls.append("flush")
        return 0

    def send_offsets_to_transaction(self, *args: Any) -> None:
        self.calls.append("offsets")

    def commit_transaction(self, timeout: float) -> None:
        self.calls.append("commit")
        if self.fail_commit is not None:
            raise KafkaException(self.fail_commit)
        self.produced += self.pending

    def abort_transaction(self, timeout: float) -> None:
        self.aborted += 1


class Counting(ExactlyOnceStage[int]):
    """Counts records per key: the smallest stateful stage."""

    def process(self, message: Any) -> object:
        partition, key = message
        self.put(partition, key, (self.get(partition, key) or 0) + 1)
        self.produce("out", key.encode(), b"")
        return key


def stage() -> tuple[Counting, StandInProducer]:
    counting = Counting(
        Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}),
        source_topic="in",
        state_topic="in-state",
        dead_letter_topic="dlq",
        group_id="g",
        transactional_id="t",
        service="test",
        encode_state=lambda n: str(n).encode(),
        decode_state=lambda b: int(b),
    )
    producer = StandInProducer()
    counting.producer = producer  # type: ignore[assignment]
    assert counting.store is not None
    for partition in (0, 1):
        counting.store.assign(partition)
    return counting, producer


def snapshot(counting: Counting) -> dict[int, dict[str, int]]:
    assert counting.store is not None
    return counting.store.snapshot()


def run_batch(counting: Counting, batch: list[tuple[int, str]]) -> list[object] | None:
    return counting._transaction(lambda: [counting.process(m) for m in batch], offsets=None)


def test_a_committed_batch_writes_each_changed_key_once_and_updates_memory() -> None:
    counting, producer = stage()
    assert run_batch(counting, [(0, "a"), (0, "a"), (1, "b")]) == ["a", "a", "b"]
    assert snapshot(counting) == {0: {"a": 2}, 1: {"b": 1}}
    changelog = [(key, value, partition) for topic, key, value, partition in producer.produced if topic == "in-state"]
    assert changelog == [(b"a", b"2", 0), (b"b", b"1", 1)], "the newest value per key, in its input partition"


def test_state_beyond_the_memory_budget_is_read_back_from_disk_as_committed() -> None:
    """The budget bounds what is kept decoded, not what is kept: a value evicted from memory is read from the store."""
    counting, _producer = stage()
    assert counting.store is not None
    counting.store.cache_bytes = 3  # one or two small values
    run_batch(counting, [(0, key) for key in "abcdef"] + [(1, "a")])
    assert counting.store.cached()[1] <= 3 and counting.store.cached()[0] < 7
    run_batch(counting, [(0, "a"), (0, "a")])
    assert snapshot(counting) == {0: {"a": 3, "b": 1, "c": 1, "d": 1, "e": 1, "f": 1}, 1: {"a": 1}}
    assert counting.get(0, "a") == 3 and counting.get(1, "f") is None and counting.get(7, "a") is None


def test_an_aborted_batch_leaves_memory_as_committed() -> None:
    counting, producer = stage()
    run_batch(counting, [(0, "a")])
    producer.fail_commit = KafkaError(KafkaError._TIMED_OUT, "commit timed out")
    assert run_batch(counting, [(0, "a"), (1, "b")]) is None
    assert producer.aborted == 1
    assert snapshot(counting) == {0: {"a": 1}, 1: {}}
    assert counting.get(0, "a") == 1, "nothing of the aborted batch is visible to the next one"


def test_a_fenced_writer_does_not_abort_and_carry_on() -> None:
    counting, producer = stage()
    producer.fail_commit = KafkaError(KafkaError._FENCED, "fenced by a newer instance", fatal=True)
    with pytest.raises(KafkaException):
        run_batch(counting, [(0, "a")])
    assert snapshot(counting) == {0: {}, 1: {}}


class StandInChangelog:
    """A changelog consumer: every partition's records, then its end."""

    def __init__(self, records: dict[int, list[tuple[bytes, bytes | None]]]) -> None:
        self.records = records
        self.queue: list[Any] = []
        self.closed = False

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float = -1, cached: bool = False) -> tuple[int, int]:
        return 0, len(self.records.get(tp.partition, []))

    def assign(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            for key, value in self.records[tp.partition]:
                self.queue.append(StandInRecord(tp.partition, key, value))
            self.queue.append(StandInRecord(tp.partition, b"", None, KafkaError(KafkaError._PARTITION_EOF)))

    def poll(self, timeout: float) -> Any:
        return self.queue.pop(0) if self.queue else None

    def close(self) -> None:
        self.closed = True


class StandInRecord:
    def __init__(self, partition: int, key: bytes, value: bytes | None, error: KafkaError | None = None) -> None:
        self._partition, self._key, self._value, self._error = partition, key, value, error

    def error(self) -> KafkaError | None:
        return self._error

    def topic(self) -> str:
        return "in-state"

    def partition(self) -> int:
        return self._partition

    def key(self) -> bytes:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> None:
        return None


def test_assigned_partitions_are_reloaded_by_one_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    counting, _producer = stage()
    counting._on_revoke(None, [TopicPartition("in", p) for p in (0, 1)])  # type: ignore[arg-type]
    changelog = StandInChangelog({0: [(b"a", b"1"), (b"b", b"4"), (b"a", None)], 1: [], 2: [(b"c", b"2"), (b"c", b"3")]})
    readers: list[str] = []

    def connect(_settings: Settings, group_id: str, *, what: str) -> PartitionReader:
        readers.append(group_id)
        return PartitionReader(changelog, what=what)  # type: ignore[arg-type]

    monkeypatch.setattr(PartitionReader, "connect", connect)
    counting._on_assign(None, [TopicPartition("in", p) for p in (0, 1, 2)])  # type: ignore[arg-type]
    assert readers == ["in-state-loader"], "one consumer for every newly assigned partition"
    assert changelog.closed
    assert snapshot(counting) == {0: {"b": 4}, 1: {}, 2: {"c": 3}}
    assert counting.assigned() == 3


class StandInMessage:
    def __init__(self, partition: int, offset: int, key: str) -> None:
        self._partition, self._offset, self.key = partition, offset, key

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset


class StandInGroup:
    """The source consumer, as far as a batch's commit and a rewind ask it."""

    def __init__(self) -> None:
        self.seeks: list[TopicPartition] = []

    def consumer_group_metadata(self) -> object:
        return "generation-1"

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition("in", 0)]

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        return [TopicPartition("in", 0, 0)]

    def seek(self, tp: TopicPartition) -> None:
        self.seeks.append(tp)


class CountingMessages(Counting):
    def process(self, message: Any) -> object:
        return super().process((message.partition(), message.key))


def timed_stage(monkeypatch: pytest.MonkeyPatch) -> tuple[CountingMessages, StandInProducer, list[Any]]:
    monkeypatch.setattr(exactly_once, "BATCH_SECONDS", 0.0)  # every batch runs out of time after its first record
    counting, producer = stage()
    timed = CountingMessages.__new__(CountingMessages)
    timed.__dict__.update(counting.__dict__)
    timed.consumer = StandInGroup()  # type: ignore[assignment]
    sent: list[Any] = []
    producer.send_offsets_to_transaction = lambda offsets, *_: sent.append(offsets) or producer.calls.append("offsets")  # type: ignore[method-assign, func-returns-value]
    return timed, producer, sent


def test_a_batch_out_of_time_commits_the_offsets_it_processed_and_leaves_the_rest_for_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    timed, producer, sent = timed_stage(monkeypatch)
    fetched = [StandInMessage(0, 10, "a"), StandInMessage(0, 11, "b"), StandInMessage(1, 5, "c")]
    timed._process_batch(fetched)  # type: ignore[arg-type]
    assert [(tp.partition, tp.offset) for tp in sent[-1]] == [(0, 11)], "only what was processed is consumed"
    assert [key for topic, key, _, _ in producer.produced if topic == "out"] == [b"a"]
    assert timed._next_batch() == fetched[1:], "the rest, without fetching again"
    assert timed.waiting() == 0 and timed._count_waiting() == 0
    timed._pending = fetched[1:]
    assert timed._count_waiting() == 2, "records fetched but not processed are waiting"


def test_a_batch_records_are_acknowledged_before_its_offsets_join_the_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    """Offsets sent while the records' partitions were still being added were refused (CONCURRENT_TRANSACTIONS) and
    retried 100 ms later: a transaction took 89 ms instead of 3 (see ``borderbus.transactions.add_offsets``)."""
    timed, producer, _sent = timed_stage(monkeypatch)
    timed._process_batch([StandInMessage(0, 10, "a")])  # type: ignore[arg-type]
    assert producer.calls == ["begin", "out", "in-state", "flush", "offsets", "commit"]


def test_an_aborted_batch_does_not_leave_its_unprocessed_records_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    timed, producer, _sent = timed_stage(monkeypatch)
    producer.fail_commit = KafkaError(KafkaError._TIMED_OUT, "commit timed out")
    timed._process_batch([StandInMessage(0, 10, "a"), StandInMessage(0, 11, "b")])  # type: ignore[arg-type]
    assert timed._pending == [], "the rewind reads them again from the committed offsets"
    assert [(tp.partition, tp.offset) for tp in timed.consumer.seeks] == [(0, 0)]  # type: ignore[attr-defined]


def test_what_survives_a_full_collection_is_frozen_and_cyclic_garbage_is_still_collected() -> None:
    """State that survived one full collection is not walked by the next (see ``freeze_what_survives_full_collections``)."""
    from borderbus import exactly_once

    # Automatic collections off: allocating ``kept`` could otherwise set off a full collection (and a freeze)
    # before the young one below; a CI run failed that way, with earlier tests' objects on the heap.
    was_enabled = gc.isenabled()
    gc.disable()
    gc.unfreeze()
    try:
        exactly_once.freeze_what_survives_full_collections()
        exactly_once.freeze_what_survives_full_collections()
        assert gc.callbacks.count(exactly_once._freeze_after_full) == 1, "installed once"
        kept = [{"history": n} for n in range(1000)]
        gc.collect(1)
        assert gc.get_freeze_count() == 0, "a young collection freezes nothing"
        gc.collect()
        frozen = gc.get_freeze_count()
        assert frozen >= len(kept), "what survived the full collection is frozen"
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1, "garbage made after the freeze is still found"
        assert gc.get_freeze_count() == frozen, "and none of it was frozen"
    finally:
        gc.callbacks.remove(exactly_once._freeze_after_full)
        gc.unfreeze()
        if was_enabled:
            gc.enable()


def test_the_desk_writer_too_has_its_records_acknowledged_before_its_offsets_join() -> None:
    from borderbus.transactions import Outgoing, TransactionalWriter

    writer = TransactionalWriter.__new__(TransactionalWriter)
    writer.transactional_id, writer.fenced, writer._lock = "t", False, threading.Lock()
    producer = StandInProducer()
    writer.producer = producer  # type: ignore[assignment]
    writer.write([Outgoing("out", b"k", b"v")], offsets=[TopicPartition("in", 0, 1)], group_metadata="g")
    assert producer.calls == ["begin", "out", "flush", "offsets", "commit"]
    writer.write([Outgoing("out", b"k", b"v")])
    assert producer.calls == ["begin", "out", "commit"], "without offsets, the commit's own flush is enough"


def test_transactional_producers_retry_after_10_ms() -> None:
    """librdkafka's 100 ms default was the wait of every AddOffsetsToTxn refused as CONCURRENT_TRANSACTIONS."""
    settings = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"})
    assert settings.producer_config(transactional_id="t")["retry.backoff.ms"] == 10
    assert "retry.backoff.ms" not in settings.producer_config(), "other producers keep librdkafka's default"


class CountedGroup(StandInGroup):
    """A source consumer whose group metadata names how often it was asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0

    def consumer_group_metadata(self) -> object:
        self.asked += 1
        return f"metadata-{self.asked}"


def test_the_group_metadata_is_asked_for_once_per_rebalance_and_again_after_an_abort(monkeypatch: pytest.MonkeyPatch) -> None:
    """``consumer_group_metadata()`` holds the GIL while librdkafka's main thread answers: not once per transaction."""
    timed, producer, _sent = timed_stage(monkeypatch)
    group = timed.consumer = CountedGroup()  # type: ignore[assignment]
    used: list[object] = []
    producer.send_offsets_to_transaction = lambda _offsets, metadata, *_: used.append(metadata)  # type: ignore[method-assign, assignment, misc]
    timed._process_batch([StandInMessage(0, 10, "a")])  # type: ignore[arg-type]
    timed._process_batch([StandInMessage(0, 11, "b")])  # type: ignore[arg-type]
    assert used == ["metadata-1", "metadata-1"] and group.asked == 1
    timed._on_revoke(group, [])  # type: ignore[arg-type]
    timed._process_batch([StandInMessage(0, 12, "c")])  # type: ignore[arg-type]
    assert used[-1] == "metadata-2", "a new generation's offsets carry its own metadata (KIP-447)"
    producer.fail_commit = KafkaError(KafkaError._TIMED_OUT, "commit timed out")
    timed._process_batch([StandInMessage(0, 13, "d")])  # type: ignore[arg-type]
    producer.fail_commit = None
    timed._process_batch([StandInMessage(0, 13, "d")])  # type: ignore[arg-type]
    assert used[-1] == "metadata-3", "metadata a refused commit may have found stale is not used again"


def test_each_transaction_is_counted_by_outcome_and_timed(monkeypatch: pytest.MonkeyPatch) -> None:
    from prometheus_client import REGISTRY

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, {"source_topic": "in", **labels}) or 0.0

    counting, producer = stage()
    before = {outcome: value("borderbus_stage_transactions_total", outcome=outcome) for outcome in ("committed", "aborted")}
    timed_before = value("borderbus_stage_transaction_seconds_count")
    run_batch(counting, [(0, "a")])
    run_batch(counting, [(0, "a")])
    producer.fail_commit = KafkaError(KafkaError._TIMED_OUT, "commit timed out")
    run_batch(counting, [(0, "a")])
    assert value("borderbus_stage_transactions_total", outcome="committed") - before["committed"] == 2
    assert value("borderbus_stage_transactions_total", outcome="aborted") - before["aborted"] == 1
    assert value("borderbus_stage_transaction_seconds_count") - timed_before == 2, "committed transactions are timed"
