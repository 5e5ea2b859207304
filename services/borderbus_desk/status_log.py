"""The compacted topic ``desk.alert-status``: one ``desk-alert-status`` record per alert, keyed by alert id.

Written in the same Kafka transaction as each action (so an action on the log always has its status
next to it, whatever the retention of ``alerts.actions``) and by the escalator's checkpoints (which
also commit the log reader's positions, group ``borderbus-desk-state``); read whole at start.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from borderbus import codec
from borderbus.bus import Bus
from borderbus.catalogue import DESK_STATUS_TOPIC
from borderbus.codec import DecodeError
from borderbus.partition_reader import PartitionReader
from borderbus.schema_registry import SchemaRegistry
from borderbus.transactions import Outgoing
from borderbus_desk.state import DeskAlert, status_record

log = logging.getLogger(__name__)

STATE_GROUP = "borderbus-desk-state"
"""Consumer group whose committed offsets say how far the last checkpoint had read the logs."""


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
        latest: dict[bytes, bytes | None] = {}
        with PartitionReader.connect(self.bus.settings, f"{self.group}-loader", what="loading the alert status") as reader:
            partitions = reader.topic_partitions([self.topic], timeout=30)
            for message in reader.read(reader.from_low(partitions)):
                latest[message.key() or b""] = message.value()
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
