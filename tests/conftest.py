"""Shared fixtures: one real, secured Kafka broker for the session, and a topic namespace per session.

The broker comes from :func:`local_kafka.session_bootstrap` (``KAFKA_BOOTSTRAP_SERVERS``, else
testcontainers where Docker runs, else the project's local broker). Every session applies the
catalogue under a fresh topic prefix, so tests never see the demo's topics or an earlier run's, and,
as ``admin``, the principals' SCRAM users and the ACLs of that namespace: the fixtures' own clients
are admin (a super user), while every service a test starts runs as its own principal only.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

import local_kafka
from borderbus.access import AccessPolicy
from borderbus.acls import apply_users
from borderbus.bus import Bus
from borderbus.config import Settings
from local_kafka import session_bootstrap
from topic_namespace import apply_namespace, own_topics

REPO_ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    """With pytest-xdist (``-n N``), the controller starts (or finds) the broker, once, before the workers exist.

    Each worker's session then finds it running and shares it, with a topic namespace of its own; a broker
    per worker would be N JVMs on a two-core machine. Only the controller stops it, after every worker ended.
    """
    if hasattr(config, "workerinput") or not config.getoption("numprocesses", default=None):
        return
    if config.getoption("markexpr", default="") == "not broker":
        return
    bootstrap, cleanup = session_bootstrap()
    config.add_cleanup(cleanup)
    if local_kafka.SESSION_BROKER is not None:
        os.environ["BORDERBUS_TEST_KAFKA_PORT"] = str(local_kafka.SESSION_BROKER.port)
    else:
        os.environ["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    bootstrap, cleanup = session_bootstrap()
    try:
        yield bootstrap
    finally:
        cleanup()


@pytest.fixture(scope="session")
def bus(kafka_bootstrap: str) -> Bus:
    """The catalogue applied to the real broker under a prefix unique to this test session."""
    settings = dataclasses.replace(
        Settings.from_env().with_default_principal("admin"),
        bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"test-{uuid.uuid4().hex[:8]}.",
    )
    bus = Bus.from_settings(settings)
    assert settings.credentials_dir is not None
    apply_users(AdminClient(settings.kafka_client_config()), AccessPolicy(bus.catalogue), settings.credentials_dir, prune=False)
    apply_namespace(bus)
    return bus


@pytest.fixture(scope="session")
def offline_bus() -> Bus:
    """Catalogue and schemas without a broker, for pure-logic tests."""
    return Bus.from_settings(Settings.from_env({}))


@pytest.fixture
def fresh_bus(bus: Bus, request: pytest.FixtureRequest) -> Bus:
    """Topics of this test alone (prefix named after its module), e.g. so alert counts are the ones it caused."""
    return own_topics(bus, request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_").replace("_", "-"))
