"""The schema registry reads its topic's end with ``watermarks``, which survives the leader moving (a broker just back),
and nothing else (no broker)."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from borderbus import schema_registry
from borderbus.partition_reader import watermarks


class MovingLeader:
    """Answers ``errors`` (one per call) before the end offset."""

    def __init__(self, *errors: KafkaError) -> None:
        self.errors, self.calls = list(errors), 0

    def get_watermark_offsets(self, _partition: TopicPartition, timeout: float, cached: bool = False) -> tuple[int, int]:
        self.calls += 1
        if self.errors:
            raise KafkaException(self.errors.pop(0))
        return 0, 7


def test_the_registry_reads_its_end_through_watermarks() -> None:
    assert schema_registry.watermarks is watermarks


def test_the_end_is_asked_again_while_the_leader_moves() -> None:
    consumer = MovingLeader(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION), KafkaError(KafkaError.LEADER_NOT_AVAILABLE))
    end = watermarks(consumer, TopicPartition("schemas", 0), retry_for=30)[1]  # type: ignore[arg-type]
    assert (end, consumer.calls) == (7, 3)


def test_an_error_that_will_not_pass_is_raised_at_once() -> None:
    consumer = MovingLeader(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))
    with pytest.raises(KafkaException, match="TOPIC_AUTHORIZATION_FAILED"):
        watermarks(consumer, TopicPartition("schemas", 0), retry_for=30)[1]  # type: ignore[arg-type]
    assert consumer.calls == 1


def test_a_moving_leader_is_given_up_on_at_the_deadline() -> None:
    consumer = MovingLeader(*[KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION)] * 100)
    with pytest.raises(KafkaException, match="NOT_LEADER"):
        watermarks(consumer, TopicPartition("schemas", 0), retry_for=0.5)  # type: ignore[arg-type]
    assert 1 < consumer.calls < 100
