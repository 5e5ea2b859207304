"""How routes travel on ``correlator.by-subject``: keyed by the target subject, the value the route as JSON.

The topic is the correlator's own (only its principal may read or write it), like its state
changelogs, which are JSON too. Avro through fastavro cost 20 us to encode and 13 us to decode a
route, orjson 1.2 and 3.2 us; Avro routes were 18% of a worker's CPU in a backlog drain. Routes
written by earlier versions in Avro (``correlator-route``, recognised by its C3 01 marker) are
still read, so a topic holding some across an upgrade loses none.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import orjson

from borderbus import codec
from borderbus.codec import DecodeError, WriterLookup
from borderbus.schemas import SchemaVersion
from borderbus_correlator.pipeline import Route

AVRO_ROUTE_SCHEMA = "correlator-route"  # the encoding of routes before JSON, read but no longer written


def route_messages(routes: Iterable[Route]) -> Iterator[tuple[bytes, bytes]]:
    """``(key, value)`` for each route, encoding each distinct value once.

    The target is the key, not part of the value, so the routes of one event to each subject it names,
    or of one observation to each link, share one encoding.
    """
    values: dict[tuple[str, str | None, int], bytes] = {}
    for route in routes:
        same = (route.mode, route.via, id(route.observation))  # the routes, and so their observations, outlive this call
        value = values.get(same)
        if value is None:
            value = values[same] = orjson.dumps(route.to_json())
        yield route.target.encode(), value


def decode_route(target: str, value: bytes, avro_schema: SchemaVersion, writer_lookup: WriterLookup) -> Route:
    """The route ``value`` carries to ``target``; DecodeError('corrupt_body') when it is not one."""
    if value[:2] == codec.MARKER:
        return Route.from_json(target, codec.decode(value, avro_schema, writer_lookup))
    try:
        route = Route.from_json(target, orjson.loads(value))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as error:
        raise DecodeError("corrupt_body", f"not a route: {type(error).__name__}: {str(error)[:200]}") from None
    if not _well_typed(route):
        raise DecodeError("corrupt_body", "not a route: a field has the wrong type")
    return route


_MODES = frozenset({"direct", "linked", "revoke", "unlink"})


def _well_typed(route: Route) -> bool:
    """What the Avro schema checked: a well-formed JSON value of another shape is no route either.

    Exact types (what both decoders make), in plain loops: every route is checked, and generators over
    ``isinstance`` took a third of its decoding."""
    o = route.observation
    if type(route.mode) is not str or route.mode not in _MODES:
        return False
    for text in (o.event_id, o.agency, o.event_type, o.tlp, *o.subjects, *o.revision_reaches):
        if type(text) is not str:
            return False
    for optional in (route.via, o.border_point, o.revises, o.revision):
        if optional is not None and type(optional) is not str:
            return False
    return all(type(key) is str and _is_fact(value) for key, value in o.facts.items())


_SCALARS = frozenset({bool, int, float, str})


def _is_fact(value: object) -> bool:
    """The values a fact may hold (the union of ``correlator-route``'s facts map)."""
    if value is None or type(value) in _SCALARS:
        return True
    if isinstance(value, list):
        return all(isinstance(item, str) for item in value)
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
