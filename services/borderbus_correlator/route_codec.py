"""How routes travel on ``correlator.by-subject``: keyed by the target subject, the value Avro (``correlator-route``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from borderbus import codec
from borderbus.schemas import SchemaVersion
from borderbus_correlator.pipeline import Route


def route_messages(routes: Iterable[Route], schema: SchemaVersion) -> Iterator[tuple[bytes, bytes]]:
    """``(key, value)`` for each route, encoding each distinct value once.

    The target is the key, not part of the value, so the routes of one event to each subject it names,
    or of one observation to each link, share one encoding (the fan-out's and the correlate stage's
    most frequent work after the rules).
    """
    values: dict[tuple[str, str | None, int], bytes] = {}
    for route in routes:
        same = (route.mode, route.via, id(route.observation))  # the routes, and so their observations, outlive this call
        value = values.get(same)
        if value is None:
            value = values[same] = codec.encode(schema, route.to_json())
        yield route.target.encode(), value
