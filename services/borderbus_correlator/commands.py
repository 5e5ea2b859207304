"""The correlator's subcommand, ``borderbus correlator run``; the worker is imported only when it runs."""

from __future__ import annotations

import argparse
import socket

from borderbus.commands import Commands, add_command, bus_as


def _correlator_run(args: argparse.Namespace) -> int:
    from borderbus_correlator.app import STAGES, run_worker

    stages = tuple(args.stages.split(",")) if args.stages else STAGES
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        print(f"--stages: {', '.join(unknown)} is not a stage (the stages are {', '.join(STAGES)})")
        return 2

    instance_id = args.instance_id or f"{socket.gethostname()}-{args.web_port}"
    run_worker(
        bus_as("correlator"),
        web_host=args.web_host,
        web_port=args.web_port,
        instance_id=instance_id,
        loglevel="info" if args.verbose else "warning",
        stages=stages,
    )
    return 0


def register(commands: Commands) -> None:
    """Adds the ``correlator`` group (run)."""
    correlator = commands.add_parser("correlator", help="the stream processors").add_subparsers(dest="action", required=True)
    worker = add_command(correlator, "run", _correlator_run, "run one correlator worker (several form one consumer group)")
    worker.add_argument("--web-host", default="127.0.0.1", help="address of /metrics, /healthz and /assignment")
    worker.add_argument("--web-port", type=int, default=6066, help="serves /metrics, /healthz and /assignment")
    worker.add_argument(
        "--stages",
        help="run only these stages, comma-separated: fan-out, correlate, alert-publisher (default all, one thread each); "
        "a fan-out process beside a correlate,alert-publisher process uses two cores",
    )
    worker.add_argument(
        "--instance-id", help="stable per worker, so a restarted worker fences its predecessor (default: host-port)"
    )
