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
    PendingDelivery,
    allowed_actions,
    delivery_id,
    next_status,
    status_record,
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


# -- following the facts: retractions, versions an acknowledgement covers, status records --------------


def v2(alert_id: str, version: int, change: str | None, **overrides: Any) -> dict[str, Any]:
    """An alert v2 record (status, change, previous_severity, retraction)."""
    return record(
        alert_id, version, **{"status": "OPEN", "change": change, "previous_severity": None, "retraction": None, **overrides}
    )


def retracted_record(alert_id: str, version: int) -> dict[str, Any]:
    retraction = {"reason": "warrant_withdrawn", "detail": "the warrant was withdrawn", "event_ids": ["ev-9"]}
    return {**v2(alert_id, version, "RETRACTED"), "status": "RETRACTED", "retraction": retraction}


def versioned_action(alert_id: str, kind: str, version: int, action_id: str | None = None, at: int = NOW + 5000) -> Action:
    return Action(action_id or f"{alert_id}-{kind}-v{version}", alert_id, version, kind, "ana", "uk-bf", "note", at)


def test_a_retracted_alert_shows_why_stops_escalating_and_a_reraise_makes_it_active_again() -> None:
    state = DeskState()
    state.apply_alert(v2("A", 1, "RAISED", severity="CRITICAL"), published_ms=NOW)
    deadlines = {"CRITICAL": 120.0}
    assert [a.alert_id for a in state.due_for_escalation(NOW + 10**6, deadlines)] == ["A"]
    [change] = state.apply_alert(retracted_record("A", 2), published_ms=NOW)
    assert (change.kind, change.detail) == ("version", "RETRACTED")
    alert = state.alerts["A"]
    view = alert.to_json()
    assert (view["status"], view["retracted"]) == ("retracted", True)
    assert view["retraction"] == {"reason": "warrant_withdrawn", "detail": "the warrant was withdrawn", "event_ids": ["ev-9"]}
    assert view["allowed_actions"] == ["RESOLVE", "FALSE_POSITIVE"]
    assert state.due_for_escalation(NOW + 10**6, deadlines) == []  # the clock is cancelled
    assert state.apply_action(versioned_action("A", "ESCALATE", 1)).applied is False  # a late escalation loses
    state.apply_alert(v2("A", 3, "RERAISED", severity="CRITICAL", updated_at=NOW + 50_000), published_ms=NOW)
    view = state.alerts["A"].to_json()
    assert (view["status"], view["retracted"], view["retraction"]) == ("new", False, None)
    assert view["reopened"] == "reopened: re-raised in version 3 after it was retracted"
    assert state.due_for_escalation(NOW + 50_000 + 119_999, deadlines) == []  # clock restarted from version 3
    assert [a.alert_id for a in state.due_for_escalation(NOW + 50_000 + 120_000, deadlines)] == ["A"]


def test_a_retraction_leaves_a_closed_alert_closed_but_visible_as_retracted() -> None:
    state = DeskState()
    state.apply_alert(v2("A", 1, "RAISED"), published_ms=NOW)
    state.apply_action(versioned_action("A", "RESOLVE", 1))
    state.apply_alert(retracted_record("A", 2), published_ms=NOW)
    assert (state.alerts["A"].status, state.alerts["A"].to_json()["retracted"]) == ("resolved", True)


def test_an_acknowledgement_does_not_cover_a_later_version_that_raised_the_severity() -> None:
    state = DeskState()
    state.apply_alert(v2("A", 1, "RAISED", severity="HIGH"), published_ms=NOW)
    state.apply_action(versioned_action("A", "ACKNOWLEDGE", 1))
    alert = state.alerts["A"]
    assert (alert.status, alert.acknowledged_version, alert.acknowledged_severity) == ("acknowledged", 1, "HIGH")
    state.apply_alert(
        v2("A", 2, "SEVERITY_RAISED", severity="CRITICAL", previous_severity="HIGH", updated_at=NOW + 30_000), published_ms=NOW
    )
    view = alert.to_json()
    assert view["status"] == "new"
    assert view["reopened"] == "reopened: severity raised from HIGH to CRITICAL in version 2"
    assert "ACKNOWLEDGE" in view["allowed_actions"]
    deadlines = {"CRITICAL": 120.0}
    assert state.due_for_escalation(NOW + 30_000 + 119_999, deadlines) == []  # the clock restarts from version 2
    [due] = state.due_for_escalation(NOW + 30_000 + 120_000, deadlines)
    assert (due.clock_version, escalation_action_id("A", due.clock_version)) == (2, escalation_action_id("A", 2))
    assert escalation_action_id("A", 2) != escalation_action_id("A")  # a second clock, a second escalation
    state.apply_action(versioned_action("A", "ACKNOWLEDGE", 2))
    view = alert.to_json()
    assert (view["status"], view["reopened"], view["acknowledged_version"]) == ("acknowledged", None, 2)


