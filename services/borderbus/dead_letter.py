"""The dead-letter topic: where records that cannot be processed go, with the reason, and are counted."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from confluent_kafka import KafkaException, Message, Producer
from prometheus_client import Counter

from borderbus.catalogue import DEAD_LETTER_TOPIC
from borderbus.config import Settings

DEAD_LETTERS = Counter(
    "borderbus_dead_letter_records_total",
    "Records sent to the dead-letter topic, by the service that gave up on them and why.",
    ["service", "reason"],
)

HEADER_REASON = "dlq.reason"
HEADER_DETAIL = "dlq.detail"
HEADER_SOURCE_TOPIC = "dlq.source.topic"
HEADER_SOURCE_PARTITION = "dlq.source.partition"
HEADER_SOURCE_OFFSET = "dlq.source.offset"
HEADER_SERVICE = "dlq.service"


def dead_letter_headers(
    *, reason: str, detail: str, source_topic: str, partition: int, offset: int, service: str
) -> dict[str, bytes]:
    """The headers every dead letter carries, whichever client writes it."""
    values = {
        HEADER_REASON: reason,
        HEADER_DETAIL: detail[:1000],
        HEADER_SOURCE_TOPIC: source_topic,
        HEADER_SOURCE_PARTITION: str(partition),
        HEADER_SOURCE_OFFSET: str(offset),
        HEADER_SERVICE: service,
    }
    return {name: value.encode() for name, value in values.items()}


class DeadLetters:
    """Send the original bytes of an unprocessable record to the dead-letter topic.

    The caller must :meth:`flush` before committing the source offset, so a record is never
    both skipped and missing from the dead-letter topic.
    """

    def __init__(self, settings: Settings, service: str) -> None:
        self.topic = settings.topic_prefix + DEAD_LETTER_TOPIC
        self.service = service
        self._producer = Producer(settings.producer_config())
        self._failures: list[str] = []

    def send(
        self,
        *,
        value: bytes | None,
        key: bytes | None,
        source_topic: str,
        partition: int,
        offset: int,
        reason: str,
        detail: str,
    ) -> None:
        _produce(
            self._producer,
            self.topic,
            key=key,
            value=value,
            headers=dead_letter_headers(
                reason=reason, detail=detail, source_topic=source_topic, partition=partition, offset=offset, service=self.service
            ),
            on_delivery=self._on_delivery,
        )

    def _on_delivery(self, error: object, _message: object) -> None:
        if error is not None:
            self._failures.append(str(error))

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every dead letter is acknowledged; raise if any was not."""
        remaining = self._producer.flush(timeout)
        if remaining or self._failures:
            failures, self._failures = self._failures, []
            raise KafkaException(f"dead letters not acknowledged: {failures or f'{remaining} pending'}")


def produce_dead_letter(
    producer: Producer,
    topic: str,
    message: Message,
    *,
    reason: str,
    detail: str,
    service: str,
    on_delivery: Callable[[object, object], None] | None = None,
) -> None:
    """Queue ``message``'s original bytes on the dead-letter ``topic`` with ``producer`` (possibly inside its
    transaction, so the record is dead-lettered exactly when its offset commits), and count it."""
    headers = dead_letter_headers(
        reason=reason,
        detail=detail,
        source_topic=message.topic() or "",
        partition=message.partition() or 0,
        offset=message.offset() or 0,
        service=service,
    )
    _produce(producer, topic, key=message.key(), value=message.value(), headers=headers, on_delivery=on_delivery)


def _produce(
    producer: Producer,
    topic: str,
    *,
    key: bytes | None,
    value: bytes | None,
    headers: Mapping[str, bytes],
    on_delivery: Callable[[object, object], None] | None,
) -> None:
    """The one way a dead letter is queued and counted (its reason is in the headers)."""
    if on_delivery is None:
        producer.produce(topic, key=key, value=value, headers=dict(headers))
    else:
        producer.produce(topic, key=key, value=value, headers=dict(headers), on_delivery=on_delivery)
    DEAD_LETTERS.labels(headers[HEADER_SERVICE].decode(), headers[HEADER_REASON].decode()).inc()
