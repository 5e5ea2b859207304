"""Correlator benchmark against the local broker: throughput, latency under load, memory, and the floor.

Not a test. In one run:
1. publish a backlog of N simulator events, start one correlator worker, and time how fast it
   drains the backlog (sustained events/s) and its peak RSS;
2. over the same events, a plain confluent-kafka consume-and-decode loop: the floor, so the
   correlator's cost is a ratio;
3. with the worker caught up, offer events at a fixed rate and read the event-to-alert latency
   percentiles from the worker's histogram.
Figures are printed and written to a JSON file (``make bench``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchkit import write_report

from borderbus import codec
from borderbus.bus import Bus
from borderbus.config import Settings
from borderbus.schema_registry import SchemaRegistry
from borderbus_simulator.driver import LibrarySender, make_scenario, send_scenario
from correlator_worker import CorrelatorWorker
from topic_namespace import apply_namespace

_SAMPLE = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>[0-9.e+-]+|\+Inf)$")


def samples(text: str, name: str) -> list[tuple[str, float]]:
    found = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and match["name"] == name:
            found.append((match["labels"] or "", float(match["value"])))
    return found


def histogram_quantiles(before: str, after: str, quantiles: tuple[float, ...]) -> dict[str, float | None]:
    """Quantiles of the latency observed between two scrapes, interpolated in buckets like histogram_quantile()."""
    name = "borderbus_correlator_event_to_alert_latency_seconds_bucket"

    def buckets(text: str) -> dict[float, float]:
        return {float(re.search(r'le="([^"]+)"', labels)[1]): value for labels, value in samples(text, name)}  # type: ignore[index]

    start, end = buckets(before), buckets(after)
    bounds = sorted(end)
    counts = [end[b] - start.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0
    result: dict[str, float | None] = {}
    for q in quantiles:
        if not total:
            result[f"p{int(q * 100)}"] = None
            continue
        rank = q * total
        lower_bound, lower_count = 0.0, 0.0
        for bound, count in zip(bounds, counts, strict=True):
            if count >= rank:
                if bound == float("inf"):
                    result[f"p{int(q * 100)}"] = lower_bound
                else:
                    result[f"p{int(q * 100)}"] = lower_bound + (bound - lower_bound) * (rank - lower_count) / max(
                        count - lower_count, 1e-9
                    )
                break
            lower_bound, lower_count = bound, count
    return result


def consumed(worker: CorrelatorWorker) -> float:
    return sum(value for _, value in samples(worker.metrics(), "borderbus_correlator_events_consumed_total"))


def routes_processed(worker: CorrelatorWorker) -> float:
    return sum(value for _, value in samples(worker.metrics(), "borderbus_correlator_routes_processed_total"))


def wait_until_drained(worker: CorrelatorWorker, events: int, timeout: float = 600.0, idle: float = 2.0) -> float:
    """Seconds until ``events`` were consumed and the per-subject work stopped growing (``idle`` s not counted)."""
    started = time.perf_counter()
    deadline = time.monotonic() + timeout
    last, last_change = -1.0, time.perf_counter()
    while time.monotonic() < deadline:
        done = routes_processed(worker)
        if done != last:
            last, last_change = done, time.perf_counter()
        elif consumed(worker) >= events and time.perf_counter() - last_change >= idle:
            return last_change - started
        time.sleep(0.25)
    raise RuntimeError("the correlator did not drain in time")


def cpu_seconds(worker: CorrelatorWorker) -> float:
    """The worker's CPU time so far: robust to other load on the machine, unlike events/s."""
    return sum(value for _, value in samples(worker.metrics(), "process_cpu_seconds_total"))


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def floor_events_per_second(bus: Bus, expected: int) -> float:
    """Consume and decode every ingest event with confluent-kafka, no correlation."""
    consumer = Consumer(bus.settings.consumer_config(f"bench-floor-{uuid.uuid4().hex[:6]}"))
    consumer.subscribe(bus.catalogue.ingest_topics())
    registry = SchemaRegistry(bus.settings, known=bus.schemas)
    readers = {t: bus.schemas.latest(bus.catalogue.parse_ingest_topic(t)[1]) for t in bus.catalogue.ingest_topics()}  # type: ignore[index]
    count, started = 0, None
    deadline = time.monotonic() + 300
    while count < expected and time.monotonic() < deadline:
        for message in consumer.consume(500, 1.0):
            if message.error() is None:
                started = started or time.perf_counter()
                codec.decode(message.value(), readers[message.topic()], registry.lookup)
                count += 1
    elapsed = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    return count / elapsed if elapsed else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=".local/bench/correlator.json")
    parser.add_argument("--backlog", type=int, default=10_000, help="events published before the worker starts")
    parser.add_argument("--rate", type=float, default=500.0, help="offered load for the latency phase, events/s")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the latency phase")
    args = parser.parse_args()

    base = Settings.from_env().with_default_principal("admin")  # sets up; the services run as their own principals
    settings = dataclasses.replace(base, topic_prefix=f"bench-{uuid.uuid4().hex[:6]}.")
    bus = Bus.from_settings(settings)
    apply_namespace(bus)
    sender = LibrarySender(bus, instance_id="bench")

    backlog = make_scenario(bus, seed=1, rate=args.backlog, duration=1.0)
    published_at = time.perf_counter()
    send_scenario(backlog.events, sender, rate=args.backlog * 10, keep_order=False)
    publish_rate = len(backlog.events) / (time.perf_counter() - published_at)
    print(f"published {len(backlog.events)} events at {publish_rate:.0f} events/s (library, transactional)")

    floor = floor_events_per_second(bus, len(backlog.events))
    print(f"floor: consume+decode {floor:.0f} events/s")

    with tempfile.TemporaryDirectory() as logs:
        worker = CorrelatorWorker(bus, Path(logs), "bench").start()
        try:
            cpu_at_start = cpu_seconds(worker)
            drain_seconds = wait_until_drained(worker, len(backlog.events))
            sustained = len(backlog.events) / drain_seconds
            cpu_ms_per_event = 1000 * (cpu_seconds(worker) - cpu_at_start) / len(backlog.events)
            print(f"correlator drained the backlog at {sustained:.0f} events/s ({drain_seconds:.1f} s, includes start-up)")
            print(f"worker CPU per event in the drain: {cpu_ms_per_event:.3f} ms (all three stages, one process)")

            live = make_scenario(bus, seed=2, rate=args.rate, duration=args.seconds)
            before = worker.metrics()
            load_started = time.perf_counter()
            send_scenario(live.events, sender, rate=args.rate, keep_order=False)
            offered = len(live.events) / (time.perf_counter() - load_started)
            wait_until_drained(worker, len(backlog.events) + len(live.events))
            latency = histogram_quantiles(before, worker.metrics(), (0.5, 0.95, 0.99))
            rss = peak_rss_mb(worker.process.pid)  # type: ignore[union-attr]
        finally:
            worker.stop()
            sender.close()

    results = {
        "backlog_events": len(backlog.events),
        "publish_events_per_second": round(publish_rate),
        "floor_consume_decode_events_per_second": round(floor),
        "correlator_sustained_events_per_second": round(sustained),
        "correlator_cost_ratio": round(floor / sustained, 1),
        "worker_cpu_ms_per_event": round(cpu_ms_per_event, 3),
        "machine_load_average_1m": round(os.getloadavg()[0], 1),
        "offered_load_events_per_second": round(offered),
        "event_to_alert_latency_seconds": latency,
        "worker_peak_rss_mb": round(rss, 1),
    }
    write_report(results, args.out)


if __name__ == "__main__":
    main()
