"""The compacted topic ``desk.alert-status``: one ``desk-alert-status`` record per alert, keyed by alert id.

Written in the same Kafka transaction as each action (so an action on the log always has its status
next to it, whatever the retention of ``alerts.actions``) and by the escalator's checkpoints (which
also commit the log reader's positions, group ``borderbus-desk-state``); read whole at start.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from borderbus import codec
from borderbus.bus import Bus
from borderbus.catalogue import DESK_STATUS_TOPIC
from borderbus.codec import DecodeError
from borderbus.schema_registry import SchemaRegistry
from borderbus.transactions import Outgoing
from borderbus_desk.state import DeskAlert, status_record

log = logging.getLogger(__name__)

STATE_GROUP = "borderbus-desk-state"
"""Consumer group whose committed offsets say how far the last checkpoint had read the logs."""


def watermarks(consumer: Consumer, tp: TopicPartition, timeout: float = 30.0) -> tuple[int, int]:
    """``(low, high)``, retrying retriable errors: a just-created topic or a restarted broker may not have
    elected its leaders yet, which must not stop the desk from starting."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            low, high = consumer.get_watermark_offsets(tp, timeout=10, cached=False)
            return int(low), int(high)
        except KafkaException as error:
            kafka_error = error.args[0] if error.args else None
            if time.monotonic() > deadline or not getattr(kafka_error, "retriable", lambda: False)():
                raise
            log.info("watermarks of %s[%d] not available yet (%s), retrying", tp.topic, tp.partition, error)
            time.sleep(0.2)


class StatusLog:
    def __init__(self, bus: Bus, registry: SchemaRegistry) -> None:
        self.bus = bus
        self.topic = bus.catalogue.topic(DESK_STATUS_TOPIC)
        self.schema = bus.schemas.latest("desk-alert-status")
        self.alert_schema = bus.schemas.latest("alert")
        self.registry = registry
        self.group = f"{bus.settings.topic_prefix}{STATE_GROUP}"

    def record(self, alert: DeskAlert, deadlines: Mapping[str, float | None], now_ms: int) -> Outgoing:
        value = codec.encode(self.schema, status_record(alert, deadlines, now_ms))
        return Outgoing(self.topic, alert.alert_id.encode(), value)

    def tombstone(self, alert_id: str) -> Outgoing:
        return Outgoing(self.topic, alert_id.encode(), None)

    def load(self) -> list[tuple[dict[str, Any], dict[str, Any], bytes]]:
        """Every alert's latest status record (committed only): ``(status, alert record, alert message)``."""
        consumer = Consumer(self.bus.settings.consumer_config(f"{self.group}-loader", **{"enable.partition.eof": True}))
        latest: dict[bytes, bytes | None] = {}
        try:
            metadata = consumer.list_topics(self.topic, timeout=30).topics.get(self.topic)
            if metadata is None or metadata.error is not None:
                raise RuntimeError(f"topic {self.topic} does not exist: run 'borderbus topics apply'")
            assignment, remaining = [], set()
            for partition in metadata.partitions:
                low, high = watermarks(consumer, TopicPartition(self.topic, partition))
                if high > low:
                    assignment.append(TopicPartition(self.topic, partition, low))
                    remaining.add(partition)
            consumer.assign(assignment)
            while remaining:
                message = consumer.poll(1.0)
                if message is None:
                    continue
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        remaining.discard(message.partition())
                        continue
                    raise KafkaException(error)
                latest[message.key() or b""] = message.value()
        finally:
            consumer.close()
        restored = []
        for key, value in latest.items():
            if value is None:
                continue
            try:
                status = codec.decode(value, self.schema, self.registry.lookup)
                message_bytes = status["alert_message"]
                alert = codec.decode(message_bytes, self.alert_schema, self.registry.lookup)
            except DecodeError as error:
                log.error("status record of %s is undecodable, ignored: %s", key.decode(errors="replace"), error)
                continue
            restored.append((status, alert, message_bytes))
        return restored
