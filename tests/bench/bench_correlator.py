"""Correlator benchmark against the local broker: throughput, latency under load, memory, and the floor.

Not a test. In one run:
1. publish a backlog of N simulator events (agency publishers, transactional) once;
2. over those events, a plain confluent-kafka consume-and-decode loop: the floor, so the
   correlator's cost is a ratio;
3. for each worker count of ``--workers``, copy the backlog byte for byte to fresh topics, start
   that many correlator workers, and time the drain from when every worker answers to the last
   route processed: events/s in all and per worker, CPU per event, peak RSS, alerts found (the
   same in every run);
4. with one worker caught up, offer events at each rate of ``--rates`` and read the event-to-alert
   latency percentiles from the worker's histogram (and whether the worker kept up).
Figures are printed and written to a JSON file (``make bench``).
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import os
import re
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchkit import broker_cpu_seconds, write_report

from borderbus import codec
from borderbus.bus import Bus
from borderbus.config import Settings
from borderbus.events import PreparedEvent
from borderbus.schema_registry import SchemaRegistry
from borderbus_agency.publisher import AgencyPublisher
from borderbus_simulator.driver import LibrarySender, make_scenario, send_scenario
from borderbus_simulator.scenario import PlannedEvent
from correlator_worker import CorrelatorWorker, read_alert_versions
from topic_namespace import apply_namespace, drop_namespace

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


CONSUMED = "borderbus_correlator_events_consumed_total"
CPU = "process_cpu_seconds_total"


def total(metrics: str, name: str) -> float:
    return sum(value for _, value in samples(metrics, name))


def scrape(processes: list[CorrelatorWorker]) -> str:
    """One worker's metrics, all its processes' together (the split shape serves each stage's from its own)."""
    return "\n".join(process.metrics() for process in processes)


def consumed(worker: CorrelatorWorker) -> float:
    return total(worker.metrics(), CONSUMED)


def routes_processed(worker: CorrelatorWorker) -> float:
    return total(worker.metrics(), "borderbus_correlator_routes_processed_total")


def wait_until_drained(workers: list[CorrelatorWorker], events: float, timeout: float = 900.0, idle: float = 2.0) -> float:
    """Seconds until ``events`` were consumed and the per-subject work stopped growing (``idle`` s not counted).

    Scraped twice a second: each scrape costs the workers a little CPU, so not more often.
    """
    started = time.perf_counter()
    deadline = time.monotonic() + timeout
    last, last_change = -1.0, time.perf_counter()
    while time.monotonic() < deadline:
        done = sum(routes_processed(w) for w in workers)
        if done != last:
            last, last_change = done, time.perf_counter()
        elif (
            sum(consumed(w) for w in workers) >= events
            and done >= events  # every event makes at least one route: the correlate stage has begun
            and not any(waiting(w) for w in workers)
            and time.perf_counter() - last_change >= idle
        ):
            return last_change - started
        time.sleep(0.5)
    raise RuntimeError("the correlator did not drain in time")


def waiting(worker: CorrelatorWorker) -> float:
    """Routes on the by-subject topic this worker's correlate stage has not read yet."""
    return total(worker.metrics(), "borderbus_correlator_stage_waiting_records")


def cpu_seconds(worker: CorrelatorWorker) -> float:
    """The worker's CPU time so far: robust to other load on the machine, unlike events/s."""
    return total(worker.metrics(), CPU)


def delivered(processes: list[CorrelatorWorker], before: str, sent: int) -> tuple[dict[str, object], str]:
    """Once ``sent`` events more than at the scrape ``before`` are out: wait until the worker consumed and
    correlated them. Returns the latency figures of the alert versions since ``before``, and the scrape at the end."""
    sent_at = time.perf_counter()
    wait_until_drained(processes, total(before, CONSUMED) + sent)
    after = scrape(processes)
    return {
        "event_to_alert_latency_seconds": histogram_quantiles(before, after, (0.5, 0.95, 0.99)),
        "alert_versions_measured": alert_versions(before, after),
        "seconds_to_catch_up_after_sending": round(time.perf_counter() - sent_at, 1),
    }, after


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


PER_EVENT_TOPICS = ("correlator.by-subject", "correlator.subject-history", "correlator.decisions", "correlator.alert-state",
                    "alerts.shared")


def records_per_event(bus: Bus, events: int) -> dict[str, float]:
    """Records (and transaction markers) each internal topic holds per input event: the broker's work beyond the input."""
    consumer = Consumer(bus.settings.consumer_config(f"bench-count-{uuid.uuid4().hex[:6]}"))
    counts = {}
    for name in PER_EVENT_TOPICS:
        topic = bus.catalogue.topic(name)
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in partitions]
        counts[name] = round(sum(high - low for low, high in ends) / events, 2)
    consumer.close()
    return counts


