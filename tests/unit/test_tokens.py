"""The one token mechanism (agency clients and officers), and the failed-sign-in limiter: pure logic."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from borderbus.catalogue import CatalogueError
from borderbus.http_security import FailedAuthLimiter
from borderbus.tokens import bearer_token, token_digest
from borderbus_agency.clients import AgencyClient, AgencyClients, client_entry, new_client_token
from borderbus_desk.officers import OfficerDirectory, new_token, officer_entry

AGENCIES = {"uk-bf", "iq-bgc"}


def _clients(tmp_path: Path, entries: list[dict[str, object]]) -> AgencyClients:
    path = tmp_path / "clients.yaml"
    path.write_text(yaml.safe_dump({"clients": entries}))
    return AgencyClients.load(path, AGENCIES)


def test_a_client_token_authenticates_its_client_and_only_its_hash_is_stored(tmp_path: Path) -> None:
    token, other = new_client_token(), new_client_token()
    entry = client_entry("uk-bf", "anpr-dov-2", token)
    assert token not in str(entry) and entry["token_sha256"] == token_digest(token)
    clients = _clients(tmp_path, [entry, {**client_entry("uk-bf", "old", other), "revoked": True}])
    assert clients.authenticate(token).principal == AgencyClient("uk-bf", "anpr-dov-2", "publish")
    assert clients.authenticate(other).failure == "revoked_token"
    assert clients.authenticate("bba_guess").failure == "invalid_token"
    assert clients.authenticate(None).failure == "missing_token"
    assert len(clients) == 1
    assert token not in repr(clients) and entry["token_sha256"] not in repr(clients)


def test_scopes_keep_a_scraper_from_publishing(tmp_path: Path) -> None:
    scraper = AgencyClient("*", "prometheus", "metrics")
    assert scraper.may("uk-bf", "metrics") and not scraper.may("uk-bf", "publish")
    anpr = AgencyClient("uk-bf", "anpr", "publish")
    assert anpr.may("uk-bf", "publish") and not anpr.may("iq-bgc", "publish") and not anpr.may("uk-bf", "metrics")
    with pytest.raises(CatalogueError, match="agency: unknown agency"):
        _clients(tmp_path, [client_entry("*", "everyone", new_client_token())])  # '*' only for metrics


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"agency": "uk-bf", "client": "x", "token_sha256": "abc"}, r"clients\[0\]\.token_sha256: expected 64 hex"),
        ({"agency": "nowhere", "client": "x", "token_sha256": "a" * 64}, r"clients\[0\]\.agency: unknown agency"),
        ({"agency": "uk-bf", "token_sha256": "a" * 64}, r"clients\[0\]\.client: missing"),
        ({"agency": "uk-bf", "client": "x", "token_sha256": "a" * 64, "revoked": "yes"}, r"revoked: expected true or false"),
        ({"agency": "uk-bf", "client": "x", "token_sha256": "a" * 64, "scope": "admin"}, r"scope: expected one of"),
    ],
)
def test_a_bad_clients_file_names_the_entry_and_field(tmp_path: Path, entry: dict[str, object], message: str) -> None:
    with pytest.raises(CatalogueError, match=message):
        _clients(tmp_path, [entry])


def test_officers_use_the_same_mechanism_with_revocation(tmp_path: Path) -> None:
    token, revoked = new_token(), new_token()
    path = tmp_path / "officers.yaml"
    entries = [officer_entry("ana", "uk-bf", token), {**officer_entry("bo", "uk-bf", revoked), "revoked": True}]
    path.write_text(yaml.safe_dump({"officers": entries}))
    officers = OfficerDirectory.load(path, AGENCIES)
    officer = officers.authenticate(token)
    assert officer is not None and officer.officer_id == "ana"
    assert officers.authenticate(revoked) is None
    assert officers.check(revoked).failure == "revoked_token"
    assert token.startswith("bbo_") and new_client_token().startswith("bba_")


@pytest.mark.parametrize(
    ("header", "token"),
    [("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", None), ("Bearer", None), ("", None), (None, None)],
)
def test_bearer_header_parsing(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def test_the_limiter_refuses_an_address_after_its_limit_until_the_window_passes() -> None:
    now = [1000.0]
    limiter = FailedAuthLimiter(limit=3, window=60, clock=lambda: now[0])
    for _ in range(3):
        assert limiter.retry_after("10.0.0.1") is None
        limiter.record_failure("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") == 60
    assert limiter.retry_after("10.0.0.2") is None  # per address
    now[0] += 59.5
    assert limiter.retry_after("10.0.0.1") == 1
    now[0] += 1
    assert limiter.retry_after("10.0.0.1") is None


def test_the_limiter_forgets_the_oldest_addresses_beyond_its_bound() -> None:
    limiter = FailedAuthLimiter(limit=1, window=60, max_addresses=2)
    for address in ("a", "b", "c"):
        limiter.record_failure(address)
    assert limiter.retry_after("a") is None
    assert limiter.retry_after("b") is not None and limiter.retry_after("c") is not None


def test_agency_token_prints_the_token_once_and_an_entry_with_its_hash_only(capsys: pytest.CaptureFixture[str]) -> None:
    from borderbus_cli.main import main

    assert main(["agency", "token", "--agency", "uk-bf", "--client", "anpr-dov-2"]) == 0
    out, err = capsys.readouterr()
    token = err.rsplit("shown once: ", 1)[1].strip()
    assert token.startswith("bba_") and token not in out
    [entry] = yaml.safe_load(out)
    assert entry == {"agency": "uk-bf", "client": "anpr-dov-2", "token_sha256": token_digest(token)}
    assert main(["agency", "token", "--agency", "*", "--client", "prometheus", "--scope", "metrics"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)[0]["scope"] == "metrics"


def test_token_files_for_the_simulator_are_private_and_round_trip(tmp_path: Path) -> None:
    from borderbus_simulator.driver import read_tokens, write_tokens

    tokens = {"uk-bf": new_client_token(), "iq-bgc": new_client_token()}
    write_tokens(tmp_path / "tokens.txt", tokens)
    assert (tmp_path / "tokens.txt").stat().st_mode & 0o777 == 0o600
    assert read_tokens(tmp_path / "tokens.txt") == tokens
