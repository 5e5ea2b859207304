"""What the fuzz tests share: how many cases to generate, hostile values and mutators, RSS, and the report.

``make test`` runs a few thousand cases per target, with Hypothesis derandomised so the suite is
deterministic; ``make fuzz`` sets ``BORDERBUS_FUZZ_REQUESTS`` / ``BORDERBUS_FUZZ_MESSAGES`` (100,000),
``BORDERBUS_FUZZ_RANDOM=1`` (a fresh seed, printed) and ``BORDERBUS_FUZZ_REPORT`` (a folder each target
writes its figures to; ``tests/fuzz/report.py`` merges them into ``.local/bench/fuzz.json``).
"""

from __future__ import annotations

import copy
import json
import os
import random
import time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, settings

REQUESTS = int(os.environ.get("BORDERBUS_FUZZ_REQUESTS", "2000"))
"""Generated HTTP requests per service (agency, desk)."""
MESSAGES = int(os.environ.get("BORDERBUS_FUZZ_MESSAGES", "3000"))
"""Mutated single-object messages through ``decode_ingest`` (and as many JSON events through the preparer)."""
BATCH = 20
"""Cases made from one Hypothesis example (its seed): Hypothesis's own overhead per example (a few ms)
would otherwise dominate a 100,000-case run."""
RANDOM = os.environ.get("BORDERBUS_FUZZ_RANDOM") == "1"
REPORT_DIR = os.environ.get("BORDERBUS_FUZZ_REPORT")


def hypothesis_settings(max_examples: int) -> settings:
    """Generate only (no shrinking, no example database): failures are collected, not raised, so one run
    generates exactly what it is asked to and reports everything it found."""
    return settings(
        max_examples=max_examples,
        database=None,
        deadline=None,
        derandomize=not RANDOM,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


def now_ms() -> int:
    return int(time.time() * 1000)


def samples() -> dict[tuple[str, str], dict[str, Any]]:
    """One valid event per type (agency, event type), with most optional fields set."""
    now = now_ms()
    return {
        ("uk-bf", "sighting"): {
            "source_system": "anpr-dov-2",
            "occurred_at": now - 60_000,
            "tlp": "GREEN",
            "subjects": [
                {"kind": "VEHICLE_PLATE", "id": "ab12 cde", "country": "GB", "display_name": "blue van"},
                {"kind": "PHONE", "id": "07700 900123", "country": "GB"},
            ],
            "location": {"border_point": "GB-DOV", "country": "GB", "latitude": 51.127, "longitude": 1.313},
            "method": "ANPR_CAMERA",
            "direction": "INBOUND",
            "confidence": 0.93,
            "headcount": 2,
            "notes": "seen twice",
            "evidence_uri": "s3://uk-bf/anpr/1.jpg",
        },
        ("iq-fiu", "finance-flag"): {
            "source_system": "goaml",
            "occurred_at": now - 120_000,
            "tlp": "AMBER",
            "subjects": [{"kind": "CRYPTO_WALLET", "id": "0x52908400098527886E0F7030069857D2E4169EE7"}],
            "amount": "15000.00",
            "currency": "USD",
            "channel": "CRYPTO",
            "counterparties": [{"role": "BENEFICIARY", "subject_index": 0}, {"role": "ORIGINATOR", "name": "A. Trader"}],
            "typologies": ["SMUGGLING_FEES"],
            "risk_score": 88,
        },
        ("uk-cps", "case-update"): {
            "source_system": "case-mgmt",
            "occurred_at": now - 180_000,
            "tlp": "RED",
            "subjects": [
                {"kind": "PERSON_DOCUMENT", "id": "A7654321", "country": "IQ"},
                {"kind": "PHONE", "id": "+964 770 123 4567"},
            ],
            "case_id": "CPS-OIC-77",
            "status": "WARRANT_ISSUED",
            "warrant_ref": "W-77",
            "network_id": "NET-ALPHA",
            "subject_roles": [{"subject_index": 0, "role": "ORGANISER"}],
            "removed_subject_indexes": [1],
            "jurisdiction": "GB",
            "summary": "warrant issued",
        },
        ("tiktok-safety", "platform-report"): {
            "source_system": "trust-safety-api",
            "occurred_at": now - 240_000,
            "tlp": "GREEN",
            "subjects": [{"kind": "PHONE", "id": "+964 770 123 4567"}, {"kind": "PLATFORM_ACCOUNT", "id": "tiktok:@Route_Ads"}],
            "platform": "tiktok",
            "content_kind": "ADVERT",
            "content_ref": "7301234567890",
            "action_taken": "REMOVED",
            "offered_route": "IQ>TR>GR>GB",
            "revises": {"event_id": "3f2b6c1e-8d4a-4b0e-9c5f-2a7d1e0b9c44", "action": "CORRECT", "reason": "typo"},
        },
    }


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


HOSTILE: list[Any] = [
    "",
    " ",
    "x" * 257,
    "x" * 5000,
    "\u0000",
    "\ud800",  # a lone surrogate: valid JSON (escaped), not encodable as UTF-8
    "²",
    "٣٤",
    "𝟘𝟙",
    "-²",
    "<script>alert(1)</script>",
    "%s%n%x",
    "../../etc/passwd",
    "AMBER+STRICT",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "2026-13-45T99:99:99Z",
    "2026-11-28T21:04:00",
    "1e999999999",
    "-1e-999999999",
    "NaN",
    "Infinity",
    "0x10",
    "+964 770 123 4567" * 20,
    0,
    -1,
    1,
    2**31,
    -(2**31) - 1,
    2**63,
    -(2**63) - 1,
    10**30,
    1e308,
    -1e308,
    1e-320,
    0.5,
    -0.0,
    True,
    False,
    None,
    [],
    {},
    [None] * 60,
    ["x"] * 120,
    {"k" * 10: "v"},
    _nested(20),
]


def mutate_json(rng: random.Random, value: Any, mutations: int = 1) -> Any:
    """``value`` with ``mutations`` random nodes replaced by hostile values, removed, or given unknown keys."""
    value = copy.deepcopy(value)
    for _ in range(mutations):
        value = _mutate_once(rng, value)
    return value


def _mutate_once(rng: random.Random, value: Any) -> Any:
    paths = list(_paths(value))
    path = rng.choice(paths)
    if not path:
        return rng.choice(HOSTILE) if rng.random() < 0.3 else value
    parent = value
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    choice = rng.random()
    if choice < 0.6:
        parent[last] = copy.deepcopy(rng.choice(HOSTILE))
    elif choice < 0.75 and isinstance(parent, dict):
        del parent[last]
    elif choice < 0.85 and isinstance(parent, dict):
        parent[rng.choice(["extra", "subject_index", "country", "__proto__", "x" * 300])] = copy.deepcopy(rng.choice(HOSTILE))
    elif isinstance(parent[last], list) and parent[last] and len(parent[last]) < 200:
        parent[last] = parent[last] * rng.choice([2, 30, 200])
    elif isinstance(parent[last], str) and len(parent[last]) < 10_000:  # blow-ups stay below a few MB
        parent[last] = parent[last] * rng.choice([2, 100, 3000])
    else:
        parent[last] = copy.deepcopy(rng.choice(HOSTILE))
    return value


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:5]):
            found += _paths(item, (*prefix, index))
    return found


