"""Test helpers that read topics directly with a plain confluent-kafka consumer."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, Message, TopicPartition

from borderbus.config import Settings
from borderbus.partition_reader import PartitionReader, PartitionsNotRead


def end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    """High watermark of each partition (committed and aborted records both count)."""
    consumer = Consumer(settings.consumer_config(f"offsets-{uuid.uuid4()}"))
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
    finally:
        consumer.close()


def read_to_end(settings: Settings, topic: str, *, timeout: float = 60.0, partial: bool = False) -> list[Message]:
    """Every committed record of ``topic``: each partition read to its end without joining a group.

    For counting what a test wrote, where :func:`read_all` would stop after 2 quiet seconds: a broker just
    thawed or restarted can take longer than that to answer a new group's first fetch, and an empty read
    looked like nothing written. Raises PartitionsNotRead when not every end was reached within ``timeout``;
    ``partial``: returns what was read by then instead.
    """
    messages: list[Message] = []
    with PartitionReader.connect(settings, f"reader-{uuid.uuid4()}", what=f"reading {topic}") as reader:
        try:
            starts = reader.from_low(reader.topic_partitions([topic], timeout=timeout), retry_for=timeout)
            messages.extend(reader.read(starts, within=timeout))
        except PartitionsNotRead:
            if not partial:
                raise
    return messages


def read_all(settings: Settings, topic: str | list[str], *, expect: int | None = None, timeout: float = 15.0) -> list[Message]:
    """Every committed record of ``topic`` (or topics; read_committed), waiting for ``expect`` of them if given."""
    consumer = Consumer(settings.consumer_config(f"reader-{uuid.uuid4()}"))
    assigned: list[float] = []  # when the group gave us the partitions: idle time counts from then, not from joining
    consumer.subscribe([topic] if isinstance(topic, str) else topic, on_assign=lambda _c, _p: assigned.append(time.monotonic()))
    messages: list[Message] = []
    deadline = time.monotonic() + timeout
    idle_until: float | None = None
    try:
        while time.monotonic() < deadline:
            batch = [m for m in consumer.consume(100, 0.5) if m.error() is None]
            messages.extend(batch)
            if expect is not None and len(messages) >= expect:
                break
            if expect is None and assigned:
                if batch or idle_until is None:
                    idle_until = time.monotonic() + 2.0
                elif time.monotonic() > idle_until:
                    break
    finally:
        consumer.close()
    return messages
