"""Writing several records (and, optionally, consumed offsets) to Kafka all or nothing.

One transactional producer per writer identity: ``init`` fences any earlier producer with the same
transactional id and settles its open transaction, so after a crash the new process is the only
writer. ``write`` either commits everything or aborts and raises, leaving nothing visible to
``read_committed`` readers; a fatal error (fenced by a successor) raises :class:`Fenced`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException, Producer, TopicPartition

from borderbus.config import Settings

TRANSACTION_TIMEOUT_MS = 10_000
"""How long a killed writer's open transaction can hold ``read_committed`` readers back."""


def add_offsets(producer: Producer, offsets: list[TopicPartition], group_metadata: object, timeout: float = 30) -> None:
    """Consumed offsets join the open transaction once its records are acknowledged: sent while the records'
    partitions were still being added, AddOffsetsToTxn was refused (CONCURRENT_TRANSACTIONS) and retried, and a
    one-partition transaction took 89 ms (p50) instead of 3."""
    producer.flush(timeout)
    producer.send_offsets_to_transaction(offsets, group_metadata, timeout)


class Fenced(Exception):
    """Another process initialised the same transactional id: this writer must stop writing."""


@dataclass(frozen=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None = None
    headers: Any = None
    """As confluent-kafka takes them: a list of (name, value) pairs or a dict."""


class TransactionalWriter:
    """Thread-safe: one transaction at a time."""

    def __init__(self, settings: Settings, transactional_id: str, *, timeout_ms: int = TRANSACTION_TIMEOUT_MS) -> None:
        self.transactional_id = transactional_id
        self.producer = Producer(
            {**settings.producer_config(transactional_id=transactional_id), "transaction.timeout.ms": timeout_ms}
        )
        self.fenced = False
        self._lock = threading.Lock()

    def init(self, timeout: float = 30) -> None:
        """Fence predecessors with this transactional id (call once, before the first write)."""
        self.producer.init_transactions(timeout)

    def write(
        self, records: Sequence[Outgoing], *, offsets: list[TopicPartition] | None = None, group_metadata: object = None
    ) -> None:
        """Commit ``records`` (and ``offsets`` for ``group_metadata``'s group) in one transaction, or raise."""
        with self._lock:
            if self.fenced:
                raise Fenced(f"{self.transactional_id} was fenced by a newer writer")
            try:
                self.producer.begin_transaction()
                for record in records:
                    if record.partition is None:
                        self.producer.produce(record.topic, key=record.key, value=record.value, headers=record.headers)
                    else:
                        self.producer.produce(
                            record.topic, key=record.key, value=record.value, headers=record.headers, partition=record.partition
                        )
                if offsets:
                    add_offsets(self.producer, offsets, group_metadata)
                self.producer.commit_transaction(30)
            except KafkaException as error:
                kafka_error = error.args[0] if error.args else None
                if getattr(kafka_error, "fatal", lambda: False)():
                    self.fenced = True
                    raise Fenced(f"{self.transactional_id}: {error}") from error
                try:
                    self.producer.abort_transaction(30)
                except KafkaException as abort_error:
                    raise KafkaException(f"{error}; and the abort failed: {abort_error}") from error
                raise
