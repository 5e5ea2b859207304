"""Agencies publish every event type through the real broker, and readers decode them back."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Producer

from borderbus import codec
from borderbus.bus import Bus
from borderbus.dead_letter import DEAD_LETTERS, HEADER_REASON, HEADER_SOURCE_OFFSET, HEADER_SOURCE_PARTITION, HEADER_SOURCE_TOPIC
from borderbus.ingest import IngestEvent, IngestReader
from borderbus.schema_registry import SchemaRegistry
from borderbus_agency.publisher import AgencyPublisher
from kafka_reading import read_all

pytestmark = pytest.mark.broker

NOW_MS = int(time.time() * 1000)

SAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("uk-bf", "sighting"): {
        "source_system": "anpr-dov-2",
        "occurred_at": NOW_MS - 60_000,
        "tlp": "GREEN",
        "subjects": [{"kind": "VEHICLE_PLATE", "id": "ab12 cde", "country": "GB"}],
        "location": {"border_point": "GB-DOV", "country": "GB"},
        "method": "ANPR_CAMERA",
        "confidence": 0.93,
        "headcount": 2,
    },
    ("iq-fiu", "finance-flag"): {
        "source_system": "goaml",
        "occurred_at": NOW_MS - 120_000,
        "tlp": "AMBER",
        "subjects": [{"kind": "CRYPTO_WALLET", "id": "0x52908400098527886E0F7030069857D2E4169EE7"}],
        "amount": "15000.00",
        "currency": "USD",
        "channel": "CRYPTO",
        "counterparties": [{"role": "BENEFICIARY", "subject_index": 0}],
        "typologies": ["SMUGGLING_FEES"],
        "risk_score": 88,
    },
    ("uk-cps", "case-update"): {
        "source_system": "case-mgmt",
        "occurred_at": NOW_MS - 180_000,
        "tlp": "RED",
        "subjects": [{"kind": "PERSON_DOCUMENT", "id": "A7654321", "country": "IQ"}],
        "case_id": "CPS-OIC-77",
        "status": "WARRANT_ISSUED",
        "warrant_ref": "W-77",
        "network_id": "NET-ALPHA",
        "subject_roles": [{"subject_index": 0, "role": "ORGANISER"}],
        "jurisdiction": "GB",
    },
    ("tiktok-safety", "platform-report"): {
        "source_system": "trust-safety-api",
        "occurred_at": NOW_MS - 240_000,
        "tlp": "GREEN",
        "subjects": [{"kind": "PHONE", "id": "+964 770 123 4567"}, {"kind": "PLATFORM_ACCOUNT", "id": "tiktok:@Route_Ads"}],
        "platform": "tiktok",
        "content_kind": "ADVERT",
        "content_ref": "7301234567890",
        "action_taken": "REMOVED",
        "offered_route": "IQ>TR>GR>GB",
    },
}


@pytest.fixture
def reader(bus: Bus) -> Iterator[IngestReader]:
    registry = SchemaRegistry(bus.settings)
    ingest_reader = IngestReader(
        bus.catalogue, bus.schemas, registry.lookup, group_id=f"test-{uuid.uuid4()}", service="test-reader"
    )
    yield ingest_reader
    ingest_reader.close()


def read_until(reader: IngestReader, want: int, timeout: float = 20.0) -> list[IngestEvent]:
    events: list[IngestEvent] = []
    deadline = time.monotonic() + timeout
    while len(events) < want and time.monotonic() < deadline:
        events.extend(reader.poll(timeout=0.5))
    return events


def test_round_trip_of_every_event_type(bus: Bus, reader: IngestReader) -> None:
    published: dict[str, tuple[str, str]] = {}
    for (agency, event_type), body in SAMPLES.items():
        publisher = AgencyPublisher(bus, agency, instance_id="roundtrip")
        try:
            (event_id,) = publisher.publish(event_type, [body])
        finally:
            publisher.close()
        published[event_id] = (agency, event_type)

    received = {
        str(e.record["event_id"]): e for e in read_until(reader, len(published)) if str(e.record["event_id"]) in published
    }
    assert set(received) == set(published)
    for event_id, (agency, event_type) in published.items():
        event = received[event_id]
        assert (event.agency, event.event_type) == (agency, event_type)
        assert event.topic == bus.catalogue.ingest_topic(agency, event_type)
    platform = next(e for e in received.values() if e.event_type == "platform-report")
    assert [s["id"] for s in platform.record["subjects"]] == ["+9647701234567", "tiktok:route_ads"]
    flag = next(e for e in received.values() if e.event_type == "finance-flag")
    assert str(flag.record["amount"]) == "15000.00"
    assert flag.record["counterparties"][0]["subject_id"] == "ETH:0x52908400098527886e0f7030069857d2e4169ee7"


def test_messages_are_keyed_by_primary_subject(bus: Bus) -> None:
    publisher = AgencyPublisher(bus, "uk-bf", instance_id="keys")
    try:
        publisher.publish("sighting", [SAMPLES[("uk-bf", "sighting")]] * 1 + [dict(SAMPLES[("uk-bf", "sighting")])])
    finally:
        publisher.close()
    messages = read_all(bus.settings, bus.catalogue.ingest_topic("uk-bf", "sighting"))
    keyed = [m for m in messages if m.key() == b"VEHICLE_PLATE:GB:AB12CDE"]
    assert len(keyed) >= 2
    assert len({m.partition() for m in keyed}) == 1


def test_v1_writer_and_v2_reader_meet_through_the_schema_topic(bus: Bus) -> None:
    """A v1-era agency writes; a reader that never saw v1 locally resolves it from the schema topic."""
    v1 = bus.schemas.get("sighting", 1)
    SchemaRegistry(bus.settings).register(v1)
    publisher = AgencyPublisher(bus, "iq-bgc", instance_id="v1-writer")
    event = publisher.prepare(
        "sighting", [{**SAMPLES[("uk-bf", "sighting")], "location": {"border_point": "IQ-RBA", "country": "IQ"}}]
    )[0]
    record_v1 = {k: v for k, v in event.record.items() if k not in ("headcount", "evidence_uri")}
    producer = Producer(bus.settings.producer_config())
    producer.produce(bus.catalogue.ingest_topic("iq-bgc", "sighting"), key=event.key.encode(), value=codec.encode(v1, record_v1))
    assert producer.flush(10) == 0
    publisher.close()

    fresh_registry = SchemaRegistry(bus.settings)
    assert fresh_registry.lookup(v1.fingerprint) is not None
    message = next(
        m for m in read_all(bus.settings, bus.catalogue.ingest_topic("iq-bgc", "sighting")) if m.key() == event.key.encode()
    )
    decoded = codec.decode(message.value(), bus.schemas.get("sighting", 2), fresh_registry.lookup)
    assert str(decoded["event_id"]) == event.event_id
    assert decoded["headcount"] is None

    v2 = bus.schemas.get("sighting", 2)  # an agency still writing v2 while the newest is later
    SchemaRegistry(bus.settings).register(v2)
    back = codec.decode(codec.encode(v2, event.record), v1, SchemaRegistry(bus.settings).lookup)
    assert back["confidence"] == pytest.approx(0.93)


def _dead_letter_count(reason: str) -> float:
    return DEAD_LETTERS.labels("test-reader", reason)._value.get()


def test_undecodable_records_go_to_the_dead_letter_topic_with_reason(bus: Bus, reader: IngestReader) -> None:
    topic_uk = bus.catalogue.ingest_topic("uk-bf", "sighting")
    topic_iq = bus.catalogue.ingest_topic("iq-bgc", "sighting")
    schema = bus.schemas.latest("sighting")
    SchemaRegistry(bus.settings).register(schema)
    good = AgencyPublisher(bus, "uk-bf", instance_id="dlq").prepare("sighting", [SAMPLES[("uk-bf", "sighting")]])[0]
    valid_bytes = codec.encode(schema, good.record)
    bad = {
        "bad_marker": (topic_uk, b'{"agency": "uk-bf"}'),
        "unknown_fingerprint": (topic_uk, b"\xc3\x01" + b"\x42" * 8 + valid_bytes[10:]),
        "corrupt_body": (topic_uk, valid_bytes[:-9]),
        "provenance_mismatch": (topic_iq, valid_bytes),  # a uk-bf event on iq-bgc's topic
    }
    before = {reason: _dead_letter_count(reason) for reason in bad}
    producer = Producer(bus.settings.producer_config())
    for reason, (topic, value) in bad.items():
        producer.produce(topic, key=reason.encode(), value=value)
    assert producer.flush(10) == 0

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_dead_letter_count(r) == before[r] for r in bad):
        list(reader.poll(timeout=0.5))
    reader.commit()

    letters = {
        m.key().decode(): m
        for m in read_all(bus.settings, bus.catalogue.topic("borderbus.deadletter"))
        if m.key() and m.key().decode() in bad
    }
    assert set(letters) == set(bad)
    for reason, (topic, value) in bad.items():
        headers = {k: v.decode() for k, v in letters[reason].headers()}
        assert headers[HEADER_REASON] == reason
        assert headers[HEADER_SOURCE_TOPIC] == topic
        assert int(headers[HEADER_SOURCE_PARTITION]) >= 0 and int(headers[HEADER_SOURCE_OFFSET]) >= 0
        assert letters[reason].value() == value
        assert _dead_letter_count(reason) == before[reason] + 1
