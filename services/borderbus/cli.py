"""The ``borderbus`` command: one entry point for operators, agencies and the demo.

Service modules are imported only by the subcommand that needs them, so ``borderbus schemas
check`` starts fast and never touches Kafka.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from borderbus.bus import Bus


def _topics_apply(args: argparse.Namespace) -> int:
    from confluent_kafka.admin import AdminClient

    from borderbus.topics import apply_topics

    bus = Bus.from_env()
    specs = bus.catalogue.topic_specs()
    changes = apply_topics(AdminClient(bus.settings.kafka_client_config()), specs)
    for change in changes:
        print(change)
    print(f"{len(specs)} topics declared, {len(changes)} change(s)" + ("" if changes else ": cluster already matches"))
    return 1 if any(change.action == "cannot" for change in changes) else 0


def _topics_list(args: argparse.Namespace) -> int:
    for spec in Bus.from_env().catalogue.topic_specs():
        config = ", ".join(f"{key}={value}" for key, value in sorted(spec.config.items()))
        print(f"{spec.name:<40} partitions={spec.partitions} replication={spec.replication_factor} {config}")
    return 0


def _schemas_check(args: argparse.Namespace) -> int:
    from borderbus.schemas import SchemaCatalogue, check_catalogue, read_lock

    schema_dir = Path(args.dir) if args.dir else Bus.from_env().settings.schema_dir
    catalogue = SchemaCatalogue(schema_dir)
    problems = check_catalogue(catalogue)
    unlocked = [v.label for v in catalogue if v.label not in read_lock(schema_dir)]
    for version in catalogue:
        print(f"{version.label:<22} fingerprint {version.fingerprint.hex()}  {version.path.relative_to(schema_dir)}")
    for problem in problems:
        print(f"INCOMPATIBLE: {problem}", file=sys.stderr)
    if unlocked:
        print(f"not yet locked (run 'borderbus schemas lock' when publishing): {', '.join(unlocked)}")
    print(f"{sum(1 for _ in catalogue)} schema versions checked, {len(problems)} problem(s)")
    return 1 if problems else 0


def _schemas_lock(args: argparse.Namespace) -> int:
    from borderbus.schemas import SchemaCatalogue, check_catalogue, lock_new_versions

    schema_dir = Path(args.dir) if args.dir else Bus.from_env().settings.schema_dir
    catalogue = SchemaCatalogue(schema_dir)
    problems = check_catalogue(catalogue)
    if problems:
        print("refusing to lock incompatible schemas; run 'borderbus schemas check'", file=sys.stderr)
        return 1
    added = lock_new_versions(catalogue)
    print("locked: " + (", ".join(added) if added else "nothing new"))
    return 0


def _publish(args: argparse.Namespace) -> int:
    from borderbus_agency.publish_file import publish_file
    from borderbus_agency.publisher import AgencyPublisher, BrokerUnavailable

    publisher = AgencyPublisher(Bus.from_env(), args.agency, instance_id=f"cli-{args.instance_id}")
    try:
        return publish_file(publisher, args.type, Path(args.file))
    except BrokerUnavailable as error:
        print(f"nothing published: {error}", file=sys.stderr)
        return 3
    finally:
        publisher.close()


def _agency_serve(args: argparse.Namespace) -> int:
    from borderbus_agency.http_api import serve
    from borderbus_agency.publisher import AgencyPublisher

    publisher = AgencyPublisher(Bus.from_env(), args.agency, instance_id=args.instance_id)
    logging.getLogger(__name__).info("agency %s listening on http://%s:%d", args.agency, args.host, args.port)
    serve(publisher, args.host, args.port)
    return 0


def _correlator_run(args: argparse.Namespace) -> int:
    from borderbus_correlator.app import run_worker

    instance_id = args.instance_id or f"{socket.gethostname()}-{args.web_port}"
    run_worker(
        Bus.from_env(),
        web_port=args.web_port,
        store=args.store,
        instance_id=instance_id,
        loglevel="info" if args.verbose else "warning",
    )
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from borderbus_simulator.driver import run_simulation

    result: int = run_simulation(Bus.from_env(), args)
    return result


def _events_tail(args: argparse.Namespace) -> int:
    from borderbus_demo.tally import tail_events

    result: int = tail_events(Bus.from_env(), seconds=args.seconds, group_id=args.group, quiet=args.quiet)
    return result


def _demo(args: argparse.Namespace) -> int:
    from borderbus_demo.runner import run_demo

    seed = args.seed if args.seed is not None else int(time.time()) % 100_000
    result: int = run_demo(Bus.from_env(), seconds=args.seconds, seed=seed, rate=args.rate, base_port=args.base_port)
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="borderbus", description="Multi-agency border alert bus on Apache Kafka.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(
        name: str,
        handler: Callable[[argparse.Namespace], int],
        help_text: str,
        parent: argparse._SubParsersAction[argparse.ArgumentParser] | None = None,
    ) -> argparse.ArgumentParser:
        sub = (parent or commands).add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    topics = commands.add_parser("topics", help="the topic catalogue").add_subparsers(dest="action", required=True)
    command("apply", _topics_apply, "create or update the cluster's topics to match the catalogue", topics)
    command("list", _topics_list, "print every declared topic", topics)

    schemas = commands.add_parser("schemas", help="the Avro schemas").add_subparsers(dest="action", required=True)
    for name, handler, text in (
        ("check", _schemas_check, "fail if any version is incompatible with an earlier one, or a published one was edited"),
        ("lock", _schemas_lock, "record the fingerprints of new versions as published"),
    ):
        command(name, handler, text, schemas).add_argument("--dir", help="schema directory (default: schemas/avro)")

    publish = command("publish", _publish, "publish a JSON-lines file of events as one agency, all or nothing")
    publish.add_argument("--agency", required=True)
    publish.add_argument("--type", required=True, help="sighting, finance-flag, case-update or platform-report")
    publish.add_argument("--instance-id", default="1", help="distinguishes concurrent publishers of one agency")
    publish.add_argument("file")

    agency = commands.add_parser("agency", help="the agency microservice").add_subparsers(dest="action", required=True)
    serve = command("serve", _agency_serve, "serve an agency's HTTP publish API", agency)
    serve.add_argument("--agency", required=True)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8100)
    serve.add_argument("--instance-id", default="http-1")

    correlator = commands.add_parser("correlator", help="the stream processors").add_subparsers(dest="action", required=True)
    worker = command("run", _correlator_run, "run one correlator worker (several form one consumer group)", correlator)
    worker.add_argument("--web-port", type=int, default=6066, help="serves /metrics and /healthz")
    worker.add_argument("--store", default="rocksdb://", help="table store: rocksdb:// or memory://")
    worker.add_argument(
        "--instance-id", help="stable per worker, so a restarted worker fences its predecessor (default: host-port)"
    )

    simulate = command("simulate", _simulate, "drive the agency services with a realistic smuggling scenario")
    simulate.add_argument("--seed", type=int, default=7)
    simulate.add_argument("--rate", type=float, default=50.0, help="events per second")
    simulate.add_argument("--duration", type=float, default=30.0, help="seconds")
    simulate.add_argument("--via", choices=("library", "http"), default="library")
    simulate.add_argument("--base-url", default="http://127.0.0.1:{port}", help="with --via http")
    simulate.add_argument("--base-port", type=int, default=8100, help="with --via http: first agency's port")
    simulate.add_argument("--ground-truth", default=".local/ground-truth.json")

    events = commands.add_parser("events", help="agency events on the bus").add_subparsers(dest="action", required=True)
    tail = command("tail", _events_tail, "decode every ingest topic and count events per agency and type", events)
    tail.add_argument("--seconds", type=float, default=None)
    tail.add_argument("--group", default="borderbus-events-tail")
    tail.add_argument("--quiet", action="store_true")

    demo = command("demo", _demo, "run the whole bus and show events and alerts flowing")
    demo.add_argument("--seconds", type=float, default=None, help="stop after this many seconds (default: until Ctrl-C)")
    demo.add_argument("--seed", type=int, default=None, help="default: a new world each run")
    demo.add_argument("--rate", type=float, default=40.0)
    demo.add_argument("--base-port", type=int, default=8100)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
