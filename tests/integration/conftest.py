"""Fixtures of the integration tests beyond the session's broker and namespace (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from browser import Browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium, one per test module that drives the console (launched only where asked for)."""
    with Browser.launch() as launched:
        yield launched