CROWDED_BROKER_PARTITIONS = 2_000
"""More partitions than a bench needs (about 150 per namespace) means leftovers: on one with 10,049 the broker's heap
was 95% full, it did 4 full collections in a drain, and the drain ran at 2,527 events/s against 3,000-3,900."""


def broker_partitions(bus: Bus) -> int:
    """Partitions the broker holds, before the bench adds its own: figures from a crowded broker are not comparable."""
    admin = AdminClient(bus.settings.kafka_client_config())
    partitions = sum(len(topic.partitions) for topic in admin.list_topics(timeout=30).topics.values())
    if partitions > CROWDED_BROKER_PARTITIONS:
        print(f"warning: the broker holds {partitions} partitions, likely leftovers (ops/kafka/kafka.sh reset clears them)")
    return partitions


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def soak_phase(worker: CorrelatorWorker, rate: float, seconds: float, round_seconds: float = 60.0) -> dict[str, object]:
    """Offer ``rate`` events/s for ``seconds`` in rounds of fresh scenario events, sampling the worker's RSS after each.

    The next round's events are built while the current one is sent, so the gaps between rounds are only
    their validation. Every round brings new subjects, which the worker keeps for the rules' retention (37 days
    of event time): RSS is sampled with the number of subject histories held, so growth of state tells itself
    apart from a leak. Latency is over the whole soak; ``worker_restarts`` counts a worker that was fenced or
    stalled past its transaction timeout.
    """
    assert worker.process is not None
    samples_mb: list[tuple[float, float, float]] = []
    before = worker.metrics()
    rounds = max(1, round(seconds / round_seconds))
    started, sent = time.perf_counter(), 0
    with ThreadPoolExecutor(1) as builder:
        upcoming = builder.submit(make_scenario, worker.bus, seed=100, rate=rate, duration=round_seconds)
        for round_number in range(rounds):
            live = upcoming.result()
            if round_number + 1 < rounds:
                upcoming = builder.submit(make_scenario, worker.bus, seed=101 + round_number, rate=rate, duration=round_seconds)
            paced_send(worker.bus, live.events, rate, instance_id=f"bench-soak-{round_number}")
            sent += len(live.events)
            tables = samples(worker.metrics(), "borderbus_correlator_table_entries")
            histories = sum(value for labels, value in tables if "subject" in labels)
            samples_mb.append((round(time.perf_counter() - started), round(rss_mb(worker.process.pid), 1), histories))
            elapsed, rss, _ = samples_mb[-1]
            print(f"soak: {sent} events in {elapsed} s, worker RSS {rss} MB, {histories:.0f} subject histories")
    offered = sent / (time.perf_counter() - started)
    latency, _after = delivered([worker], before, sent)
    return {
        "offered_events_per_second": round(offered),
        "events": sent,
        "elapsed_s_rss_mb_subject_histories": samples_mb,
        "peak_rss_mb": round(peak_rss_mb(worker.process.pid), 1),
        **latency,
        "worker_restarts": worker.restarts,
    }


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


