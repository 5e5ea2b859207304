"""The audit topic ``desk.audit``: the desk writes it (as ``desk-actions``) and reads it back for supervisors
(as ``desk-reader``). Records are built by :mod:`borderbus_desk.audit`.

A read, list or subscription is answered only after its audit record was acknowledged by Kafka
(:meth:`AuditLog.write`), so nothing is read without a trace; an action's or a silence change's
record goes in the same transaction as the action or silence (:meth:`AuditLog.outgoing`). Failed
sign-ins are written without waiting (:meth:`AuditLog.write_nowait`), so a flood of wrong tokens
costs the caller, not the desk.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from borderbus import codec
from borderbus.bus import Bus
from borderbus.catalogue import DESK_AUDIT_TOPIC
from borderbus.codec import DecodeError
from borderbus.partition_reader import PartitionReader, PartitionsNotRead
from borderbus.schema_registry import SchemaRegistry
from borderbus.transactions import Outgoing
from borderbus_desk import audit
from borderbus_desk.metrics import AUDIT_RECORDS

log = logging.getLogger(__name__)

_WRITE_TIMEOUT_S = 10.0
_READ_GROUP = "borderbus-desk-reader-audit"


class AuditUnavailable(Exception):
    """The audit record was not acknowledged: the request it records must not be answered."""


class AuditLog:
    def __init__(self, writer_bus: Bus, reader_bus: Bus, registry: SchemaRegistry) -> None:
        self.topic = writer_bus.catalogue.topic(DESK_AUDIT_TOPIC)
        self.schema = writer_bus.schemas.latest("desk-audit")
        self.registry = registry
        self.reader_settings = reader_bus.settings
        self.producer = Producer(writer_bus.settings.producer_config())
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, name="desk-audit-writer", daemon=True)

    def start(self) -> None:
        self.registry.register(self.schema)
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)
        self.producer.flush(10)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(0.1)

    def outgoing(self, record: dict[str, Any]) -> Outgoing:
        """For a transaction that also holds what the record is about."""
        return Outgoing(self.topic, audit.key(record), codec.encode(self.schema, record))

    def _produce(self, record: dict[str, Any], on_done: Callable[[str | None], None]) -> None:
        def delivered(error: KafkaError | None, _message: Message) -> None:
            AUDIT_RECORDS.labels(record["what"], "written" if error is None else "failed").inc()
            on_done(None if error is None else str(error))

        try:
            self.producer.produce(
                self.topic, key=audit.key(record), value=codec.encode(self.schema, record), on_delivery=delivered
            )
        except (BufferError, KafkaException) as error:
            AUDIT_RECORDS.labels(record["what"], "failed").inc()
            on_done(str(error))

    async def write(self, record: dict[str, Any]) -> None:
        """Return once Kafka acknowledged the record; AuditUnavailable if it did not."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[str | None] = loop.create_future()

        def settle(error: str | None) -> None:
            if not done.done():
                done.set_result(error)

        def on_done(error: str | None) -> None:
            loop.call_soon_threadsafe(settle, error)

        self._produce(record, on_done)
        try:
            error = await asyncio.wait_for(done, _WRITE_TIMEOUT_S)
        except TimeoutError:
            error = "not acknowledged in time"
        if error is not None:
            log.error("audit record %s (%s) not written: %s", record["audit_id"], record["what"], error)
            raise AuditUnavailable(error)

    def write_nowait(self, record: dict[str, Any]) -> None:
        def on_done(error: str | None) -> None:
            if error is not None:
                log.error("audit record %s (%s) not written: %s", record["audit_id"], record["what"], error)

        self._produce(record, on_done)

    def query(self, wanted: audit.AuditQuery, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Matching entries, newest first (at most ``wanted.limit``): reads every partition from ``since``."""
        self.producer.flush(_WRITE_TIMEOUT_S)  # what this desk wrote is in the answer
        group = f"{self.reader_settings.topic_prefix}{_READ_GROUP}-{uuid.uuid4().hex[:8]}"
        found: list[dict[str, Any]] = []
        with PartitionReader.connect(self.reader_settings, group, what="reading the audit trail") as reader:
            partitions = reader.topic_partitions([self.topic], timeout=10)
            starts = reader.from_time(partitions, wanted.since_ms or 0, timeout=10, below_high=True)
            try:
                for message in reader.read(starts, within=timeout):
                    try:
                        record = codec.decode(message.value() or b"", self.schema, self.registry.lookup)
                    except DecodeError as problem:
                        where = f"{self.topic}[{message.partition()}]@{message.offset()}"
                        log.warning("undecodable audit record at %s: %s", where, problem)
                        continue
                    if wanted.matches(record):
                        found.append(audit.to_json(record))
            except PartitionsNotRead:
                pass  # the answer holds what was read in time (any other error refuses the query)
        found.sort(key=lambda item: (item["occurred_at"], item["audit_id"]), reverse=True)
        return found[: wanted.limit]
