"""Count (and optionally print) agency events on the bus, as any agency's ordinary consumer would."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

from borderbus.bus import Bus
from borderbus.ingest import IngestEvent, IngestReader
from borderbus.schema_registry import SchemaRegistry


def describe(event: IngestEvent) -> str:
    record = event.record
    subjects = ", ".join(s["id"] for s in record["subjects"][:2])
    where = (record.get("location") or {}).get("border_point") or "-"
    return f"{record['occurred_at']:%Y-%m-%d %H:%M} {event.agency:<14} {event.event_type:<16} {where:<7} {subjects}"


class Tally:
    """A background reader that counts decoded events per (agency, event type)."""

    def __init__(self, bus: Bus, *, group_id: str | None = None, echo: bool = False, only: set[str] | None = None) -> None:
        """``only``: count just these event ids (the demo's own run, not earlier ones on the same topics)."""
        registry = SchemaRegistry(bus.settings)
        self.reader = IngestReader(
            bus.catalogue,
            bus.schemas,
            registry.lookup,
            group_id=group_id or f"{bus.settings.topic_prefix}borderbus-tally-{uuid.uuid4().hex[:8]}",
            service="tally",
        )
        self.counts: Counter[tuple[str, str]] = Counter()
        self.echo = echo
        self.only = only
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tally", daemon=True)

    def start(self) -> Tally:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            for event in self.reader.poll(timeout=0.5):
                if self.only is not None and str(event.record["event_id"]) not in self.only:
                    continue
                self.counts[(event.agency, event.event_type)] += 1
                if self.echo:
                    print(describe(event), flush=True)
            self.reader.commit()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.reader.close()


def tail_events(bus: Bus, *, seconds: float | None, group_id: str, quiet: bool) -> int:
    """``borderbus events tail``: print each event as it arrives, then the counts."""
    tally = Tally(bus, group_id=group_id, echo=not quiet).start()
    try:
        deadline = time.monotonic() + seconds if seconds else None
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        tally.stop()
    for (agency, event_type), count in sorted(tally.counts.items()):
        print(f"{agency:<15} {event_type:<16} {count:>7}")
    print(f"{sum(tally.counts.values())} events read")
    return 0
