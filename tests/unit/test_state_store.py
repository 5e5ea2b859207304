"""The stages' state store: disk holds every value, memory only the most recently used within a budget."""

from __future__ import annotations

import os
from pathlib import Path

from borderbus.state_store import Change, Stamp, StateStore, stamp_from_headers, stamp_headers


def store(tmp_path: Path, cache_bytes: int = 1000) -> StateStore[str]:
    return StateStore(tmp_path, "group-subjects-w1", str.encode, bytes.decode, cache_bytes)


def change(key: str, value: str | None, time_ms: int = 0, lasting: bool = False) -> Change:
    return Change(key, value, value.encode() if value is not None else None, Stamp(time_ms, lasting))


def test_memory_holds_the_most_recently_used_values_within_the_budget_and_disk_holds_all(tmp_path: Path) -> None:
    states = store(tmp_path, cache_bytes=10)
    states.assign(0)
    states.write(0, [change(f"k{n}", f"v{n:03d}") for n in range(5)])  # 4 bytes each: two fit
    assert states.cached() == (2, 8)
    assert [states.get(0, f"k{n}") for n in range(5)] == [f"v{n:03d}" for n in range(5)]
    assert states.cached() == (2, 8), "reading back from disk keeps within the budget too"
    assert states.get(0, "k3") == "v003" and states.get(0, "k9") is None
    states.write(0, [change("k3", None), change("k4", "new")])
    assert states.snapshot() == {0: {"k0": "v000", "k1": "v001", "k2": "v002", "k4": "new"}}
    assert states.count() == 4


def test_a_revoked_partition_is_forgotten_in_memory_and_on_disk_and_its_late_writes_ignored(tmp_path: Path) -> None:
    states = store(tmp_path)
    states.assign(0)
    states.assign(1)
    states.write(0, [change("a", "zero")])
    states.write(1, [change("a", "one")])
    states.revoke(0)
    assert states.get(0, "a") is None and states.get(1, "a") == "one"
    states.write(0, [change("b", "late")])
    assert states.snapshot() == {1: {"a": "one"}} and states.count() == 1


def test_loading_replays_the_changelog_in_order_without_decoding(tmp_path: Path) -> None:
    decoded: list[bytes] = []

    def decode(value: bytes) -> str:
        decoded.append(value)
        return value.decode()

    states = StateStore(tmp_path, "loader", str.encode, decode, 1000)
    states.assign(2)
    records = [(2, "a", b"1", None), (2, "b", b"2", None), (2, "a", None, None), (3, "x", b"not held", None)]
    records.append((2, "b", b"3", None))
    states.load(iter(records))
    assert decoded == []
    assert states.snapshot() == {2: {"b": "3"}}


def test_changed_values_reach_disk_only_when_they_leave_memory_and_every_answer_counts_both(tmp_path: Path) -> None:
    states = store(tmp_path, cache_bytes=5)  # two values of 2 bytes
    states.assign(0)
    on_disk = lambda: states._db.execute("SELECT key, value FROM state ORDER BY key").fetchall()  # noqa: E731
    assert states.get(0, "a") is None
    states.write(0, [change("a", "a1", time_ms=10), change("b", "b1", time_ms=20)])
    assert on_disk() == [] and states.count() == 2
    states.write(0, [change("a", "a2", time_ms=30), change("c", "c1", time_ms=5)])  # b leaves memory
    assert on_disk() == [("b", b"b1")] and states.count() == 3
    assert states.get(0, "b") == "b1", "read back: a leaves memory and c stays"
    assert states.count() == 3 and ("a", b"a2") in on_disk()
    states.write(0, [change("b", "b2", time_ms=25), change("a", None)])
    assert states.count() == 2 and states.get(0, "a") is None
    assert states.newest_time_ms() == 25
    assert states.older_than(22) == [(0, "c")], "b's stamp on disk (20) is older than the one in memory"
    assert sorted(states.older_than(26)) == [(0, "b"), (0, "c")]
    assert states.snapshot() == {0: {"b": "b2", "c": "c1"}}


def test_a_value_evicted_and_changed_before_the_flush_is_not_lost_or_doubled(tmp_path: Path) -> None:
    states = store(tmp_path, cache_bytes=2)
    states.assign(0)
    states.write(0, [change(key, key * 2) for key in "abc"])  # each evicts the one before: all written
    assert states.count() == 3 and states.get(0, "a") == "aa" and states.get(0, "b") == "bb"
    states.write(0, [change("a", "A"), change("z", None)])
    assert states.snapshot() == {0: {"a": "A", "b": "bb", "c": "cc"}} and states.count() == 3


def test_a_key_read_as_absent_then_loaded_by_a_reassignment_is_deleted_from_disk(tmp_path: Path) -> None:
    """A rebalance between a batch's read and its commit may load the key the batch found absent."""
    states = store(tmp_path, cache_bytes=0)
    states.assign(0)
    assert states.get(0, "a") is None
    states.assign(0)
    states.load([(0, "a", b"loaded", None)])
    states.write(0, [change("a", None)])
    assert states.get(0, "a") is None and states.count() == 0


def test_housekeeping_finds_stale_values_by_their_stamps_and_keeps_lasting_ones(tmp_path: Path) -> None:
    states = store(tmp_path)
    states.assign(0)
    states.assign(1)
    states.write(0, [change("old", "o", time_ms=100), change("case", "c", time_ms=50, lasting=True)])
    states.write(1, [change("new", "n", time_ms=900)])
    states.load([(1, "loaded", b"l", Stamp(10, False)), (1, "unstamped", b"u", None)])
    assert states.newest_time_ms() == 900
    assert sorted(states.older_than(500)) == [(0, "old"), (1, "loaded")], "unstamped values last"


def test_stamps_travel_in_record_headers() -> None:
    stamp = Stamp(1_700_000_000_123, True)
    assert stamp_from_headers(stamp_headers(stamp)) == stamp
    assert stamp_from_headers(dict(stamp_headers(Stamp(5, False)))) == Stamp(5, False)  # type: ignore[arg-type]
    assert stamp_from_headers(None) is None and stamp_from_headers([("other", b"1")]) is None


def test_the_file_is_removed_on_close_and_a_dead_process_file_by_the_next_store(tmp_path: Path) -> None:
    states = store(tmp_path)
    assert states.path.exists() and str(os.getpid()) in states.path.name
    states.close()
    assert not states.path.exists()
    dead = tmp_path / "group-subjects-w1.999999999.0.sqlite"
    dead.write_bytes(b"")
    kept = tmp_path / f"other.{os.getpid()}.7.sqlite"
    kept.write_bytes(b"")
    store(tmp_path).close()
    assert not dead.exists() and kept.exists()


def test_a_value_in_memory_does_not_keep_its_encoding(tmp_path: Path) -> None:
    """orjson's output keeps a 4 KB allocation however short it is: kept until written, 1,000 histories took 4 MB.
    A value is encoded again when it leaves memory."""
    import tracemalloc

    import orjson

    states = StateStore(tmp_path, "sizes", orjson.dumps, orjson.loads, cache_bytes=10_000_000)
    states.assign(0)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(1000):
            encoded = orjson.dumps({"subject": f"PERSON:{n}", "pad": "x" * 300})
            states.write(0, [Change(f"PERSON:{n}", n, encoded, Stamp(n, False))])
        per_value = (tracemalloc.get_traced_memory()[0] - before) / 1000
    finally:
        tracemalloc.stop()
    assert per_value < 1500, f"{per_value:.0f} B per value of about 330 encoded bytes"
