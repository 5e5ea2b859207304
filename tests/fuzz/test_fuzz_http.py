"""Generated requests against a live agency service and a live duty desk (child processes, real broker).

Four kinds of request, from the OpenAPI descriptions and from valid examples: schemathesis's valid-shaped
cases, schemathesis's negative cases, valid requests with random mutations (hostile values, removed and
unknown fields, blown-up strings and arrays, wrong tokens from other addresses), and random bytes,
paths, methods and headers. Expected: no 5xx, no hang, every refusal in the JSON error shape naming a
field, memory flat, and on the ingest topic exactly the events the 202s accepted (nothing of a refused
request, nothing half-published).
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
import yaml
from fuzzkit import BATCH, HOSTILE, REQUESTS, hypothesis_settings, mutate_json, report, rss_kib, samples
from hypothesis import given
from hypothesis import strategies as st

from agency_clients import write_clients
from borderbus import codec
from borderbus.bus import Bus
from borderbus.schema_registry import SchemaRegistry
from borderbus_agency.openapi import FILE as AGENCY_FILE
from borderbus_desk.openapi import FILE as DESK_FILE
from desk_process import AlertWriter, DeskProcess, alert_record
from kafka_reading import read_all
from service_process import ServiceProcess

pytestmark = pytest.mark.broker

TIMEOUT = 30.0
"""A request unanswered this long is a hang."""
PARSER_REFUSALS = (b"Got more than", b"Bad Request", b"Invalid", b"Duplicate", b"Data after")
"""aiohttp's HTTP parser refuses a request line or header over 8190 bytes (and malformed ones) before
the application sees it, in plain text: the one refusal not in the JSON shape (it reaches nothing)."""
SENDERS = 4
"""Requests in flight at once, so the service works while the next cases are generated."""
SCHEMATHESIS_SHARE = 0.1
"""Of each service's requests, this share are schemathesis's valid-shaped cases, and as many its negative ones."""
CLIENTS = {"anpr": ("uk-bf", "publish"), "old": ("uk-bf", "publish"), "iraq": ("iq-bgc", "publish"), "scraper": ("*", "metrics")}


@dataclass
class Tally:
    """Requests sent by kind, answers by status, and every failure with what caused it."""

    kinds: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    accepted_ids: set[str] = field(default_factory=set)
    parser_refusals: int = 0

    @property
    def sent(self) -> int:
        return sum(self.kinds.values())


class Client:
    """Sends requests to one service: through a keep-alive session per thread, or from another loopback
    address (127.x.y.z) so wrong tokens do not get the fuzzer's own address rate-limited."""

    def __init__(self, base_url: str, port: int) -> None:
        self.base_url, self.port = base_url, port
        self._local = threading.local()
        self._address = 0
        self._lock = threading.Lock()

    @property
    def session(self) -> requests.Session:
        """One keep-alive session per sending thread (a Session is not thread-safe)."""
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        session: requests.Session = self._local.session
        return session

    def send(self, method: str, path: str, *, headers: dict[str, str], body: bytes | None) -> tuple[int, bytes, dict[str, str]]:
        url = self.base_url + path
        with self.session.request(method, url, headers=headers, data=body, timeout=TIMEOUT, stream=True) as response:
            return response.status_code, first_bytes(response), dict(response.headers)

    def send_from_elsewhere(
        self, method: str, path: str, *, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, bytes, dict[str, str]]:
        with self._lock:
            self._address += 1
            address = self._address
        source = f"127.{(address >> 16) % 250 + 1}.{(address >> 8) % 256}.{address % 256}"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT, source_address=(source, 0))
        try:
            target = path if path.isascii() else requests.utils.quote(path, safe="/?&=%:;,+@", errors="surrogatepass")
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            if (response.getheader("Content-Type") or "").startswith("text/event-stream"):
                return response.status, response.readline(), dict(response.getheaders())
            return response.status, response.read(), dict(response.getheaders())
        finally:
            connection.close()


