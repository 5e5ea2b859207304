"""Watch the shared alerts topic like a duty officer's screen: one line per new alert version."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer

from borderbus import codec
from borderbus.bus import Bus
from borderbus.codec import DecodeError
from borderbus.schema_registry import SchemaRegistry


def _when(value: Any) -> str:
    moment = value if isinstance(value, datetime) else datetime.fromtimestamp(value / 1000, UTC)
    return f"{moment:%Y-%m-%d %H:%M}Z"


def alert_line(alert: dict[str, Any]) -> str:
    return f"ALERT {alert['severity']:<8} v{alert['version']:<2} {alert['rule']:<27} {alert['tlp']:<12} {alert['summary'][:110]}"


def alert_in_full(alert: dict[str, Any]) -> str:
    lines = [
        f"{alert['alert_id']}  version {alert['version']}  {alert['severity']}  rule {alert['rule']}"
        f"  TLP:{alert['tlp'].replace('_', '+')}",
        f"  {alert['summary']}",
        f"  subjects: {', '.join(s['kind'] + ' ' + s['id'] for s in alert['subjects'])}",
        f"  visible to: {', '.join(alert['allowed_agencies'])}",
        "  evidence:",
    ]
    lines += [f"    {_when(item['occurred_at'])}  {item['agency']:<14} {item['summary']}" for item in alert["evidence"]]
    return "\n".join(lines)


class AlertWatch:
    """Background consumer of alerts.shared keeping the latest version of each alert."""

    def __init__(self, bus: Bus, *, echo: bool = True, only: set[str] | None = None) -> None:
        """``only``: show just alerts with evidence among these event ids (the demo's own run)."""
        self.schema = bus.schemas.latest("alert")
        self.registry = SchemaRegistry(bus.settings, known=bus.schemas)
        self.consumer = Consumer(
            bus.settings.consumer_config(f"{bus.settings.topic_prefix}borderbus-alert-watch-{uuid.uuid4().hex[:8]}")
        )
        self.consumer.subscribe([bus.catalogue.topic("alerts.shared")])
        self.latest: dict[str, dict[str, Any]] = {}
        self.versions = 0
        self.echo = echo
        self.only = only
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-watch", daemon=True)

    def start(self) -> AlertWatch:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            for message in self.consumer.consume(100, 0.5):
                value = message.value()
                if message.error() is not None or value is None:
                    continue
                try:
                    alert = codec.decode(value, self.schema, self.registry.lookup)
                except DecodeError:
                    continue
                if self.only is not None and not any(item["event_id"] in self.only for item in alert["evidence"]):
                    continue
                self.versions += 1
                known = self.latest.get(alert["alert_id"])
                if known is None or alert["version"] > known["version"]:
                    self.latest[alert["alert_id"]] = alert
                if self.echo:
                    print(alert_line(alert), flush=True)

    def by_rule_and_severity(self) -> Counter[tuple[str, str]]:
        return Counter((alert["rule"], alert["severity"]) for alert in list(self.latest.values()))

    def most_severe(self) -> dict[str, Any] | None:
        order = {"LOW": 0, "MEDIUM": 1, "HIGH": 2, "CRITICAL": 3}
        alerts = list(self.latest.values())
        return max(alerts, key=lambda a: (order[a["severity"]], len(a["evidence"])), default=None)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.consumer.close()
