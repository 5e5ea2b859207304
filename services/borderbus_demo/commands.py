"""The demo's subcommands: ``borderbus events tail`` (its live tally) and ``borderbus demo``; both import
their modules only when they run."""

from __future__ import annotations

import argparse
import time

from borderbus.commands import Commands, add_command, bus_as


def _events_tail(args: argparse.Namespace) -> int:
    from borderbus_demo.tally import tail_events

    bus = bus_as("observer")
    group = bus.settings.topic_prefix + args.group  # groups live in the topic prefix's namespace, as the ACLs do
    result: int = tail_events(bus, seconds=args.seconds, group_id=group, quiet=args.quiet)
    return result


def _demo(args: argparse.Namespace) -> int:
    from borderbus_demo.runner import run_demo

    seed = args.seed if args.seed is not None else int(time.time()) % 100_000
    result: int = run_demo(bus_as("observer"), seconds=args.seconds, seed=seed, rate=args.rate, base_port=args.base_port)
    return result


def register(commands: Commands) -> None:
    """Adds the ``events`` group (tail) and ``demo``."""
    events = commands.add_parser("events", help="agency events on the bus").add_subparsers(dest="action", required=True)
    tail = add_command(events, "tail", _events_tail, "decode every ingest topic and count events per agency and type")
    tail.add_argument("--seconds", type=float, default=None)
    tail.add_argument("--group", default="borderbus-events-tail")
    tail.add_argument("--quiet", action="store_true")

    demo = add_command(commands, "demo", _demo, "run the whole bus and show events and alerts flowing")
    demo.add_argument("--seconds", type=float, default=None, help="stop after this many seconds (default: until Ctrl-C)")
    demo.add_argument("--seed", type=int, default=None, help="default: a new world each run")
    demo.add_argument("--rate", type=float, default=40.0)
    demo.add_argument("--base-port", type=int, default=8100)
