"""Run the duty desk as a real process for tests, with officers and settings made for the test.

Also the small pieces every desk test needs: an officers file with fresh tokens, publishing an
Alert record straight to ``alerts.shared`` (as the correlator would), and an SSE reader.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import Producer

from borderbus import codec
from borderbus.bus import Bus
from borderbus.schema_registry import SchemaRegistry
from borderbus_desk.client import sse_events
from borderbus_desk.officers import new_token, officer_entry
from service_process import ServiceProcess

TEST_DESK_CONFIG = {
    "acknowledgement_deadlines_seconds": {"CRITICAL": 600, "HIGH": 600, "MEDIUM": 600, "LOW": None},
    "note_required": ["RESOLVE", "FALSE_POSITIVE", "ESCALATE"],
    "webhooks": [],
}


def write_officers(
    path: Path,
    officers: Mapping[str, str],
    locales: Mapping[str, str] | None = None,
    roles: Mapping[str, list[str]] | None = None,
) -> dict[str, str]:
    """``{officer_id: agency}`` (optional ``{officer_id: locale}`` and ``{officer_id: roles}``) -> officers file at
    ``path``; returns ``{officer_id: token}``."""
    tokens = {officer: new_token() for officer in officers}
    entries = [
        officer_entry(officer, agency, tokens[officer], (locales or {}).get(officer), roles=(roles or {}).get(officer, []))
        for officer, agency in officers.items()
    ]
    path.write_text(yaml.safe_dump({"officers": entries}, sort_keys=False))
    return tokens


class DeskProcess(ServiceProcess):
    """``borderbus desk serve`` in a child process with its own officers (fresh tokens) and settings."""

    def __init__(
        self,
        bus: Bus,
        work_dir: Path,
        officers: Mapping[str, str],
        config: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        name: str = "desk",
        locales: Mapping[str, str] | None = None,
        roles: Mapping[str, list[str]] | None = None,
    ) -> None:
        work_dir.mkdir(parents=True, exist_ok=True)
        officers_file, config_file = work_dir / f"{name}-officers.yaml", work_dir / f"{name}-desk.yaml"
        self.tokens = write_officers(officers_file, officers, locales, roles)
        self.config_path = config_file
        config_file.write_text(yaml.safe_dump(dict(config or TEST_DESK_CONFIG)))
        args = ["-v", "desk", "serve", "--officers", str(officers_file), "--config", str(config_file), "--instance-id", name]
        super().__init__(bus, work_dir, name, args, ready_path="/readyz", env=env)

    def request(self, officer: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Authorization": f"Bearer {self.tokens[officer]}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def stream(self, officer: str, query: str = "", last_event_id: str | None = None) -> SseReader:
        return SseReader(self.url + "/api/v1/stream" + (f"?{query}" if query else ""), self.tokens[officer], last_event_id)


class SseReader:
    """Reads an SSE stream in a thread; ``events`` receives ``(id, alert view)`` as they arrive."""

    def __init__(self, url: str, token: str, last_event_id: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        self.response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=120)
        self.events: queue.Queue[tuple[str | None, dict[str, Any]]] = queue.Queue()
        self.silences: queue.Queue[dict[str, Any]] = queue.Queue()
        """``event: silence`` views (a silence of the officer's agency changed or is about to end)."""
        self.received: list[tuple[str | None, dict[str, Any]]] = []
        self.first_seen: dict[str, float] = {}
        """Wall-clock time each alert id first arrived (for the benchmark)."""
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for event_id, data in sse_events(self.response):
                view = json.loads(data)
                if "alert_id" not in view:
                    self.silences.put(view)
                    continue
                self.first_seen.setdefault(view["alert_id"], time.time())
                self.events.put((event_id, view))
        except (OSError, ValueError, AttributeError):  # AttributeError: http.client after close()
            pass

    def until(self, predicate: Any, timeout: float = 30) -> list[tuple[str | None, dict[str, Any]]]:
        """Collect events until ``predicate(view)`` holds for one; raise on timeout, with what came."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                item = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.received.append(item)
            if predicate(item[1]):
                return self.received
        got = [(event_id, view["alert_id"], view["status"]) for event_id, view in self.received]
        raise AssertionError(f"no matching event within {timeout} s; got {got}")

    def drain(self, seconds: float) -> list[tuple[str | None, dict[str, Any]]]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                self.received.append(self.events.get(timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                break
        return self.received

    def close(self) -> None:
        self.response.close()


def alert_record(
    alert_id: str,
    *,
    allowed: list[str],
    tlp: str = "AMBER",
    severity: str = "HIGH",
    version: int = 1,
    rule: str = "wanted_subject_sighted",
    created_ms: int | None = None,
    updated_ms: int | None = None,
    border_point: str | None = "GR-EVR",
    change: str | None = None,
    previous_severity: str | None = None,
    retraction: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An Alert record as the correlator publishes it (fastavro value types); ``retraction`` makes it a
    RETRACTED version (alert schema v2; a v1 writer drops the v2 fields)."""
    now = int(time.time() * 1000) if created_ms is None else created_ms
    return {
        "status": "RETRACTED" if retraction else "OPEN",
        "change": change or ("RETRACTED" if retraction else None),
        "previous_severity": previous_severity,
        "retraction": retraction,
        "alert_id": alert_id,
        "version": version,
        "rule": rule,
        "severity": severity,
        "score": 0.9,
        "created_at": now,
        "updated_at": now + version if updated_ms is None else updated_ms,
        "tlp": tlp,
        "allowed_agencies": allowed,
        "subjects": [{"kind": "PERSON_DOCUMENT", "id": f"GB:{abs(hash(alert_id)) % 10**9:09d}"}],
        "border_point": border_point,
        "window_start": now - 3_600_000,
        "window_end": now,
        "evidence": [
            {
                "event_id": f"00000000-0000-4000-8000-{abs(hash((alert_id, version))) % 10**12:012d}",
                "agency": allowed[0] if allowed and allowed[0] != "*" else "uk-bf",
                "event_type": "sighting",
                "occurred_at": now - 60_000,
                "border_point": border_point,
                "summary": f"test evidence for {alert_id}",
            }
        ],
        "summary": f"test alert {alert_id} v{version}",
    }


class AlertWriter:
    """Publishes Alert records to ``alerts.shared`` the way the correlator does (keyed by alert id), with the
    latest Alert schema or an older ``schema_version`` (the desk reads both)."""

    def __init__(self, bus: Bus, schema_version: int | None = None) -> None:
        self.schema = bus.schemas.latest("alert") if schema_version is None else bus.schemas.get("alert", schema_version)
        SchemaRegistry(bus.settings, known=bus.schemas).register(self.schema)
        self.topic = bus.catalogue.topic("alerts.shared")
        self.producer = Producer(bus.settings.producer_config())

    def publish(self, *records: dict[str, Any]) -> None:
        fields = {field["name"] for field in self.schema.definition["fields"]}
        for record in records:
            value = codec.encode(self.schema, {name: item for name, item in record.items() if name in fields})
            self.producer.produce(self.topic, key=record["alert_id"].encode(), value=value)
        if self.producer.flush(30):
            raise RuntimeError("alerts not acknowledged")
