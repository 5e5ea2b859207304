"""A stage's committed state: the most recently used values decoded in memory, the others on local disk (SQLite).

The changelog topic is the state's durable copy and the store is rebuilt from it at every assignment,
so the file needs no journal and no fsync, and belongs to one process (removed when the stage
closes; a killed process's file is removed by the next store opened in the same folder). A
changed value stays in memory and is written to disk when it leaves memory, so a subject seen
again soon costs no write. What the store saves is memory: a worker's state grows with every
subject seen within the retention (weeks), while the memory it needs grows only with the values
in use, up to ``cache_bytes`` of their encoded size. Measured before it (all state decoded in
memory): 2.55 KB per subject history, a worker at 1,000 events/s of mostly new subjects growing
without bound.

Each value carries a stamp, ``(time_ms, lasting)``, so that housekeeping can find what time made
stale without decoding every value: the stamp travels in the changelog record's headers.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Generic, NamedTuple, TypeVar

T = TypeVar("T")

LOAD_FLUSH_ROWS = 10_000  # changelog records held before they are written, while a partition is loaded
_serial = itertools.count()


class Stamp(NamedTuple):
    """What housekeeping reads of a value: its newest time, and whether it lasts however old that is.

    A key's time never decreases (a subject history's is its event-time watermark)."""

    time_ms: int
    lasting: bool


LASTING = Stamp(0, True)
"""The stamp of a value housekeeping never forgets (a stage that gives no stamps)."""


class Change(NamedTuple, Generic[T]):
    """One key's committed change: the value (None when deleted), its encoding and stamp."""

    key: str
    value: T | None
    encoded: bytes | None
    stamp: Stamp | None


