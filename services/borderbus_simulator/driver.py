"""Send a scenario's events through the agencies' public path, at a steady rate, in event-time order.

``--via library`` publishes with the same :class:`AgencyPublisher` the HTTP service uses (one
transaction per agency and tick); ``--via http`` POSTs to running agency services with each
agency's client token (``--tokens FILE``: lines ``<agency> <token>``, as the demo writes them).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

from borderbus.bus import Bus
from borderbus.events import InvalidEvents
from borderbus_agency.publisher import AgencyPublisher, PublishNotAcknowledged
from borderbus_simulator.scenario import PlannedEvent, Scenario, build_scenario, write_ground_truth

TICK_SECONDS = 0.2

Send = Callable[[str, str, list[dict[str, Any]]], None]
"""Publishes one agency's batch of one event type; raises on refusal."""


@dataclass
class SendReport:
    accepted: Counter[tuple[str, str]] = field(default_factory=Counter)
    refused: Counter[tuple[str, str]] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    @property
    def total_accepted(self) -> int:
        return sum(self.accepted.values())


class LibrarySender:
    """One publisher per agency, as if each agency ran its own service."""

    def __init__(self, bus: Bus, instance_id: str) -> None:
        self._publishers = {
            code: AgencyPublisher(bus.as_principal(f"agency-{code}"), code, instance_id=instance_id)
            for code in bus.catalogue.agencies
        }

    def __call__(self, agency: str, event_type: str, bodies: list[dict[str, Any]]) -> None:
        self._publishers[agency].publish(event_type, bodies)

    def close(self) -> None:
        for publisher in self._publishers.values():
            publisher.close()


class HttpSender:
    """POSTs to the agency services; ``urls`` maps agency code to its base URL, ``tokens`` to its client token."""

    def __init__(self, urls: dict[str, str], tokens: dict[str, str], timeout: float = 30.0) -> None:
        self.urls = urls
        self._tokens = tokens
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"HttpSender({self.urls!r})"  # never the tokens

    def __call__(self, agency: str, event_type: str, bodies: list[dict[str, Any]]) -> None:
        request = urllib.request.Request(
            f"{self.urls[agency]}/v1/events/{event_type}",
            data=json.dumps(bodies).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self._tokens[agency]}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"{agency} refused {event_type} batch: {error.code} {error.read()[:500]!r}") from error

    def close(self) -> None:
        pass


def send_scenario(
    events: list[PlannedEvent],
    send: Send,
    rate: float,
    stop: threading.Event | None = None,
    report: SendReport | None = None,
    *,
    keep_order: bool = True,
) -> SendReport:
    """Send ``events`` in order at ``rate`` events/s, batching per agency and type within each tick.

    ``report`` is updated as batches are acknowledged, so another thread can show progress.
    With ``keep_order`` (the default), only consecutive events of one agency and type share a
    transaction; without it, each tick sends one batch per agency and type (faster, and out of
    order within the tick, which the correlator tolerates up to its allowed lateness).
    """
    report = report if report is not None else SendReport()
    per_tick = max(1, round(rate * TICK_SECONDS))
    started = time.monotonic()
    for tick, start in enumerate(range(0, len(events), per_tick)):
        if stop is not None and stop.is_set():
            break
        chunk = events[start : start + per_tick]
        if not keep_order:
            chunk = sorted(chunk, key=lambda e: (e.agency, e.event_type))
        for (agency, event_type), group in groupby(chunk, key=lambda e: (e.agency, e.event_type)):
            bodies = [e.body for e in group]
            try:
                send(agency, event_type, bodies)
                report.accepted[(agency, event_type)] += len(bodies)
            except (InvalidEvents, PublishNotAcknowledged, RuntimeError, OSError) as error:
                report.refused[(agency, event_type)] += len(bodies)
                report.errors.append(str(error)[:300])
        delay = started + (tick + 1) * TICK_SECONDS - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    return report


def read_tokens(path: Path) -> dict[str, str]:
    """``<agency> <token>`` per line (blank lines and ``#`` comments skipped)."""
    tokens: dict[str, str] = {}
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) == 2 and not line.lstrip().startswith("#"):
            tokens[fields[0]] = fields[1]
    return tokens


def write_tokens(path: Path, tokens: dict[str, str]) -> None:
    """The file :func:`read_tokens` reads, readable by its owner only."""
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text("".join(f"{code:<15} {token}\n" for code, token in tokens.items()))


def make_scenario(bus: Bus, *, seed: int, rate: float, duration: float, networks: int = 2) -> Scenario:
    """``networks``: smuggling networks planted, about ten alerts and forty events each (the rest is background)."""
    config_dir = bus.settings.config_dir
    return build_scenario(
        seed=seed,
        event_count=max(1, int(rate * duration)),
        end_ms=int(time.time() * 1000),
        agencies_path=config_dir / "agencies.yaml",
        border_points_path=config_dir / "border_points.yaml",
        networks=networks,
    )


def run_simulation(bus: Bus, args: argparse.Namespace) -> int:
    """``borderbus simulate``: build the scenario, write its ground truth, send it, report."""
    scenario = make_scenario(bus, seed=args.seed, rate=args.rate, duration=args.duration)
    ground_truth = Path(args.ground_truth)
    ground_truth.parent.mkdir(parents=True, exist_ok=True)
    write_ground_truth(scenario, ground_truth)
    sender: LibrarySender | HttpSender
    if args.via == "http":
        ports = {code: args.base_port + i for i, code in enumerate(bus.catalogue.agencies)}
        if not args.tokens:
            print("--via http needs --tokens FILE (lines '<agency> <client token>')")
            return 2
        tokens = read_tokens(Path(args.tokens))
        sender = HttpSender({code: args.base_url.format(port=port) for code, port in ports.items()}, tokens)
    else:
        sender = LibrarySender(bus, instance_id=f"simulator-{args.seed}")
    try:
        report = send_scenario(scenario.events, sender, args.rate)
    finally:
        sender.close()
    for (agency, event_type), count in sorted(report.accepted.items()):
        print(f"{agency:<15} {event_type:<16} {count:>7} accepted")
    for error in report.errors[:10]:
        print(f"refused: {error}")
    print(f"{report.total_accepted} of {len(scenario.events)} events accepted; ground truth in {ground_truth}")
    return 0 if not report.refused else 1
