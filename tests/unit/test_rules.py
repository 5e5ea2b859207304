"""Unit tests for the correlation rules: each pattern fires, each near miss stays silent, from every perspective.

Histories are built the way the stream processor builds them (:func:`route`): every event goes to
each subject it names, one hop on to their links, and a new link back-fills each side's history.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from borderbus.catalogue import BorderPoint, Catalogue
from borderbus.config import REPO_ROOT, Settings
from borderbus_correlator.history import SubjectHistory
from borderbus_correlator.model import AlertDecision, Observation
from borderbus_correlator.rule_config import HOUR_MS, RULE_NAMES, RuleConfig, load_rule_config
from borderbus_correlator.rules import RULES, evaluate

T0 = int(datetime(2026, 5, 4, tzinfo=UTC).timestamp() * 1000)
DAY_H = 24
CFG = RuleConfig()
POINTS: dict[str, BorderPoint] = Catalogue(Settings.from_env({})).border_points
AGENCY = {"sighting": "uk-bf", "finance-flag": "uk-fiu", "case-update": "uk-nca", "platform-report": "meta-safety"}

PERSON, PERSON2 = "PERSON_DOCUMENT:IQ:A1234567", "PERSON_DOCUMENT:GB:123456789"
PHONE = "PHONE:+9647701234567"
ACCOUNT = "BANK_ACCOUNT:GB82WEST12345698765432"
WALLET = "CRYPTO_WALLET:ETH:0x52908400098527886e0f7030069857d2e4169ee7"
HANDLE = "PLATFORM_ACCOUNT:tiktok:crossings_uk"
CAR = "VEHICLE_PLATE:IQ:2145678"
BOAT = "VESSEL:IMO:9074729"


def at(hours: float) -> int:
    return T0 + round(hours * HOUR_MS)


def event(
    event_id: str,
    event_type: str,
    subjects: Iterable[str],
    hours: float,
    *,
    point: str | None = None,
    agency: str | None = None,
    **facts: Any,
) -> Observation:
    return Observation(
        event_id=event_id,
        agency=agency or AGENCY[event_type],
        event_type=event_type,
        occurred_at_ms=at(hours),
        reported_at_ms=at(hours) + 60_000,
        tlp="AMBER",
        subjects=tuple(subjects),
        border_point=point,
        facts=facts,
    )


def sighting(event_id: str, subjects: Iterable[str], hours: float, point: str, **kw: Any) -> Observation:
    return event(event_id, "sighting", subjects, hours, point=point, method="DOCUMENT_SCAN", **kw)


def flag(event_id: str, subjects: Iterable[str], hours: float, risk: int) -> Observation:
    return event(event_id, "finance-flag", subjects, hours, risk_score=risk, channel="HAWALA", amount="25000.00", currency="USD")


def case(
    event_id: str,
    status: str,
    roles: dict[str, str],
    hours: float,
    *,
    case_id: str = "NCA-2026-0042",
    network_id: str | None = None,
    warrant_ref: str | None = None,
) -> Observation:
    return event(
        event_id,
        "case-update",
        roles,
        hours,
        case_id=case_id,
        status=status,
        network_id=network_id,
        warrant_ref=warrant_ref,
        roles=roles,
    )


def report(event_id: str, subjects: Iterable[str], hours: float) -> Observation:
    return event(
        event_id,
        "platform-report",
        subjects,
        hours,
        agency="tiktok-safety",
        platform="tiktok",
        content_kind="ADVERT",
        content_ref="tt-778899",
    )


def route(events: Iterable[Observation], cfg: RuleConfig = CFG) -> dict[str, SubjectHistory]:
    """Every subject's history after the events arrive in this order, routed as the stream processor does."""
    histories: dict[str, SubjectHistory] = {}
    queue: deque[tuple[str, str | None, Observation]] = deque()
    for observation in events:
        queue.extend((subject, None, observation) for subject in observation.subjects)
        while queue:
            subject, via, item = queue.popleft()
            history = histories.setdefault(subject, SubjectHistory(subject))
            if via is None:
                new_links = history.new_links(item)
                outcome = history.add_direct(item, cfg)
                if outcome == "added":
                    queue.extend((other, subject, item) for other in history.links if other not in item.subjects)
                    queue.extend((link, subject, old) for link in new_links for old in history.direct if old is not item)
            else:
                outcome = history.add_linked(via, item, cfg)
            if outcome == "added":
                history.expire(cfg)
    return histories


