"""The fan-out commits its offsets every COMMIT_INTERVAL_SECONDS, each time only once every route sent is acknowledged.

Its consumer and producer are stand-ins that record what they are asked, and the clock is the test's. The records
are undecodable, so each becomes a dead letter: the fan-out's one other output, sent and acknowledged like a route.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaException, TopicPartition

from borderbus.bus import Bus
from borderbus_correlator import fan_out
from borderbus_correlator.fan_out import COMMIT_INTERVAL_SECONDS, FanOut


class Record:
    def __init__(self, offset: int) -> None:
        self._offset = offset

    def topic(self) -> str:
        return "ingest.bp.sighting"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes:
        return b"not avro"

    def error(self) -> None:
        return None


class Recorder:
    """The fan-out's consumer, following a script of (clock, offsets fetched or "revoke"), and what both of its
    clients were asked, in order."""

    def __init__(self, fan: FanOut, script: list[tuple[float, list[int] | str]], clock: list[float]) -> None:
        self.fan, self.script, self.clock = fan, list(script), clock
        self.calls: list[tuple[str, Any]] = []
        self.unsent = 0
        self._rest: list[Record] = []
        self._on_revoke: Any = None

    def subscribe(self, topics: list[str], *, on_assign: Any, on_revoke: Any) -> None:
        self._on_revoke = on_revoke

    def poll(self, timeout: float) -> Record | None:
        if not self.script:
            self.fan.stop_event.set()
            return None
        at, step = self.script.pop(0)
        self.clock[0] = at
        if step == "revoke":
            self._on_revoke(self, [])
            return None
        assert isinstance(step, list)
        records = [Record(offset) for offset in step]
        self._rest = records[1:]
        return records[0]

    def consume(self, count: int, timeout: float) -> list[Record]:
        rest, self._rest = self._rest, []
        return rest

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> None:
        assert not asynchronous
        self.calls.append(("commit", [(tp.partition, tp.offset) for tp in offsets]))

    def close(self) -> None:
        self.calls.append(("close", None))


class Sender:
    """The fan-out's producer: records what it is asked into the recorder's calls."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def produce(self, topic: str, **_: Any) -> None:
        self.recorder.calls.append(("send", topic))

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        self.recorder.calls.append(("flush", None))
        return self.recorder.unsent


def fan_out_over(bus: Bus, script: list[tuple[float, list[int] | str]], monkeypatch: pytest.MonkeyPatch) -> Recorder:
    clock = [0.0]
    monkeypatch.setattr(fan_out, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    fan = FanOut.__new__(FanOut)
    fan.bus, fan.catalogue = bus, bus.catalogue
    fan.registry = SimpleNamespace(lookup=lambda _fingerprint: None)  # type: ignore[assignment]
    fan.dead_letter_topic, fan.by_subject_topic = "dead-letters", "by-subject"
    fan.stop_event, fan._failures, fan._assigned = threading.Event(), [], 0
    fan._last_lag, fan._last_commit, fan._next_offsets = 0.0, 0.0, {}
    recorder = Recorder(fan, script, clock)
    fan.consumer, fan.producer = recorder, Sender(recorder)  # type: ignore[assignment]
    return recorder


def test_offsets_are_committed_once_per_interval_after_every_route_before_them_is_acknowledged(
    offline_bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    early, late = COMMIT_INTERVAL_SECONDS / 4, COMMIT_INTERVAL_SECONDS * 1.2
    recorder = fan_out_over(offline_bus, [(early, [10, 11]), (early * 2, [12]), (late, [13])], monkeypatch)
    FanOut.run(recorder.fan)
    sent = ("send", "dead-letters")
    assert recorder.calls == [
        sent, sent, sent,  # two batches within the interval: nothing waited for, nothing committed
        sent, ("flush", None), ("commit", [(0, 14)]),  # the interval is over: acknowledged, then committed
        ("flush", None), ("close", None),  # stopped: nothing left to commit
    ]  # fmt: skip


def test_partitions_taken_away_are_committed_up_to_the_routes_sent(offline_bus: Bus, monkeypatch: pytest.MonkeyPatch) -> None:
    """Their next owner starts after what this one sent, instead of sending it again."""
    small = COMMIT_INTERVAL_SECONDS / 10
    recorder = fan_out_over(offline_bus, [(small, [10]), (small * 2, "revoke")], monkeypatch)
    FanOut.run(recorder.fan)
    assert recorder.calls[:3] == [("send", "dead-letters"), ("flush", None), ("commit", [(0, 11)])]
    assert ("commit", [(0, 11)]) not in recorder.calls[3:], "committed once"


def test_nothing_is_committed_past_a_route_not_acknowledged(offline_bus: Bus, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = fan_out_over(offline_bus, [(COMMIT_INTERVAL_SECONDS * 2, [10])], monkeypatch)
    recorder.unsent = 1
    with pytest.raises(KafkaException, match="not acknowledged"):
        FanOut.run(recorder.fan)
    assert not [call for call in recorder.calls if call[0] == "commit"]
