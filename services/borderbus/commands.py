"""The shared library's own subcommands (topics, acls, users, schemas) and the helpers every service's
subcommands are built with.

The library sits below the services, so it registers only what it implements itself; each service
package registers its own subcommands and ``borderbus_cli`` composes them into the ``borderbus`` command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeAlias

from borderbus.bus import Bus
from borderbus.config import Settings

ADMIN = "admin"

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""Where subcommands are added: ``borderbus``'s own, or a command group's such as ``agency``."""

Handler: TypeAlias = Callable[[argparse.Namespace], int]


def add_command(parent: Commands, name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
    """A subcommand whose help line and ``--help`` description are one text, run by ``handler``."""
    sub = parent.add_parser(name, help=help_text, description=help_text)
    sub.set_defaults(handler=handler)
    return sub


def bus_as(principal: str) -> Bus:
    """The bus as ``principal``, unless the environment (BORDERBUS_PRINCIPAL, KAFKA_SASL_USERNAME) chose one."""
    return Bus.from_settings(Settings.from_env().with_default_principal(principal))


def _topics_apply(args: argparse.Namespace) -> int:
    from confluent_kafka.admin import AdminClient

    from borderbus.topics import apply_topics

    bus = bus_as(ADMIN)
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

    bus = bus_as(ADMIN)
    policy = AccessPolicy(bus.catalogue)
    changes = apply_acls(AdminClient(bus.settings.kafka_client_config()), policy, dry_run=args.dry_run)
    for change in changes:
        print(change)
    verb = "would change" if args.dry_run else "change(s)"
    print(f"{len(policy.grants)} ACLs declared, {len(changes)} {verb}" + ("" if changes else ": cluster already matches"))
    return 0


def _acls_show(args: argparse.Namespace) -> int:
    from borderbus.access import AccessPolicy

    policy = AccessPolicy(bus_as(ADMIN).catalogue)
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

    bus = bus_as(ADMIN)
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


def register(commands: Commands) -> None:
    """Adds the commands whose code is the library's own: topics, acls, users and schemas."""
    topics = commands.add_parser("topics", help="the topic catalogue").add_subparsers(dest="action", required=True)
    add_command(topics, "apply", _topics_apply, "create or update the cluster's topics to match the catalogue")
    add_command(topics, "list", _topics_list, "print every declared topic")

    acls = commands.add_parser("acls", help="who may write and read what").add_subparsers(dest="action", required=True)
    acls_apply = add_command(
        acls, "apply", _acls_apply, "make the cluster's ACLs match topics.yaml + sharing.yaml; says what changed"
    )
    acls_apply.add_argument("--dry-run", action="store_true", help="only print what would change")
    acls_show = add_command(acls, "show", _acls_show, "print the declared matrix: principal, operation, resource")
    acls_show.add_argument("--principal", help="only this principal")

    users = commands.add_parser("users", help="Kafka principals (SASL/SCRAM users)").add_subparsers(dest="action", required=True)
    users_apply = add_command(
        users, "apply", _users_apply, "create every declared principal's SCRAM credential (password files made on first use)"
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
        add_command(schemas, name, handler, text).add_argument("--dir", help="schema directory (default: schemas/avro)")
