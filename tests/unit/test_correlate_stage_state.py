"""The correlate stage's state on the store: stamped histories, and housekeeping that forgets by stamp alone."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from borderbus.bus import Bus
from borderbus.config import Settings
from borderbus.state_store import Stamp, stamp_from_headers
from borderbus_correlator import correlate_stage
from borderbus_correlator.correlate_stage import CorrelateStage
from borderbus_correlator.history import SubjectHistory
from borderbus_correlator.model import Observation
from borderbus_correlator.rule_config import DAY_MS

T0 = 1_777_852_800_000
CASE = "PERSON_DOCUMENT:GB:CASE1"


class StandInProducer:
    def __init__(self) -> None:
        self.produced: list[tuple[str, Any, Any, Any]] = []

    def begin_transaction(self) -> None:
        pass

    def produce(self, topic: str, key: Any = None, value: Any = None, partition: Any = None, headers: Any = None) -> None:
        self.produced.append((topic, key, value, headers))

    def flush(self, timeout: float) -> int:
        return 0

    def commit_transaction(self, timeout: float) -> None:
        pass


def history(subject: str, days: float, event_type: str = "sighting") -> SubjectHistory:
    at = T0 + int(days * DAY_MS)
    facts = {"case_id": "NCA-1", "status": "OPENED", "roles": {subject: "SUSPECT"}} if event_type == "case-update" else {}
    observation = Observation(
        event_id=f"{subject}-{days}", agency="uk-bf", event_type=event_type, occurred_at_ms=at, reported_at_ms=at,
        tlp="GREEN", subjects=(subject,), border_point=None, facts=facts,
    )
    return SubjectHistory(subject, [observation], [], {}, at)


@pytest.fixture
def stage(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> CorrelateStage:
    env = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}
    settings = dataclasses.replace(Settings.from_env(env), state_dir=tmp_path)
    monkeypatch.setattr(correlate_stage.SchemaRegistry, "__init__", lambda self, *a, **k: None)
    made = CorrelateStage(Bus.from_settings(settings), group_id="g", instance_id="w1")
    made.producer = StandInProducer()  # type: ignore[assignment]
    assert made.store is not None
    made.store.assign(0)
    made.store.assign(1)
    return made


def test_histories_are_stamped_in_the_changelog_and_stale_ones_forgotten_by_stamp(stage: CorrelateStage) -> None:
    retention_days = stage.rule_config.retention_ms / DAY_MS
    newest = history("PERSON_DOCUMENT:GB:NEW", retention_days + 10)
    old, case = history("PERSON_DOCUMENT:GB:OLD", 1), history(CASE, 0, "case-update")

    def write() -> None:
        stage.put(0, newest.subject, newest)
        stage.put(1, old.subject, old)
        stage.put(1, case.subject, case)

    assert stage.transact(write)
    producer: StandInProducer = stage.producer  # type: ignore[assignment]
    stamps = {key.decode(): stamp_from_headers(headers) for _topic, key, _value, headers in producer.produced}
    assert stamps == {
        newest.subject: Stamp(newest.max_seen_ms, False),
        old.subject: Stamp(old.max_seen_ms, False),
        CASE: Stamp(case.max_seen_ms, True),
    }
    assert stage.store is not None
    stage.store.cache_bytes = 0  # nothing decoded in memory: housekeeping must not need to decode
    producer.produced.clear()
    assert stage.transact(stage._forget_stale_subjects)
    assert [(key.decode(), value) for _topic, key, value, _headers in producer.produced] == [(old.subject, None)]
    assert stage.get(1, old.subject) is None
    assert stage.get(1, CASE) == case, "a case update lasts however old"
    assert stage.get(0, newest.subject) == newest
