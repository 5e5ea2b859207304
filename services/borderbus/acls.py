"""Make the cluster's ACLs and SCRAM users match the access policy (:mod:`borderbus.access`).

Idempotent, and says what it changed. ACLs of this namespace that the policy no longer declares are
removed, so revoking is editing the YAML and applying again; ACLs of other namespaces (another topic
prefix on the same cluster) are left alone.
"""

from __future__ import annotations

import fcntl
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from borderbus.access import GROUP, LITERAL, PREFIXED, READ, TOPIC, TRANSACTIONAL_ID, WRITE, AccessPolicy, Grant

TIMEOUT_SECONDS = 30.0
SCRAM_ITERATIONS = 8192
CLUSTER_USERS = ("broker", "controller")
"""The cluster's own principals (made at format time, never touched here)."""

_RESOURCE = {TOPIC: ResourceType.TOPIC, GROUP: ResourceType.GROUP, TRANSACTIONAL_ID: ResourceType.TRANSACTIONAL_ID}
_PATTERN = {LITERAL: ResourcePatternType.LITERAL, PREFIXED: ResourcePatternType.PREFIXED}
_OPERATION = {READ: AclOperation.READ, WRITE: AclOperation.WRITE}


@dataclass(frozen=True)
class AclChange:
    action: str  # added | removed
    grant: Grant | None
    binding: AclBinding

    def __str__(self) -> str:
        return f"{self.action:<8} {self.grant if self.grant else _describe(self.binding)}"


def _binding(grant: Grant) -> AclBinding:
    return AclBinding(
        _RESOURCE[grant.resource_type],
        grant.name,
        _PATTERN[grant.pattern],
        f"User:{grant.principal}",
        "*",
        _OPERATION[grant.operation],
        AclPermissionType.ALLOW,
    )


def _grant(binding: Any) -> Grant | None:
    """The policy's view of a cluster ACL, None for one it could never have written (e.g. DENY, a host)."""
    resource = {v: k for k, v in _RESOURCE.items()}.get(binding.restype)
    pattern = {v: k for k, v in _PATTERN.items()}.get(binding.resource_pattern_type)
    operation = {v: k for k, v in _OPERATION.items()}.get(binding.operation)
    if None in (resource, pattern, operation) or binding.permission_type != AclPermissionType.ALLOW or binding.host != "*":
        return None
    if not binding.principal.startswith("User:"):
        return None
    return Grant(binding.principal[len("User:") :], str(resource), str(pattern), binding.name, str(operation))


def _describe(binding: Any) -> str:
    return (
        f"{binding.principal} {binding.permission_type.name} {binding.operation.name} "
        f"{binding.restype.name} {binding.resource_pattern_type.name} {binding.name} host={binding.host}"
    )


def cluster_acls(admin: AdminClient) -> list[AclBinding]:
    anything: Any = None
    everything = AclBindingFilter(
        ResourceType.ANY, anything, ResourcePatternType.ANY, anything, anything, AclOperation.ANY, AclPermissionType.ANY
    )
    result: list[AclBinding] = admin.describe_acls(everything, request_timeout=TIMEOUT_SECONDS).result()
    return result


def apply_acls(admin: AdminClient, policy: AccessPolicy, *, dry_run: bool = False) -> list[AclChange]:
    """Create the policy's missing ACLs and delete this namespace's undeclared ones. Empty list = nothing to do."""
    wanted = policy.grants
    existing = [binding for binding in cluster_acls(admin) if policy.owns(binding.name)]
    present = {_grant(binding) for binding in existing}
    changes = [AclChange("added", grant, _binding(grant)) for grant in sorted(wanted - present)]
    changes += [AclChange("removed", _grant(binding), binding) for binding in existing if _grant(binding) not in wanted]
    if dry_run:
        return changes
    added = [change.binding for change in changes if change.action == "added"]
    if added:
        for future in admin.create_acls(added, request_timeout=TIMEOUT_SECONDS).values():
            future.result()
    removed = [change.binding for change in changes if change.action == "removed"]
    if removed:
        filters = [
            AclBindingFilter(b.restype, b.name, b.resource_pattern_type, b.principal, b.host, b.operation, b.permission_type)
            for b in removed
        ]
        for future in admin.delete_acls(filters, request_timeout=TIMEOUT_SECONDS).values():
            future.result()
    if changes:
        wait_until_enforced(admin, policy)
    return changes


