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
from borderbus.config import CredentialsError, Settings
from borderbus.markings import SEVERITIES

ADMIN = "admin"


def _bus(principal: str) -> Bus:
    """The bus as ``principal``, unless the environment (BORDERBUS_PRINCIPAL, KAFKA_SASL_USERNAME) chose one."""
    return Bus.from_settings(Settings.from_env().with_default_principal(principal))


def _topics_apply(args: argparse.Namespace) -> int:
    from confluent_kafka.admin import AdminClient

    from borderbus.topics import apply_topics

    bus = _bus(ADMIN)
    specs = bus.catalogue.topic_specs()
    changes = apply_topics(AdminClient(bus.settings.kafka_client_config()), specs)
    for change in changes:
        print(change)
    print(f"{len(specs)} topics declared, {len(changes)} change(s)" + ("" if changes else ": cluster already matches"))
    return 1 if any(change.action == "cannot" for change in changes) else 0


def _acls_apply(args: argparse.Namespace) -> int:
    from confluent_kafka.admin import AdminClient

    from borderbus.access import AccessPolicy
    from borderbus.acls import apply_acls

    bus = _bus(ADMIN)
    policy = AccessPolicy(bus.catalogue)
    changes = apply_acls(AdminClient(bus.settings.kafka_client_config()), policy, dry_run=args.dry_run)
    for change in changes:
        print(change)
    verb = "would change" if args.dry_run else "change(s)"
    print(f"{len(policy.grants)} ACLs declared, {len(changes)} {verb}" + ("" if changes else ": cluster already matches"))
    return 0


def _acls_show(args: argparse.Namespace) -> int:
    from borderbus.access import AccessPolicy

    policy = AccessPolicy(_bus(ADMIN).catalogue)
    principals = [args.principal] if args.principal else policy.principals
    for principal in principals:
        if principal in policy.super_users:
            print(f"User:{principal:<20} super user (every operation; broker config super.users)")
            continue
        for grant in policy.grants_of(principal):
            print(grant)
    print(f"{len(policy.grants)} ACLs for {len(policy.principals)} principals")
    return 0


