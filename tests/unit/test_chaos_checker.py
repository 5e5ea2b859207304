"""The chaos checker finds each anomaly class in a synthetic history, and only there: a checker that
cannot fail would make every chaos run pass."""

from __future__ import annotations

from typing import Any

from chaos_checker import (
    ACCEPTED,
    ANOMALY_CLASSES,
    FAILED,
    REFUSED,
    UNKNOWN,
    Attempt,
    Findings,
    IngestRecord,
    Version,
    check,
    render_text,
)

TOPIC = "ingest.uk-bf.sighting"
TRUTH = {
    "expected_alerts": [
        {"rule": "wanted_subject_sighted", "event_ids": ["e1"], "context_event_ids": ["c1"]},
        {"rule": "money_meets_border", "event_ids": ["e2", "e3"]},
    ]
}


def clean_history() -> dict[str, Any]:
    """Retries, a 504 that committed, a refused probe: every client-visible outcome, and no anomaly."""
    attempts = [
        Attempt(TOPIC, ("e1", "c1"), 100, FAILED, 503),  # certainly not committed ...
        Attempt(TOPIC, ("e1", "c1"), 200, ACCEPTED, 202),  # ... the retry is
        Attempt(TOPIC, ("e2", "e3"), 300, UNKNOWN, 504),  # committed after all ...
        Attempt(TOPIC, ("e2", "e3"), 400, ACCEPTED, 202),  # ... so the retry is answered "already accepted"
        Attempt(TOPIC, ("probe-1", "probe-2"), 500, REFUSED, 422),
    ]
    records = [
        IngestRecord(TOPIC, 0, 0, "e1", 200),
        IngestRecord(TOPIC, 1, 0, "c1", 200),
        IngestRecord(TOPIC, 2, 0, "e2", 300),
        IngestRecord(TOPIC, 2, 1, "e3", 300),
    ]
    versions = [
        Version("a1", 1, "wanted_subject_sighted", "OPEN", frozenset({"e1"})),
        Version("a1", 2, "wanted_subject_sighted", "OPEN", frozenset({"e1", "c1"})),
        Version("a2", 1, "money_meets_border", "OPEN", frozenset({"e2", "e3"})),
        Version("a3", 1, "wanted_subject_sighted", "OPEN", frozenset({"w1"})),  # raised, then ...
        Version("a3", 2, "wanted_subject_sighted", "RETRACTED", frozenset({"w1"})),  # ... retracted: no alert
    ]
    desk = {"a1": {"status": "new", "version": 2}, "a2": {"status": "resolved", "version": 1}}
    return {
        "attempts": attempts,
        "records": records,
        "truth": TRUTH,
        "versions": versions,
        "desk_live": desk,
        "desk_replay": {key: dict(value) for key, value in desk.items()},
        "actions_acknowledged": ["x1"],
        "actions_on_log": ["x1"],
    }


def only(findings: Findings, name: str, count: int = 1) -> None:
    counts = findings.counts
    assert counts[name] == count, findings.as_dict()[name]
    assert {other: n for other, n in counts.items() if other != name and n} == {}, counts


def test_a_clean_history_has_no_anomaly() -> None:
    findings = check(**clean_history())
    assert findings.total == 0, findings.as_dict()
    assert set(findings.counts) == set(ANOMALY_CLASSES)


def test_an_acknowledged_event_missing_from_its_topic_is_a_lost_write() -> None:
    history = clean_history()
    history["records"] = [r for r in history["records"] if r.event_id != "c1"]
    history["truth"] = {"expected_alerts": [{"rule": "money_meets_border", "event_ids": ["e2", "e3"]}]}
    history["versions"] = [v for v in history["versions"] if v.alert_id != "a1"]
    history["desk_live"] = history["desk_replay"] = {}
    findings = check(**history)
    only(findings, "lost_write")
    assert findings.examples["lost_write"][0]["event_id"] == "c1"


def test_an_event_on_another_topic_is_still_lost() -> None:
    history = clean_history()
    history["records"] = [
        IngestRecord("ingest.uk-bf.other", r.partition, r.offset, r.event_id, r.reported_at) if r.event_id == "e3" else r
        for r in history["records"]
    ]
    assert check(**history).counts["lost_write"] == 1


def test_an_event_twice_on_its_topic_is_a_duplicate_whichever_attempt_wrote_it() -> None:
    history = clean_history()
    history["records"] = [*history["records"], IngestRecord(TOPIC, 2, 2, "e2", 400)]
    findings = check(**history)
    only(findings, "duplicate")
    assert findings.examples["duplicate"][0]["copies"] == [(2, 0, 300), (2, 2, 400)]


