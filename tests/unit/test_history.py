"""Unit tests for SubjectHistory: idempotent, order-independent, bounded, and storable as JSON."""

from __future__ import annotations

import dataclasses
import itertools
import json
from typing import Any

from borderbus_correlator.history import SubjectHistory
from borderbus_correlator.model import Observation
from borderbus_correlator.rule_config import HOUR_MS, RuleConfig

CFG = RuleConfig()
T0 = 1_777_852_800_000  # 2026-05-04 00:00 UTC
ME = "PERSON_DOCUMENT:IQ:A1234567"
PHONE = "PHONE:+9647701234567"
CAR = "VEHICLE_PLATE:GB:AB12CDE"
ACCOUNT = "BANK_ACCOUNT:GB82WEST12345698765432"


def obs(event_id: str, hours: float, subjects: tuple[str, ...] = (ME,), **facts: Any) -> Observation:
    return Observation(
        event_id=event_id,
        agency="uk-bf",
        event_type="sighting",
        occurred_at_ms=T0 + round(hours * HOUR_MS),
        reported_at_ms=T0 + round(hours * HOUR_MS) + 1000,
        tlp="GREEN",
        subjects=subjects,
        border_point="GB-DOV",
        facts=facts or {"method": "DOCUMENT_SCAN"},
    )


def ids(history: SubjectHistory) -> tuple[list[str], list[tuple[str, str]]]:
    return [o.event_id for o in history.direct], [(via, o.event_id) for via, o in history.linked]


def test_an_event_id_is_recorded_once() -> None:
    history = SubjectHistory(ME)
    assert history.add_direct(obs("e1", 0), CFG) == "added"
    assert history.add_direct(obs("e1", 0), CFG) == "duplicate"
    assert history.add_linked(PHONE, obs("e1", 0, (PHONE,)), CFG) == "duplicate"
    assert history.add_linked(PHONE, obs("e2", 1, (PHONE,)), CFG) == "added"
    assert history.add_linked(PHONE, obs("e2", 1, (PHONE,)), CFG) == "duplicate"
    assert ids(history) == (["e1"], [(PHONE, "e2")])


def test_only_events_beyond_the_retention_are_late_so_arrival_order_cannot_change_alerts() -> None:
    """A replay delivers the agencies' topics in another order than live: days of lag must still count."""
    history = SubjectHistory(ME)
    retention_h = CFG.retention_ms / HOUR_MS
    history.add_direct(obs("new", retention_h + 10), CFG)
    assert history.add_direct(obs("days-behind", 12, (ME, PHONE)), CFG) == "added"
    assert history.add_direct(obs("boundary", 10, (ME, PHONE)), CFG) == "added"  # exactly the retention behind
    late = dataclasses.replace(obs("late", 10, (ME, CAR)), occurred_at_ms=T0 + 10 * HOUR_MS - 1)
    assert history.add_direct(late, CFG) == "late"
    assert ids(history)[0] == ["boundary", "days-behind", "new"]
    assert CAR not in history.links, "a late event links nothing"


def test_case_updates_are_never_late_and_outlive_the_retention_until_their_case_closes() -> None:
    history = SubjectHistory(ME)
    warrant = dataclasses.replace(
        obs("warrant", 0), event_type="case-update", facts={"case_id": "C-1", "status": "WARRANT_ISSUED", "roles": {}}
    )
    history.add_direct(obs("now", 200 * 24), CFG)
    assert history.add_direct(warrant, CFG) == "added", "a 200-day-old warrant still states a fact"
    history.add_direct(obs("later", 201 * 24), CFG)
    history.expire(CFG)
    assert "warrant" in ids(history)[0] and history.holds_lasting_facts()
    closed = dataclasses.replace(
        warrant, event_id="closed", occurred_at_ms=T0 + 202 * 24 * HOUR_MS, facts={**warrant.facts, "status": "CLOSED"}
    )
    history.add_direct(closed, CFG)
    history.add_direct(obs("much-later", 202 * 24 + CFG.retention_ms / HOUR_MS + 1), CFG)
    history.expire(CFG)
    assert ids(history)[0] == ["much-later"] and not history.holds_lasting_facts()


