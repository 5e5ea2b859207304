"""Silences are pure logic: matching, validation naming the field, versions, and what they do to the desk's state."""

from __future__ import annotations

from typing import Any

import pytest

from borderbus_desk import silences
from borderbus_desk.silences import Matchers, Silence, SilenceError, SilenceLimits
from borderbus_desk.state import AlertFilter, DeskState

NOW = 1_800_000_000_000
MINUTE = 60_000
LIMITS = SilenceLimits(max_duration_ms=24 * 60 * MINUTE, known_agencies=frozenset({"uk-bf", "uk-nca", "iq-fiu"}))


def alert(
    alert_id: str = "AL-1",
    *,
    rule: str = "wanted_subject_sighted",
    severity: str = "HIGH",
    border_point: str | None = "GB-DOV",
    allowed: tuple[str, ...] = ("uk-bf", "uk-nca"),
    tlp: str = "AMBER",
    evidence_agencies: tuple[str, ...] = ("uk-bf",),
    subject: tuple[str, str] = ("VEHICLE_PLATE", "GB:BB24XYZ"),
    version: int = 1,
    created_ms: int = NOW,
) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "version": version,
        "rule": rule,
        "severity": severity,
        "score": 0.9,
        "tlp": tlp,
        "allowed_agencies": list(allowed),
        "border_point": border_point,
        "subjects": [{"kind": subject[0], "id": subject[1]}],
        "evidence": [
            {
                "event_id": f"e{i}",
                "agency": a,
                "event_type": "sighting",
                "occurred_at": created_ms,
                "border_point": None,
                "summary": "",
            }
            for i, a in enumerate(evidence_agencies)
        ],
        "summary": "s",
        "created_at": created_ms,
        "updated_at": created_ms,
        "window_start": None,
        "window_end": None,
    }


def silence(matchers: dict[str, Any], *, start: int = NOW, end: int = NOW + 60 * MINUTE, agency: str = "uk-bf") -> Silence:
    made = silences.new_silence(
        {"matchers": matchers, "starts_at": start, "ends_at": end, "comment": "planned ANPR maintenance"},
        "ana",
        agency,
        NOW,
        LIMITS,
    )
    return made


@pytest.mark.parametrize(
    ("matchers", "expected"),
    [
        ({"rule": "wanted_subject_sighted"}, True),
        ({"rule": ["implausible_movement", "hub_detected"]}, False),
        ({"subject": "VEHICLE_PLATE:gb:bb24xyz"}, True),
        ({"subject": "GB:BB24XYZ"}, True),
        ({"subject": "GB:OTHER"}, False),
        ({"border_point": "gb-dov"}, True),
        ({"border_point": "GR-EVR"}, False),
        ({"agency": "uk-bf"}, True),
        ({"agency": "iq-fiu"}, False),
        ({"min_severity": "HIGH"}, True),
        ({"min_severity": "CRITICAL"}, False),
        ({"max_severity": "MEDIUM"}, False),
        ({"min_severity": "MEDIUM", "max_severity": "HIGH"}, True),
        ({"rule": "wanted_subject_sighted", "border_point": "GR-EVR"}, False),  # every matcher must hold
    ],
)
def test_matchers(matchers: dict[str, Any], expected: bool) -> None:
    assert silence(matchers).applies_to(alert(), NOW) is expected


def test_a_silence_applies_only_while_active() -> None:
    quiet = silence({"rule": "wanted_subject_sighted"}, start=NOW + MINUTE, end=NOW + 2 * MINUTE)
    assert [quiet.state(t) for t in (NOW, NOW + MINUTE, NOW + 2 * MINUTE)] == ["pending", "active", "expired"]
    assert [quiet.applies_to(alert(), t) for t in (NOW, NOW + MINUTE, NOW + 2 * MINUTE - 1, NOW + 2 * MINUTE)] == [
        False,
        True,
        True,
        False,
    ]


