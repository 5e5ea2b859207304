"""The console's pictures, languages and keyboard, in real headless Chromium against a real desk and the real broker.

The alerts are the correlator's own: a simulator scenario run through the in-memory pipeline and the alert
book, published to alerts.shared as the alert publisher would. The map must draw every located event and
the route between them in time order; the graph every subject; an Arabic officer's console is right to
left with the summary rendered from the alert's phrases and identifiers left to right inside it, and so are
its silences and audit trail; j/k move through the list and `a` acknowledges through Kafka.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from borderbus.bus import Bus
from borderbus.catalogue import EVENT_TYPES
from borderbus.events import EventPreparer
from borderbus_correlator.alert_book import AlertBook, AlertState
from borderbus_correlator.observation import observe
from borderbus_correlator.pipeline import InMemoryPipeline
from borderbus_correlator.rule_config import load_rule_config
from borderbus_simulator.scenario import build_scenario
from browser import Browser, Page
from console_pages import desk_for_module, sign_in
from desk_process import AlertWriter, DeskProcess

pytestmark = pytest.mark.broker

ARTIFACTS = Path(__file__).resolve().parents[2] / ".local" / "test-artifacts"
END_MS = 1_795_939_200_000  # 2026-11-29T00:00:00Z
HOUR_MS = 3_600_000
SUPERVISOR_AR = "supervisor.ar"  # an Arabic officer who may silence alerts and read the audit trail
SWITCH = "(() => { const s = document.querySelector('#locale'); s.value = '%s'; s.dispatchEvent(new Event('change')); })()"


def _without_money(text: str) -> str:
    return re.sub(r"of \S*?[\d,]+\.\d+(?: [A-Z]{3})?", "of AMOUNT", text)


def _simulated_alerts(bus: Bus) -> list[dict[str, Any]]:
    """Every standing alert of a seeded scenario as Avro Alert records, newest version of each."""
    config_dir = bus.settings.config_dir
    scenario = build_scenario(
        seed=3, event_count=300, end_ms=END_MS, agencies_path=config_dir / "agencies.yaml",
        border_points_path=config_dir / "border_points.yaml",
    )  # fmt: skip
    schemas = {event_type: bus.schemas.latest(event_type) for event_type in EVENT_TYPES}
    preparers = {code: EventPreparer(bus.catalogue, schemas, agency) for code, agency in bus.catalogue.agencies.items()}
    prepared = [(e, preparers[e.agency].prepare(e.event_type, e.body, now_ms=END_MS)) for e in scenario.events]
    observations = [observe(event.agency, event.event_type, result.record) for event, result in prepared]
    catalogue, cfg = bus.catalogue, load_rule_config(config_dir / "rules.yaml")
    book = AlertBook(catalogue.agencies, catalogue.border_points, cfg)
    pipeline = InMemoryPipeline(cfg, catalogue.border_points, book)
    pipeline.process(observations)
    standing: list[AlertState] = [state for state in pipeline.alerts.values() if state.status == "OPEN"]
    return [book.to_record(state) for state in sorted(standing, key=lambda state: state.alert_id)]


def _places(record: dict[str, Any]) -> int:
    return sum(1 for item in record["evidence"] if item["border_point"] or item["latitude"] is not None)


@pytest.fixture(scope="module")
def alerts(bus: Bus) -> dict[str, dict[str, Any]]:
    """The simulator's alerts, published; ``map`` is the one with most located events, ``graph`` the one with most links."""
    records = _simulated_alerts(bus)
    assert records, "the scenario raised no alert"
    AlertWriter(bus).publish(*records)
    chosen = {
        "map": max(records, key=lambda r: (_places(r), r["alert_id"])),
        "graph": max(records, key=lambda r: (max(len(e["subjects"]) for e in r["evidence"]), len(r["subjects"]), r["alert_id"])),
        "phrased": next(r for r in records if r["summary_phrases"] and r["rule"] != "hub_detected"),
    }
    return chosen


def _agency(alerts: dict[str, dict[str, Any]]) -> str:
    """An agency that may see every chosen alert."""
    common = set.intersection(*(set(record["allowed_agencies"]) for record in alerts.values()))
    return sorted(common - {"*"})[0] if common - {"*"} else "uk-bf"