def test_a_higher_severity_reopens_even_without_the_change_field_of_schema_v2() -> None:
    state = DeskState()
    state.apply_alert(record("A", 1, severity="MEDIUM"), published_ms=NOW)  # alert v1 records: no change field
    state.apply_action(versioned_action("A", "ACKNOWLEDGE", 1))
    state.apply_alert(record("A", 2, severity="HIGH"), published_ms=NOW)
    assert state.alerts["A"].status == "new"
    assert state.alerts["A"].reopened == "reopened: severity raised from MEDIUM to HIGH in version 2"


def test_new_evidence_alone_keeps_the_acknowledgement_and_says_so() -> None:
    state = DeskState()
    state.apply_alert(v2("A", 1, "RAISED"), published_ms=NOW)
    state.apply_action(versioned_action("A", "ACKNOWLEDGE", 1))
    state.apply_alert(v2("A", 2, "EVIDENCE_ADDED"), published_ms=NOW)
    state.apply_alert(v2("A", 3, "SEVERITY_LOWERED", severity="MEDIUM", previous_severity="HIGH"), published_ms=NOW)
    view = state.alerts["A"].to_json()
    assert (view["status"], view["reopened"]) == ("acknowledged", None)
    assert view["updated_since_acknowledged"] == (
        "updated since acknowledged: version 3 (EVIDENCE_ADDED, SEVERITY_LOWERED) after the acknowledgement of version 1"
    )
    assert state.due_for_escalation(NOW + 10**9, {"MEDIUM": 1.0, "HIGH": 1.0}) == []


def test_notices_carry_a_code_and_parameters_for_the_console_and_keep_their_english_text() -> None:
    state = DeskState()
    state.apply_alert(v2("A", 1, "RAISED"), published_ms=NOW, message=b"m")
    state.apply_action(versioned_action("A", "ACKNOWLEDGE", 1))
    state.apply_alert(v2("A", 2, "EVIDENCE_ADDED"), published_ms=NOW, message=b"m")
    state.apply_alert(record("A", 3), published_ms=NOW, message=b"m")  # an alert v1 record: no change
    [updated] = state.alerts["A"].to_json()["notices"]
    assert (updated["code"], updated["params"]) == (
        "updated_since_acknowledged", {"version": "3", "changes": "EVIDENCE_ADDED,NEW_VERSION", "acknowledged_version": "1"}
    )
    assert updated["text"] == state.alerts["A"].updated_since_acknowledged == (
        "updated since acknowledged: version 3 (EVIDENCE_ADDED, new version) after the acknowledgement of version 1"
    )
    raised = v2("A", 4, "SEVERITY_RAISED", severity="CRITICAL", previous_severity="HIGH")
    state.apply_alert(raised, published_ms=NOW, message=b"m")
    [reopened] = state.alerts["A"].to_json()["notices"]
    expected = {"from": "HIGH", "to": "CRITICAL", "version": "4"}
    assert (reopened["code"], reopened["params"]) == ("reopened.severity_raised", expected)

    # a status record of schema version 1 knows only the English text: the notice comes back as that text
    status = {**status_record(state.alerts["A"], {}, NOW), "reopened_notice": None, "updated_notice": None}
    restored = DeskState()
    restored.restore(status, record("A", 4, severity="CRITICAL"), b"m")
    [legacy] = restored.alerts["A"].to_json()["notices"]
    assert legacy == {"code": "text", "params": {"text": reopened["text"]}, "text": reopened["text"]}


def test_an_acknowledgement_of_an_older_version_arriving_late_reopens_at_once() -> None:
    """The officer saw version 1 (HIGH) and clicked; version 2 (CRITICAL) reached the log first."""
    state = DeskState()
    state.apply_alert(v2("A", 1, "RAISED", severity="HIGH"), published_ms=NOW)
    state.apply_alert(v2("A", 2, "SEVERITY_RAISED", severity="CRITICAL", previous_severity="HIGH"), published_ms=NOW)
    outcome = state.apply_action(versioned_action("A", "ACKNOWLEDGE", 1))
    assert outcome.applied
    alert = state.alerts["A"]
    assert (alert.status, alert.reopened) == ("new", "reopened: severity raised from HIGH to CRITICAL in version 2")
    assert [a.action for a in alert.actions] == ["ACKNOWLEDGE"]