def copy_backlog(source: Bus, target: Bus, expected: int) -> None:
    """Every ingest record of ``source`` to the same partition of ``target``'s topic of the same name, bytes unchanged."""
    consumer = Consumer(source.settings.consumer_config(f"bench-copy-{uuid.uuid4().hex[:6]}"))
    consumer.subscribe(source.catalogue.ingest_topics())
    producer = Producer(target.settings.producer_config())
    prefix, new_prefix = source.catalogue.prefix, target.catalogue.prefix
    copied, deadline = 0, time.monotonic() + 300
    while copied < expected and time.monotonic() < deadline:
        for message in consumer.consume(1000, 1.0):
            if message.error() is None:
                topic = new_prefix + (message.topic() or "")[len(prefix) :]
                producer.produce(topic, key=message.key(), value=message.value(), partition=message.partition())
                copied += 1
        producer.poll(0)
    consumer.close()
    if producer.flush(60) or copied < expected:
        raise RuntimeError(f"copied {copied} of {expected} backlog records")


def alert_ids(bus: Bus) -> set[str]:
    """The alerts on the shared topic once the alert publisher has caught up (two reads 3 s apart agree)."""
    previous: set[str] | None = None
    for _ in range(20):
        found = {version.alert_id for version in read_alert_versions(bus, timeout=10.0)}
        if found == previous:
            return found
        previous = found
        time.sleep(3)
    return previous or set()


SPLIT = ("fan-out", "correlate,alert-publisher")


