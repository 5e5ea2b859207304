"""Alert quality benchmark: recall and precision per rule of the in-memory correlator over many simulator seeds.

Not a test (``make quality`` runs it). For each seed the simulator plants its patterns (which
vary by seed) among background noise; every subject is respelled the ways agencies write it
(spaces, case, alpha-2 or alpha-3 countries, national, 00 and + phone forms, the simulator's own
variants), every event goes through the publisher's validation, a share of events is sent twice,
and the whole stream is shuffled (a replay reads topics in any order). An alert counts as found
only when its evidence is exactly the planted events (and the case updates that define them);
every other standing alert is a false positive.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from benchkit import write_report

from borderbus.bus import Bus
from borderbus.catalogue import EVENT_TYPES
from borderbus.config import Settings
from borderbus.events import EventPreparer
from borderbus_correlator.alert_book import AlertBook
from borderbus_correlator.model import Observation
from borderbus_correlator.observation import observe
from borderbus_correlator.pipeline import InMemoryPipeline
from borderbus_correlator.rule_config import RULE_NAMES, RuleConfig, load_rule_config
from borderbus_simulator.scenario import Scenario, build_scenario
from borderbus_simulator.world import ALPHA3

END_MS = 1_795_939_200_000  # 2026-11-29T00:00:00Z
HOUR_MS = 3_600_000
DUPLICATE_SHARE = 0.1


def respell(subject: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """One of the spellings agencies really send for this identifier (the publisher must join them all)."""
    subject = dict(subject)
    kind, raw, country = subject["kind"], subject["id"], subject.get("country")
    if kind in ("PERSON_DOCUMENT", "VEHICLE_PLATE") and country:
        choice = rng.randrange(4)
        if choice == 0:
            subject["id"] = raw.lower()
        elif choice == 1 and len(raw) > 3:
            subject["id"] = f" {raw[:2]} {raw[2:]} "
        elif choice == 2:
            subject["country"] = ALPHA3.get(country, country)
        else:
            subject["country"] = country.lower()
    elif kind == "PHONE" and raw.startswith("+"):
        subject["id"] = rng.choice((raw, "00" + raw[1:].replace(" ", ""), raw.replace(" ", "-"), raw.replace(" ", "")))
    elif kind == "VESSEL" and raw.upper().startswith("IMO "):
        subject["id"] = rng.choice((raw, raw.lower(), raw.replace(" ", "")))
    return subject


def noisy_stream(scenario: Scenario, bus: Bus, rng: random.Random | None) -> list[Observation]:
    """The scenario as the correlator receives it; with ``rng`` None, as planted (event-time order, no noise)."""
    schemas = {event_type: bus.schemas.latest(event_type) for event_type in EVENT_TYPES}
    preparers = {code: EventPreparer(bus.catalogue, schemas, agency) for code, agency in bus.catalogue.agencies.items()}
    observations = []
    for planned in scenario.events:
        body = copy.deepcopy(planned.body)
        if rng is not None:
            body["subjects"] = [respell(subject, rng) for subject in body["subjects"]]
        record = preparers[planned.agency].prepare(planned.event_type, body, now_ms=END_MS + HOUR_MS).record
        observations.append(observe(planned.agency, planned.event_type, record))
    if rng is not None:
        observations += rng.sample(observations, int(len(observations) * DUPLICATE_SHARE))
        rng.shuffle(observations)
    return observations


def run(bus: Bus, cfg: RuleConfig, observations: list[Observation]) -> InMemoryPipeline:
    catalogue = bus.catalogue
    pipeline = InMemoryPipeline(cfg, catalogue.border_points, AlertBook(catalogue.agencies, catalogue.border_points, cfg))
    pipeline.process(observations)
    return pipeline


def score(scenario: Scenario, pipeline: InMemoryPipeline) -> dict[str, dict[str, int]]:
    """Per rule: planted alerts, standing alerts, and those matching a planted alert exactly."""
    planted: dict[str, Counter[frozenset[str]]] = defaultdict(Counter)
    for entry in scenario.ground_truth["expected_alerts"]:
        planted[entry["rule"]][frozenset(entry["event_ids"]) | frozenset(entry["context_event_ids"])] += 1
    raised: dict[str, Counter[frozenset[str]]] = defaultdict(Counter)
    for alert in pipeline.alerts.values():
        if alert.status == "OPEN":
            raised[alert.rule][frozenset(alert.evidence)] += 1
    return {
        rule: {
            "expected": sum(planted[rule].values()),
            "raised": sum(raised[rule].values()),
            "matched": sum((planted[rule] & raised[rule]).values()),
        }
        for rule in RULE_NAMES
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=12)
    parser.add_argument("--events", type=int, default=900)
    parser.add_argument("--out", default=".local/bench/quality.json")
    args = parser.parse_args()
    bus = Bus.from_settings(Settings.from_env({}))
    config_dir = bus.settings.config_dir
    cfg = load_rule_config(config_dir / "rules.yaml")
    totals: dict[str, Counter[str]] = defaultdict(Counter)
    per_seed = {}
    severities: Counter[str] = Counter()
    severities_by_rule: dict[str, list[str]] = defaultdict(list)
    started = time.perf_counter()
    for seed in range(1, args.seeds + 1):
        rng = random.Random(f"quality:{seed}")
        scenario = build_scenario(
            seed=seed, event_count=args.events, end_ms=END_MS, span_ms=(3 + seed % 3) * 24 * HOUR_MS,
            agencies_path=config_dir / "agencies.yaml", border_points_path=config_dir / "border_points.yaml",
            networks=2 + seed % 2,
        )
        pipeline = run(bus, cfg, noisy_stream(scenario, bus, rng))
        figures = score(scenario, pipeline)
        per_seed[str(seed)] = figures
        for rule, counts in figures.items():
            totals[rule].update(counts)
        standing = [a for a in pipeline.alerts.values() if a.status == "OPEN"]
        severities.update(a.severity for a in standing)
        for alert in standing:
            severities_by_rule[alert.rule].append(alert.severity)
    truth_run = build_scenario(
        seed=1, event_count=args.events, end_ms=END_MS, agencies_path=config_dir / "agencies.yaml",
        border_points_path=config_dir / "border_points.yaml",
    )
    in_order = run(bus, cfg, noisy_stream(truth_run, bus, None))
    ground_truth_severities = Counter(a.severity for a in in_order.alerts.values() if a.status == "OPEN")
    rules = {}
    for rule in RULE_NAMES:
        counts = totals[rule]
        rules[rule] = {
            **counts,
            "recall": round(counts["matched"] / counts["expected"], 4) if counts["expected"] else None,
            "precision": round(counts["matched"] / counts["raised"], 4) if counts["raised"] else None,
        }
    results = {
        "seeds": args.seeds,
        "events_per_seed": args.events,
        "duplicate_share": DUPLICATE_SHARE,
        "rules": rules,
        "severity_distribution": dict(sorted(severities.items())),
        "severity_distribution_by_rule": {
            rule: dict(sorted(Counter(counts).items())) for rule, counts in severities_by_rule.items()
        },
        "ground_truth_run_severities": dict(sorted(ground_truth_severities.items())),
        "per_seed": per_seed,
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_report({k: v for k, v in results.items() if k != "per_seed"}, args.out)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    planted_rules = [r for r in rules.values() if r["expected"]]
    ok = all(r["recall"] == 1.0 and (r["precision"] or 0) >= 0.95 for r in planted_rules)
    ok = ok and all(not r["raised"] for r in rules.values() if not r["expected"])
    print("target met: recall 1.00 and precision >= 0.95 for every rule" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
