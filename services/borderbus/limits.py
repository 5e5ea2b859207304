"""Every limit on what callers may send, in one place: the HTTP APIs enforce them, the OpenAPI
descriptions state them (each service's ``openapi`` module, built with ``borderbus.openapi``), and the
fuzz tests check both agree.

Why limits at all: each one keeps a hostile or broken caller from costing more than a bounded amount
of memory, CPU or Kafka space, and every breach is refused with a 4xx naming the field and the limit,
before anything reaches Kafka. Field limits are looked up by the field's name (its last path segment,
indexes dropped), so ``subjects[3].display_name`` and ``revises.subjects[0].display_name`` share one.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# -- agency ingest API -------------------------------------------------------------------------------
MAX_BODY_BYTES = 16 * 1024 * 1024
"""A request body of the agency API (aiohttp's ``client_max_size``): 413 ``body_too_large`` beyond it."""
MAX_BATCH = 1000
"""Events in one request (one Kafka transaction)."""
MAX_EVENT_BYTES = 256 * 1024
"""Encoded size an event may have: far below the broker's message limit (1 MiB by default), so an event
the service accepted can always be written, and a client is never told to retry what can never fit."""
MAX_JSON_DEPTH = 16
"""Nesting of arrays and objects in a body; the deepest event (a batch, an event, ``revises.subjects[i]``)
needs 5. Deeper input is refused before any validation walks it."""

DEFAULT_MAX_STRING = 256
"""Characters of a string field not named in ``MAX_STRING`` (codes, references, identifiers, names)."""
MAX_STRING: dict[str, int] = {
    "notes": 4000,
    "summary": 4000,
    "reason": 1000,
    "offered_route": 1000,
    "evidence_uri": 2048,
    "content_ref": 2048,
}
DEFAULT_MAX_ITEMS = 50
"""Items of an array (or entries of a map) not named in ``MAX_ITEMS``; ``subjects`` has its own limit,
``max_subjects_per_event`` in ``agencies.yaml`` (50), checked with the identifier policy."""
MAX_ITEMS: dict[str, int] = {"counterparties": 100, "typologies": 20}

RANGES: dict[str, tuple[float, float]] = {
    "confidence": (0.0, 1.0),
    "latitude": (-90.0, 90.0),
    "longitude": (-180.0, 180.0),
    "headcount": (0, 1_000_000),
    "risk_score": (0, 100),
}
"""Inclusive ranges of numeric fields by name; other ints are 32-bit and longs 64-bit (Avro's own)."""
INT_RANGE = (-(2**31), 2**31 - 1)
LONG_RANGE = (-(2**63), 2**63 - 1)
MIN_TIMESTAMP_MS = -2_208_988_800_000  # 1900-01-01T00:00:00Z
MAX_TIMESTAMP_MS = 7_258_118_400_000  # 2200-01-01T00:00:00Z
"""Every ``timestamp-millis`` field lies in [1900, 2200); ``occurred_at`` also not in the future."""
MAX_CLOCK_SKEW_MS = 5 * 60 * 1000

# -- duty desk API -----------------------------------------------------------------------------------
DESK_MAX_BODY_BYTES = 64 * 1024
"""An action body (``{"action", "note"}``) of the desk API."""
MAX_NOTE = 2000
"""Characters of an officer's note, after trimming."""
MAX_LIST = 1000
"""``limit`` of the alert list."""
MAX_QUERY_VALUE = 1024
"""Characters of one query parameter of the alert list and stream."""
MAX_FILTER_ITEMS = 50
"""Comma-separated values of one filter (``status``, ``rule``, ``border_point``)."""
MAX_ALERT_ID = 128
ALERT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
"""What an alert id in a path may look like (``AL-…`` from the correlator)."""
MAX_CURSOR = 64
"""Characters of a stream cursor (``Last-Event-ID``: ``<epoch>:<seq>``)."""


def max_string(field: str) -> int:
    return MAX_STRING.get(field_name(field), DEFAULT_MAX_STRING)


def max_items(field: str) -> int:
    return MAX_ITEMS.get(field_name(field), DEFAULT_MAX_ITEMS)


def value_range(field: str) -> tuple[float, float] | None:
    return RANGES.get(field_name(field))


def field_name(path: str) -> str:
    """``revises.subjects[0].display_name`` -> ``display_name``; ``typologies[3]`` -> ``typologies``."""
    return re.sub(r"\[\d*\]", "", path).rsplit(".", 1)[-1]


def is_ascii_digits(text: str) -> bool:
    """``str.isdigit`` accepts '²' and '٣', which ``int()`` then refuses: the check parsers of query values need."""
    return text.isascii() and text.isdigit()


class JsonRefused(ValueError):
    """A body that is not JSON, or JSON deeper than ``MAX_JSON_DEPTH``; ``code`` says which."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text[:40]} is beyond the range of a double")
    return number


def parse_json(raw: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """A request body as JSON, or JsonRefused. Refuses what ``json.loads`` alone lets through or turns into
    a 500: NaN, Infinity and 1e999 (no JSON number a double holds), integers of more than 4300 digits (a ValueError that is no
    JSONDecodeError), nesting deep enough to overflow the stack, and nesting beyond ``max_depth``."""
    try:
        value = json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise JsonRefused("too_deep", f"nests arrays or objects more than {max_depth} levels deep") from None
    except (UnicodeDecodeError, ValueError) as error:  # JSONDecodeError is a ValueError
        raise JsonRefused("invalid_json", f"is not valid JSON: {error}") from None
    if depth_exceeds(value, max_depth):
        raise JsonRefused("too_deep", f"nests arrays or objects more than {max_depth} levels deep")
    return value


def depth_exceeds(value: Any, max_depth: int) -> bool:
    """True when ``value`` nests containers more than ``max_depth`` deep (iterative: no recursion limit)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > max_depth:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False
