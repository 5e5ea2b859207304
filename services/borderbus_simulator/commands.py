"""The simulator's subcommand, ``borderbus simulate``; the scenario is imported only when it runs."""

from __future__ import annotations

import argparse

from borderbus.bus import Bus
from borderbus.commands import Commands, add_command


def _simulate(args: argparse.Namespace) -> int:
    from borderbus_simulator.driver import run_simulation

    result: int = run_simulation(Bus.from_env(), args)  # publishes as each agency-<code> in turn
    return result


def register(commands: Commands) -> None:
    """Adds ``simulate``."""
    simulate = add_command(commands, "simulate", _simulate, "drive the agency services with a realistic smuggling scenario")
    simulate.add_argument("--seed", type=int, default=7)
    simulate.add_argument("--rate", type=float, default=50.0, help="events per second")
    simulate.add_argument("--duration", type=float, default=30.0, help="seconds")
    simulate.add_argument("--via", choices=("library", "http"), default="library")
    simulate.add_argument("--base-url", default="http://127.0.0.1:{port}", help="with --via http")
    simulate.add_argument("--base-port", type=int, default=8100, help="with --via http: first agency's port")
    simulate.add_argument("--tokens", help="with --via http: file of '<agency> <client token>' lines (the demo writes one)")
    simulate.add_argument("--ground-truth", default=".local/ground-truth.json")
