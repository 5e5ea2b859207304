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

from confluent_kafka import Message

from borderbus import codec
from borderbus.bus import Bus
from borderbus.catalogue import ALERTS_TOPIC, DEAD_LETTER_TOPIC
from borderbus.codec import DecodeError
from borderbus.exactly_once import ExactlyOnceStage
from borderbus.schema_registry import SchemaRegistry
from borderbus_desk import faults
from borderbus_desk.metrics import ALERTS_ROUTED
from borderbus_desk.state import visible_to

log = logging.getLogger(__name__)


class AgencyAlertRouter(ExactlyOnceStage[None]):
    """A stage without state on the bus's one exactly-once mechanism (:mod:`borderbus.exactly_once`)."""

    def __init__(self, bus: Bus, *, instance_id: str, on_failure: Callable[[str, BaseException], None] | None = None) -> None:
        settings, catalogue = bus.settings, bus.catalogue
        group = f"{settings.topic_prefix}borderbus-desk-router"
        super().__init__(
            settings,
            source_topic=catalogue.topic(ALERTS_TOPIC),
            state_topic=None,
            dead_letter_topic=catalogue.topic(DEAD_LETTER_TOPIC),
            group_id=group,
            transactional_id=f"{group}-{instance_id}",
            service="desk-router",
        )
        self.targets = {code: catalogue.agency_alert_topic(code) for code in catalogue.agencies}
        self.schema = bus.schemas.latest("alert")
        self.registry = SchemaRegistry(settings, known=bus.schemas)
        self.on_failure = on_failure
        self.thread = threading.Thread(target=self._run, name="desk-agency-router", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        super().stop()
        self.thread.join(timeout=15)

    def _run(self) -> None:
        try:
            self.run()
        except Exception as error:  # fenced included: a newer desk with this instance id routes now
            log.exception("agency alert router stopped")
            if self.on_failure is not None:
                self.on_failure("router", error)

    def tick(self) -> None:
        faults.check("router")

    def process(self, message: Message) -> list[str]:
        value = message.value() or b""
        try:
            record = codec.decode(value, self.schema, self.registry.lookup)
        except DecodeError as error:
            self.dead_letter(message, error.reason, error.detail)
            return []
        agencies = [code for code in self.targets if visible_to(code, record)]
        for code in agencies:
            self.produce(self.targets[code], message.key(), value, headers=message.headers())
        return agencies

    def published(self, results: list[object]) -> None:
        for agencies in results:
            assert isinstance(agencies, list)
            for agency in agencies:
                ALERTS_ROUTED.labels(agency).inc()
