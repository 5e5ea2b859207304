"""`borderbus simulate` drives the agency services through their public path into Kafka."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from borderbus.bus import Bus
from borderbus.topics import apply_topics
from kafka_reading import read_all

pytestmark = pytest.mark.broker


def test_simulate_publishes_the_scenario_and_writes_ground_truth(bus: Bus, tmp_path: Path) -> None:
    settings = dataclasses.replace(bus.settings, topic_prefix=f"sim-{uuid.uuid4().hex[:6]}.")
    bus = Bus.from_settings(settings)  # a namespace of its own, so exactly this run's events are counted
    apply_topics(AdminClient(settings.kafka_client_config()), bus.catalogue.topic_specs())
    truth_path = tmp_path / "truth.json"
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bus.settings.bootstrap_servers,
        "BORDERBUS_TOPIC_PREFIX": bus.settings.topic_prefix,
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "borderbus.cli",
            "simulate",
            "--seed",
            "5",
            "--rate",
            "200",
            "--duration",
            "2",
            "--ground-truth",
            str(truth_path),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "400 of 400 events accepted" in result.stdout
    truth = json.loads(truth_path.read_text())
    assert truth["seed"] == 5 and truth["expected_alerts"]
    records = read_all(settings, bus.catalogue.ingest_topics(), expect=401, timeout=10)
    assert len(records) == 400
    assert len({m.value() for m in records}) == 400
