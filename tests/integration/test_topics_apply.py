"""`borderbus topics apply` against the real broker: creates, converges, then changes nothing."""

from __future__ import annotations

import dataclasses
import time
import uuid

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from borderbus.bus import Bus
from borderbus.topics import apply_topics

pytestmark = pytest.mark.broker


def test_apply_twice_changes_nothing_the_second_time(bus: Bus) -> None:
    settings = dataclasses.replace(bus.settings, topic_prefix=f"apply-{uuid.uuid4().hex[:6]}.")
    fresh = Bus.from_settings(settings)
    admin = AdminClient(settings.kafka_client_config())
    specs = fresh.catalogue.topic_specs()

    first = apply_topics(admin, specs)
    assert sorted(change.topic for change in first) == sorted(spec.name for spec in specs)
    assert {change.action for change in first} == {"created"}
    assert apply_topics(admin, specs) == []

    schema_topic = fresh.catalogue.topic("borderbus.schemas")
    resource = ConfigResource(ConfigResource.Type.TOPIC, schema_topic)
    configs = admin.describe_configs([resource])[resource].result()
    assert configs["cleanup.policy"].value == "compact"
    assert configs["min.insync.replicas"].value == "1"


def test_apply_repairs_drift(bus: Bus) -> None:
    settings = dataclasses.replace(bus.settings, topic_prefix=f"drift-{uuid.uuid4().hex[:6]}.")
    fresh = Bus.from_settings(settings)
    admin = AdminClient(settings.kafka_client_config())
    specs = fresh.catalogue.topic_specs()
    apply_topics(admin, specs)

    alerts = fresh.catalogue.topic("alerts.shared")
    drifted = [
        dataclasses.replace(spec, config={**spec.config, "retention.ms": "1000"}) if spec.name == alerts else spec
        for spec in specs
    ]
    apply_topics(admin, drifted)
    resource = ConfigResource(ConfigResource.Type.TOPIC, alerts)
    deadline = time.monotonic() + 10  # the broker applies config changes from its metadata log shortly after
    while admin.describe_configs([resource])[resource].result()["retention.ms"].value != "1000":
        assert time.monotonic() < deadline, "the drift never took effect"
        time.sleep(0.1)

    changes = apply_topics(admin, specs)
    assert [(c.topic, c.action) for c in changes] == [(alerts, "altered")]
    assert "retention.ms 1000 -> 7776000000" in changes[0].detail
    assert apply_topics(admin, specs) == []


def test_production_profile_declares_three_replicas(offline_bus: Bus) -> None:
    production = Bus.from_settings(dataclasses.replace(offline_bus.settings, cluster_profile="production"))
    for spec in production.catalogue.topic_specs():
        assert spec.replication_factor == 3
        assert spec.config["min.insync.replicas"] == "2"
