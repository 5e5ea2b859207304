"""Rules benchmark: subject histories and rule evaluation as the stream processor drives them, without Kafka.

Not a test: builds a synthetic month of traffic over a few thousand subjects (popular subjects
included, so some histories hit the cap), routes every event the way the processor does (direct
to each named subject, one hop on to its links, back-fill on a new link), and times add + expire +
evaluate. Prints figures and writes them to a JSON file. ``make bench`` runs it.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

from benchkit import per_call_us, write_report

from borderbus.catalogue import Catalogue
from borderbus.config import Settings
from borderbus_correlator.history import SubjectHistory
from borderbus_correlator.model import Observation
from borderbus_correlator.rule_config import DAY_MS, HOUR_MS, RuleConfig, load_rule_config
from borderbus_correlator.rules import evaluate

T0 = 1_777_852_800_000  # 2026-05-04 00:00 UTC


class World:
    """People with their own phones, accounts and vehicles; a few suspects in cases; skewed travel.

    Travel follows a Zipf law, so frequent crossers (drivers, commuters) fill their histories to
    the cap while most people are seen once or twice, as at a real border.
    """

    def __init__(self, rng: random.Random, subjects: int, points: list[str]) -> None:
        self.rng = rng
        self.regions: dict[str, list[str]] = {}
        for point in points:
            self.regions.setdefault(point[:2], []).append(point)
        people = subjects // 2
        self.people = [f"PERSON_DOCUMENT:IQ:A{i:07d}" for i in range(people)]
        self.travel_weights = [1 / (i + 1) ** 0.8 for i in range(people)]
        self.phone = {p: f"PHONE:+96477{i:08d}" for i, p in enumerate(self.people) if i % 5 < 2}
        self.account = {p: f"BANK_ACCOUNT:GB82WEST{i:014d}" for i, p in enumerate(self.people) if i % 5 == 0}
        self.vehicles = [f"VEHICLE_PLATE:IQ:{i:07d}" for i in range(subjects * 3 // 20)]
        self.vehicle_weights = [1 / (i + 1) for i in range(len(self.vehicles))]
        self.drivers = {v: rng.sample(self.people[:200], 2) for v in self.vehicles}
        self.handles = [f"PLATFORM_ACCOUNT:tiktok:h{i}" for i in range(subjects // 50)]
        self.wallets = [f"CRYPTO_WALLET:TRX:T{i:033d}" for i in range(subjects // 50)]
        networks = [f"OCG-{n:03d}" for n in range(8)]
        self.cases = {
            f"NCA-{c:04d}": (rng.choice([None, None, None, *networks]), rng.sample(self.people[50:], rng.randint(2, 5)))
            for c in range(120)
        }
        self.suspects = sorted({p for _, roster in self.cases.values() for p in roster})

    def point(self, subject: str) -> str:
        """Mostly the subject's home region (fixed by its key), now and then anywhere."""
        regions = sorted(self.regions)
        home = regions[sum(map(ord, subject)) % len(regions)]
        region = home if self.rng.random() < 0.97 else self.rng.choice(regions)
        return self.rng.choice(self.regions[region])

    def traveller(self) -> str:
        return self.rng.choices(self.people, self.travel_weights)[0]

    def event(self, index: int, at_ms: int) -> Observation:
        rng = self.rng
        roll = rng.random()
        base: dict[str, Any] = {"event_id": f"ev-{index:07d}", "occurred_at_ms": at_ms, "reported_at_ms": at_ms + 30_000}
        if roll < 0.55:
            person = self.traveller()
            phone = [self.phone[person]] if person in self.phone and rng.random() < 0.5 else []
            return Observation(
                agency="uk-bf",
                event_type="sighting",
                tlp="AMBER",
                subjects=(person, *phone),
                border_point=self.point(person),
                facts={"method": "DOCUMENT_SCAN"},
                **base,
            )
        if roll < 0.8:
            vehicle = rng.choices(self.vehicles, self.vehicle_weights)[0]
            driver = [rng.choice(self.drivers[vehicle])] if rng.random() < 0.3 else []
            return Observation(
                agency="krg-bca",
                event_type="sighting",
                tlp="GREEN",
                subjects=(vehicle, *driver),
                border_point=self.point(vehicle),
                facts={"method": "ANPR_CAMERA"},
                **base,
            )
        if roll < 0.9:
            holder = rng.choice(list(self.account))
            named = [holder] if rng.random() < 0.6 else []
            facts = {"risk_score": rng.randint(5, 99), "channel": "WIRE", "amount": "1200.00", "currency": "GBP"}
            return Observation(
                agency="uk-fiu",
                event_type="finance-flag",
                tlp="AMBER",
                subjects=(self.account[holder], *named),
                facts=facts,
                **base,
            )
        if roll < 0.95:
            case_id = rng.choice(list(self.cases))
            network_id, roster = self.cases[case_id]
            named = rng.sample(roster, rng.randint(1, len(roster)))
            status = rng.choice(("OPENED", "SUBJECT_ADDED", "SUBJECT_ADDED", "WARRANT_ISSUED", "WARRANT_WITHDRAWN", "CHARGED"))
            facts = {
                "case_id": case_id,
                "status": status,
                "network_id": network_id,
                "warrant_ref": f"W-{case_id}" if status.startswith("WARRANT") else None,
                "roles": dict.fromkeys(named, "SUSPECT"),
            }
            return Observation(agency="uk-nca", event_type="case-update", tlp="RED", subjects=tuple(named), facts=facts, **base)
        suspect = rng.choice(self.suspects)
        contact = self.phone.get(suspect) or f"PHONE:+9075{index:08d}"
        subjects = (rng.choice(self.handles), contact, *([rng.choice(self.wallets)] if rng.random() < 0.3 else []))
        facts = {"platform": "tiktok", "content_kind": "ADVERT", "content_ref": f"tt-{index}"}
        return Observation(
            agency="tiktok-safety", event_type="platform-report", tlp="GREEN", subjects=subjects, facts=facts, **base
        )


