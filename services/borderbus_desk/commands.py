"""The duty desk's subcommands: ``borderbus desk`` (serve, token) and the desk's clients ``borderbus alerts``,
``borderbus silences`` and ``borderbus audit``.

The desk's modules are imported by the handlers, so building the parser stays cheap for every other command.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from borderbus.bus import Bus
from borderbus.commands import Commands, add_command
from borderbus.markings import SEVERITIES

if TYPE_CHECKING:
    from borderbus_desk.client import DeskClient


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


def _desk_client(args: argparse.Namespace) -> DeskClient:
    import os

    from borderbus_desk.client import DEFAULT_DESK_URL, DeskClient

    return DeskClient(
        args.desk or os.environ.get("BORDERBUS_DESK_URL", DEFAULT_DESK_URL), args.token or os.environ.get("BORDERBUS_TOKEN", "")
    )


def _filters(args: argparse.Namespace) -> dict[str, str]:
    names = ("min_severity", "status", "rule", "border_point", "subject", "since", "until")
    return {name: str(getattr(args, name)) for name in names if getattr(args, name, None)}


def _alerts_tail(args: argparse.Namespace) -> int:
    from borderbus_desk.client import DeskClientError, tail

    try:
        client = _desk_client(args)
        return tail(client, _filters(args), as_json=args.json)
    except DeskClientError as error:
        print(error, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


def _alerts_list(args: argparse.Namespace) -> int:

    from borderbus_desk.client import DeskClientError, alert_change_line

    try:
        client = _desk_client(args)
        alerts = client.list(_filters(args))
    except DeskClientError as error:
        print(error, file=sys.stderr)
        return 2
    _print_all(alerts, as_json=args.json, line=alert_change_line)
    return 0


def _alerts_act(args: argparse.Namespace) -> int:
    from borderbus_desk.client import DeskClientError, alert_change_line

    try:
        client = _desk_client(args)
        result = client.act(args.alert_id, args.action, args.note)
    except DeskClientError as error:
        print(error, file=sys.stderr)
        return 2
    print(alert_change_line(result) if "alert_id" in result else result.get("message", result))
    return 0


def _silences(args: argparse.Namespace) -> int:

    from borderbus_desk.client import DeskClientError, silence_line

    try:
        client = _desk_client(args)
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
    _print_all(views, as_json=args.json, line=silence_line)
    return 0


def _print_all(items: Iterable[dict[str, Any]], *, as_json: bool, line: Callable[[dict[str, Any]], str]) -> None:
    """One line per item: compact JSON with ``--json``, else the client's human line."""
    import json

    for item in items:
        print(json.dumps(item, separators=(",", ":")) if as_json else line(item))


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

    from borderbus_desk.client import DeskClientError, audit_line

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
        entries = client.audit(query)
    except DeskClientError as error:
        print(error, file=sys.stderr)
        return 2
    _print_all(entries, as_json=args.json, line=audit_line)
    return 0


def register(commands: Commands) -> None:
    """Adds the ``desk`` group (serve, token) and the desk's clients: ``alerts``, ``silences``, ``audit``."""
    desk = commands.add_parser("desk", help="the duty desk").add_subparsers(dest="action", required=True)
    desk_serve = add_command(desk, "serve", _desk_serve, "serve the duty desk: alert API, live stream, console, escalation")
    desk_serve.add_argument("--host", default="127.0.0.1")
    desk_serve.add_argument("--port", type=int, default=8300)
    desk_serve.add_argument("--officers", help="officers file (default: $BORDERBUS_OFFICERS_FILE or ops/config/officers.yaml)")
    desk_serve.add_argument("--config", help="desk settings (default: ops/config/desk.yaml)")
    desk_serve.add_argument("--instance-id", help="stable per desk, fences its predecessor's router (default: host-port)")
    desk_serve.add_argument("--no-router", action="store_true", help="do not fill the per-agency alert topics")
    token = add_command(desk, "token", _desk_token, "make an officer token; prints the officers-file entry (only the hash)")
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

    desk_options(add_command(alerts, "tail", _alerts_tail, "follow alert changes live, one line each"), True)
    desk_options(add_command(alerts, "list", _alerts_list, "list the alerts you may see"), True)
    for name, action in (
        ("ack", "ACKNOWLEDGE"),
        ("escalate", "ESCALATE"),
        ("resolve", "RESOLVE"),
        ("false-positive", "FALSE_POSITIVE"),
    ):
        act = desk_options(add_command(alerts, name, _alerts_act, f"{action.lower().replace('_', ' ')} an alert"), False)
        act.set_defaults(action=action)
        act.add_argument("alert_id")
        act.add_argument("--note")

    silences = commands.add_parser("silences", help="silences through the duty desk").add_subparsers(dest="action", required=True)
    add_help = "silence matching alerts for a while (roles silence or supervisor)"
    add = desk_options(add_command(silences, "add", _silences, add_help), False)
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
    listing = desk_options(add_command(silences, "list", _silences, "list your agency's silences"), False)
    listing.add_argument("--state", help="pending,active,expired or all (default pending,active)")
    listing.add_argument("--json", action="store_true")
    expire = desk_options(add_command(silences, "expire", _silences, "end a silence now"), False)
    expire.add_argument("silence_id")
    expire.add_argument("--comment")
    expire.add_argument("--json", action="store_true")

    trail_help = "who read or did what (supervisors): the desk's audit trail"
    trail = desk_options(add_command(commands, "audit", _audit, trail_help), False)
    trail.add_argument("--officer")
    trail.add_argument("--alert", help="AL-...")
    trail.add_argument("--what", help="comma-separated kinds, e.g. alert.read,alert.action")
    trail.add_argument("--since", help="ISO-8601 or epoch ms (default: 7 days ago)")
    trail.add_argument("--until")
    trail.add_argument("--limit", type=int)
    trail.add_argument("--json", action="store_true")