def first_bytes(response: requests.Response) -> bytes:
    """The body, or of an event stream (endless) its first line: the stream answered, it did not hang."""
    if response.headers.get("Content-Type", "").startswith("text/event-stream"):
        return bytes(response.raw.readline())
    return response.content


def check_answer(tally: Tally, what: str, status: int, body: bytes, headers: dict[str, str], shape: str) -> None:
    """No 5xx; a refusal is JSON in the service's error shape and names a field."""
    tally.statuses[status] += 1
    if status >= 500:
        tally.failures.append(f"{status} for {what}: {body[:300]!r}")
        return
    if status < 400 or (not body and what.startswith("HEAD")):
        return
    if status == 400 and body.startswith(PARSER_REFUSALS):
        tally.parser_refusals += 1  # before any middleware: plain text (see PARSER_REFUSALS)
        return
    try:
        answer = json.loads(body)
    except ValueError:
        tally.failures.append(f"{status} not JSON for {what}: {body[:200]!r}")
        return
    if shape == "agency":
        errors = answer.get("errors") if isinstance(answer, dict) else None
        if not errors or not all(isinstance(e, dict) and e.get("field") and e.get("reason") for e in errors):
            tally.failures.append(f"{status} names no field for {what}: {body[:300]!r}")
    elif not (isinstance(answer, dict) and answer.get("field") and answer.get("message") and answer.get("error")):
        tally.failures.append(f"{status} names no field for {what}: {body[:300]!r}")


def _spec(path: Path, base_url: str) -> Any:
    schema = schemathesis.openapi.from_dict(yaml.safe_load(path.read_text()))
    schema.config.update(base_url=base_url)
    return schema


_TALLY_LOCK = threading.Lock()


def _run(tally: Tally, kind: str, send: Callable[[], tuple[str, int, bytes, dict[str, str]]], shape: str) -> None:
    try:
        what, status, body, headers = send()
    except (requests.Timeout, TimeoutError) as error:
        failure = f"hang ({kind}): {error}"
    except (requests.ConnectionError, OSError, http.client.HTTPException) as error:
        failure = f"connection failed ({kind}): {type(error).__name__}: {error}"
    else:
        failure = ""
    with _TALLY_LOCK:
        tally.kinds[kind] += 1
        if failure:
            tally.failures.append(failure)
        else:
            check_answer(tally, what, status, body, headers, shape)


