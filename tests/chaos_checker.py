"""The chaos run's checker, in the spirit of Jepsen's Kafka workload: pure functions over what the
clients were told and what a read_committed reader finds afterwards.

Each function takes plain records (no broker, no processes), so unit tests can feed it histories
that contain each anomaly and check that it is found: a checker that cannot fail proves nothing.

Anomaly classes (every count must be zero):

- ``lost_write``: an event whose request was answered 202 is not on its ingest topic.
- ``duplicate``: an event id is on its ingest topic more than once (after client retries).
- ``aborted_read``: a record written by a request that was refused (4xx) or answered 503 ("certainly
  not committed") is visible. Each attempt carries its own ``reported_at`` (the attempt's marker), so
  a record tells which attempt wrote it even though retries reuse the ``event_id``.
- ``missed_alert`` / ``extra_alert``: the standing alerts (latest version OPEN) against the
  simulator's ground truth, matched as the correlator tests match them (rule and exact evidence).
- ``duplicate_alert_version`` / ``alert_version_gap`` on ``alerts.shared``.
- ``desk_divergence``: the desk's alerts differ from a fresh replay of the logs.
- ``lost_action``: an officer's action the desk answered 200 is not on ``alerts.actions``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ACCEPTED = "accepted"  # 202: every event of the batch is committed (now or by an earlier attempt)
FAILED = "failed"  # 503: certainly not committed
REFUSED = "refused"  # 4xx: validation refused the request; nothing of it may be published
UNKNOWN = "unknown"  # 504, timeout, connection reset, service killed: may or may not be committed

ANOMALY_CLASSES = (
    "lost_write",
    "duplicate",
    "aborted_read",
    "missed_alert",
    "extra_alert",
    "duplicate_alert_version",
    "alert_version_gap",
    "desk_divergence",
    "lost_action",
)
EXAMPLES = 5


@dataclass(frozen=True)
class Attempt:
    """One HTTP request of a batch to an agency service, and what the client was told."""

    topic: str
    event_ids: tuple[str, ...]
    marker: int
    """The ``reported_at`` (ms) this attempt sent, unique per attempt of an event."""
    outcome: str
    status: int | None = None


@dataclass(frozen=True)
class IngestRecord:
    """A committed record on an ingest topic, as a read_committed reader decoded it."""

    topic: str
    partition: int
    offset: int
    event_id: str
    reported_at: int


@dataclass(frozen=True)
class Version:
    """An alert version on ``alerts.shared``."""

    alert_id: str
    version: int
    rule: str
    status: str
    evidence: frozenset[str]


@dataclass
class Findings:
    """Per anomaly class: how many, and a few examples to start an investigation from."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ANOMALY_CLASSES, 0))
    examples: dict[str, list[Any]] = field(default_factory=lambda: {name: [] for name in ANOMALY_CLASSES})

    def add(self, name: str, items: Sequence[Any]) -> None:
        self.counts[name] += len(items)
        self.examples[name].extend(list(items)[: max(0, EXAMPLES - len(self.examples[name]))])

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        return {name: {"count": self.counts[name], "examples": self.examples[name]} for name in ANOMALY_CLASSES}


def lost_writes(attempts: Iterable[Attempt], records: Iterable[IngestRecord]) -> list[dict[str, Any]]:
    """Events of 202-answered requests that no committed record of their topic carries."""
    present = {(record.topic, record.event_id) for record in records}
    lost: dict[tuple[str, str], int] = {}
    for attempt in attempts:
        if attempt.outcome == ACCEPTED:
            for event_id in attempt.event_ids:
                if (attempt.topic, event_id) not in present:
                    lost.setdefault((attempt.topic, event_id), attempt.marker)
    return [{"topic": topic, "event_id": event_id, "acknowledged_attempt": marker} for (topic, event_id), marker in lost.items()]


