"""The duty desk's web console in real headless Chromium against a real desk process and the real broker.

An alert published to alerts.shared must appear on an officer's screen without a reload; an officer's
Acknowledge must come back through Kafka and the SSE stream, to their screen and a colleague's; an alert
for another agency must never show.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from borderbus.bus import Bus
from browser import Browser, Page
from console_pages import desk_for_module, sign_in
from desk_process import AlertWriter, DeskProcess

pytestmark = pytest.mark.broker

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO_ROOT / ".local" / "test-artifacts" / "console.png"
OFFICER, COLLEAGUE, OUTSIDER = ("duty.officer.dover", "uk-bf"), ("duty.officer.nca", "uk-nca"), ("duty.officer.rabia", "iq-bgc")


@pytest.fixture(scope="module")
def desk(bus: Bus, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeskProcess]:
    """A running desk with officers of three agencies (automatic escalation after 600 s: longer than these tests)."""
    officers = dict([OFFICER, COLLEAGUE, OUTSIDER])
    yield from desk_for_module(bus, tmp_path_factory, officers, name="console", roles={OFFICER[0]: ["silence", "supervisor"]})


def _evidence(agency: str, event_type: str, occurred_at: datetime, border_point: str | None, summary: str) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "agency": agency,
        "event_type": event_type,
        "occurred_at": occurred_at,
        "border_point": border_point,
        "summary": summary,
    }


def _alert(alert_id: str, allowed_agencies: list[str], summary: str) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    seen = now - timedelta(minutes=4)
    return {
        "alert_id": alert_id,
        "version": 1,
        "rule": "wanted_subject_sighted",
        "severity": "HIGH",
        "score": 0.92,
        "created_at": now,
        "updated_at": now,
        "tlp": "AMBER",
        "allowed_agencies": allowed_agencies,
        "subjects": [
            {"kind": "VEHICLE_PLATE", "id": "GB:BB24XYZ", "display_name": None},
            {"kind": "PERSON_DOCUMENT", "id": "GB:533401872", "display_name": None},
        ],
        "border_point": "GB-DOV",
        "window_start": seen - timedelta(hours=30),
        "window_end": seen,
        "evidence": [
            _evidence(
                "uk-nca", "case-update", seen - timedelta(hours=30), None, "Warrant issued for GB:533401872 (operation KESTREL)"
            ),
            _evidence("uk-bf", "sighting", seen, "GB-DOV", "ANPR: GB:BB24XYZ at Dover eastern docks, lane 4"),
        ],
        "summary": summary,
    }


def _sign_in(page: Page, desk: DeskProcess, officer: str, agency: str) -> None:
    sign_in(page, desk, officer)
    page.wait_for(f"document.querySelector('#whoami').textContent === {json.dumps(f'{officer} ({agency})')}")
    page.wait_for("document.querySelector('#connection').textContent === 'live'")


def _row(alert_id: str) -> str:
    return f'tr[data-alert-id="{alert_id}"]'


def _text(selector: str) -> str:
    return f"document.querySelector({json.dumps(selector)})?.textContent?.trim()"


def test_a_wrong_token_is_refused_with_a_clear_message(desk: DeskProcess, browser: Browser) -> None:
    page = browser.new_page()
    page.goto(f"{desk.url}/")
    page.type("#token", "bbo_not-a-real-token")
    page.click("#sign-in")
    message = page.wait_for(_text("#signin-error"))
    assert "401" in message and "not recognised" in message
    assert page.evaluate("document.querySelector('#desk').hidden") is True


def test_new_alert_appears_live_and_an_acknowledgement_comes_back_through_kafka(
    bus: Bus, desk: DeskProcess, browser: Browser
) -> None:
    officer_page, colleague_page = browser.new_page(), browser.new_page()
    _sign_in(officer_page, desk, *OFFICER)
    _sign_in(colleague_page, desk, *COLLEAGUE)

    visible_id, hidden_id = f"console-test-{uuid.uuid4()}", f"console-test-hidden-{uuid.uuid4()}"
    AlertWriter(bus).publish(
        _alert(hidden_id, ["iq-bgc"], "Only for the Iraqi Border Guard Command"),
        _alert(visible_id, ["uk-bf", "uk-nca"], "Vehicle GB:BB24XYZ of wanted person GB:533401872 at Dover"),
    )

    # appears without a reload, on both officers' screens, newest first
    for page in (officer_page, colleague_page):
        page.wait_for(f"document.querySelector({json.dumps(_row(visible_id))}) !== null", timeout=60)
    row = _row(visible_id)
    assert officer_page.evaluate(f"document.querySelector({json.dumps(row)}).dataset.status") == "new"
    assert officer_page.evaluate(_text(f"{row} .status")) == "new"
    updated = officer_page.evaluate("[...document.querySelectorAll('#alert-rows tr')].map(r => r.dataset.updated)")
    assert updated == sorted(updated, reverse=True)
    assert officer_page.evaluate(_text(f"{row} .severity")) == "HIGH"

    officer_page.click(row)
    officer_page.wait_for(f"document.querySelector('#detail').dataset.alertId === {json.dumps(visible_id)}")
    assert officer_page.evaluate(_text("#detail-tlp")) == "TLP:AMBER"
    assert officer_page.evaluate("document.querySelectorAll('#detail-evidence li').length") == 2
    assert officer_page.evaluate("document.querySelector('button[data-action=ACKNOWLEDGE]').disabled") is False

    # the server's validation message is shown inline, naming the field
    officer_page.click('button[data-action="RESOLVE"]')
    officer_page.wait_for("document.querySelector('#action-message').dataset.error === 'note_required'")
    assert "note" in officer_page.evaluate(_text("#action-message"))

    officer_page.click('button[data-action="ACKNOWLEDGE"]')
    acknowledged = f"document.querySelector({json.dumps(row)})?.dataset.status === 'acknowledged'"
    officer_page.wait_for(acknowledged, timeout=30)
    colleague_page.wait_for(acknowledged, timeout=30)  # another officer's screen learns it only from the stream
    assert colleague_page.evaluate(_text(f"{row} .status")) == "acknowledged"
    officer_page.wait_for("document.querySelector('button[data-action=ACKNOWLEDGE]').disabled === true")
    assert officer_page.evaluate("document.querySelector('button[data-action=ESCALATE]').disabled") is False
    history = officer_page.evaluate("[...document.querySelectorAll('#detail-actions tr')].map(r => r.textContent)")
    assert len(history) == 1 and "Acknowledge" in history[0] and OFFICER[0] in history[0]
    assert officer_page.evaluate("document.querySelector('#detail-actions tr').dataset.action") == "ACKNOWLEDGE"

    # the other agency's alert reached the desk (its own officer can read it) but never either screen
    assert desk.request(OUTSIDER[0], "GET", f"/api/v1/alerts/{hidden_id}")[0] == 200
    time.sleep(1)
    for page in (officer_page, colleague_page):
        assert page.evaluate(f"document.querySelector({json.dumps(_row(hidden_id))})") is None
        assert hidden_id not in page.evaluate("document.body.innerHTML")

    officer_page.evaluate("document.querySelector('#detail').scrollTop = 0")
    officer_page.screenshot(SCREENSHOT)
    for page in (officer_page, colleague_page):
        assert not [line for line in page.console if line.startswith(("exception", "error"))], page.console


def test_the_console_reconnects_after_the_desk_restarts_and_catches_up(bus: Bus, desk: DeskProcess, browser: Browser) -> None:
    page = browser.new_page()
    _sign_in(page, desk, *OFFICER)
    page.evaluate("window.sameDocument = true")  # gone if anything reloaded the page
    desk.stop()
    page.wait_for("document.querySelector('#connection').textContent === 'reconnecting'", timeout=30)

    missed_id = f"console-test-missed-{uuid.uuid4()}"
    AlertWriter(bus).publish(_alert(missed_id, ["uk-bf"], "Published while the desk was down"))
    desk.start()
    page.wait_for("document.querySelector('#connection').textContent === 'live'", timeout=60)
    page.wait_for(f"document.querySelector({json.dumps(_row(missed_id))})?.dataset.status === 'new'", timeout=30)
    assert page.evaluate("window.sameDocument === true && !document.querySelector('#desk').hidden")


def test_the_console_says_why_an_alert_was_retracted_or_reopened(bus: Bus, desk: DeskProcess, browser: Browser) -> None:
    page = browser.new_page()
    _sign_in(page, desk, *OFFICER)
    pulled, raised = f"console-test-retracted-{uuid.uuid4()}", f"console-test-reopened-{uuid.uuid4()}"
    writer = AlertWriter(bus)
    writer.publish(_alert(pulled, ["uk-bf"], "Warrant-backed sighting"), _alert(raised, ["uk-bf"], "Flagged money at Dover"))
    page.wait_for(f"document.querySelector({json.dumps(_row(raised))}) !== null", timeout=60)
    assert desk.request(OFFICER[0], "POST", f"/api/v1/alerts/{raised}/actions", {"action": "ACKNOWLEDGE"})[0] == 200
    retraction = {"reason": "warrant_withdrawn", "detail": "The warrant was withdrawn by the court", "event_ids": ["ev-court-1"]}
    writer.publish(
        {
            **_alert(pulled, ["uk-bf"], "Warrant-backed sighting"),
            "version": 2,
            "status": "RETRACTED",
            "change": "RETRACTED",
            "retraction": retraction,
        },
        {
            **_alert(raised, ["uk-bf"], "Flagged money at Dover"),
            "version": 2,
            "severity": "CRITICAL",
            "change": "SEVERITY_RAISED",
            "previous_severity": "HIGH",
        },
    )
    page.wait_for(f"document.querySelector({json.dumps(_row(pulled))})?.dataset.status === 'retracted'", timeout=30)
    page.click(_row(pulled))
    notice = page.wait_for(_text("#detail-notices [data-notice=retracted]"))
    assert "warrant withdrawn" in notice and "withdrawn by the court" in notice and "ev-court-1" in notice  # the reason's label
    assert page.evaluate("document.querySelector('#detail-notices .retraction-reason').dataset.reason") == "warrant_withdrawn"
    assert page.evaluate("document.querySelector('button[data-action=ACKNOWLEDGE]').disabled") is True

    page.wait_for(f"document.querySelector({json.dumps(_row(raised))})?.dataset.status === 'new'", timeout=30)
    page.click(_row(raised))
    notice = page.wait_for(_text("#detail-notices [data-notice=reopened]"))
    assert notice == "reopened: severity raised from HIGH to CRITICAL in version 2"
    assert not [line for line in page.console if line.startswith(("exception", "error"))], page.console


def test_a_silence_keeps_a_matching_alert_off_the_live_list_until_it_is_expired_and_reads_are_audited(
    bus: Bus, desk: DeskProcess, browser: Browser
) -> None:
    page = browser.new_page()
    _sign_in(page, desk, *OFFICER)
    page.wait_for("document.querySelector('#silence-form').hidden === false")
    assert page.evaluate("document.querySelector('#audit-section').hidden") is False  # a supervisor

    rule = "advert_to_action"
    page.type("#silence-rule", rule)
    page.evaluate("document.querySelector('#silence-minutes').value = '4'")  # ends within the 5-minute warning
    page.click("#silence-create")
    page.wait_for("document.querySelector('#silence-message').dataset.error === 'invalid_silence'")
    assert "comment" in page.evaluate(_text("#silence-message"))
    page.type("#silence-comment", "Platform report backlog being re-triaged")
    page.click("#silence-create")
    silence_id = page.wait_for("document.querySelector('#silence-rows tr')?.dataset.silenceId")
    banner = page.wait_for("!document.querySelector('#silence-banner').hidden && " + _text("#silence-banner"))
    assert silence_id in banner and "end soon" in banner

    quiet, loud = f"console-test-silenced-{uuid.uuid4()}", f"console-test-loud-{uuid.uuid4()}"
    writer = AlertWriter(bus)
    writer.publish({**_alert(quiet, ["uk-bf"], "Advert contact seen at Dover"), "rule": rule})

    def kept_silenced() -> bool:
        status, body = desk.request(OFFICER[0], "GET", "/api/v1/alerts?silenced=true")
        return status == 200 and quiet in {alert["alert_id"] for alert in body["alerts"]}

    deadline = time.monotonic() + 60
    while not kept_silenced():
        assert time.monotonic() < deadline, "the silenced alert never reached the desk"
        time.sleep(0.2)
    writer.publish(_alert(loud, ["uk-bf"], "Wanted person at Dover"))
    page.wait_for(f"document.querySelector({json.dumps(_row(loud))}) !== null", timeout=60)
    assert page.evaluate(f"document.querySelector({json.dumps(_row(quiet))})") is None

    page.click(f'button[data-expire="{silence_id}"]')
    page.wait_for(f"document.querySelector({json.dumps(_row(quiet))})?.dataset.status === 'new'", timeout=30)
    page.wait_for("document.querySelector('#silence-banner').hidden === true")
    assert page.evaluate(f"document.querySelector('#silence-rows tr[data-silence-id={json.dumps(silence_id)}]')") is None

    page.click(_row(quiet))  # the detail view reads the alert from the desk: audited
    page.wait_for(f"document.querySelector('#detail').dataset.alertId === {json.dumps(quiet)}")
    page.click('button[data-action="ACKNOWLEDGE"]')
    page.wait_for(f"document.querySelector({json.dumps(_row(quiet))})?.dataset.status === 'acknowledged'", timeout=30)

    page.type("#audit-alert", quiet)
    page.click("#audit-search")
    whats = "[...document.querySelectorAll('#audit-rows tr')].map(r => r.dataset.what + '/' + r.dataset.officer)"
    wanted = json.dumps([f"alert.read/{OFFICER[0]}", f"alert.action/{OFFICER[0]}"])
    seen = page.wait_for(f"(() => {{ const w = {whats}; return {wanted}.every(x => w.includes(x)) && w; }})()")
    token = json.dumps(desk.tokens[OFFICER[0]])
    for method in ("DELETE", "PUT", "POST"):
        status = page.evaluate(
            f"fetch('/api/v1/audit', {{method: '{method}', headers: {{Authorization: 'Bearer ' + {token}}}}}).then(r => r.status)"
        )
        assert status == 405, method
    page.click("#audit-search")  # still all there
    page.wait_for(f"(() => {{ const w = {whats}; return w.length >= {len(seen)}; }})()")
    assert page.evaluate("document.querySelector('#audit-section button.delete, #audit-section [data-delete]')") is None
    assert not [line for line in page.console if line.startswith(("exception", "error"))], page.console