def test_a_silence_never_covers_alerts_its_agency_may_not_see() -> None:
    quiet = silence({"rule": "wanted_subject_sighted"}, agency="iq-fiu")
    assert not quiet.applies_to(alert(allowed=("uk-bf",)), NOW)
    assert quiet.applies_to(alert(allowed=("*",), tlp="GREEN"), NOW)
    assert not quiet.applies_to(alert(allowed=("*",), tlp="RED"), NOW)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"matchers": {}, "ends_at": NOW + MINUTE, "comment": "x"}, "matchers"),
        ({"ends_at": NOW + MINUTE, "comment": "x"}, "matchers"),
        ({"matchers": {"colour": "red"}, "ends_at": NOW + MINUTE, "comment": "x"}, "matchers.colour"),
        ({"matchers": {"min_severity": "SEVERE"}, "ends_at": NOW + MINUTE, "comment": "x"}, "matchers.min_severity"),
        (
            {"matchers": {"min_severity": "HIGH", "max_severity": "LOW"}, "ends_at": NOW + MINUTE, "comment": "x"},
            "matchers.max_severity",
        ),
        ({"matchers": {"agency": "xx-none"}, "ends_at": NOW + MINUTE, "comment": "x"}, "matchers.agencies"),
        ({"matchers": {"rule": 7}, "ends_at": NOW + MINUTE, "comment": "x"}, "matchers.rules"),
        ({"matchers": {"rule": "r"}, "comment": "x"}, "ends_at"),
        ({"matchers": {"rule": "r"}, "ends_at": "tomorrow", "comment": "x"}, "ends_at"),
        ({"matchers": {"rule": "r"}, "ends_at": NOW - 1, "comment": "x"}, "ends_at"),
        ({"matchers": {"rule": "r"}, "starts_at": NOW + 2 * MINUTE, "ends_at": NOW + MINUTE, "comment": "x"}, "ends_at"),
        ({"matchers": {"rule": "r"}, "duration_seconds": 0, "comment": "x"}, "duration_seconds"),
        ({"matchers": {"rule": "r"}, "duration_seconds": 10**9, "comment": "x"}, "duration_seconds"),
        ({"matchers": {"rule": "r"}, "ends_at": NOW + MINUTE}, "comment"),
        ({"matchers": {"rule": "r"}, "ends_at": NOW + MINUTE, "comment": "   "}, "comment"),
        ({"matchers": {"rule": "r"}, "ends_at": NOW + MINUTE, "comment": "x", "creator": "me"}, "creator"),
        (["not", "an", "object"], "body"),
    ],
)
def test_bad_requests_name_the_field(body: Any, field: str) -> None:
    with pytest.raises(SilenceError) as raised:
        silences.new_silence(body, "ana", "uk-bf", NOW, LIMITS)
    assert raised.value.field == field


def test_create_edit_expire_are_versions_and_the_record_round_trips() -> None:
    made = silences.new_silence(
        {"matchers": {"rule": "r1", "border_point": "GB-DOV"}, "duration_seconds": 600, "comment": "works"},
        "ana",
        "uk-bf",
        NOW,
        LIMITS,
    )
    assert (made.version, made.change, made.starts_at_ms, made.ends_at_ms) == (1, "CREATED", NOW, NOW + 600_000)
    assert Silence.from_record(made.to_record()) == made
    changed = silences.edited(made, {"ends_at": NOW + 1_200_000, "comment": "longer"}, "sam", NOW + MINUTE, LIMITS)
    assert (changed.version, changed.change, changed.ends_at_ms, changed.changed_by, changed.created_by) == (
        2,
        "EDITED",
        NOW + 1_200_000,
        "sam",
        "ana",
    )
    assert changed.matchers == made.matchers and changed.silence_id == made.silence_id
    over = silences.expired(changed, None, "ana", NOW + 2 * MINUTE)
    assert (over.version, over.change, over.ends_at_ms, over.state(NOW + 2 * MINUTE)) == (
        3,
        "EXPIRED",
        NOW + 2 * MINUTE,
        "expired",
    )
    with pytest.raises(SilenceError) as raised:
        silences.expired(over, None, "ana", NOW + 3 * MINUTE)
    assert raised.value.field == "silence"
    with pytest.raises(SilenceError):
        silences.edited(over, {"comment": "again"}, "ana", NOW + 3 * MINUTE, LIMITS)
    assert silences.newer(changed, over) and not silences.newer(over, changed)


def test_who_may_change_a_silence() -> None:
    made = silence({"rule": "r"})
    assert silences.may_change("ana", "uk-bf", frozenset({"silence"}), made)
    assert not silences.may_change("ben", "uk-bf", frozenset({"silence"}), made)
    assert silences.may_change("sue", "uk-bf", frozenset({"supervisor"}), made)
    assert not silences.may_change("sue", "uk-nca", frozenset({"supervisor"}), made)
    assert not silences.may_change("ana", "uk-bf", frozenset(), made)