def test_status_records_restore_an_alert_without_its_logs() -> None:
    state = DeskState()
    state.apply_alert(v2("A", 1, "RAISED"), published_ms=NOW, message=b"v1-bytes")
    state.apply_action(versioned_action("A", "ACKNOWLEDGE", 1))
    state.apply_alert(v2("A", 2, "EVIDENCE_ADDED"), published_ms=NOW + 1, message=b"v2-bytes")
    alert = state.alerts["A"]
    alert.pending_deliveries["hook|d1"] = PendingDelivery("hook", "d1", "version")
    status = status_record(alert, {"HIGH": 600.0}, NOW + 10)
    assert (status["alert_version"], status["alert_message"], status["status"]) == (2, b"v2-bytes", "acknowledged")
    assert status["escalation_deadline"] is None  # acknowledged: no clock running

    restored = DeskState()
    restored.restore(status, v2("A", 2, "EVIDENCE_ADDED"), b"v2-bytes")
    again = restored.alerts["A"]
    assert {**again.to_json(), "published_at": None} == {**alert.to_json(), "published_at": None}
    assert again.pending_deliveries == alert.pending_deliveries
    # the logs' retained tail replays over it: repeats change nothing, a newer version still applies
    assert restored.apply_action(versioned_action("A", "ACKNOWLEDGE", 1)).reason == "duplicate"
    assert restored.apply_alert(v2("A", 2, "EVIDENCE_ADDED"), published_ms=NOW) == []
    restored.apply_alert(v2("A", 3, "SEVERITY_RAISED", severity="CRITICAL", previous_severity="HIGH"), published_ms=NOW)
    assert restored.alerts["A"].reopened == "reopened: severity raised from HIGH to CRITICAL in version 3"


def test_a_preview_is_the_state_after_the_action_and_changes_nothing() -> None:
    state = DeskState()
    state.apply_alert(v2("A", 1, "RAISED"), published_ms=NOW, message=b"m")
    after = state.preview(versioned_action("A", "ACKNOWLEDGE", 1))
    assert (after.status, state.alerts["A"].status, state.alerts["A"].actions) == ("acknowledged", "new", [])
    state.apply_action(versioned_action("A", "RESOLVE", 1))
    with pytest.raises(IllegalTransition):
        state.preview(versioned_action("A", "ACKNOWLEDGE", 1, action_id="z"))


def test_checkpoints_take_each_changed_alert_once() -> None:
    state = DeskState()
    state.apply_alert(v2("A", 1, "RAISED"), published_ms=NOW, message=b"a")
    state.apply_alert(v2("B", 1, "RAISED"), published_ms=NOW, message=b"b")
    state.apply_action(versioned_action("A", "ACKNOWLEDGE", 1))
    assert [alert.alert_id for alert in state.take_dirty()] == ["A", "B"]
    assert state.take_dirty() == []


def test_delivery_ids_follow_alert_version_and_change() -> None:
    state = DeskState()
    [raised] = state.apply_alert(v2("A", 1, "RAISED"), published_ms=NOW)
    [pulled] = state.apply_alert(retracted_record("A", 2), published_ms=NOW)
    replayed = DeskState()
    assert [c.delivery_id for c in replayed.apply_alert(v2("A", 1, "RAISED"), published_ms=NOW)] == [raised.delivery_id]
    assert pulled.delivery_id == delivery_id("A", 2, "RETRACTED") != raised.delivery_id
    ack = state.apply_action(versioned_action("A", "RESOLVE", 2, action_id="act-1")).change
    assert ack is not None and ack.delivery_id == delivery_id("A", 2, "RESOLVE/act-1")


def test_closed_alerts_leave_after_the_keep_period_open_ones_never() -> None:
    state = DeskState()
    for alert_id in ("open", "closed", "recent"):
        state.apply_alert(v2(alert_id, 1, "RAISED"), published_ms=NOW)
    state.apply_action(versioned_action("closed", "RESOLVE", 1, at=NOW + 1000))
    state.apply_action(versioned_action("recent", "FALSE_POSITIVE", 1, at=NOW + 50_000))
    state.take_dirty()
    assert state.forget_closed(NOW + 1000 + 9_999, keep_ms=10_000) == []
    assert state.forget_closed(NOW + 1000 + 10_000, keep_ms=10_000) == ["closed"]
    assert set(state.alerts) == {"open", "recent"}
    assert state.forget_closed(NOW + 10**12, keep_ms=10_000) == ["recent"]
    assert set(state.alerts) == {"open"}
    assert [a.alert_id for a in state.changed_since(0) or []] == ["open"]