def test_a_revision_revokes_the_event_in_either_arrival_order_and_only_for_its_own_agency() -> None:
    original = obs("orig", 1, (ME, CAR))
    retraction = dataclasses.replace(obs("retract", 1, (ME, CAR)), revises="orig", revision="RETRACT")
    for order in ((original, retraction), (retraction, original)):
        history = SubjectHistory(ME)
        outcomes = [history.add_direct(o, CFG) for o in order]
        assert ids(history) == ([], []), order
        assert "revoked" in outcomes or outcomes == ["added", "added"]
        assert history.without("retract").direct == [original] or order[0] is retraction
    history = SubjectHistory(ME)
    history.add_direct(original, CFG)
    forged = dataclasses.replace(retraction, event_id="forged", agency="iq-moi")
    history.add_direct(forged, CFG)
    assert ids(history)[0] == ["orig"], "another agency cannot retract uk-bf's event"
    correction = dataclasses.replace(obs("fixed", 1, (ME,)), revises="orig", revision="CORRECT")
    history.add_direct(correction, CFG)
    assert ids(history)[0] == ["fixed"]
    restored = SubjectHistory.from_json(json.loads(json.dumps(history.to_json())))
    assert ids(restored) == ids(history) and set(restored.revoked) == {"orig"}
    assert ids(restored.without("fixed"))[0] == ["orig"]


def test_linked_observations_are_late_only_beyond_retention() -> None:
    """A new link back-fills the other side's older history, so linked events may lag further."""
    history = SubjectHistory(ME)
    history.add_direct(obs("new", 100), CFG)
    assert history.add_linked(PHONE, obs("backfill", 20, (PHONE,)), CFG) == "added"
    too_old = obs("ancient", 100 - CFG.retention_ms / HOUR_MS - 1, (PHONE,))
    assert history.add_linked(PHONE, too_old, CFG) == "late"
    assert history.add_linked(PHONE, obs("linked-new", 130, (PHONE,)), CFG) == "added"
    assert history.max_seen_ms == T0 + 130 * HOUR_MS, "linked events move the watermark too"


def test_out_of_order_within_lateness_gives_the_same_state_as_in_order() -> None:
    steps = [
        ("direct", None, obs("a", 0.0, (ME, PHONE))),
        ("direct", None, obs("b", 1.0)),
        ("direct", None, obs("c", 1.0, (ME, CAR))),  # same time as b: event_id breaks the tie
        ("direct", None, obs("d", 3.0, (ME, PHONE))),
        ("linked", PHONE, obs("x", 2.0, (PHONE, ACCOUNT))),
        ("linked", CAR, obs("x", 2.0, (PHONE, ACCOUNT, CAR))),  # the same event through a second link
        ("linked", CAR, obs("y", 0.5, (CAR,))),
    ]

    def build(order: tuple[tuple[str, str | None, Observation], ...]) -> dict[str, Any]:
        history = SubjectHistory(ME)
        for mode, via, observation in order:
            outcome = history.add_direct(observation, CFG) if via is None else history.add_linked(via, observation, CFG)
            assert outcome != "late", (mode, observation.event_id)
        return history.to_json()

    expected = build(tuple(steps))
    assert [o["event_id"] for o in expected["direct"]] == ["a", "b", "c", "d"]
    assert [(e["via"], e["observation"]["event_id"]) for e in expected["linked"]] == [(CAR, "y"), (PHONE, "x")]
    assert expected["links"] == {CAR: T0 + HOUR_MS, PHONE: T0 + 3 * HOUR_MS}
    for order in itertools.permutations(steps):
        assert build(order) == expected


def test_an_event_seen_through_a_link_moves_to_direct_when_it_arrives_named() -> None:
    history = SubjectHistory(ME)
    shared = obs("e1", 0, (PHONE, ME))
    assert history.add_linked(PHONE, shared, CFG) == "added"
    assert history.add_direct(shared, CFG) == "added"
    assert ids(history) == (["e1"], [])
    assert history.add_linked(PHONE, shared, CFG) == "duplicate"