def _users_apply(args: argparse.Namespace) -> int:
    from confluent_kafka.admin import AdminClient

    from borderbus.access import AccessPolicy
    from borderbus.acls import apply_users

    bus = _bus(ADMIN)
    policy = AccessPolicy(bus.catalogue)
    if bus.settings.credentials_dir is None:
        print("users apply needs BORDERBUS_CREDENTIALS_DIR (one password file per principal)", file=sys.stderr)
        return 2
    rotate = frozenset(policy.principals if args.rotate == ["all"] else args.rotate or ())
    unknown = rotate - set(policy.principals)
    if unknown:
        print(f"unknown principals: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    admin = AdminClient(bus.settings.kafka_client_config())
    changes = apply_users(admin, policy, bus.settings.credentials_dir, rotate=rotate, prune=args.prune)
    for change in changes:
        print(change)
    print(f"{len(policy.principals)} principals declared, passwords in {bus.settings.credentials_dir}")
    return 0


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
    from borderbus_agency.publisher import AgencyPublisher, BrokerUnavailable, OutcomeUnknown

    publisher = AgencyPublisher(_bus(f"agency-{args.agency}"), args.agency, instance_id=f"cli-{args.instance_id}")
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

    bus = _bus(f"agency-{args.agency}")
    bus.catalogue.agency(args.agency)
    default_clients = bus.settings.config_dir / "agency-clients.yaml"
    clients_file = args.clients or os.environ.get("BORDERBUS_AGENCY_CLIENTS_FILE") or default_clients
    clients = AgencyClients.load(Path(clients_file), set(bus.catalogue.agencies))
    metrics_auth = args.metrics_auth or os.environ.get("BORDERBUS_AGENCY_METRICS_AUTH", "open")
    if metrics_auth not in ("open", "token"):
        print(f"BORDERBUS_AGENCY_METRICS_AUTH: expected open or token, not {metrics_auth!r}", file=sys.stderr)
        return 2
    publisher = AgencyPublisher(bus, args.agency, instance_id=args.instance_id)
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


def _correlator_run(args: argparse.Namespace) -> int:
    from borderbus_correlator.app import run_worker

    instance_id = args.instance_id or f"{socket.gethostname()}-{args.web_port}"
    run_worker(
        _bus("correlator"),
        web_host=args.web_host,
        web_port=args.web_port,
        instance_id=instance_id,
        loglevel="info" if args.verbose else "warning",
    )
    return 0


def _desk_serve(args: argparse.Namespace) -> int:
    import os

    from borderbus_desk.desk import DutyDesk
    from borderbus_desk.desk_config import DeskConfig
    from borderbus_desk.http_api import serve
    from borderbus_desk.officers import OfficerDirectory

    bus = Bus.from_env()  # the desk's parts pick their principals (desk-reader, desk-router, desk-actions)
    agencies = set(bus.catalogue.agencies)
    officers_file = args.officers or os.environ.get("BORDERBUS_OFFICERS_FILE") or bus.settings.config_dir / "officers.yaml"
    officers = OfficerDirectory.load(Path(officers_file), agencies)
    config = DeskConfig.load(Path(args.config) if args.config else bus.settings.config_dir / "desk.yaml", agencies)
    instance_id = args.instance_id or f"{socket.gethostname()}-{args.port}"
    desk = DutyDesk(bus, officers, config, instance_id=instance_id, route_agency_topics=not args.no_router)
    logging.getLogger(__name__).info("duty desk on http://%s:%d (%d officers)", args.host, args.port, len(officers))
    serve(desk, args.host, args.port)
    if desk.failure is not None:
        from borderbus_desk.desk import EXIT_CODE_WORKER_DIED

        return EXIT_CODE_WORKER_DIED
    return 0


def _desk_token(args: argparse.Namespace) -> int:
    import yaml

    from borderbus_desk.officers import new_token, officer_entry

    Bus.from_env().catalogue.agency(args.agency)
    token = new_token()
    print(f"token for {args.officer} ({args.agency}), shown once: {token}", file=sys.stderr)
    entry = officer_entry(args.officer, args.agency, token, args.locale, roles=args.role or [])
    print(yaml.safe_dump([entry], sort_keys=False).rstrip())
    return 0


def _desk_client(args: argparse.Namespace) -> object:
    import os

    from borderbus_desk.client import DEFAULT_DESK_URL, DeskClient

    return DeskClient(
        args.desk or os.environ.get("BORDERBUS_DESK_URL", DEFAULT_DESK_URL), args.token or os.environ.get("BORDERBUS_TOKEN", "")
    )


def _filters(args: argparse.Namespace) -> dict[str, str]:
    names = ("min_severity", "status", "rule", "border_point", "subject", "since", "until")
    return {name: str(getattr(args, name)) for name in names if getattr(args, name, None)}


def _alerts_tail(args: argparse.Namespace) -> int:
    from borderbus_desk.client import DeskClient, DeskClientError, tail

    try:
        client = _desk_client(args)
        assert isinstance(client, DeskClient)
        return tail(client, _filters(args), as_json=args.json)
    except DeskClientError as error:
        print(error, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


def _alerts_list(args: argparse.Namespace) -> int:
    import json

    from borderbus_desk.client import DeskClient, DeskClientError, alert_change_line

    try:
        client = _desk_client(args)
        assert isinstance(client, DeskClient)
        alerts = client.list(_filters(args))
    except DeskClientError as error:
        print(error, file=sys.stderr)
        return 2
    for view in alerts:
        print(json.dumps(view, separators=(",", ":")) if args.json else alert_change_line(view))
    return 0


def _alerts_act(args: argparse.Namespace) -> int:
    from borderbus_desk.client import DeskClient, DeskClientError, alert_change_line

    try:
        client = _desk_client(args)
        assert isinstance(client, DeskClient)
        result = client.act(args.alert_id, args.action, args.note)
    except DeskClientError as error:
        print(error, file=sys.stderr)
        return 2
    print(alert_change_line(result) if "alert_id" in result else result.get("message", result))
    return 0


def _silences(args: argparse.Namespace) -> int:
    import json

    from borderbus_desk.client import DeskClient, DeskClientError, silence_line

    try:
        client = _desk_client(args)
        assert isinstance(client, DeskClient)
        if args.action == "list":
            views = client.silences(args.state)
        elif args.action == "expire":
            views = [client.expire_silence(args.silence_id, args.comment)]
        else:
            matchers = {
                "rules": args.rule or None,
                "subject": args.subject,
                "border_points": args.border_point or None,
                "agencies": args.agency or None,
                "min_severity": args.min_severity,
                "max_severity": args.max_severity,
            }
            body: dict[str, object] = {"matchers": {k: v for k, v in matchers.items() if v}, "comment": args.comment}
            if args.starts:
                body["starts_at"] = args.starts
            if args.ends:
                body["ends_at"] = args.ends
            else:
                body["duration_seconds"] = _seconds(args.duration)
            views = [client.add_silence(body)]
    except (DeskClientError, ValueError) as error:
        print(error, file=sys.stderr)
        return 2
    for view in views:
        print(json.dumps(view, separators=(",", ":")) if args.json else silence_line(view))
    return 0


def _seconds(text: str) -> int:
    """``90``, ``90s``, ``30m``, ``2h``, ``1d`` as seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    value = text.strip().lower()
    scale = units.get(value[-1:], 1)
    number = value[:-1] if value[-1:] in units else value
    if not number.isdigit() or int(number) <= 0:
        raise ValueError(f"--duration: {text!r} is not a duration like 90s, 30m, 2h or 1d")
    return int(number) * scale


def _audit(args: argparse.Namespace) -> int:
    import json

    from borderbus_desk.client import DeskClient, DeskClientError, audit_line

    query = {
        name: value
        for name, value in (
            ("officer", args.officer),
            ("alert", args.alert),
            ("what", args.what),
            ("since", args.since),
            ("until", args.until),
            ("limit", str(args.limit) if args.limit else None),
        )
        if value
    }
    try:
        client = _desk_client(args)
        assert isinstance(client, DeskClient)
        entries = client.audit(query)
    except DeskClientError as error:
        print(error, file=sys.stderr)
        return 2
    for entry in entries:
        print(json.dumps(entry, separators=(",", ":")) if args.json else audit_line(entry))
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from borderbus_simulator.driver import run_simulation

    result: int = run_simulation(Bus.from_env(), args)  # publishes as each agency-<code> in turn
    return result


def _events_tail(args: argparse.Namespace) -> int:
    from borderbus_demo.tally import tail_events

    bus = _bus("observer")
    group = bus.settings.topic_prefix + args.group  # groups live in the topic prefix's namespace, as the ACLs do
    result: int = tail_events(bus, seconds=args.seconds, group_id=group, quiet=args.quiet)
    return result


def _demo(args: argparse.Namespace) -> int:
    from borderbus_demo.runner import run_demo

    seed = args.seed if args.seed is not None else int(time.time()) % 100_000
    result: int = run_demo(_bus("observer"), seconds=args.seconds, seed=seed, rate=args.rate, base_port=args.base_port)
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

    acls = commands.add_parser("acls", help="who may write and read what").add_subparsers(dest="action", required=True)
    acls_apply = command(
        "apply", _acls_apply, "make the cluster's ACLs match topics.yaml + sharing.yaml; says what changed", acls
    )
    acls_apply.add_argument("--dry-run", action="store_true", help="only print what would change")
    acls_show = command("show", _acls_show, "print the declared matrix: principal, operation, resource", acls)
    acls_show.add_argument("--principal", help="only this principal")

    users = commands.add_parser("users", help="Kafka principals (SASL/SCRAM users)").add_subparsers(dest="action", required=True)
    users_apply = command(
        "apply", _users_apply, "create every declared principal's SCRAM credential (password files made on first use)", users
    )
    users_apply.add_argument(
        "--rotate", nargs="*", metavar="PRINCIPAL", help="new passwords for these principals ('all' for every one)"
    )
    users_apply.add_argument("--prune", action="store_true", help="also delete SCRAM users the policy does not declare")

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
    serve.add_argument(
        "--clients", help="client credentials (default: $BORDERBUS_AGENCY_CLIENTS_FILE or ops/config/agency-clients.yaml)"
    )
    serve.add_argument(
        "--metrics-auth",
        choices=("open", "token"),
        help="token: /metrics needs a scope-metrics credential (default: $BORDERBUS_AGENCY_METRICS_AUTH or open)",
    )
    agency_token = command(
        "token", _agency_token, "make an agency client token; prints the clients-file entry (only the hash)", agency
    )
    agency_token.add_argument("--agency", required=True, help="agency code (or * with --scope metrics)")
    agency_token.add_argument("--client", required=True, help="the calling system, e.g. anpr-dov-2")
    agency_token.add_argument("--scope", choices=("publish", "metrics"), default="publish")

    correlator = commands.add_parser("correlator", help="the stream processors").add_subparsers(dest="action", required=True)
    worker = command("run", _correlator_run, "run one correlator worker (several form one consumer group)", correlator)
    worker.add_argument("--web-host", default="127.0.0.1", help="address of /metrics, /healthz and /assignment")
    worker.add_argument("--web-port", type=int, default=6066, help="serves /metrics, /healthz and /assignment")
    worker.add_argument(
        "--instance-id", help="stable per worker, so a restarted worker fences its predecessor (default: host-port)"
    )

    desk = commands.add_parser("desk", help="the duty desk").add_subparsers(dest="action", required=True)
    desk_serve = command("serve", _desk_serve, "serve the duty desk: alert API, live stream, console, escalation", desk)
    desk_serve.add_argument("--host", default="127.0.0.1")
    desk_serve.add_argument("--port", type=int, default=8300)
    desk_serve.add_argument("--officers", help="officers file (default: $BORDERBUS_OFFICERS_FILE or ops/config/officers.yaml)")
    desk_serve.add_argument("--config", help="desk settings (default: ops/config/desk.yaml)")
    desk_serve.add_argument("--instance-id", help="stable per desk, fences its predecessor's router (default: host-port)")
    desk_serve.add_argument("--no-router", action="store_true", help="do not fill the per-agency alert topics")
    token = command("token", _desk_token, "make an officer token; prints the officers-file entry (only the hash)", desk)
    token.add_argument("--officer", required=True)
    token.add_argument("--agency", required=True)
    token.add_argument("--locale", choices=("en", "ar"), help="the officer's console language (default: en)")
    token.add_argument("--role", action="append", choices=("silence", "supervisor"), help="a role of the officer (repeatable)")

    alerts = commands.add_parser("alerts", help="alerts through the duty desk").add_subparsers(dest="action", required=True)

    def desk_options(sub: argparse.ArgumentParser, filters: bool) -> argparse.ArgumentParser:
        sub.add_argument("--desk", help="desk URL (default: $BORDERBUS_DESK_URL or http://127.0.0.1:8300)")
        sub.add_argument("--token", help="officer token (default: $BORDERBUS_TOKEN)")
        if filters:
            sub.add_argument("--min-severity", dest="min_severity", choices=SEVERITIES)
            sub.add_argument("--status", help="comma-separated: new,acknowledged,escalated,retracted,resolved,false_positive")
            sub.add_argument("--rule")
            sub.add_argument("--border-point", dest="border_point")
            sub.add_argument("--subject", help="kind:id or id")
            sub.add_argument("--since", help="ISO-8601 or epoch ms (alert last updated at or after)")
            sub.add_argument("--until")
            sub.add_argument("--json", action="store_true", help="one JSON object per line")
        return sub

    desk_options(command("tail", _alerts_tail, "follow alert changes live, one line each", alerts), True)
    desk_options(command("list", _alerts_list, "list the alerts you may see", alerts), True)
    for name, action in (
        ("ack", "ACKNOWLEDGE"),
        ("escalate", "ESCALATE"),
        ("resolve", "RESOLVE"),
        ("false-positive", "FALSE_POSITIVE"),
    ):
        act = desk_options(command(name, _alerts_act, f"{action.lower().replace('_', ' ')} an alert", alerts), False)
        act.set_defaults(action=action)
        act.add_argument("alert_id")
        act.add_argument("--note")

    silences = commands.add_parser("silences", help="silences through the duty desk").add_subparsers(dest="action", required=True)
    add_help = "silence matching alerts for a while (roles silence or supervisor)"
    add = desk_options(command("add", _silences, add_help, silences), False)
    add.add_argument("--rule", action="append", help="matcher: the alert's rule (repeatable)")
    add.add_argument("--subject", help="matcher: a subject, kind:id or id")
    add.add_argument("--border-point", dest="border_point", action="append", help="matcher (repeatable)")
    add.add_argument("--agency", action="append", help="matcher: an agency that contributed evidence (repeatable)")
    add.add_argument("--min-severity", dest="min_severity", choices=("LOW", "MEDIUM", "HIGH", "CRITICAL"))
    add.add_argument("--max-severity", dest="max_severity", choices=("LOW", "MEDIUM", "HIGH", "CRITICAL"))
    add.add_argument("--starts", help="ISO-8601 or epoch ms (default: now)")
    add.add_argument("--ends", help="ISO-8601 or epoch ms (or --duration)")
    add.add_argument("--duration", default="1h", help="e.g. 30m, 2h (default 1h; ignored with --ends)")
    add.add_argument("--comment", required=True, help="why (mandatory)")
    add.add_argument("--json", action="store_true")
    listing = desk_options(command("list", _silences, "list your agency's silences", silences), False)
    listing.add_argument("--state", help="pending,active,expired or all (default pending,active)")
    listing.add_argument("--json", action="store_true")
    expire = desk_options(command("expire", _silences, "end a silence now", silences), False)
    expire.add_argument("silence_id")
    expire.add_argument("--comment")
    expire.add_argument("--json", action="store_true")

    trail = desk_options(command("audit", _audit, "who read or did what (supervisors): the desk's audit trail"), False)
    trail.add_argument("--officer")
    trail.add_argument("--alert", help="AL-...")
    trail.add_argument("--what", help="comma-separated kinds, e.g. alert.read,alert.action")
    trail.add_argument("--since", help="ISO-8601 or epoch ms (default: 7 days ago)")
    trail.add_argument("--until")
    trail.add_argument("--limit", type=int)
    trail.add_argument("--json", action="store_true")

    simulate = command("simulate", _simulate, "drive the agency services with a realistic smuggling scenario")
    simulate.add_argument("--seed", type=int, default=7)
    simulate.add_argument("--rate", type=float, default=50.0, help="events per second")
    simulate.add_argument("--duration", type=float, default=30.0, help="seconds")
    simulate.add_argument("--via", choices=("library", "http"), default="library")
    simulate.add_argument("--base-url", default="http://127.0.0.1:{port}", help="with --via http")
    simulate.add_argument("--base-port", type=int, default=8100, help="with --via http: first agency's port")
    simulate.add_argument("--tokens", help="with --via http: file of '<agency> <client token>' lines (the demo writes one)")
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
    try:
        result: int = args.handler(args)
    except CredentialsError as error:
        print(f"borderbus: {error}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
