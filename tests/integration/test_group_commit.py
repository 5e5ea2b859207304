"""Batches that arrive while an agency's transaction is under way share the next one (group commit), and each
caller still gets its own outcome; under contention a transaction waits a little for more batches (pacing), a lone
caller never does. On the real broker, with the commit held open by the test."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from prometheus_client import REGISTRY
from test_publish_and_read import SAMPLES

from agency_clients import clients_for
from borderbus import codec
from borderbus.bus import Bus
from borderbus.schema_registry import SchemaRegistry
from borderbus_agency.http_api import PUBLISH_THREADS, build_app
from borderbus_agency.publisher import AgencyPublisher, BrokerUnavailable
from http_server import request, serve_in_thread
from kafka_reading import read_all

pytestmark = pytest.mark.broker


class HeldPublisher(AgencyPublisher):
    """Counts commits; the first waits until the test releases it, and the test can have Kafka refuse one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commits = 0
        self.holding, self.release = threading.Event(), threading.Event()
        self.refuse_commit = False

    def _commit_transaction(self, producer: object) -> None:
        self.commits += 1
        if self.commits == 1:
            self.holding.set()
            assert self.release.wait(30)
        if self.refuse_commit:
            raise KafkaException(KafkaError(KafkaError._FENCED, "refused by the test", txn_requires_abort=True))
        super()._commit_transaction(producer)  # type: ignore[arg-type]


@pytest.fixture
def publisher(bus: Bus) -> Iterator[HeldPublisher]:
    held = _held(bus)
    yield held
    held.release.set()
    held.close()


def _held(bus: Bus, **options: Any) -> HeldPublisher:
    return HeldPublisher(bus.as_principal("agency-uk-bf"), "uk-bf", instance_id=f"group-{uuid.uuid4().hex[:8]}", **options)


def _paced_rounds() -> float:
    return REGISTRY.get_sample_value("borderbus_agency_pacing_wait_seconds_count", {"agency": "uk-bf"}) or 0.0


def _batch(size: int) -> list[dict[str, Any]]:
    return [{**SAMPLES[("uk-bf", "sighting")], "event_id": str(uuid.uuid4())} for _ in range(size)]


def _while_the_first_commit_is_held(
    publisher: HeldPublisher, batches: list[list[dict[str, Any]]]
) -> tuple[Future[list[str]], list[Future[list[str]]]]:
    """Publish the first batch, and the others once its commit is held; release it when all of them wait."""
    pool = ThreadPoolExecutor(len(batches))
    publish: Callable[[list[dict[str, Any]]], list[str]] = lambda bodies: publisher.publish_prepared(  # noqa: E731
        publisher.prepare("sighting", bodies)
    )
    first = pool.submit(publish, batches[0])
    assert publisher.holding.wait(30)
    others = [pool.submit(publish, bodies) for bodies in batches[1:]]
    deadline = time.monotonic() + 30
    while publisher.queued_batches < len(others):
        assert time.monotonic() < deadline, "the batches never queued"
        time.sleep(0.01)
    publisher.release.set()
    pool.shutdown(wait=False)
    return first, others


def _visible_ids(bus: Bus, among: list[str]) -> list[str]:
    """The committed records of ``among`` on the topic, sorted, repeats kept. Other tests of the session write to
    the topic too, undecodable records among them (the dead-letter tests): those are not ours."""
    schema, registry = bus.schemas.latest("sighting"), SchemaRegistry(bus.settings)
    wanted, found = set(among), []
    for message in read_all(bus.settings, bus.catalogue.ingest_topic("uk-bf", "sighting")):
        try:
            event_id = str(codec.decode(message.value(), schema, registry.lookup)["event_id"])
        except codec.DecodeError:
            continue
        if event_id in wanted:
            found.append(event_id)
    return sorted(found)


def _transactions_by_size() -> Counter[int]:
    """uk-bf's transactions by the number of batches in them (up to 4), from the histogram this process exposes."""
    cumulative = [0.0]
    for edge in (1, 2, 3, 4):
        labels = {"agency": "uk-bf", "le": f"{edge:.1f}"}
        cumulative.append(REGISTRY.get_sample_value("borderbus_agency_batches_per_transaction_bucket", labels) or 0.0)
    return Counter({size: int(cumulative[size] - cumulative[size - 1]) for size in (1, 2, 3, 4)})


def _ids(batches: list[list[dict[str, Any]]]) -> list[str]:
    return [body["event_id"] for bodies in batches for body in bodies]


def test_batches_that_arrive_during_a_transaction_share_the_next_one(bus: Bus, publisher: HeldPublisher) -> None:
    batches = [_batch(2), _batch(1), _batch(3), _batch(1), _batch(2)]
    sizes_before = _transactions_by_size()
    first, others = _while_the_first_commit_is_held(publisher, batches)
    assert first.result(30) == [] and [future.result(30) for future in others] == [[]] * 4
    assert publisher.commits == 2  # the first batch's transaction, then one for the four that waited
    assert _transactions_by_size() - sizes_before == Counter({1: 1, 4: 1})  # what an SRE sees on /metrics
    assert _visible_ids(bus, _ids(batches)) == sorted(_ids(batches))  # each once


