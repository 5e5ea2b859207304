"""Merge the figures each fuzz target wrote (``BORDERBUS_FUZZ_REPORT``) into one file and print them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parts", required=True, help="folder the fuzz tests wrote their figures to")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seconds", type=float, help="wall time of the whole run")
    args = parser.parse_args()
    targets = {path.stem: json.loads(path.read_text()) for path in sorted(Path(args.parts).glob("*.json"))}
    results = {"targets": targets, "total_seconds": args.seconds}
    for name, figures in targets.items():
        count = figures.get("requests") or figures.get("messages") or figures.get("events") or figures.get("records")
        print(
            f"{name:<14} {count:>8} generated  failures/crashes {figures.get('failures', figures.get('crashes', 0))}  {figures}"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
