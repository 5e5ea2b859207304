"""The alert book: versions only on news, corroboration, TLP handling, the Avro record, and order-insensitivity."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import fastavro
import pytest
from fastavro.validation import validate

from borderbus import codec
from borderbus.catalogue import Catalogue
from borderbus.config import Settings
from borderbus.schemas import SchemaCatalogue
from borderbus_correlator.alert_book import AlertBook, AlertState, alert_id, evidence_summary
from borderbus_correlator.model import AlertDecision, Observation

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO_ROOT / "schemas" / "avro"
T0 = 1_764_400_000_000
RULE = "wanted_subject_sighted"
PERSON = "PERSON_DOCUMENT:IQ:A1234567"
PLATE = "VEHICLE_PLATE:GB:AB12CDE"
PHONE = "PHONE:+447700900123"
ALL_AGENCIES = sorted(
    ["iq-bgc", "krg-bca", "uk-bf", "gr-hcg", "iq-fiu", "uk-fiu", "uk-nca", "uk-cps", "meta-safety", "tiktok-safety"]
)


@pytest.fixture(scope="module")
def book() -> AlertBook:
    catalogue = Catalogue(Settings.from_env({}))
    return AlertBook(catalogue.agencies, catalogue.border_points)


def sighting(event_id: str, agency: str = "uk-bf", point: str | None = "GB-DOV", at: int = 0, tlp: str = "AMBER") -> Observation:
    return Observation(event_id, agency, "sighting", T0 + at, T0 + at + 5_000, tlp, (PERSON,), point, {"method": "ANPR_CAMERA"})


def warrant(event_id: str = "case-1", agency: str = "uk-nca", at: int = -60_000, tlp: str = "AMBER") -> Observation:
    facts = {
        "case_id": "CPS-1",
        "status": "WARRANT_ISSUED",
        "network_id": None,
        "warrant_ref": None,
        "roles": {PERSON: "SUSPECT"},
    }
    return Observation(event_id, agency, "case-update", T0 + at, T0 + at + 1_000, tlp, (PERSON,), None, facts)


def flag(event_id: str = "flag-1", agency: str = "iq-fiu", at: int = -120_000, tlp: str = "AMBER") -> Observation:
    facts = {"risk_score": 88, "channel": "HAWALA", "amount": "15000.00", "currency": "USD"}
    return Observation(event_id, agency, "finance-flag", T0 + at, T0 + at + 1_000, tlp, (PERSON,), None, facts)


def decision(
    *evidence: Observation,
    severity: str = "HIGH",
    score: float = 0.8,
    subjects: tuple[str, ...] = (PERSON,),
    border_point: str | None = "GB-DOV",
    summary: str = "Wanted subject sighted.",
    key: str = "CPS-1|W-1",
) -> AlertDecision:
    return AlertDecision(RULE, f"{RULE}|{key}", severity, score, subjects, evidence, border_point, summary)


def merged(book: AlertBook, *decisions: AlertDecision) -> AlertState:
    """The stored state after each decision, as the stream processor keeps it (None leaves it as it was)."""
    state: AlertState | None = None
    for number, item in enumerate(decisions):
        state = book.merge(state, item, T0 + number) or state
    assert state is not None
    return state


def test_alert_id_is_deterministic_and_shaped() -> None:
    first = alert_id(RULE, f"{RULE}|CPS-1|W-1")
    assert first == alert_id(RULE, f"{RULE}|CPS-1|W-1")
    assert first != alert_id(RULE, f"{RULE}|CPS-1|W-2")
    assert first.startswith("AL-") and len(first) == 23
    int(first[3:], 16)


def test_first_decision_is_version_1(book: AlertBook) -> None:
    item = decision(warrant(), sighting("s-1"))
    state = book.merge(None, item, T0 + 10)
    assert state is not None
    assert (state.alert_id, state.version, state.rule) == (alert_id(RULE, item.alert_key), 1, RULE)
    assert (state.created_at_ms, state.updated_at_ms) == (T0 + 10, T0 + 10)
    assert set(state.evidence) == {"case-1", "s-1"}
    assert state.subjects == [PERSON]
    assert (state.severity, state.base_severity, state.score) == ("HIGH", "HIGH", 0.8), "the warrant is context"
    assert state.border_point == "GB-DOV"


def test_the_same_decision_again_publishes_nothing(book: AlertBook) -> None:
    item = decision(warrant(), sighting("s-1"))
    state = book.merge(None, item, T0)
    assert state is not None
    assert book.merge(state, item, T0 + 1) is None


def test_new_evidence_makes_version_2_with_the_union(book: AlertBook) -> None:
    first = book.merge(None, decision(warrant(), sighting("s-1")), T0)
    assert first is not None
    second = book.merge(first, decision(warrant(), sighting("s-2", at=60_000)), T0 + 5)
    assert second is not None
    assert second.version == 2
    assert set(second.evidence) == {"case-1", "s-1", "s-2"}
    assert (second.created_at_ms, second.updated_at_ms) == (T0, T0 + 5)
    assert first.version == 1 and set(first.evidence) == {"case-1", "s-1"}, "merge must not mutate the stored state"


def test_another_perspective_with_a_subset_of_the_evidence_adds_nothing(book: AlertBook) -> None:
    state = merged(book, decision(warrant(), sighting("s-1"), sighting("s-2", at=60_000), subjects=(PERSON, PLATE)))
    subset = decision(warrant(), sighting("s-2", at=60_000), score=0.95, border_point=None, summary="Seen from the plate.")
    assert book.merge(state, subset, T0 + 9) is None


def test_new_subjects_or_a_higher_base_severity_make_a_new_version(book: AlertBook) -> None:
    state = merged(book, decision(sighting("s-1"), severity="MEDIUM"))
    with_plate = book.merge(state, decision(sighting("s-1"), severity="MEDIUM", subjects=(PERSON, PLATE)), T0 + 1)
    assert with_plate is not None and with_plate.version == 2 and with_plate.subjects == sorted([PERSON, PLATE])
    higher = book.merge(with_plate, decision(sighting("s-1"), severity="HIGH"), T0 + 2)
    assert higher is not None and (higher.version, higher.severity) == (3, "HIGH")
    assert book.merge(higher, decision(sighting("s-1"), severity="LOW"), T0 + 3) is None


@pytest.mark.parametrize(
    ("base", "raised"), [("LOW", "MEDIUM"), ("MEDIUM", "HIGH"), ("HIGH", "CRITICAL"), ("CRITICAL", "CRITICAL")]
)
def test_corroboration_by_two_agencies_raises_severity_one_step(book: AlertBook, base: str, raised: str) -> None:
    alone = merged(book, decision(sighting("s-1"), sighting("s-2", at=1), severity=base))
    assert alone.severity == base
    together = merged(book, decision(flag(), sighting("s-1"), severity=base))
    assert (together.severity, together.base_severity) == (raised, base)


@pytest.mark.parametrize("base", ["LOW", "MEDIUM", "HIGH"])
def test_the_context_that_defines_the_rule_does_not_corroborate(book: AlertBook, base: str) -> None:
    """A prosecutor's warrant (or the case naming a network) plus one agency's sighting is one observation."""
    with_context = merged(book, decision(warrant(), sighting("s-1"), severity=base))
    assert (with_context.severity, with_context.base_severity) == (base, base)
    assert "Corroborated" not in with_context.summary
    observed_twice = merged(book, decision(warrant(), flag(), sighting("s-1"), severity=base))
    assert observed_twice.severity != base


def test_summary_names_the_corroborating_agencies(book: AlertBook) -> None:
    assert merged(book, decision(sighting("s-1"))).summary == "Wanted subject sighted."
    state = merged(book, decision(flag(), warrant(), sighting("s-1"), summary="Wanted subject sighted at GB-DOV."))
    assert state.summary == (
        "Wanted subject sighted at GB-DOV. Corroborated by 2 agencies that observed the subjects: iq-fiu, uk-bf."
    )


def test_tlp_is_the_most_restrictive_marking(book: AlertBook) -> None:
    assert merged(book, decision(sighting("s-1", tlp="GREEN"), warrant(tlp="CLEAR"))).tlp == "GREEN"
    assert merged(book, decision(sighting("s-1", tlp="GREEN"), warrant(tlp="AMBER_STRICT"))).tlp == "AMBER_STRICT"
    assert merged(book, decision(sighting("s-1", tlp="RED"), warrant(tlp="AMBER"))).tlp == "RED"


def test_an_unknown_marking_is_handled_as_red(book: AlertBook) -> None:
    state = merged(book, decision(sighting("s-1", tlp="GREEN"), warrant(tlp="PURPLE")))
    assert state.tlp == "RED"
    assert book.allowed_agencies(state) == ["uk-bf", "uk-nca"]


@pytest.mark.parametrize(
    ("tlp", "expected"),
    [
        ("CLEAR", ALL_AGENCIES),
        ("GREEN", ALL_AGENCIES),
        ("AMBER", ["iq-bgc", "iq-fiu", "krg-bca", "uk-bf", "uk-cps", "uk-fiu", "uk-nca"]),
        ("AMBER_STRICT", ["iq-bgc", "krg-bca", "uk-nca"]),
        ("RED", ["iq-bgc", "uk-nca"]),
    ],
)
def test_allowed_agencies_follow_the_marking(book: AlertBook, tlp: str, expected: list[str]) -> None:
    # iq-bgc sights the subject at IQ-IBK, which krg-bca operates; uk-nca holds the warrant (GB).
    state = merged(book, decision(sighting("s-1", agency="iq-bgc", point="IQ-IBK", tlp=tlp), warrant(tlp="CLEAR")))
    assert state.tlp == tlp
    assert book.allowed_agencies(state) == expected
    assert book.to_record(state)["allowed_agencies"] == expected


def _state_for_record(book: AlertBook) -> AlertState:
    report = Observation(
        "report-1", "meta-safety", "platform-report", T0 - 300_000, T0, "GREEN", (PHONE,), None,
        {"platform": "facebook", "content_kind": "ADVERT", "content_ref": "ad-1"},
    )  # fmt: skip
    return merged(
        book,
        decision(warrant(), sighting("s-1"), subjects=(PERSON, PLATE)),
        decision(flag(), report, sighting("s-2", at=60_000, point=None), subjects=(PERSON, PHONE), border_point=None),
    )


def test_record_carries_every_alert_field(book: AlertBook) -> None:
    state = _state_for_record(book)
    record = book.to_record(state)
    assert record["version"] == 2 and record["severity"] == "CRITICAL" and record["tlp"] == "AMBER"
    assert (record["created_at"], record["updated_at"]) == (T0, T0 + 1)
    assert (record["window_start"], record["window_end"]) == (T0 - 300_000, T0 + 60_000)
    assert record["border_point"] == "GB-DOV", "a decision without a border point keeps the previous one"
    assert record["subjects"] == [
        {"kind": "PERSON_DOCUMENT", "id": "IQ:A1234567", "display_name": None},
        {"kind": "PHONE", "id": "+447700900123", "display_name": None},
        {"kind": "VEHICLE_PLATE", "id": "GB:AB12CDE", "display_name": None},
    ]
    assert [(item["event_id"], item["summary"]) for item in record["evidence"]] == [
        ("report-1", "meta-safety report of facebook ADVERT ad-1"),
        ("flag-1", "iq-fiu finance flag risk 88 (HAWALA 15000.00 USD)"),
        ("case-1", "uk-nca case CPS-1 WARRANT_ISSUED"),
        ("s-1", "uk-bf sighting (ANPR_CAMERA) at GB-DOV"),
        ("s-2", "uk-bf sighting (ANPR_CAMERA)"),
    ]
    assert record["evidence"][3] == {
        "event_id": "s-1", "agency": "uk-bf", "event_type": "sighting", "occurred_at": T0,
        "border_point": "GB-DOV", "summary": "uk-bf sighting (ANPR_CAMERA) at GB-DOV",
        "subjects": ["PERSON_DOCUMENT:IQ:A1234567"], "latitude": None, "longitude": None,
        "facts": {"method": "ANPR_CAMERA"},
    }  # fmt: skip
    assert [item["facts"] for item in record["evidence"][:3]] == [
        {"platform": "facebook", "content_kind": "ADVERT", "content_ref": "ad-1"},
        {"risk_score": "88", "channel": "HAWALA", "amount": "15000.00", "currency": "USD"},
        {"case_id": "CPS-1", "status": "WARRANT_ISSUED"},
    ]


def test_record_validates_against_the_alert_schema(book: AlertBook) -> None:
    with (SCHEMA_DIR / "alert" / "v1.avsc").open(encoding="utf-8") as handle:
        schema = fastavro.parse_schema(json.load(handle))
    assert validate(book.to_record(_state_for_record(book)), schema, raise_errors=True)


def _millis(value: Any) -> Any:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {key: _millis(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_millis(item) for item in value]
    return value


def test_record_round_trips_through_the_codec(book: AlertBook) -> None:
    schema = SchemaCatalogue(SCHEMA_DIR).latest("alert")
    record = book.to_record(_state_for_record(book))
    decoded = codec.decode(codec.encode(schema, record), schema, {schema.fingerprint: schema.parsed}.get)
    assert _millis(decoded) == record


def test_evidence_summaries_tolerate_missing_facts() -> None:
    bare = Observation("e", "uk-nca", "case-update", T0, T0, "AMBER", (PERSON,))
    assert evidence_summary(bare) == "uk-nca case"
    assert evidence_summary(replace(bare, event_type="finance-flag", facts={"risk_score": 0})) == "uk-nca finance flag risk 0"
    assert evidence_summary(replace(bare, event_type="sighting", border_point="GB-LHR")) == "uk-nca sighting at GB-LHR"
    drone = replace(bare, event_type="sighting", facts={"method": "DRONE"}, latitude=50.94, longitude=0.976)
    assert evidence_summary(drone) == "uk-nca sighting (DRONE) at 50.9400,0.9760"
    assert (
        evidence_summary(replace(bare, event_type="platform-report", facts={"platform": "tiktok"})) == "uk-nca report of tiktok"
    )
    assert evidence_summary(replace(bare, event_type="new-type")) == "uk-nca new-type"
    with_ref = replace(bare, facts={"case_id": "CPS-1", "status": "WARRANT_ISSUED", "warrant_ref": "W-9"})
    assert evidence_summary(with_ref) == "uk-nca case CPS-1 WARRANT_ISSUED (warrant W-9)"


def _perspectives() -> list[AlertDecision]:
    """One alert found from several subjects' histories, each seeing part of the evidence."""
    return [
        decision(warrant(), sighting("s-1"), severity="MEDIUM", score=0.5),
        decision(warrant(), sighting("s-2", at=60_000, tlp="GREEN"), subjects=(PERSON, PLATE), score=0.6),
        decision(warrant(), sighting("s-1"), sighting("s-2", at=60_000, tlp="GREEN"), score=0.7),
        decision(flag(tlp="AMBER_STRICT"), sighting("s-1"), subjects=(PERSON, PHONE), severity="MEDIUM", score=0.7),
        decision(sighting("s-3", agency="iq-bgc", point="IQ-IBK", at=-3_600_000), severity="LOW", score=0.7),
    ]


