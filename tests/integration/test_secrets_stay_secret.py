"""Services started with known passwords never show them: not in their logs, not in /metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from test_publish_and_read import SAMPLES

from agency_clients import write_clients
from borderbus.bus import Bus
from service_process import IDENTITY_VARIABLES, ServiceProcess

pytestmark = pytest.mark.broker


def passwords(bus: Bus, *principals: str) -> dict[str, str]:
    """The passwords the services will use (their files in the credentials folder), all known here."""
    assert bus.settings.credentials_dir is not None
    known = {name: (bus.settings.credentials_dir / name).read_text().strip() for name in principals}
    assert all(len(password) >= 16 for password in known.values())
    return known


def test_no_password_in_logs_or_metrics(fresh_bus: Bus, tmp_path: Path) -> None:
    known = passwords(fresh_bus, "agency-uk-bf", "correlator", "desk-reader", "desk-router", "desk-actions", "admin")
    correlator = ServiceProcess(
        fresh_bus, tmp_path, "correlator", ["-v", "correlator", "run"], port_option="--web-port"
    ).start()
    clients = tmp_path / "agency-clients.yaml"
    token = write_clients(clients, {"anpr": ("uk-bf", "publish")})["anpr"]
    agency = ServiceProcess(
        fresh_bus, tmp_path, "agency", ["-v", "agency", "serve", "--agency", "uk-bf", "--clients", str(clients)]
    ).start()
    desk = ServiceProcess(fresh_bus, tmp_path, "desk", ["-v", "desk", "serve", "--instance-id", "secrets"], ready_path="/readyz")
    desk.start()
    try:
        body = json.dumps(SAMPLES[("uk-bf", "sighting")]).encode()
        request = urllib.request.Request(
            agency.url + "/v1/events/sighting",
            data=body,
            method="POST",
            headers={"content-type": "application/json", "Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 202  # it really authenticated and published as agency-uk-bf
        exposed = {
            "agency /metrics": agency.metrics(),
            "desk /metrics": desk.metrics(),
            "correlator /metrics": correlator.metrics(),
        }
    finally:
        for service in (agency, desk, correlator):
            service.stop()
    exposed |= {f"{s.log_path.name} log": s.log_path.read_text() for s in (agency, desk, correlator)}

    # A wrong password makes an error message: it must not echo the password it was given.
    wrong = "WrongPassword-0123456789abcdef"
    env = {key: value for key, value in os.environ.items() if key not in IDENTITY_VARIABLES}
    env |= {
        "KAFKA_BOOTSTRAP_SERVERS": fresh_bus.settings.bootstrap_servers,
        "BORDERBUS_TOPIC_PREFIX": fresh_bus.settings.topic_prefix,
        "KAFKA_SASL_USERNAME": "agency-uk-bf",
        "KAFKA_SASL_PASSWORD": wrong,
    }
    jsonl = tmp_path / "one.jsonl"
    jsonl.write_text(json.dumps(SAMPLES[("uk-bf", "sighting")]) + "\n")
    refused = subprocess.run(
        [sys.executable, "-m", "borderbus_cli", "-v", "publish", "--agency", "uk-bf", "--type", "sighting", str(jsonl)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode != 0
    exposed["refused publish output"] = refused.stdout + refused.stderr
    known["wrong"] = wrong
    known["ingest token"] = token

    leaks = [(where, name) for where, text in exposed.items() for name, password in known.items() if password in text]
    assert not leaks, f"passwords shown: {leaks}"
    assert sum(len(text) for text in exposed.values()) > 10_000, "the services did log and serve metrics"
