"""Print a benchmark's figures and write them to its JSON file: the one output format of ``make bench``."""

from __future__ import annotations

import json
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
