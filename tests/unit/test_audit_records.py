"""Audit records are built by plain functions: what they hold, what they never hold, and how supervisors query them."""

from __future__ import annotations

import pytest

from borderbus import codec
from borderbus.bus import Bus
from borderbus_desk import audit

NOW = 1_800_000_000_000


def test_an_entry_names_who_what_when_and_where() -> None:
    record = audit.entry(
        what=audit.ALERT_READ,
        officer="ana",
        agency="uk-bf",
        client_address="10.0.0.7",
        desk="desk-1",
        now_ms=NOW,
        alert_id="AL-1",
    )
    assert {k: v for k, v in record.items() if k != "audit_id"} == {
        "occurred_at": NOW,
        "officer": "ana",
        "agency": "uk-bf",
        "what": "alert.read",
        "alert_id": "AL-1",
        "silence_id": None,
        "detail": "",
        "outcome": "ok",
        "client_address": "10.0.0.7",
        "desk": "desk-1",
    }
    assert audit.key(record) == b"ana"
    assert audit.to_json(record)["occurred_at"] == "2027-01-15T08:00:00.000Z"


def test_a_failed_sign_in_has_no_officer_and_says_why() -> None:
    record = audit.entry(
        what=audit.SIGNIN_FAILED,
        officer=None,
        agency=None,
        client_address="10.0.0.9",
        desk="d",
        now_ms=NOW,
        detail="GET /api/v1/alerts: invalid_token",
        outcome=audit.refused("invalid_token"),
    )
    assert (record["officer"], record["agency"], record["outcome"]) == ("unknown", None, "refused:invalid_token")
    assert audit.key(record) == b"unknown"


def test_unknown_kinds_are_refused() -> None:
    with pytest.raises(ValueError):
        audit.entry(what="alert.delete", officer="a", agency="b", client_address="", desk="", now_ms=NOW)


def test_the_filter_detail_keeps_only_filter_names_never_a_token() -> None:
    query = {"status": "new", "min_severity": "HIGH", "access_token": "bbo_secret", "token": "bbo_secret2", "silenced": "true"}
    detail = audit.filter_detail(query)
    assert detail == "min_severity=HIGH&silenced=true&status=new"
    assert "bbo_" not in detail


def test_records_encode_with_the_shared_codec(offline_bus: Bus) -> None:
    schema = offline_bus.schemas.latest("desk-audit")
    record = audit.entry(what=audit.SIGNIN, officer="ana", agency="uk-bf", client_address="::1", desk="d", now_ms=NOW)
    decoded = codec.decode(codec.encode(schema, record), schema, lambda fp: schema.parsed if fp == schema.fingerprint else None)
    assert audit.to_json(decoded) == audit.to_json(record)


def test_a_refused_action_holding_a_lone_surrogate_is_still_written(offline_bus: Bus) -> None:
    """``make fuzz``: ``{"action": "\\ud800"}`` was a 500, because the refusal's audit record could not be encoded."""
    schema = offline_bus.schemas.latest("desk-audit")
    record = audit.entry(
        what=audit.ALERT_ACTION, officer="ana", agency="uk-bf", client_address="::1", desk="d", now_ms=NOW,
        alert_id="AL-1", detail="\ud800 ACK", outcome=audit.refused("invalid_action"),
    )
    assert record["detail"] == "\\ud800 ACK"
    decoded = codec.decode(codec.encode(schema, record), schema, lambda fp: schema.parsed if fp == schema.fingerprint else None)
    assert decoded["detail"] == "\\ud800 ACK"


def test_a_supervisor_query_sees_only_its_agency_and_what_it_asks() -> None:
    def rec(officer: str, agency: str | None, what: str, alert_id: str | None, at: int) -> dict[str, object]:
        return audit.entry(what=what, officer=officer, agency=agency, client_address="", desk="", now_ms=at, alert_id=alert_id)

    records = [
        rec("ana", "uk-bf", audit.ALERT_READ, "AL-1", NOW),
        rec("ben", "uk-bf", audit.ALERT_ACTION, "AL-1", NOW + 1),
        rec("omar", "iq-fiu", audit.ALERT_READ, "AL-1", NOW + 2),
        rec("ana", "uk-bf", audit.ALERT_READ, "AL-2", NOW + 3),
        rec("unknown", None, audit.SIGNIN_FAILED, None, NOW + 4),
    ]
    query = audit.AuditQuery.from_query("uk-bf", {"alert": "AL-1"}, NOW + 10, default_window_ms=3600_000)
    assert [r["officer"] for r in records if query.matches(r)] == ["ana", "ben"]
    query = audit.AuditQuery.from_query("uk-bf", {"officer": "ana", "what": "alert.read"}, NOW + 10, default_window_ms=3600_000)
    assert [r["alert_id"] for r in records if query.matches(r)] == ["AL-1", "AL-2"]
    query = audit.AuditQuery.from_query("uk-bf", {"since": str(NOW + 2)}, NOW + 10, default_window_ms=3600_000)
    assert [r["alert_id"] for r in records if query.matches(r)] == ["AL-2"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"what": "alert.delete"}, "what"),
        ({"limit": "0"}, "limit"),
        ({"officerx": "a"}, "officerx"),
    ],
)
def test_bad_audit_queries_name_the_field(query: dict[str, str], field: str) -> None:
    with pytest.raises(audit.AuditQueryError) as raised:
        audit.AuditQuery.from_query("uk-bf", query, NOW, default_window_ms=1000)
    assert raised.value.field == field
