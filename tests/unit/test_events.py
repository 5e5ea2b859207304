"""JSON events to Avro records: what agencies may send, and the errors they get for the rest."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from borderbus.bus import Bus
from borderbus.events import EventPreparer, FieldError, InvalidEvents


def preparer(bus: Bus, agency: str) -> EventPreparer:
    agency_config = bus.catalogue.agency(agency)
    schemas = {
        event_type: bus.schemas.latest(event_type)
        for event_type in ("sighting", "finance-flag", "case-update", "platform-report")
    }
    return EventPreparer(bus.catalogue, schemas, agency_config)


def sighting(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "source_system": "checkpoint-dov-7",
        "occurred_at": "2026-11-28T08:00:00.000Z",
        "tlp": "AMBER+STRICT",
        "subjects": [
            {"kind": "PERSON_DOCUMENT", "id": "a 123-4567", "country": "IRQ"},
            {"kind": "PHONE", "id": "0770 123 4567", "country": "IQ"},
        ],
        "location": {"border_point": "GB-DOV", "country": "GB", "latitude": 51.127, "longitude": 1.313},
        "method": "DOCUMENT_SCAN",
        "direction": "INBOUND",
    }
    body.update(overrides)
    return body


def errors_of(call: Any) -> list[FieldError]:
    with pytest.raises(InvalidEvents) as raised:
        call()
    return raised.value.errors


def test_sighting_is_normalised_and_filled_in(offline_bus: Bus) -> None:
    event = preparer(offline_bus, "uk-bf").prepare("sighting", sighting())
    record = event.record
    assert record["agency"] == "uk-bf"
    assert record["tlp"] == "AMBER_STRICT"
    assert [s["id"] for s in record["subjects"]] == ["IQ:A1234567", "+9647701234567"]
    assert record["occurred_at"] == 1_795_852_800_000
    assert record["reported_at"] >= record["occurred_at"]
    assert event.key == "PERSON_DOCUMENT:IQ:A1234567"
    assert record["confidence"] == 1.0 and record["headcount"] is None


def test_finance_flag_amount_and_counterparty_subject_index(offline_bus: Bus) -> None:
    body = {
        "source_system": "goaml",
        "occurred_at": 1_795_852_800_000,
        "tlp": "RED",
        "subjects": [{"kind": "BANK_ACCOUNT", "id": "GB82 WEST 1234 5698 7654 32"}],
        "amount": "9800.50",
        "currency": "GBP",
        "channel": "WIRE",
        "counterparties": [{"role": "ORIGINATOR", "subject_index": 0, "name": "A. Person", "country": "GB"}],
        "typologies": ["STRUCTURING"],
        "risk_score": 80,
    }
    record = preparer(offline_bus, "uk-fiu").prepare("finance-flag", body).record
    assert record["amount"] == Decimal("9800.50")
    assert record["counterparties"][0]["subject_id"] == "GB82WEST12345698765432"


def test_every_problem_is_reported_with_its_field(offline_bus: Bus) -> None:
    body = sighting(
        tlp="PURPLE",
        confidence="high",
        unexpected=1,
        subjects=[{"kind": "PHONE", "id": "12", "country": "IQ"}, {"kind": "SPACESHIP", "id": "x"}],
    )
    del body["source_system"]
    errors = errors_of(lambda: preparer(offline_bus, "uk-bf").prepare("sighting", body, index=3))
    fields = {error.field: error for error in errors}
    assert set(fields) >= {"tlp", "confidence", "unexpected", "source_system", "subjects[0].id", "subjects[1].kind"}
    assert all(error.index == 3 for error in errors)
    assert "PURPLE" in fields["tlp"].reason and "AMBER_STRICT" in fields["tlp"].reason
    assert fields["source_system"].reason == "is required"
    assert fields["subjects[0].id"].code == "invalid_identifier"


def test_agency_cannot_publish_as_another_agency(offline_bus: Bus) -> None:
    errors = errors_of(lambda: preparer(offline_bus, "uk-bf").prepare("sighting", sighting(agency="iq-bgc")))
    assert [(e.field, e.code) for e in errors] == [("agency", "provenance_mismatch")]


def test_event_type_checks(offline_bus: Bus) -> None:
    uk_bf = preparer(offline_bus, "uk-bf")
    assert errors_of(lambda: uk_bf.prepare_batch("weather", [{}]))[0].code == "unknown_event_type"
    assert errors_of(lambda: uk_bf.prepare_batch("finance-flag", [{}]))[0].code == "event_type_not_allowed"


def test_a_batch_is_refused_whole_and_names_each_bad_event(offline_bus: Bus) -> None:
    bodies = [sighting(), sighting(occurred_at="yesterday"), sighting(), sighting(subjects=[])]
    errors = errors_of(lambda: preparer(offline_bus, "uk-bf").prepare_batch("sighting", bodies))
    assert {(e.index, e.field) for e in errors} == {(1, "occurred_at"), (3, "subjects")}


def test_repeated_event_id_in_one_batch(offline_bus: Bus) -> None:
    same = "6f1c2a9e-7d0b-4c1e-9a55-0c7f3e2b1a00"
    errors = errors_of(
        lambda: preparer(offline_bus, "uk-bf").prepare_batch("sighting", [sighting(event_id=same), sighting(event_id=same)])
    )
    assert [(e.index, e.field) for e in errors] == [(1, "event_id")]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at"),
        ({"occurred_at": "2026-11-28T08:00:00"}, "occurred_at"),
        ({"location": {"border_point": "XX-NOPE", "country": "GB"}}, "location.border_point"),
        ({"location": None}, "location"),
        ({"confidence": 1.5}, "confidence"),
        ({"event_id": "not-a-uuid"}, "event_id"),
        ({"headcount": 2**40}, "headcount"),
    ],
)
def test_meaningless_values_are_refused(offline_bus: Bus, overrides: dict[str, Any], field: str) -> None:
    errors = errors_of(lambda: preparer(offline_bus, "uk-bf").prepare("sighting", sighting(**overrides)))
    assert field in {e.field for e in errors}


def test_case_update_roles_must_point_at_subjects(offline_bus: Bus) -> None:
    body = {
        "source_system": "case-mgmt",
        "occurred_at": 1_795_852_800_000,
        "tlp": "AMBER",
        "subjects": [{"kind": "PERSON_DOCUMENT", "id": "A1234567", "country": "IQ"}],
        "case_id": "OIC-2026-0042",
        "status": "WARRANT_ISSUED",
        "subject_roles": [{"subject_index": 0, "role": "ORGANISER"}, {"subject_index": 5, "role": "DRIVER"}],
        "jurisdiction": "GB",
    }
    errors = errors_of(lambda: preparer(offline_bus, "uk-nca").prepare("case-update", body))
    assert {e.field for e in errors} == {"subject_roles[1].subject_index"}
    body["subject_roles"].pop()
    errors = errors_of(lambda: preparer(offline_bus, "uk-nca").prepare("case-update", body))
    assert {e.field for e in errors} == {"warrant_ref"}
    body["warrant_ref"] = "W-2026-17"
    record = preparer(offline_bus, "uk-nca").prepare("case-update", body).record
    assert record["subject_roles"] == [{"subject_id": "IQ:A1234567", "role": "ORGANISER"}]


def test_platform_agency_reports_only_its_platforms(offline_bus: Bus) -> None:
    body = {
        "source_system": "trust-safety-api",
        "occurred_at": 1_795_852_800_000,
        "tlp": "GREEN",
        "subjects": [{"kind": "PHONE", "id": "+90 532 123 45 67"}],
        "platform": "facebook",
        "content_kind": "ADVERT",
        "content_ref": "ad-1",
        "action_taken": "REMOVED",
    }
    errors = errors_of(lambda: preparer(offline_bus, "tiktok-safety").prepare("platform-report", body))
    assert [e.field for e in errors] == ["platform"]
    assert preparer(offline_bus, "meta-safety").prepare("platform-report", body).record["subjects"][0]["id"] == "+905321234567"


def test_a_revision_names_an_earlier_event_and_says_why(offline_bus: Bus) -> None:
    original = preparer(offline_bus, "uk-bf").prepare("sighting", sighting()).record
    body = sighting(revises={"event_id": str(original["event_id"]), "action": "RETRACT", "reason": "scanner fault"})
    record = preparer(offline_bus, "uk-bf").prepare("sighting", body).record
    assert record["revises"] == {
        "event_id": str(original["event_id"]),
        "action": "RETRACT",
        "reason": "scanner fault",
        "subjects": [],
    }
    plate = {"kind": "VEHICLE_PLATE", "id": "ab12 cde", "country": "GB"}
    corrected = sighting(
        revises={"event_id": str(original["event_id"]), "action": "CORRECT", "reason": "misread", "subjects": [plate]}
    )
    reaches = preparer(offline_bus, "uk-bf").prepare("sighting", corrected).record["revises"]["subjects"]
    assert reaches == [{"kind": "VEHICLE_PLATE", "id": "GB:AB12CDE", "display_name": None, "verified": True}]
    itself = sighting(
        event_id=str(original["event_id"]), revises={"event_id": str(original["event_id"]), "action": "CORRECT", "reason": " "}
    )
    errors = errors_of(lambda: preparer(offline_bus, "uk-bf").prepare("sighting", itself))
    assert {e.field for e in errors} == {"revises.event_id", "revises.reason"}
    unknown = sighting(revises={"event_id": "not-a-uuid", "action": "UNDO", "reason": "x"})
    assert {e.field for e in errors_of(lambda: preparer(offline_bus, "uk-bf").prepare("sighting", unknown))} >= {"revises.action"}


def test_a_case_update_removes_subjects_by_index(offline_bus: Bus) -> None:
    body = {
        "source_system": "case-mgmt",
        "occurred_at": 1_795_852_800_000,
        "tlp": "AMBER",
        "subjects": [{"kind": "PERSON_DOCUMENT", "id": "A1234567", "country": "IQ"}],
        "case_id": "OIC-2026-0042",
        "status": "SUBJECT_ADDED",
        "subject_roles": [],
        "removed_subject_indexes": [0],
        "jurisdiction": "GB",
    }
    record = preparer(offline_bus, "uk-nca").prepare("case-update", body).record
    assert record["removed_subject_ids"] == ["IQ:A1234567"]
    body["removed_subject_indexes"] = [3]
    assert {e.field for e in errors_of(lambda: preparer(offline_bus, "uk-nca").prepare("case-update", body))} == {
        "removed_subject_indexes[0]"
    }