def drain(
    base: Settings, backlog: Bus, events: int, workers: int, logs: Path, *, split: bool = False
) -> tuple[dict[str, object], list[CorrelatorWorker]]:
    """Copy the backlog to fresh topics and time ``workers`` workers draining it; the workers are left running.

    ``split``: each worker is two processes, its fan-out and its other two stages (``--stages``)."""
    bus = Bus.from_settings(dataclasses.replace(base, topic_prefix=f"bench-{uuid.uuid4().hex[:6]}."))
    apply_namespace(bus)
    copy_backlog(backlog, bus, events)
    shapes: tuple[str | None, ...] = SPLIT if split else (None,)
    started = [
        CorrelatorWorker(bus, logs, f"bench-{workers}-{n}-{i}", stages=stages).start()
        for n in range(workers)
        for i, stages in enumerate(shapes)
    ]
    cpu_at_start, broker_at_start = sum(cpu_seconds(w) for w in started), broker_cpu_seconds()
    seconds = wait_until_drained(started, events)
    cpu_ms = 1000 * (sum(cpu_seconds(w) for w in started) - cpu_at_start) / events
    broker_ms = 1000 * (broker_cpu_seconds() - broker_at_start) / events
    figures: dict[str, object] = {
        "workers": workers,
        "processes_per_worker": len(shapes),
        "drain_seconds": round(seconds, 1),
        "events_per_second": round(events / seconds),
        "events_per_second_per_worker": round(events / seconds / workers),
        "worker_cpu_ms_per_event": round(cpu_ms, 3),
        "broker_cpu_ms_per_event": round(broker_ms, 3),
        "peak_rss_mb_per_worker": [round(peak_rss_mb(w.process.pid), 1) for w in started if w.process is not None],
        "alerts": len(alert_ids(bus)),
        "records_per_event": records_per_event(bus, events),
        "machine_load_average_1m": round(os.getloadavg()[0], 1),
    }
    print(
        f"{workers} worker(s){' (split)' if split else ''}: {figures['events_per_second']} events/s ({seconds:.1f} s), "
        f"{cpu_ms:.3f} ms worker CPU/event, {broker_ms:.3f} ms broker CPU/event"
    )
    return figures, started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=".local/bench/correlator.json")
    parser.add_argument("--backlog", type=int, default=50_000, help="events published before the workers start")
    parser.add_argument("--workers", default="1,2,3", help="worker counts to drain the backlog with, comma-separated")
    parser.add_argument(
        "--rates", default="100,200,500,1000,2000,3000", help="offered loads for the latency phase, events/s, comma-separated"
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each latency phase")
    parser.add_argument(
        "--split",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also drain, and offer the live rates to, one worker as two processes (--stages)",
    )
    parser.add_argument("--soak-seconds", type=float, default=0.0, help="then offer --soak-rate this long, sampling RSS")
    parser.add_argument("--soak-rate", type=float, default=1000.0)
    args = parser.parse_args()
    base = Settings.from_env().with_default_principal("admin")  # sets up; the services run as their own principals
    backlog_bus = Bus.from_settings(dataclasses.replace(base, topic_prefix=f"bench-{uuid.uuid4().hex[:6]}."))
    partitions_before = broker_partitions(backlog_bus)
    apply_namespace(backlog_bus)
    try:
        measure(args, base, backlog_bus, partitions_before)
    finally:
        drop_namespace(backlog_bus)


def measure(args: argparse.Namespace, base: Settings, backlog_bus: Bus, partitions_before: int) -> None:
    """Publish the backlog to ``backlog_bus``'s topics, then every phase; figures printed and written to ``args.out``."""
    rates = [float(r) for r in args.rates.split(",") if r]
    sender = LibrarySender(backlog_bus, instance_id="bench")
    backlog = make_scenario(backlog_bus, seed=1, rate=args.backlog, duration=1.0)
    published_at = time.perf_counter()
    report = send_scenario(backlog.events, sender, rate=args.backlog * 10, keep_order=False)
    if report.refused:  # a backlog that is not there would time an empty drain
        sender.close()
        raise SystemExit(f"the backlog was refused ({sum(report.refused.values())} events): {report.errors[:3]}")
    publish_rate = len(backlog.events) / (time.perf_counter() - published_at)
    sender.close()
    print(f"published {len(backlog.events)} events at {publish_rate:.0f} events/s (agency publishers, transactional)")
    floor = floor_events_per_second(backlog_bus, len(backlog.events))
    print(f"floor: consume+decode {floor:.0f} events/s")
    drains: list[dict[str, object]] = []
    latency: dict[str, object] = {}
    latency_split: dict[str, object] = {}
    soak: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as logs:
        runs = [(int(n), False) for n in args.workers.split(",")] + ([(1, True)] if args.split else [])
        for count, split in runs:
            figures, workers = drain(base, backlog_bus, len(backlog.events), count, Path(logs), split=split)
            try:
                if count == 1 and split:
                    latency_split = latency_phases(workers, rates, args.seconds)
                elif count == 1:
                    latency = latency_phases(workers, rates, args.seconds)
                    soak = soak_phase(workers[0], args.soak_rate, args.soak_seconds) if args.soak_seconds else {}
            finally:
                for worker in workers:
                    worker.stop()
                drop_namespace(workers[0].bus)
            drains.append(figures)
    one = next((d for d in drains if d["workers"] == 1 and d["processes_per_worker"] == 1), drains[0])
    results = {
        "broker_partitions_before": partitions_before,
        "backlog_events": len(backlog.events),
        "publish_events_per_second": round(publish_rate),
        "floor_consume_decode_events_per_second": round(floor),
        "correlator_sustained_events_per_second": one["events_per_second"],
        "correlator_cost_ratio": round(floor / float(one["events_per_second"]), 1),  # type: ignore[arg-type]
        "worker_cpu_ms_per_event": one["worker_cpu_ms_per_event"],
        "drains": drains,
        "same_alerts_in_every_drain": len({d["alerts"] for d in drains}) == 1,
        "latency_by_offered_rate": latency,
        "latency_by_offered_rate_split": latency_split,
        "soak": soak,
    }
    write_report(results, args.out)


class Sent(NamedTuple):
    events_per_second: float
    cpu_seconds: float  # of this process while sending (validation before the clock is not counted)


def paced_send(bus: Bus, events: list[PlannedEvent], rate: float, instance_id: str) -> Sent:
    """Publish ``events`` at ``rate`` events/s through the agencies' publishers.

    Validation happens before the clock starts. Each agency publishes from its own thread, as its
    service would: everything that has come due, one transaction per event type, then it waits for
    the next event (so batches grow only when a transaction takes longer than the gap between events).
    Each event's ``reported_at`` is the moment it was due, so a sender running late counts its
    lateness in the latency instead of hiding it.
    """
    publishers = {
        code: AgencyPublisher(bus.as_principal(f"agency-{code}"), code, instance_id=instance_id)
        for code in bus.catalogue.agencies
    }
    prepared = [publishers[e.agency].prepare(e.event_type, [e.body])[0] for e in events]
    started = time.time() + 0.5
    due: dict[str, list[tuple[float, PreparedEvent]]] = {code: [] for code in publishers}
    for index, (planned, event) in enumerate(zip(events, prepared, strict=True)):
        at = started + index / rate
        event.record["reported_at"] = int(at * 1000)
        due[planned.agency].append((at, event))
    finished: list[float] = []

    def send(code: str) -> None:
        queue, sent = due[code], 0
        while sent < len(queue):
            time.sleep(max(0.0, queue[sent][0] - time.time()))
            ready_end = bisect.bisect_right(queue, time.time(), lo=sent, key=lambda item: item[0])
            ready = [event for _at, event in queue[sent:ready_end]]
            sent = ready_end
            for event_type in dict.fromkeys(event.event_type for event in ready):
                publishers[code].publish_prepared([event for event in ready if event.event_type == event_type])
        finished.append(time.time())

    threads = [threading.Thread(target=send, args=(code,)) for code in publishers]
    cpu_before = time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cpu_seconds = time.process_time() - cpu_before
    for publisher in publishers.values():
        publisher.close()
    return Sent(len(events) / (max(finished) - started), cpu_seconds)


EVENTS_PER_NETWORK = 1_000
"""Live phases plant one smuggling network (about ten alerts) per this many events, at least the default two: with the
default scenario's two per phase, a phase had 19-32 alert versions and its p99 was its largest latency."""


def latency_phases(processes: list[CorrelatorWorker], rates: list[float], seconds: float) -> dict[str, object]:
    """Event-to-alert latency at each offered rate, on one worker that has drained its backlog: one process,
    or its processes of the split shape (the fan-out counts the events, the alert publisher the latency)."""
    phases: dict[str, object] = {}
    for seed, rate in enumerate(rates, start=2):
        networks = max(2, int(rate * seconds) // EVENTS_PER_NETWORK)
        live = make_scenario(processes[0].bus, seed=seed, rate=rate, duration=seconds, networks=networks)
        before, broker_before = scrape(processes), broker_cpu_seconds()
        offered, generator_cpu = paced_send(processes[0].bus, live.events, rate, instance_id=f"bench-live-{seed}")
        generator_ms = 1000 * generator_cpu / len(live.events)
        latency, after = delivered(processes, before, len(live.events))
        broker_ms = 1000 * (broker_cpu_seconds() - broker_before) / len(live.events)
        phases[str(int(rate))] = {
            "offered_events_per_second": round(offered),
            "events": len(live.events),
            "planted_networks": networks,
            **latency,
            "worker_cpu_ms_per_event": round(1000 * (total(after, CPU) - total(before, CPU)) / len(live.events), 3),
            # the same two cores also run the broker and this load generator (the agencies' publishers)
            "broker_cpu_ms_per_event": round(broker_ms, 3),
            "load_generator_cpu_ms_per_event": round(generator_ms, 3),
        }
        shape = f" ({len(processes)} processes)" if len(processes) > 1 else ""
        quantiles = latency["event_to_alert_latency_seconds"]
        caught_up = latency["seconds_to_catch_up_after_sending"]
        print(f"offered {offered:.0f} events/s{shape}: latency {quantiles}, caught up {caught_up} s after the last send")
    return phases


def alert_versions(before: str, after: str) -> int:
    """Alert versions whose latency the worker observed between two scrapes (the sample behind the percentiles)."""
    name = "borderbus_correlator_event_to_alert_latency_seconds_count"
    return int(sum(v for _, v in samples(after, name)) - sum(v for _, v in samples(before, name)))


if __name__ == "__main__":
    main()
