"""The broker enforces the access policy: every principal can do what the policy says, and nothing else.

The expected matrix is read from the YAML files here, by a small reading of its own
(:func:`expected_grants`), not by ``borderbus.access``, so a mistake in the code that writes the ACLs
cannot hide itself. The checks are real requests to the real broker as each principal, refused by
the broker itself (TOPIC_ / GROUP_ / TRANSACTIONAL_ID_AUTHORIZATION_FAILED).
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

import local_kafka
from borderbus.access import AccessPolicy
from borderbus.acls import apply_acls, apply_users, cluster_acls
from borderbus.bus import Bus
from borderbus.config import Settings
from topic_namespace import own_topics

pytestmark = pytest.mark.broker

Op = tuple[str, str, str, str]
"""(resource type, pattern, name, operation), e.g. ("topic", "literal", "p.ingest.uk-bf.sighting", "write")."""

CHECKED = {"allowed": 0, "denied": 0}


# --- the expected matrix, read independently from the YAML --------------------------------------------


def expected_grants(config_dir: Path, prefix: str) -> dict[str, set[Op]]:
    """principal -> everything it may do, straight from agencies.yaml, topics.yaml and sharing.yaml."""
    agencies = yaml.safe_load((config_dir / "agencies.yaml").read_text())["agencies"]
    topics = yaml.safe_load((config_dir / "topics.yaml").read_text())
    sharing_file = config_dir / "sharing.yaml"
    sharing = (yaml.safe_load(sharing_file.read_text()) or {}).get("sharing") or [] if sharing_file.exists() else []
    codes = [a["code"] for a in agencies]
    grants: dict[str, set[Op]] = {}

    def who(role: str, owner: str | None) -> list[str]:
        if role.endswith("-*"):
            return [role[:-1] + code for code in codes]
        if "{agency}" in role:
            return [role.replace("{agency}", owner)] if owner else [role.replace("{agency}", c) for c in codes]
        return [role]

    def allow(role: str, owner: str | None, op: Op) -> None:
        for principal in who(role, owner):
            grants.setdefault(principal, set()).add(op)

    for agency in agencies:
        for event_type in agency["publishes"]:
            name = prefix + topics["ingest"]["name"].replace("{agency}", agency["code"]).replace("{event_type}", event_type)
            for role in topics["ingest"]["writers"]:
                allow(role, agency["code"], ("topic", "literal", name, "write"))
            for role in topics["ingest"]["readers"]:
                allow(role, agency["code"], ("topic", "literal", name, "read"))
            for agreement in sharing:
                if agreement["reads"] == agency["code"] and event_type in (agreement.get("event_types") or [event_type]):
                    allow(f"consumer-{agreement['consumer']}", None, ("topic", "literal", name, "read"))
        name = prefix + topics["agency_alerts"]["name"].replace("{agency}", agency["code"])
        for role in topics["agency_alerts"]["writers"]:
            allow(role, agency["code"], ("topic", "literal", name, "write"))
        for role in topics["agency_alerts"]["readers"]:
            allow(role, agency["code"], ("topic", "literal", name, "read"))
    for topic in topics["topics"]:
        for role in topic.get("writers") or []:
            allow(role, None, ("topic", "literal", prefix + topic["name"], "write"))
        for role in topic.get("readers") or []:
            allow(role, None, ("topic", "literal", prefix + topic["name"], "read"))
            for group in topic.get("reader_groups") or []:
                allow(role, None, ("group", "prefixed", prefix + group, "read"))
    for template, spec in topics["principals"].items():
        spec = spec or {}
        for code in codes if "{agency}" in template else [None]:
            principal = template.replace("{agency}", code) if code else template
            grants.setdefault(principal, set())
            for group in spec.get("groups") or []:
                grants[principal].add(
                    ("group", "prefixed", prefix + (group.replace("{agency}", code) if code else group), "read")
                )
            for tid in spec.get("transactional_ids") or []:
                grants[principal].add(
                    ("transactional_id", "prefixed", prefix + (tid.replace("{agency}", code) if code else tid), "write")
                )
    supers = [name for name, spec in topics["principals"].items() if (spec or {}).get("super_user")]
    for name in supers:
        grants.pop(name, None)
    return grants


def allowed(grants: set[Op], resource_type: str, name: str, operation: str) -> bool:
    return any(
        t == resource_type and op == operation and (n == name if pattern == "literal" else name.startswith(n))
        for t, pattern, n, op in grants
    )


# --- probes: one real request each, as one principal -------------------------------------------------------


def as_principal(bus: Bus, principal: str) -> Settings:
    settings = dataclasses.replace(bus.settings, principal=None, sasl_username=None)
    return settings.as_principal(principal)


def probe_writes(settings: Settings, topics: list[str]) -> dict[str, bool]:
    """topic -> whether a plain (non-idempotent: no producer id needed) produce was accepted."""
    producer = Producer(
        {**settings.kafka_client_config(), "enable.idempotence": False, "acks": "all", "message.timeout.ms": 15000}
    )
    results: dict[str, bool] = {}
    refused: dict[str, int] = {}

    def delivered(error: KafkaError | None, message: Any) -> None:
        results[message.topic()] = error is None
        if error is not None:
            refused[message.topic()] = error.code()

    for topic in topics:
        producer.produce(topic, key=b"probe", value=b"access matrix probe", on_delivery=delivered)
    assert producer.flush(30) == 0, "probe writes not answered"
    unexpected = {t: KafkaError(c).name() for t, c in refused.items() if c != KafkaError.TOPIC_AUTHORIZATION_FAILED}
    assert not unexpected, f"{settings.kafka_principal}: refused for another reason than authorization: {unexpected}"
    return results


def probe_reads(settings: Settings, topics: list[str]) -> dict[str, bool]:
    """topic -> whether the broker serves this principal a fetch of partition 0.

    A topic the principal may not even describe is refused in the metadata answer already
    (TOPIC_AUTHORIZATION_FAILED; Read implies Describe); the others are fetched for real.
    """
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"probe-unused-{uuid.uuid4().hex[:6]}",  # never joined or committed: assign() only
            "enable.partition.eof": True,
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    results: dict[str, bool] = {}
    try:
        for topic in topics:
            error = consumer.list_topics(topic, timeout=15).topics[topic].error
            if error is not None:
                assert error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, f"{topic}: {error}"
                results[topic] = False
        fetched = [topic for topic in topics if topic not in results]
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING) for topic in fetched])
        deadline = time.monotonic() + 30
        while len(results) < len(topics) and time.monotonic() < deadline:
            for message in consumer.consume(100, 0.2):
                topic, error = message.topic(), message.error()
                if topic not in fetched or topic in results:
                    continue
                if error is None or error.code() == KafkaError._PARTITION_EOF:
                    results[topic] = True
                elif error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
                    results[topic] = False
    finally:
        consumer.close()
    assert len(results) == len(topics), f"{settings.kafka_principal}: no answer for {set(topics) - set(results)}"
    return results


def probe_group(admin: AdminClient, group: str) -> bool:
    """Whether the broker lets this principal describe the group (Describe, implied by the Read a member needs).

    A coordinator that is still loading or moving (NOT_COORDINATOR and the like, seen on a loaded machine)
    says nothing about access: ask again.
    """
    transient = {KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError.COORDINATOR_NOT_AVAILABLE}
    deadline = time.monotonic() + 60
    while True:
        try:
            admin.describe_consumer_groups([group], request_timeout=15)[group].result()
            return True
        except KafkaException as error:
            code = error.args[0].code()
            if code in transient and time.monotonic() < deadline:
                time.sleep(0.5)
                continue
            assert code == KafkaError.GROUP_AUTHORIZATION_FAILED, error
            return False


def probe_transactional_id(settings: Settings, transactional_id: str) -> bool:
    producer = Producer(settings.producer_config(transactional_id=transactional_id))
    try:
        producer.init_transactions(20)
        return True
    except KafkaException as error:
        assert error.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, error
        return False


def check(principal: str, what: str, got: bool, expected: bool) -> None:
    CHECKED["allowed" if expected else "denied"] += 1
    assert got == expected, (
        f"{principal} {what}: broker {'allowed' if got else 'refused'}, policy says {'allow' if expected else 'deny'}"
    )


# --- fixtures ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def acl_bus(bus: Bus) -> Bus:
    return own_topics(bus, "acl")


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    yield
    print(f"\naccess matrix: {CHECKED['allowed']} allowed and {CHECKED['denied']} denied operations checked")


# --- tests ------------------------------------------------------------------------------------------------


def test_cluster_acls_are_exactly_the_policy(acl_bus: Bus) -> None:
    expected = expected_grants(acl_bus.settings.config_dir, acl_bus.catalogue.prefix)
    want = {(principal, *op) for principal, ops in expected.items() for op in ops}
    admin = AdminClient(acl_bus.settings.kafka_client_config())
    got = {
        (
            b.principal.removeprefix("User:"),
            b.restype.name.lower(),
            b.resource_pattern_type.name.lower(),
            b.name,
            b.operation.name.lower(),
        )
        for b in cluster_acls(admin)
        if b.name.startswith(acl_bus.catalogue.prefix)
    }
    assert got == want
    assert apply_acls(admin, AccessPolicy(acl_bus.catalogue)) == [], "a second apply changes nothing"


def test_every_principal_can_do_what_the_policy_says_and_nothing_else(acl_bus: Bus) -> None:
    expected = expected_grants(acl_bus.settings.config_dir, acl_bus.catalogue.prefix)
    topics = [spec.name for spec in acl_bus.catalogue.topic_specs()]
    prefix = acl_bus.catalogue.prefix
    every_group = sorted({op[2] for ops in expected.values() for op in ops if op[0] == "group"})
    for principal, grants in sorted(expected.items()):
        settings = as_principal(acl_bus, principal)
        for topic, ok in probe_writes(settings, topics).items():
            check(principal, f"write {topic}", ok, allowed(grants, "topic", topic, "write"))
        for topic, ok in probe_reads(settings, topics).items():
            check(principal, f"read {topic}", ok, allowed(grants, "topic", topic, "read"))
        admin = AdminClient(settings.kafka_client_config())
        own = [op[2] for op in grants if op[0] == "group"]
        others = [g for g in every_group if not allowed(grants, "group", g + "x", "read")]
        for group in own + others:
            check(principal, f"use group {group}x", probe_group(admin, group + "x"), group in own)
        own_ids = [op[2] for op in grants if op[0] == "transactional_id"]
        for transactional_id in own_ids:
            check(
                principal,
                f"init transactions as {transactional_id}1",
                probe_transactional_id(settings, transactional_id + "1"),
                True,
            )
    # Forging and snooping, spelled out: an agency cannot use another agency's transactional ids, and
    # an agency's own systems cannot take the correlator's or the desk's.
    for principal, transactional_id in (
        ("agency-uk-bf", f"{prefix}agency-iq-bgc-forged"),
        ("agency-uk-bf", f"{prefix}borderbus-correlator-alerts-x"),
        ("consumer-uk-bf", f"{prefix}borderbus-desk-router-x"),
        ("desk-reader", f"{prefix}borderbus-desk-escalator"),
    ):
        check(
            principal,
            f"init transactions as {transactional_id}",
            probe_transactional_id(as_principal(acl_bus, principal), transactional_id),
            False,
        )


def test_an_agency_cannot_forge_another_agencys_events_or_read_shared_alerts(acl_bus: Bus) -> None:
    catalogue = acl_bus.catalogue
    uk_bf = as_principal(acl_bus, "agency-uk-bf")
    others = [t for t in catalogue.ingest_topics() if not t.startswith(catalogue.prefix + "ingest.uk-bf.")]
    assert not any(probe_writes(uk_bf, others).values())
    consumer = as_principal(acl_bus, "consumer-uk-bf")
    reads = probe_reads(
        consumer,
        [catalogue.topic("alerts.shared"), catalogue.agency_alert_topic("iq-fiu"), catalogue.agency_alert_topic("uk-bf")],
    )
    assert reads == {
        catalogue.topic("alerts.shared"): False,
        catalogue.agency_alert_topic("iq-fiu"): False,
        catalogue.agency_alert_topic("uk-bf"): True,
    }


@pytest.mark.parametrize(
    "config",
    [
        pytest.param({"security.protocol": "PLAINTEXT"}, id="no-credentials"),
        pytest.param(
            {
                "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.username": "agency-uk-bf",
                "sasl.password": "wrong",
            },
            id="wrong-password",
        ),
        pytest.param(
            {
                "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.username": "nobody",
                "sasl.password": "x",
            },
            id="unknown-user",
        ),
    ],
)
def test_a_client_without_valid_credentials_cannot_connect(acl_bus: Bus, config: dict[str, str]) -> None:
    admin = AdminClient({"bootstrap.servers": acl_bus.settings.bootstrap_servers, "socket.timeout.ms": 3000, **config})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=6)
    CHECKED["denied"] += 1


def test_the_inter_broker_and_controller_listeners_let_no_client_in(kafka_bootstrap: str) -> None:
    broker = local_kafka.SESSION_BROKER
    if broker is None:
        pytest.skip("checks the project's own broker")
    client_password = (local_kafka.REPO_ROOT / ".local" / "credentials" / "agency-uk-bf").read_text().strip()
    for port in (broker.port + 2, broker.controller_port):
        for config in (
            {"security.protocol": "PLAINTEXT"},
            {
                "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": "PLAIN",
                "sasl.username": "agency-uk-bf",
                "sasl.password": client_password,
            },
        ):
            admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}", "socket.timeout.ms": 3000, **config})
            with pytest.raises(KafkaException):
                admin.list_topics(timeout=5)
            CHECKED["denied"] += 1


def test_users_apply_rotates_a_password(acl_bus: Bus) -> None:
    assert acl_bus.settings.credentials_dir is not None
    path = acl_bus.settings.credentials_dir / "observer"
    old = path.read_text().strip()
    admin = AdminClient(acl_bus.settings.kafka_client_config())
    changes = apply_users(
        admin, AccessPolicy(acl_bus.catalogue), acl_bus.settings.credentials_dir, rotate=frozenset({"observer"})
    )
    assert [str(change) for change in changes if change.user == "observer"] == ["rotated  User:observer"]
    new = path.read_text().strip()
    assert new != old and oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"
    topic = acl_bus.catalogue.topic("alerts.shared")
    assert probe_reads(as_principal(acl_bus, "observer"), [topic]) == {topic: True}  # the new one works
    stale = AdminClient(
        {
            "bootstrap.servers": acl_bus.settings.bootstrap_servers,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": "observer",
            "sasl.password": old,
            "socket.timeout.ms": 3000,
        }
    )
    with pytest.raises(KafkaException):
        stale.list_topics(timeout=6)  # the old one no longer does
    CHECKED["denied"] += 1


def test_a_sharing_agreement_grants_exactly_its_read_and_revoking_it_removes_it(acl_bus: Bus, tmp_path: Path) -> None:
    config_dir = tmp_path / "config"
    shutil.copytree(acl_bus.settings.config_dir, config_dir)
    shared_bus = Bus.from_settings(dataclasses.replace(acl_bus.settings, config_dir=config_dir))
    admin = AdminClient(acl_bus.settings.kafka_client_config())
    topic = acl_bus.catalogue.ingest_topic("uk-bf", "sighting")
    reader = as_principal(acl_bus, "consumer-uk-nca")
    before = expected_grants(config_dir, acl_bus.catalogue.prefix)
    assert probe_reads(reader, [topic]) == {topic: False}

    (config_dir / "sharing.yaml").write_text(yaml.safe_dump({"sharing": [{"consumer": "uk-nca", "reads": "uk-bf"}]}))
    changes = apply_acls(admin, AccessPolicy(shared_bus.catalogue))
    assert [str(change) for change in changes] == [f"added    User:{'consumer-uk-nca':<20} read   topic            {topic}"]
    after = expected_grants(config_dir, acl_bus.catalogue.prefix)
    assert after["consumer-uk-nca"] - before["consumer-uk-nca"] == {("topic", "literal", topic, "read")}
    assert probe_reads(reader, [topic]) == {topic: True}
    check("consumer-uk-nca", f"read {topic} (shared)", True, True)

    (config_dir / "sharing.yaml").write_text("sharing: []\n")
    changes = apply_acls(admin, AccessPolicy(shared_bus.catalogue))
    assert [(change.action, change.grant and change.grant.name) for change in changes] == [("removed", topic)]
    assert probe_reads(reader, [topic]) == {topic: False}
    check("consumer-uk-nca", f"read {topic} (revoked)", False, False)


def test_tls_listeners_sasl_ssl_and_mutual_tls(acl_bus: Bus) -> None:
    broker = local_kafka.SESSION_BROKER
    if broker is None:
        pytest.skip("TLS listeners are checked against the project's own broker")
    ca = local_kafka.REPO_ROOT / ".local" / "tls" / "ca.pem"
    topic = acl_bus.catalogue.agency_alert_topic("uk-bf")
    tls = dataclasses.replace(
        as_principal(acl_bus, "consumer-uk-bf"),
        bootstrap_servers=broker.tls_bootstrap,
        security_protocol="SASL_SSL",
        ssl_ca_location=str(ca),
    )
    assert probe_reads(tls, [topic, acl_bus.catalogue.topic("alerts.shared")]) == {
        topic: True,
        acl_bus.catalogue.topic("alerts.shared"): False,
    }

    cert, key = broker.run("client-cert", "consumer-uk-bf").stdout.split()
    mtls = dataclasses.replace(
        acl_bus.settings,
        bootstrap_servers=broker.mtls_bootstrap,
        security_protocol="SSL",
        ssl_ca_location=str(ca),
        ssl_certificate_location=cert,
        ssl_key_location=key,
    )
    assert probe_reads(mtls, [topic, acl_bus.catalogue.topic("alerts.shared")]) == {
        topic: True,
        acl_bus.catalogue.topic("alerts.shared"): False,
    }
    CHECKED["allowed"] += 2
    CHECKED["denied"] += 2

    anonymous = AdminClient(
        {
            "bootstrap.servers": broker.mtls_bootstrap,
            "security.protocol": "SSL",
            "ssl.ca.location": str(ca),
            "socket.timeout.ms": 3000,
        }
    )
    with pytest.raises(KafkaException):
        anonymous.list_topics(timeout=6)  # no client certificate: the handshake fails


def test_the_broker_has_no_unauthenticated_listener(kafka_bootstrap: str) -> None:
    broker = local_kafka.SESSION_BROKER
    if broker is None:
        pytest.skip("checks the project's own broker config")
    properties = (broker.instance_dir / "server.properties").read_text()
    protocol_map = dict(item.split(":") for item in _property(properties, "listener.security.protocol.map").split(","))
    listeners = [item.split("://")[0] for item in _property(properties, "listeners").split(",")]
    assert all(protocol_map[name] in ("SASL_PLAINTEXT", "SASL_SSL", "SSL") for name in listeners), protocol_map
    assert "ANONYMOUS" not in _property(properties, "super.users")
    assert _property(properties, "allow.everyone.if.no.acl.found") == "false"
    assert (
        subprocess.run(
            ["stat", "-c", "%a", str(broker.instance_dir / "server.properties")], capture_output=True, text=True
        ).stdout.strip()
        == "600"
    )


def _property(text: str, name: str) -> str:
    for line in text.splitlines():
        if line.startswith(name + "="):
            return line.split("=", 1)[1]
    raise AssertionError(f"{name} not set")