def duplicates(records: Iterable[IngestRecord]) -> list[dict[str, Any]]:
    """Event ids that occur more than once on their topic (one entry per surplus copy)."""
    where: dict[tuple[str, str], list[IngestRecord]] = defaultdict(list)
    for record in records:
        where[(record.topic, record.event_id)].append(record)
    found = []
    for (topic, event_id), copies in where.items():
        for extra in copies[1:]:
            found.append(
                {
                    "topic": topic,
                    "event_id": event_id,
                    "copies": [(r.partition, r.offset, r.reported_at) for r in copies],
                    "surplus": (extra.partition, extra.offset),
                }
            )
    return found


def aborted_reads(attempts: Iterable[Attempt], records: Iterable[IngestRecord]) -> list[dict[str, Any]]:
    """Committed records written by an attempt the client was told certainly did not commit (503) or was refused."""
    dead = {}
    for attempt in attempts:
        if attempt.outcome in (FAILED, REFUSED):
            for event_id in attempt.event_ids:
                dead[(attempt.topic, event_id, attempt.marker)] = attempt
    found = []
    for record in records:
        attempt = dead.get((record.topic, record.event_id, record.reported_at))
        if attempt is not None:
            found.append(
                {
                    "topic": record.topic,
                    "event_id": record.event_id,
                    "at": (record.partition, record.offset),
                    "attempt": attempt.marker,
                    "told": f"{attempt.outcome} ({attempt.status})",
                }
            )
    return found


def standing(versions: Iterable[Version]) -> dict[str, Version]:
    """Each alert's latest version, kept when it is OPEN: a retracted alert is no alert."""
    latest: dict[str, Version] = {}
    for version in versions:
        if version.alert_id not in latest or version.version > latest[version.alert_id].version:
            latest[version.alert_id] = version
    return {alert_id: v for alert_id, v in latest.items() if v.status == "OPEN"}


def planted_evidence(expected: Mapping[str, Any]) -> frozenset[str]:
    return frozenset({*expected["event_ids"], *expected.get("context_event_ids", ())})


def match_ground_truth(
    truth: Mapping[str, Any], alerts: Mapping[str, Any]
) -> tuple[list[Mapping[str, Any]], list[Any]]:
    """(expected alerts not found, alerts that match no expected alert): an alert matches only with exactly
    its evidence. ``alerts`` values need ``rule`` and ``evidence``; the correlator tests use this too."""
    expected = list(truth["expected_alerts"])
    wanted = [(e["rule"], planted_evidence(e)) for e in expected]
    raised = {(a.rule, frozenset(a.evidence)) for a in alerts.values()}
    missing = [e for e, key in zip(expected, wanted, strict=True) if key not in raised]
    unexpected = [a for a in alerts.values() if (a.rule, frozenset(a.evidence)) not in set(wanted)]
    return missing, unexpected


