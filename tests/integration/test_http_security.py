"""Every HTTP API authenticates its callers and keeps credentials secret, checked on real processes
against the real broker: the duty desk's sign-in limit, metric and security headers, and that no token
(nor its hash) reaches an agency service's or the desk's log or /metrics, whatever callers send."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from test_publish_and_read import SAMPLES

from agency_clients import write_clients
from borderbus.bus import Bus
from borderbus.tokens import token_digest
from borderbus_desk.officers import new_token, officer_entry
from borderbus_simulator.driver import HttpSender
from desk_process import DeskProcess
from http_server import request
from service_process import ServiceProcess

pytestmark = pytest.mark.broker

CONSOLE_DIR = Path(__file__).resolve().parents[2] / "services" / "borderbus_desk" / "console"


def _sample(metrics: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in metrics.splitlines():
        if line.startswith(f"{name}{{{wanted}}} ") or (not labels and line.startswith(f"{name} ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.fixture
def desk(fresh_bus: Bus, tmp_path: Path) -> Iterator[DeskProcess]:
    desk = DeskProcess(fresh_bus, tmp_path, {"ana": "uk-bf"}, name="secure-desk")
    revoked = new_token()
    officers_file = tmp_path / "secure-desk-officers.yaml"
    data = yaml.safe_load(officers_file.read_text())
    data["officers"].append({**officer_entry("gone", "uk-bf", revoked), "revoked": True})
    officers_file.write_text(yaml.safe_dump(data))
    desk.tokens["gone"] = revoked
    desk.start()
    try:
        yield desk
    finally:
        desk.stop()


class _InlineCode(HTMLParser):
    """Collects whatever a CSP without 'unsafe-inline' would block in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "style" or (tag == "script" and "src" not in names):
            self.found.append(f"<{tag}> element")
        self.found += [f"{tag} {name}=" for name in names if name == "style" or name.startswith("on")]
        self.found += [f"{tag} javascript: URL" for _, value in attrs if value and value.strip().startswith("javascript:")]


def test_the_console_has_no_inline_script_or_style() -> None:
    parser = _InlineCode()
    parser.feed((CONSOLE_DIR / "index.html").read_text())
    assert parser.found == []
    assert 'setAttribute("style"' not in (CONSOLE_DIR / "console.js").read_text()


def test_every_desk_response_carries_the_security_headers(desk: DeskProcess) -> None:
    for path, token in [
        ("/", None),
        ("/console/console.js", None),
        ("/healthz", None),
        ("/api/v1/me", desk.tokens["ana"]),
        ("/api/v1/me", None),
        ("/api/v1/alerts/AL-nothing", desk.tokens["ana"]),
        ("/no-such-page", None),
    ]:
        headers: dict[str, str] = {}
        status, _ = request("GET", desk.url + path, token=token, headers_out=headers)
        assert status < 500, path
        csp = headers.get("Content-Security-Policy", "")
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, path
        assert headers.get("X-Content-Type-Options") == "nosniff", path
        assert headers.get("Referrer-Policy") == "no-referrer", path
        assert headers.get("X-Frame-Options") == "DENY", path
        if path.startswith("/api/"):
            assert headers.get("Cache-Control") == "no-store", path
    stream = urllib.request.urlopen(
        urllib.request.Request(desk.url + "/api/v1/stream", headers={"Authorization": f"Bearer {desk.tokens['ana']}"}),
        timeout=10,
    )
    try:
        assert stream.headers["Content-Security-Policy"] and stream.headers["X-Frame-Options"] == "DENY"
    finally:
        stream.close()


def test_a_revoked_officer_token_is_refused(desk: DeskProcess) -> None:
    headers: dict[str, str] = {}
    status, answer = request("GET", desk.url + "/api/v1/me", token=desk.tokens["gone"], headers_out=headers)
    assert (status, answer["error"]) == (401, "unauthorized")
    assert "revoked" in answer["message"]
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert _sample(desk.metrics(), "borderbus_desk_failed_signins_total", reason="revoked_token") == 1