def traffic(world: World, events: int, span_ms: int, jitter_ms: int) -> Iterator[Observation]:
    """Events in arrival order: event time increases but each arrives up to ``jitter_ms`` out of order."""
    times = sorted(world.rng.randint(T0, T0 + span_ms) for _ in range(events))
    arrivals = sorted(range(events), key=lambda i: times[i] + world.rng.randint(0, jitter_ms))
    for index in arrivals:
        yield world.event(index, times[index])


class Processor:
    """The stream processor's routing and per-message work, minus Kafka and the JSON table."""

    def __init__(self, cfg: RuleConfig, points: Any) -> None:
        self.cfg, self.points = cfg, points
        self.histories: dict[str, SubjectHistory] = {}
        self.evaluate_ns: list[int] = []
        self.sizes: list[int] = []
        self.messages = self.late = self.decisions = 0

    def ingest(self, observation: Observation) -> None:
        queue: deque[tuple[str, str | None, Observation]] = deque((s, None, observation) for s in observation.subjects)
        while queue:
            self.messages += 1
            subject, via, item = queue.popleft()
            history = self.histories.get(subject) or self.histories.setdefault(subject, SubjectHistory(subject))
            if via is None:
                new_links = history.new_links(item)
                outcome = history.add_direct(item, self.cfg)
                if outcome == "added":
                    queue.extend((other, subject, item) for other in history.links if other not in item.subjects)
                    queue.extend((link, subject, old) for link in new_links for old in history.direct if old is not item)
            else:
                outcome = history.add_linked(via, item, self.cfg)
            self.late += outcome == "late"
            if outcome != "added":
                continue
            history.expire(self.cfg)
            started = time.perf_counter_ns()
            found = evaluate(history, self.cfg, self.points)
            self.evaluate_ns.append(time.perf_counter_ns() - started)
            self.sizes.append(len(history.direct) + len(history.linked))
            self.decisions += sum(any(o.event_id == item.event_id for o in d.evidence) for d in found)


def percentile(values: list[int], fraction: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=".local/bench/rules.json")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--subjects", type=int, default=2_000)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    settings = Settings.from_env({})
    cfg = load_rule_config(settings.config_dir / "rules.yaml")
    points = Catalogue(settings).border_points
    world = World(random.Random(args.seed), args.subjects, sorted(points))
    stream = list(traffic(world, args.events, int(args.days * DAY_MS), jitter_ms=2 * HOUR_MS))

    processor = Processor(cfg, points)
    started = time.perf_counter()
    for observation in stream:
        processor.ingest(observation)
    elapsed = time.perf_counter() - started

    largest = max(processor.histories.values(), key=lambda h: len(h.direct) + len(h.linked))
    slowest = max(processor.histories.values(), key=lambda h: per_call_us(lambda: evaluate(h, cfg, points), 0.0))
    results = {
        "rules_events_per_second": round(len(stream) / elapsed, 1),
        "evaluate_p50_us": round(percentile(processor.evaluate_ns, 0.50) / 1000, 1),
        "evaluate_p99_us": round(percentile(processor.evaluate_ns, 0.99) / 1000, 1),
        "history_size": max(processor.sizes),
        "events": len(stream),
        "subjects": len(processor.histories),
        "routed_messages": processor.messages,
        "evaluations": len(processor.evaluate_ns),
        "late_dead_lettered": processor.late,
        "decisions_emitted": processor.decisions,
        "mean_history_size": round(statistics.fmean(processor.sizes), 1),
        "slowest_history_evaluate_us": round(per_call_us(lambda: evaluate(slowest, cfg, points)), 1),
        "slowest_history_size": len(slowest.direct) + len(slowest.linked),
        "largest_history_json_round_trip_us": round(per_call_us(lambda: SubjectHistory.from_json(largest.to_json())), 1),
        "largest_history_json_bytes": len(json.dumps(largest.to_json())),
        "seconds": round(elapsed, 2),
    }
    write_report(results, args.out)


if __name__ == "__main__":
    main()