def alert_anomalies(truth: Mapping[str, Any], versions: Iterable[Version]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(missed alerts, extra alerts) of the standing alerts against the ground truth."""
    missing, unexpected = match_ground_truth(truth, standing(versions))
    missed = [{"rule": e["rule"], "event_ids": sorted(planted_evidence(e))[:6]} for e in missing]
    extra = [
        {"alert_id": a.alert_id, "rule": a.rule, "version": a.version, "evidence": sorted(a.evidence)[:6]} for a in unexpected
    ]
    return missed, extra


def version_anomalies(versions: Iterable[Version]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(alert versions published more than once, alerts whose versions are not exactly 1..n)."""
    pairs = Counter((v.alert_id, v.version) for v in versions)
    repeated = [{"alert_id": a, "version": n, "times": times} for (a, n), times in pairs.items() if times > 1]
    by_alert: dict[str, set[int]] = defaultdict(set)
    for alert_id, number in pairs:
        by_alert[alert_id].add(number)
    gaps = []
    for alert_id, numbers in by_alert.items():
        missing = sorted(set(range(1, max(numbers) + 1)) - numbers)
        if missing:
            gaps.append({"alert_id": alert_id, "versions": sorted(numbers)[:20], "missing": missing[:20]})
    return repeated, gaps


def desk_divergence(live: Mapping[str, Mapping[str, Any]], replay: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Alerts whose view differs between the running desk and a fresh replay of the logs (by field)."""
    found = []
    for alert_id in sorted(set(live) | set(replay)):
        if alert_id not in live:
            found.append({"alert_id": alert_id, "difference": "only in the replay", "status": replay[alert_id].get("status")})
        elif alert_id not in replay:
            found.append({"alert_id": alert_id, "difference": "only on the desk", "status": live[alert_id].get("status")})
        else:
            desk, fresh = live[alert_id], replay[alert_id]
            fields = sorted(name for name in set(desk) | set(fresh) if desk.get(name) != fresh.get(name))
            if fields:
                found.append(
                    {
                        "alert_id": alert_id,
                        "difference": fields,
                        "desk": {name: desk.get(name) for name in fields[:4]},
                        "replay": {name: fresh.get(name) for name in fields[:4]},
                    }
                )
    return found


def lost_actions(acknowledged: Iterable[str], on_log: Iterable[str]) -> list[str]:
    """Action ids the desk answered 200 for that ``alerts.actions`` does not hold."""
    logged = set(on_log)
    return [action_id for action_id in acknowledged if action_id not in logged]


def check(
    *,
    attempts: Sequence[Attempt],
    records: Sequence[IngestRecord],
    truth: Mapping[str, Any],
    versions: Sequence[Version],
    desk_live: Mapping[str, Mapping[str, Any]],
    desk_replay: Mapping[str, Mapping[str, Any]],
    actions_acknowledged: Sequence[str] = (),
    actions_on_log: Sequence[str] = (),
) -> Findings:
    """Every anomaly class over one run's history."""
    findings = Findings()
    findings.add("lost_write", lost_writes(attempts, records))
    findings.add("duplicate", duplicates(records))
    findings.add("aborted_read", aborted_reads(attempts, records))
    missed, extra = alert_anomalies(truth, versions)
    findings.add("missed_alert", missed)
    findings.add("extra_alert", extra)
    repeated, gaps = version_anomalies(versions)
    findings.add("duplicate_alert_version", repeated)
    findings.add("alert_version_gap", gaps)
    findings.add("desk_divergence", desk_divergence(desk_live, desk_replay))
    findings.add("lost_action", lost_actions(actions_acknowledged, actions_on_log))
    return findings


def render_text(summary: Mapping[str, Any]) -> str:
    """One page: what was done to the system, what the clients saw, and each anomaly class."""
    lines = [
        f"borderbus chaos run: seed {summary['seed']}, {summary['duration_s']:.0f} s of faults, "
        f"{summary['cluster']}, {summary['wall_s']:.0f} s in all",
        "",
        f"faults injected: {summary['faults_total']}",
    ]
    lines += [f"  {kind:<28} {count:>5}" for kind, count in sorted(summary["faults_by_kind"].items())]
    lines += ["", "clients:"]
    lines += [f"  {name:<28} {value:>7}" for name, value in summary["clients"].items()]
    lines += ["", "anomalies (all must be 0):"]
    anomalies = summary["anomalies"]
    for name in ANOMALY_CLASSES:
        entry = anomalies[name]
        lines.append(f"  {name:<28} {entry['count']:>5}")
        for example in entry["examples"][:3]:
            lines.append(f"      e.g. {str(example)[:160]}")
    verdict = "PASS: no anomaly" if summary["anomalies_total"] == 0 else f"FAIL: {summary['anomalies_total']} anomalies"
    lines += ["", verdict, f"fault schedule (first 12 of {len(summary['schedule'])}):"]
    lines += [f"  {entry}" for entry in summary["schedule"][:12]]
    return "\n".join(lines) + "\n"