def fuzz_service(
    *,
    tally: Tally,
    shape: str,
    spec_file: Path,
    client: Client,
    token: str,
    mutated: Callable[[random.Random], tuple[str, str, dict[str, str], bytes | None]],
    on_answer: Callable[[str, int, bytes], None] = lambda *_: None,
    total: int,
    pid: int,
) -> dict[str, Any]:
    """``total`` requests: ``SCHEMATHESIS_SHARE`` each of valid-shaped and negative schemathesis cases, the
    rest mutated and random ones (``BATCH`` per Hypothesis example, sent by ``SENDERS`` threads)."""
    schema = _spec(spec_file, client.base_url)
    auth = {"Authorization": f"Bearer {token}"}
    started = time.monotonic()

    def call_case(case: Any) -> tuple[str, int, bytes, dict[str, str]]:
        """The case as schemathesis serialises it, sent by our session (of a stream only the first line)."""
        kwargs = case.as_transport_kwargs(base_url=client.base_url, headers=auth)
        what = f"{kwargs['method']} {kwargs['url'][:300]} body={str(kwargs.get('json', kwargs.get('data')))[:300]}"
        kwargs.pop("timeout", None)
        with client.session.request(**kwargs, timeout=TIMEOUT, stream=True) as response:
            content = first_bytes(response)
        on_answer(f"{case.method} {case.formatted_path}", response.status_code, content)
        return what, response.status_code, content, dict(response.headers)

    def generate(mode: Any, kind: str) -> None:
        @given(case=schema.as_strategy(generation_mode=mode))
        @hypothesis_settings(max(1, int(total * SCHEMATHESIS_SHARE)))
        def generated(case: Any) -> None:
            _run(tally, kind, lambda: call_case(case), shape)

        generated()

    generate(schemathesis.GenerationMode.POSITIVE, "valid-shaped")
    generate(schemathesis.GenerationMode.NEGATIVE, "negative")
    rss_warm = rss_kib(pid)

    def send_mutated(
        method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[str, int, bytes, dict[str, str]]:
        what = f"{method} {path[:200]} headers={str(headers)[:200]} body={(body or b'')[:200]!r}"
        if "Authorization" in headers and headers["Authorization"] != auth["Authorization"]:
            status, content, answer_headers = client.send_from_elsewhere(method, path, headers=headers, body=body)
        else:
            status, content, answer_headers = client.send(method, path, headers=headers, body=body)
        on_answer(f"{method} {path}", status, content)
        return what, status, content, answer_headers

    remaining = total - tally.sent
    made = [0]
    with ThreadPoolExecutor(SENDERS) as senders:

        @given(st.integers(0, 2**32))
        @hypothesis_settings(max(1, -(-remaining // BATCH)))
        def mutations(seed: int) -> None:
            rng = random.Random(seed)  # Hypothesis runs in this thread only; the sending in SENDERS threads
            cases = [mutated(rng) for _ in range(min(BATCH, remaining - made[0]))]
            made[0] += len(cases)
            futures = [senders.submit(_run, tally, "mutated-or-random", lambda c=case: send_mutated(*c), shape) for case in cases]
            for future in futures:
                future.result()

        mutations()
    return {
        "requests": tally.sent,
        "by_kind": dict(tally.kinds),
        "by_status": {str(code): count for code, count in sorted(tally.statuses.items())},
        "failures": len(tally.failures),
        "refused_by_aiohttp_parser_in_plain_text": tally.parser_refusals,
        "seconds": round(time.monotonic() - started, 1),
        "rss_kib_after_warm_up": rss_warm,
        "rss_kib_after": rss_kib(pid),
    }


def _random_token(rng: random.Random, tokens: dict[str, str]) -> str:
    return rng.choice(
        [
            f"Bearer bba_{uuid.UUID(int=rng.getrandbits(128)).hex}",
            f"Bearer {tokens['old']}",
            f"Bearer {tokens['iraq']}",
            f"Bearer {tokens['scraper']}",
            "Bearer",
            "Basic YWRtaW46YWRtaW4=",
            "Bearer " + "x" * 4000,
            "bearer  " + tokens["anpr"][:-1],
            "Bearer bba_\u00e9",
        ]
    )


def _raw_body(rng: random.Random, valid: bytes) -> bytes:
    choice = rng.random()
    if choice < 0.3:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200)))
    if choice < 0.5:
        cut = rng.randrange(len(valid) + 1)
        return valid[:cut]
    if choice < 0.6:
        return b"[" * rng.choice([17, 1000, 50_000]) + b"]" * rng.choice([0, 17, 1000])
    if choice < 0.7:
        return b'{"a":' * 20 + b"1" + b"}" * 20
    if choice < 0.8:
        return json.dumps([json.loads(valid)] * rng.choice([0, 2, 1001])).encode()
    if choice < 0.9:
        return b"[" + b"1" * 5000 + b"]"
    return valid.replace(b'"', b"'", rng.randrange(1, 4))


@pytest.fixture(scope="module")
def agency(bus: Bus, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServiceProcess, dict[str, str], Bus]]:
    from topic_namespace import own_topics

    fuzz_bus = own_topics(bus, "fuzz-http")
    folder = tmp_path_factory.mktemp("fuzz-agency")
    tokens = write_clients(folder / "clients.yaml", CLIENTS, revoked=frozenset({"old"}))
    service = ServiceProcess(
        fuzz_bus, folder, "agency", ["agency", "serve", "--agency", "uk-bf", "--clients", str(folder / "clients.yaml")]
    )
    service.start()
    try:
        yield service, tokens, fuzz_bus
    finally:
        service.stop()


