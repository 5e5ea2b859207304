"""`borderbus simulate` drives the agency services through their public path into Kafka."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from borderbus.bus import Bus
from kafka_reading import read_all

pytestmark = pytest.mark.broker


def test_simulate_publishes_the_scenario_and_writes_ground_truth(fresh_bus: Bus, tmp_path: Path) -> None:
    bus = fresh_bus  # a namespace of its own, so exactly this run's events are counted
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
            "borderbus_cli",
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
    records = read_all(bus.settings, bus.catalogue.ingest_topics(), expect=401, timeout=10)
    assert len(records) == 400
    assert len({m.value() for m in records}) == 400
