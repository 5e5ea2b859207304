"""Copies each alert version into the topic of every agency that may see it, exactly once.

``alerts.agency.<code>`` then holds only what that agency may see, so its own systems consume it
with any Kafka client, and broker ACLs can restrict each topic to its agency. A consumer group
with transactions (the consumed offsets commit with the copies), so a restarted or rebalanced
router neither skips nor repeats a version. Each version goes where *that version's*
``allowed_agencies`` allow, so a retraction reaches the agencies that may see the retracted version.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from borderbus import codec
from borderbus.batches import next_batch
from borderbus.bus import Bus
from borderbus.catalogue import ALERTS_TOPIC
from borderbus.codec import DecodeError
from borderbus.dead_letter import DeadLetters
from borderbus.schema_registry import SchemaRegistry
from borderbus.transactions import Outgoing, TransactionalWriter
from borderbus_desk import faults
from borderbus_desk.metrics import ALERTS_ROUTED
from borderbus_desk.state import visible_to

log = logging.getLogger(__name__)


class AgencyAlertRouter:
    def __init__(self, bus: Bus, *, instance_id: str, on_failure: Callable[[str, BaseException], None] | None = None) -> None:
        settings, catalogue = bus.settings, bus.catalogue
        group = f"{settings.topic_prefix}borderbus-desk-router"
        self.source = catalogue.topic(ALERTS_TOPIC)
        self.targets = {code: catalogue.agency_alert_topic(code) for code in catalogue.agencies}
        self.schema = bus.schemas.latest("alert")
        self.registry = SchemaRegistry(settings, known=bus.schemas)
        self.dead_letters = DeadLetters(settings, "desk-router")
        self.consumer = Consumer(settings.consumer_config(group, **{"session.timeout.ms": 10_000}))
        self.writer = TransactionalWriter(settings, f"{group}-{instance_id}")
        self.on_failure = on_failure
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="desk-agency-router", daemon=True)

    def start(self) -> None:
        self.writer.init(30)
        self.consumer.subscribe([self.source])
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=15)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                faults.check("router")
                messages = next_batch(self.consumer, 500, 0.5)
                if messages:
                    self._route(messages)
        except Exception as error:  # Fenced included: a newer desk with this instance id routes now
            log.exception("agency alert router stopped")
            if self.on_failure is not None:
                self.on_failure("router", error)
        finally:
            self.consumer.close()

    def _route(self, messages: list[Message]) -> None:
        routed: list[str] = []
        copies: list[Outgoing] = []
        try:
            for message in messages:
                routed += self._copy(message, copies)
            self.dead_letters.flush()
            self.writer.write(
                copies,
                offsets=self.consumer.position(self.consumer.assignment()),
                group_metadata=self.consumer.consumer_group_metadata(),
            )
        except KafkaException as error:
            log.warning("routing batch aborted, will be routed again: %s", error)
            for tp in self.consumer.committed(self.consumer.assignment(), timeout=30):
                self.consumer.seek(TopicPartition(tp.topic, tp.partition, max(tp.offset, 0)))
            return
        for agency in routed:
            ALERTS_ROUTED.labels(agency).inc()

    def _copy(self, message: Message, copies: list[Outgoing]) -> list[str]:
        value = message.value() or b""
        try:
            record = codec.decode(value, self.schema, self.registry.lookup)
        except DecodeError as error:
            self.dead_letters.send(
                value=value,
                key=message.key(),
                source_topic=self.source,
                partition=message.partition() or 0,
                offset=message.offset() or 0,
                reason=error.reason,
                detail=error.detail,
            )
            return []
        agencies = [code for code in self.targets if visible_to(code, record)]
        copies += [Outgoing(self.targets[code], message.key(), value, headers=message.headers()) for code in agencies]
        return agencies