def mutate_bytes(rng: random.Random, data: bytes, mutations: int = 1) -> bytes:
    """Bit flips, truncation, insertion, deletion and duplication of random spans of ``data``."""
    buffer = bytearray(data)
    for _ in range(mutations):
        kind = rng.random()
        position = rng.randrange(len(buffer) + 1)
        if kind < 0.35 and buffer:
            index = min(position, len(buffer) - 1)
            buffer[index] ^= 1 << rng.randrange(8)
        elif kind < 0.5 and buffer:
            index = min(position, len(buffer) - 1)
            buffer[index] = rng.choice([0x00, 0x01, 0x7F, 0x80, 0xFF, 0xFE, rng.randrange(256)])
        elif kind < 0.6:
            del buffer[position:]
        elif kind < 0.75:
            buffer[position:position] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 12)))
        elif kind < 0.85:
            del buffer[position : position + rng.randrange(1, 16)]
        else:
            span = bytes(buffer[position : position + rng.randrange(1, 32)])
            buffer[position:position] = span * rng.randrange(1, 4)
    return bytes(buffer)


def rss_kib(pid: int | None = None) -> int:
    """Resident set size of a process (this one by default), KiB, from /proc."""
    status = Path(f"/proc/{pid or 'self'}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1])


def report(target: str, figures: dict[str, Any]) -> None:
    """Keep one target's figures for ``.local/bench/fuzz.json`` (only when ``make fuzz`` asks for them)."""
    print(f"fuzz {target}: {json.dumps(figures)}")
    if REPORT_DIR:
        folder = Path(REPORT_DIR)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{target}.json").write_text(json.dumps(figures, indent=2) + "\n")
