"""Regressions from fuzzing (issue 12): each input here once crashed the preparer, the decoder or a desk
filter (a 500, or a correlator fan-out that stopped on every restart); now each is refused naming a field."""

from __future__ import annotations

import time
from typing import Any

import pytest

from borderbus import codec, limits
from borderbus.bus import Bus
from borderbus.codec import DecodeError
from borderbus.events import EventPreparer, InvalidEvents
from borderbus.ingest import decode_ingest
from borderbus_desk.state import AlertFilter, FilterError

NOW = int(time.time() * 1000)
SIGHTING = {
    "source_system": "anpr-dov-2",
    "occurred_at": NOW - 1000,
    "tlp": "GREEN",
    "subjects": [{"kind": "VEHICLE_PLATE", "id": "ab12cde", "country": "GB"}],
    "location": {"border_point": "GB-DOV", "country": "GB"},
    "method": "ANPR_CAMERA",
}
FLAG = {
    "source_system": "goaml",
    "occurred_at": NOW - 1000,
    "tlp": "AMBER",
    "subjects": [{"kind": "CRYPTO_WALLET", "id": "0x52908400098527886E0F7030069857D2E4169EE7"}],
    "amount": "15000.00",
    "currency": "USD",
    "channel": "CRYPTO",
    "typologies": ["SMUGGLING_FEES"],
    "risk_score": 88,
}


def preparer(bus: Bus, agency: str) -> EventPreparer:
    schemas = {t: bus.schemas.latest(t) for t in ("sighting", "finance-flag", "case-update", "platform-report")}
    return EventPreparer(bus.catalogue, schemas, bus.catalogue.agency(agency))


HOSTILE_EVENTS = [
    pytest.param(
        "uk-bf",
        "sighting",
        {"subjects": [{"kind": "VEHICLE_PLATE", "id": "ab12cde", "country": {"a": 1}}]},
        "subjects[0].country",
        id="country-not-a-string",
    ),
    pytest.param("uk-bf", "sighting", {"notes": "\ud800"}, "notes", id="lone-surrogate"),
    pytest.param("iq-fiu", "finance-flag", {"amount": "1e999999999"}, "amount", id="decimal-exponent"),
    pytest.param("iq-fiu", "finance-flag", {"amount": "1" * 100_000}, "amount", id="decimal-100k-digits"),
    pytest.param("uk-bf", "sighting", {"occurred_at": "0001-01-01T00:00:00+14:00"}, "occurred_at", id="year-1"),
    pytest.param("uk-bf", "sighting", {"reported_at": 10**30}, "reported_at", id="reported-at-beyond-64-bit"),
    pytest.param("uk-bf", "sighting", {"occurred_at": -(10**30)}, "occurred_at", id="occurred-at-beyond-64-bit"),
    pytest.param(
        "uk-bf",
        "sighting",
        {"location": {"border_point": "GB-DOV", "country": "GB", "latitude": 10**400, "longitude": 1}},
        "location.latitude",
        id="latitude-beyond-double",
    ),
    pytest.param("uk-bf", "sighting", {"headcount": -1}, "headcount", id="negative-headcount"),
    pytest.param("uk-bf", "sighting", {"source_system": "x" * 257}, "source_system", id="string-over-limit"),
    pytest.param(
        "uk-bf",
        "sighting",
        {"subjects": [{"kind": "VEHICLE_PLATE", "id": "x" * 5000, "country": "GB"}]},
        "subjects[0].id",
        id="raw-id-over-limit",
    ),
    pytest.param("iq-fiu", "finance-flag", {"typologies": ["A_B"] * 21}, "typologies", id="array-over-limit"),
]


@pytest.mark.parametrize(("agency", "event_type", "changes", "field"), HOSTILE_EVENTS)
def test_hostile_events_are_refused_naming_the_field(
    offline_bus: Bus, agency: str, event_type: str, changes: dict[str, Any], field: str
) -> None:
    body = {**(SIGHTING if event_type == "sighting" else FLAG), **changes}
    with pytest.raises(InvalidEvents) as invalid:
        preparer(offline_bus, agency).prepare_batch(event_type, [body])
    assert field in {error.field for error in invalid.value.errors}, invalid.value.errors
    assert all(error.reason for error in invalid.value.errors)


@pytest.mark.timeout(30)
def test_a_value_repeating_one_nested_list_is_refused_without_printing_it_whole(offline_bus: Bus) -> None:
    """``make fuzz`` (issue 12): a list repeating one list of long strings (a few MB in memory, gigabytes as
    text) in an enum field; the refusal's full ``repr`` grew the fuzzer past 7 GB before it was cut."""
    blown = [[["x" * 30_000] * 200] * 200] * 50
    with pytest.raises(InvalidEvents) as invalid:
        preparer(offline_bus, "uk-bf").prepare_batch("sighting", [{**SIGHTING, "tlp": blown}])
    (error,) = invalid.value.errors
    assert error.field == "tlp" and len(error.reason) < 200, error


def test_many_errors_make_a_short_answer(offline_bus: Bus) -> None:
    """100,000 unknown fields are reported as ten and a count; a thousand bad events as 200 errors and a count."""
    with pytest.raises(InvalidEvents) as invalid:
        preparer(offline_bus, "uk-bf").prepare_batch("sighting", [{**SIGHTING, **{f"f{i}": 0 for i in range(100_000)}}])
    assert len(invalid.value.errors) == 11
    with pytest.raises(InvalidEvents) as invalid:
        preparer(offline_bus, "uk-bf").prepare_batch("sighting", [{}] * 1000)
    assert len(invalid.value.errors) == 201
    assert invalid.value.errors[-1].code == "too_many_errors"


def test_a_record_with_a_non_canonical_subject_is_dead_lettered_not_routed(offline_bus: Bus) -> None:
    record = preparer(offline_bus, "uk-bf").prepare("sighting", SIGHTING).record
    record["subjects"][0]["id"] = "GB:ab12 cde"  # what another Kafka client of the agency could write
    schema = offline_bus.schemas.latest("sighting")
    value = codec.encode(schema, record)
    topic = offline_bus.catalogue.ingest_topic("uk-bf", "sighting")
    with pytest.raises(DecodeError) as refused:
        decode_ingest(offline_bus.catalogue, offline_bus.schemas, {schema.fingerprint: schema.parsed}.get, topic, value)
    assert refused.value.reason == "invalid_event"
    assert refused.value.detail.startswith("subjects[0].id")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"since": "²"}, "since"),
        ({"until": "-٣"}, "until"),
        ({"since": "2026-13-45T99:00:00Z"}, "since"),
        ({"since": "9" * 40}, "since"),
    ],
)
def test_filters_that_crashed_are_refused(query: dict[str, str], field: str) -> None:
    with pytest.raises(FilterError) as refused:
        AlertFilter.from_query(query)
    assert refused.value.field == field


def test_ascii_digits_only() -> None:
    assert limits.is_ascii_digits("123") and not limits.is_ascii_digits("²") and not limits.is_ascii_digits("")
