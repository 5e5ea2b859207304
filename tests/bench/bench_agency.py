"""Agency publisher benchmark against the local broker: concurrent one-event publishes through one agency.

Not a test. For each number of concurrent callers (as an agency service's executor runs its HTTP
requests), every caller publishes one-event batches back to back for ``--seconds``; batches that
arrive while a transaction is under way share the next one (group commit). Reported per level:
events/s, transactions/s and batches per transaction, the broker's CPU per event, and the publish
latency p50/p99 a caller sees. Figures are printed and written to a JSON file (``make bench``).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchkit import broker_cpu_seconds, write_report
from prometheus_client import REGISTRY

from borderbus.bus import Bus
from borderbus.config import Settings
from borderbus_agency.publisher import AgencyPublisher
from borderbus_simulator.driver import make_scenario
from topic_namespace import drop_namespace, own_topics

AGENCY = "uk-bf"


def transactions() -> float:
    return REGISTRY.get_sample_value("borderbus_agency_batches_per_transaction_count", {"agency": AGENCY}) or 0.0


def level(publisher: AgencyPublisher, bodies: list[dict[str, object]], callers: int, seconds: float) -> dict[str, float]:
    """``callers`` threads publishing one-event batches for ``seconds``: the figures of that level."""
    latencies: list[float] = []
    lock, stop = threading.Lock(), time.monotonic() + seconds

    def call(offset: int) -> None:
        index = offset
        while time.monotonic() < stop:
            body = {**bodies[index % len(bodies)], "event_id": str(uuid.uuid4())}
            started = time.perf_counter()
            publisher.publish("sighting", [body])
            with lock:
                latencies.append(time.perf_counter() - started)
            index += callers

    broker_before, transactions_before, started = broker_cpu_seconds(), transactions(), time.perf_counter()
    threads = [threading.Thread(target=call, args=(offset,)) for offset in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed, events = time.perf_counter() - started, len(latencies)
    committed = transactions() - transactions_before
    latencies.sort()
    return {
        "events_per_second": round(events / elapsed, 1),
        "transactions_per_second": round(committed / elapsed, 1),
        "batches_per_transaction": round(events / committed, 2) if committed else 0.0,
        "broker_cpu_ms_per_event": round(1000 * (broker_cpu_seconds() - broker_before) / events, 3),
        "publish_p50_ms": round(1000 * latencies[len(latencies) // 2], 1),
        "publish_p99_ms": round(1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--callers", default="1,4,8,16", help="concurrent callers per level, comma-separated")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each level")
    parser.add_argument("--out", default=".local/bench/agency.json")
    args = parser.parse_args()

    bus = own_topics(Bus.from_settings(Settings.from_env().with_default_principal("admin")), "bench-agency")
    try:
        scenario = make_scenario(bus, seed=3, rate=100.0, duration=60.0)
        sightings = [event.body for event in scenario.events if event.agency == AGENCY and event.event_type == "sighting"]
        publisher = AgencyPublisher(bus.as_principal(f"agency-{AGENCY}"), AGENCY, instance_id=f"bench-{uuid.uuid4().hex[:6]}")
        try:
            level(publisher, sightings, 8, 10.0)  # warm-up: producer, schema, and the JIT of a broker just started
            levels = {
                str(callers): level(publisher, sightings, int(callers), args.seconds) for callers in args.callers.split(",")
            }
        finally:
            publisher.close()
    finally:
        drop_namespace(bus)
    for callers, figures in levels.items():
        print(f"{callers:>3} callers: " + ", ".join(f"{name} {value}" for name, value in figures.items()))
    write_report({"agency": AGENCY, "event": "one-event sighting batches", "by_concurrent_callers": levels}, args.out)


if __name__ == "__main__":
    main()
