"""Routes on correlator.by-subject: one encoding per distinct value, each decoding back to its route."""

from __future__ import annotations

import orjson
import pytest

from borderbus import codec
from borderbus.bus import Bus
from borderbus.codec import DecodeError
from borderbus_correlator.model import Observation
from borderbus_correlator.pipeline import Route, fan_out
from borderbus_correlator.route_codec import AVRO_ROUTE_SCHEMA, decode_route, route_messages

EVENT = Observation(
    event_id="ev-1", agency="uk-bf", event_type="sighting", occurred_at_ms=1_777_852_800_000,
    reported_at_ms=1_777_852_801_000, tlp="GREEN", subjects=("VEHICLE_PLATE:GB:AB12CDE", "PHONE:+447700900123"),
    border_point="GB-DOV", facts={"method": "ANPR_CAMERA"}, latitude=51.1, longitude=1.3,
)
EARLIER = Observation(**{**EVENT.__dict__, "event_id": "ev-0", "occurred_at_ms": EVENT.occurred_at_ms - 1})


def _decode(bus: Bus, key: bytes, value: bytes) -> Route:
    schema = bus.schemas.latest(AVRO_ROUTE_SCHEMA)
    return decode_route(key.decode(), value, schema, {schema.fingerprint: schema.parsed}.get)


def test_routes_that_differ_only_by_target_share_one_encoding_and_decode_back(offline_bus: Bus) -> None:
    routes = [
        *fan_out(EVENT),
        Route("PHONE:+447700900999", "linked", "PHONE:+447700900123", EVENT),
        Route("PERSON_DOCUMENT:GB:1", "linked", "PHONE:+447700900123", EVENT),
        Route("PERSON_DOCUMENT:GB:1", "linked", "PHONE:+447700900123", EARLIER),
    ]
    messages = list(route_messages(routes))
    assert [key.decode() for key, _ in messages] == [route.target for route in routes]
    values = [value for _, value in messages]
    assert values[0] is values[1] and values[2] is values[3] and values[3] is not values[4]
    assert [_decode(offline_bus, key, value) for key, value in messages] == routes


def test_a_route_an_earlier_version_wrote_in_avro_is_still_read(offline_bus: Bus) -> None:
    route = Route("PHONE:+447700900999", "linked", "PHONE:+447700900123", EVENT)
    value = codec.encode(offline_bus.schemas.latest(AVRO_ROUTE_SCHEMA), route.to_json())
    assert _decode(offline_bus, route.target.encode(), value) == route


@pytest.mark.parametrize(
    "value",
    [
        b"{\"json\": \"from an old build\"}",
        b"not json",
        b"{\"mode\": \"direct\", \"observation\": {}}",
        b"[1, 2, 3]",
    ],
)
def test_a_value_that_is_no_route_is_refused_naming_why(offline_bus: Bus, value: bytes) -> None:
    with pytest.raises(DecodeError) as refused:
        _decode(offline_bus, b"PHONE:+447700900999", value)
    assert refused.value.reason == "corrupt_body" and refused.value.detail.startswith("not a route")


@pytest.mark.parametrize(
    ("field", "wrong"),
    [
        ("mode", "sideways"), ("mode", ["direct"]), ("via", 7), ("subjects", [1, 2]), ("facts", [1]), ("event_id", 5),
        ("occurred_at_ms", "soon"), ("facts", {"roles": {"PHONE:+1": 3}}), ("facts", {"removed": [{"a": 1}]}),
    ],
)
def test_a_well_formed_value_of_the_wrong_shape_is_refused(offline_bus: Bus, field: str, wrong: object) -> None:
    data = Route("x", "direct", None, EVENT).to_json()
    if field in data:
        data[field] = wrong
    else:
        data["observation"][field] = wrong
    with pytest.raises(DecodeError) as refused:
        _decode(offline_bus, b"x", orjson.dumps(data))
    assert refused.value.reason == "corrupt_body"
