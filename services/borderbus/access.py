"""Who may write and read what: the access policy, derived from the declared configuration alone.

``topics.yaml`` names each topic's ``writers:``/``readers:`` and each principal's consumer groups
and transactional ids; ``agencies.yaml`` says which agencies (and so which ``agency-<code>`` and
``consumer-<code>`` principals) exist; ``sharing.yaml`` lists the agreements that let one agency's
systems read another's raw events. This module turns them into :class:`Grant` s, the ACLs the broker
should hold, and nothing else grants access (``borderbus acls apply`` makes the cluster match, see
:mod:`borderbus.acls`). Pure: no Kafka here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from borderbus.catalogue import Catalogue, CatalogueError, read_yaml

TOPIC, GROUP, TRANSACTIONAL_ID = "topic", "group", "transactional_id"
LITERAL, PREFIXED = "literal", "prefixed"
READ, WRITE = "read", "write"
SHARING_FILE = "sharing.yaml"


@dataclass(frozen=True, order=True)
class Grant:
    """One ALLOW ACL: ``principal`` may ``operation`` on the resource (any host)."""

    principal: str
    resource_type: str  # topic | group | transactional_id
    pattern: str  # literal | prefixed
    name: str
    operation: str  # read | write

    def __str__(self) -> str:
        star = "*" if self.pattern == PREFIXED else ""
        return f"User:{self.principal:<20} {self.operation:<6} {self.resource_type:<16} {self.name}{star}"


@dataclass(frozen=True)
class Sharing:
    consumer: str  # agency code whose consumer-<code> gets to read
    reads: str  # agency code whose ingest topics are read
    event_types: tuple[str, ...]  # empty: every type that agency publishes


class AccessPolicy:
    """The grants of one namespace (``settings.topic_prefix``) of one catalogue."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.prefix = catalogue.prefix
        config_dir = catalogue.settings.config_dir
        self._topics_raw = read_yaml(config_dir / "topics.yaml")
        sharing_path = config_dir / SHARING_FILE
        self._sharing_raw = (read_yaml(sharing_path).get("sharing") or []) if sharing_path.exists() else []

    # --- principals ---------------------------------------------------------------------------------

    @cached_property
    def principals(self) -> list[str]:
        """Every principal the policy knows, super users included (each gets a password)."""
        names: list[str] = []
        for template in self._principals_raw:
            names += self._expand(template)
        return names

    @cached_property
    def super_users(self) -> list[str]:
        return [name for name, raw in self._principals_raw.items() if (raw or {}).get("super_user")]

    @property
    def _principals_raw(self) -> dict[str, dict[str, Any]]:
        raw: dict[str, dict[str, Any]] = self._topics_raw.get("principals") or {}
        return raw

    def _expand(self, role: str, agency: str | None = None) -> list[str]:
        """A role of topics.yaml as principal names: ``agency-{agency}`` for one agency, ``agency-*`` for all."""
        if "{agency}" in role:
            if agency is not None:
                return [role.format(agency=agency)]
            return [role.format(agency=code) for code in self.catalogue.agencies]
        if role.endswith("-*"):
            return [f"{role[:-1]}{code}" for code in self.catalogue.agencies]
        if role not in self._principals_raw:
            raise CatalogueError(f"topics.yaml names principal {role!r}, which `principals:` does not declare")
        return [role]

    # --- sharing ------------------------------------------------------------------------------------

    @cached_property
    def sharing(self) -> list[Sharing]:
        agreements = []
        for raw in self._sharing_raw:
            agreement = Sharing(str(raw["consumer"]), str(raw["reads"]), tuple(raw.get("event_types") or ()))
            for code in (agreement.consumer, agreement.reads):
                self.catalogue.agency(code)  # raises CatalogueError naming the known agencies
            unknown = set(agreement.event_types) - set(self.catalogue.agency(agreement.reads).publishes)
            if unknown:
                raise CatalogueError(f"{SHARING_FILE}: {agreement.reads} does not publish {sorted(unknown)}")
            agreements.append(agreement)
        return agreements

    # --- grants -------------------------------------------------------------------------------------

    @cached_property
    def grants(self) -> frozenset[Grant]:
        grants: set[Grant] = set()

        def topic(name: str, writers: list[str], readers: list[str], agency: str | None = None) -> None:
            for role in writers:
                grants.update(Grant(p, TOPIC, LITERAL, name, WRITE) for p in self._expand(role, agency))
            for role in readers:
                grants.update(Grant(p, TOPIC, LITERAL, name, READ) for p in self._expand(role, agency))

        ingest = self._topics_raw["ingest"]
        for agency in self.catalogue.agencies.values():
            for event_type in agency.publishes:
                topic(self.catalogue.ingest_topic(agency.code, event_type), ingest["writers"], ingest["readers"], agency.code)
        for agreement in self.sharing:
            types = agreement.event_types or self.catalogue.agency(agreement.reads).publishes
            for event_type in types:
                name = self.catalogue.ingest_topic(agreement.reads, event_type)
                grants.add(Grant(f"consumer-{agreement.consumer}", TOPIC, LITERAL, name, READ))
        agency_alerts = self._topics_raw["agency_alerts"]
        for code in self.catalogue.agencies:
            topic(self.catalogue.agency_alert_topic(code), agency_alerts["writers"], agency_alerts["readers"], code)

        for raw in self._topics_raw["topics"]:
            missing = [key for key in ("writers", "readers") if key not in raw]
            if missing:
                raise CatalogueError(
                    f"topics.yaml: topic {raw['name']!r} declares no {' and no '.join(missing)}: name the principals "
                    "(or [] for none) so `borderbus acls apply` can grant them; see `principals:`"
                )
            readers = raw.get("readers") or []
            topic(self.catalogue.topic(raw["name"]), raw.get("writers") or [], readers)
            for group in raw.get("reader_groups") or []:
                grants.update(
                    Grant(p, GROUP, PREFIXED, self.prefix + group, READ) for role in readers for p in self._expand(role)
                )

        for template, raw in self._principals_raw.items():
            raw = raw or {}
            for principal, owner in self._instances(template):
                for group in raw.get("groups") or []:
                    grants.add(Grant(principal, GROUP, PREFIXED, self.prefix + _fill(group, owner), READ))
                for transactional_id in raw.get("transactional_ids") or []:
                    grants.add(Grant(principal, TRANSACTIONAL_ID, PREFIXED, self.prefix + _fill(transactional_id, owner), WRITE))
        return frozenset(grants)

    def _instances(self, template: str) -> list[tuple[str, str | None]]:
        if "{agency}" in template:
            return [(template.format(agency=code), code) for code in self.catalogue.agencies]
        return [(template, None)]

    def grants_of(self, principal: str) -> list[Grant]:
        return sorted(grant for grant in self.grants if grant.principal == principal)

    def owns(self, resource_name: str) -> bool:
        """Whether an ACL on ``resource_name`` belongs to this namespace (so `acls apply` may remove it).

        The prefix alone would claim every other namespace's ACLs when it is empty (the demo's):
        the name must also continue with one of the roots this policy's own names start with.
        """
        if not resource_name.startswith(self.prefix):
            return False
        rest = resource_name[len(self.prefix) :]
        return any(rest.startswith(root) for root in self._roots)

    @cached_property
    def _roots(self) -> frozenset[str]:
        roots = set()
        for grant in self.grants:
            rest = grant.name[len(self.prefix) :]
            cut = min((i for i in (rest.find("."), rest.find("-")) if i >= 0), default=len(rest))
            roots.add(rest[: cut + 1])
        return frozenset(roots)


def _fill(template: str, agency: str | None) -> str:
    return template.format(agency=agency) if agency is not None else template
