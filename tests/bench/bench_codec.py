"""Codec benchmark: encode and decode one event with fastavro (shipped) and the pure-Python avro package.

Not a test: prints figures and writes them to a JSON file. ``make bench`` runs it.
"""

from __future__ import annotations

import argparse
import io
import json
import uuid
from typing import Any

import avro.io
import avro.schema
from benchkit import per_call_us, write_report

from borderbus import codec
from borderbus.bus import Bus
from borderbus.config import Settings


def sample_sighting() -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "agency": "krg-bca",
        "source_system": "anpr-ibk-2",
        "occurred_at": 1_795_852_800_000,
        "reported_at": 1_795_852_801_000,
        "tlp": "AMBER",
        "subjects": [
            {"kind": "VEHICLE_PLATE", "id": "IQ:2145678", "display_name": None},
            {"kind": "PHONE", "id": "+9647701234567", "display_name": None},
        ],
        "location": {"border_point": "IQ-IBK", "country": "IQ", "latitude": 37.1366, "longitude": 42.5758},
        "method": "ANPR_CAMERA",
        "direction": "OUTBOUND",
        "confidence": 0.91,
        "notes": None,
        "headcount": 3,
        "evidence_uri": None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=".local/bench/codec.json")
    args = parser.parse_args()

    bus = Bus.from_settings(Settings.from_env({}))
    schema = bus.schemas.latest("sighting")
    lookup = {v.fingerprint: v.parsed for v in bus.schemas}.get
    message = codec.encode(schema, sample_sighting())
    record = codec.decode(message, schema, lookup)  # every field of the latest version, defaults filled in

    avro_schema = avro.schema.parse(json.dumps(schema.definition))
    writer, reader = avro.io.DatumWriter(avro_schema), avro.io.DatumReader(avro_schema, avro_schema)

    avro_record = {**record, "event_id": str(record["event_id"])}  # fastavro gives datetimes (as avro wants) and a UUID (not)

    def avro_encode() -> bytes:
        buffer = io.BytesIO()
        writer.write(avro_record, avro.io.BinaryEncoder(buffer))
        return buffer.getvalue()

    body = avro_encode()
    results = {
        "message_bytes": len(message),
        "fastavro_encode_us": per_call_us(lambda: codec.encode(schema, record)),
        "fastavro_decode_us": per_call_us(lambda: codec.decode(message, schema, lookup)),
        "avro_encode_us": per_call_us(avro_encode),
        "avro_decode_us": per_call_us(lambda: reader.read(avro.io.BinaryDecoder(io.BytesIO(body)))),
    }
    write_report(results, args.out)


if __name__ == "__main__":
    main()
