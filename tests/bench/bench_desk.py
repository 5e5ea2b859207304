"""Duty desk benchmark against the local broker: delivery latency, action round trip, rebuild time.

Not a test. In one run, on topics of its own:
1. with officers' streams open, publish alert versions at a fixed rate and time each from the
   producer's acknowledgement to its arrival on every SSE stream;
2. acknowledge alerts one after another over HTTP and time the round trip (published to Kafka,
   read back, applied, answered);
3. restart the desk and time until it is ready again with every alert and action rebuilt.
Figures are printed and written to a JSON file (``make bench``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchkit import write_report

from borderbus.bus import Bus
from borderbus.config import Settings
from desk_process import AlertWriter, DeskProcess, alert_record
from topic_namespace import drop_namespace, own_topics


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=300)
    parser.add_argument("--rate", type=float, default=50.0, help="alert versions per second")
    parser.add_argument("--streams", type=int, default=5, help="concurrent SSE subscribers")
    parser.add_argument("--acks", type=int, default=50)
    parser.add_argument("--out", default=".local/bench/desk.json")
    args = parser.parse_args()

    bus = own_topics(Bus.from_settings(Settings.from_env().with_default_principal("admin")), "bench-desk")
    officers = {f"officer-{i}": "uk-bf" for i in range(args.streams)}
    with tempfile.TemporaryDirectory() as work:
        desk = DeskProcess(bus, Path(work), officers).start()
        try:
            streams = [desk.stream(officer) for officer in officers]
            writer = AlertWriter(bus)
            sent: dict[str, float] = {}
            for index in range(args.alerts):
                record = alert_record(f"AL-bench-{index:05d}", allowed=["uk-bf"])
                writer.publish(record)
                sent[record["alert_id"]] = time.time()
                time.sleep(max(0.0, 1 / args.rate - 0.001))
            latencies: list[float] = []
            for stream in streams:
                stream.until(lambda view: view["alert_id"] == f"AL-bench-{args.alerts - 1:05d}", timeout=120)
                latencies += [stream.first_seen[alert_id] - sent[alert_id] for alert_id in sent]
                stream.close()
            round_trips = []
            for index in range(args.acks):
                started = time.perf_counter()
                path = f"/api/v1/alerts/AL-bench-{index:05d}/actions"
                status, _ = desk.request("officer-0", "POST", path, {"action": "ACKNOWLEDGE"})
                round_trips.append(time.perf_counter() - started)
                assert status == 200, status
            desk.stop()
            started = time.perf_counter()
            desk.start()
            rebuild_s = time.perf_counter() - started
            with urllib.request.urlopen(desk.url + "/readyz", timeout=5) as response:
                ready = response.read().decode()
        finally:
            desk.stop()
            drop_namespace(bus)
    write_report(
        {
            "alert_versions": args.alerts,
            "sse_streams": args.streams,
            "delivery_latency_p50_ms": percentile(latencies, 0.50) * 1000,
            "delivery_latency_p95_ms": percentile(latencies, 0.95) * 1000,
            "delivery_latency_max_ms": max(latencies) * 1000,
            "ack_round_trip_p50_ms": statistics.median(round_trips) * 1000,
            "ack_round_trip_p95_ms": percentile(round_trips, 0.95) * 1000,
            "restart_to_ready_s": rebuild_s,
            "ready_after_restart": ready,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
