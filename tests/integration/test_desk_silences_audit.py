"""Silences and the audit trail on the real broker, with a real desk process.

A silenced alert is kept (``?silenced=true``) but reaches no live stream, webhook or escalation until
the silence ends; every desk sees the same silences after a restart (compacted ``desk.silences``).
Every read, list, subscription, action, silence change and sign-in is in ``desk.audit``, which the
API only reads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from borderbus import codec
from borderbus.bus import Bus
from borderbus.schema_registry import SchemaRegistry
from desk_process import TEST_DESK_CONFIG, AlertWriter, DeskProcess, alert_record
from http_server import serve_in_thread
from kafka_reading import read_all
from topic_namespace import own_topics

pytestmark = pytest.mark.broker

OFFICERS = {"ana": "uk-bf", "ben": "uk-bf", "sue": "uk-bf", "omar": "iq-fiu"}
ROLES = {"ana": ["silence"], "sue": ["supervisor"], "omar": ["silence"]}
CONFIG = {**TEST_DESK_CONFIG, "silence_warning_seconds": 3600}  # every silence shorter than 1 h is "about to end"


@pytest.fixture(scope="module")
def module_bus(bus: Bus) -> Bus:
    return own_topics(bus, "silences")


@pytest.fixture(scope="module")
def hooks() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    async def receive(request: web.Request) -> web.Response:
        received.append(json.loads(await request.read()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", receive)
    with serve_in_thread(app) as url:
        yield url, received


@pytest.fixture(scope="module")
def desk(
    module_bus: Bus, hooks: tuple[str, list[dict[str, Any]]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DeskProcess]:
    config = {
        **CONFIG,
        "webhooks": [{"name": "uk-bf-cases", "agency": "uk-bf", "url": f"{hooks[0]}/hook", "secret_env": "HOOK_SECRET"}],
    }
    process = DeskProcess(
        module_bus, tmp_path_factory.mktemp("silences-desk"), OFFICERS, config=config, env={"HOOK_SECRET": "s3cret"}, roles=ROLES
    )
    try:
        yield process.start()
    finally:
        process.stop()


def raw_request(desk: DeskProcess, token: str, method: str, path: str, data: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(desk.url + path, data=data, method=method, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_until(check: Any, what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {what}")


def listed(desk: DeskProcess, officer: str, query: str = "") -> set[str]:
    status, body = desk.request(officer, "GET", "/api/v1/alerts" + (f"?{query}" if query else ""))
    assert status == 200, body
    return {alert["alert_id"] for alert in body["alerts"]}


def metric(desk: DeskProcess, name: str) -> float:
    for line in desk.metrics().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exposed")


def silence_body(rule: str, **extra: Any) -> dict[str, Any]:
    return {
        "matchers": {"rule": rule, "border_point": "GB-DOV"},
        "duration_seconds": 1800,
        "comment": "ANPR lane 4 recalibration",
        **extra,
    }


def test_a_silenced_alert_is_kept_but_not_pushed_until_the_silence_ends(
    module_bus: Bus, desk: DeskProcess, hooks: tuple[str, list[dict[str, Any]]]
) -> None:
    received = hooks[1]
    rule = "advert_to_action"
    assert desk.request("ben", "POST", "/api/v1/silences", silence_body(rule))[0] == 403  # no role
    for body, field in (
        ({**silence_body(rule), "matchers": {}}, "matchers"),
        ({**silence_body(rule), "matchers": {"min_severity": "SEVERE"}}, "matchers.min_severity"),
        ({**silence_body(rule), "comment": ""}, "comment"),
        ({**silence_body(rule), "duration_seconds": -5}, "duration_seconds"),
        ({"matchers": {"rule": rule}, "ends_at": "2020-01-01T00:00:00Z", "comment": "old"}, "ends_at"),
        ({**silence_body(rule), "owner": "ana"}, "owner"),
        ([1, 2], "body"),
    ):
        status, answer = desk.request("ana", "POST", "/api/v1/silences", body)
        assert (status, answer["error"], answer["field"]) == (400, "invalid_silence", field), answer
    status, answer = raw_request(desk, desk.tokens["ana"], "POST", "/api/v1/silences", b"{not json")
    assert (status, answer["error"]) == (400, "invalid_json")

    ana_stream, ben_stream = desk.stream("ana"), desk.stream("ben")
    status, made = desk.request("ana", "POST", "/api/v1/silences", silence_body(rule))
    assert status == 201, made
    silence_id = made["silence_id"]
    assert (made["version"], made["state"], made["created_by"], made["agency"], made["expires_soon"]) == (
        1,
        "active",
        "ana",
        "uk-bf",
        True,
    )
    announced = ana_stream.silences.get(timeout=30)  # the creator's console learns it ends soon
    assert announced["silence_id"] == silence_id and announced["expires_soon"] is True
    assert desk.request("ana", "GET", "/api/v1/me")[1]["silences_expiring"] == [silence_id]
    assert desk.request("ben", "GET", "/api/v1/me")[1]["silences_expiring"] == []
    assert desk.request("omar", "GET", f"/api/v1/silences/{silence_id}")[0] == 404  # another agency's silence
    assert [s["silence_id"] for s in desk.request("ben", "GET", "/api/v1/silences")[1]["silences"]] == [silence_id]

    quiet, loud = f"AL-quiet-{uuid.uuid4().hex[:10]}", f"AL-loud-{uuid.uuid4().hex[:10]}"
    writer = AlertWriter(module_bus)
    writer.publish(alert_record(quiet, allowed=["uk-bf"], rule=rule, border_point="GB-DOV"))
    wait_until(lambda: quiet in listed(desk, "ben", "silenced=true"), "the silenced alert is kept")
    writer.publish(alert_record(loud, allowed=["uk-bf"], rule="wanted_subject_sighted", border_point="GB-DOV"))
    ben_stream.until(lambda view: view["alert_id"] == loud)
    assert quiet not in {view["alert_id"] for _, view in ben_stream.received}
    assert listed(desk, "ben") >= {loud} and quiet not in listed(desk, "ben")
    assert {quiet, loud} <= listed(desk, "ben", "silenced=any")
    assert desk.request("ben", "GET", "/api/v1/alerts?silenced=maybe")[1]["field"] == "silenced"
    status, view = desk.request("ben", "GET", f"/api/v1/alerts/{quiet}")
    assert (status, view["silenced"], view["silenced_by"], view["status"]) == (200, True, [silence_id], "new")
    assert metric(desk, "borderbus_desk_silences_active") == 1.0
    assert metric(desk, "borderbus_desk_alerts_suppressed_total") == 1.0
    wait_until(lambda: any(item["alert"]["alert_id"] == loud for item in received), "the webhook gets the other alert")
    assert not any(item["alert"]["alert_id"] == quiet for item in received)
    ana_stream.close()
    ben_stream.close()

    desk.kill()  # a restarted desk reads the same silences back
    desk.start()
    assert desk.request("ben", "GET", f"/api/v1/alerts/{quiet}")[1]["silenced_by"] == [silence_id]
    ben_stream = desk.stream("ben")

    assert desk.request("ben", "PUT", f"/api/v1/silences/{silence_id}", {"comment": "mine now"})[0] == 403
    status, changed = desk.request("ana", "PUT", f"/api/v1/silences/{silence_id}", {"comment": "recalibration takes longer"})
    assert (status, changed["version"], changed["change"], changed["comment"]) == (200, 2, "EDITED", "recalibration takes longer")
    status, over = desk.request("sue", "POST", f"/api/v1/silences/{silence_id}/expire", {"comment": "lane 4 back"})
    assert (status, over["version"], over["change"], over["state"], over["changed_by"]) == (200, 3, "EXPIRED", "expired", "sue")
    assert desk.request("ana", "POST", f"/api/v1/silences/{silence_id}/expire")[1]["error"] == "silence_expired"

    back = ben_stream.until(lambda view: view["alert_id"] == quiet)[-1][1]  # the alert comes back live
    assert (back["silenced"], back["status"]) == (False, "new")
    ben_stream.close()
    delivered = wait_until(
        lambda: [i for i in received if i["alert"]["alert_id"] == quiet], "the webhook gets it once quiet ends"
    )
    assert [item["what"] for item in delivered] == ["SILENCE_ENDED"]
    assert metric(desk, "borderbus_desk_silences_active") == 0.0
    assert quiet in listed(desk, "ben")

    cli_env = {**os.environ, "BORDERBUS_DESK_URL": desk.url, "BORDERBUS_TOKEN": desk.tokens["ana"]}
    cli = [sys.executable, "-m", "borderbus_cli", "silences"]
    added = subprocess.run(
        [
            *cli,
            "add",
            "--subject",
            "GB:533401872",
            "--min-severity",
            "HIGH",
            "--duration",
            "20m",
            "--comment",
            "cli test",
            "--json",
        ],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    cli_id = json.loads(added.stdout)["silence_id"]
    listing = subprocess.run([*cli, "list"], env=cli_env, capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0 and cli_id in listing.stdout and "subject=GB:533401872" in listing.stdout, listing
    ended = subprocess.run([*cli, "expire", cli_id, "--json"], env=cli_env, capture_output=True, text=True, timeout=60)
    assert ended.returncode == 0 and json.loads(ended.stdout)["state"] == "expired", ended.stderr
    refused = subprocess.run(
        [*cli, "add", "--rule", "x", "--comment", "no role"],
        env={**cli_env, "BORDERBUS_TOKEN": desk.tokens["ben"]},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "403" in refused.stderr


def test_every_read_and_action_is_audited_and_the_trail_cannot_be_changed(module_bus: Bus, desk: DeskProcess) -> None:
    target = f"AL-audited-{uuid.uuid4().hex[:10]}"
    AlertWriter(module_bus).publish(alert_record(target, allowed=["uk-bf"]))
    wait_until(lambda: desk.request("ben", "GET", f"/api/v1/alerts/{target}")[0] == 200, "the alert reaches the desk")
    assert target in listed(desk, "ben", "status=new&min_severity=HIGH")
    assert desk.request("ben", "POST", f"/api/v1/alerts/{target}/actions", {"action": "ACKNOWLEDGE", "note": "seen"})[0] == 200
    assert desk.request("ben", "POST", f"/api/v1/alerts/{target}/actions", {"action": "ACKNOWLEDGE"})[0] == 409
    wrong = "bbo_wrong-" + uuid.uuid4().hex
    assert raw_request(desk, wrong, "GET", "/api/v1/alerts")[0] == 401

    status, trail = desk.request("sue", "GET", f"/api/v1/audit?alert={target}")
    assert status == 200, trail
    seen = [(entry["officer"], entry["what"], entry["outcome"]) for entry in trail["entries"]]
    assert ("ben", "alert.read", "ok") in seen
    assert ("ben", "alert.action", "ok") in seen and ("ben", "alert.action", "refused:illegal_transition") in seen
    action = next(e for e in trail["entries"] if e["what"] == "alert.action" and e["outcome"] == "ok")
    assert action["detail"] == "ACKNOWLEDGE: seen" and action["client_address"] == "127.0.0.1" and action["agency"] == "uk-bf"
    lists = desk.request("sue", "GET", "/api/v1/audit?officer=ben&what=alerts.list")[1]["entries"]
    assert any(entry["detail"] == "min_severity=HIGH&status=new" for entry in lists)
    assert desk.request("ben", "GET", "/api/v1/audit")[1]["error"] == "forbidden"
    assert desk.request("sue", "GET", "/api/v1/audit?since=yesterday")[1]["field"] == "since"

    before = desk.request("sue", "GET", f"/api/v1/audit?alert={target}")[1]["count"]
    for method in ("DELETE", "PUT", "POST", "PATCH"):
        status, answer = desk.request("sue", method, "/api/v1/audit", {"entries": []})
        assert (status, answer["error"]) == (405, "method_not_allowed"), (method, answer)
    for method in ("DELETE", "PUT"):
        assert desk.request("sue", method, f"/api/v1/audit/{trail['entries'][0]['audit_id']}", {})[0] in (404, 405)
    after = desk.request("sue", "GET", f"/api/v1/audit?alert={target}")[1]
    assert after["count"] >= before and {e["audit_id"] for e in trail["entries"]} <= {e["audit_id"] for e in after["entries"]}

    schema = module_bus.schemas.latest("desk-audit")
    registry = SchemaRegistry(module_bus.settings, known=module_bus.schemas)
    messages = read_all(module_bus.settings, module_bus.catalogue.topic("desk.audit"), timeout=10)
    records = [codec.decode(message.value(), schema, registry.lookup) for message in messages]
    failed = [r for r in records if r["what"] == "signin.failed"]
    assert failed and failed[-1]["officer"] == "unknown" and failed[-1]["outcome"] == "refused:invalid_token"
    assert {r["what"] for r in records} >= {"alert.read", "alerts.list", "alert.action", "audit.read", "signin.failed"}
    assert all((message.key() or b"").decode() == r["officer"] for message, r in zip(messages, records, strict=True))
    assert not any(wrong.encode() in message.value() or desk.tokens["ben"].encode() in message.value() for message in messages)

    cli_env = {**os.environ, "BORDERBUS_DESK_URL": desk.url, "BORDERBUS_TOKEN": desk.tokens["sue"]}
    shown = subprocess.run(
        [sys.executable, "-m", "borderbus_cli", "audit", "--officer", "ben", "--alert", target, "--since", "0"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert "alert.read" in shown.stdout and "alert.action" in shown.stdout and target in shown.stdout
