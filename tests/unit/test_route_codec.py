"""Routes on correlator.by-subject: one encoding per distinct value, each decoding back to its route."""

from __future__ import annotations

from borderbus import codec
from borderbus.bus import Bus
from borderbus_correlator.model import Observation
from borderbus_correlator.pipeline import Route, fan_out
from borderbus_correlator.route_codec import route_messages

EVENT = Observation(
    event_id="ev-1", agency="uk-bf", event_type="sighting", occurred_at_ms=1_777_852_800_000,
    reported_at_ms=1_777_852_801_000, tlp="GREEN", subjects=("VEHICLE_PLATE:GB:AB12CDE", "PHONE:+447700900123"),
    border_point="GB-DOV", facts={"method": "ANPR_CAMERA"},
)
EARLIER = Observation(**{**EVENT.__dict__, "event_id": "ev-0", "occurred_at_ms": EVENT.occurred_at_ms - 1})


def test_routes_that_differ_only_by_target_share_one_encoding_and_decode_back(offline_bus: Bus) -> None:
    schema = offline_bus.schemas.latest("correlator-route")
    routes = [
        *fan_out(EVENT),
        Route("PHONE:+447700900999", "linked", "PHONE:+447700900123", EVENT),
        Route("PERSON_DOCUMENT:GB:1", "linked", "PHONE:+447700900123", EVENT),
        Route("PERSON_DOCUMENT:GB:1", "linked", "PHONE:+447700900123", EARLIER),
    ]
    messages = list(route_messages(routes, schema))
    assert [key.decode() for key, _ in messages] == [route.target for route in routes]
    values = [value for _, value in messages]
    assert values[0] is values[1] and values[2] is values[3] and values[3] is not values[4]
    lookup = {schema.fingerprint: schema.parsed}.get
    assert [Route.from_json(key.decode(), codec.decode(value, schema, lookup)) for key, value in messages] == routes
