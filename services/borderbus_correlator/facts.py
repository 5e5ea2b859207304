"""What the rules and the summaries both read off observations: case membership, travellers, places.

Kept apart from :mod:`rules` so that the alert book's summaries (:mod:`summaries`) apply exactly
the definitions the rules apply, without importing the rules.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from borderbus.catalogue import BorderPoint
from borderbus_correlator.model import Observation

Points = Mapping[str, BorderPoint]
Position = tuple[float, float]

PERSON_KINDS = frozenset({"PERSON_DOCUMENT"})
CONVEYANCE_KINDS = frozenset({"VEHICLE_PLATE", "VESSEL"})
OBSERVING_TYPES = frozenset({"sighting", "finance-flag", "platform-report"})
"""Event types that observe a subject; a case update is the context a rule is defined by, not a sighting of it."""
BYSTANDER_ROLES = frozenset({"VICTIM", "WITNESS"})
"""Roles a case names without implicating: nobody is wanted, or a network member, as a victim or witness."""


def kind_of(subject: str) -> str:
    return subject.split(":", 1)[0]


def observed_with(subject: str, observations: Iterable[Observation]) -> set[str]:
    """Subjects an observation (not a case update) named together with ``subject``: links that say
    "the same traveller, phone or account", unlike two people a case names together."""
    return {s for o in observations if o.event_type in OBSERVING_TYPES and subject in o.subjects for s in o.subjects} - {subject}


def implicated(update: Observation) -> list[str]:
    """The subjects a case update names as part of the case: not bystanders, not those it removes."""
    roles: Mapping[str, str] = update.facts.get("roles") or {}
    removed = set(update.facts.get("removed") or ())
    return [subject for subject in update.subjects if roles.get(subject) not in BYSTANDER_ROLES and subject not in removed]


def group_of(update: Observation) -> str:
    """The network a case update speaks of, else its case."""
    return str(update.facts.get("network_id") or update.facts["case_id"])


def sole_traveller(subjects: Sequence[str]) -> str | None:
    for kinds in (PERSON_KINDS, CONVEYANCE_KINDS):
        named = [s for s in subjects if kind_of(s) in kinds]
        if named:
            return named[0] if len(named) == 1 else None
    return None


def distinct_entities(sightings: Iterable[Observation], members: set[str]) -> int:
    """How many different members the sightings show, counting a traveller with their phone and vehicle once.

    In a sighting of exactly one person, every other subject (the phone they declared, the car they
    drove) is theirs; with no person, the same holds for a sole vehicle or vessel. Two people named
    in one sighting stay two.
    """
    parent: dict[str, str] = {}

    def root(subject: str) -> str:
        parent.setdefault(subject, subject)
        while parent[subject] != subject:
            parent[subject] = parent[parent[subject]]
            subject = parent[subject]
        return subject

    listed = list(sightings)
    for sighting in listed:
        anchor = sole_traveller(sighting.subjects)
        for subject in sighting.subjects:
            root(subject)
            if anchor is not None:
                parent[root(subject)] = root(anchor)
    return len({root(s) for sighting in listed for s in sighting.subjects if s in members})


def position(observation: Observation, points: Points) -> Position | None:
    """Where an observation was made: its own coordinates (a drone, a patrol, a maritime contact), else its border point's."""
    if observation.latitude is not None and observation.longitude is not None:
        return observation.latitude, observation.longitude
    point = points.get(observation.border_point or "")
    return (point.latitude, point.longitude) if point is not None else None


def great_circle_km(a: Position, b: Position) -> float:
    """Haversine distance on a 6371 km sphere, the same measure as ``BorderPoint.distance_km``."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


def sites(observation: Observation, points: Points, radius_km: float) -> list[str]:
    """The border points an observation counts at: its own, or, away from any, those within ``radius_km`` of it."""
    if observation.border_point is not None:
        return [observation.border_point]
    where = position(observation, points)
    if where is None:
        return []
    return sorted(code for code, p in points.items() if great_circle_km(where, (p.latitude, p.longitude)) <= radius_km)
