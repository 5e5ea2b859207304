"""Hostile input without a broker: mutated single-object messages through ``decode_ingest`` and the
fan-out's first steps, and mutated JSON events through the agency's preparer.

A record either decodes into something the correlator can route, or is refused with a DecodeError whose
reason the fan-out dead-letters; an event is either accepted (and then encodable, within the size
limit, and decodable again) or refused with errors that each name a field. Anything else is a crash.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from typing import Any

import pytest
from fuzzkit import BATCH, MESSAGES, hypothesis_settings, mutate_bytes, mutate_json, report, rss_kib, samples
from hypothesis import given
from hypothesis import strategies as st

from borderbus import codec, limits
from borderbus.bus import Bus
from borderbus.codec import DecodeError
from borderbus.events import EventPreparer, InvalidEvents
from borderbus.ingest import decode_ingest
from borderbus_correlator.observation import observe
from borderbus_correlator.pipeline import fan_out
from borderbus_correlator.route_codec import AVRO_ROUTE_SCHEMA, decode_route, route_messages

EVENT_TYPES = ("sighting", "finance-flag", "case-update", "platform-report")
DEAD_LETTER_REASONS = {
    "bad_marker",
    "unknown_fingerprint",
    "corrupt_body",
    "provenance_mismatch",
    "empty_value",
    "not_ingest_topic",
    "unknown_event_type",
    "invalid_event",
}


def _preparers(bus: Bus) -> dict[str, EventPreparer]:
    schemas = {event_type: bus.schemas.latest(event_type) for event_type in EVENT_TYPES}
    return {agency: EventPreparer(bus.catalogue, schemas, bus.catalogue.agency(agency)) for agency, _ in samples()}


def _valid_messages(bus: Bus) -> list[tuple[str, bytes]]:
    """(ingest topic, encoded event) for every sample, written with every schema version of its type."""
    preparers = _preparers(bus)
    messages = []
    for (agency, event_type), body in samples().items():
        record = preparers[agency].prepare(event_type, body).record
        for version in bus.schemas.versions[event_type]:
            try:
                value = codec.encode(version, record)
            except (ValueError, TypeError, KeyError):
                continue
            messages.append((bus.catalogue.ingest_topic(agency, event_type), value))
    return messages


def _route(bus: Bus, topic: str, value: bytes, lookup: Any) -> str:
    """What the fan-out does with one record: 'routed', or the DecodeError reason it dead-letters."""
    try:
        agency, event_type, record = decode_ingest(bus.catalogue, bus.schemas, lookup, topic, value)
    except DecodeError as error:
        assert error.reason in DEAD_LETTER_REASONS, error
        assert error.detail, error
        return error.reason
    for _key, _value in route_messages(fan_out(observe(agency, event_type, record))):
        pass
    return "routed"


def test_mutated_messages_are_decoded_or_dead_lettered_with_a_reason(offline_bus: Bus) -> None:
    bus = offline_bus
    messages = _valid_messages(bus)
    known = {version.fingerprint: version.parsed for version in bus.schemas}
    fingerprints = list(known)
    topics = [
        *sorted({topic for topic, _ in messages}),
        bus.catalogue.ingest_topic("iq-bgc", "sighting"),  # another agency's topic: provenance
        "alerts.shared",
    ]
    outcomes: Counter[str] = Counter()
    crashes: list[str] = []
    rss_before = rss_kib()
    started = time.monotonic()

    @given(
        st.sampled_from(messages),
        st.integers(1, 6),
        st.integers(0, 2**32),
        st.sampled_from(["same", "same", "same", "other_topic", "other_fingerprint"]),
    )
    @hypothesis_settings(-(-MESSAGES // BATCH))
    def some(message: tuple[str, bytes], mutations: int, seed: int, twist: str) -> None:
        rng = random.Random(seed)  # Hypothesis picks the message, the twist and the seed; each seed makes BATCH mutants
        for _ in range(BATCH):
            topic, value = message
            if twist == "other_topic":
                topic = rng.choice(topics)
            elif twist == "other_fingerprint":
                value = value[:2] + rng.choice(fingerprints) + value[10:]
            value = mutate_bytes(rng, value, rng.randint(1, mutations))
            try:
                outcomes[_route(bus, topic, value, known.get)] += 1
            except Exception as error:
                crashes.append(f"{type(error).__name__}: {error} (topic {topic}, value {value.hex()[:200]})")

    some()
    figures = {
        "messages": sum(outcomes.values()) + len(crashes),
        "outcomes": dict(outcomes),
        "crashes": len(crashes),
        "seconds": round(time.monotonic() - started, 1),
        "rss_kib_before": rss_before,
        "rss_kib_after": rss_kib(),
    }
    report("decoder", figures)
    assert not crashes, "\n".join(crashes[:10])
    assert figures["messages"] >= MESSAGES * 0.99
    assert outcomes["routed"] and outcomes["corrupt_body"]


def test_mutated_routes_are_decoded_or_refused_as_corrupt(offline_bus: Bus) -> None:
    """The by-subject topic's JSON routes: a mutated value is a route or a dead letter, never a crash."""
    bus = offline_bus
    avro = bus.schemas.latest(AVRO_ROUTE_SCHEMA)
    known = {version.fingerprint: version.parsed for version in bus.schemas}
    routes: list[tuple[bytes, dict[str, Any]]] = []
    for topic, value in _valid_messages(bus):
        agency, event_type, record = decode_ingest(bus.catalogue, bus.schemas, known.get, topic, value)
        for route in fan_out(observe(agency, event_type, record)):
            routes.append((next(route_messages([route]))[1], route.to_json()))
    outcomes: Counter[str] = Counter()
    crashes: list[str] = []

    @given(st.sampled_from(routes), st.integers(1, 4), st.integers(0, 2**32), st.booleans())
    @hypothesis_settings(-(-MESSAGES // BATCH // 4))
    def some(route: tuple[bytes, dict[str, Any]], mutations: int, seed: int, as_json: bool) -> None:
        rng = random.Random(seed)
        encoded, data = route
        for _ in range(BATCH):
            value = json.dumps(mutate_json(rng, data, mutations)).encode() if as_json else mutate_bytes(rng, encoded, mutations)
            try:
                decode_route("PHONE:+447700900123", value, avro, known.get)
                outcomes["route"] += 1
            except DecodeError as error:
                assert error.reason in ("corrupt_body", "unknown_fingerprint", "bad_marker"), error
                outcomes[error.reason] += 1
            except Exception as error:
                crashes.append(f"{type(error).__name__}: {error} (value {value[:200]!r})")

    some()
    report("routes", {"routes": sum(outcomes.values()) + len(crashes), "outcomes": dict(outcomes), "crashes": len(crashes)})
    assert not crashes, "\n".join(crashes[:10])
    assert outcomes["route"] and outcomes["corrupt_body"]


def test_mutated_json_events_are_prepared_or_refused_naming_a_field(offline_bus: Bus) -> None:
    bus = offline_bus
    preparers = _preparers(bus)
    bodies = list(samples().items())
    outcomes: Counter[str] = Counter()
    crashes: list[str] = []
    rss_before = rss_kib()
    started = time.monotonic()

    @given(st.sampled_from(bodies), st.integers(1, 4), st.integers(0, 2**32))
    @hypothesis_settings(-(-MESSAGES // BATCH))
    def some(sample: tuple[tuple[str, str], dict[str, Any]], mutations: int, seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(BATCH):
            one(sample, rng, rng.randint(1, mutations))

    def one(sample: tuple[tuple[str, str], dict[str, Any]], rng: random.Random, mutations: int) -> None:
        (agency, event_type), body = sample
        mutated = mutate_json(rng, body, mutations)
        try:
            try:
                events = preparers[agency].prepare_batch(event_type, mutated if isinstance(mutated, list) else [mutated])
            except InvalidEvents as invalid:
                assert invalid.errors
                for error in invalid.errors:
                    assert error.field and error.reason and error.code, error
                outcomes[invalid.errors[0].code] += 1
                return
            for event in events:
                value = codec.encode(bus.schemas.latest(event_type), event.record)
                assert len(value) <= limits.MAX_EVENT_BYTES
                schema = bus.schemas.latest(event_type)
                codec.decode(value, schema, {schema.fingerprint: schema.parsed}.get)
            outcomes["accepted"] += 1
        except Exception as error:
            crashes.append(f"{type(error).__name__}: {error} (event {str(mutated)[:300]})")

    some()
    figures = {
        "events": sum(outcomes.values()) + len(crashes),
        "outcomes": dict(outcomes),
        "crashes": len(crashes),
        "seconds": round(time.monotonic() - started, 1),
        "rss_kib_before": rss_before,
        "rss_kib_after": rss_kib(),
    }
    report("preparer", figures)
    assert not crashes, "\n".join(crashes[:10])
    assert outcomes["accepted"]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="stack-deep"),
        pytest.param(b"[" * 17 + b"]" * 17, id="beyond-the-depth-limit"),
        pytest.param(b"[1e999, NaN]", id="nan"),
        pytest.param(b"[" + b"1" * 5000 + b"]", id="5000-digit-integer"),
        pytest.param(b"\xff\xfe", id="not-utf8"),
    ],
)
def test_json_the_standard_parser_lets_through_is_refused(value: bytes) -> None:
    with pytest.raises(limits.JsonRefused) as refused:
        limits.parse_json(value)
    assert refused.value.reason
