"""Mutated records on the ingest topics, read by a real correlator worker: each one the decoder refuses
lands in the dead-letter topic with its reason and source, and the worker keeps running (a record with a
non-canonical subject id used to stop the fan-out on every restart)."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer
from fuzzkit import mutate_bytes, report
from test_fuzz_decoder import _valid_messages

from borderbus.bus import Bus
from borderbus.codec import DecodeError
from borderbus.dead_letter import (
    HEADER_DETAIL,
    HEADER_REASON,
    HEADER_SERVICE,
    HEADER_SOURCE_OFFSET,
    HEADER_SOURCE_PARTITION,
    HEADER_SOURCE_TOPIC,
)
from borderbus.ingest import decode_ingest
from correlator_worker import CorrelatorWorker
from kafka_reading import read_all

pytestmark = pytest.mark.broker
RECORDS = 300


def test_mutated_ingest_records_are_dead_lettered_with_a_reason(fresh_bus: Bus, tmp_path: Path) -> None:
    bus = fresh_bus
    known = {version.fingerprint: version.parsed for version in bus.schemas}
    rng = random.Random(12)
    messages = _valid_messages(bus)
    mutants = [
        (topic, mutate_bytes(rng, value, rng.randint(1, 4))) for topic, value in (rng.choice(messages) for _ in range(RECORDS))
    ]
    mutants += [(topic, value.replace(b"GB:AB12CDE", b"GB:ab12cde")) for topic, value in messages if b"GB:AB12CDE" in value]
    mutants += [(bus.catalogue.ingest_topic("iq-bgc", "sighting"), value) for topic, value in messages if ".uk-bf." in topic]
    expected: dict[tuple[str, int, int], str] = {}
    placed: dict[int, tuple[str, int, int]] = {}

    def delivered(index: int):  # type: ignore[no-untyped-def]
        def record(error: object, message: object) -> None:
            assert error is None, error
            placed[index] = (message.topic(), message.partition(), message.offset())  # type: ignore[attr-defined]

        return record

    producer = Producer(bus.settings.producer_config())
    for index, (topic, value) in enumerate(mutants):
        producer.produce(topic, value=value, on_delivery=delivered(index))
    assert producer.flush(30) == 0
    for index, (_topic, value) in enumerate(mutants):
        try:
            decode_ingest(bus.catalogue, bus.schemas, known.get, placed[index][0], value)
        except DecodeError as error:
            expected[placed[index]] = error.reason
    assert {"invalid_event", "provenance_mismatch", "corrupt_body"} <= set(expected.values())

    worker = CorrelatorWorker(bus, tmp_path).start()
    try:
        letters: dict[tuple[str, int, int], tuple[str, str]] = {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not expected.keys() <= letters.keys():
            for message in read_all(bus.settings, bus.catalogue.topic("borderbus.deadletter"), timeout=5):
                headers = {key: value.decode() for key, value in message.headers() or []}
                if headers.get(HEADER_SERVICE) == "correlator" and headers.get(HEADER_SOURCE_TOPIC, "").startswith(
                    bus.settings.topic_prefix
                ):
                    letters[
                        (headers[HEADER_SOURCE_TOPIC], int(headers[HEADER_SOURCE_PARTITION]), int(headers[HEADER_SOURCE_OFFSET]))
                    ] = (
                        headers[HEADER_REASON],
                        headers.get(HEADER_DETAIL, ""),
                    )
        assert worker.process is not None and worker.process.poll() is None, worker.log()
    finally:
        worker.stop()
    missing = {place: reason for place, reason in expected.items() if place not in letters}
    assert not missing, f"not dead-lettered: {list(missing.items())[:5]}"
    wrong = {
        place: (reason, letters[place])
        for place, reason in expected.items()
        if letters[place][0] != reason or not letters[place][1]
    }
    assert not wrong, f"dead-lettered with another reason or no detail: {list(wrong.items())[:5]}"
    report("dead-letters", {"records": len(mutants), "dead_lettered": len(expected), "reasons": sorted(set(expected.values()))})
