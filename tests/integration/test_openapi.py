"""The OpenAPI descriptions stay true: the shipped files are what each service's ``openapi`` module makes
from the schemas and limits, and every route of the agency and desk aiohttp apps is described (and nothing else)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from aiohttp import web

from agency_clients import clients_for
from borderbus import openapi
from borderbus.bus import Bus
from borderbus.catalogue import EVENT_TYPES
from borderbus_agency import openapi as agency_openapi
from borderbus_agency.http_api import build_app as agency_app
from borderbus_agency.publisher import AgencyPublisher
from borderbus_cli.openapi import main as openapi_command
from borderbus_desk import openapi as desk_openapi
from borderbus_desk.desk import DutyDesk
from borderbus_desk.desk_config import DeskConfig
from borderbus_desk.http_api import build_app as desk_app
from borderbus_desk.officers import OfficerDirectory
from desk_process import TEST_DESK_CONFIG, write_officers


def routes(app: web.Application) -> set[tuple[str, str]]:
    """(METHOD, OpenAPI path) of every route; a static folder is ``<prefix>/{filename}``; HEAD goes with GET."""
    found = set()
    for resource in app.router.resources():
        path = resource.canonical
        if isinstance(resource, web.StaticResource):
            path = f"{path}/{{filename}}"
        for route in resource:
            if route.method != "HEAD":
                found.add((route.method, path))
    return found


def described(spec_file: Path) -> set[tuple[str, str]]:
    spec = yaml.safe_load(spec_file.read_text())
    return {(method.upper(), path) for path, operations in spec["paths"].items() for method in operations}


def test_the_shipped_descriptions_are_generated_from_the_schemas_and_limits(offline_bus: Bus) -> None:
    agency = openapi.render(agency_openapi.spec(offline_bus.schemas, offline_bus.catalogue.max_subjects_per_event))
    assert agency_openapi.FILE.read_text() == agency, "run: .venv/bin/python -m borderbus_cli.openapi"
    assert desk_openapi.FILE.read_text() == openapi.render(desk_openapi.spec()), "run: .venv/bin/python -m borderbus_cli.openapi"


def test_the_one_command_finds_them_current(capsys: pytest.CaptureFixture[str]) -> None:
    assert openapi_command(["--check"]) == 0, capsys.readouterr().out


@pytest.mark.broker
def test_every_agency_route_is_described(bus: Bus, tmp_path: Path) -> None:
    clients, _ = clients_for(tmp_path / "clients.yaml", {"anpr": ("uk-bf", "publish")}, set(bus.catalogue.agencies))
    publisher = AgencyPublisher(bus, "uk-bf", instance_id="openapi-test")
    try:
        served = routes(agency_app(publisher, clients))
    finally:
        publisher.close()
    spec = described(agency_openapi.FILE)
    assert served <= spec, f"not described: {served - spec}"
    concrete = {(method, path) for method, path in spec if path.startswith("/v1/events/") and "{" not in path}
    assert spec - concrete == served, f"described but not served: {spec - concrete - served}"
    assert {path.rsplit("/", 1)[1] for _, path in concrete} == set(EVENT_TYPES)


@pytest.mark.broker
def test_every_desk_route_is_described(bus: Bus, tmp_path: Path) -> None:
    agencies = set(bus.catalogue.agencies)
    write_officers(tmp_path / "officers.yaml", {"ana": "uk-bf"})
    (tmp_path / "desk.yaml").write_text(yaml.safe_dump(TEST_DESK_CONFIG))
    desk = DutyDesk(
        bus,
        OfficerDirectory.load(tmp_path / "officers.yaml", agencies),
        DeskConfig.load(tmp_path / "desk.yaml", agencies),
        instance_id="openapi-test",
    )
    served = routes(desk_app(desk))
    spec = described(desk_openapi.FILE)
    assert served == spec, f"not described: {served - spec}; described but not served: {spec - served}"
