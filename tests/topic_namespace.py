"""Topic namespaces for tests: one broker, a prefix per test, so each test's topics hold only its own records."""

from __future__ import annotations

import dataclasses
import uuid

from confluent_kafka.admin import AdminClient

from borderbus.bus import Bus
from borderbus.topics import apply_topics


def own_topics(bus: Bus, label: str) -> Bus:
    """``bus`` under the prefix ``<label>-<random>.`` with the whole catalogue applied."""
    settings = dataclasses.replace(bus.settings, topic_prefix=f"{label}-{uuid.uuid4().hex[:8]}.")
    namespaced = Bus.from_settings(settings)
    apply_topics(AdminClient(settings.kafka_client_config()), namespaced.catalogue.topic_specs())
    return namespaced
