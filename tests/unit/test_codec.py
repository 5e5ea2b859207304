"""Single-object encoding: round trips, schema resolution both ways, and every decode failure."""

from __future__ import annotations

import io
import json
import uuid
from decimal import Decimal
from typing import Any

import avro.io
import avro.schema
import pytest

from borderbus import codec
from borderbus.bus import Bus
from borderbus.codec import DecodeError
from borderbus.schemas import fingerprint


def _sighting(**overrides: Any) -> dict[str, Any]:
    record = {
        "event_id": str(uuid.uuid4()),
        "agency": "uk-bf",
        "source_system": "checkpoint-dov-7",
        "occurred_at": 1_764_400_000_000,
        "reported_at": 1_764_400_005_000,
        "tlp": "AMBER",
        "subjects": [{"kind": "PERSON_DOCUMENT", "id": "IQ:A1234567", "display_name": None}],
        "location": {"border_point": "GB-DOV", "country": "GB", "latitude": 51.127, "longitude": 1.313},
        "method": "DOCUMENT_SCAN",
        "direction": "INBOUND",
        "confidence": 1.0,
        "notes": None,
    }
    record.update(overrides)
    return record


def _lookup(bus: Bus) -> codec.WriterLookup:
    return {version.fingerprint: version.parsed for version in bus.schemas}.get


def test_fingerprint_matches_the_avro_specification_test_vector() -> None:
    # The Avro specification gives CRC-64-AVRO("null") = 0x63dd24e7cc258f8a; single-object encoding stores it little-endian.
    assert fingerprint("null") == (0x63DD24E7CC258F8A).to_bytes(8, "little")


def test_message_layout_is_marker_fingerprint_body(offline_bus: Bus) -> None:
    schema = offline_bus.schemas.get("sighting", 2)
    data = codec.encode(schema, _sighting())
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == schema.fingerprint


def test_body_is_readable_by_the_reference_avro_implementation(offline_bus: Bus) -> None:
    schema = offline_bus.schemas.get("sighting", 2)
    record = _sighting(headcount=4)
    data = codec.encode(schema, record)
    reader = avro.io.DatumReader(avro.schema.parse(json.dumps(schema.definition)))
    decoded = reader.read(avro.io.BinaryDecoder(io.BytesIO(data[10:])))
    assert decoded["subjects"][0]["id"] == "IQ:A1234567"
    assert decoded["headcount"] == 4


@pytest.mark.parametrize(("writer_version", "reader_version"), [(1, 2), (2, 1), (2, 2)])
def test_schema_resolution_between_versions(offline_bus: Bus, writer_version: int, reader_version: int) -> None:
    writer = offline_bus.schemas.get("sighting", writer_version)
    reader = offline_bus.schemas.get("sighting", reader_version)
    record = _sighting(headcount=3, evidence_uri="evidence://uk-bf/123") if writer_version == 2 else _sighting()
    decoded = codec.decode(codec.encode(writer, record), reader, _lookup(offline_bus))
    assert str(decoded["event_id"]) == record["event_id"]
    assert decoded["subjects"][0]["id"] == "IQ:A1234567"
    if reader_version == 2:
        assert decoded["headcount"] == (3 if writer_version == 2 else None)
    else:
        assert "headcount" not in decoded


def test_decimal_amount_round_trips_exactly(offline_bus: Bus) -> None:
    schema = offline_bus.schemas.latest("finance-flag")
    record = {
        **{k: v for k, v in _sighting().items() if k in {f["name"] for f in schema.definition["fields"]}},
        "location": None,
        "amount": Decimal("12500.05"),
        "currency": "USD",
        "channel": "HAWALA",
        "counterparties": [],
        "typologies": ["SMUGGLING_FEES"],
        "risk_score": 85,
        "report_ref": None,
    }
    decoded = codec.decode(codec.encode(schema, record), schema, _lookup(offline_bus))
    assert decoded["amount"] == Decimal("12500.05")


def test_bad_marker(offline_bus: Bus) -> None:
    with pytest.raises(DecodeError) as raised:
        codec.decode(b'{"json": "not avro"}', offline_bus.schemas.latest("sighting"), _lookup(offline_bus))
    assert raised.value.reason == "bad_marker"


def test_unknown_fingerprint(offline_bus: Bus) -> None:
    data = b"\xc3\x01" + b"\x01" * 8 + b"\x00"
    with pytest.raises(DecodeError) as raised:
        codec.decode(data, offline_bus.schemas.latest("sighting"), _lookup(offline_bus))
    assert raised.value.reason == "unknown_fingerprint"
    assert "0101010101010101" in raised.value.detail


@pytest.mark.parametrize("damage", ["truncate", "extend"])
def test_corrupt_body(offline_bus: Bus, damage: str) -> None:
    schema = offline_bus.schemas.latest("sighting")
    data = codec.encode(schema, _sighting())
    data = data[:-7] if damage == "truncate" else data + b"\x00\x00"
    with pytest.raises(DecodeError) as raised:
        codec.decode(data, schema, _lookup(offline_bus))
    assert raised.value.reason == "corrupt_body"