def test_expiring_soon_is_for_active_silences_near_their_end() -> None:
    made = silence({"rule": "r"}, end=NOW + 10 * MINUTE)
    assert not made.expires_soon(NOW, 5 * MINUTE)
    assert made.expires_soon(NOW + 6 * MINUTE, 5 * MINUTE)
    assert not made.expires_soon(NOW + 10 * MINUTE, 5 * MINUTE)


def test_the_clock_starts_when_the_last_covering_silence_ended() -> None:
    quiet = silence({"rule": "wanted_subject_sighted"}, end=NOW + 10 * MINUTE)
    later = silence({"border_point": "GB-DOV"}, start=NOW + 5 * MINUTE, end=NOW + 20 * MINUTE)
    unrelated = silence({"rule": "hub_detected"}, end=NOW + 30 * MINUTE)
    every = [quiet, later, unrelated]
    assert silences.clock_after_silences(NOW, alert(), every, NOW + 15 * MINUTE) == NOW + 10 * MINUTE
    assert silences.clock_after_silences(NOW, alert(), every, NOW + 40 * MINUTE) == NOW + 20 * MINUTE
    assert silences.clock_after_silences(NOW + 25 * MINUTE, alert(), every, NOW + 40 * MINUTE) == NOW + 25 * MINUTE


def test_desk_state_keeps_silenced_alerts_out_of_the_default_filter_and_out_of_escalation() -> None:
    state = DeskState()
    quiet_one, loud_one = alert("AL-quiet"), alert("AL-loud", rule="network_convergence")
    for record in (quiet_one, loud_one):
        state.apply_alert(record, NOW)
    made = silence({"rule": "wanted_subject_sighted"}, end=NOW + 10 * MINUTE)
    assert silences.apply_silence(state, made)
    changes = silences.refresh(state, NOW + MINUTE)
    assert [(c.alert_id, c.detail) for c in changes] == [("AL-quiet", "SILENCED")]
    assert silences.refresh(state, NOW + 2 * MINUTE) == []  # nothing moved: no work
    quiet, loud = state.alerts["AL-quiet"], state.alerts["AL-loud"]
    assert quiet.to_json()["silenced"] is True and quiet.to_json()["silenced_by"] == [made.silence_id]
    default, only, both = (AlertFilter.from_query(q) for q in ({}, {"silenced": "true"}, {"silenced": "any"}))
    assert (default.matches(quiet), default.matches(loud)) == (False, True)
    assert (only.matches(quiet), only.matches(loud)) == (True, False)
    assert both.matches(quiet) and both.matches(loud)
    deadlines = {"HIGH": 60.0}
    assert [a.alert_id for a in state.due_for_escalation(NOW + 5 * MINUTE, deadlines)] == ["AL-loud"]

    ended = silences.refresh(state, NOW + 10 * MINUTE)
    assert [(c.alert_id, c.detail) for c in ended] == [("AL-quiet", "SILENCE_ENDED")]
    assert quiet.escalation_deadline_ms(deadlines) == NOW + 10 * MINUTE + 60_000  # the clock starts at the silence's end
    assert state.due_for_escalation(NOW + 10 * MINUTE + 59_999, deadlines) == [loud]
    assert {a.alert_id for a in state.due_for_escalation(NOW + 11 * MINUTE, deadlines)} == {"AL-quiet", "AL-loud"}


def test_an_alert_raised_during_a_silence_is_silenced_from_its_first_version() -> None:
    state = DeskState()
    made = silence({"subject": "GB:BB24XYZ"})
    silences.apply_silence(state, made)
    silences.refresh(state, NOW)
    state.apply_alert(alert("AL-new"), NOW)
    silences.follow(state, [state.alerts["AL-new"]], NOW)
    assert state.alerts["AL-new"].silenced_by == (made.silence_id,)
    expired = silences.expired(made, {"comment": "done early"}, "ana", NOW + MINUTE)
    silences.apply_silence(state, expired)
    assert [c.detail for c in silences.refresh(state, NOW + MINUTE)] == ["SILENCE_ENDED"]
    assert state.alerts["AL-new"].silenced_by == ()


def test_matchers_describe_for_the_audit_trail() -> None:
    assert Matchers(rules=frozenset({"b", "a"}), min_severity="HIGH").describe() == "rules=a,b min_severity=HIGH"
