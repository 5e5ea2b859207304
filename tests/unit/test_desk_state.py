"""The duty desk's pure logic: statuses, visibility, replay, resumable change log, escalation, filters."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from borderbus.catalogue import CatalogueError
from borderbus_desk.desk_config import DeskConfig
from borderbus_desk.escalator import escalation_action_id
from borderbus_desk.officers import OfficerDirectory, new_token, officer_entry
from borderbus_desk.state import (
    Action,
    AlertFilter,
    DeskState,
    FilterError,
    IllegalTransition,
    allowed_actions,
    next_status,
    visible_to,
)
from borderbus_desk.webhooks import sign, verify_signature

NOW = 1_800_000_000_000


def record(alert_id: str, version: int = 1, **overrides: Any) -> dict[str, Any]:
    base = {
        "alert_id": alert_id,
        "version": version,
        "rule": "wanted_subject_sighted",
        "severity": "HIGH",
        "score": 0.9,
        "created_at": NOW,
        "updated_at": NOW + version,
        "tlp": "AMBER",
        "allowed_agencies": ["uk-bf", "uk-nca"],
        "subjects": [{"kind": "PERSON_DOCUMENT", "id": "GB:123456789"}],
        "border_point": "GB-DVR",
        "window_start": NOW - 1000,
        "window_end": NOW,
        "evidence": [],
        "summary": "test",
    }
    return {**base, **overrides}


def action(alert_id: str, kind: str, actor: str = "ana", action_id: str | None = None, at: int = NOW + 5000) -> Action:
    return Action(action_id or f"{alert_id}-{kind}-{actor}", alert_id, 1, kind, actor, "uk-bf", "note", at)


@pytest.mark.parametrize(
    ("status", "kind", "after"),
    [
        ("new", "ACKNOWLEDGE", "acknowledged"),
        ("new", "ESCALATE", "escalated"),
        ("escalated", "ACKNOWLEDGE", "acknowledged"),
        ("acknowledged", "ESCALATE", "escalated"),
        ("acknowledged", "RESOLVE", "resolved"),
        ("escalated", "FALSE_POSITIVE", "false_positive"),
    ],
)
def test_legal_transitions(status: str, kind: str, after: str) -> None:
    assert next_status(status, kind) == after
    assert kind in allowed_actions(status)


@pytest.mark.parametrize(
    ("status", "kind"),
    [("resolved", "ACKNOWLEDGE"), ("false_positive", "RESOLVE"), ("acknowledged", "ACKNOWLEDGE"), ("escalated", "ESCALATE")],
)
def test_illegal_transitions_say_what_applies(status: str, kind: str) -> None:
    with pytest.raises(IllegalTransition, match=f"cannot {kind} an alert that is {status}"):
        next_status(status, kind)
    assert kind not in allowed_actions(status)


def test_visibility_red_needs_the_agency_named() -> None:
    assert visible_to("uk-bf", record("A", allowed_agencies=["uk-bf"]))
    assert not visible_to("iq-fiu", record("A", allowed_agencies=["uk-bf"]))
    assert visible_to("iq-fiu", record("A", tlp="GREEN", allowed_agencies=["*"]))
    assert not visible_to("iq-fiu", record("A", tlp="RED", allowed_agencies=["*"]))
    assert visible_to("uk-nca", record("A", tlp="RED", allowed_agencies=["*", "uk-nca"]))


def test_a_race_lost_on_the_log_is_ignored_the_same_way_on_every_replay() -> None:
    log = [
        ("alert", record("A")),
        ("action", action("A", "ACKNOWLEDGE", "ana")),
        ("action", action("A", "ACKNOWLEDGE", "ben")),  # clicked at the same time; second on the log
        ("alert", record("A", version=2)),
        ("action", action("A", "RESOLVE", "ben")),
        ("action", action("A", "RESOLVE", "ben")),  # a resubmission of the same action id
    ]

    def replay() -> DeskState:
        state = DeskState()
        for kind, item in log:
            if kind == "alert":
                state.apply_alert(item, published_ms=NOW)  # type: ignore[arg-type]
            else:
                state.apply_action(item)  # type: ignore[arg-type]
        return state

    first, second = replay(), replay()
    for state in (first, second):
        alert = state.alerts["A"]
        assert alert.status == "resolved"
        assert alert.acknowledged_by == "ana"
        assert [(a.action, a.actor) for a in alert.actions] == [("ACKNOWLEDGE", "ana"), ("RESOLVE", "ben")]
        assert alert.version == 2
    assert first.alerts["A"].to_json() == second.alerts["A"].to_json()
    assert first.outcomes["A-ACKNOWLEDGE-ben"].applied is False
    assert "cannot ACKNOWLEDGE" in (first.outcomes["A-ACKNOWLEDGE-ben"].reason or "")


def test_an_action_read_before_its_alert_waits_for_it() -> None:
    state = DeskState()
    assert state.apply_action(action("A", "ACKNOWLEDGE")).applied is False
    changes = state.apply_alert(record("A"), published_ms=NOW)
    assert [change.kind for change in changes] == ["version", "action"]
    assert state.alerts["A"].status == "acknowledged"


def test_old_versions_change_nothing() -> None:
    state = DeskState()
    state.apply_alert(record("A", version=2), published_ms=NOW)
    assert state.apply_alert(record("A", version=1), published_ms=NOW) == []
    assert state.alerts["A"].version == 2


def test_changed_since_gives_each_changed_alert_once_or_none_when_forgotten() -> None:
    state = DeskState(change_log_length=4)
    for alert_id in "ABC":
        state.apply_alert(record(alert_id), published_ms=NOW)
    state.apply_action(action("A", "ACKNOWLEDGE"))  # seq 4
    assert [a.alert_id for a in state.changed_since(1) or []] == ["B", "C", "A"]
    assert state.changed_since(4) == []
    state.apply_alert(record("D"), published_ms=NOW)  # seq 5 pushes seq 1 out of the log
    assert state.changed_since(0) is None
    assert [a.alert_id for a in state.changed_since(1) or []] == ["B", "C", "A", "D"]
    assert state.changed_since(99) is None


def test_due_for_escalation_by_severity_deadline_from_creation() -> None:
    state = DeskState()
    state.apply_alert(record("crit", severity="CRITICAL"), published_ms=NOW)
    state.apply_alert(record("high", severity="HIGH"), published_ms=NOW)
    state.apply_alert(record("low", severity="LOW"), published_ms=NOW)
    state.apply_alert(record("acked", severity="CRITICAL"), published_ms=NOW)
    state.apply_action(action("acked", "ACKNOWLEDGE"))
    deadlines = {"CRITICAL": 120.0, "HIGH": 600.0, "LOW": None}
    assert state.due_for_escalation(NOW + 119_999, deadlines) == []
    assert [a.alert_id for a in state.due_for_escalation(NOW + 120_000, deadlines)] == ["crit"]
    assert {a.alert_id for a in state.due_for_escalation(NOW + 10**9, deadlines)} == {"crit", "high"}
    state.alerts["crit"].escalation_pending = True
    assert [a.alert_id for a in state.due_for_escalation(NOW + 600_000, deadlines)] == ["high"]
    escalation = Action(escalation_action_id("high"), "high", 1, "ESCALATE", "system", "borderbus", None, NOW)
    state.apply_action(escalation)
    assert state.apply_action(escalation).applied is False  # the same escalation twice counts once
    assert [a.action for a in state.alerts["high"].actions] == ["ESCALATE"]
    assert escalation_action_id("high") == escalation_action_id("high") != escalation_action_id("crit")


def test_filters() -> None:
    state = DeskState()
    state.apply_alert(record("A", severity="CRITICAL", border_point="GR-EVR"), published_ms=NOW)
    state.apply_alert(record("B", severity="LOW", rule="impossible_travel", updated_at=NOW + 10_000), published_ms=NOW)
    state.apply_action(action("A", "ACKNOWLEDGE"))

    def chosen(**query: str) -> list[str]:
        alert_filter = AlertFilter.from_query(query)
        return sorted(a.alert_id for a in state.alerts.values() if alert_filter.matches(a))

    assert chosen(min_severity="high") == ["A"]
    assert chosen(status="new") == ["B"]
    assert chosen(status="new,acknowledged") == ["A", "B"]
    assert chosen(rule="impossible_travel") == ["B"]
    assert chosen(border_point="gr-evr") == ["A"]
    assert chosen(subject="person_document:gb:123456789") == ["A", "B"]
    assert chosen(subject="GB:123456789") == ["A", "B"]
    assert chosen(subject="GB:1") == []
    assert chosen(since=str(NOW + 5_000)) == ["B"]
    assert chosen(until="2027-01-15T08:00:00.001Z") == ["A"]  # NOW is 2027-01-15T08:00Z; A was updated 1 ms after


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"min_severity": "URGENT"}, "min_severity"),
        ({"status": "open"}, "status"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-02-01", "until": "2026-01-01"}, "until"),
    ],
)
def test_bad_filters_name_the_field(query: dict[str, str], field: str) -> None:
    with pytest.raises(FilterError) as error:
        AlertFilter.from_query(query)
    assert error.value.field == field


def test_webhook_signature_round_trip_and_rejections() -> None:
    body = b'{"alert":{}}'
    header = sign("s3cret", body, int(time.time()))
    assert verify_signature("s3cret", header, body)
    assert not verify_signature("other", header, body)
    assert not verify_signature("s3cret", header, body + b" ")
    old = sign("s3cret", body, int(time.time()) - 3600)
    assert not verify_signature("s3cret", old, body)
    assert not verify_signature("s3cret", "garbage", body)


def test_officer_directory_stores_only_digests(tmp_path: Path) -> None:
    token = new_token()
    path = tmp_path / "officers.yaml"
    path.write_text(yaml.safe_dump({"officers": [officer_entry("ana", "uk-bf", token)]}))
    assert token not in path.read_text()
    directory = OfficerDirectory.load(path, {"uk-bf"})
    officer = directory.authenticate(token)
    assert officer is not None and (officer.officer_id, officer.agency) == ("ana", "uk-bf")
    assert directory.authenticate(token + "x") is None
    with pytest.raises(CatalogueError, match="agency"):
        OfficerDirectory.load(path, {"iq-fiu"})


def test_desk_config_rejects_bad_deadlines(tmp_path: Path) -> None:
    path = tmp_path / "desk.yaml"
    path.write_text(yaml.safe_dump({"acknowledgement_deadlines_seconds": {"URGENT": 5}}))
    with pytest.raises(CatalogueError, match="URGENT"):
        DeskConfig.load(path, set())
    path.write_text(yaml.safe_dump({"webhooks": [{"name": "x", "agency": "nope", "url": "http://x", "secret_env": "S"}]}))
    with pytest.raises(CatalogueError, match=r"webhooks\[0\].agency"):
        DeskConfig.load(path, {"uk-bf"})
