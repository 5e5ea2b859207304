"""Reading agency ingest topics: decode to the reader's schema, check provenance, dead-letter the rest.

Every consumer of agency events decodes through :func:`decode_ingest`, so "which records are
acceptable" is decided in one place.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message
from prometheus_client import Counter

from borderbus import codec, identifiers
from borderbus.catalogue import Catalogue
from borderbus.codec import DecodeError, WriterLookup
from borderbus.dead_letter import DeadLetters
from borderbus.schemas import SchemaCatalogue

EVENTS_READ = Counter(
    "borderbus_ingest_events_read_total",
    "Agency events decoded from ingest topics, by consuming service, agency and event type.",
    ["service", "agency", "event_type"],
)


@dataclass(frozen=True)
class IngestEvent:
    """One decoded agency event and where it came from."""

    agency: str
    event_type: str
    record: dict[str, Any]
    topic: str
    partition: int
    offset: int


def decode_ingest(
    catalogue: Catalogue,
    schemas: SchemaCatalogue,
    writer_lookup: WriterLookup,
    topic: str,
    value: bytes | None,
) -> tuple[str, str, dict[str, Any]]:
    """``(agency, event_type, record)`` for a record of an ingest topic, or DecodeError saying why not.

    Beyond the Avro decoding, every subject id must be canonical (as the agency service writes it): a
    client with the agency's Kafka credentials can write anything, and a record the correlator cannot key
    would otherwise stop its fan-out on every restart instead of being dead-lettered (``invalid_event``)."""
    parsed = catalogue.parse_ingest_topic(topic)
    if parsed is None:
        raise DecodeError("not_ingest_topic", f"{topic} is not an ingest topic")
    agency, event_type = parsed
    if value is None:
        raise DecodeError("empty_value", "record has no value")
    try:
        reader = schemas.latest(event_type)
    except KeyError:
        raise DecodeError("unknown_event_type", f"no schema for event type {event_type!r}") from None
    record = codec.decode(value, reader, writer_lookup)
    if record["agency"] != agency:
        raise DecodeError(
            "provenance_mismatch", f"event says agency {record['agency']!r} but arrived on {agency}'s topic {topic}"
        )
    _check_subjects(record)
    return agency, event_type, record


def _check_subjects(record: dict[str, Any]) -> None:
    if not record.get("subjects"):
        raise DecodeError("invalid_event", "subjects: the event names no subject")
    revision = record.get("revises") or {}
    for where, subjects in (("subjects", record["subjects"]), ("revises.subjects", revision.get("subjects") or ())):
        for position, subject in enumerate(subjects):
            try:
                identifiers.subject_key(subject["kind"], subject["id"])
            except identifiers.IdentifierError as error:
                raise DecodeError("invalid_event", f"{where}[{position}].{error.field}: {error.reason}") from None


class IngestReader:
    """A consumer-group member over every ingest topic that yields good events and dead-letters bad ones.

    Offsets are committed only after :meth:`commit`, which first makes sure the dead letters are
    acknowledged: at-least-once for good events, and nothing silently skipped.
    """

    def __init__(
        self,
        catalogue: Catalogue,
        schemas: SchemaCatalogue,
        writer_lookup: WriterLookup,
        *,
        group_id: str,
        service: str,
        consumer_overrides: dict[str, Any] | None = None,
    ) -> None:
        settings = catalogue.settings
        self.catalogue = catalogue
        self.schemas = schemas
        self.writer_lookup = writer_lookup
        self.service = service
        self.dead_letters = DeadLetters(settings, service)
        self._consumer = Consumer(settings.consumer_config(group_id, **(consumer_overrides or {})))
        self._consumer.subscribe([catalogue.ingest_topic_pattern()])

    def poll(self, timeout: float = 1.0, max_records: int = 500) -> Iterator[IngestEvent]:
        """Yield the decodable events of one batch; undecodable ones go to the dead-letter topic."""
        for message in self._consumer.consume(max_records, timeout):
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise KafkaException(error)
                continue
            event = self._decode(message)
            if event is not None:
                yield event

    def _decode(self, message: Message) -> IngestEvent | None:
        topic, partition, offset = message.topic() or "", message.partition() or 0, message.offset() or 0
        try:
            agency, event_type, record = decode_ingest(self.catalogue, self.schemas, self.writer_lookup, topic, message.value())
        except DecodeError as error:
            self.dead_letters.send(
                value=message.value(),
                key=message.key(),
                source_topic=topic,
                partition=partition,
                offset=offset,
                reason=error.reason,
                detail=error.detail,
            )
            return None
        EVENTS_READ.labels(self.service, agency, event_type).inc()
        return IngestEvent(agency, event_type, record, topic, partition, offset)

    def commit(self) -> None:
        """Commit what was polled, after the dead letters of it are safely written."""
        self.dead_letters.flush()
        try:
            self._consumer.commit(asynchronous=False)
        except KafkaException as error:
            if error.args[0].code() != KafkaError._NO_OFFSET:  # nothing consumed since the last commit
                raise

    def close(self) -> None:
        self._consumer.close()
