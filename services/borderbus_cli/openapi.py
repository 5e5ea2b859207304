"""``python -m borderbus_cli.openapi [--check]``: writes every service's ``openapi.yaml``, or only checks them.

One command for all the descriptions, here because this package is the one that may import every
service; each service builds its own (``borderbus_agency.openapi``, ``borderbus_desk.openapi``). A
developer's tool, not an operator's, so it is no ``borderbus`` subcommand. The default settings, not
the environment, choose the schemas and limits, so every checkout generates the same files.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from borderbus import openapi
from borderbus.bus import Bus
from borderbus.config import Settings
from borderbus_agency import openapi as agency_openapi
from borderbus_desk import openapi as desk_openapi


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m borderbus_cli.openapi", description="Write every service's openapi.yaml.")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is not what would be written")
    args = parser.parse_args(argv)
    bus = Bus.from_settings(Settings.from_env({}))
    descriptions = {
        agency_openapi.FILE: agency_openapi.spec(bus.schemas, bus.catalogue.max_subjects_per_event),
        desk_openapi.FILE: desk_openapi.spec(),
    }
    stale = [path for path, spec in descriptions.items() if not openapi.write(path, spec, check=args.check)]
    for path in stale:
        print(f"{'stale' if args.check else 'wrote'} {path}")
    if not stale:
        print(f"up to date: {', '.join(str(path) for path in descriptions)}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
