"""`borderbus publish FILE.jsonl`: all of a file or nothing, with line and field in errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_publish_and_read import SAMPLES

from borderbus.bus import Bus
from kafka_reading import end_offsets, read_all

pytestmark = pytest.mark.broker


def run_cli(bus: Bus, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bus.settings.bootstrap_servers,
        "BORDERBUS_TOPIC_PREFIX": bus.settings.topic_prefix,
    }
    return subprocess.run([sys.executable, "-m", "borderbus_cli", *args], env=env, capture_output=True, text=True, timeout=120)


def write_jsonl(path: Path, bodies: list[object]) -> Path:
    path.write_text("".join(json.dumps(b) + "\n" for b in bodies))
    return path


def test_publishes_a_file(bus: Bus, tmp_path: Path) -> None:
    body = SAMPLES[("iq-fiu", "finance-flag")]
    topic = bus.catalogue.ingest_topic("iq-fiu", "finance-flag")
    before = sum(end_offsets(bus.settings, topic).values())
    result = run_cli(
        bus, "publish", "--agency", "iq-fiu", "--type", "finance-flag", str(write_jsonl(tmp_path / "flags.jsonl", [body] * 25))
    )
    assert result.returncode == 0, result.stderr
    assert f"published 25 finance-flag event(s) to {topic}" in result.stdout
    assert len(read_all(bus.settings, topic, expect=before + 25)) >= 25


def test_a_bad_line_stops_the_whole_file(bus: Bus, tmp_path: Path) -> None:
    body = SAMPLES[("iq-fiu", "finance-flag")]
    path = tmp_path / "flags.jsonl"
    path.write_text(json.dumps(body) + "\n\n" + json.dumps({**body, "risk_score": 101}) + "\n" + json.dumps(body) + "\n")
    topic = bus.catalogue.ingest_topic("iq-fiu", "finance-flag")
    before = end_offsets(bus.settings, topic)
    result = run_cli(bus, "publish", "--agency", "iq-fiu", "--type", "finance-flag", str(path))
    assert result.returncode == 2
    assert f"{path}:3: risk_score: must be between 0 and 100" in result.stderr
    assert "nothing published" in result.stderr
    assert end_offsets(bus.settings, topic) == before


def test_invalid_json_line_is_named(bus: Bus, tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(SAMPLES[("iq-fiu", "finance-flag")]) + "\n{oops\n")
    result = run_cli(bus, "publish", "--agency", "iq-fiu", "--type", "finance-flag", str(path))
    assert result.returncode == 2
    assert f"{path}:2: line: is not valid JSON" in result.stderr
