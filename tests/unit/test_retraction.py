"""Alerts that follow the facts: every cause of a retraction, in both arrival orders, through the whole pipeline.

Each case runs the same events in two orders through :class:`InMemoryPipeline` (the correlator's
steps, no broker): the ending fact before the event it ends, and after it. Before, no alert may
stand; after, the alert that stood must be retracted with the right reason. Either way the
standing alerts are the same, which is what makes a replay after a crash equivalent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import pytest
from test_rules import BOAT, CAR, PERSON, PERSON2, PHONE, case, sighting

from borderbus.catalogue import Catalogue
from borderbus.config import Settings
from borderbus_correlator.alert_book import AlertBook, AlertState
from borderbus_correlator.model import Observation
from borderbus_correlator.pipeline import InMemoryPipeline
from borderbus_correlator.rule_config import RuleConfig

CATALOGUE = Catalogue(Settings.from_env({}))
DAY_H = 24
CFG = RuleConfig()


def run(events: Iterable[Observation], cfg: RuleConfig = CFG) -> InMemoryPipeline:
    pipeline = InMemoryPipeline(cfg, CATALOGUE.border_points, AlertBook(CATALOGUE.agencies, CATALOGUE.border_points, cfg))
    pipeline.process(events)
    return pipeline


def standing(pipeline: InMemoryPipeline) -> dict[str, frozenset[str]]:
    return {key: frozenset(a.evidence) for key, a in pipeline.alerts.items() if a.status == "OPEN"}


def retracted(pipeline: InMemoryPipeline) -> list[AlertState]:
    return [a for a in pipeline.alerts.values() if a.status == "RETRACTED"]


def both_orders(base: list[Observation], ending: Observation, reason: str) -> None:
    """``ending`` first: nothing stands and nothing was raised; ``ending`` last: the alert is retracted for ``reason``."""
    before, after = run([ending, *base]), run([*base, ending])
    assert run(base).alerts, "the base events raise an alert"
    assert standing(before) == standing(after), "the same standing alerts in either order"
    assert not before.alerts, "nothing raised when the ending fact came first"
    gone = retracted(after)
    assert gone and all(a.retraction and a.retraction["reason"] == reason for a in gone), [a.retraction for a in gone]
    assert all(ending.event_id in a.retraction["event_ids"] for a in gone if a.retraction)
    assert [v.change for v in after.versions][-1] == "RETRACTED"


WARRANT = case("w", "WARRANT_ISSUED", {PERSON: "ORGANISER"}, 0, warrant_ref="W-1")
SEEN = sighting("s", [PERSON], 10, "GB-DOV")


def test_a_withdrawn_warrant_retracts_the_wanted_alert() -> None:
    withdrawn = case("x", "WARRANT_WITHDRAWN", {PERSON: "ORGANISER"}, 5, warrant_ref="W-1")
    both_orders([WARRANT, SEEN], withdrawn, "warrant_withdrawn")


def test_a_case_closed_before_the_sighting_retracts_the_wanted_alert() -> None:
    closed = case("c", "CLOSED", {PERSON: "ORGANISER"}, 5)
    both_orders([WARRANT, SEEN], closed, "case_closed")


def test_a_case_member_removed_before_the_convergence_retracts_it() -> None:
    members = case("m", "SUBJECT_ADDED", {PERSON: "COURIER", PERSON2: "COURIER"}, 0, network_id="NET-1")
    seen = [sighting("a", [PERSON], 10, "GB-DOV"), sighting("b", [PERSON2], 11, "GB-DOV")]
    removal = dataclasses.replace(
        case("r", "SUBJECT_ADDED", {PERSON2: "COURIER"}, 5, network_id="NET-1"),
        facts={**case("r", "SUBJECT_ADDED", {PERSON2: "COURIER"}, 5, network_id="NET-1").facts, "removed": [PERSON2]},
    )
    both_orders([members, *seen], removal, "member_removed")


def test_an_agency_retracting_its_sighting_retracts_the_alert() -> None:
    retraction = dataclasses.replace(sighting("s-retract", [PERSON], 10, "GB-DOV"), revises="s", revision="RETRACT")
    both_orders([WARRANT, SEEN], retraction, "event_retracted")


def test_an_agency_correcting_its_sighting_moves_the_alert_to_the_truth() -> None:
    """The plate was misread: the corrected sighting names another vehicle, so the movement alert goes."""
    fast = [sighting("v1", [CAR], 0, "GB-DOV"), sighting("v2", [CAR], 1, "IQ-IBK")]
    corrected = dataclasses.replace(
        sighting("v2-fixed", [BOAT], 1, "IQ-IBK"), revises="v2", revision="CORRECT", revision_reaches=(CAR,)
    )
    after = run([*fast, corrected])
    before = run([corrected, *fast])
    assert standing(before) == standing(after) == {}
    assert [a.retraction["reason"] for a in retracted(after) if a.retraction] == ["event_corrected"]


def test_only_the_publishing_agency_can_revoke_an_event() -> None:
    forged = dataclasses.replace(sighting("forged", [PERSON], 10, "GB-DOV", agency="iq-moi"), revises="s", revision="RETRACT")
    assert standing(run([WARRANT, SEEN, forged])) == standing(run([WARRANT, SEEN]))


def test_a_retracted_alert_is_raised_again_by_new_evidence() -> None:
    withdrawn = case("x", "WARRANT_WITHDRAWN", {PERSON: "ORGANISER"}, 5, warrant_ref="W-1")
    early = sighting("early", [PERSON], 2, "GB-DOV")
    pipeline = run([WARRANT, SEEN, withdrawn, early])
    (alert,) = pipeline.alerts.values()
    assert alert.status == "OPEN" and alert.change == "RERAISED"
    assert set(alert.evidence) >= {"w", "early"}
    assert [v.change for v in pipeline.versions] == ["RAISED", "RETRACTED", "RERAISED"]


def test_a_warrant_200_days_old_still_alerts() -> None:
    """Long-lived facts are kept until they end, not for the sightings' window (measured: 38 days used to be too old)."""
    filler = [sighting(f"f{day}", [PERSON, PHONE], day * DAY_H, "GR-EVR") for day in range(1, 200, 20)]
    late_sighting = sighting("s200", [PERSON], 200 * DAY_H, "GB-DOV")
    for order in ([WARRANT, *filler, late_sighting], [*filler, late_sighting, WARRANT]):
        pipeline = run(order)
        wanted = [a for a in pipeline.alerts.values() if a.rule == "wanted_subject_sighted" and a.status == "OPEN"]
        assert wanted and "s200" in wanted[0].evidence


@pytest.mark.parametrize("closed_after_days", [1, 60])
def test_a_closed_case_stops_counting_once_it_is_older_than_the_retention(closed_after_days: int) -> None:
    closed = case("c", "CLOSED", {PERSON: "ORGANISER"}, closed_after_days * DAY_H)
    later = sighting("later", [PERSON], (closed_after_days + 100) * DAY_H, "GB-DOV")
    assert standing(run([WARRANT, closed, later])) == {}