def wait_until_enforced(admin: AdminClient, policy: AccessPolicy, timeout: float = TIMEOUT_SECONDS) -> None:
    """Until the broker answers with exactly the policy's grants for this namespace.

    CreateAcls and DeleteAcls return once the controller committed the change; a broker enforces it only
    after reading it back from the metadata log, a moment later, and longer on a busy machine: a service
    started right after ``apply_acls`` was refused TOPIC_AUTHORIZATION_FAILED in a full test run. The
    broker answers DescribeAcls from the same authorizer that checks requests, so its answer is what it
    enforces.
    """
    deadline = time.monotonic() + timeout
    while True:
        present = {_grant(binding) for binding in cluster_acls(admin) if policy.owns(binding.name)}
        if present == policy.grants:
            return
        if time.monotonic() > deadline:
            missing, extra = len(policy.grants - present), len(present - policy.grants)
            raise TimeoutError(f"the broker still enforces {missing} grant(s) too few and {extra} too many after {timeout:.0f} s")
        time.sleep(0.1)


# --- SCRAM users ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserChange:
    user: str
    action: str  # created | rotated | set | removed

    def __str__(self) -> str:
        return f"{self.action:<8} User:{self.user}"


def new_password() -> str:
    return secrets.token_urlsafe(32)


def write_secret(path: Path, value: str) -> None:
    """A password file only its owner can read, in a folder only its owner can list."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.touch(mode=0o600)
    tmp.chmod(0o600)
    tmp.write_text(value, encoding="utf-8")
    tmp.replace(path)


def apply_users(
    admin: AdminClient, policy: AccessPolicy, credentials_dir: Path, *, rotate: frozenset[str] = frozenset(), prune: bool = False
) -> list[UserChange]:
    """Give every declared principal a SCRAM-SHA-512 credential from ``<credentials_dir>/<name>``.

    A missing file gets a new random password first; a principal in ``rotate`` gets a new one
    (the file changes only after the broker took it). The admin's own credential was made when the
    storage was formatted and is rotated only on request. With ``prune``, users nothing declares
    are removed (never the cluster's own). Holds the folder's lock (as kafka.sh does), so two
    concurrent first runs cannot leave the broker with one password and the file with another.
    """
    credentials_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        lock = (credentials_dir / ".lock").open("a")
    except OSError:  # a read-only mount of existing Secrets (Kubernetes): nothing is written, nothing to race
        return _apply_users(admin, policy, credentials_dir, rotate=rotate, prune=prune)
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _apply_users(admin, policy, credentials_dir, rotate=rotate, prune=prune)


def _apply_users(
    admin: AdminClient, policy: AccessPolicy, credentials_dir: Path, *, rotate: frozenset[str] = frozenset(), prune: bool = False
) -> list[UserChange]:
    """The work of :func:`apply_users`, under its lock."""
    existing = _scram_users(admin)
    changes: list[UserChange] = []
    upserts: list[tuple[str, str, str]] = []
    for name in policy.principals:
        path = credentials_dir / name
        if name in rotate or not path.exists():
            upserts.append((name, new_password(), "rotated" if name in existing else "created"))
        elif name not in policy.super_users or name not in existing:
            upserts.append((name, path.read_text(encoding="utf-8").strip(), "set" if name in existing else "created"))
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
    if upserts:
        alterations = [UserScramCredentialUpsertion(name, info, password.encode()) for name, password, _ in upserts]
        futures = admin.alter_user_scram_credentials(
            alterations,  # type: ignore[arg-type]
            request_timeout=TIMEOUT_SECONDS,
        )
        for (name, password, action), future in zip(upserts, futures.values(), strict=True):
            future.result()
            if action == "rotated" or not (credentials_dir / name).exists():
                write_secret(credentials_dir / name, password)
            changes.append(UserChange(name, action))
    undeclared = sorted(existing - set(policy.principals) - set(CLUSTER_USERS))
    if prune and undeclared:
        deletions = [UserScramCredentialDeletion(name, ScramMechanism.SCRAM_SHA_512) for name in undeclared]
        for future in admin.alter_user_scram_credentials(
            deletions,  # type: ignore[arg-type]
            request_timeout=TIMEOUT_SECONDS,
        ).values():
            future.result()
        changes += [UserChange(name, "removed") for name in undeclared]
    return changes


def _scram_users(admin: AdminClient) -> set[str]:
    try:
        described = admin.describe_user_scram_credentials(request_timeout=TIMEOUT_SECONDS).result()  # type: ignore[union-attr]
    except KafkaException:
        return set()
    return {name for name, description in described.items() if description.scram_credential_infos}