def test_a_record_of_a_503_attempt_is_an_aborted_read_even_when_its_retry_also_committed() -> None:
    history = clean_history()
    records = [r for r in history["records"] if r.event_id != "c1"]
    history["records"] = [*records, IngestRecord(TOPIC, 1, 0, "c1", 100)]  # the 503 attempt's copy, not the retry's
    findings = check(**history)
    only(findings, "aborted_read")
    assert findings.examples["aborted_read"][0]["told"] == "failed (503)"


def test_a_record_of_a_refused_request_is_an_aborted_read() -> None:
    history = clean_history()
    history["records"] = [*history["records"], IngestRecord(TOPIC, 0, 1, "probe-2", 500)]
    findings = check(**history)
    only(findings, "aborted_read")
    assert findings.examples["aborted_read"][0]["told"] == "refused (422)"


def test_a_record_of_an_unknown_outcome_is_no_anomaly() -> None:
    history = clean_history()
    assert any(r.reported_at == 300 for r in history["records"])
    assert check(**history).total == 0


def test_a_planted_pattern_without_its_alert_is_missed_and_an_alert_with_other_evidence_is_extra() -> None:
    history = clean_history()
    history["versions"] = [
        *[v for v in history["versions"] if v.alert_id != "a2"],
        Version("a2", 1, "money_meets_border", "OPEN", frozenset({"e2"})),  # one planted event short
    ]
    findings = check(**history)
    assert (findings.counts["missed_alert"], findings.counts["extra_alert"]) == (1, 1)
    assert findings.examples["extra_alert"][0]["alert_id"] == "a2"


def test_a_retracted_planted_alert_is_missed() -> None:
    history = clean_history()
    history["versions"] = [*history["versions"], Version("a2", 2, "money_meets_border", "RETRACTED", frozenset({"e2", "e3"}))]
    only(check(**history), "missed_alert")


def test_an_alert_of_the_wrong_rule_is_extra_and_its_pattern_missed() -> None:
    history = clean_history()
    history["versions"] = [
        Version(v.alert_id, v.version, "convergence" if v.alert_id == "a2" else v.rule, v.status, v.evidence)
        for v in history["versions"]
    ]
    findings = check(**history)
    assert (findings.counts["missed_alert"], findings.counts["extra_alert"]) == (1, 1)


def test_an_alert_version_twice_is_a_duplicate_version() -> None:
    history = clean_history()
    history["versions"] = [*history["versions"], Version("a1", 2, "wanted_subject_sighted", "OPEN", frozenset({"e1", "c1"}))]
    findings = check(**history)
    only(findings, "duplicate_alert_version")
    assert findings.examples["duplicate_alert_version"][0] == {"alert_id": "a1", "version": 2, "times": 2}


def test_a_missing_version_is_a_gap() -> None:
    history = clean_history()
    history["versions"] = [v for v in history["versions"] if (v.alert_id, v.version) != ("a1", 1)]
    findings = check(**history)
    only(findings, "alert_version_gap")
    assert findings.examples["alert_version_gap"][0]["missing"] == [1]


def test_a_desk_that_differs_from_its_replay_diverges() -> None:
    history = clean_history()
    history["desk_replay"] = {"a1": {"status": "acknowledged", "version": 2}, "a2": {"status": "resolved", "version": 1}}
    findings = check(**history)
    only(findings, "desk_divergence")
    assert findings.examples["desk_divergence"][0]["difference"] == ["status"]


def test_an_alert_missing_from_either_desk_diverges() -> None:
    history = clean_history()
    history["desk_replay"] = {"a1": {"status": "new", "version": 2}, "a9": {"status": "new", "version": 1}}
    findings = check(**history)
    only(findings, "desk_divergence", 2)


def test_an_acknowledged_action_missing_from_the_log_is_lost() -> None:
    history = clean_history()
    history["actions_acknowledged"] = ["x1", "x2"]
    only(check(**history), "lost_action")


def test_the_report_names_every_class_and_the_verdict() -> None:
    history = clean_history()
    history["records"] = [*history["records"], IngestRecord(TOPIC, 2, 2, "e2", 400)]
    findings = check(**history)
    summary = {
        "seed": 7,
        "duration_s": 60.0,
        "wall_s": 200.0,
        "cluster": "3 brokers",
        "faults_total": 2,
        "faults_by_kind": {"kill broker": 1, "pause agency": 1},
        "clients": {"events acknowledged": 4},
        "anomalies": findings.as_dict(),
        "anomalies_total": findings.total,
        "schedule": ["t=1.0 kill broker 2"],
    }
    text = render_text(summary)
    assert all(name in text for name in ANOMALY_CLASSES)
    assert "FAIL: 1 anomalies" in text
    assert "PASS" in render_text({**summary, "anomalies": check(**clean_history()).as_dict(), "anomalies_total": 0})
