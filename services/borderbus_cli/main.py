"""``borderbus``: one entry point for operators, agencies and the demo.

Each package registers its subcommands here in a fixed order, the order ``borderbus --help`` lists them.
Service modules are imported only by the subcommand that needs them, so ``borderbus schemas check``
starts fast and never touches Kafka.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import borderbus.commands
import borderbus_agency.commands
import borderbus_correlator.commands
import borderbus_demo.commands
import borderbus_desk.commands
import borderbus_simulator.commands
from borderbus.config import CredentialsError

REGISTRATIONS = (
    borderbus.commands.register,
    borderbus_agency.commands.register,
    borderbus_correlator.commands.register,
    borderbus_desk.commands.register,
    borderbus_simulator.commands.register,
    borderbus_demo.commands.register,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="borderbus", description="Multi-agency border alert bus on Apache Kafka.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    commands = parser.add_subparsers(dest="command", required=True)
    for register in REGISTRATIONS:
        register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        result: int = args.handler(args)
    except CredentialsError as error:
        print(f"borderbus: {error}", file=sys.stderr)
        return 2
    return result
