"""The identifier policy: refuse only what has no canonical form, keep the unverifiable, drop one bad subject alone."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from test_events import preparer, sighting

from borderbus.bus import Bus
from borderbus.catalogue import EVENT_TYPES
from borderbus.events import EventPreparer, InvalidEvents, warnings_body
from borderbus_correlator.alert_book import AlertBook
from borderbus_correlator.observation import observe
from borderbus_correlator.pipeline import InMemoryPipeline
from borderbus_correlator.rule_config import RuleConfig

UNASSIGNED = "+964 123 456 7890"  # the right length for Iraq, in a range libphonenumber's metadata calls unassigned
UNASSIGNED_NATIONAL = ("01234567890", "IQ")
BAD_PHONE = {"kind": "PHONE", "id": "555", "country": "GB"}  # too short: no canonical form


def with_policy(bus: Bus, agency: str, **policy: str) -> EventPreparer:
    config = dataclasses.replace(bus.catalogue.agency(agency), **policy)
    schemas = {event_type: bus.schemas.latest(event_type) for event_type in EVENT_TYPES}
    return EventPreparer(bus.catalogue, schemas, config)


def advert(phone: dict[str, Any]) -> dict[str, Any]:
    return {
        "source_system": "trust-safety-api",
        "occurred_at": "2026-11-20T08:00:00.000Z",
        "tlp": "GREEN",
        "subjects": [{"kind": "PLATFORM_ACCOUNT", "id": "tiktok:@crossings_uk"}, phone],
        "platform": "tiktok",
        "content_kind": "ADVERT",
        "content_ref": "tiktok-1",
        "action_taken": "REMOVED",
    }


def test_an_unassigned_range_phone_still_links_an_advert_to_a_sighting(offline_bus: Bus) -> None:
    """The measured miss: both events used to get 422, so the advert never met the border."""
    report = preparer(offline_bus, "tiktok-safety").prepare("platform-report", advert({"kind": "PHONE", "id": UNASSIGNED}))
    national, region = UNASSIGNED_NATIONAL
    seen = preparer(offline_bus, "uk-bf").prepare(
        "sighting",
        sighting(subjects=[{"kind": "PERSON_DOCUMENT", "id": "A1234567", "country": "IQ"},
                           {"kind": "PHONE", "id": national, "country": region}]),
    )
    phones = [s for event in (report, seen) for s in event.record["subjects"] if s["kind"] == "PHONE"]
    assert [(s["id"], s["verified"]) for s in phones] == [("+9641234567890", False)] * 2
    catalogue = offline_bus.catalogue
    run = InMemoryPipeline(RuleConfig(), catalogue.border_points, AlertBook(catalogue.agencies, catalogue.border_points))
    run.process([observe("tiktok-safety", "platform-report", report.record), observe("uk-bf", "sighting", seen.record)])
    (alert,) = [a for a in run.alerts.values() if a.rule == "advert_to_action"]
    assert set(alert.evidence) == {report.event_id, seen.event_id}


def test_unverified_identifiers_are_counted_by_kind(offline_bus: Bus) -> None:
    from borderbus.events import UNVERIFIED_IDENTIFIERS

    before = UNVERIFIED_IDENTIFIERS.labels("PHONE")._value.get()
    preparer(offline_bus, "tiktok-safety").prepare("platform-report", advert({"kind": "PHONE", "id": UNASSIGNED}))
    assert UNVERIFIED_IDENTIFIERS.labels("PHONE")._value.get() == before + 1


def test_a_strict_agency_refuses_the_unverifiable(offline_bus: Bus) -> None:
    strict = with_policy(offline_bus, "tiktok-safety", identifier_policy="strict")
    event = strict.prepare("platform-report", advert({"kind": "PHONE", "id": UNASSIGNED}))
    assert [s["id"] for s in event.record["subjects"]] == ["tiktok:crossings_uk"]
    assert [(w.field, w.code) for w in event.warnings] == [("subjects[1].id", "subject_dropped")]
    assert "range" in event.warnings[0].reason


def test_one_bad_subject_is_dropped_with_a_warning_and_the_rest_published(offline_bus: Bus) -> None:
    body = sighting(subjects=[BAD_PHONE, {"kind": "PERSON_DOCUMENT", "id": "A1234567", "country": "IQ"}])
    event = preparer(offline_bus, "uk-bf").prepare("sighting", body, index=4)
    assert [s["id"] for s in event.record["subjects"]] == ["IQ:A1234567"]
    assert event.key == "PERSON_DOCUMENT:IQ:A1234567"
    assert warnings_body([event]) == {
        "warnings": [{"index": 4, "field": "subjects[0].id", "reason": event.warnings[0].reason, "code": "subject_dropped"}]
    }


def test_a_dropped_subject_takes_its_case_role_with_it(offline_bus: Bus) -> None:
    body = {
        "source_system": "case-mgmt",
        "occurred_at": "2026-11-20T08:00:00.000Z",
        "tlp": "AMBER",
        "subjects": [{"kind": "PERSON_DOCUMENT", "id": "A1234567", "country": "IQ"}, BAD_PHONE],
        "case_id": "NCA-1",
        "status": "OPENED",
        "subject_roles": [{"subject_index": 0, "role": "SUSPECT"}, {"subject_index": 1, "role": "SUSPECT"}],
        "jurisdiction": "GB",
    }
    record = preparer(offline_bus, "uk-nca").prepare("case-update", body).record
    assert record["subject_roles"] == [{"subject_id": "IQ:A1234567", "role": "SUSPECT"}]


def test_an_all_or_nothing_agency_gets_the_whole_event_refused(offline_bus: Bus) -> None:
    strict = with_policy(offline_bus, "uk-bf", invalid_subjects="refuse_event")
    body = sighting(subjects=[BAD_PHONE, {"kind": "PERSON_DOCUMENT", "id": "A1234567", "country": "IQ"}])
    with pytest.raises(InvalidEvents) as raised:
        strict.prepare("sighting", body)
    assert [(e.field, e.code) for e in raised.value.errors] == [("subjects[0].id", "invalid_identifier")]


def test_an_event_with_no_valid_subject_left_is_refused_naming_the_field(offline_bus: Bus) -> None:
    with pytest.raises(InvalidEvents) as raised:
        preparer(offline_bus, "uk-bf").prepare("sighting", sighting(subjects=[BAD_PHONE, dict(BAD_PHONE, id="12")]))
    assert [e.field for e in raised.value.errors] == ["subjects[0].id", "subjects[1].id"]


def test_an_event_naming_more_subjects_than_the_limit_is_refused(offline_bus: Bus) -> None:
    limit = offline_bus.catalogue.max_subjects_per_event
    assert limit == 50
    people = [{"kind": "PERSON_DOCUMENT", "id": f"A{n:07d}", "country": "IQ"} for n in range(limit + 1)]
    with pytest.raises(InvalidEvents) as raised:
        preparer(offline_bus, "uk-bf").prepare("sighting", sighting(subjects=people))
    assert [(e.field, e.code) for e in raised.value.errors] == [("subjects", "too_many_subjects")]
    assert len(preparer(offline_bus, "uk-bf").prepare("sighting", sighting(subjects=people[:limit])).record["subjects"]) == limit