def test_a_shared_transaction_kafka_refuses_fails_every_batch_in_it_and_shows_none_of_them(
    bus: Bus, publisher: HeldPublisher
) -> None:
    batches = [_batch(1), _batch(2), _batch(1), _batch(3)]
    publisher.refuse_commit = True
    repeated = batches[2]  # sent twice at once: the copy written once is refused, so the other copy is too
    first, others = _while_the_first_commit_is_held(publisher, [*batches, repeated])
    for future in [first, *others]:
        with pytest.raises(BrokerUnavailable, match="refused by the test"):
            future.result(30)
    publisher.refuse_commit = False
    retried = _batch(1)
    assert publisher.publish("sighting", retried) == [retried[0]["event_id"]]  # the publisher starts over cleanly
    assert _visible_ids(bus, _ids([*batches, retried])) == [retried[0]["event_id"]]


def test_the_same_retry_twice_in_one_transaction_is_written_once_and_both_are_acknowledged(
    bus: Bus, publisher: HeldPublisher
) -> None:
    head, retry = _batch(1), _batch(3)
    first, others = _while_the_first_commit_is_held(publisher, [head, retry, retry])
    assert first.result(30) == []
    answers = sorted((future.result(30) for future in others), key=len)
    assert answers == [[], _ids([retry])]  # the second copy is answered as already committed
    assert publisher.commits == 2
    assert _visible_ids(bus, _ids([head, retry])) == sorted(_ids([head, retry]))  # each once


def test_a_caller_alone_is_never_held_back(bus: Bus) -> None:
    """One batch after another: each round holds one batch, so none waits for company (a minute, were it paced)."""
    publisher = _held(bus, transaction_interval=60.0)
    publisher.release.set()
    paced_before, batches = _paced_rounds(), [_batch(1), _batch(2), _batch(1)]
    try:
        for bodies in batches:
            assert publisher.publish("sighting", bodies) == _ids([bodies])
    finally:
        publisher.close()
    assert publisher.commits == 3 and _paced_rounds() == paced_before
    assert _visible_ids(bus, _ids(batches)) == sorted(_ids(batches))


def test_under_contention_a_transaction_waits_for_more_batches(bus: Bus) -> None:
    """After a round of two batches, the next one waits (up to a minute here) until two batches are queued again: the
    batch that came first and the one after it share a transaction instead of taking one each."""
    publisher = _held(bus, transaction_interval=60.0)
    try:
        first, others = _while_the_first_commit_is_held(publisher, [_batch(1), _batch(1), _batch(1)])
        assert first.result(30) == [] and [future.result(30) for future in others] == [[], []]
        assert publisher.commits == 2  # the contended round: two batches
        sizes_before, paced_before = _transactions_by_size(), _paced_rounds()
        pool = ThreadPoolExecutor(2)
        early, late = _batch(1), _batch(2)
        waiting = pool.submit(publisher.publish, "sighting", early)
        deadline = time.monotonic() + 30
        while publisher.queued_batches < 1:
            assert time.monotonic() < deadline, "the batch was never held back to wait for more"
            time.sleep(0.01)
        joining = pool.submit(publisher.publish, "sighting", late)  # as many batches as the last round: it starts
        assert waiting.result(30) == _ids([early]) and joining.result(30) == _ids([late])
        pool.shutdown()
    finally:
        publisher.close()
    assert publisher.commits == 3
    assert _transactions_by_size() - sizes_before == Counter({2: 1})
    assert _paced_rounds() == paced_before + 1


def test_a_round_holds_at_most_round_events_and_the_rest_wait_for_the_next(bus: Bus) -> None:
    """Three batches of two queued behind a held commit, at most three events a round: one transaction each, oldest
    first, and every caller answered, also one whose batch was left for a later round than the one it led."""
    publisher = _held(bus, round_events=3)
    batches = [_batch(1), _batch(2), _batch(2), _batch(2)]
    try:
        sizes_before = _transactions_by_size()
        first, others = _while_the_first_commit_is_held(publisher, batches)
        assert first.result(30) == [] and [future.result(30) for future in others] == [[]] * 3
    finally:
        publisher.close()
    assert publisher.commits == 4
    assert _transactions_by_size() - sizes_before == Counter({1: 4})
    assert _visible_ids(bus, _ids(batches)) == sorted(_ids(batches))


def test_the_http_service_lets_more_requests_wait_together_than_the_default_executor_had_threads(
    bus: Bus, tmp_path: Path
) -> None:
    """Twelve requests arrive while a transaction is held: all of them queue for the next one (the default executor,
    cores + 4 threads, let six at most wait at once) and all are answered 202 from one more transaction."""
    publisher = _held(bus)
    clients, tokens = clients_for(tmp_path / "clients.yaml", {"sensor": ("uk-bf", "publish")}, set(bus.catalogue.agencies))
    batches = [_batch(1) for _ in range(13)]
    assert len(batches) - 1 > 6 and len(batches) - 1 <= PUBLISH_THREADS
    with serve_in_thread(build_app(publisher, clients)) as url:
        post: Callable[[list[dict[str, Any]]], tuple[int, Any]] = lambda bodies: request(  # noqa: E731
            "POST", f"{url}/v1/events/sighting", bodies, token=tokens["sensor"]
        )
        pool = ThreadPoolExecutor(len(batches))
        first = pool.submit(post, batches[0])
        assert publisher.holding.wait(30)
        others = [pool.submit(post, bodies) for bodies in batches[1:]]
        deadline = time.monotonic() + 30
        while publisher.queued_batches < len(others):
            assert time.monotonic() < deadline, f"only {publisher.queued_batches} of {len(others)} requests waited together"
            time.sleep(0.01)
        publisher.release.set()
        answers = [future.result(30) for future in [first, *others]]
        pool.shutdown()
    assert [status for status, _answer in answers] == [202] * len(batches), answers
    assert publisher.commits == 2
    assert _visible_ids(bus, _ids(batches)) == sorted(_ids(batches))
