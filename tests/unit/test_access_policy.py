"""The access policy read from the configuration: prefixes, sharing, and clear errors (no broker)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import yaml

from borderbus.access import AccessPolicy, Grant
from borderbus.bus import Bus
from borderbus.catalogue import Catalogue, CatalogueError


def policy(offline_bus: Bus, prefix: str = "", config_dir: Path | None = None) -> AccessPolicy:
    settings = dataclasses.replace(
        offline_bus.settings, topic_prefix=prefix, config_dir=config_dir or offline_bus.settings.config_dir
    )
    return AccessPolicy(Catalogue(settings))


def test_an_agency_writes_only_its_own_ingest_topics(offline_bus: Bus) -> None:
    """It reads back only its own (a restarted service recalls what it committed), nothing else."""
    grants = policy(offline_bus).grants_of("agency-uk-bf")
    assert {(g.resource_type, g.name, g.operation) for g in grants} == {
        ("topic", "ingest.uk-bf.sighting", "write"),
        ("topic", "ingest.uk-bf.sighting", "read"),
        ("group", "agency-uk-bf-", "read"),
        ("topic", "borderbus.schemas", "write"),
        ("transactional_id", "agency-uk-bf-", "write"),
    }


def test_every_name_carries_the_topic_prefix_and_namespaces_do_not_claim_each_other(offline_bus: Bus) -> None:
    prefixed = policy(offline_bus, "t-1.")
    assert all(grant.name.startswith("t-1.") for grant in prefixed.grants)
    assert Grant("correlator", "group", "prefixed", "t-1.borderbus-correlator", "read") in prefixed.grants
    demo = policy(offline_bus)
    assert demo.owns("ingest.uk-bf.sighting") and demo.owns("borderbus-desk-router")
    assert not demo.owns("t-1.ingest.uk-bf.sighting") and not prefixed.owns("ingest.uk-bf.sighting")


def test_sharing_agreements_are_checked(offline_bus: Bus, tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(offline_bus.settings.config_dir, config)
    (config / "sharing.yaml").write_text(yaml.safe_dump({"sharing": [{"consumer": "uk-nca", "reads": "nobody"}]}))
    with pytest.raises(CatalogueError, match="nobody"):
        _ = policy(offline_bus, config_dir=config).grants
    (config / "sharing.yaml").write_text(
        yaml.safe_dump({"sharing": [{"consumer": "uk-nca", "reads": "uk-bf", "event_types": ["case-update"]}]})
    )
    with pytest.raises(CatalogueError, match="does not publish"):
        _ = policy(offline_bus, config_dir=config).grants


def test_a_topic_without_roles_or_an_undeclared_principal_is_refused(offline_bus: Bus, tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(offline_bus.settings.config_dir, config)
    topics = yaml.safe_load((config / "topics.yaml").read_text())
    topics["topics"].append({"name": "desk.state", "partitions": 1})
    (config / "topics.yaml").write_text(yaml.safe_dump(topics))
    with pytest.raises(CatalogueError, match=r"'desk\.state' declares no writers and no readers"):
        _ = policy(offline_bus, config_dir=config).grants
    topics["topics"][-1] |= {"writers": ["desk-state-writer"], "readers": []}
    (config / "topics.yaml").write_text(yaml.safe_dump(topics))
    with pytest.raises(CatalogueError, match="desk-state-writer"):
        _ = policy(offline_bus, config_dir=config).grants