def decisions(events: Iterable[Observation], subject: str, cfg: RuleConfig = CFG) -> list[AlertDecision]:
    return evaluate(route(events, cfg)[subject], cfg, POINTS)


def of_rule(found: list[AlertDecision], rule: str) -> list[AlertDecision]:
    return [decision for decision in found if decision.rule == rule]


def ids(decision: AlertDecision) -> list[str]:
    return [observation.event_id for observation in decision.evidence]


def all_decisions(histories: dict[str, SubjectHistory], cfg: RuleConfig = CFG) -> dict[str, list[dict[str, Any]]]:
    return {subject: [d.to_json() for d in evaluate(h, cfg, POINTS)] for subject, h in sorted(histories.items())}


# --------------------------------------------------------------------------- configuration


def test_the_shipped_config_keeps_the_documented_thresholds() -> None:
    """Lateness is an operating choice (the shipped file may allow more); the rule thresholds are the documented ones."""
    shipped = load_rule_config(REPO_ROOT / "ops" / "config" / "rules.yaml")
    assert dataclasses.replace(shipped, allowed_lateness_ms=CFG.allowed_lateness_ms) == RuleConfig()
    assert CFG.retention_ms == (30 * DAY_H + 6) * HOUR_MS
    assert shipped.retention_ms == 30 * DAY_H * HOUR_MS + shipped.allowed_lateness_ms


def test_every_rule_is_registered_under_its_config_name() -> None:
    assert tuple(rule.__name__ for rule in RULES) == RULE_NAMES


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("finance_risk_treshold: 70\n", "finance_risk_treshold"),
        ("rules:\n  wanted_person_sighted: true\n", "wanted_person_sighted"),
        ("rules:\n  network_convergence: maybe\n", "network_convergence"),
        ("finance_risk_threshold: 101\n", "finance_risk_threshold"),
        ("convergence_window_hours: -1\n", "convergence_window_hours"),
        ("max_observations: 2.5\n", "max_observations"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=named):
        load_rule_config(path)


