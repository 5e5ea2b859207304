"""The duty desk on the real broker: visibility everywhere, actions through Kafka, escalation exactly
once across restarts, resumable streams, signed webhooks, and the simulator's alerts arriving live."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from borderbus import codec
from borderbus.bus import Bus
from borderbus.schema_registry import SchemaRegistry
from borderbus_desk.webhooks import DELIVERY_HEADER, SIGNATURE_HEADER, verify_signature
from correlator_worker import CorrelatorWorker, latest_versions, wait_for_quiet_alerts
from desk_process import TEST_DESK_CONFIG, AlertWriter, DeskProcess, alert_record
from http_server import serve_in_thread
from kafka_reading import read_all

pytestmark = pytest.mark.broker


@pytest.fixture
def desks(tmp_path: Path) -> Iterator[list[DeskProcess]]:
    started: list[DeskProcess] = []
    yield started
    for desk in started:
        desk.stop()


def start_desk(desks: list[DeskProcess], bus: Bus, tmp_path: Path, officers: dict[str, str], **kwargs: Any) -> DeskProcess:
    desk = DeskProcess(bus, tmp_path, officers, **kwargs).start()
    desks.append(desk)
    return desk


def actions_on_log(bus: Bus) -> list[dict[str, Any]]:
    schema = bus.schemas.latest("alert-action")
    registry = SchemaRegistry(bus.settings, known=bus.schemas)
    return [
        codec.decode(message.value(), schema, registry.lookup)
        for message in read_all(bus.settings, bus.catalogue.topic("alerts.actions"), timeout=5)
    ]


def alert_ids_on(bus: Bus, topic: str) -> set[str]:
    return {(message.key() or b"").decode() for message in read_all(bus.settings, topic, timeout=5)}


def alert_id() -> str:
    return f"AL-test-{uuid.uuid4().hex[:12]}"


def test_visibility_holds_for_list_get_stream_cli_webhooks_and_agency_topics(
    fresh_bus: Bus, tmp_path: Path, desks: list[DeskProcess]
) -> None:
    received: dict[str, list[tuple[dict[str, str], bytes]]] = {"uk-bf": [], "iq-fiu": []}
    failures_left = {"iq-fiu": 2}  # the iq-fiu receiver fails twice first: the desk must retry

    async def receive(request: web.Request) -> web.Response:
        agency = request.match_info["agency"]
        body = await request.read()
        if failures_left.get(agency, 0) > 0:
            failures_left[agency] -= 1
            return web.Response(status=503)
        received[agency].append((dict(request.headers), body))
        return web.Response(status=204)

    receiver = web.Application()
    receiver.router.add_post("/hooks/{agency}", receive)
    with serve_in_thread(receiver) as hooks_url:
        config = {
            **TEST_DESK_CONFIG,
            "webhooks": [
                {"name": f"{agency}-cases", "agency": agency, "url": f"{hooks_url}/hooks/{agency}", "secret_env": env}
                for agency, env in (("uk-bf", "HOOK_SECRET_UKBF"), ("iq-fiu", "HOOK_SECRET_IQFIU"))
            ],
        }
        secrets = {"HOOK_SECRET_UKBF": "ukbf-" + uuid.uuid4().hex, "HOOK_SECRET_IQFIU": "iqfiu-" + uuid.uuid4().hex}
        desk = start_desk(desks, fresh_bus, tmp_path, {"ana": "uk-bf", "omar": "iq-fiu"}, config=config, env=secrets)
        uk_stream = desk.stream("ana")

        iq_only, nca_red, red_wildcard, green_all, shared = (alert_id() for _ in range(5))
        AlertWriter(fresh_bus).publish(
            alert_record(iq_only, allowed=["iq-fiu", "iq-bgc"]),
            alert_record(nca_red, allowed=["uk-nca"], tlp="RED", severity="CRITICAL"),
            alert_record(red_wildcard, allowed=["*"], tlp="RED"),
            alert_record(green_all, allowed=["*"], tlp="GREEN", severity="LOW"),
            alert_record(shared, allowed=["uk-bf", "iq-fiu"]),
        )
        hidden_from_uk = {iq_only, nca_red, red_wildcard}

        streamed = {view["alert_id"] for _, view in uk_stream.until(lambda view: view["alert_id"] == shared)}
        streamed |= {view["alert_id"] for _, view in uk_stream.drain(1.0)}
        uk_stream.close()
        assert streamed == {green_all, shared}

        status, listed = desk.request("ana", "GET", "/api/v1/alerts")
        assert status == 200 and {a["alert_id"] for a in listed["alerts"]} == {green_all, shared}
        status, listed = desk.request("omar", "GET", "/api/v1/alerts")
        assert {a["alert_id"] for a in listed["alerts"]} == {iq_only, green_all, shared}

        unknown_status, unknown_body = desk.request("ana", "GET", "/api/v1/alerts/AL-does-not-exist")
        for hidden in hidden_from_uk:
            status, body = desk.request("ana", "GET", f"/api/v1/alerts/{hidden}")
            assert (status, body["error"]) == (unknown_status, unknown_body["error"]) == (404, "unknown_alert")
            status, body = desk.request("ana", "POST", f"/api/v1/alerts/{hidden}/actions", {"action": "ACKNOWLEDGE"})
            assert (status, body["error"]) == (404, "unknown_alert")
        assert desk.request("omar", "GET", f"/api/v1/alerts/{iq_only}")[0] == 200

        cli_env = {**os.environ, "BORDERBUS_DESK_URL": desk.url, "BORDERBUS_TOKEN": desk.tokens["ana"]}
        cli = [sys.executable, "-m", "borderbus_cli", "alerts"]
        listing = subprocess.run([*cli, "list", "--json"], env=cli_env, capture_output=True, text=True, timeout=60)
        assert listing.returncode == 0, listing.stderr
        assert {json.loads(line)["alert_id"] for line in listing.stdout.splitlines()} == {green_all, shared}
        tail = subprocess.Popen([*cli, "tail", "--json"], env=cli_env, stdout=subprocess.PIPE, text=True)
        try:
            assert tail.stdout is not None
            tailed = {json.loads(tail.stdout.readline())["alert_id"] for _ in range(2)}
        finally:
            tail.kill()
            tail.wait(10)
        assert tailed == {green_all, shared}

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(received["iq-fiu"]) < 3:
            time.sleep(0.2)
        time.sleep(1.0)
        hooked = {agency: {json.loads(body)["alert"]["alert_id"] for _, body in items} for agency, items in received.items()}
        assert hooked == {"uk-bf": {green_all, shared}, "iq-fiu": {iq_only, green_all, shared}}
        for agency, secret in (("uk-bf", secrets["HOOK_SECRET_UKBF"]), ("iq-fiu", secrets["HOOK_SECRET_IQFIU"])):
            for headers, body in received[agency]:
                assert verify_signature(secret, headers[SIGNATURE_HEADER], body), agency
                assert not verify_signature("wrong", headers[SIGNATURE_HEADER], body)
                assert headers[DELIVERY_HEADER]
        metrics = desk.metrics()
        assert 'borderbus_desk_webhook_attempts_total{agency="iq-fiu",result="error"} 2.0' in metrics
        assert 'borderbus_desk_webhook_deliveries_total{agency="iq-fiu",outcome="delivered"} 3.0' in metrics

    deadline = time.monotonic() + 30
    topic = fresh_bus.catalogue.agency_alert_topic
    while time.monotonic() < deadline and alert_ids_on(fresh_bus, topic("iq-bgc")) != {iq_only, green_all}:
        time.sleep(0.5)
    assert alert_ids_on(fresh_bus, topic("uk-bf")) == {green_all, shared}
    assert alert_ids_on(fresh_bus, topic("iq-fiu")) == {iq_only, green_all, shared}
    assert alert_ids_on(fresh_bus, topic("uk-nca")) == {nca_red, green_all}
    assert alert_ids_on(fresh_bus, topic("iq-bgc")) == {iq_only, green_all}


def test_acknowledgement_goes_through_kafka_to_every_officer_and_survives_a_restart(
    fresh_bus: Bus, tmp_path: Path, desks: list[DeskProcess]
) -> None:
    desk = start_desk(desks, fresh_bus, tmp_path, {"ana": "uk-bf", "ben": "uk-bf"})
    target = alert_id()
    ben_stream = desk.stream("ben")
    AlertWriter(fresh_bus).publish(alert_record(target, allowed=["uk-bf"]))
    ben_stream.until(lambda view: view["alert_id"] == target and view["status"] == "new")

    status, acked = desk.request("ana", "POST", f"/api/v1/alerts/{target}/actions", {"action": "ACKNOWLEDGE", "note": "on it"})
    assert status == 200, acked
    assert (acked["status"], acked["acknowledged_by"]) == ("acknowledged", "ana")
    [on_log] = [a for a in actions_on_log(fresh_bus) if a["alert_id"] == target]
    assert (on_log["action"], on_log["actor"], on_log["agency"], on_log["note"]) == ("ACKNOWLEDGE", "ana", "uk-bf", "on it")
    assert str(on_log["action_id"]) == acked["actions"][0]["action_id"]
    seen_by_ben = ben_stream.until(lambda view: view["alert_id"] == target and view["status"] == "acknowledged")
    assert seen_by_ben[-1][1]["actions"][0]["actor"] == "ana"

    status, body = desk.request("ben", "POST", f"/api/v1/alerts/{target}/actions", {"action": "ACKNOWLEDGE"})
    assert (status, body["error"]) == (409, "illegal_transition")
    status, body = desk.request("ben", "POST", f"/api/v1/alerts/{target}/actions", {"action": "RESOLVE"})
    assert (status, body["error"], body["field"]) == (422, "note_required", "note")
    status, body = desk.request("ben", "POST", f"/api/v1/alerts/{target}/actions", {"action": "SNOOZE"})
    assert (status, body["error"], body["field"]) == (422, "invalid_action", "action")
    resolve = {"action": "RESOLVE", "note": "stopped at Dover"}
    status, resolved = desk.request("ben", "POST", f"/api/v1/alerts/{target}/actions", resolve)
    assert (status, resolved["status"]) == (200, "resolved")
    status, body = desk.request("ana", "POST", f"/api/v1/alerts/{target}/actions", {"action": "ESCALATE", "note": "late"})
    assert (status, body["error"]) == (409, "illegal_transition")
    assert "resolved" in body["message"]
    ben_stream.close()

    desk.kill()
    desk.start()
    status, rebuilt = desk.request("ben", "GET", f"/api/v1/alerts/{target}")
    assert status == 200
    assert rebuilt == resolved
    assert [a["action"] for a in actions_on_log(fresh_bus)] == ["ACKNOWLEDGE", "RESOLVE"]


def escalations(bus: Bus) -> dict[str, int]:
    counts: dict[str, int] = {}
    for action in actions_on_log(bus):
        if action["action"] == "ESCALATE":
            counts[action["alert_id"]] = counts.get(action["alert_id"], 0) + 1
    return counts


def wait_for_status(desk: DeskProcess, officer: str, target: str, status: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    view: dict[str, Any] = {}
    while time.monotonic() < deadline:
        _, view = desk.request(officer, "GET", f"/api/v1/alerts/{target}")
        if view.get("status") == status:
            return view
        time.sleep(0.3)
    raise AssertionError(f"{target} not {status} within {timeout} s: {view}")


def test_unacknowledged_alerts_escalate_exactly_once_across_restarts(
    fresh_bus: Bus, tmp_path: Path, desks: list[DeskProcess]
) -> None:
    config = {**TEST_DESK_CONFIG, "acknowledgement_deadlines_seconds": {"CRITICAL": 2, "HIGH": 4, "MEDIUM": 600, "LOW": None}}
    desk = start_desk(desks, fresh_bus, tmp_path, {"ana": "uk-bf"}, config=config)
    critical, high, low, acked_in_time, while_down = (alert_id() for _ in range(5))
    writer = AlertWriter(fresh_bus)
    writer.publish(
        alert_record(critical, allowed=["uk-bf"], severity="CRITICAL"),
        alert_record(high, allowed=["uk-bf"], severity="HIGH"),
        alert_record(low, allowed=["uk-bf"], severity="LOW"),
        alert_record(acked_in_time, allowed=["uk-bf"], severity="CRITICAL"),
    )
    wait_for_status(desk, "ana", acked_in_time, "new")
    assert desk.request("ana", "POST", f"/api/v1/alerts/{acked_in_time}/actions", {"action": "ACKNOWLEDGE"})[0] == 200

    escalated = wait_for_status(desk, "ana", critical, "escalated")
    assert escalated["escalated"] is True
    assert (escalated["actions"][0]["actor"], escalated["actions"][0]["agency"]) == ("system", "borderbus")
    wait_for_status(desk, "ana", high, "escalated")
    time.sleep(2.0)  # several more escalator ticks: nothing may escalate twice
    assert escalations(fresh_bus) == {critical: 1, high: 1}
    assert 'borderbus_desk_escalations_total{severity="CRITICAL"} 1.0' in desk.metrics()
    assert desk.request("ana", "GET", f"/api/v1/alerts/{low}")[1]["status"] == "new"
    assert desk.request("ana", "GET", f"/api/v1/alerts/{acked_in_time}")[1]["escalated"] is False

    desk.kill()
    writer.publish(alert_record(while_down, allowed=["uk-bf"], severity="CRITICAL", created_ms=int(time.time() * 1000) - 60_000))
    desk.start()
    wait_for_status(desk, "ana", while_down, "escalated")
    time.sleep(2.0)
    assert escalations(fresh_bus) == {critical: 1, high: 1, while_down: 1}
    metrics = desk.metrics()
    assert 'borderbus_desk_escalations_total{severity="CRITICAL"} 1.0' in metrics
    assert 'borderbus_desk_escalations_total{severity="HIGH"}' not in metrics

    desk.stop()  # a clean stop and start too
    desk.start()
    time.sleep(2.0)
    assert escalations(fresh_bus) == {critical: 1, high: 1, while_down: 1}
    assert desk.request("ana", "GET", f"/api/v1/alerts/{critical}")[1]["status"] == "escalated"


def test_a_stream_resumed_with_last_event_id_misses_nothing(fresh_bus: Bus, tmp_path: Path, desks: list[DeskProcess]) -> None:
    desk = start_desk(desks, fresh_bus, tmp_path, {"ana": "uk-bf", "ben": "uk-bf"})
    first, second, third, hidden = (alert_id() for _ in range(4))
    writer = AlertWriter(fresh_bus)
    stream = desk.stream("ana")
    writer.publish(alert_record(first, allowed=["uk-bf"]), alert_record(second, allowed=["uk-bf"]))
    events = stream.until(lambda view: view["alert_id"] == second)
    last_id = events[-1][0]
    stream.close()

    writer.publish(
        alert_record(third, allowed=["uk-bf"]),
        alert_record(second, allowed=["uk-bf"], version=2),
        alert_record(hidden, allowed=["iq-fiu"]),
    )
    assert desk.request("ben", "POST", f"/api/v1/alerts/{first}/actions", {"action": "ACKNOWLEDGE"})[0] == 200
    wait_for_status(desk, "ben", third, "new")
    wait_for_status(desk, "ben", second, "new")

    resumed = desk.stream("ana", last_event_id=last_id).drain(3.0)
    latest = {view["alert_id"]: view for _, view in resumed}
    assert set(latest) == {first, second, third}
    assert latest[first]["status"] == "acknowledged"
    assert latest[second]["version"] == 2
    assert len(resumed) == 3, [(i, v["alert_id"]) for i, v in resumed]

    restarted_cursor = "0000000000:" + last_id.split(":")[1] if last_id else None
    snapshot = desk.stream("ana", last_event_id=restarted_cursor).drain(3.0)
    assert {view["alert_id"] for _, view in snapshot} == {first, second, third}


def test_simulated_alerts_reach_every_cleared_officer_live(fresh_bus: Bus, tmp_path: Path, desks: list[DeskProcess]) -> None:
    from borderbus_simulator.driver import LibrarySender, send_scenario
    from borderbus_simulator.scenario import build_scenario

    config_dir = fresh_bus.settings.config_dir
    scenario = build_scenario(
        seed=5,
        event_count=300,
        end_ms=int(time.time() * 1000) - 60_000,
        agencies_path=config_dir / "agencies.yaml",
        border_points_path=config_dir / "border_points.yaml",
    )
    officers = {f"officer-{code}": code for code in fresh_bus.catalogue.agencies}
    desk = start_desk(desks, fresh_bus, tmp_path, officers)
    streams = {officer: desk.stream(officer) for officer in officers}
    worker = CorrelatorWorker(fresh_bus, tmp_path, "e2e").start()
    try:
        sender = LibrarySender(fresh_bus, instance_id="desk-e2e")
        try:
            report = send_scenario(scenario.events, sender, rate=60.0)
        finally:
            sender.close()
        assert not report.refused
        versions = wait_for_quiet_alerts(fresh_bus, minimum=len(scenario.ground_truth["expected_alerts"]))
    finally:
        worker.stop()
    latest = latest_versions(versions)
    expected_alerts = scenario.ground_truth["expected_alerts"]
    planted = [
        alert
        for alert in latest.values()
        if any(alert.rule == e["rule"] and set(e["event_ids"]) <= alert.evidence for e in expected_alerts)
    ]
    assert len(planted) >= len(scenario.ground_truth["expected_alerts"]) > 0

    def complete(officer: str) -> dict[str, int]:
        agency = officers[officer]
        return {a.alert_id: a.version for a in latest.values() if agency in a.allowed_agencies}

    seen_by_anyone: set[str] = set()
    for officer, stream in streams.items():
        expected = complete(officer)
        got: dict[str, int] = {}

        def done(view: dict[str, Any], got: dict[str, int] = got, expected: dict[str, int] = expected) -> bool:
            got[view["alert_id"]] = max(got.get(view["alert_id"], 0), view["version"])
            return got == expected

        if expected:
            stream.until(done, timeout=30)
        stream.close()
        assert got == expected, officer
        seen_by_anyone |= set(got)
    assert {alert.alert_id for alert in planted} <= seen_by_anyone
    assert "borderbus_desk_alert_delivery_latency_seconds_count" in desk.metrics()


def test_the_console_and_its_assets_are_served_without_any_outside_address(
    fresh_bus: Bus, tmp_path: Path, desks: list[DeskProcess]
) -> None:
    import urllib.request

    desk = start_desk(desks, fresh_bus, tmp_path, {"ana": "uk-bf"})
    with urllib.request.urlopen(desk.url + "/", timeout=10) as response:
        page = response.read().decode()
    assets = [part.split('"')[0] for part in page.split('src="')[1:] + page.split('href="')[1:]]
    assert assets, "the console page links its script and stylesheet"
    for asset in assets:
        assert not asset.startswith(("http:", "https:", "//")), f"console loads {asset} from outside"
        with urllib.request.urlopen(desk.url + "/" + asset.lstrip("/"), timeout=10) as response:
            assert response.status == 200 and response.read()
