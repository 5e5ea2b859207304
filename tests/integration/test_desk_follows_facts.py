"""The duty desk follows the facts and survives crashes and retention, on the real broker (issue 14):
retracted and re-raised alerts, acknowledgements tied to the version seen, workers that die taking the
process down, webhook deliveries re-offered after a SIGKILL, and state kept in ``desk.alert-status``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

from borderbus import codec
from borderbus.bus import Bus
from borderbus.schema_registry import SchemaRegistry
from borderbus_desk.state import delivery_id
from borderbus_desk.webhooks import DELIVERY_HEADER
from desk_process import TEST_DESK_CONFIG, AlertWriter, DeskProcess, alert_record
from http_server import serve_in_thread
from kafka_reading import end_offsets, read_all

pytestmark = pytest.mark.broker

RETRACTION = {"reason": "warrant_withdrawn", "detail": "the warrant behind the alert was withdrawn", "event_ids": ["ev-w-1"]}


@pytest.fixture
def desks() -> Iterator[list[DeskProcess]]:
    started: list[DeskProcess] = []
    yield started
    for desk in started:
        desk.stop()


def start_desk(desks: list[DeskProcess], bus: Bus, tmp_path: Path, officers: dict[str, str], **kwargs: Any) -> DeskProcess:
    desk = DeskProcess(bus, tmp_path, officers, **kwargs).start()
    desks.append(desk)
    return desk


def alert_id() -> str:
    return f"AL-test-{uuid.uuid4().hex[:12]}"


def decoded(bus: Bus, topic: str, schema_type: str) -> list[tuple[Any, dict[str, Any]]]:
    schema = bus.schemas.latest(schema_type)
    registry = SchemaRegistry(bus.settings, known=bus.schemas)
    return [(m, codec.decode(m.value(), schema, registry.lookup)) for m in read_all(bus.settings, topic, timeout=5) if m.value()]


def actions_on_log(bus: Bus) -> list[dict[str, Any]]:
    return [record for _, record in decoded(bus, bus.catalogue.topic("alerts.actions"), "alert-action")]


def escalated_ids(bus: Bus) -> list[str]:
    return [action["alert_id"] for action in actions_on_log(bus) if action["action"] == "ESCALATE"]


def wait_for(desk: DeskProcess, officer: str, target: str, predicate: Any, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    view: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status, view = desk.request(officer, "GET", f"/api/v1/alerts/{target}")
        if status == 200 and predicate(view):
            return view
        time.sleep(0.2)
    raise AssertionError(f"{target} never matched within {timeout} s: {view}")


class Receiver:
    """A real HTTP webhook receiver: records every attempt; refuses with 503 while ``refusing``."""

    def __init__(self) -> None:
        self.attempts: list[dict[str, Any]] = []
        self.accepted: list[dict[str, Any]] = []
        self.refusing = False
        self.lock = threading.Lock()
        self.app = web.Application()
        self.app.router.add_post("/hook", self.receive)

    async def receive(self, request: web.Request) -> web.Response:
        payload = json.loads(await request.read())
        with self.lock:
            payload["header_delivery_id"] = request.headers[DELIVERY_HEADER]
            self.attempts.append(payload)
            if self.refusing:
                return web.Response(status=503)
            self.accepted.append(payload)
        return web.Response(status=204)

    def wait(self, predicate: Any, timeout: float = 30, accepted: bool = True) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [p for p in (self.accepted if accepted else self.attempts) if predicate(p)]
            if found:
                return found[0]
            time.sleep(0.1)
        raise AssertionError(
            f"no matching webhook within {timeout} s; got {[(p['what'], p['alert']['alert_id']) for p in self.attempts]}"
        )


def webhook_config(url: str, **extra: Any) -> dict[str, Any]:
    hook = {"name": "ukbf-cases", "agency": "uk-bf", "url": url, "secret_env": "HOOK_SECRET", "max_attempts": 20}
    return {**TEST_DESK_CONFIG, "webhooks": [hook], **extra}


HOOK_ENV = {"HOOK_SECRET": "secret-" + uuid.uuid4().hex}


def test_retracted_alerts_leave_the_workflow_reach_webhooks_and_agency_topics_and_can_be_reraised(
    fresh_bus: Bus, tmp_path: Path, desks: list[DeskProcess]
) -> None:
    writer = AlertWriter(fresh_bus)
    long_ago = int(time.time() * 1000) - 600_000
    pulled, control = alert_id(), alert_id()
    # Both versions are on the log before the desk starts: the overdue alert is already retracted when it
    # catches up, so it must never escalate; the control alert proves the escalator ran.
    writer.publish(
        alert_record(pulled, allowed=["uk-bf"], severity="CRITICAL", created_ms=long_ago, change="RAISED"),
        alert_record(pulled, allowed=["uk-bf"], severity="CRITICAL", created_ms=long_ago, version=2, retraction=RETRACTION),
        alert_record(control, allowed=["uk-bf"], severity="CRITICAL", created_ms=long_ago),
    )
    receiver = Receiver()
    with serve_in_thread(receiver.app) as url:
        config = webhook_config(f"{url}/hook", acknowledgement_deadlines_seconds={"CRITICAL": 2, "HIGH": 600, "MEDIUM": 600})
        desk = start_desk(desks, fresh_bus, tmp_path, {"ana": "uk-bf"}, config=config, env=HOOK_ENV)
        wait_for(desk, "ana", control, lambda view: view["status"] == "escalated")
        view = wait_for(desk, "ana", pulled, lambda view: view["version"] == 2)
        assert (view["status"], view["retracted"], view["retraction"]) == ("retracted", True, RETRACTION)
        assert view["allowed_actions"] == ["RESOLVE", "FALSE_POSITIVE"]
        assert escalated_ids(fresh_bus) == [control]
        status, body = desk.request("ana", "POST", f"/api/v1/alerts/{pulled}/actions", {"action": "ACKNOWLEDGE"})
        assert (status, body["error"]) == (409, "illegal_transition")
        status, listed = desk.request("ana", "GET", "/api/v1/alerts?status=retracted")
        assert [alert["alert_id"] for alert in listed["alerts"]] == [pulled]

        # live: raised, then retracted: the webhook gets the retraction, the agency topic both versions
        live = alert_id()
        writer.publish(alert_record(live, allowed=["uk-bf"], change="RAISED"))
        wait_for(desk, "ana", live, lambda view: view["status"] == "new")
        writer.publish(alert_record(live, allowed=["uk-bf"], version=2, retraction=RETRACTION))
        wait_for(desk, "ana", live, lambda view: view["status"] == "retracted")
        hook = receiver.wait(lambda p: p["alert"]["alert_id"] == live and p["what"] == "RETRACTED")
        assert hook["delivery_id"] == hook["header_delivery_id"] == delivery_id(live, 2, "RETRACTED")
        assert (hook["change"], hook["alert"]["status"], hook["alert"]["retraction"]) == ("version", "retracted", RETRACTION)

        cli_env = {**os.environ, "BORDERBUS_DESK_URL": desk.url, "BORDERBUS_TOKEN": desk.tokens["ana"]}
        listing = subprocess.run(
            [sys.executable, "-m", "borderbus_cli", "alerts", "list", "--status", "retracted"],
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listing.returncode == 0, listing.stderr
        [line] = [line for line in listing.stdout.splitlines() if live in line]
        assert (
            "RETRACTED" in line
            and "retracted (warrant_withdrawn: the warrant behind the alert was withdrawn; events ev-w-1)" in line
        )

        # re-raised: active again, with a fresh acknowledgement clock that runs out and escalates it
        writer.publish(
            alert_record(pulled, allowed=["uk-bf"], severity="CRITICAL", created_ms=long_ago, version=3, change="RERAISED")
        )
        view = wait_for(desk, "ana", pulled, lambda view: view["version"] == 3)
        assert view["retracted"] is False and view["reopened"] == "reopened: re-raised in version 3 after it was retracted"
        view = wait_for(desk, "ana", pulled, lambda view: view["status"] == "escalated")
        assert "reopening in version 3" in view["actions"][-1]["note"]

    topic = fresh_bus.catalogue.agency_alert_topic("uk-bf")
    deadline = time.monotonic() + 30
    routed: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        routed = [record for _, record in decoded(fresh_bus, topic, "alert") if record["alert_id"] == live]
        if len(routed) == 2:
            break
    assert [(r["version"], r["status"]) for r in routed] == [(1, "OPEN"), (2, "RETRACTED")]
    assert routed[1]["retraction"] == RETRACTION
    assert not [
        m for m, r in decoded(fresh_bus, fresh_bus.catalogue.agency_alert_topic("iq-fiu"), "alert") if r["alert_id"] == live
    ]


def test_an_acknowledgement_covers_the_version_seen_a_severity_raise_reopens_and_restarts_the_clock(
    fresh_bus: Bus, tmp_path: Path, desks: list[DeskProcess]
) -> None:
    config = {**TEST_DESK_CONFIG, "acknowledgement_deadlines_seconds": {"CRITICAL": 2, "HIGH": 3600, "MEDIUM": 3600}}
    desk = start_desk(desks, fresh_bus, tmp_path, {"ana": "uk-bf"}, config=config)
    writer, v1_writer = AlertWriter(fresh_bus), AlertWriter(fresh_bus, schema_version=1)
    raised, evidence, old_schema = alert_id(), alert_id(), alert_id()
    long_ago = int(time.time() * 1000) - 600_000
    writer.publish(
        alert_record(raised, allowed=["uk-bf"], severity="HIGH", created_ms=long_ago, change="RAISED"),
        alert_record(evidence, allowed=["uk-bf"], severity="HIGH", change="RAISED"),
    )
    v1_writer.publish(alert_record(old_schema, allowed=["uk-bf"], severity="MEDIUM"))
    for target in (raised, evidence, old_schema):
        wait_for(desk, "ana", target, lambda view: view["status"] == "new")
        status, body = desk.request("ana", "POST", f"/api/v1/alerts/{target}/actions", {"action": "ACKNOWLEDGE"})
        assert (status, body["status"], body["acknowledged_version"]) == (200, "acknowledged", 1), body
    assert {a["alert_id"]: a["alert_version"] for a in actions_on_log(fresh_bus)} == {raised: 1, evidence: 1, old_schema: 1}

    writer.publish(
        alert_record(
            raised,
            allowed=["uk-bf"],
            severity="CRITICAL",
            created_ms=long_ago,
            version=2,
            change="SEVERITY_RAISED",
            previous_severity="HIGH",
            updated_ms=int(time.time() * 1000),
        ),
        alert_record(evidence, allowed=["uk-bf"], severity="HIGH", version=2, change="EVIDENCE_ADDED"),
    )
    v1_writer.publish(alert_record(old_schema, allowed=["uk-bf"], severity="HIGH", version=2))

    view = wait_for(desk, "ana", raised, lambda view: view["version"] == 2)
    assert view["status"] in ("new", "escalated"), view
    assert view["reopened"] == "reopened: severity raised from HIGH to CRITICAL in version 2"
    # created ten minutes ago, but the clock restarted at version 2: the escalation comes from there
    view = wait_for(desk, "ana", raised, lambda view: view["status"] == "escalated")
    assert view["actions"][-1]["note"] == "not acknowledged within 2 s of reopening in version 2 (CRITICAL)"

    view = wait_for(desk, "ana", evidence, lambda view: view["version"] == 2)
    assert (view["status"], view["reopened"], view["acknowledged_version"]) == ("acknowledged", None, 1)
    assert view["updated_since_acknowledged"] == (
        "updated since acknowledged: version 2 (EVIDENCE_ADDED) after the acknowledgement of version 1"
    )
    view = wait_for(desk, "ana", old_schema, lambda view: view["version"] == 2)
    assert (view["status"], view["reopened"]) == ("new", "reopened: severity raised from MEDIUM to HIGH in version 2")
    assert escalated_ids(fresh_bus) == [raised]


def healthz(desk: DeskProcess) -> int | None:
    try:
        with urllib.request.urlopen(desk.url + "/healthz", timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return None


@pytest.mark.parametrize("worker", ["log-reader", "router", "escalator", "webhooks"])
def test_a_dying_worker_makes_the_desk_unhealthy_then_exit_non_zero(
    worker: str, fresh_bus: Bus, tmp_path: Path, desks: list[DeskProcess]
) -> None:
    trigger = tmp_path / f"fail-{worker}"
    env = {**HOOK_ENV, "BORDERBUS_DESK_FAULT": f"{worker}:{trigger}", "BORDERBUS_DESK_EXIT_GRACE_S": "5"}
    desk = start_desk(desks, fresh_bus, tmp_path, {"ana": "uk-bf"}, config=webhook_config("http://127.0.0.1:9/hook"), env=env)
    assert healthz(desk) == 200
    trigger.touch()
    seen: set[int | None] = set()
    assert desk.process is not None
    deadline = time.monotonic() + 60
    while desk.process.poll() is None and time.monotonic() < deadline:
        seen.add(healthz(desk))
        time.sleep(0.05)
    assert desk.process.wait(5) == 70, desk.log()
    assert 503 in seen, seen
    assert re.search(rf"desk {worker}\b.* died: InjectedFault", desk.log(whole=True)), desk.log()


def test_undecodable_records_are_dead_lettered_and_counted_without_killing_the_desk(
    fresh_bus: Bus, tmp_path: Path, desks: list[DeskProcess]
) -> None:
    from confluent_kafka import Producer

    desk = start_desk(desks, fresh_bus, tmp_path, {"ana": "uk-bf"})
    producer = Producer(fresh_bus.settings.producer_config())
    for topic in ("alerts.shared", "alerts.actions"):
        producer.produce(fresh_bus.catalogue.topic(topic), key=b"AL-garbage", value=b"not avro at all")
    producer.flush(10)
    after = alert_id()
    AlertWriter(fresh_bus).publish(alert_record(after, allowed=["uk-bf"]))
    wait_for(desk, "ana", after, lambda view: view["status"] == "new")
    dead = read_all(fresh_bus.settings, fresh_bus.catalogue.topic("borderbus.deadletter"), expect=2, timeout=30)
    sources = sorted((dict(m.headers())["dlq.source.topic"].decode(), dict(m.headers())["dlq.service"].decode()) for m in dead)
    assert sources == [
        (fresh_bus.catalogue.topic("alerts.actions"), "desk"),
        (fresh_bus.catalogue.topic("alerts.shared"), "desk-router"),
    ]
    metrics = desk.metrics()
    assert 'borderbus_dead_letter_records_total{reason="bad_marker",service="desk"} 1.0' in metrics
    assert healthz(desk) == 200 and desk.process is not None and desk.process.poll() is None


def status_records(bus: Bus) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for message, record in decoded(bus, bus.catalogue.topic("desk.alert-status"), "desk-alert-status"):
        latest[(message.key() or b"").decode()] = record
    return latest


def test_webhook_deliveries_pending_at_a_crash_are_offered_again_with_the_same_id(
    fresh_bus: Bus, tmp_path: Path, desks: list[DeskProcess]
) -> None:
    receiver = Receiver()
    receiver.refusing = True
    with serve_in_thread(receiver.app) as url:
        config = webhook_config(f"{url}/hook", checkpoint_interval_seconds=0.3)
        desk = start_desk(desks, fresh_bus, tmp_path, {"ana": "uk-bf"}, config=config, env=HOOK_ENV)
        target = alert_id()
        AlertWriter(fresh_bus).publish(alert_record(target, allowed=["uk-bf"], change="RAISED"))
        refused = receiver.wait(lambda p: p["alert"]["alert_id"] == target, accepted=False)
        expected = delivery_id(target, 1, "RAISED")
        assert refused["header_delivery_id"] == expected
        # wait for a checkpoint that records the delivery as owed, then kill the desk without warning
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            owed = status_records(fresh_bus).get(target, {}).get("pending_deliveries", [])
            if [item["delivery_id"] for item in owed] == [expected]:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("no checkpoint recorded the owed delivery")
        desk.kill()
        with receiver.lock:
            receiver.refusing = False
        desk.start()
        delivered = receiver.wait(lambda p: p["alert"]["alert_id"] == target)
        assert delivered["header_delivery_id"] == delivered["delivery_id"] == expected
        assert (delivered["change"], delivered["what"], delivered["alert"]["alert_id"]) == ("version", "RAISED", target)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and status_records(fresh_bus)[target]["pending_deliveries"]:
            time.sleep(0.2)
        assert status_records(fresh_bus)[target]["pending_deliveries"] == []


def test_an_acknowledgement_that_aged_out_of_the_logs_stays_and_does_not_escalate(
    fresh_bus: Bus, tmp_path: Path, desks: list[DeskProcess]
) -> None:
    config = {**TEST_DESK_CONFIG, "checkpoint_interval_seconds": 0.3}
    desk = start_desk(desks, fresh_bus, tmp_path, {"ana": "uk-bf"}, config=config)
    writer = AlertWriter(fresh_bus)
    acked, control = alert_id(), alert_id()
    long_ago = int(time.time() * 1000) - 60_000  # within the first desk's 600 s, past the second's 1 s
    writer.publish(alert_record(acked, allowed=["uk-bf"], created_ms=long_ago, change="RAISED"))
    wait_for(desk, "ana", acked, lambda view: view["status"] == "new")
    assert desk.request("ana", "POST", f"/api/v1/alerts/{acked}/actions", {"action": "ACKNOWLEDGE", "note": "mine"})[0] == 200
    writer.publish(
        alert_record(acked, allowed=["uk-bf"], created_ms=long_ago, version=2, change="EVIDENCE_ADDED"),
        alert_record(control, allowed=["uk-bf"], created_ms=long_ago),
    )
    wait_for(desk, "ana", acked, lambda view: view["version"] == 2)
    wait_for(desk, "ana", control, lambda view: view["status"] == "new")
    desk.kill()

    # Retention strikes: every action, and the alert's first version, are deleted.
    admin = AdminClient(fresh_bus.settings.kafka_client_config())
    actions_topic, alerts_topic = fresh_bus.catalogue.topic("alerts.actions"), fresh_bus.catalogue.topic("alerts.shared")
    cut = [
        TopicPartition(actions_topic, partition, high)
        for partition, high in end_offsets(fresh_bus.settings, actions_topic).items()
    ]
    first = min(
        (m for m in read_all(fresh_bus.settings, alerts_topic, timeout=5) if m.key() == acked.encode()), key=lambda m: m.offset()
    )
    cut.append(TopicPartition(alerts_topic, first.partition(), first.offset() + 1))
    for future in admin.delete_records(cut, operation_timeout=30).values():
        future.result()
    assert actions_on_log(fresh_bus) == []
    assert [r["version"] for _, r in decoded(fresh_bus, alerts_topic, "alert") if r["alert_id"] == acked] == [2]

    # Restarted with deadlines that make both alerts long overdue: only the unacknowledged one escalates.
    desk.config_path.write_text(json.dumps({**config, "acknowledgement_deadlines_seconds": {"HIGH": 1}}))
    desk.start()
    wait_for(desk, "ana", control, lambda view: view["status"] == "escalated")
    view = wait_for(desk, "ana", acked, lambda view: True)
    assert (view["status"], view["acknowledged_by"], view["acknowledged_version"], view["version"]) == (
        "acknowledged",
        "ana",
        1,
        2,
    )
    assert [a["note"] for a in view["actions"]] == ["mine"]
    assert view["updated_since_acknowledged"] is not None
    assert escalated_ids(fresh_bus) == [control]
    restored = [line for line in desk.metrics().splitlines() if line.startswith("borderbus_desk_restored_alerts ")]
    assert restored and float(restored[0].split()[1]) >= 1  # at least the acknowledged one (its action's transaction)
