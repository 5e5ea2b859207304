"""``desk.yaml``: acknowledgement deadlines, notes required, webhook subscriptions, checkpoint interval."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from borderbus.catalogue import CatalogueError, read_yaml
from borderbus.markings import SEVERITIES
from borderbus_desk.state import ACTIONS, AlertFilter


@dataclass(frozen=True)
class WebhookSubscription:
    name: str
    agency: str
    url: str
    secret_env: str
    filter: AlertFilter
    max_attempts: int = 8


@dataclass(frozen=True)
class DeskConfig:
    deadlines_s: dict[str, float | None]
    note_required: frozenset[str]
    webhooks: tuple[WebhookSubscription, ...]
    checkpoint_interval_s: float = 5.0
    """How often the desk writes changed alerts' status records and its log positions (bounds restart work)."""
    keep_closed_s: float = 90 * 24 * 3600.0
    """How long a resolved or false-positive alert stays on the desk after its last change."""
    silence_warning_s: float = 300.0
    """How long before a silence ends its creator is told (stream event, console banner, ``expires_soon``)."""
    max_silence_s: float = 7 * 24 * 3600.0
    """The longest a silence may last."""

    @classmethod
    def load(cls, path: Path, known_agencies: set[str]) -> DeskConfig:
        raw = read_yaml(path)
        deadlines: dict[str, float | None] = {}
        for severity, seconds in (raw.get("acknowledgement_deadlines_seconds") or {}).items():
            if severity not in SEVERITIES:
                raise CatalogueError(f"{path}: acknowledgement_deadlines_seconds.{severity}: not a severity")
            if seconds is not None and (not isinstance(seconds, int | float) or seconds <= 0):
                raise CatalogueError(f"{path}: acknowledgement_deadlines_seconds.{severity}: expected seconds > 0 or null")
            deadlines[severity] = None if seconds is None else float(seconds)
        notes = frozenset(raw.get("note_required") or ())
        if notes - set(ACTIONS):
            raise CatalogueError(f"{path}: note_required: unknown actions {sorted(notes - set(ACTIONS))}")
        webhooks = tuple(_webhook(path, index, item, known_agencies) for index, item in enumerate(raw.get("webhooks") or []))
        interval = raw.get("checkpoint_interval_seconds", 5)
        if not isinstance(interval, int | float) or interval <= 0:
            raise CatalogueError(f"{path}: checkpoint_interval_seconds: expected seconds > 0")
        names = [webhook.name for webhook in webhooks]
        if len(set(names)) != len(names):
            raise CatalogueError(f"{path}: webhooks: names must be unique (deliveries owed are kept by name)")
        keep_closed = raw.get("keep_closed_alerts_seconds", 90 * 24 * 3600)
        if not isinstance(keep_closed, int | float) or keep_closed <= 0:
            raise CatalogueError(f"{path}: keep_closed_alerts_seconds: expected seconds > 0")
        seconds = {}
        for name, default in (("silence_warning_seconds", 300), ("max_silence_seconds", 7 * 24 * 3600)):
            value = raw.get(name, default)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise CatalogueError(f"{path}: {name}: expected seconds > 0")
            seconds[name] = float(value)
        return cls(
            deadlines,
            notes,
            webhooks,
            float(interval),
            float(keep_closed),
            seconds["silence_warning_seconds"],
            seconds["max_silence_seconds"],
        )


def _webhook(path: Path, index: int, item: dict[str, Any], known_agencies: set[str]) -> WebhookSubscription:
    where = f"{path}: webhooks[{index}]"
    for key in ("name", "agency", "url", "secret_env"):
        if not item.get(key):
            raise CatalogueError(f"{where}.{key}: missing")
    if item["agency"] not in known_agencies:
        raise CatalogueError(f"{where}.agency: unknown agency {item['agency']!r}")
    query = {"min_severity": item.get("min_severity") or "", "rule": ",".join(item.get("rules") or [])}
    return WebhookSubscription(
        name=item["name"],
        agency=item["agency"],
        url=item["url"],
        secret_env=item["secret_env"],
        filter=AlertFilter.from_query(query),
        max_attempts=int(item.get("max_attempts", 8)),
    )