def test_failed_signins_are_limited_per_address_and_counted(desk: DeskProcess) -> None:
    assert request("GET", desk.url + "/api/v1/me")[0] == 401  # no token: no guess, not limited
    for attempt in range(10):
        status, answer = request("GET", desk.url + "/api/v1/me", token=f"bbo_guess-{attempt}")
        assert status == 401, (attempt, answer)
    headers: dict[str, str] = {}
    status, answer = request("GET", desk.url + "/api/v1/me", token=desk.tokens["ana"], headers_out=headers)
    assert status == 429, answer  # even the right token: a limited address learns nothing from the answer
    assert answer["error"] == "too_many_failed_signins"
    assert 1 <= int(headers["Retry-After"]) <= 60
    metrics = desk.metrics()
    assert _sample(metrics, "borderbus_desk_failed_signins_total", reason="invalid_token") == 10
    assert _sample(metrics, "borderbus_desk_failed_signins_total", reason="missing_token") == 1
    assert _sample(metrics, "borderbus_desk_failed_signins_total", reason="rate_limited") == 1
    assert request("GET", desk.url + "/healthz")[0] == 200  # health stays open


def test_no_token_reaches_a_log_or_metrics(fresh_bus: Bus, tmp_path: Path, desk: DeskProcess) -> None:
    clients_file = tmp_path / "agency-clients.yaml"
    tokens = write_clients(
        clients_file,
        {"anpr": ("uk-bf", "publish"), "old": ("uk-bf", "publish"), "iraq": ("iq-bgc", "publish"), "scraper": ("*", "metrics")},
        revoked=frozenset({"old"}),
    )
    agency = ServiceProcess(
        fresh_bus,
        tmp_path,
        "agency",
        ["-v", "agency", "serve", "--agency", "uk-bf", "--clients", str(clients_file), "--metrics-auth", "token"],
    ).start()
    try:
        url = f"{agency.url}/v1/events/sighting"
        good = SAMPLES[("uk-bf", "sighting")]
        assert request("POST", url, [good], token=tokens["anpr"])[0] == 202
        HttpSender({"uk-bf": agency.url}, {"uk-bf": tokens["anpr"]})("uk-bf", "sighting", [good])  # the simulator's way
        with pytest.raises(RuntimeError, match="401"):
            HttpSender({"uk-bf": agency.url}, {"uk-bf": "bba_wrong"})("uk-bf", "sighting", [good])
        assert request("POST", url, [{**good, "tlp": "PURPLE"}], token=tokens["anpr"])[0] == 422
        assert request("POST", url, [good], token=tokens["old"])[0] == 401
        assert request("POST", url, [good], token=tokens["iraq"])[0] == 403
        assert request("POST", url, [good], token=tokens["scraper"])[0] == 403
        # a client that wrongly puts its token in the URL: refused, and the URL's query is never logged
        assert request("POST", f"{url}?access_token={tokens['anpr']}", [good])[0] == 401
        assert request("GET", f"{agency.url}/metrics")[0] == 401
        status, agency_metrics = request("GET", f"{agency.url}/metrics", token=tokens["scraper"])
        assert status == 200

        officer = desk.tokens["ana"]
        assert request("GET", desk.url + "/api/v1/me", token=officer)[0] == 200
        assert request("GET", desk.url + "/api/v1/alerts?min_severity=HIGH", token=officer)[0] == 200
        assert request("GET", desk.url + "/api/v1/me", token=desk.tokens["gone"])[0] == 401
        assert request("GET", desk.url + "/api/v1/me", token=officer[:-2] + "xx")[0] == 401
        assert request("GET", desk.url + f"/api/v1/alerts?token={officer}", token=officer)[0] == 200
        desk_metrics = desk.metrics()
    finally:
        agency.stop()
    agency_log, desk_log = agency.log_path.read_text(), desk.log_path.read_text()
    assert re.search(r"POST /v1/events/sighting 202 anpr@uk-bf", agency_log), agency_log[-2000:]
    assert re.search(r"GET /api/v1/me 200 ana@uk-bf", desk_log), desk_log[-2000:]
    secrets = {**tokens, **{f"officer {name}": token for name, token in desk.tokens.items()}}
    secrets["officer ana, mistyped"] = officer[:-2] + "xx"
    for name, token in secrets.items():
        for where, text in [
            ("agency log", agency_log),
            ("desk log", desk_log),
            ("agency /metrics", agency_metrics),
            ("desk /metrics", desk_metrics),
        ]:
            assert token not in text, f"{name}'s token in the {where}"
            assert token_digest(token) not in text, f"{name}'s token hash in the {where}"
            assert token[4:20] not in text, f"part of {name}'s token in the {where}"