def _outcome(book: AlertBook, state: AlertState) -> tuple[Any, ...]:
    record = book.to_record(state)
    return (
        record["evidence"], record["subjects"], state.severity, state.base_severity, record["tlp"],
        record["allowed_agencies"], record["window_start"], record["window_end"],
    )  # fmt: skip


@pytest.mark.parametrize("seed", range(20))
def test_merging_is_order_insensitive_and_idempotent(book: AlertBook, seed: int) -> None:
    expected = _outcome(book, merged(book, *_perspectives()))
    shuffled = _perspectives() * 2
    random.Random(seed).shuffle(shuffled)
    state = merged(book, *shuffled)
    assert _outcome(book, state) == expected
    assert set(state.evidence) == {"case-1", "flag-1", "s-1", "s-2", "s-3"}
    assert (state.severity, state.tlp) == ("CRITICAL", "AMBER_STRICT")
    assert book.allowed_agencies(state) == ["iq-bgc", "iq-fiu", "krg-bca", "uk-bf", "uk-nca"]
    assert all(book.merge(state, item, T0 + 99) is None for item in shuffled)


def test_versions_count_up_without_gaps(book: AlertBook) -> None:
    state: AlertState | None = None
    versions = []
    for number, item in enumerate(_perspectives() * 2):
        new = book.merge(state, item, T0 + number)
        if new is not None:
            versions.append(new.version)
            state = new
    assert versions == list(range(1, len(versions) + 1))


def test_state_survives_a_json_round_trip(book: AlertBook) -> None:
    state = _state_for_record(book)
    restored = AlertState.from_json(json.loads(json.dumps(state.to_json())))
    assert restored == state
    assert book.to_record(restored) == book.to_record(state)
    assert book.merge(restored, decision(flag(), sighting("s-1")), T0 + 50) is None


def test_a_decision_for_another_alert_is_refused(book: AlertBook) -> None:
    state = merged(book, decision(sighting("s-1")))
    with pytest.raises(ValueError, match="merged into alert"):
        book.merge(state, decision(sighting("s-9"), key="CPS-2|W-1"), T0 + 1)


def test_an_unknown_severity_is_refused(book: AlertBook) -> None:
    with pytest.raises(ValueError, match="unknown severity"):
        book.merge(None, decision(sighting("s-1"), severity="URGENT"), T0)


def test_evidence_from_one_agency_only_is_not_corroboration(book: AlertBook) -> None:
    state = merged(book, decision(sighting("s-1"), sighting("s-2", at=60_000)))
    assert state.agencies == ["uk-bf"]
    assert state.severity == state.base_severity
    assert "Corroborated" not in state.summary
