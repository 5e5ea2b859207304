"""What the tests of the duty console in Chromium share: a desk started for one test module, and signing
an officer in. The browser itself is the ``browser`` fixture of tests/integration/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest

from borderbus.bus import Bus
from browser import Page
from desk_process import DeskProcess


def desk_for_module(
    bus: Bus,
    tmp_path_factory: pytest.TempPathFactory,
    officers: Mapping[str, str],
    *,
    name: str,
    locales: Mapping[str, str] | None = None,
    roles: Mapping[str, list[str]] | None = None,
) -> Iterator[DeskProcess]:
    """A running desk (work folder ``<name>-desk``), stopped after the module: ``yield from`` it in a module fixture."""
    process = DeskProcess(bus, tmp_path_factory.mktemp(f"{name}-desk"), officers, name=name, locales=locales, roles=roles)
    try:
        yield process.start()
    finally:
        process.stop()


def sign_in(page: Page, desk: DeskProcess, officer: str) -> None:
    """Open the console, sign ``officer`` in with their token and wait until its stream is live (in any language)."""
    page.goto(f"{desk.url}/")
    page.type("#token", desk.tokens[officer])
    page.click("#sign-in")
    page.wait_for("document.querySelector('#connection').dataset.state === 'live'")