def test_links_record_the_latest_time_seen_together_and_new_links_are_reported_first() -> None:
    history = SubjectHistory(ME)
    first = obs("e1", 0, (ME, PHONE, CAR))
    assert history.new_links(first) == [PHONE, CAR]
    history.add_direct(first, CFG)
    later = obs("e2", 2, (PHONE, ME, ACCOUNT))
    assert history.new_links(later) == [ACCOUNT]
    history.add_direct(later, CFG)
    history.add_direct(obs("e3", 1, (ME, CAR)), CFG)
    assert history.links == {PHONE: T0 + 2 * HOUR_MS, CAR: T0 + HOUR_MS, ACCOUNT: T0 + 2 * HOUR_MS}
    history.add_linked(PHONE, obs("e4", 3, (PHONE, "PHONE:+447400123456")), CFG)
    assert "PHONE:+447400123456" not in history.links, "only events naming this subject create links"


def test_expiry_forgets_what_no_rule_can_reach_and_links_with_it() -> None:
    retention_h = CFG.retention_ms / HOUR_MS
    history = SubjectHistory(ME)
    history.add_direct(obs("old", 0, (ME, CAR)), CFG)
    history.add_linked(PHONE, obs("old-linked", 0.5, (PHONE,)), CFG)
    history.add_direct(obs("edge", 1, (ME, PHONE)), CFG)
    history.add_direct(obs("new", 1 + retention_h), CFG)
    assert [(s.via, s.observation.event_id) for s in history.expire(CFG)] == [(None, "old"), (PHONE, "old-linked")]
    assert ids(history) == (["edge", "new"], [])
    assert history.links == {PHONE: T0 + HOUR_MS}
    assert history.add_direct(obs("old", 0, (ME, CAR)), CFG) == "late", "a forgotten event cannot sneak back"
    assert history.expire(CFG) == []


def test_expiry_caps_each_list_keeping_the_newest() -> None:
    cfg = dataclasses.replace(CFG, max_observations=3)
    history = SubjectHistory(ME)
    for index in range(6):
        history.add_direct(obs(f"d{index}", index / 10), cfg)
        history.add_linked(PHONE, obs(f"l{index}", index / 10, (PHONE,)), cfg)
    assert len(history.expire(cfg)) == 6
    assert ids(history) == (["d3", "d4", "d5"], [(PHONE, "l3"), (PHONE, "l4"), (PHONE, "l5")])
    assert history.add_direct(obs("d5", 0.5), cfg) == "duplicate", "the index follows what is kept"
    assert history.add_direct(obs("d0", 0.0), cfg) == "added", "capped out, not late: the caller re-caps"


def test_json_round_trip_keeps_everything_and_stays_plain_json() -> None:
    history = SubjectHistory(ME)
    case = dataclasses.replace(
        obs("c1", 0, (ME, PHONE), case_id="NCA-1", status="OPENED", roles={ME: "SUSPECT", PHONE: "SUSPECT"}),
        event_type="case-update",
        agency="uk-nca",
        border_point=None,
    )
    history.add_direct(case, CFG)
    history.add_direct(obs("s1", 1), CFG)
    history.add_linked(PHONE, obs("s2", 2, (PHONE,)), CFG)
    stored = json.loads(json.dumps(history.to_json()))
    restored = SubjectHistory.from_json(stored)
    assert restored == history
    assert restored.to_json() == stored
    assert restored.add_direct(obs("s1", 1), CFG) == "duplicate"
    assert restored.add_linked(PHONE, obs("s2", 2, (PHONE,)), CFG) == "duplicate"
    assert stored["max_seen_ms"] == T0 + 2 * HOUR_MS, "the processor's housekeeping reads this key"


def test_the_processor_can_start_an_empty_history_positionally() -> None:
    history = SubjectHistory(ME, [], [], {}, 0)
    assert history == SubjectHistory(ME)
    empty = {"subject": ME, "direct": [], "linked": [], "links": {}, "max_seen_ms": 0, "retractions": [], "revoked": []}
    empty |= {"hubs": [], "other_vias": {}}
    assert history.to_json() == empty


