"""Agencies, border points and topics: the bus's declared configuration, loaded from ``ops/config``.

Topic names are built here and nowhere else, so a prefix (for a test run or a staging tenant)
applies to every topic at once.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from borderbus.config import Settings

EVENT_TYPES = ("sighting", "finance-flag", "case-update", "platform-report")
IDENTIFIER_POLICIES = ("lenient", "strict")
INVALID_SUBJECT_HANDLING = ("drop", "refuse_event")
DEFAULT_MAX_SUBJECTS_PER_EVENT = 50
SCHEMA_TOPIC = "borderbus.schemas"
ALERTS_TOPIC = "alerts.shared"
ALERT_ACTIONS_TOPIC = "alerts.actions"
DESK_STATUS_TOPIC = "desk.alert-status"
DESK_SILENCES_TOPIC = "desk.silences"
DESK_AUDIT_TOPIC = "desk.audit"
DEAD_LETTER_TOPIC = "borderbus.deadletter"
_INGEST_PATTERN = re.compile(r"^ingest\.(?P<agency>[a-z0-9-]+)\.(?P<event_type>[a-z-]+)$")


class CatalogueError(ValueError):
    """The configuration files contradict themselves or the code."""


@dataclass(frozen=True)
class Agency:
    code: str
    name: str
    country: str
    publishes: tuple[str, ...]
    expected_interval_seconds: int
    platforms: tuple[str, ...] = ()
    identifier_policy: str = "lenient"  # strict: a well-formed but unverifiable identifier counts as invalid
    invalid_subjects: str = "drop"  # drop: only the bad subject goes (a warning); refuse_event: all or nothing


@dataclass(frozen=True)
class BorderPoint:
    code: str
    name: str
    country: str
    latitude: float
    longitude: float
    operated_by: str
    names: tuple[tuple[str, str], ...] = ()
    """The point's name in other languages, ``(locale, name)`` pairs (``names:`` in border_points.yaml); ``name`` is English."""

    def name_in(self, locale: str) -> str:
        """The point's name in ``locale``, else its English name."""
        return dict(self.names).get(locale, self.name)

    def distance_km(self, other: BorderPoint) -> float:
        """Great-circle distance, enough to judge whether a journey was possible."""
        lat1, lon1, lat2, lon2 = map(math.radians, (self.latitude, self.longitude, other.latitude, other.longitude))
        h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
        return 2 * 6371.0 * math.asin(math.sqrt(h))


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str]
    purpose: str


def parse_agencies(entries: list[dict[str, Any]]) -> dict[str, Agency]:
    """The ``agencies`` list of ``agencies.yaml``, checked."""
    agencies: dict[str, Agency] = {}
    for raw in entries:
        agency = Agency(
            code=raw["code"],
            name=raw["name"],
            country=raw["country"],
            publishes=tuple(raw["publishes"]),
            expected_interval_seconds=int(raw["expected_interval_seconds"]),
            platforms=tuple(raw.get("platforms", ())),
            identifier_policy=raw.get("identifier_policy", "lenient"),
            invalid_subjects=raw.get("invalid_subjects", "drop"),
        )
        if agency.identifier_policy not in IDENTIFIER_POLICIES:
            raise CatalogueError(f"agency {agency.code}: identifier_policy must be one of {', '.join(IDENTIFIER_POLICIES)}")
        if agency.invalid_subjects not in INVALID_SUBJECT_HANDLING:
            raise CatalogueError(f"agency {agency.code}: invalid_subjects must be one of {', '.join(INVALID_SUBJECT_HANDLING)}")
        unknown = set(agency.publishes) - set(EVENT_TYPES)
        if unknown:
            raise CatalogueError(f"agency {agency.code}: unknown event types {sorted(unknown)}")
        if agency.code in agencies:
            raise CatalogueError(f"agency {agency.code} is declared twice")
        agencies[agency.code] = agency
    return agencies


_LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def _localized_names(code: str, raw: Any) -> tuple[tuple[str, str], ...]:
    """A border point's optional ``names: {ar: ...}``: locale codes to non-empty names."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise CatalogueError(f"border point {code}: names must map locale codes to names, e.g. {{ar: ...}}")
    names = []
    for locale, name in raw.items():
        if not isinstance(locale, str) or not _LOCALE.match(locale):
            raise CatalogueError(f"border point {code}: {locale!r} is not a locale code (such as ar)")
        if not isinstance(name, str) or not name.strip():
            raise CatalogueError(f"border point {code}: the {locale} name must be a non-empty text")
        names.append((locale, name.strip()))
    return tuple(sorted(names))


def parse_border_points(entries: list[dict[str, Any]]) -> dict[str, BorderPoint]:
    """The ``border_points`` list of ``border_points.yaml``; ``names`` (localized names) is optional."""
    return {
        raw["code"]: BorderPoint(
            code=raw["code"],
            name=raw["name"],
            country=raw["country"],
            latitude=float(raw["latitude"]),
            longitude=float(raw["longitude"]),
            operated_by=raw["operated_by"],
            names=_localized_names(raw["code"], raw.get("names")),
        )
        for raw in entries
    }


def read_yaml(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict):
        raise CatalogueError(f"{path}: expected a mapping at the top level")
    return data


class Catalogue:
    """Read-only view of ``agencies.yaml``, ``border_points.yaml`` and ``topics.yaml``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.prefix = settings.topic_prefix
        config_dir = settings.config_dir
        agencies_file = read_yaml(config_dir / "agencies.yaml")
        self._agencies_raw = agencies_file["agencies"]
        self.max_subjects_per_event = int(agencies_file.get("max_subjects_per_event", DEFAULT_MAX_SUBJECTS_PER_EVENT))
        if self.max_subjects_per_event < 1:
            raise CatalogueError("agencies.yaml: max_subjects_per_event must be at least 1")
        self._points_raw = read_yaml(config_dir / "border_points.yaml")["border_points"]
        self._topics_raw = read_yaml(config_dir / "topics.yaml")
        self._parsed_topics: dict[str, tuple[str, str] | None] = {}

    @cached_property
    def agencies(self) -> dict[str, Agency]:
        return parse_agencies(self._agencies_raw)

    @cached_property
    def border_points(self) -> dict[str, BorderPoint]:
        return parse_border_points(self._points_raw)

    def agency(self, code: str) -> Agency:
        try:
            return self.agencies[code]
        except KeyError:
            raise CatalogueError(f"unknown agency {code!r}; known: {', '.join(sorted(self.agencies))}") from None

    def topic(self, name: str) -> str:
        """The physical name of a catalogue topic (with the configured prefix)."""
        return self.prefix + name

    def ingest_topic(self, agency: str, event_type: str) -> str:
        template: str = self._topics_raw["ingest"]["name"]
        return self.prefix + template.format(agency=agency, event_type=event_type)

    def parse_ingest_topic(self, topic: str) -> tuple[str, str] | None:
        """``(agency, event_type)`` for an ingest topic name, None for any other topic.

        Asked for every record consumed; the answers for the few topic names met are kept."""
        if topic not in self._parsed_topics:
            if len(self._parsed_topics) >= 1024:
                self._parsed_topics.clear()
            match = _INGEST_PATTERN.match(topic[len(self.prefix) :]) if topic.startswith(self.prefix) else None
            self._parsed_topics[topic] = (match["agency"], match["event_type"]) if match else None
        return self._parsed_topics[topic]

    def agency_alert_topic(self, agency: str) -> str:
        """The topic holding only the alert versions ``agency`` may see."""
        template: str = self._topics_raw["agency_alerts"]["name"]
        return self.prefix + template.format(agency=agency)

    def ingest_topic_pattern(self) -> str:
        """A regex subscription (librdkafka's ``^`` form) matching every ingest topic."""
        return "^" + re.escape(self.prefix) + r"ingest\..*"

    def ingest_topics(self) -> list[str]:
        return [
            self.ingest_topic(agency.code, event_type) for agency in self.agencies.values() for event_type in agency.publishes
        ]

    def topic_specs(self) -> list[TopicSpec]:
        """Every topic the bus needs, with the profile's replication settings applied."""
        profiles = self._topics_raw["profiles"]
        try:
            profile = profiles[self.settings.cluster_profile]
        except KeyError:
            raise CatalogueError(
                f"unknown cluster profile {self.settings.cluster_profile!r}; known: {', '.join(profiles)}"
            ) from None
        replication = int(profile["replication_factor"])
        min_isr = str(profile["min_insync_replicas"])

        def spec(name: str, raw: dict[str, Any]) -> TopicSpec:
            config = {key: str(value) for key, value in raw.get("config", {}).items()}
            config.setdefault("min.insync.replicas", min_isr)
            return TopicSpec(name, int(raw["partitions"]), replication, config, raw.get("purpose", ""))

        ingest = self._topics_raw["ingest"]
        specs = [
            spec(topic, {**ingest, "purpose": f"events published by {topic.split('.')[-2]}"}) for topic in self.ingest_topics()
        ]
        agency_alerts = self._topics_raw["agency_alerts"]
        specs += [
            spec(self.agency_alert_topic(code), {**agency_alerts, "purpose": f"alert versions {code} may see"})
            for code in self.agencies
        ]
        specs += [spec(self.topic(raw["name"]), raw) for raw in self._topics_raw["topics"]]
        return specs
