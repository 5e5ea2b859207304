"""The agency's HTTP API on a real port against the real broker: 202 only after Kafka, 4xx publishes nothing,
and only this agency's client credentials get in."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_publish_and_read import SAMPLES

from agency_clients import clients_for, write_clients
from borderbus import codec
from borderbus.bus import Bus
from borderbus.http_security import FailedAuthLimiter
from borderbus.schema_registry import SchemaRegistry
from borderbus_agency.http_api import build_app
from borderbus_agency.publisher import AgencyPublisher
from http_server import request as plain_request
from http_server import serve_in_thread
from kafka_reading import end_offsets, read_all
from service_process import ServiceProcess

pytestmark = pytest.mark.broker

GOOD = SAMPLES[("uk-bf", "sighting")]
CLIENTS = {
    "anpr-dov-2": ("uk-bf", "publish"),
    "old-anpr": ("uk-bf", "publish"),
    "iraq-checkpoint": ("iq-bgc", "publish"),
    "prometheus": ("*", "metrics"),
}
TOKENS: dict[str, str] = {}


def request(method: str, url: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
    """As the agency's own ANPR system: with its valid token."""
    return plain_request(method, url, body, raw, token=TOKENS["anpr-dov-2"])


@pytest.fixture(scope="module")
def uk_bf_url(bus: Bus, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path: Path = tmp_path_factory.mktemp("clients") / "agency-clients.yaml"
    clients, tokens = clients_for(path, CLIENTS, set(bus.catalogue.agencies), revoked=frozenset({"old-anpr"}))
    TOKENS.update(tokens)
    app = build_app(AgencyPublisher(bus, "uk-bf", instance_id="http-test"), clients, limiter=FailedAuthLimiter(limit=1000))
    with serve_in_thread(app) as url:
        yield url


def _with(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(GOOD)
    body.update(changes)
    return body


def test_202_means_the_events_are_already_readable(bus: Bus, uk_bf_url: str) -> None:
    status, answer = request("POST", f"{uk_bf_url}/v1/events/sighting", [GOOD, _with(confidence=0.5)])
    assert status == 202, answer
    assert answer["accepted"] == 2
    topic = bus.catalogue.ingest_topic("uk-bf", "sighting")
    assert answer["topic"] == topic
    # no waiting: the consumer is created after the 202 and must find both events committed
    ids = {m.value() for m in read_all(bus.settings, topic)}
    assert len(ids) >= 2
    from borderbus import codec
    from borderbus.schema_registry import SchemaRegistry

    registry = SchemaRegistry(bus.settings)
    decoded = {str(codec.decode(v, bus.schemas.latest("sighting"), registry.lookup)["event_id"]) for v in ids}
    assert set(answer["event_ids"]) <= decoded


BAD_REQUESTS = [
    pytest.param("sighting", b"{not json", 400, "invalid_json", "body", id="invalid-json"),
    pytest.param("sighting", [GOOD, _with(method=None)], 422, "invalid_events", "method", id="wrong-type-in-batch"),
    pytest.param("sighting", [_with(source_system=None)], 422, "invalid_events", "source_system", id="null-required"),
    pytest.param("sighting", [{k: v for k, v in GOOD.items() if k != "tlp"}], 422, "invalid_events", "tlp", id="missing-field"),
    pytest.param(
        "sighting",
        [_with(subjects=[{"kind": "PHONE", "id": "555", "country": "GB"}])],
        422,
        "invalid_events",
        "subjects[0].id",
        id="bad-identifier",
    ),
    pytest.param("sighting", [_with(agency="iq-bgc")], 422, "invalid_events", "agency", id="provenance"),
    pytest.param("weather-report", [GOOD], 404, "invalid_events", "event_type", id="unknown-type"),
    pytest.param("finance-flag", [GOOD], 403, "invalid_events", "event_type", id="type-not-allowed"),
    pytest.param("sighting", [], 400, "empty_batch", "body", id="empty-batch"),
    pytest.param("sighting", [GOOD] * 1001, 413, "batch_too_large", "body", id="batch-too-large"),
    pytest.param("sighting", b"[" * 100_000 + b"]" * 100_000, 400, "invalid_json", "body", id="deeply-nested"),
    pytest.param("sighting", [_with(source_system="x" * 2_000_000)], 422, "invalid_events", "source_system", id="2mb-field"),
    pytest.param("sighting", [_with(notes="x" * 4001)], 422, "invalid_events", "notes", id="string-over-its-limit"),
    pytest.param("sighting", [_with(confidence=1e308 * 10)], 400, "invalid_json", "body", id="infinity"),
    pytest.param("sighting", b"[" * 17 + b"]" * 17, 400, "invalid_json", "body", id="beyond-the-depth-limit"),
    pytest.param("sighting", b"[" + b" " * (17 * 1024 * 1024) + b"]", 413, "body_too_large", "body", id="body-over-16mb"),
]


@pytest.mark.parametrize(("event_type", "body", "status", "error", "field"), BAD_REQUESTS)
def test_bad_input_is_refused_clearly_and_publishes_nothing(
    bus: Bus, uk_bf_url: str, event_type: str, body: Any, status: int, error: str, field: str
) -> None:
    topics = [bus.catalogue.ingest_topic("uk-bf", "sighting"), bus.catalogue.ingest_topic("iq-bgc", "sighting")]
    before = {topic: end_offsets(bus.settings, topic) for topic in topics}
    raw = body if isinstance(body, bytes) else None
    got_status, answer = request("POST", f"{uk_bf_url}/v1/events/{event_type}", None if raw else body, raw=raw)
    assert got_status == status, answer
    assert answer["error"] == error
    assert field in {item["field"] for item in answer["errors"]}
    assert all(item["reason"] for item in answer["errors"])
    assert {topic: end_offsets(bus.settings, topic) for topic in topics} == before


def test_batch_errors_name_the_bad_item(uk_bf_url: str) -> None:
    status, answer = request("POST", f"{uk_bf_url}/v1/events/sighting", [GOOD, GOOD, _with(confidence=7)])
    assert status == 422
    assert [(e["index"], e["field"]) for e in answer["errors"]] == [(2, "confidence")]


def test_health_readiness_and_metrics(uk_bf_url: str) -> None:
    assert request("GET", f"{uk_bf_url}/healthz")[0] == 200
    assert request("GET", f"{uk_bf_url}/readyz") == (200, {"status": "ready"})
    request("POST", f"{uk_bf_url}/v1/events/sighting", [_with(agency="iq-bgc")])
    status, text = request("GET", f"{uk_bf_url}/metrics")
    assert status == 200
    assert 'borderbus_agency_events_accepted_total{agency="uk-bf",event_type="sighting"}' in text
    assert 'borderbus_agency_events_rejected_total{agency="uk-bf",event_type="sighting",reason="provenance_mismatch"}' in text
    assert "borderbus_agency_produce_latency_seconds_bucket" in text
    assert 'borderbus_agency_requests_in_flight{agency="uk-bf"}' in text


AUTH_REFUSALS = [
    pytest.param(None, 401, "unauthorized", "missing_token", id="no-token"),
    pytest.param("bba_not-a-token-anyone-was-given", 401, "unauthorized", "invalid_token", id="unknown-token"),
    pytest.param("old-anpr", 401, "unauthorized", "revoked_token", id="revoked-token"),
    pytest.param("iraq-checkpoint", 403, "forbidden", "wrong_agency", id="other-agency"),
    pytest.param("prometheus", 403, "forbidden", "wrong_scope", id="metrics-only-token"),
]


@pytest.mark.parametrize(("who", "status", "error", "code"), AUTH_REFUSALS)
def test_only_this_agencys_clients_may_publish(
    bus: Bus, uk_bf_url: str, who: str | None, status: int, error: str, code: str
) -> None:
    topic = bus.catalogue.ingest_topic("uk-bf", "sighting")
    before = end_offsets(bus.settings, topic)
    token = TOKENS.get(who, who) if who else None
    headers: dict[str, str] = {}
    got, answer = plain_request("POST", f"{uk_bf_url}/v1/events/sighting", [GOOD], token=token, headers_out=headers)
    assert got == status, answer
    assert answer["error"] == error
    assert [(e["field"], e["code"]) for e in answer["errors"]] == [("Authorization", code)]
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert got == 403 or (code == "missing_token") == ("error=" not in headers["WWW-Authenticate"])
    assert end_offsets(bus.settings, topic) == before
    assert token is None or token not in str(answer)


def test_a_valid_client_token_publishes(uk_bf_url: str) -> None:
    status, answer = plain_request("POST", f"{uk_bf_url}/v1/events/sighting", [GOOD], token=TOKENS["anpr-dov-2"])
    assert status == 202, answer


def test_health_and_readiness_need_no_token_and_answer_with_security_headers(uk_bf_url: str) -> None:
    headers: dict[str, str] = {}
    assert plain_request("GET", f"{uk_bf_url}/healthz", headers_out=headers)[0] == 200
    assert plain_request("GET", f"{uk_bf_url}/readyz")[0] == 200
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert plain_request("GET", f"{uk_bf_url}/")[0] == 401  # everything else needs a token


def test_metrics_can_require_a_metrics_credential(bus: Bus, tmp_path: Path) -> None:
    clients, tokens = clients_for(tmp_path / "clients.yaml", CLIENTS, set(bus.catalogue.agencies))
    app = build_app(AgencyPublisher(bus, "uk-bf", instance_id="metrics-test"), clients, metrics_need_token=True)
    with serve_in_thread(app) as url:
        assert plain_request("GET", f"{url}/metrics")[0] == 401
        assert plain_request("GET", f"{url}/metrics", token=tokens["anpr-dov-2"])[0] == 403  # a publisher is no scraper
        status, text = plain_request("GET", f"{url}/metrics", token=tokens["prometheus"])
        assert status == 200
        assert "borderbus_agency_auth_failures_total" in text
        assert plain_request("GET", f"{url}/healthz")[0] == 200


def test_repeated_bad_tokens_are_rate_limited_per_address(bus: Bus, tmp_path: Path) -> None:
    clients, tokens = clients_for(tmp_path / "clients.yaml", CLIENTS, set(bus.catalogue.agencies))
    app = build_app(AgencyPublisher(bus, "uk-bf", instance_id="limit-test"), clients, limiter=FailedAuthLimiter(limit=3))
    with serve_in_thread(app) as url:
        for _ in range(3):
            assert plain_request("POST", f"{url}/v1/events/sighting", [GOOD], token="bba_guess")[0] == 401
        headers: dict[str, str] = {}
        status, answer = plain_request(
            "POST", f"{url}/v1/events/sighting", [GOOD], token=tokens["anpr-dov-2"], headers_out=headers
        )
        assert status == 429, answer  # even a right token: the answer must not confirm guesses
        assert answer["error"] == "too_many_failed_attempts"
        assert 1 <= int(headers["Retry-After"]) <= 60


def test_a_retry_after_the_service_was_killed_is_not_written_twice(fresh_bus: Bus, tmp_path: Path) -> None:
    """The chaos run found it: killed after its commit reached Kafka but before the 202 left, a service
    forgot what it had committed and wrote the client's retry again. A restarted service reads back its
    agency's recent events first, so the retry is acknowledged and the topic holds each event once."""
    clients_file = tmp_path / "agency-clients.yaml"
    tokens = write_clients(clients_file, {"anpr": ("uk-bf", "publish")})
    agency = ServiceProcess(
        fresh_bus, tmp_path, "agency", ["-v", "agency", "serve", "--agency", "uk-bf", "--clients", str(clients_file)]
    ).start()
    batch = [_with(event_id=str(uuid.uuid4())), _with(event_id=str(uuid.uuid4()), confidence=0.5)]
    try:
        url = f"{agency.url}/v1/events/sighting"
        status, answer = plain_request("POST", url, batch, token=tokens["anpr"])
        assert status == 202 and answer["already_accepted"] == 0, answer
        agency.kill()  # as if its 202 had been lost with it
        agency.start()
        status, answer = plain_request("POST", url, batch, token=tokens["anpr"])
        assert status == 202, answer
        assert answer["already_accepted"] == 2, "the restarted service knew the batch was committed"
    finally:
        agency.stop()
    registry = SchemaRegistry(fresh_bus.settings)
    topic = fresh_bus.catalogue.ingest_topic("uk-bf", "sighting")
    ids = [str(codec.decode(m.value(), fresh_bus.schemas.latest("sighting"), registry.lookup)["event_id"])
           for m in read_all(fresh_bus.settings, topic)]
    assert sorted(ids) == sorted(event["event_id"] for event in batch)
