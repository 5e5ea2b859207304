"""With its broker gone, the agency answers 503 and nothing of the request ever becomes visible; with its
broker frozen during a commit, it answers 504 outcome_unknown, and a retry with the same event ids
finishes that commit and writes nothing twice."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from test_publish_and_read import SAMPLES

from agency_clients import clients_for
from borderbus import codec
from borderbus.access import AccessPolicy
from borderbus.acls import apply_users
from borderbus.bus import Bus
from borderbus.config import Settings
from borderbus.schema_registry import SchemaRegistry
from borderbus_agency.http_api import build_app
from borderbus_agency.publisher import AgencyPublisher
from http_server import request, serve_in_thread
from kafka_reading import read_to_end
from local_kafka import LocalKafkaBroker, free_base_port
from topic_namespace import apply_namespace

pytestmark = pytest.mark.broker


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalKafkaBroker]:
    """A second, throwaway broker this test may stop without disturbing the others."""
    broker = LocalKafkaBroker(tmp_path / "kafka", free_base_port())
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def _secured(bus: Bus, broker: LocalKafkaBroker) -> tuple[Settings, Bus]:
    """The throwaway broker with this session's users and the namespace's ACLs, as the suite's own broker has."""
    settings = dataclasses.replace(bus.settings, bootstrap_servers=broker.bootstrap)
    own_bus = Bus.from_settings(settings)
    assert settings.credentials_dir is not None
    apply_users(AdminClient(settings.kafka_client_config()), AccessPolicy(own_bus.catalogue), settings.credentials_dir)
    apply_namespace(own_bus)
    return settings, own_bus


def _first_publish(post: Callable[[list[dict[str, Any]]], tuple[int, Any]], body: list[dict[str, Any]]) -> None:
    """A new (or restarted) broker may take a while to load its coordinators on a shared machine: retry until it takes."""
    deadline = time.monotonic() + 60
    while (answer := post(body))[0] != 202 and time.monotonic() < deadline:
        time.sleep(1)
    assert answer[0] == 202, answer


def test_publish_is_not_acknowledged_while_the_broker_is_down(bus: Bus, own_broker: LocalKafkaBroker, tmp_path: Path) -> None:
    settings, own_bus = _secured(bus, own_broker)
    publisher = AgencyPublisher(own_bus.as_principal("agency-uk-bf"), "uk-bf", instance_id="down-test", timeout=5.0)
    body = SAMPLES[("uk-bf", "sighting")]
    clients, tokens = clients_for(tmp_path / "clients.yaml", {"anpr": ("uk-bf", "publish")}, set(own_bus.catalogue.agencies))
    token = tokens["anpr"]
    with serve_in_thread(build_app(publisher, clients)) as url:
        _first_publish(lambda batch: request("POST", f"{url}/v1/events/sighting", batch, token=token), [body])

        own_broker.stop()
        status, answer = request("POST", f"{url}/v1/events/sighting", [body, body, body], token=token)
        assert status == 503, answer
        assert answer["error"] == "broker_unavailable"
        assert request("GET", f"{url}/readyz")[0] == 503

        own_broker.start()
        _first_publish(lambda batch: request("POST", f"{url}/v1/events/sighting", batch, token=token), [body])
    topic = own_bus.catalogue.ingest_topic("uk-bf", "sighting")
    visible = read_to_end(settings, topic)
    assert len(visible) == 2  # the first and the last request; the refused batch is nowhere


def wait_until_stopped(pid: int, timeout: float = 10.0) -> None:
    """Until the kernel shows the process stopped (state T), so the commit is surely sent to a frozen broker."""
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "T":
        assert time.monotonic() < deadline, f"pid {pid} did not stop"
        time.sleep(0.01)


class FreezingPublisher(AgencyPublisher):
    """Freezes the broker (SIGSTOP) once, just before a commit is sent: every record is acknowledged,
    and the commit's answer cannot come, exactly the case whose outcome is unknown."""

    freeze_pid: int | None = None

    def _commit_transaction(self, producer: object) -> None:
        pid, self.freeze_pid = self.freeze_pid, None
        if pid is not None:
            os.kill(pid, signal.SIGSTOP)
            wait_until_stopped(pid)
        super()._commit_transaction(producer)  # type: ignore[arg-type]


def test_a_commit_without_answer_is_reported_unknown_and_its_retry_writes_nothing_twice(
    bus: Bus, own_broker: LocalKafkaBroker, tmp_path: Path
) -> None:
    settings, own_bus = _secured(bus, own_broker)
    # 10 s: the batch's records must be acknowledged before the freeze even on a busy machine (with 3 s, a slow
    # acknowledgement ended the publish as 503 before its commit was ever sent)
    publisher = FreezingPublisher(own_bus.as_principal("agency-uk-bf"), "uk-bf", instance_id="freeze-test", timeout=10.0)
    clients, tokens = clients_for(tmp_path / "clients.yaml", {"anpr": ("uk-bf", "publish")}, set(own_bus.catalogue.agencies))
    sample = SAMPLES[("uk-bf", "sighting")]
    first = [{**sample, "event_id": str(uuid.uuid4())}]
    batch = [{**sample, "event_id": str(uuid.uuid4())} for _ in range(3)]
    pid = own_broker.serving_pid()  # the JVM that answers: freezing any other would let the commit through
    with serve_in_thread(build_app(publisher, clients)) as url:
        post = lambda body: request("POST", f"{url}/v1/events/sighting", body, token=tokens["anpr"])  # noqa: E731
        _first_publish(post, first)

        other = [{**sample, "event_id": str(uuid.uuid4())}]
        publisher.freeze_pid = pid
        try:
            status, answer = post(batch)
            still_frozen = post(batch)  # the retry cannot finish the commit yet: still unknown
            unrelated = post(other)  # not sent while an earlier commit is unresolved: certainly nothing visible
        finally:
            os.kill(pid, signal.SIGCONT)
        assert status == 504, answer
        assert answer["error"] == "outcome_unknown"
        assert answer["event_ids"] == [body["event_id"] for body in batch]
        assert "retrying with the same event_ids is safe" in answer["errors"][0]["reason"].lower()
        assert (still_frozen[0], still_frozen[1]["error"]) == (504, "outcome_unknown"), still_frozen
        assert (unrelated[0], unrelated[1]["error"]) == (503, "broker_unavailable"), unrelated

        status, retried = post(batch)  # finishes the earlier commit, then finds every event already committed
        assert status == 202, retried
        assert (retried["accepted"], retried["already_accepted"]) == (3, 3)
        status, again = post(batch)
        assert status == 202 and again["already_accepted"] == 3
    topic = own_bus.catalogue.ingest_topic("uk-bf", "sighting")
    registry = SchemaRegistry(settings)
    schema = own_bus.schemas.latest("sighting")
    records = read_to_end(settings, topic)
    visible = [str(codec.decode(m.value(), schema, registry.lookup)["event_id"]) for m in records]
    assert sorted(visible) == sorted(body["event_id"] for body in first + batch)  # each exactly once
