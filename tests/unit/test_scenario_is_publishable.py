"""Every event the simulator plans passes the agency publisher's own validation, unchanged."""

from __future__ import annotations

import time

from borderbus.bus import Bus
from borderbus.catalogue import EVENT_TYPES
from borderbus.events import EventPreparer
from borderbus_simulator.scenario import build_scenario


def test_every_planned_event_is_valid_for_its_agency(offline_bus: Bus) -> None:
    config_dir = offline_bus.settings.config_dir
    scenario = build_scenario(
        seed=3,
        event_count=1500,
        end_ms=int(time.time() * 1000),
        agencies_path=config_dir / "agencies.yaml",
        border_points_path=config_dir / "border_points.yaml",
    )
    schemas = {event_type: offline_bus.schemas.latest(event_type) for event_type in EVENT_TYPES}
    preparers = {
        code: EventPreparer(offline_bus.catalogue, schemas, agency) for code, agency in offline_bus.catalogue.agencies.items()
    }
    for planned in scenario.events:
        event = preparers[planned.agency].prepare(planned.event_type, planned.body)
        assert event.event_id == planned.body["event_id"]
