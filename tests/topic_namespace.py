"""Topic namespaces for tests: one broker, a prefix per test, so each test's topics hold only its own records.

A namespace is its topics and its ACLs: the services a test starts run as their own principals, and
their rights are granted on the namespace's names (``<prefix>ingest...``, ``<prefix>borderbus-...``).
"""

from __future__ import annotations

import dataclasses
import uuid

from confluent_kafka.admin import AdminClient

from borderbus.access import AccessPolicy
from borderbus.acls import apply_acls
from borderbus.bus import Bus
from borderbus.topics import apply_topics


def apply_namespace(bus: Bus) -> None:
    """The catalogue's topics and the policy's ACLs for ``bus``'s prefix (as admin)."""
    admin = AdminClient(bus.settings.kafka_client_config())
    apply_topics(admin, bus.catalogue.topic_specs())
    apply_acls(admin, AccessPolicy(bus.catalogue))


def own_topics(bus: Bus, label: str) -> Bus:
    """``bus`` under the prefix ``<label>-<random>.`` with the whole catalogue and its ACLs applied."""
    settings = dataclasses.replace(bus.settings, topic_prefix=f"{label}-{uuid.uuid4().hex[:8]}.")
    namespaced = Bus.from_settings(settings)
    apply_namespace(namespaced)
    return namespaced


def drop_namespace(bus: Bus) -> None:
    """Delete ``bus``'s prefixed topics: benchmarks make a namespace per run on the developer's broker, whose
    heap (512 MB) ran out at 13,900 partitions after a day of runs that left theirs behind."""
    admin = AdminClient(bus.settings.kafka_client_config())
    ours = [t for t in admin.list_topics(timeout=10).topics if t.startswith(bus.settings.topic_prefix)]
    if ours:
        for future in admin.delete_topics(ours, operation_timeout=30).values():
            future.result()
