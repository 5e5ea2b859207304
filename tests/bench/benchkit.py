"""What every benchmark of ``make bench`` shares: timing a call, and printing and writing the figures."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_report(results: dict[str, Any], out: str | Path) -> None:
    for name, value in results.items():
        shown = f"{value:.1f}" if isinstance(value, float) else json.dumps(value) if isinstance(value, dict) else value
        print(f"{name:<40} {shown}")
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {path}")


def per_call_us(function: Callable[[], object], seconds: float = 1.0) -> float:
    """Mean microseconds per call, after one warm-up call, over about ``seconds`` (at least one call)."""
    function()
    calls, started = 0, time.perf_counter()
    while calls == 0 or time.perf_counter() - started < seconds:
        function()
        calls += 1
    return (time.perf_counter() - started) / calls * 1e6


def broker_cpu_seconds() -> float:
    """CPU time of the local broker's JVM so far (its pid file under the instance folder), NaN if it is elsewhere."""
    instance = Path(os.environ.get("KAFKA_INSTANCE_DIR", Path(__file__).resolve().parents[2] / ".local/kafka/instance"))
    try:
        fields = Path(f"/proc/{(instance / 'kafka.pid').read_text().strip()}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