def test_human_units_become_milliseconds_and_rules_switch_off(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  advert_to_action: false\nconvergence_window_hours: 1.5\nadvert_window_days: 2\n")
    cfg = load_rule_config(path)
    assert cfg.convergence_window_ms == 5_400_000 and cfg.advert_window_ms == 48 * HOUR_MS
    assert cfg.enabled_rules == frozenset(RULE_NAMES) - {"advert_to_action"}


def test_a_disabled_rule_stays_silent() -> None:
    events = [case("w", "WARRANT_ISSUED", {PERSON: "ORGANISER"}, 0, warrant_ref="W-1"), sighting("s", [PERSON], 1, "GB-LHR")]
    assert of_rule(decisions(events, PERSON), "wanted_subject_sighted")
    cfg = dataclasses.replace(CFG, enabled_rules=CFG.enabled_rules - {"wanted_subject_sighted"})
    assert decisions(events, PERSON, cfg) == []


# --------------------------------------------------------------------------- 1. wanted_subject_sighted


WARRANT = case("w1", "WARRANT_ISSUED", {PERSON: "ORGANISER", PHONE: "ORGANISER"}, 0, warrant_ref="W-42")


def test_wanted_subject_sighted_fires_on_a_sighting_after_the_warrant() -> None:
    events = [WARRANT, sighting("s1", [PERSON], 5, "GB-LHR", agency="uk-bf")]
    (alert,) = of_rule(decisions(events, PERSON), "wanted_subject_sighted")
    assert alert.alert_key == f"wanted_subject_sighted|NCA-2026-0042|W-42|{PERSON}"
    assert (alert.severity, alert.score, alert.subjects, alert.border_point) == ("CRITICAL", 1.0, (PERSON,), "GB-LHR")
    assert ids(alert) == ["w1", "s1"]
    for fact in (
        PERSON,
        "ORGANISER",
        "W-42",
        "NCA-2026-0042",
        "GB-LHR",
        "London Heathrow",
        "2026-05-04 05:00 UTC",
        "uk-bf",
        "5.0 h",
    ):
        assert fact in alert.summary


def test_wanted_subject_sighted_is_the_same_alert_from_a_linked_subject() -> None:
    """The phone's history sees the person's sighting through the warrant's link: same key, same evidence."""
    histories = route([WARRANT, sighting("s1", [PERSON], 5, "GB-LHR"), sighting("s2", [PERSON], 9, "GB-DOV")])
    by_person = of_rule(evaluate(histories[PERSON], CFG, POINTS), "wanted_subject_sighted")
    by_phone = of_rule(evaluate(histories[PHONE], CFG, POINTS), "wanted_subject_sighted")
    assert [d.alert_key for d in by_phone] == [d.alert_key for d in by_person]
    assert ids(by_phone[0]) == ids(by_person[0]) == ["w1", "s1", "s2"]
    assert by_person[0].border_point == "GB-DOV"


@pytest.mark.parametrize(
    "events",
    [
        pytest.param(
            [
                WARRANT,
                case("x", "WARRANT_WITHDRAWN", {PERSON: "ORGANISER"}, 2, warrant_ref="W-42"),
                sighting("s1", [PERSON], 5, "GB-LHR"),
            ],
            id="withdrawn before the sighting",
        ),
        pytest.param(
            [WARRANT, case("x", "CLOSED", {PERSON: "ORGANISER"}, 2), sighting("s1", [PERSON], 5, "GB-LHR")],
            id="case closed before the sighting",
        ),
        pytest.param([WARRANT, sighting("s1", [PERSON], -1, "GB-LHR")], id="sighting before the warrant"),
        pytest.param(
            [
                case("w", "WARRANT_ISSUED", {PERSON: "ORGANISER", PERSON2: "WITNESS"}, 0, warrant_ref="W-7"),
                sighting("s1", [PERSON2], 5, "GB-LHR"),
            ],
            id="a witness is not wanted",
        ),
    ],
)
def test_wanted_subject_sighted_near_misses_stay_silent(events: list[Observation]) -> None:
    for subject in {s for e in events for s in e.subjects}:
        assert of_rule(decisions(events, subject), "wanted_subject_sighted") == []


def test_a_withdrawal_after_the_sighting_does_not_undo_the_alert() -> None:
    events = [
        WARRANT,
        sighting("s1", [PERSON], 5, "GB-LHR"),
        case("x", "WARRANT_WITHDRAWN", {PERSON: "ORGANISER"}, 6),
        sighting("s2", [PERSON], 8, "GB-LHR"),
    ]
    (alert,) = of_rule(decisions(events, PERSON), "wanted_subject_sighted")
    assert ids(alert) == ["w1", "s1"]


# --------------------------------------------------------------------------- 2. flagged_money_meets_border


def test_flagged_money_meets_border_fires_in_both_orders_and_perspectives() -> None:
    for gap, word in ((10, "after"), (-10, "before")):
        events = [flag("f1", [ACCOUNT, PERSON], 0, 80), sighting("s1", [PERSON], gap, "IQ-IBK", agency="krg-bca")]
        histories = route(sorted(events, key=lambda o: o.occurred_at_ms))
        found = [of_rule(evaluate(histories[s], CFG, POINTS), "flagged_money_meets_border") for s in (PERSON, ACCOUNT)]
        assert [d.alert_key for d in found[0]] == [d.alert_key for d in found[1]] == ["flagged_money_meets_border|f1"]
        alert = found[0][0]
        assert (alert.severity, alert.score, alert.border_point) == ("HIGH", 0.8, "IQ-IBK")
        assert alert.subjects == tuple(sorted((ACCOUNT, PERSON)))
        assert ids(alert) == (["f1", "s1"] if gap > 0 else ["s1", "f1"])
        assert ids(found[1][0]) == ids(alert)
        for fact in ("uk-fiu", "HAWALA", "25000.00 USD", "risk score 80", "krg-bca", "IQ-IBK", f"10.0 h {word}"):
            assert fact in alert.summary


def test_flagged_money_reaches_a_subject_linked_to_the_flagged_one() -> None:
    """The flag names the account and a phone; the person declared that phone once, then crossed without it."""
    events = [
        sighting("s0", [PERSON, PHONE], -30, "IQ-RBA"),
        flag("f1", [ACCOUNT, PHONE], 0, 90),
        sighting("s1", [PERSON], 20, "IQ-IBK"),
    ]
    histories = route(events)
    for subject in (PERSON, PHONE, ACCOUNT):
        (alert,) = of_rule(evaluate(histories[subject], CFG, POINTS), "flagged_money_meets_border")
        assert alert.alert_key == "flagged_money_meets_border|f1"
    by_person = of_rule(evaluate(histories[PERSON], CFG, POINTS), "flagged_money_meets_border")[0]
    assert ids(by_person) == ["s0", "f1", "s1"]
    by_account = of_rule(evaluate(histories[ACCOUNT], CFG, POINTS), "flagged_money_meets_border")[0]
    assert ids(by_account) == ["s0", "f1"], "two hops from the account: the alert book merges the person's view"


@pytest.mark.parametrize(
    "events",
    [
        pytest.param([flag("f1", [ACCOUNT, PERSON], 0, 69), sighting("s1", [PERSON], 10, "IQ-IBK")], id="risk 69"),
        pytest.param([flag("f1", [ACCOUNT, PERSON], 0, 90), sighting("s1", [PERSON], 73, "IQ-IBK")], id="73 h after"),
        pytest.param([flag("f1", [ACCOUNT, PERSON], 0, 90), sighting("s1", [PERSON], -73, "IQ-IBK")], id="73 h before"),
        pytest.param([flag("f1", [ACCOUNT], 0, 95), sighting("s1", [PERSON, PHONE], 5, "IQ-IBK")], id="holder not named"),
    ],
)
def test_flagged_money_near_misses_stay_silent(events: list[Observation]) -> None:
    cfg = dataclasses.replace(CFG, allowed_lateness_ms=100 * HOUR_MS)
    for subject in {s for e in events for s in e.subjects}:
        assert of_rule(decisions(events, subject, cfg), "flagged_money_meets_border") == []


def test_flagged_money_boundaries_are_inclusive() -> None:
    events = [flag("f1", [ACCOUNT, PERSON], 0, 70), sighting("s1", [PERSON], 72, "IQ-IBK")]
    (alert,) = of_rule(decisions(events, PERSON), "flagged_money_meets_border")
    assert ids(alert) == ["f1", "s1"]


# --------------------------------------------------------------------------- 3. network_convergence


DRIVERS = case("c1", "SUBJECT_ADDED", {PERSON: "DRIVER", PERSON2: "DRIVER"}, -48, network_id="OCG-7")


def test_network_convergence_fires_for_two_members_at_one_point() -> None:
    events = [DRIVERS, sighting("s1", [PERSON, PHONE], 0, "GB-DNG"), sighting("s2", [PERSON2], 3, "GB-DNG", agency="uk-bf")]
    histories = route(events)
    found = [of_rule(evaluate(histories[s], CFG, POINTS), "network_convergence") for s in (PERSON, PERSON2)]
    assert [d.alert_key for d in found[0]] == [d.alert_key for d in found[1]] == ["network_convergence|OCG-7|GB-DNG|s1"]
    alert = found[0][0]
    assert ids(alert) == ids(found[1][0]) == ["c1", "s1", "s2"]
    assert (alert.severity, alert.subjects, alert.border_point) == ("HIGH", tuple(sorted((PERSON, PERSON2))), "GB-DNG")
    for fact in ("2 members", "network OCG-7", PERSON, PERSON2, "GB-DNG", "Dungeness", "3.0 h", "2026-05-04 00:00 UTC"):
        assert fact in alert.summary


def test_network_convergence_groups_by_case_without_a_network_and_chains_within_the_window() -> None:
    crew = case("c1", "OPENED", {PERSON: "SUSPECT", PERSON2: "FACILITATOR", CAR: "DRIVER"}, -5, case_id="CPS-9")
    events = [
        crew,
        sighting("s1", [PERSON], 0, "GB-DOV"),
        sighting("s2", [CAR], 6, "GB-DOV"),
        sighting("s3", [PERSON2], 12, "GB-DOV"),
    ]
    (alert,) = of_rule(decisions(events, CAR), "network_convergence")
    assert alert.alert_key == "network_convergence|CPS-9|GB-DOV|s1"
    assert ids(alert) == ["c1", "s1", "s2", "s3"] and "3 members of case CPS-9" in alert.summary


@pytest.mark.parametrize(
    "events",
    [
        pytest.param([DRIVERS, sighting("s1", [PERSON], 0, "GB-DNG"), sighting("s2", [PERSON2], 7, "GB-DNG")], id="7 h apart"),
        pytest.param([DRIVERS, sighting("s1", [PERSON], 0, "GB-DNG"), sighting("s2", [PERSON2], 1, "GB-DOV")], id="two points"),
        pytest.param(
            [
                case("c1", "OPENED", {PERSON: "SUSPECT", PHONE: "SUSPECT"}, -5, network_id="OCG-7"),
                sighting("s1", [PERSON, PHONE], 0, "GB-DNG"),
                sighting("s2", [PERSON], 2, "GB-DNG"),
                sighting("s3", [PHONE], 3, "GB-DNG"),
            ],
            id="one member and their phone",
        ),
        pytest.param(
            [
                case("c1", "OPENED", {PERSON: "DRIVER", CAR: "DRIVER"}, -5, network_id="OCG-7"),
                sighting("s1", [CAR, PERSON], 0, "GB-DOV"),
                sighting("s2", [CAR], 1, "GB-DOV"),
            ],
            id="one member and the car they drive",
        ),
        pytest.param(
            [
                case("c1", "OPENED", {PERSON: "VICTIM", PERSON2: "VICTIM"}, -5, network_id="OCG-7"),
                sighting("s1", [PERSON], 0, "GB-DNG"),
                sighting("s2", [PERSON2], 1, "GB-DNG"),
            ],
            id="victims are not members",
        ),
    ],
)
def test_network_convergence_near_misses_stay_silent(events: list[Observation]) -> None:
    for subject in {s for e in events for s in e.subjects}:
        assert of_rule(decisions(events, subject), "network_convergence") == []


# --------------------------------------------------------------------------- 4. implausible_movement


def test_implausible_movement_fires_on_impossible_speed() -> None:
    events = [sighting("r1", [CAR, PERSON], 1, "IQ-IBK", agency="krg-bca"), sighting("r2", [CAR], 4, "GR-EVR", agency="gr-hcg")]
    (alert,) = of_rule(decisions(events, CAR), "implausible_movement")
    assert alert.alert_key == f"implausible_movement|{CAR}|2026-05-04"
    assert (alert.severity, alert.score, alert.subjects, alert.border_point) == ("MEDIUM", 1.0, (CAR,), "GR-EVR")
    assert ids(alert) == ["r1", "r2"]
    for fact in (
        "krg-bca at IQ-IBK",
        "2026-05-04 01:00 UTC",
        "gr-hcg at GR-EVR",
        "1465 km",
        "3.0 h",
        "488 km/h",
        "limit 120 km/h",
    ):
        assert fact in alert.summary
    assert of_rule(decisions(events, PERSON), "implausible_movement") == [], "only the vehicle's own history judges it"


def test_implausible_movement_fires_on_three_points_in_a_day_and_vessels_have_their_own_limit() -> None:
    touring = [sighting("r1", [CAR], 0, "GB-DOV"), sighting("r2", [CAR], 5, "GB-CQF"), sighting("r3", [CAR], 11, "GB-DNG")]
    (alert,) = of_rule(decisions(touring, CAR), "implausible_movement")
    assert ids(alert) == ["r1", "r2", "r3"] and alert.score == 0.5
    assert "3 distinct border points (GB-DOV, GB-CQF, GB-DNG) within 11.0 h from 2026-05-04 00:00 UTC, by uk-bf" in alert.summary

    leg = [("r1", "GR-LES", 0), ("r2", "GR-SMI", 2)]  # 154 km in 2 h: 77 km/h
    assert of_rule(decisions([sighting(i, [CAR], h, p) for i, p, h in leg], CAR), "implausible_movement") == []
    (boat,) = of_rule(decisions([sighting(i, [BOAT], h, p) for i, p, h in leg], BOAT), "implausible_movement")
    assert boat.alert_key == f"implausible_movement|{BOAT}|2026-05-04" and "limit 60 km/h" in boat.summary


def test_implausible_movement_separates_episodes_by_day() -> None:
    events = [
        sighting("r1", [CAR], 0, "IQ-IBK"),
        sighting("r2", [CAR], 3, "GR-EVR"),
        sighting("r3", [CAR], 96, "GR-EVR"),
        sighting("r4", [CAR], 99, "IQ-IBK"),
    ]
    found = of_rule(decisions(events, CAR, dataclasses.replace(CFG, allowed_lateness_ms=200 * HOUR_MS)), "implausible_movement")
    assert [(d.alert_key.rsplit("|", 1)[1], ids(d)) for d in found] == [
        ("2026-05-04", ["r1", "r2"]),
        ("2026-05-08", ["r3", "r4"]),
    ]


@pytest.mark.parametrize(
    "legs",
    [
        pytest.param([("IQ-IBK", 0), ("IQ-PSH", 1), ("IQ-IBK", 2)], id="plausible speed"),
        pytest.param([("GB-DOV", 0), ("GB-CQF", 4), ("GB-DOV", 8), ("GB-CQF", 12)], id="two points in a day"),
        pytest.param([("GB-DOV", 0), ("GB-CQF", 13), ("GB-DNG", 26)], id="three points over 26 h"),
    ],
)
def test_implausible_movement_near_misses_stay_silent(legs: list[tuple[str, float]]) -> None:
    events = [sighting(f"r{i}", [CAR], hours, point) for i, (point, hours) in enumerate(legs)]
    assert (
        of_rule(decisions(events, CAR, dataclasses.replace(CFG, allowed_lateness_ms=48 * HOUR_MS)), "implausible_movement") == []
    )


# --------------------------------------------------------------------------- 5. advert_to_action


ADVERT = report("a1", [HANDLE, PHONE, WALLET], 0)


def test_advert_to_action_fires_from_the_contact_that_reappears() -> None:
    events = [ADVERT, sighting("s1", [PERSON, PHONE], 40, "GR-EVR", agency="gr-hcg")]
    histories = route(events, dataclasses.replace(CFG, allowed_lateness_ms=48 * HOUR_MS))
    found = {subject: of_rule(evaluate(h, CFG, POINTS), "advert_to_action") for subject, h in histories.items()}
    (alert,) = found.pop(PHONE)
    assert all(not alerts for alerts in found.values()), "the other contacts and the person stay silent"
    assert alert.alert_key == f"advert_to_action|a1|{PHONE}"
    assert (alert.severity, alert.subjects, alert.border_point) == ("MEDIUM", tuple(sorted((PERSON, PHONE))), "GR-EVR")
    assert ids(alert) == ["a1", "s1"]
    for fact in (PHONE, "tiktok advert tt-778899", "tiktok-safety", PERSON, "gr-hcg", "GR-EVR", "1.7 days later"):
        assert fact in alert.summary


def test_advert_to_action_follows_a_link_but_not_a_fellow_contact() -> None:
    cfg = dataclasses.replace(CFG, allowed_lateness_ms=60 * DAY_H * HOUR_MS)
    events = [
        sighting("s0", [PERSON, PHONE], -24, "IQ-IBK"),  # the phone's owner
        ADVERT,
        sighting("s1", [PERSON], 5 * DAY_H, "GR-EVR"),
        flag("f1", [ACCOUNT, WALLET], 6 * DAY_H, 40),
    ]
    histories = route(events, cfg)
    (by_phone,) = of_rule(evaluate(histories[PHONE], cfg, POINTS), "advert_to_action")
    assert ids(by_phone) == ["a1", "s1"]
    (by_wallet,) = of_rule(evaluate(histories[WALLET], cfg, POINTS), "advert_to_action")
    assert (by_wallet.alert_key, ids(by_wallet)) == (f"advert_to_action|a1|{WALLET}", ["a1", "f1"])
    assert f"uk-fiu flagged a transfer naming {ACCOUNT}, {WALLET} (risk score 40)" in by_wallet.summary


@pytest.mark.parametrize(
    "later",
    [
        pytest.param(sighting("s1", [PERSON, PHONE], 31 * DAY_H, "GR-EVR"), id="31 days later"),
        pytest.param(sighting("s1", [PERSON, PHONE], -2, "GR-EVR"), id="before the report"),
        pytest.param(sighting("s1", [PERSON, PHONE], 0, "GR-EVR"), id="at the same time"),
    ],
)
def test_advert_to_action_near_misses_stay_silent(later: Observation) -> None:
    cfg = dataclasses.replace(CFG, allowed_lateness_ms=40 * DAY_H * HOUR_MS)
    for subject in (PHONE, WALLET, HANDLE, PERSON):
        assert of_rule(decisions([ADVERT, later], subject, cfg), "advert_to_action") == []


def test_advert_to_action_window_is_inclusive() -> None:
    cfg = dataclasses.replace(CFG, allowed_lateness_ms=40 * DAY_H * HOUR_MS)
    (alert,) = of_rule(decisions([ADVERT, sighting("s1", [PHONE], 30 * DAY_H, "GR-EVR")], PHONE, cfg), "advert_to_action")
    assert ids(alert) == ["a1", "s1"]


# --------------------------------------------------------------------------- order and perspective independence


def everything() -> list[Observation]:
    """All five patterns, and their quiet neighbours, in one world."""
    return [
        WARRANT,
        sighting("s1", [PERSON, PHONE], 5, "GB-LHR"),
        flag("f1", [ACCOUNT, PERSON], 2, 85),
        flag("f2", [ACCOUNT], 3, 69),
        DRIVERS,
        sighting("s2", [PERSON2], 8, "GB-LHR"),
        sighting("r1", [CAR, PERSON2], 1, "IQ-IBK"),
        sighting("r2", [CAR], 4, "GR-EVR"),
        sighting("r3", [CAR], 9, "GR-LES"),
        ADVERT,
        sighting("s3", [BOAT, HANDLE], 30, "GR-SMI"),
    ]


def test_arrival_order_does_not_change_any_decision() -> None:
    cfg = dataclasses.replace(CFG, allowed_lateness_ms=7 * DAY_H * HOUR_MS)
    expected = all_decisions(route(sorted(everything(), key=lambda o: o.occurred_at_ms), cfg), cfg)
    assert {d["rule"] for found in expected.values() for d in found} == set(RULE_NAMES) - {"hub_detected"}
    rng = random.Random(7)
    for _ in range(25):
        shuffled = everything()
        rng.shuffle(shuffled)
        assert all_decisions(route(shuffled, cfg), cfg) == expected


def test_alert_keys_never_name_the_history_that_found_them() -> None:
    """The same finding from several histories: one key, never an alert that only one perspective can name."""
    cfg = dataclasses.replace(CFG, allowed_lateness_ms=7 * DAY_H * HOUR_MS)
    found: dict[str, set[str]] = {}
    for subject, history in route(everything(), cfg).items():
        for decision in evaluate(history, cfg, POINTS):
            found.setdefault(decision.alert_key, set()).add(subject)
            assert {o.event_id for o in decision.evidence} <= {o.event_id for o in everything()}
    assert len(found[f"wanted_subject_sighted|NCA-2026-0042|W-42|{PERSON}"]) >= 2
    assert len(found["flagged_money_meets_border|f1"]) >= 2
    assert found["network_convergence|OCG-7|GB-LHR|s1"] >= {PERSON, PERSON2}


def test_evaluation_is_repeatable_on_a_json_round_trip() -> None:
    history = route(everything())[PERSON]
    again = SubjectHistory.from_json(history.to_json())
    assert evaluate(again, CFG, POINTS) == evaluate(history, CFG, POINTS)


def test_every_pair_of_perspectives_agrees_on_shared_keys() -> None:
    """Where two histories find the same key, they agree on rule, severity and border point."""
    cfg = dataclasses.replace(CFG, allowed_lateness_ms=7 * DAY_H * HOUR_MS)
    by_key: dict[str, list[AlertDecision]] = {}
    for history in route(everything(), cfg).values():
        for decision in evaluate(history, cfg, POINTS):
            by_key.setdefault(decision.alert_key, []).append(decision)
    for key, found in by_key.items():
        for a, b in itertools.combinations(found, 2):
            assert (a.rule, a.severity) == (b.rule, b.severity), key


def test_a_rule_is_skipped_only_where_it_could_not_find_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    """``find_by_rule`` runs a rule only on histories holding the event types it needs (``NEEDS``): on every
    history along the way to every finding, skipping changes nothing; a lone sighting runs no rule that joins events."""
    from borderbus_correlator import rules

    cfg = dataclasses.replace(CFG, allowed_lateness_ms=7 * DAY_H * HOUR_MS)
    events = sorted(everything(), key=lambda o: o.occurred_at_ms)
    for end in range(1, len(events) + 1):
        for history in route(events[:end], cfg).values():
            every = (rules.hub_detected,) if rules.is_hub(history, cfg) else RULES
            found = {name: list(decisions) for name, decisions in rules.find_by_rule(history, cfg, POINTS).items()}
            assert found == {rule.__name__: rule(history, cfg, POINTS) for rule in every}

    ran: list[str] = []

    def counted(rule: rules.Rule) -> rules.Rule:
        def run(history: SubjectHistory, cfg: RuleConfig, points: Any) -> list[AlertDecision]:
            ran.append(rule.__name__)
            return rule(history, cfg, points)

        run.__name__ = rule.__name__
        return run

    monkeypatch.setattr(rules, "RULES", tuple(counted(rule) for rule in RULES))
    monkeypatch.setattr(rules, "hub_detected", counted(rules.hub_detected))
    rules._runnable.cache_clear()
    lone = route([sighting("x1", [PERSON], 1, "GB-DOV")])[PERSON]
    assert set(rules.find_by_rule(lone, cfg, POINTS)) == set(RULE_NAMES)
    rules._runnable.cache_clear()
    assert ran == ["implausible_movement", "hub_detected"]


@pytest.mark.parametrize("seed", range(6))
def test_movement_from_its_newest_sighting_equals_a_full_run(seed: int) -> None:
    """``moves_with_newest`` derives the movement findings from those without the newest sighting (merging
    episodes the new offences reach); step by step over random journeys, it must equal a full run."""
    from borderbus_correlator.rules import implausible_movement, moves_with_newest

    rng = random.Random(seed)
    cfg = dataclasses.replace(CFG, distinct_points_per_day=rng.choice([2, 3]))
    history, at, changed = SubjectHistory(CAR), 0.0, 0
    found = implausible_movement(history, cfg, POINTS)
    for index in range(60):
        at += rng.choice([0, 0.1, 1, 3, 10, 24, 40]) * rng.random() * 2
        point = rng.choice(["GB-DOV", "GB-DNG", "IQ-IBK", "GR-EVR", "GR-LES", None])
        newest = sighting(f"m{index:02d}", [CAR], at, point) if point else event(f"m{index:02d}", "sighting", [CAR], at)
        history.add_direct(newest, cfg)
        full = implausible_movement(history, cfg, POINTS)
        derived = moves_with_newest(history, newest, found, cfg, POINTS)
        assert derived is None or list(derived) == full, index
        changed += derived is not None and list(derived) != list(found)
        found = full
    assert changed, "the journeys must make new offences"