def test_generated_requests_against_the_agency_service(agency: tuple[ServiceProcess, dict[str, str], Bus]) -> None:
    service, tokens, fuzz_bus = agency
    assert service.process is not None
    client = Client(service.url, service.port)
    tally = Tally()
    sample = samples()[("uk-bf", "sighting")]
    valid = json.dumps(sample).encode()
    paths = ["/v1/events/sighting", "/v1/events/finance-flag", "/v1/events/nope", "/", "/healthz", "/readyz", "/metrics"]

    def mutated(rng: random.Random) -> tuple[str, str, dict[str, str], bytes | None]:
        headers = {"Authorization": f"Bearer {tokens['anpr']}", "Content-Type": "application/json"}
        choice = rng.random()
        if choice < 0.6:
            body = mutate_json(rng, [sample] * rng.choice([1, 1, 3]) if rng.random() < 0.3 else sample, rng.randint(1, 4))
            try:
                data = json.dumps(body).encode()
            except (ValueError, TypeError):
                data = valid
            return "POST", "/v1/events/sighting", headers, data
        if choice < 0.75:
            headers["Authorization"] = _random_token(rng, tokens)
            return rng.choice(["POST", "GET"]), rng.choice(paths), headers, valid
        if choice < 0.9:
            return "POST", rng.choice(paths[:3]), headers, _raw_body(rng, valid)
        method = rng.choice(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
        path = rng.choice(
            [*paths, "/v1/events/", "/v1/events/sighting/x", "/%00", "/" + "a" * 3000, "/v1/events/%ff", "/v1/events/\u00e9"]
        )
        return (
            method,
            path.encode("utf-8").decode("latin-1") if rng.random() < 0.1 else path,
            headers,
            valid if method != "GET" else None,
        )

    def remember(what: str, status: int, content: bytes) -> None:
        if status == 202:
            answer = json.loads(content)
            tally.accepted_ids.update(answer["event_ids"])

    figures = fuzz_service(
        tally=tally,
        shape="agency",
        spec_file=AGENCY_FILE,
        client=client,
        token=tokens["anpr"],
        mutated=mutated,
        on_answer=remember,
        total=REQUESTS,
        pid=service.process.pid,
    )
    # exactly the accepted events are on the topic: no refused request wrote anything, none half-published
    schema = fuzz_bus.schemas.latest("sighting")
    registry = SchemaRegistry(fuzz_bus.settings, known=fuzz_bus.schemas)
    on_topic = [
        str(codec.decode(message.value(), schema, registry.lookup)["event_id"])
        for message in read_all(fuzz_bus.settings, fuzz_bus.catalogue.ingest_topic("uk-bf", "sighting"), timeout=30)
    ]
    figures["events_accepted"] = len(tally.accepted_ids)
    figures["events_on_topic"] = len(on_topic)
    report("agency-http", figures)
    assert not tally.failures, "\n".join(tally.failures[:15])
    assert figures["requests"] >= REQUESTS
    assert set(on_topic) == tally.accepted_ids
    assert tally.statuses[202] and tally.statuses[422] and tally.statuses[401]
    assert service.process.poll() is None


@pytest.fixture(scope="module")
def desk(bus: Bus, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DeskProcess, list[str]]]:
    from topic_namespace import own_topics

    fuzz_bus = own_topics(bus, "fuzz-desk")
    desk = DeskProcess(fuzz_bus, tmp_path_factory.mktemp("fuzz-desk"), {"ana": "uk-bf", "omar": "iq-fiu"}, name="fuzz-desk")
    desk.start()
    ids = [f"AL-fuzz-{index}-{uuid.uuid4().hex[:8]}" for index in range(20)]
    AlertWriter(fuzz_bus).publish(
        *(
            alert_record(alert_id, allowed=["uk-bf"] if i % 3 else ["iq-fiu"], severity=("LOW", "HIGH", "CRITICAL")[i % 3])
            for i, alert_id in enumerate(ids)
        )
    )
    deadline = time.monotonic() + 30
    while (
        desk.request("ana", "GET", "/api/v1/alerts")[1]["count"] < len([i for i in range(20) if i % 3])
        and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    try:
        yield desk, ids
    finally:
        desk.stop()


def test_generated_requests_against_the_desk(desk: tuple[DeskProcess, list[str]]) -> None:
    service, ids = desk
    assert service.process is not None
    client = Client(service.url, service.port)
    tally = Tally()
    officer_tokens = {"anpr": service.tokens["ana"], "old": service.tokens["omar"], "iraq": "bbo_x", "scraper": "bbo_y"}
    queries = {
        "min_severity": ["HIGH", "low", "PURPLE"],
        "status": ["new,acknowledged", "escalated", "nope", ",,,"],
        "rule": ["wanted_subject_sighted", "a,b"],
        "border_point": ["GR-EVR", "gb-dov,GR-EVR"],
        "subject": ["GB:1", "PERSON_DOCUMENT:GB:1"],
        "since": ["2026-01-01T00:00:00Z", "0", "-5", "²", "9" * 30, "0001-01-01T00:00:00+14:00"],
        "until": ["2030-01-01", "1", "tomorrow"],
        "limit": ["1", "1000", "0", "1001", "²", "-1", "9" * 40, " 5 "],
    }
    actions = ["ACKNOWLEDGE", "ESCALATE", "RESOLVE", "FALSE_POSITIVE", "acknowledge", "REOPEN", ""]

    def query(rng: random.Random) -> str:
        chosen = {name: rng.choice(values + HOSTILE[:14]) for name, values in queries.items() if rng.random() < 0.4}
        quote = requests.utils.quote
        return "&".join(f"{name}={quote(str(value), safe='', errors='surrogatepass')}" for name, value in chosen.items())

    def mutated(rng: random.Random) -> tuple[str, str, dict[str, str], bytes | None]:
        headers = {"Authorization": f"Bearer {service.tokens[rng.choice(['ana', 'omar'])]}", "Content-Type": "application/json"}
        alert_id = rng.choice([*ids, "AL-unknown", "x" * 200, "%2e%2e", "AL-\u00e9", "AL%00"])
        choice = rng.random()
        if choice < 0.35:
            body: Any = {"action": rng.choice(actions), "note": rng.choice(["seen", None, "x" * 2001, " ", "\ud800"])}
            body = mutate_json(rng, body, rng.randint(0, 2)) if rng.random() < 0.6 else body
            try:
                data = json.dumps(body).encode()
            except (ValueError, TypeError):
                data = b"{}"
            return "POST", f"/api/v1/alerts/{alert_id}/actions", headers, data
        if choice < 0.6:
            return "GET", f"/api/v1/alerts?{query(rng)}", headers, None
        if choice < 0.7:
            headers["Last-Event-ID"] = rng.choice(["", "x", "abc:12", "0:²", ":" * 70, "a" * 65, f"{uuid.uuid4().hex[:10]}:0"])
            return "GET", f"/api/v1/stream?{query(rng)}", headers, None
        if choice < 0.8:
            headers["Authorization"] = _random_token(rng, officer_tokens).replace("bba_", "bbo_")
            return "GET", rng.choice(["/api/v1/me", "/api/v1/alerts", f"/api/v1/alerts/{alert_id}"]), headers, None
        if choice < 0.9:
            return (
                "POST",
                f"/api/v1/alerts/{alert_id}/actions",
                headers,
                _raw_body(rng, b'{"action": "ACKNOWLEDGE", "note": "ok"}'),
            )
        method = rng.choice(["GET", "POST", "PUT", "DELETE", "PATCH"])
        path = rng.choice(
            [
                "/api/v1/me",
                f"/api/v1/alerts/{alert_id}",
                "/api/v1/nope",
                "/console/nope.js",
                "/console/../../etc/passwd",
                "/metrics",
                "/",
            ]
        )
        return method, path, headers, b"{}" if method != "GET" else None

    figures = fuzz_service(
        tally=tally,
        shape="desk",
        spec_file=DESK_FILE,
        client=client,
        token=service.tokens["ana"],
        mutated=mutated,
        total=REQUESTS,
        pid=service.process.pid,
    )
    report("desk-http", figures)
    assert not tally.failures, "\n".join(tally.failures[:15])
    assert figures["requests"] >= REQUESTS
    assert tally.statuses[200] and tally.statuses[422] and tally.statuses[404]
    assert service.process.poll() is None


DESK_REGRESSIONS = [
    pytest.param("GET", "/api/v1/alerts?limit=%C2%B2", None, {}, 422, "limit", id="limit-superscript-two"),
    pytest.param("GET", "/api/v1/alerts?since=%C2%B2", None, {}, 422, "since", id="since-superscript-two"),
    pytest.param("GET", "/api/v1/alerts?status=" + ",".join(["new"] * 51), None, {}, 422, "status", id="too-many-statuses"),
    pytest.param("GET", "/api/v1/alerts?subject=" + "x" * 1025, None, {}, 422, "subject", id="query-value-too-long"),
    pytest.param("POST", "/api/v1/alerts/{id}/actions", b"[" * 30_000 + b"]" * 30_000, {}, 400, "body", id="nested-action-body"),
    pytest.param(
        "POST",
        "/api/v1/alerts/{id}/actions",
        b'{"action": "RESOLVE", "note": "\\ud800"}',
        {},
        422,
        "note",
        id="note-lone-surrogate",
    ),
    pytest.param(
        "POST", "/api/v1/alerts/{id}/actions", b'{"action": ["ACKNOWLEDGE"]}', {}, 422, "action", id="action-not-a-string"
    ),
    pytest.param("POST", "/api/v1/alerts/{id}/actions", b'{"action": "\\ud800"}', {}, 422, "action", id="action-lone-surrogate"),
    pytest.param("POST", "/api/v1/alerts/{id}/actions", b"{}" + b" " * 70_000, {}, 413, "body", id="body-over-64k"),
    pytest.param("GET", "/api/v1/alerts/" + "A" * 200, None, {}, 404, "alert_id", id="alert-id-too-long"),
    pytest.param("GET", "/api/v1/stream", None, {"Last-Event-ID": "x" * 65}, 422, "Last-Event-ID", id="cursor-too-long"),
    pytest.param("GET", "/console/" + "0" * 300, None, {}, 404, "path", id="console-name-too-long"),
    pytest.param("GET", "/console/nope.js", None, {}, 404, "path", id="console-unknown-file"),
    pytest.param("DELETE", "/api/v1/me", None, {}, 405, "method", id="method-not-allowed"),
    pytest.param("GET", "/api/v1/nothing", None, {}, 404, "path", id="unknown-route"),
]


@pytest.mark.parametrize(("method", "path", "body", "headers", "status", "field_name"), DESK_REGRESSIONS)
def test_desk_refusals_found_by_fuzzing(
    desk: tuple[DeskProcess, list[str]],
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
    status: int,
    field_name: str,
) -> None:
    """Each of these was a 500, a broken stream or a plain-text refusal before the fuzzer found it."""
    service, ids = desk
    auth = {"Authorization": f"Bearer {service.tokens['ana']}", "Content-Type": "application/json", **headers}
    got, content, _ = Client(service.url, service.port).send(method, path.replace("{id}", ids[1]), headers=auth, body=body)
    assert got == status, content[:300]
    answer = json.loads(content)
    assert answer["field"] == field_name and answer["message"], answer


def test_a_cursor_with_non_ascii_digits_gets_the_whole_backlog(desk: tuple[DeskProcess, list[str]]) -> None:
    """``"<epoch>:²"`` passed ``str.isdigit`` and then broke the stream in ``int()``."""
    service, _ = desk
    first = service.stream("ana")
    try:
        cursor, _view = first.until(lambda view: True, timeout=30)[0]
    finally:
        first.close()
    assert cursor is not None
    reader = service.stream("ana", last_event_id=cursor.split(":")[0] + ":²")
    try:
        assert reader.until(lambda view: True, timeout=30)  # a cursor it cannot use: the whole backlog
    finally:
        reader.close()
