"""With its broker gone, the agency answers 503 and nothing of the request ever becomes visible."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from test_publish_and_read import SAMPLES

from borderbus.access import AccessPolicy
from borderbus.acls import apply_users
from borderbus.bus import Bus
from borderbus_agency.http_api import build_app
from borderbus_agency.publisher import AgencyPublisher
from http_server import request, serve_in_thread
from kafka_reading import read_all
from local_kafka import LocalKafkaBroker, free_base_port
from topic_namespace import apply_namespace

pytestmark = pytest.mark.broker


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalKafkaBroker]:
    """A second, throwaway broker this test may stop without disturbing the others."""
    broker = LocalKafkaBroker(tmp_path / "kafka", free_base_port())
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def test_publish_is_not_acknowledged_while_the_broker_is_down(bus: Bus, own_broker: LocalKafkaBroker) -> None:
    settings = dataclasses.replace(bus.settings, bootstrap_servers=own_broker.bootstrap)
    own_bus = Bus.from_settings(settings)
    assert settings.credentials_dir is not None
    apply_users(AdminClient(settings.kafka_client_config()), AccessPolicy(own_bus.catalogue), settings.credentials_dir)
    apply_namespace(own_bus)
    publisher = AgencyPublisher(own_bus.as_principal("agency-uk-bf"), "uk-bf", instance_id="down-test", timeout=5.0)
    body = SAMPLES[("uk-bf", "sighting")]
    with serve_in_thread(build_app(publisher)) as url:
        status, first = request("POST", f"{url}/v1/events/sighting", [body])
        assert status == 202, first

        own_broker.stop()
        status, answer = request("POST", f"{url}/v1/events/sighting", [body, body, body])
        assert status == 503, answer
        assert answer["error"] == "broker_unavailable"
        assert request("GET", f"{url}/readyz")[0] == 503

        own_broker.start()
        status, after = request("POST", f"{url}/v1/events/sighting", [body])
        assert status == 202, after
    topic = own_bus.catalogue.ingest_topic("uk-bf", "sighting")
    visible = read_all(settings, topic, expect=3, timeout=10)
    assert len(visible) == 2  # the first and the last request; the refused batch is nowhere
