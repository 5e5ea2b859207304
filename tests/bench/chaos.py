"""``make chaos``: the bus on a three-node cluster under a seeded fault schedule, then the checker.

Not a test (the suite runs a short version: tests/integration/test_chaos.py). Starts its own
three-node cluster on free ports in ``.local/chaos/cluster-<port>`` (deleted afterwards), runs
:func:`chaos_run.run_chaos` for ``--seconds`` (``CHAOS_SECONDS``, default 600) and writes
``.local/bench/chaos.json`` and the one-page report ``.local/bench/chaos.txt``. Exit 1 when any
anomaly was found.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chaos_run import ChaosOptions, run_chaos, write_outputs
from local_kafka import REPO_ROOT, LocalKafkaCluster, free_cluster_port


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=None, help="fault schedule seed (default: from the clock, printed)")
    parser.add_argument("--rate", type=float, default=8.0, help="simulator events per second")
    parser.add_argument("--mean-gap", type=float, default=8.5, help="mean seconds between faults")
    parser.add_argument("--out", default=".local/bench/chaos.json")
    parser.add_argument("--text", default=".local/bench/chaos.txt")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else int(time.time()) % 100_000
    print(f"chaos seed {seed} (replay with CHAOS_SEED={seed})", flush=True)
    work = REPO_ROOT / ".local" / "chaos" / f"run-{seed}"
    shutil.rmtree(work, ignore_errors=True)
    port = free_cluster_port()
    cluster = LocalKafkaCluster(REPO_ROOT / ".local" / "chaos" / f"cluster-{port}", port)
    started = time.monotonic()
    cluster.start()
    print(f"three-node cluster on {cluster.bootstrap} after {time.monotonic() - started:.0f} s", flush=True)
    try:
        options = ChaosOptions(
            seconds=args.seconds, seed=seed, rate=args.rate, mean_gap=args.mean_gap, work_dir=work,
            say=lambda line: print(line, flush=True),
        )
        summary = run_chaos(options, cluster, cluster.bootstrap)
    finally:
        cluster.reset()
    text = write_outputs(summary, Path(args.out), Path(args.text))
    print(text)
    print(f"service logs in {work / 'logs'}")
    return 0 if summary["anomalies_total"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
