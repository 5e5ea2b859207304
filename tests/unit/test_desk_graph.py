"""The network graph of an alert: subjects, links made by evidence naming several subjects, other open alerts."""

from __future__ import annotations

from typing import Any

from borderbus_desk.graph import MAX_OTHER_ALERTS, build_graph

PERSON, PHONE, CAR = "PERSON_DOCUMENT:IQ:A1234567", "PHONE:+447700900123", "VEHICLE_PLATE:GB:AB12CDE"


def _evidence(event_id: str, at: int, *subjects: str) -> dict[str, Any]:
    return {"event_id": event_id, "agency": "uk-bf", "event_type": "sighting", "occurred_at": at, "border_point": "GB-DOV",
            "summary": "", "subjects": list(subjects)}  # fmt: skip


def _alert(alert_id: str, subjects: list[str], evidence: list[dict[str, Any]], updated: int = 0) -> dict[str, Any]:
    return {
        "alert_id": alert_id, "rule": "wanted_subject_sighted", "severity": "HIGH", "updated_at": updated,
        "subjects": [{"kind": key.split(":", 1)[0], "id": key.split(":", 1)[1]} for key in subjects], "evidence": evidence,
    }  # fmt: skip


def test_an_event_naming_several_subjects_links_every_pair_and_says_which_events() -> None:
    alert = _alert("AL-1", [PERSON, CAR], [_evidence("e1", 1, PERSON, CAR, PHONE), _evidence("e2", 2, PERSON, PHONE)])
    graph = build_graph(alert, [])
    assert {node["id"] for node in graph["nodes"]} == {PERSON, CAR, PHONE}
    assert {node["id"]: node["in_alert"] for node in graph["nodes"]} == {PERSON: True, CAR: True, PHONE: False}
    links = {(link["source"], link["target"]): [e["event_id"] for e in link["evidence"]] for link in graph["links"]}
    pair = lambda a, b: tuple(sorted((a, b)))  # noqa: E731
    assert links == {pair(PERSON, CAR): ["e1"], pair(CAR, PHONE): ["e1"], pair(PERSON, PHONE): ["e1", "e2"]}


def test_other_open_alerts_come_in_only_through_a_shared_subject() -> None:
    alert = _alert("AL-1", [PERSON], [_evidence("e1", 1, PERSON)])
    sharing = _alert("AL-2", [PHONE], [_evidence("e9", 5, PHONE, PERSON)], updated=5)
    unrelated = _alert("AL-3", [CAR], [_evidence("e8", 5, CAR)])
    graph = build_graph(alert, [(alert, "new"), (sharing, "acknowledged"), (unrelated, "new")])
    alerts = [node for node in graph["nodes"] if node["type"] == "alert"]
    assert [(node["alert_id"], node["status"]) for node in alerts] == [("AL-2", "acknowledged")]
    assert {"source": "alert:AL-2", "target": PERSON, "type": "alert"} in graph["links"]
    assert graph["other_alerts"] == 1 and graph["truncated"] is False


def test_an_alert_without_evidence_subjects_still_shows_its_own_subjects() -> None:
    old = _alert("AL-1", [PERSON, CAR], [{**_evidence("e1", 1), "subjects": []}])
    graph = build_graph(old, [])
    assert {node["id"] for node in graph["nodes"]} == {PERSON, CAR} and graph["links"] == []


def test_the_other_alerts_are_capped_newest_first() -> None:
    alert = _alert("AL-0", [PERSON], [_evidence("e0", 1, PERSON)])
    others = [(_alert(f"AL-{n:03d}", [PERSON], [], updated=n), "new") for n in range(1, MAX_OTHER_ALERTS + 6)]
    graph = build_graph(alert, others)
    shown = [node["alert_id"] for node in graph["nodes"] if node["type"] == "alert"]
    assert len(shown) == MAX_OTHER_ALERTS and shown[0] == f"AL-{MAX_OTHER_ALERTS + 5:03d}" and graph["truncated"] is True