class StateStore(Generic[T]):
    """Per-partition key/value state of one stage; used by the stage's thread only."""

    def __init__(
        self, directory: Path, name: str, encode: Callable[[T], bytes], decode: Callable[[bytes], T], cache_bytes: int
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        _remove_files_of_dead_processes(directory)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        self.path = directory / f"{safe}.{os.getpid()}.{next(_serial)}.sqlite"
        self.encode, self.decode, self.cache_bytes = encode, decode, cache_bytes
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "locking_mode=EXCLUSIVE", "temp_store=MEMORY", "cache_size=-2048"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute(
            "CREATE TABLE state (part INTEGER NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,"
            " time_ms INTEGER NOT NULL, lasting INTEGER NOT NULL, PRIMARY KEY (part, key))"  # 0.5-50 KB rows: not WITHOUT ROWID
        )
        self._held: set[int] = set()
        self._cache: OrderedDict[tuple[int, str], _Cached[T]] = OrderedDict()
        self._cached_bytes = 0
        self._evicted: dict[tuple[int, str], _Cached[T]] = {}  # left memory unwritten since the last flush
        self._deletes: list[tuple[int, str]] = []
        self._disk_used = False  # nothing was ever written to the file: a value not in memory is nowhere
        self._absent: set[tuple[int, str]] = set()  # read and not found since the last write: a new value is not on disk

    def __repr__(self) -> str:
        return f"StateStore({self.path.name}, partitions={sorted(self._held)}, cached={len(self._cache)})"

    # -- partitions -------------------------------------------------------------------------------

    def assign(self, partition: int) -> None:
        """Hold ``partition``, empty until :meth:`load` fills it."""
        self.revoke(partition)
        self._held.add(partition)
        self._absent.clear()  # the load may bring any key

    def load(self, records: Iterable[tuple[int, str, bytes | None, Stamp | None]]) -> None:
        """Replay changelog records (partition, key, encoded value or None to delete, stamp), in their order.

        Values stay encoded: they are decoded when first read."""
        newest: dict[tuple[int, str], tuple[bytes | None, Stamp | None]] = {}
        for partition, key, encoded, stamp in records:
            if partition in self._held:
                newest[(partition, key)] = (encoded, stamp)
            if len(newest) >= LOAD_FLUSH_ROWS:
                self._write_encoded(newest)
                newest = {}
        self._write_encoded(newest)

    def revoke(self, partition: int) -> None:
        self._held.discard(partition)
        self._db.execute("DELETE FROM state WHERE part = ?", (partition,))
        for cached in [k for k in self._cache if k[0] == partition]:
            self._forget_cached(cached)
        self._evicted = {k: v for k, v in self._evicted.items() if k[0] != partition}
        self._absent.clear()

    # -- values -----------------------------------------------------------------------------------

    def get(self, partition: int, key: str) -> T | None:
        where = (partition, key)
        cached = self._cache.get(where)
        if cached is not None:
            self._cache.move_to_end(where)
            return cached.value
        if partition not in self._held:
            return None
        evicted = self._evicted.pop(where, None)
        if evicted is not None:  # evicted since the last flush: back to memory, still to be written
            self._remember(where, evicted)
            return evicted.value
        query = "SELECT value FROM state WHERE part = ? AND key = ?"
        found = self._db.execute(query, where).fetchone() if self._disk_used else None
        if found is None:
            self._absent.add(where)
            return None
        value = self.decode(found[0])
        self._remember(where, _Cached(value, len(found[0]), None, True))
        return value

    def write(self, partition: int, changes: Iterable[Change[T]]) -> None:
        """Apply a committed batch's changes to ``partition`` (ignored when it is no longer held).

        A changed value is kept in memory, and encoded and written to disk only when it leaves memory: a
        subject's history changes with each of its events, and the changelog already holds every version."""
        if partition in self._held:
            for key, value, encoded, stamp in changes:
                where = (partition, key)
                on_disk = self._on_disk(where)
                if value is None or encoded is None:
                    if on_disk:
                        self._deletes.append(where)
                    continue
                self._remember(where, _Cached(value, len(encoded), stamp or LASTING, on_disk))
        self._absent.clear()
        self._flush()

    def count(self) -> int:
        self._flush()
        unwritten = sum(1 for entry in self._cache.values() if entry.unwritten is not None and not entry.on_disk)
        return int(self._db.execute("SELECT COUNT(*) FROM state").fetchone()[0]) + unwritten

    def newest_time_ms(self) -> int:
        self._flush()
        on_disk = int(self._db.execute("SELECT COALESCE(MAX(time_ms), 0) FROM state").fetchone()[0])
        return max((entry.unwritten.time_ms for entry in self._cache.values() if entry.unwritten is not None), default=on_disk)

    def older_than(self, horizon_ms: int) -> list[tuple[int, str]]:
        """(partition, key) of every value not lasting whose stamp's time is before ``horizon_ms``."""
        self._flush()
        unwritten = {where: entry.unwritten for where, entry in self._cache.items() if entry.unwritten is not None}
        query = "SELECT part, key FROM state WHERE lasting = 0 AND time_ms < ?"
        stale = [(int(part), str(key)) for part, key in self._db.execute(query, (horizon_ms,)).fetchall()]
        stale = [where for where in stale if where not in unwritten]  # their newer value is in memory
        return stale + [where for where, stamp in unwritten.items() if not stamp.lasting and stamp.time_ms < horizon_ms]

    def snapshot(self) -> dict[int, dict[str, T]]:
        """Every value, decoded (for tests and tools: writes what memory holds, then reads the whole store)."""
        self._write_all()
        rows = self._db.execute("SELECT part, key, value FROM state ORDER BY part, key").fetchall()
        found: dict[int, dict[str, T]] = {partition: {} for partition in sorted(self._held)}
        for part, key, value in rows:
            found[int(part)][str(key)] = self.decode(value)
        return found

    def cached(self) -> tuple[int, int]:
        """(values decoded in memory, their encoded bytes)."""
        return len(self._cache), self._cached_bytes

    def close(self) -> None:
        self._cache.clear()
        self._db.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    # -- inside -----------------------------------------------------------------------------------

    def _on_disk(self, where: tuple[int, str]) -> bool:
        """Whether the disk holds a value for ``where`` (its memory copies are dropped: a change replaces them)."""
        cached = self._cache.get(where)
        if cached is not None:
            self._forget_cached(where)
            return cached.on_disk
        evicted = self._evicted.pop(where, None)
        if evicted is not None:
            return evicted.on_disk
        if where in self._absent or not self._disk_used:
            return False
        return self._db.execute("SELECT 1 FROM state WHERE part = ? AND key = ?", where).fetchone() is not None

    def _write_encoded(self, newest: dict[tuple[int, str], tuple[bytes | None, Stamp | None]]) -> None:
        upserts = [_row(part, key, encoded, stamp) for (part, key), (encoded, stamp) in newest.items() if encoded is not None]
        self._apply(upserts, [where for where, (encoded, _) in newest.items() if encoded is None])

    def _flush(self) -> None:
        """Write what left memory unwritten, and the deletions."""
        if self._evicted or self._deletes:
            self._apply([self._row(where, entry) for where, entry in self._evicted.items()], self._deletes)
            self._evicted, self._deletes = {}, []

    def _write_all(self) -> None:
        self._flush()
        dirty = [(where, entry) for where, entry in self._cache.items() if entry.unwritten is not None]
        self._apply([self._row(where, entry) for where, entry in dirty], [])
        for where, entry in dirty:
            self._cache[where] = entry._replace(unwritten=None, on_disk=True)

    def _row(self, where: tuple[int, str], entry: _Cached[T]) -> _Row:
        return _row(where[0], where[1], self.encode(entry.value), entry.unwritten)

    def _apply(self, upserts: list[_Row], deletes: list[tuple[int, str]]) -> None:
        self._db.execute("BEGIN")
        if deletes:
            self._db.executemany("DELETE FROM state WHERE part = ? AND key = ?", deletes)
        if upserts:
            self._db.executemany("INSERT OR REPLACE INTO state VALUES (?, ?, ?, ?, ?)", upserts)
            self._disk_used = True
        self._db.execute("COMMIT")

    def _remember(self, where: tuple[int, str], entry: _Cached[T]) -> None:
        self._forget_cached(where)
        self._cache[where] = entry
        self._cached_bytes += entry.weight
        while self._cached_bytes > self.cache_bytes and self._cache:
            dropped_at, dropped = self._cache.popitem(last=False)
            self._cached_bytes -= dropped.weight
            if dropped.unwritten is not None:
                self._evicted[dropped_at] = dropped

    def _forget_cached(self, where: tuple[int, str]) -> None:
        cached = self._cache.pop(where, None)
        if cached is not None:
            self._cached_bytes -= cached.weight


_Row = tuple[int, str, bytes, int, int]
"""(partition, key, encoded value, stamp time, lasting): a row of the table."""


class _Cached(NamedTuple, Generic[T]):
    """A value in memory: ``unwritten`` is its stamp while the disk does not have it (it is written when it leaves
    memory), None once it does; ``on_disk`` whether the disk holds some value for its key (a deletion is then written)."""

    value: T
    weight: int
    unwritten: Stamp | None
    on_disk: bool


def _row(partition: int, key: str, encoded: bytes, stamp: Stamp | None) -> _Row:
    stamp = stamp or LASTING
    return partition, key, encoded, stamp.time_ms, int(stamp.lasting)


def stamp_headers(stamp: Stamp) -> list[tuple[str, str | bytes | None]]:
    """The stamp as changelog record headers."""
    return [("stamp", b"%d:%d" % (stamp.time_ms, stamp.lasting))]


Headers = Mapping[str, str | bytes | None] | Iterable[tuple[str, str | bytes | None]]


def stamp_from_headers(headers: Headers | None) -> Stamp | None:
    """The stamp :func:`stamp_headers` wrote, or None (a record written before stamps, or by another writer)."""
    found = dict(headers.items() if isinstance(headers, Mapping) else headers or ()).get("stamp")
    if not isinstance(found, bytes) or found.count(b":") != 1:
        return None
    time_ms, lasting = found.split(b":")
    return Stamp(int(time_ms), lasting == b"1")


def _remove_files_of_dead_processes(directory: Path) -> None:
    for path in directory.glob("*.sqlite"):
        parts = path.name.split(".")
        if len(parts) >= 4 and parts[-3].isdigit() and not _alive(int(parts[-3])):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
