"""Is a live agency service's memory flat? Not a test: RSS every 5,000 requests, half valid publishes, half
mutated refusals, against a running broker (``KAFKA_BOOTSTRAP_SERVERS``); ``make fuzz`` reports only the
start and end of its run, which a single large body can make look like growth.

    .venv/bin/python tests/fuzz/memory_probe.py 30000
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TESTS), str(TESTS / "fuzz")]

import requests  # noqa: E402
from fuzzkit import mutate_json, rss_kib, samples  # noqa: E402

from agency_clients import write_clients  # noqa: E402
from borderbus.bus import Bus  # noqa: E402
from borderbus.config import Settings  # noqa: E402
from service_process import ServiceProcess  # noqa: E402
from topic_namespace import own_topics  # noqa: E402

STEP = 5000


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 30_000
    bus = own_topics(Bus.from_settings(Settings.from_env().with_default_principal("admin")), "memory-probe")
    folder = Path(tempfile.mkdtemp())
    tokens = write_clients(folder / "clients.yaml", {"anpr": ("uk-bf", "publish")})
    command = ["agency", "serve", "--agency", "uk-bf", "--clients", str(folder / "clients.yaml")]
    service = ServiceProcess(bus, folder, "agency", command)
    service.start()
    assert service.process is not None
    sample = samples()[("uk-bf", "sighting")]
    headers = {"Authorization": f"Bearer {tokens['anpr']}", "Content-Type": "application/json"}
    local = threading.local()

    def send(index: int) -> int:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        rng = random.Random(index)
        body = mutate_json(rng, sample, rng.randint(1, 4)) if index % 2 else sample
        try:
            data = json.dumps(body).encode()
        except (ValueError, TypeError):
            data = b"{}"
        return int(local.session.post(service.url + "/v1/events/sighting", data=data, headers=headers, timeout=30).status_code)

    statuses: dict[int, int] = {}
    started = time.monotonic()
    print("requests  rss_kib  seconds  statuses", flush=True)
    try:
        with ThreadPoolExecutor(4) as pool:
            for start in range(0, total, STEP):
                for status in pool.map(send, range(start, start + STEP)):
                    statuses[status] = statuses.get(status, 0) + 1
                rss, seconds = rss_kib(service.process.pid), time.monotonic() - started
                print(f"{start + STEP:>8} {rss:>8} {seconds:>8.0f}  {dict(sorted(statuses.items()))}", flush=True)
    finally:
        service.stop()


if __name__ == "__main__":
    main()
