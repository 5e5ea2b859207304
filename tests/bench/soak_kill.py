"""SIGKILL equivalence, many times: a correlator worker killed at random moments ends with exactly the
standing alerts of an uninterrupted run, and publishes no alert version twice.

Not a test (``make soak-kill``; the suite runs one kill in tests/integration/test_correlator.py). Each
round streams the whole simulator scenario (withdrawn warrants included) into fresh topics and
SIGKILLs the worker one to three times at random moments: while it fans out the stream, while it
correlates, while its alert publisher is inside a transaction, or while it drains the backlog after
a restart. The moments are drawn from a seeded generator and printed, so a failing round can be
replayed. Writes ``.local/bench/soak-kill.json`` with how many rounds matched.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchkit import write_report

from borderbus.access import AccessPolicy
from borderbus.acls import apply_users
from borderbus.bus import Bus
from borderbus.config import Settings
from borderbus_simulator.scenario import build_scenario
from correlator_worker import (
    CorrelatorWorker,
    final_state,
    publish,
    read_alert_versions,
    wait_for_quiet_alerts,
    wait_for_settled_group,
)
from local_kafka import session_bootstrap
from topic_namespace import drop_namespace, own_topics


def run_round(bus: Bus, label: str, scenario: Any, log_dir: Path, kills: list[float]) -> tuple[list[Any], list[str]]:
    """Stream the scenario, SIGKILL at the given seconds after the stream starts; returns versions and what happened."""
    run_bus = own_topics(bus, label)
    worker = CorrelatorWorker(run_bus, log_dir, label).start()
    events: list[str] = []
    try:
        stream = threading.Thread(target=publish, args=(run_bus, scenario))
        started = time.monotonic()
        stream.start()
        for at in kills:
            time.sleep(max(0.0, started + at - time.monotonic()))
            alerts = len(read_alert_versions(run_bus, timeout=1.0, partial=True))
            events.append(
                f"kill at {time.monotonic() - started:.1f} s ({'streaming' if stream.is_alive() else 'draining'}, "
                f"{alerts} alert versions out)"
            )
            worker.kill()
            worker.start()
            wait_for_settled_group([worker], len(run_bus.catalogue.ingest_topics()) * 6 + 6)  # ingest and by-subject
        stream.join()
        versions = wait_for_quiet_alerts(
            run_bus, minimum=len(scenario.ground_truth["expected_alerts"]), settle=12.0, workers=[worker]
        )
        events.append(f"{worker.restarts} restart(s) by the supervisor")
    finally:
        worker.stop()
    drop_namespace(run_bus)
    return versions, events


def run_with_retries(bus: Bus, label: str, scenario: Any, log_dir: Path, kills: list[float]) -> tuple[list[Any], list[str]]:
    """A round whose topics or worker could not be set up (a busy broker) is run again from scratch: that is
    the harness failing, not the guarantee, so it is said but not counted as a mismatch."""
    for attempt in range(1, 4):
        try:
            return run_round(bus, f"{label}-{attempt}", scenario, log_dir, kills)
        except (KafkaException, RuntimeError) as error:
            print(f"{label}: set-up failed ({str(error)[:120]}), running the round again", flush=True)
            time.sleep(10)
    raise RuntimeError(f"{label}: could not be set up three times")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--out", default=".local/bench/soak-kill.json")
    args = parser.parse_args()

    bootstrap, cleanup = session_bootstrap()
    try:
        base = Settings.from_env({**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}).with_default_principal("admin")
        settings = dataclasses.replace(base, topic_prefix="")  # sets up as admin; each worker runs as `correlator`
        bus = Bus.from_settings(settings)
        assert settings.credentials_dir is not None
        apply_users(
            AdminClient(settings.kafka_client_config()), AccessPolicy(bus.catalogue), settings.credentials_dir, prune=False
        )
        config = settings.config_dir
        scenario = build_scenario(
            seed=11,
            event_count=args.events,
            end_ms=int(time.time() * 1000) - 60_000,
            agencies_path=config / "agencies.yaml",
            border_points_path=config / "border_points.yaml",
        )
        rng = random.Random(args.seed)
        stream_seconds = args.events / 50.0
        with tempfile.TemporaryDirectory() as logs:
            reference, _ = run_round(bus, "soak-reference", scenario, Path(logs), [])
            expected = final_state(reference)
            print(f"reference: {len(expected)} standing alerts, {len(reference)} versions", flush=True)
            rounds = []
            for number in range(1, args.rounds + 1):
                kills = sorted(rng.uniform(0.3, stream_seconds + 15.0) for _ in range(rng.choice((1, 1, 2, 3))))
                try:
                    versions, events = run_with_retries(bus, f"soak-{number}", scenario, Path(logs), kills)
                except AssertionError as error:  # never settled or never went quiet: a failed round, counted as one
                    rounds.append({"round": number, "matched": False, "error": str(error)[:500]})
                    print(f"round {number:2d}: FAILED: {str(error)[:200]}", flush=True)
                    continue
                pairs = [(v.alert_id, v.version) for v in versions]
                duplicates = len(pairs) - len(set(pairs))
                got = final_state(versions)
                matched = got == expected and duplicates == 0
                rounds.append(
                    {
                        "round": number,
                        "kills": events,
                        "matched": matched,
                        "duplicate_versions": duplicates,
                        "missing": sorted(set(expected) - set(got)),
                        "extra": sorted(set(got) - set(expected)),
                    }
                )
                print(f"round {number:2d}: {'match' if matched else 'DIFFERENT'}; " + "; ".join(events), flush=True)
    finally:
        cleanup()
    passed = sum(1 for r in rounds if r["matched"])
    print(f"{passed} of {len(rounds)} rounds matched the uninterrupted run")
    write_report({"rounds": len(rounds), "matched": passed, "seed": args.seed, "detail": rounds}, args.out)
    return 0 if passed == len(rounds) else 1


if __name__ == "__main__":
    raise SystemExit(main())
