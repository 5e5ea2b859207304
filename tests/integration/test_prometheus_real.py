"""A real Prometheus scraping the real bus: broker exporter, agency service, correlator and duty desk.

Known traffic goes in (valid and invalid events over HTTP, and two sightings that make one implausible-
movement alert); the figures must come back out of Prometheus's HTTP API, through the repo's own rules.
The broker's metrics come from the JMX exporter agent that ``ops/kafka/kafka.sh up`` attaches on
KAFKA_METRICS_PORT (default: the client port + 312, i.e. 9404 for 9092).
"""

from __future__ import annotations

import random
import string
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agency_clients import write_clients
from borderbus.bus import Bus
from borderbus_demo.prometheus import PrometheusProcess
from correlator_worker import CorrelatorWorker, latest_versions, wait_for_quiet_alerts
from http_server import request
from local_kafka import broker_metrics_address
from service_process import ServiceProcess

pytestmark = pytest.mark.broker

AGENCY = "uk-bf"


@pytest.fixture
def broker_exporter(kafka_bootstrap: str) -> str:
    address = broker_metrics_address(kafka_bootstrap)
    body, problem = "", None
    try:
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
            body = response.read().decode()
    except OSError as error:
        problem = error
    if problem is not None:
        pytest.fail(
            f"broker exporter not reachable at http://{address}/metrics ({problem}): restart the broker "
            "(make kafka-down kafka-up) so kafka.sh attaches the agent, or set KAFKA_METRICS_PORT",
            pytrace=False,
        )
    assert "kafka_server_brokertopicmetrics_messagesin_total" in body, f"{address} answers but is not the broker's exporter"
    return address


@pytest.fixture
def started(tmp_path: Path) -> Iterator[Callable[[Any], Any]]:
    """Start something with start()/stop(); everything started is stopped at the end, last first."""
    running: list[Any] = []

    def start(service: Any) -> Any:
        running.append(service)
        return service.start()

    yield start
    for service in reversed(running):
        service.stop()


def _plate() -> str:
    letters = "".join(random.choices(string.ascii_uppercase, k=5))
    return f"{letters[:2]}{random.randint(10, 99)} {letters[2:]}"


def _sighting(plate: str, border_point: str, occurred_at_ms: int) -> dict[str, Any]:
    return {
        "source_system": "anpr-prometheus-test",
        "occurred_at": occurred_at_ms,
        "tlp": "GREEN",
        "subjects": [{"kind": "VEHICLE_PLATE", "id": plate, "country": "GB"}],
        "location": {"border_point": border_point, "country": "GB"},
        "method": "ANPR_CAMERA",
        "confidence": 0.9,
    }


def wait_for(prometheus: PrometheusProcess, promql: str, accept: Callable[[float | None], bool], timeout: float = 60.0) -> float:
    """Poll a one-sample query until ``accept`` likes its value (scrapes and rule evaluations lag the traffic)."""
    deadline = time.monotonic() + timeout
    value = prometheus.scalar(promql)
    while not accept(value):
        if time.monotonic() >= deadline:
            raise AssertionError(f"{promql} = {value} after {timeout:.0f} s")
        time.sleep(0.5)
        value = prometheus.scalar(promql)
    assert value is not None
    return value