def test_a_copy_is_independent_and_equal_to_a_stored_and_reloaded_history() -> None:
    """The stages keep histories in memory and change a copy: the committed one must not move with it."""
    history = SubjectHistory(ME)
    history.add_direct(obs("e1", 1, (ME, PHONE)), CFG)
    history.add_linked(PHONE, obs("p1", 2, (PHONE,)), CFG)
    history.add_linked(CAR, obs("p1", 2, (PHONE,)), CFG)  # a second way the same event came in
    history.seen("sighting")  # the merged view is built, then shared by the copy
    original = json.dumps(history.to_json(), sort_keys=True)
    clone = history.copy()
    assert json.dumps(clone.to_json(), sort_keys=True) == original
    clone.add_direct(obs("e2", 3, (ME, CAR)), CFG)
    clone.add_linked(ACCOUNT, obs("a1", 4, (ACCOUNT,)), CFG)
    clone.add_linked("PHONE:+441", obs("p1", 2, (PHONE,)), CFG)
    clone.drop_hub(PHONE)
    clone.expire(CFG)
    assert json.dumps(history.to_json(), sort_keys=True) == original
    assert [s.observation.event_id for s in history.seen("sighting")] == ["e1", "p1"]
    assert history.holds("p1") and not history.holds("e2")
    assert SubjectHistory.from_json(clone.to_json()) == clone


def test_the_rules_view_follows_each_insertion_and_leaves_the_copied_history_as_it_was() -> None:
    """``seen`` is kept current by insertion (not rebuilt): it must equal a rebuild, and a copy must not leak into its source."""
    stored = SubjectHistory(ME)
    for index, hours in enumerate((5, 1, 3)):
        stored.add_direct(obs(f"d{index}", hours, (ME, PHONE)), CFG)
    stored.add_linked(PHONE, obs("l0", 2, (PHONE,)), CFG)
    before = [(s.via, s.observation.event_id) for s in stored.seen("sighting")]
    changed = stored.copy()
    changed.add_direct(obs("d9", 4), CFG)
    changed.add_linked(PHONE, obs("l9", 0.5, (PHONE,)), CFG)
    changed.add_direct(dataclasses.replace(obs("f1", 2.5), event_type="finance-flag"), CFG)
    rebuilt = SubjectHistory.from_json(changed.to_json())
    for event_type in ("sighting", "finance-flag"):
        assert changed.seen(event_type) == rebuilt.seen(event_type)
    assert [s.observation.event_id for s in changed.seen("sighting")] == ["l9", "d1", "l0", "d2", "d9", "d0"]
    assert [(s.via, s.observation.event_id) for s in stored.seen("sighting")] == before
    assert not stored.seen("finance-flag")


def test_expiry_at_the_cap_trims_the_rules_view_and_names_what_it_took() -> None:
    """The view loses only the expired prefix (not rebuilt, and cut in place where this history owns the list)
    and must equal a rebuild; the history it was copied from keeps its view; expiry names exactly what it took."""
    cfg = dataclasses.replace(CFG, max_observations=4)
    stored = SubjectHistory(ME)
    for index in range(4):
        stored.add_direct(obs(f"d{index}", index, (ME, PHONE)), cfg)
        stored.add_linked(PHONE, obs(f"l{index}", index + 0.5, (PHONE,)), cfg)
    stored.add_direct(dataclasses.replace(obs("f0", 0.2), event_type="finance-flag"), cfg)
    stored.seen("sighting")
    history = stored.copy()
    history.add_direct(obs("d9", 9), cfg)
    history.add_linked(PHONE, obs("l9", 9.5, (PHONE,)), cfg)
    stored_view = {t: [(s.via, s.observation.event_id) for s in stored.seen(t)] for t in ("sighting", "finance-flag")}
    assert [(s.via, s.observation.event_id) for s in history.expire(cfg)] == [(None, "d0"), (None, "f0"), (PHONE, "l0")]
    rebuilt = SubjectHistory.from_json(history.to_json())
    for event_type in ("sighting", "finance-flag"):
        assert history.seen(event_type) == rebuilt.seen(event_type)
        assert [(s.via, s.observation.event_id) for s in stored.seen(event_type)] == stored_view[event_type]
    later = history.copy()  # a copy shares the view again: neither may now cut it in place
    later.add_direct(obs("d10", 10), cfg)
    assert [s.observation.event_id for s in later.expire(cfg)] == ["d1"]
    assert [s.observation.event_id for s in history.seen("sighting")] == ["d1", "l1", "d2", "l2", "d3", "l3", "d9", "l9"]
    assert later.seen("sighting") == SubjectHistory.from_json(later.to_json()).seen("sighting")
