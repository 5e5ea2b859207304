"""The agency service's subcommands: ``borderbus publish``, ``borderbus agency serve`` and ``borderbus agency token``.

The service modules are imported by the handlers, so building the parser stays cheap for every other command.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from borderbus.bus import Bus
from borderbus.commands import Commands, add_command, bus_as


def _publish(args: argparse.Namespace) -> int:
    from borderbus_agency.publish_file import publish_file
    from borderbus_agency.publisher import AgencyPublisher, BrokerUnavailable, OutcomeUnknown

    publisher = AgencyPublisher(bus_as(f"agency-{args.agency}"), args.agency, instance_id=f"cli-{args.instance_id}")
    try:
        return publish_file(publisher, args.type, Path(args.file))
    except BrokerUnavailable as error:
        print(f"nothing published: {error}", file=sys.stderr)
        return 3
    except OutcomeUnknown as error:
        print(
            f"outcome unknown, the events may be published: {error} (publishing the file again may write them twice;"
            " the correlator drops a repeated event_id, so events that carry their own event_id are safe to resend)",
            file=sys.stderr,
        )
        return 4
    finally:
        publisher.close()


def _agency_serve(args: argparse.Namespace) -> int:
    import os

    from confluent_kafka import KafkaException

    from borderbus_agency.clients import AgencyClients
    from borderbus_agency.http_api import serve
    from borderbus_agency.publisher import AgencyPublisher

    bus = bus_as(f"agency-{args.agency}")
    bus.catalogue.agency(args.agency)
    default_clients = bus.settings.config_dir / "agency-clients.yaml"
    clients_file = args.clients or os.environ.get("BORDERBUS_AGENCY_CLIENTS_FILE") or default_clients
    clients = AgencyClients.load(Path(clients_file), set(bus.catalogue.agencies))
    metrics_auth = args.metrics_auth or os.environ.get("BORDERBUS_AGENCY_METRICS_AUTH", "open")
    if metrics_auth not in ("open", "token"):
        print(f"BORDERBUS_AGENCY_METRICS_AUTH: expected open or token, not {metrics_auth!r}", file=sys.stderr)
        return 2
    interval = None if args.transaction_interval_ms is None else args.transaction_interval_ms / 1000
    publisher = AgencyPublisher(bus, args.agency, instance_id=args.instance_id, transaction_interval=interval)
    try:  # before the first request: a retry of what a predecessor committed is then not written twice
        publisher.recall_committed()
    except KafkaException as error:  # serve anyway: a retry written twice is a duplicate the correlator drops
        logging.getLogger(__name__).warning("could not recall recently committed event ids (%s): serving without them", error)
    logging.getLogger(__name__).info(
        "agency %s listening on http://%s:%d (%r, /metrics %s)", args.agency, args.host, args.port, clients, metrics_auth
    )
    serve(publisher, clients, args.host, args.port, metrics_need_token=metrics_auth == "token")
    return 0


def _agency_token(args: argparse.Namespace) -> int:
    import yaml

    from borderbus_agency.clients import ANY_AGENCY, client_entry, new_client_token

    if not (args.agency == ANY_AGENCY and args.scope == "metrics"):
        Bus.from_env().catalogue.agency(args.agency)
    token = new_client_token()
    print(f"token for client {args.client} of {args.agency} ({args.scope}), shown once: {token}", file=sys.stderr)
    print(yaml.safe_dump([client_entry(args.agency, args.client, token, args.scope)], sort_keys=False).rstrip())
    return 0


def register(commands: Commands) -> None:
    """Adds ``publish`` and the ``agency`` group (serve, token)."""
    publish = add_command(commands, "publish", _publish, "publish a JSON-lines file of events as one agency, all or nothing")
    publish.add_argument("--agency", required=True)
    publish.add_argument("--type", required=True, help="sighting, finance-flag, case-update or platform-report")
    publish.add_argument("--instance-id", default="1", help="distinguishes concurrent publishers of one agency")
    publish.add_argument("file")

    agency = commands.add_parser("agency", help="the agency microservice").add_subparsers(dest="action", required=True)
    serve = add_command(agency, "serve", _agency_serve, "serve an agency's HTTP publish API")
    serve.add_argument("--agency", required=True)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8100)
    serve.add_argument("--instance-id", default="http-1")
    serve.add_argument(
        "--clients", help="client credentials (default: $BORDERBUS_AGENCY_CLIENTS_FILE or ops/config/agency-clients.yaml)"
    )
    serve.add_argument(
        "--transaction-interval-ms",
        type=float,
        help="under contention, the longest a transaction waits for as many batches as the last one held, from the "
        "last one's start (default 50; 0: never). A client publishing alone is never held back",
    )
    serve.add_argument(
        "--metrics-auth",
        choices=("open", "token"),
        help="token: /metrics needs a scope-metrics credential (default: $BORDERBUS_AGENCY_METRICS_AUTH or open)",
    )
    agency_token = add_command(
        agency, "token", _agency_token, "make an agency client token; prints the clients-file entry (only the hash)"
    )
    agency_token.add_argument("--agency", required=True, help="agency code (or * with --scope metrics)")
    agency_token.add_argument("--client", required=True, help="the calling system, e.g. anpr-dov-2")
    agency_token.add_argument("--scope", choices=("publish", "metrics"), default="publish")