@pytest.fixture(scope="module")
def desk(bus: Bus, alerts: dict[str, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeskProcess]:
    agency = _agency(alerts)
    officers = {"officer.en": agency, "officer.ar": agency, SUPERVISOR_AR: agency}
    yield from desk_for_module(
        bus, tmp_path_factory, officers, name="pictures",
        locales={"officer.ar": "ar", SUPERVISOR_AR: "ar"}, roles={SUPERVISOR_AR: ["silence", "supervisor"]},
    )  # fmt: skip


def _open(page: Page, alert_id: str) -> None:
    row = json.dumps(f'tr[data-alert-id="{alert_id}"]')
    page.wait_for(f"document.querySelector({row}) !== null", timeout=60)
    page.click(f'tr[data-alert-id="{alert_id}"]')
    page.wait_for(f"document.querySelector('#detail').dataset.alertId === {json.dumps(alert_id)}")


def _no_errors(page: Page) -> None:
    assert not [line for line in page.console if line.startswith(("exception", "error"))], page.console


def test_the_map_draws_every_located_event_and_the_route_in_time_order(
    desk: DeskProcess, browser: Browser, alerts: dict[str, dict[str, Any]]
) -> None:
    record = alerts["map"]
    page = browser.new_page()
    sign_in(page, desk, "officer.en")
    _open(page, record["alert_id"])
    page.wait_for("document.querySelector('#detail-map svg.map') !== null", timeout=30)
    located = sorted(
        (item for item in record["evidence"] if item["border_point"] or item["latitude"] is not None),
        key=lambda item: (item["occurred_at"], item["event_id"]),
    )
    drawn = page.evaluate(
        "[...document.querySelectorAll('#detail-map .marker')].map(m => [m.dataset.eventId, Number(m.dataset.order)])"
    )
    assert sorted(event_id for event_id, _ in drawn) == sorted(item["event_id"] for item in located)
    by_order = [event_id for event_id, _ in sorted(drawn, key=lambda pair: pair[1])]
    times = {item["event_id"]: item["occurred_at"] for item in located}
    assert [times[event_id] for event_id in by_order] == sorted(times.values())
    if len(located) > 1:
        assert page.evaluate("Number(document.querySelector('#detail-map .route').dataset.stops)") == len(located)
    assert page.evaluate("document.querySelectorAll('#detail-map path.country').length") > 0  # the offline base map
    points = {item["border_point"] for item in located if item["border_point"]}
    used = page.evaluate("[...document.querySelectorAll('#detail-map .border-point.used')].map(p => p.dataset.borderPoint)")
    assert points <= set(used)
    page.evaluate("document.querySelector('#map-title').scrollIntoView()")
    page.screenshot(ARTIFACTS / "console-map.png")
    _no_errors(page)


def test_the_graph_draws_every_subject_and_a_subject_filters_the_list(
    desk: DeskProcess, browser: Browser, alerts: dict[str, dict[str, Any]]
) -> None:
    record = alerts["graph"]
    page = browser.new_page()
    sign_in(page, desk, "officer.en")
    _open(page, record["alert_id"])
    page.wait_for(f"document.querySelector('#detail-graph').dataset.alertId === {json.dumps(record['alert_id'])}", timeout=30)
    subjects = {f"{s['kind']}:{s['id']}" for s in record["subjects"]}
    subjects |= {key for item in record["evidence"] for key in item["subjects"]}
    drawn = page.evaluate("[...document.querySelectorAll('#detail-graph .node-subject')].map(n => n.dataset.subject)")
    assert set(drawn) == subjects
    named_together = [item for item in record["evidence"] if len(set(item["subjects"])) > 1]
    if named_together:
        assert page.evaluate("document.querySelectorAll('#detail-graph .link-evidence').length") > 0
        evidence_ids = " ".join(
            page.evaluate("[...document.querySelectorAll('#detail-graph .link-evidence')].map(l => l.dataset.evidence)")
        )
        assert all(item["event_id"] in evidence_ids for item in named_together)
    page.evaluate("document.querySelector('#graph-title').scrollIntoView()")
    page.screenshot(ARTIFACTS / "console-graph.png")

    # zoom changes the view; choosing a subject filters the list to the alerts that name it
    before = page.evaluate("document.querySelector('#detail-graph .viewport').getAttribute('transform')")
    page.click('#detail-graph [data-graph-control="zoom_in"]')
    assert page.evaluate("document.querySelector('#detail-graph .viewport').getAttribute('transform')") != before
    subject = f"{record['subjects'][0]['kind']}:{record['subjects'][0]['id']}"
    page.click(f'#detail-graph .node-subject[data-subject="{subject}"]')
    page.wait_for(f"document.querySelector('#filter-subject').value === {json.dumps(subject)}")
    # one look at both, taken when the filtered snapshot is in: the unfiltered list holds the row until that
    # snapshot replaces it, and while it is replaced the alerts are empty (every one names the subject) and the
    # rows not drawn yet; two looks in a row could each see another moment
    names_subject = f"a.subjects.some(s => `${{s.kind}}:${{s.id}}` === {json.dumps(subject)})"
    alert_id = json.dumps(record["alert_id"])
    listed = page.wait_for(
        "(() => { const alerts = BorderbusConsole.state.alerts;"
        " const rows = [...document.querySelectorAll('#alert-rows tr')].map(r => r.dataset.alertId);"
        f" return alerts.has({alert_id}) && [...alerts.values()].every(a => {names_subject}) && rows.includes({alert_id})"
        " ? rows : null; })()",
        timeout=30,
    )
    assert record["alert_id"] in listed
    _no_errors(page)


def test_an_arabic_officer_gets_a_right_to_left_console_with_the_summary_in_arabic(
    desk: DeskProcess, browser: Browser, alerts: dict[str, dict[str, Any]]
) -> None:
    record = alerts["phrased"]
    page = browser.new_page()
    sign_in(page, desk, "officer.ar")
    assert page.evaluate("[document.documentElement.lang, document.documentElement.dir]") == ["ar", "rtl"]
    assert page.evaluate("getComputedStyle(document.querySelector('.panes')).direction") == "rtl"
    _open(page, record["alert_id"])
    summary = page.wait_for("document.querySelector('#detail-summary .summary-text[data-rendered=phrases]')?.textContent")
    assert any("\u0600" <= char <= "\u06ff" for char in summary), summary  # Arabic letters
    assert record["summary"] not in summary  # not the English text
    ids = page.evaluate(
        "[...document.querySelectorAll('#detail-summary bdi.ident')]"
        ".map(b => [b.textContent, b.dir, getComputedStyle(b).direction])"
    )
    assert ids and all(direction == "ltr" and attribute == "ltr" for _, attribute, direction in ids)
    subjects = {s["id"] for s in record["subjects"]} | {k.split(":", 1)[1] for e in record["evidence"] for k in e["subjects"]}
    agencies = {e["agency"] for e in record["evidence"]}
    assert {text for text, _, _ in ids} & (subjects | agencies | {k for e in record["evidence"] for k in e["subjects"]})
    assert page.evaluate("document.querySelector('#detail-summary bdi.time') !== null")
    assert page.evaluate("document.querySelector('#connection').textContent") == "مباشر"
    page.evaluate("document.querySelector('#detail').scrollTop = 0")
    page.screenshot(ARTIFACTS / "console-arabic.png")

    # switchable: English, left to right, and the same summary as the correlator wrote it
    page.evaluate(SWITCH % "en")
    page.wait_for("document.documentElement.dir === 'ltr'")
    english = page.wait_for("document.querySelector('#detail-summary .summary-text')?.textContent")
    assert _without_money(english) == _without_money(record["summary"])  # Intl writes amounts its own way (£6,496.64)
    page.evaluate(SWITCH % "ar")
    page.wait_for("document.documentElement.dir === 'rtl'")
    _no_errors(page)


def _evidence(n: int, start: datetime) -> dict[str, Any]:
    return {
        "event_id": f"00000000-0000-4000-8000-{n:012d}",
        "agency": "uk-bf",
        "event_type": "sighting",
        "occurred_at": start + timedelta(hours=2 * n),
        "border_point": ["GB-DOV", "GB-CQF", "GB-DNG"][n % 3],
        "summary": f"uk-bf sighting {n}",
        "subjects": ["VEHICLE_PLATE:GB:KB24XYZ"],
        "latitude": None,
        "longitude": None,
    }


def _long_alert(alert_id: str, agency: str, items: int) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(hours=2 * items)
    return {
        "alert_id": alert_id, "version": 1, "rule": "implausible_movement", "severity": "MEDIUM", "score": 0.5,
        "created_at": now, "updated_at": now, "tlp": "AMBER", "allowed_agencies": [agency],
        "subjects": [{"kind": "VEHICLE_PLATE", "id": "GB:KB24XYZ", "display_name": None}], "border_point": "GB-DOV",
        "window_start": start, "window_end": start + timedelta(hours=2 * (items - 1)),
        "evidence": [_evidence(n, start) for n in range(items)], "summary": "A vehicle crossing many times",
        "summary_phrases": [],
    }  # fmt: skip


def test_keyboard_moves_through_alerts_and_acknowledges_and_a_long_timeline_stays_readable(
    bus: Bus, desk: DeskProcess, browser: Browser, alerts: dict[str, dict[str, Any]]
) -> None:
    agency = _agency(alerts)
    first, second = f"keys-{uuid.uuid4()}", f"keys-{uuid.uuid4()}"
    AlertWriter(bus).publish(_long_alert(first, agency, 60), _long_alert(second, agency, 3))
    page = browser.new_page()
    sign_in(page, desk, "officer.en")
    for alert_id in (first, second):
        page.wait_for(f"document.querySelector('tr[data-alert-id=\"{alert_id}\"]') !== null", timeout=60)
    order = page.evaluate("[...document.querySelectorAll('#alert-rows tr')].map(r => r.dataset.alertId)")

    page.evaluate("document.activeElement.blur()")
    page.press("j")
    page.wait_for(f"document.querySelector('#detail').dataset.alertId === {json.dumps(order[0])}")
    page.press("j")
    page.wait_for(f"document.querySelector('#detail').dataset.alertId === {json.dumps(order[1])}")
    assert page.evaluate("document.activeElement.dataset.alertId") == order[1]
    page.press("k")
    page.wait_for(f"document.querySelector('#detail').dataset.alertId === {json.dumps(order[0])}")

    # the 60-event timeline: every event drawn, grouped by day in a scrolling region of its own
    steps = order.index(first)
    for _ in range(steps):
        page.press("j")
    page.wait_for(f"document.querySelector('#detail').dataset.alertId === {json.dumps(first)}")
    assert page.evaluate("document.querySelectorAll('#detail-evidence li.evidence-item').length") == 60
    assert page.evaluate("document.querySelectorAll('#detail-evidence .day-group').length") >= 5
    scroller = "document.querySelector('#detail-evidence .timeline-scroll')"
    assert page.evaluate(f"{scroller}.scrollHeight > {scroller}.clientHeight")
    page.evaluate("document.querySelector('#evidence-title').scrollIntoView()")
    page.screenshot(ARTIFACTS / "console-timeline.png")

    page.press("a")
    page.wait_for(f"document.querySelector('tr[data-alert-id=\"{first}\"]')?.dataset.status === 'acknowledged'", timeout=30)
    assert desk.request("officer.en", "GET", f"/api/v1/alerts/{first}")[1]["acknowledged_by"] == "officer.en"
    page.press("?")
    assert page.evaluate("document.querySelector('#keys-help').hidden") is False
    _no_errors(page)


ARABIC = re.compile("[\u0600-\u06ff]")
LTR_OF = "[...document.querySelectorAll(%s)].map(b => [b.textContent, b.dir, getComputedStyle(b).direction])"


def _ltr(page: Page, selector: str) -> list[list[str]]:
    found: list[list[str]] = page.evaluate(LTR_OF % json.dumps(selector))
    assert found, selector
    assert all(attribute == "ltr" and direction == "ltr" for _, attribute, direction in found), found
    return found


def test_an_arabic_officer_reads_evidence_places_notices_and_retractions_in_arabic(
    bus: Bus, desk: DeskProcess, browser: Browser, alerts: dict[str, dict[str, Any]]
) -> None:
    agency = _agency(alerts)
    record = alerts["map"]
    retracted, reraised = f"retracted-{uuid.uuid4()}", f"reraised-{uuid.uuid4()}"
    withdrawn = {"reason": "warrant_withdrawn", "detail": "uk-nca withdrew the warrant in case CPS-9.", "event_ids": ["ev-77"]}
    AlertWriter(bus).publish(
        {**_long_alert(retracted, agency, 2), "status": "RETRACTED", "change": "RETRACTED", "retraction": withdrawn},
        {**_long_alert(reraised, agency, 2), "status": "RETRACTED", "change": "RETRACTED", "retraction": withdrawn},
        {**_long_alert(reraised, agency, 3), "version": 2, "change": "RERAISED"},
    )
    names = {code: point.name_in("ar") for code, point in bus.catalogue.border_points.items()}
    page = browser.new_page()
    sign_in(page, desk, "officer.ar")

    # evidence: each line in Arabic from the event's facts, the agency and identifiers left to right; places by Arabic name
    _open(page, record["alert_id"])
    lines = page.wait_for("[...document.querySelectorAll('#detail-evidence .evidence-summary')].map(s => s.textContent)")
    assert len(lines) == len(record["evidence"]) and all(ARABIC.search(line) for line in lines), lines
    assert not {item["summary"] for item in record["evidence"]} & set(lines)
    _ltr(page, "#detail-evidence .evidence-summary bdi.agency")
    points = {item["border_point"] for item in record["evidence"] if item["border_point"]}
    wheres = page.evaluate("[...document.querySelectorAll('#detail-evidence .where[data-border-point]')].map(w => w.textContent)")
    assert points and any(names[code] in text and code in text for code in points for text in wheres), wheres
    _ltr(page, "#detail-evidence .where bdi.place")
    expected = sorted({names[code] for code in points})
    labels = page.wait_for(  # the map draws after its base map is fetched, so after the evidence list
        "(() => { const labels = [...document.querySelectorAll('#detail-map .border-point.used .point-label')]"
        f".map(l => l.textContent); return {json.dumps(expected)}.every(n => labels.includes(n)) ? labels : null; }})()"
    )
    assert set(expected) <= set(labels), labels
    headings = page.evaluate("[...document.querySelectorAll('#detail-evidence .day-heading')].map(h => h.textContent)")
    assert all(ARABIC.search(heading) for heading in headings)
    page.evaluate("document.querySelector('#evidence-title').scrollIntoView()")
    page.screenshot(ARTIFACTS / "console-arabic-evidence.png")

    # English: the same lines the correlator wrote, and a day of one event is "1 event"
    page.evaluate(SWITCH % "en")
    page.wait_for("document.documentElement.dir === 'ltr'")
    english = page.wait_for(
        "[...document.querySelectorAll('#detail-evidence li.evidence-item')]"
        ".map(li => [li.dataset.eventId, li.querySelector('.evidence-summary').textContent])"
    )
    assert dict(english) == {item["event_id"]: item["summary"] for item in record["evidence"]}
    groups = page.evaluate(
        "[...document.querySelectorAll('#detail-evidence .day-group')]"
        ".map(g => [g.querySelector('.day-heading').textContent, g.querySelectorAll('li').length])"
    )
    assert all(heading.endswith(f"— {count} event" if count == 1 else f"— {count} events") for heading, count in groups)
    page.evaluate(SWITCH % "ar")
    page.wait_for("document.documentElement.dir === 'rtl'")

    # retraction: the reason's Arabic label (its code kept), the detail as recorded and labelled so, event ids left to right
    _open(page, retracted)
    reason = page.wait_for("document.querySelector('#detail-notices [data-notice=retracted] .retraction-reason')?.textContent")
    assert reason == "سُحبت مذكرة التوقيف"
    assert page.evaluate("document.querySelector('#detail-notices .retraction-reason').dataset.reason") == "warrant_withdrawn"
    detail = page.evaluate("document.querySelector('#detail-notices .retraction-detail').textContent")
    assert withdrawn["detail"] in detail and ARABIC.search(detail.replace(withdrawn["detail"], ""))
    as_recorded = page.evaluate("document.querySelector('#detail-notices .retraction-detail [lang=en]').textContent")
    assert as_recorded == withdrawn["detail"]
    assert ["ev-77", "ltr", "ltr"] in _ltr(page, "#detail-notices [data-notice=retracted] bdi")

    # a notice from its code: re-raised after the retraction, in Arabic, the version number left to right
    _open(page, reraised)
    notice = page.wait_for("document.querySelector('#detail-notices [data-code=\"reopened.reraised\"]')?.textContent")
    assert ARABIC.search(notice) and "re-raised" not in notice, notice
    assert ["2", "ltr", "ltr"] in _ltr(page, '#detail-notices [data-code="reopened.reraised"] bdi')
    page.evaluate("document.querySelector('#detail').scrollTop = 0")
    page.screenshot(ARTIFACTS / "console-arabic-notice.png")
    page.evaluate(SWITCH % "en")
    page.wait_for("document.documentElement.dir === 'ltr'")
    english_notice = page.wait_for("document.querySelector('#detail-notices [data-code=\"reopened.reraised\"]')?.textContent")
    assert english_notice == desk.request("officer.en", "GET", f"/api/v1/alerts/{reraised}")[1]["reopened"]
    assert english_notice == "reopened: re-raised in version 2 after it was retracted"
    _no_errors(page)


TEXT_OF = "document.querySelector(%s).textContent"
TEXTS = "[...document.querySelectorAll(%s)].map(n => n.textContent.trim()).filter(t => t)"


def _texts(page: Page, selector: str) -> list[str]:
    found: list[str] = page.evaluate(TEXTS % json.dumps(selector))
    assert found, selector
    return found


def test_an_arabic_supervisor_silences_and_reads_the_audit_trail_in_arabic(desk: DeskProcess) -> None:
    # a browser of its own: after the other tests' consoles, the shared one holds all six connections Chromium
    # gives one host (even with those tabs navigated away) and the silence's POST would wait for a free one
    with Browser.launch() as browser:
        _arabic_silences_and_audit(desk, browser.new_page())


def _arabic_silences_and_audit(desk: DeskProcess, page: Page) -> None:
    sign_in(page, desk, SUPERVISOR_AR)
    page.wait_for("document.querySelector('#silence-form').hidden === false")
    assert page.evaluate("document.querySelector('#audit-section').hidden") is False

    # every heading, label, option, button and column of the silences and audit parts is Arabic
    assert page.evaluate("document.querySelector('#silences-title').textContent") == "كتم التنبيهات"
    for selector in (
        "#silence-form label > span", "#silence-form option", "#silence-create", "#silences-section th",
        "#audit-title", "#audit-form label > span", "#audit-search", "#audit-section th", "#filter-silenced option",
    ):  # fmt: skip
        texts = _texts(page, selector)
        assert all(ARABIC.search(text) for text in texts), (selector, texts)
    assert page.evaluate("document.querySelector('#silence-form').getAttribute('aria-label')") == "كتم جديد"

    # a silence of a subject no alert names, ending within the warning: its state, the marker and the banner in Arabic
    subject = f"PHONE:+00-{uuid.uuid4().hex[:12]}"
    page.type("#silence-subject", subject)
    page.evaluate("document.querySelector('#silence-minutes').value = '4'")
    page.type("#silence-comment", "اختبار الكتم")
    page.click("#silence-create")
    said = page.wait_for("document.querySelector('#silence-message.ok, #silence-message.error')?.textContent")
    assert page.evaluate("document.querySelector('#silence-message').classList.contains('ok')"), said
    silence_id = page.wait_for("document.querySelector('#silence-rows tr')?.dataset.silenceId")
    row = f"#silence-rows tr[data-silence-id={json.dumps(silence_id)}]"
    assert page.evaluate(f"document.querySelector({json.dumps(row)}).dataset.state") == "active"
    state = page.evaluate(f"document.querySelector({json.dumps(row + ' td.state')}).textContent")
    assert state == "نشط (ينتهي قريبًا)", state
    assert [silence_id, "ltr", "ltr"] in _ltr(page, f"{row} td:first-child bdi")
    assert [SUPERVISOR_AR, "ltr", "ltr"] in _ltr(page, f"{row} bdi.ident")
    assert [subject, "ltr", "ltr"] in _ltr(page, f"{row} .matcher bdi")
    assert _ltr(page, f"{row} bdi.time")
    matcher = page.evaluate(f"document.querySelector({json.dumps(row + ' .matcher')}).textContent")
    assert matcher == f"الطرف: {subject}", matcher
    message = page.wait_for("document.querySelector('#silence-message.ok')?.textContent")
    assert message == f"حالة الكتم {silence_id} الآن: نشط.", message
    banner = page.wait_for("!document.querySelector('#silence-banner').hidden && " + TEXT_OF % "'#silence-banner'")
    assert banner.startswith("الكتم الذي أنشأته ") and silence_id in banner and "سينتهي قريبًا" in banner, banner
    assert [silence_id, "ltr", "ltr"] in _ltr(page, "#silence-banner bdi.ident")

    # the audit trail: kinds by their Arabic labels, the code on data-what, officers and addresses left to right
    page.type("#audit-officer", SUPERVISOR_AR)
    page.click("#audit-search")
    page.wait_for("document.querySelector('#audit-rows .audit-what[data-what=\"silence.create\"]') !== null", timeout=30)
    counted = page.evaluate("document.querySelector('#audit-message').textContent")
    assert ARABIC.search(counted) and "(للقراءة فقط)" in counted, counted
    whats = dict(
        page.evaluate("[...document.querySelectorAll('#audit-rows .audit-what')].map(w => [w.dataset.what, w.textContent])")
    )
    assert whats["silence.create"] == "إنشاء كتم" and whats["signin"] == "تسجيل الدخول", whats
    assert [SUPERVISOR_AR, "ltr", "ltr"] in _ltr(page, "#audit-rows bdi.ident")
    assert [silence_id, "ltr", "ltr"] in _ltr(page, "#audit-rows td.mono bdi.ident")
    assert _ltr(page, "#audit-rows bdi.time")
    outcomes = page.evaluate("[...document.querySelectorAll('#audit-rows td[data-outcome=ok]')].map(td => td.textContent)")
    assert outcomes and set(outcomes) == {"تم"}, outcomes
    page.evaluate("document.querySelector('#silences-section').scrollIntoView()")
    page.screenshot(ARTIFACTS / "console-arabic-silences.png")

    # switched to English: the same words as before the console spoke Arabic, then back
    page.evaluate(SWITCH % "en")
    page.wait_for("document.documentElement.dir === 'ltr'")
    assert page.evaluate("document.querySelector('#silences-title').textContent") == "Silences"
    assert page.evaluate(f"document.querySelector({json.dumps(row + ' td.state')}).textContent") == "active (ends soon)"
    assert page.evaluate(f"document.querySelector({json.dumps(row + ' .matcher')}).textContent") == f"subject={subject}"
    assert page.evaluate("document.querySelector('#silence-message').textContent") == f"Silence {silence_id} is active."
    banner = page.evaluate("document.querySelector('#silence-banner').textContent")
    assert banner.startswith(f"Your silence {silence_id} (ends ") and banner.endswith(
        "UTC) will end soon: matching open alerts will then be shown, delivered and escalated again."
    ), banner
    assert re.fullmatch(r"\d+ entr(y|ies) \(read-only\)", page.evaluate("document.querySelector('#audit-message').textContent"))
    assert page.evaluate(TEXT_OF % "'#audit-rows .audit-what[data-what=\"silence.create\"]'") == "silence.create"
    assert page.evaluate(TEXT_OF % "'#audit-title'") == "Audit trail (supervisors: who looked at or did what)"
    page.evaluate(SWITCH % "ar")
    page.wait_for("document.documentElement.dir === 'rtl'")
    assert page.evaluate(f"document.querySelector({json.dumps(row + ' td.state')}).textContent") == "نشط (ينتهي قريبًا)"

    # expired: said in Arabic, and the row and the banner go
    page.click(f'button[data-expire="{silence_id}"]')
    expired = json.dumps(f"انتهى الكتم {silence_id}.")
    page.wait_for(f"document.querySelector('#silence-banner').hidden && {TEXT_OF % repr('#silence-message')} === {expired}")
    assert page.evaluate(f"document.querySelector({json.dumps(row)})") is None
    _no_errors(page)