def test_prometheus_sees_the_traffic_we_caused(
    fresh_bus: Bus, broker_exporter: str, started: Callable[[Any], Any], tmp_path: Path
) -> None:
    token = write_clients(tmp_path / "agency-clients.yaml", {"sensor": (AGENCY, "publish")})["sensor"]
    clients_env = {"BORDERBUS_AGENCY_CLIENTS_FILE": str(tmp_path / "agency-clients.yaml")}
    agency = started(ServiceProcess(fresh_bus, tmp_path, "agency", ["agency", "serve", "--agency", AGENCY], env=clients_env))
    correlator = started(CorrelatorWorker(fresh_bus, tmp_path, "correlator"))
    desk = started(ServiceProcess(fresh_bus, tmp_path, "desk", ["desk", "serve", "--instance-id", "prometheus-test"]))
    prometheus: PrometheusProcess = started(
        PrometheusProcess(
            {
                "borderbus-broker": [broker_exporter],
                "borderbus-agency": [agency.address],
                "borderbus-correlator": [correlator.address],
                "borderbus-desk": [desk.address],
            },
            tmp_path / "prometheus",
            scrape_interval=1.0,
        )
    )
    targets = prometheus.wait_for_targets_up(timeout=60)
    assert sorted(t["labels"]["job"] for t in targets) == [
        "borderbus-agency",
        "borderbus-broker",
        "borderbus-correlator",
        "borderbus-desk",
    ]
    assert wait_for(prometheus, 'min(up{job=~"borderbus.*"})', lambda v: v == 1) == 1
    messages_in_before = wait_for(prometheus, "sum(kafka_server_brokertopicmetrics_messagesin_total)", lambda v: v is not None)

    # Known traffic: 3 ordinary sightings + 2 that are 120 km apart 5 minutes apart (implausible movement),
    # and 4 refused requests of one event each.
    now_ms = int(time.time() * 1000)
    url = f"http://{agency.address}/v1/events/sighting"
    ordinary = [_sighting(_plate(), "GB-DOV", now_ms - 60_000) for _ in range(3)]
    plate = _plate()
    planted = [_sighting(plate, "GB-DOV", now_ms - 600_000), _sighting(plate, "GB-LHR", now_ms - 300_000)]
    for batch in (ordinary, planted):
        status, answer = request("POST", url, batch, token=token)
        assert status == 202, answer
    valid = len(ordinary) + len(planted)
    bad_phone = {**ordinary[0], "subjects": [{"kind": "PHONE", "id": "555", "country": "GB"}]}
    refused = [
        request("POST", url, raw=b"{not json", token=token),
        request("POST", url, [{**ordinary[0], "method": None}], token=token),
        request("POST", url, [{k: v for k, v in ordinary[0].items() if k != "tlp"}], token=token),
        request("POST", url, [bad_phone], token=token),
    ]
    assert [status for status, _ in refused] == [400, 422, 422, 422], refused
    invalid = len(refused)

    versions = wait_for_quiet_alerts(fresh_bus, settle=5.0, timeout=120.0, minimum=1)
    assert {v.rule for v in versions} == {"implausible_movement"}, versions
    alerts = latest_versions(versions)

    selector = f'agency="{AGENCY}"'
    accepted = wait_for(prometheus, f"sum(borderbus_agency_events_accepted_total{{{selector}}})", lambda v: v == valid)
    rejected = wait_for(prometheus, f"sum(borderbus_agency_events_rejected_total{{{selector}}})", lambda v: v == invalid)
    emitted = wait_for(prometheus, "sum(borderbus_correlator_alert_versions_emitted_total)", lambda v: v == len(versions))
    latency_count = wait_for(
        prometheus, "sum(borderbus_correlator_event_to_alert_latency_seconds_count)", lambda v: v == len(versions)
    )
    consumed = wait_for(prometheus, f"sum(borderbus_correlator_events_consumed_total{{{selector}}})", lambda v: v == valid)
    messages_in = wait_for(
        prometheus,
        "sum(kafka_server_brokertopicmetrics_messagesin_total)",
        lambda v: v is not None and v >= messages_in_before + valid,
    )
    # Freshness, through the repo's recording rule: the interval comes from agencies.yaml, the silence from
    # the last accepted event (a few seconds ago, nowhere near 1970).
    expected_interval = wait_for(prometheus, f"borderbus_agency_expected_interval_seconds{{{selector}}}", lambda v: v is not None)
    assert expected_interval == fresh_bus.catalogue.agency(AGENCY).expected_interval_seconds
    silence = wait_for(prometheus, f"borderbus_agency:silence_seconds{{{selector}}}", lambda v: v is not None)
    assert 0 <= silence < expected_interval
    rejected_ratio = wait_for(
        prometheus, f"borderbus_agency:events_rejected:ratio_rate10m{{{selector}}}", lambda v: v is not None
    )
    desk_alerts = wait_for(prometheus, "sum(borderbus_desk_alerts)", lambda v: v == len(alerts))
    assert wait_for(prometheus, "max(borderbus_desk_caught_up)", lambda v: v == 1) == 1
    assert not [a for a in prometheus.alerts() if a["labels"]["alertname"] == "BorderbusServiceDown"]

    print(
        f"\nprometheus startup {prometheus.startup_seconds:.2f} s; targets up: "
        f"{', '.join(t['labels']['job'] + '=' + t['scrapeUrl'] for t in targets)}\n"
        f"accepted {accepted:g} rejected {rejected:g} (ratio_rate10m {rejected_ratio:.3f}); correlator consumed {consumed:g}, "
        f"alert versions {emitted:g} ({len(alerts)} alerts), latency count {latency_count:g}; desk alerts {desk_alerts:g}; "
        f"broker messages-in {messages_in_before:g} -> {messages_in:g}; expected interval {expected_interval:g} s, "
        f"silence {silence:.1f} s"
    )
