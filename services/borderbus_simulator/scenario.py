"""A deterministic border scenario: agency events with planted smuggling patterns and their ground truth.

``build_scenario`` returns the JSON bodies agencies would POST to their publishers, in event-time
order, together with a ground-truth document listing every alert the correlator should raise (and
the near misses it must stay silent on).  Pure logic: no Kafka, no HTTP, no clock.

How accidental alerts are ruled out:

* every identifier is issued once (see :class:`~borderbus_simulator.world.IdentityFactory`), and
  each planted person has exactly one job, so patterns never share a subject;
* the case-named members of one network are each sighted at a different border point (only the
  planted convergence pairs share one), so no two of them meet by chance;
* background people never get warrants, are never named in a case that is sighted, are named in a
  finance flag only if they are never sighted, and background advert phones never reappear;
* background vehicles are read at most twice, at one or two points, below half the speed limit;
* sightings off the crossings (drones, patrols, radar: coordinates, no border point) are planted
  only where a pattern needs them; background ones name fresh subjects.

Each network varies what it plants (a second sighting of the wanted organiser, an advert followed
by a sighting or by a payment), so a benchmark over seeds is not one fixed story.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from borderbus_simulator.world import (
    DESTINATION,
    IBAN_COUNTRIES,
    ORIGIN,
    PLATE_COUNTRIES,
    TRANSIT,
    BorderPoint,
    Ident,
    IdentityFactory,
    Network,
    Person,
    WorldConfig,
    build_network,
    load_config,
    plate_country_for,
)

__all__ = ["RULE_DEFAULTS", "PlannedEvent", "Scenario", "build_scenario", "write_ground_truth"]

HOUR_MS = 3_600_000
MIN_SPAN_MS = 24 * HOUR_MS
RULE_DEFAULTS: dict[str, int] = {
    "finance_risk_threshold": 70,
    "finance_border_window_hours": 72,
    "convergence_window_hours": 6,
    "convergence_radius_km": 5,
    "max_vehicle_speed_kmh": 120,
    "max_vessel_speed_kmh": 60,
    "distinct_points_per_day": 3,
    "advert_window_days": 30,
    "max_links": 50,
}
HOTLINE_ROOM = 4 * RULE_DEFAULTS["max_links"]
"""Background events needed before a scenario plants a hotline (a hub): it then takes max_links + 5 of them."""
LATE_SIGHTING_HOURS = 80
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PlannedEvent:
    agency: str
    event_type: str          # 'sighting' | 'finance-flag' | 'case-update' | 'platform-report'
    occurred_at_ms: int
    body: dict[str, Any]     # the JSON body the agency POSTs to its publisher

    @property
    def event_id(self) -> str:
        return str(self.body["event_id"])


@dataclass(frozen=True)
class Scenario:
    events: list[PlannedEvent]          # sorted by occurred_at_ms: the order to send them in
    ground_truth: dict[str, Any]        # JSON-serialisable


def build_scenario(*, seed: int, event_count: int, end_ms: int, span_ms: int = 2 * 24 * 3600 * 1000,
                   agencies_path: Path, border_points_path: Path, networks: int = 2) -> Scenario:
    """Build the same scenario for the same arguments, bit for bit.

    Planted events are drawn first, so a seed plants the same patterns whatever ``event_count``;
    background traffic fills the rest.  Raises ValueError when the count, span or network number
    cannot hold the planted patterns.
    """
    if networks < 1:
        raise ValueError("networks must be at least 1: the planted patterns live in the networks")
    if span_ms < MIN_SPAN_MS:
        raise ValueError(f"span_ms must be at least {MIN_SPAN_MS} ms (24 h) to fit the planted patterns")
    config = load_config(agencies_path, border_points_path)
    rng = random.Random(f"borderbus-scenario:{seed}")
    window = (end_ms - span_ms, end_ms)
    writer = EventWriter(rng, config)
    factory = IdentityFactory(rng)
    year = _to_datetime(end_ms).year

    truth = GroundTruth()
    planted: list[PlannedEvent] = []
    for index in range(networks):
        planter = NetworkPlanter(writer, factory, config, window, year, index, truth)
        planted += planter.plant()
    if event_count < len(planted):
        raise ValueError(
            f"event_count must be at least {len(planted)} to hold the planted patterns of "
            f"{networks} network(s) over this span; got {event_count}"
        )
    background = Background(writer, factory, config, window, year, truth).generate(event_count - len(planted))
    events = sorted(planted + background, key=lambda event: event.occurred_at_ms)
    ground_truth = {
        "seed": seed,
        "event_count": event_count,
        "window": {"start_ms": window[0], "end_ms": window[1]},
        "rule_defaults": dict(RULE_DEFAULTS),
        "networks": truth.networks,
        "expected_alerts": truth.alerts,
        "near_misses": truth.near_misses,
        "notes": truth.notes,
    }
    return Scenario(events, ground_truth)


def write_ground_truth(scenario: Scenario, path: Path) -> None:
    """Pretty JSON, so a person can read what the demo is expected to show."""
    path.write_text(json.dumps(scenario.ground_truth, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- event bodies


def _to_datetime(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def iso_millis(ms: int) -> str:
    """'2026-11-29T10:00:00.000Z': the form agencies send, exact to the millisecond."""
    moment = _to_datetime(ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


class EventWriter:
    """Builds the JSON bodies of the four event types; event ids come from the scenario's RNG."""

    def __init__(self, rng: random.Random, config: WorldConfig) -> None:
        self.rng = rng
        self.config = config

    def _envelope(self, agency: str, source_system: str, at_ms: int, tlp: str, subjects: list[dict[str, Any]],
                  location: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "event_id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "agency": agency,
            "source_system": source_system,
            "occurred_at": iso_millis(at_ms),
            "tlp": tlp,
            "subjects": subjects,
            "location": location,
        }

    def sighting(self, point: BorderPoint, at_ms: int, subjects: list[dict[str, Any]], method: str, *,
                 direction: str | None = None, headcount: int | None = None, notes: str | None = None,
                 location: dict[str, Any] | None = None) -> PlannedEvent:
        """A sighting reported by the agency operating ``point``, from the system that fits the method;
        ``location`` (see :meth:`BorderPoint.off`) places it off the crossing, by coordinates."""
        rng = self.rng
        system = {
            "DOCUMENT_SCAN": f"checkpoint-{point.short}-{rng.randint(1, 9)}",
            "ANPR_CAMERA": f"anpr-{point.short}-{rng.randint(1, 4)}",
            "DRONE": f"drone-{point.short}-{rng.randint(1, 3)}",
            "PATROL": f"patrol-{point.short}",
            "MARITIME": f"ais-radar-{point.short}",
        }[method]
        confidence = {"DOCUMENT_SCAN": (0.97, 1.0), "ANPR_CAMERA": (0.72, 0.98)}.get(method, (0.6, 0.9))
        tlp = rng.choice(("GREEN", "GREEN", "AMBER"))
        body = self._envelope(point.operated_by, system, at_ms, tlp, subjects, location or point.location())
        evidence = None
        if method in ("ANPR_CAMERA", "DRONE", "MARITIME") and rng.random() < 0.5:
            evidence = f"evidence://{point.operated_by}/{method.lower()}/{rng.getrandbits(48):012x}"
        body.update({
            "method": method,
            "direction": direction or self.direction(point),
            "confidence": round(rng.uniform(*confidence), 2),
            "notes": notes,
            "headcount": headcount,
            "evidence_uri": evidence,
        })
        return PlannedEvent(point.operated_by, "sighting", at_ms, body)

    def direction(self, point: BorderPoint) -> str:
        """Along the route people leave the origin and enter the destination; elsewhere either way."""
        region = self.config.region(point)
        if region == ORIGIN:
            return self.rng.choice(("OUTBOUND", "OUTBOUND", "INBOUND"))
        if region == DESTINATION:
            return self.rng.choice(("INBOUND", "INBOUND", "OUTBOUND"))
        return self.rng.choice(("INBOUND", "OUTBOUND", "UNKNOWN"))

    def finance_flag(self, agency: str, at_ms: int, subjects: list[dict[str, Any]], *, amount: float, currency: str,
                     channel: str, counterparties: list[dict[str, Any]], typologies: list[str], risk: int,
                     year: int) -> PlannedEvent:
        rng = self.rng
        tlp = rng.choice(("AMBER", "AMBER+STRICT", "AMBER+STRICT", "RED") if risk >= 70 else ("AMBER", "AMBER", "AMBER+STRICT"))
        body = self._envelope(agency, "goaml", at_ms, tlp, subjects, None)
        country = self.config.agencies[agency].country
        body.update({
            "amount": f"{amount:.2f}",
            "currency": currency,
            "channel": channel,
            "counterparties": counterparties,
            "typologies": typologies,
            "risk_score": risk,
            "report_ref": f"STR-{country}-{year}-{rng.randint(100000, 999999)}",
        })
        return PlannedEvent(agency, "finance-flag", at_ms, body)

    def case_update(self, agency: str, at_ms: int, *, case_id: str, status: str, named: Sequence[tuple[dict[str, Any], str]],
                    network_id: str | None, summary: str, warrant_ref: str | None = None) -> PlannedEvent:
        """``named`` pairs each subject with its role; roles point at subjects by index, as the
        publisher expects, since only it knows the canonical ids."""
        rng = self.rng
        tlp = rng.choice(("AMBER", "AMBER+STRICT", "AMBER+STRICT", "RED"))
        body = self._envelope(agency, "case-mgmt", at_ms, tlp, [subject for subject, _ in named], None)
        body.update({
            "case_id": case_id,
            "status": status,
            "network_id": network_id,
            "subject_roles": [{"subject_index": index, "role": role} for index, (_, role) in enumerate(named)],
            "warrant_ref": warrant_ref,
            "jurisdiction": self.config.agencies[agency].country,
            "summary": summary,
        })
        return PlannedEvent(agency, "case-update", at_ms, body)

    def platform_report(self, agency: str, platform: str, at_ms: int, subjects: list[dict[str, Any]], *,
                        content_kind: str, route: str | None, language: str | None = None) -> PlannedEvent:
        rng = self.rng
        body = self._envelope(agency, "trust-safety-api", at_ms, rng.choice(("GREEN", "AMBER")), subjects, None)
        body.update({
            "platform": platform,
            "content_kind": content_kind,
            "content_ref": f"{platform}-{rng.randint(10**17, 10**18 - 1)}",
            "action_taken": rng.choice(("REMOVED", "REMOVED", "RESTRICTED", "UNDER_REVIEW", "NO_ACTION")),
            "language": language or rng.choice(("ar", "ku", "fa", "ps", "en")),
            "offered_route": route,
        })
        return PlannedEvent(agency, "platform-report", at_ms, body)


def _currency(country: str, rng: random.Random) -> str:
    return {"IQ": rng.choice(("USD", "IQD")), "GB": "GBP", "TR": "TRY"}.get(country, "EUR")


def _amount(currency: str, rng: random.Random, low: float, high: float) -> float:
    """Amounts drawn in USD terms and converted roughly, so IQD flags carry IQD-sized numbers."""
    rate = {"IQD": 1310.0, "TRY": 34.0, "GBP": 0.79, "EUR": 0.92}.get(currency, 1.0)
    return round(rng.uniform(low, high) * rate, 2)


# --------------------------------------------------------------------------- ground truth


@dataclass
class GroundTruth:
    networks: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    near_misses: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def alert(self, rule: str, events: list[PlannedEvent], subjects: list[Ident], border_point: str | None,
              description: str, context: Sequence[PlannedEvent] = ()) -> None:
        """``context``: events that define the rule for these subjects (the case naming the network), in the
        alert's evidence but not observations of the pattern."""
        ordered = sorted(events, key=lambda event: event.occurred_at_ms)
        self.alerts.append({
            "rule": rule,
            "subjects": [subject.truth() for subject in subjects],
            "event_ids": [event.event_id for event in ordered],
            "context_event_ids": [event.event_id for event in sorted(context, key=lambda e: e.occurred_at_ms)],
            "border_point": border_point,
            "agencies": list(dict.fromkeys(event.agency for event in ordered)),
            "description": description,
        })

    def near_miss(self, rule: str, events: list[PlannedEvent], subjects: list[Ident], why_silent: str) -> None:
        ordered = sorted(events, key=lambda event: event.occurred_at_ms)
        self.near_misses.append({
            "rule": rule,
            "subjects": [subject.truth() for subject in subjects],
            "event_ids": [event.event_id for event in ordered],
            "why_silent": why_silent,
        })


# --------------------------------------------------------------------------- planted patterns


# Where each case-named member is seen: (route region, point kind) preferences, most wanted first.
# Every slot gets its own point, so case-named members meet only where a pattern plants it.
_SLOT_PREFERENCES: dict[str, list[tuple[str | None, str | None]]] = {
    "wanted": [(DESTINATION, "air"), (DESTINATION, None)],
    "cleared": [(ORIGIN, "air"), (ORIGIN, None)],
    "advert": [(TRANSIT, "land"), (TRANSIT, None)],
    "flag_first": [(ORIGIN, "land"), (ORIGIN, None)],
    "sighting_first": [(DESTINATION, "land"), (DESTINATION, None)],
    "convoy": [(DESTINATION, "sea"), (DESTINATION, None)],
    "drone": [(DESTINATION, "sea"), (DESTINATION, None), (TRANSIT, "sea")],
    "spaced": [(ORIGIN, "land"), (ORIGIN, None)],
}


def assign_slots(config: WorldConfig, rng: random.Random) -> dict[str, BorderPoint]:
    """A distinct border point for each case-named sighting slot, chosen by region and kind."""
    used: set[str] = set()
    slots: dict[str, BorderPoint] = {}
    for slot, preferences in _SLOT_PREFERENCES.items():
        for region, kind in [*preferences, (None, None)]:
            candidates = [point for point in config.points_where(region, kind) if point.code not in used]
            if candidates:
                slots[slot] = rng.choice(candidates)
                used.add(slots[slot].code)
                break
        else:
            raise ValueError(f"border_points needs at least {len(_SLOT_PREFERENCES)} points run by sighting agencies")
    return slots


def _first_nonempty(*groups: list[BorderPoint]) -> list[BorderPoint]:
    return next((group for group in groups if group), [])


def fast_pair(config: WorldConfig, rng: random.Random) -> tuple[BorderPoint, BorderPoint]:
    """Two points far apart (origin land, then transit), so a few hours between them is impossible."""
    starts = _first_nonempty(config.points_where(ORIGIN, "land"), config.points_where(ORIGIN))
    ends = config.points_where(TRANSIT)
    pairs = [(a, b) for a in starts for b in ends if a.distance_km(b) >= 400]
    if pairs:
        return rng.choice(pairs)
    points = config.sighting_points
    return max(itertools.permutations(points, 2), key=lambda pair: pair[0].distance_km(pair[1]))


def touring_triple(config: WorldConfig, rng: random.Random) -> list[BorderPoint]:
    """Three points close together, so one vehicle can visit them all in a day at legal speed."""
    triples = list(itertools.combinations(config.sighting_points, 3))
    if not triples:
        raise ValueError("border_points needs at least 3 points run by sighting agencies")

    def widest(triple: Iterable[BorderPoint]) -> float:
        return max(a.distance_km(b) for a, b in itertools.combinations(triple, 2))

    close = [triple for triple in triples if widest(triple) <= 250]
    chosen = list(rng.choice(close) if close else min(triples, key=widest))
    rng.shuffle(chosen)
    return chosen


def steady_pair(config: WorldConfig, rng: random.Random) -> tuple[BorderPoint, BorderPoint]:
    """Two distinct points a plausible drive apart."""
    pairs = [(a, b) for a, b in itertools.permutations(config.sighting_points, 2) if 30 <= a.distance_km(b) <= 350]
    if pairs:
        return rng.choice(pairs)
    return min(itertools.permutations(config.sighting_points, 2), key=lambda pair: pair[0].distance_km(pair[1]))


class NetworkPlanter:
    """Plants one network's story: its case, the five patterns and their near misses."""

    def __init__(self, writer: EventWriter, factory: IdentityFactory, config: WorldConfig, window: tuple[int, int],
                 year: int, index: int, truth: GroundTruth) -> None:
        self.writer = writer
        self.factory = factory
        self.rng = writer.rng
        self.config = config
        self.year = year
        self.truth = truth
        self.events: list[PlannedEvent] = []
        self.start_ms, self.end_ms = window
        self.earliest_ms = self.start_ms + 2 * HOUR_MS     # after the case is set up
        self.slots = assign_slots(config, self.rng)
        self.fast = fast_pair(config, self.rng)
        self.touring = touring_triple(config, self.rng)
        self.steady = steady_pair(config, self.rng)
        plates = (ORIGIN, plate_country_for(config, self.touring[0]), plate_country_for(config, self.steady[0]))
        self.net: Network = build_network(factory, config, index, year, plates)
        self.boat_point = self.rng.choice(_first_nonempty(
            config.points_where(TRANSIT, "sea"), config.points_where(TRANSIT), config.points_where(None, "sea"),
            config.sighting_points,
        ))
        self.case_agencies = sorted(self.net.case_ids)
        self.lead_agency = self.rng.choice(self.case_agencies)
        self.warrants_issued = self.rng.randint(0, 20)
        self.case_events: list[tuple[PlannedEvent, set[str]]] = []   # each case update and the passports it names

    def plant(self) -> list[PlannedEvent]:
        self.open_cases()
        self.plant_wanted()
        self.plant_withdrawn_warrant()
        self.plant_money_meets_border()
        self.plant_money_near_misses()
        self.plant_convergence()
        self.plant_drone_convergence()
        self.plant_vehicles()
        self.plant_vessels()
        self.plant_adverts()
        self.plant_crossing()
        slots = self.slots
        route = [slots["cleared"], slots["flag_first"], self.boat_point, slots["sighting_first"], slots["convoy"]]
        self.net.route = list(dict.fromkeys(point.code for point in route))
        self.truth.networks.append(self.net.truth())
        return self.events

    # ----------------------------------------------------------------- helpers

    def add(self, event: PlannedEvent) -> PlannedEvent:
        self.events.append(event)
        return event

    def hours(self, low: float, high: float) -> int:
        return int(self.rng.uniform(low, high) * HOUR_MS)

    def start_for(self, duration_ms: int) -> int:
        """A random start that leaves ``duration_ms`` before the window ends."""
        latest = self.end_ms - duration_ms - HOUR_MS // 4
        if latest < self.earliest_ms:
            raise ValueError(f"span_ms is too short for a planted pattern lasting {duration_ms / HOUR_MS:.1f} h")
        return self.rng.randint(self.earliest_ms, latest)

    def scan(self, person: Person, point: BorderPoint, at_ms: int, *, phone: bool = False) -> PlannedEvent:
        """A document scan, with the phone the traveller declares when ``phone`` is set."""
        subjects = [person.passport.subject(self.rng)]
        if phone and person.phone is not None:
            subjects.append(person.phone.subject(self.rng))
        return self.add(self.writer.sighting(point, at_ms, subjects, "DOCUMENT_SCAN"))

    def case(self, agency: str, at_ms: int, status: str, named: list[tuple[Ident, str]], summary: str,
             warrant_ref: str | None = None) -> PlannedEvent:
        subjects = [(ident.subject(self.rng), role) for ident, role in named]
        event = self.add(self.writer.case_update(
            agency, at_ms, case_id=self.net.case_ids[agency], status=status, named=subjects,
            network_id=self.net.network_id, summary=summary, warrant_ref=warrant_ref,
        ))
        self.case_events.append((event, {ident.id for ident, _ in named}))
        return event

    def naming(self, *people: Person) -> list[PlannedEvent]:
        """The case updates that name any of these people: the context of a convergence of them."""
        ids = {person.passport.id for person in people}
        return [event for event, named in self.case_events if named & ids]

    def flag(self, holder: Person, at_ms: int, risk: int, *, name_holder: Ident | None, typologies: list[str],
             channel: str = "HAWALA") -> PlannedEvent:
        """A flag on the holder's account, naming the holder's document or phone when given."""
        account = self.net.accounts[holder.passport.id]
        country = account.id[:2]
        agency = self._finance_agency(country)
        subjects = [account.subject(self.rng)] + ([name_holder.subject(self.rng)] if name_holder else [])
        currency = _currency(country, self.rng)
        counterparties = [
            {"role": "ORIGINATOR", "subject_id": None, "name": holder.name, "country": holder.nationality},
            {"role": "BENEFICIARY", "subject_id": None, "name": self.net.wanted_organiser.name, "country": ORIGIN},
        ]
        return self.add(self.writer.finance_flag(
            agency, at_ms, subjects, amount=_amount(currency, self.rng, 8_000, 60_000), currency=currency,
            channel=channel, counterparties=counterparties, typologies=typologies, risk=risk, year=self.year,
        ))

    def _finance_agency(self, country: str) -> str:
        """The FIU of the account's country when there is one, else any FIU."""
        agencies = self.config.publishers("finance-flag")
        local = [agency for agency in agencies if agency.country == country]
        return self.rng.choice(local or agencies).code

    def next_warrant_ref(self, agency: str) -> str:
        """Warrant references are unique: withdrawing one must never read as withdrawing another."""
        self.warrants_issued += 1
        return f"W-{self.net.case_ids[agency]}-{self.warrants_issued:02d}"

    def any_point(self) -> BorderPoint:
        return self.rng.choice(self.config.sighting_points)

    # ----------------------------------------------------------------- the case

    def open_cases(self) -> None:
        """Cases first, so every member is case-named before anyone is sighted."""
        net, at = self.net, self.start_ms + self.hours(0.1, 0.5)
        lead = self.lead_agency
        self.case(lead, at, "OPENED", [(p.passport, role) for p, role in net.case_named()[:4]],
                  "Organised immigration crime investigation opened on intelligence of a small-boat route.")
        self.case(lead, at + self.hours(0.2, 0.5), "SUBJECT_ADDED", [(p.passport, role) for p, role in net.case_named()[4:]],
                  "Facilitators and drivers identified from communications data.")
        for other in (agency for agency in self.case_agencies if agency != lead):
            organisers = [(net.wanted_organiser.passport, "SUSPECT"), (net.cleared_organiser.passport, "SUSPECT")]
            self.case(other, at + self.hours(0.7, 1.4), "OPENED", organisers, "Pre-charge advice requested on organisers.")

    # ----------------------------------------------------------------- rule 1: wanted_subject_sighted

    def plant_wanted(self) -> None:
        organiser, point = self.net.wanted_organiser, self.slots["wanted"]
        to_sighting, to_charge = self.hours(3, 14), self.hours(1, 4)
        issued_at = self.start_for(to_sighting + to_charge)
        agency = self.rng.choice(self.case_agencies)
        warrant_ref = self.next_warrant_ref(agency)
        assert organiser.phone is not None
        warrant = self.case(agency, issued_at, "WARRANT_ISSUED",
                            [(organiser.passport, "ORGANISER"), (organiser.phone, "ORGANISER")],
                            "Arrest warrant issued for a network organiser.", warrant_ref)
        sighting = self.scan(organiser, point, issued_at + to_sighting)
        sightings = [sighting]
        if self.rng.random() < 0.5:  # turned back, and scanned again at the same point before the arrest
            sightings.append(self.scan(organiser, point, sighting.occurred_at_ms + self.hours(0.2, 0.9)))
        self.case(agency, sightings[-1].occurred_at_ms + to_charge, "CHARGED", [(organiser.passport, "ORGANISER")],
                  "Organiser arrested on arrival and charged.")
        self.truth.alert("wanted_subject_sighted", [warrant, *sightings], [organiser.passport], point.code,
                         f"{organiser.name}, wanted under {warrant_ref}, scanned at {point.code} "
                         f"{to_sighting / HOUR_MS:.1f} h after the warrant was issued"
                         + (f" and {len(sightings)} times in all." if len(sightings) > 1 else "."))

    def plant_withdrawn_warrant(self) -> None:
        organiser, point = self.net.cleared_organiser, self.slots["cleared"]
        to_withdrawal, to_sighting = self.hours(2, 6), self.hours(1, 8)
        issued_at = self.start_for(to_withdrawal + to_sighting)
        agency = self.rng.choice(self.case_agencies)
        warrant_ref = self.next_warrant_ref(agency)
        issued = self.case(agency, issued_at, "WARRANT_ISSUED", [(organiser.passport, "ORGANISER")],
                           "Arrest warrant issued for a second organiser.", warrant_ref)
        withdrawn = self.case(agency, issued_at + to_withdrawal, "WARRANT_WITHDRAWN", [(organiser.passport, "ORGANISER")],
                              "Warrant withdrawn: identification in doubt.", warrant_ref)
        sighting = self.scan(organiser, point, withdrawn.occurred_at_ms + to_sighting)
        self.truth.near_miss("wanted_subject_sighted", [issued, withdrawn, sighting], [organiser.passport],
                             f"warrant {warrant_ref} was withdrawn before the sighting")

    # ----------------------------------------------------------------- rule 2: flagged_money_meets_border

    def plant_money_meets_border(self) -> None:
        """One flag before the sighting, one after: the rule holds in either order."""
        first, gap = self.net.flag_first_financier, self.hours(4, 18)
        flag_at = self.start_for(gap)
        flag = self.flag(first, flag_at, self.rng.randint(72, 95), name_holder=first.passport,
                         typologies=["SMUGGLING_FEES", "HIGH_RISK_CORRIDOR"])
        sighting = self.scan(first, self.slots["flag_first"], flag_at + gap)
        self.truth.alert("flagged_money_meets_border", [flag, sighting], [first.passport], self.slots["flag_first"].code,
                         f"Hawala account of {first.name} flagged (risk {flag.body['risk_score']}), then the holder "
                         f"crossed at {self.slots['flag_first'].code} {gap / HOUR_MS:.1f} h later.")

        second, gap = self.net.sighting_first_financier, self.hours(3, 16)
        assert second.phone is not None
        seen_at = self.start_for(gap)
        sighting = self.scan(second, self.slots["sighting_first"], seen_at, phone=True)
        flag = self.flag(second, seen_at + gap, self.rng.randint(75, 98), name_holder=second.phone, channel="WIRE",
                         typologies=["SMUGGLING_FEES", "RAPID_MOVEMENT"])
        self.truth.alert("flagged_money_meets_border", [sighting, flag], [second.phone], self.slots["sighting_first"].code,
                         f"{second.name} declared this phone at {self.slots['sighting_first'].code}; "
                         f"{gap / HOUR_MS:.1f} h later a payment from their account was flagged "
                         f"(risk {flag.body['risk_score']}).")

    def plant_money_near_misses(self) -> None:
        net, threshold = self.net, RULE_DEFAULTS["finance_risk_threshold"]
        courier, gap = net.low_risk_courier, self.hours(2, 12)
        flag_at = self.start_for(gap)
        flag = self.flag(courier, flag_at, threshold - 1, name_holder=courier.passport, typologies=["CASH_INTENSIVE"],
                         channel="CASH_COURIER")
        sighting = self.scan(courier, self.any_point(), flag_at + gap)
        self.truth.near_miss("flagged_money_meets_border", [flag, sighting], [courier.passport],
                             f"risk score {threshold - 1} is below {threshold}")

        holder, gap = net.unnamed_holder, self.hours(2, 12)
        flag_at = self.start_for(gap)
        flag = self.flag(holder, flag_at, self.rng.randint(85, 95), name_holder=None, typologies=["STRUCTURING"],
                         channel="WIRE")
        sighting = self.scan(holder, self.any_point(), flag_at + gap, phone=True)
        self.truth.near_miss("flagged_money_meets_border", [flag, sighting], [holder.passport],
                             "the flag names only the account (and the holder's name as free text), not a document or phone")

        late_ms = LATE_SIGHTING_HOURS * HOUR_MS
        if self.end_ms - self.earliest_ms < late_ms + HOUR_MS:
            note = (f"near miss 'risk 90, sighting {LATE_SIGHTING_HOURS} h later' omitted for {net.network_id}: "
                    f"the span is too short to hold an {LATE_SIGHTING_HOURS} h gap")
            self.truth.notes.append(note)
            return
        courier = net.late_courier
        flag_at = self.start_for(late_ms)
        flag = self.flag(courier, flag_at, 90, name_holder=courier.passport, typologies=["SMUGGLING_FEES"])
        sighting = self.scan(courier, self.any_point(), flag_at + late_ms)
        window = RULE_DEFAULTS["finance_border_window_hours"]
        self.truth.near_miss("flagged_money_meets_border", [flag, sighting], [courier.passport],
                             f"the sighting came {LATE_SIGHTING_HOURS} h after the flag, outside the {window} h window")

    # ----------------------------------------------------------------- rule 3: network_convergence

    def plant_convergence(self) -> None:
        point, gap = self.slots["convoy"], self.hours(0.5, 4.5)
        first, second = self.net.convoy_drivers
        at = self.start_for(gap)
        events = [self.scan(first, point, at, phone=True), self.scan(second, point, at + gap)]
        self.truth.alert("network_convergence", events, [first.passport, second.passport], point.code,
                         f"Two drivers named in case {self.net.network_id} crossed at {point.code} "
                         f"{gap / HOUR_MS:.1f} h apart.", context=self.naming(first, second))

        point, gap = self.slots["spaced"], self.hours(8.8, 9.5)
        first, second = self.net.spaced_drivers
        at = self.start_for(gap)
        events = [self.scan(first, point, at), self.scan(second, point, at + gap)]
        window = RULE_DEFAULTS["convergence_window_hours"]
        self.truth.near_miss("network_convergence", events, [first.passport, second.passport],
                             f"same point but {gap / HOUR_MS:.1f} h apart, more than {window} h")

    def plant_drone_convergence(self) -> None:
        """One driver scanned at a crossing, the other caught by a drone a few km off it: they converge there.

        The drone sees the second driver again far from any crossing: that fix joins nothing.
        """
        point, gap = self.slots["drone"], self.hours(0.5, 4.5)
        first, second = self.net.drone_pair
        at = self.start_for(gap + 6 * HOUR_MS)
        km, bearing = self.rng.uniform(1, 4), self.rng.uniform(0, 360)
        subjects = [second.passport.subject(self.rng)]
        scan = self.scan(first, point, at)
        drone = self.add(self.writer.sighting(point, at + gap, subjects, "DRONE", headcount=self.rng.randint(2, 9),
                                              location=point.off(km, bearing)))
        self.truth.alert("network_convergence", [scan, drone], [first.passport, second.passport], point.code,
                         f"A driver named in {self.net.network_id} crossed at {point.code}; {gap / HOUR_MS:.1f} h later a "
                         f"drone saw another {km:.1f} km off it.", context=self.naming(first, second))
        far = self.off_every_point(point, 9, 14)
        again = self.add(self.writer.sighting(point, at + gap + self.hours(0.2, 1), [second.passport.subject(self.rng)],
                                              "DRONE", location=far))
        self.truth.near_miss("network_convergence", [scan, again], [first.passport, second.passport],
                             f"the drone fix is more than {RULE_DEFAULTS['convergence_radius_km']} km from any border point")

    def off_every_point(self, point: BorderPoint, low_km: float, high_km: float) -> dict[str, Any]:
        """A fix ``low_km``-``high_km`` from ``point`` and more than twice the convergence radius from every point."""
        radius = RULE_DEFAULTS["convergence_radius_km"]
        for _ in range(100):
            location = point.off(self.rng.uniform(low_km, high_km), self.rng.uniform(0, 360))
            here = dataclasses.replace(point, latitude=location["latitude"], longitude=location["longitude"])
            if all(here.distance_km(other) > 2 * radius for other in self.config.points.values()):
                return location
        raise ValueError(f"no place {low_km}-{high_km} km from {point.code} is clear of every border point")

    # ----------------------------------------------------------------- rule 4: implausible_movement

    def plant_vessels(self) -> None:
        """A vessel at a port, then a radar fix offshore: too far for a boat in the time; the crossing boat's is plausible."""
        vessel, limit = self.net.fast_vessel, RULE_DEFAULTS["max_vessel_speed_kmh"]
        port = self.rng.choice(_first_nonempty(self.config.points_where(None, "sea"), self.config.sighting_points))
        km = self.rng.uniform(60, 120)
        gap = int(km / self.rng.uniform(2 * limit, 3 * limit) * HOUR_MS)
        at = self.start_for(gap)
        seen = self.add(self.writer.sighting(port, at, [vessel.subject(self.rng)], "MARITIME"))
        fix = self.add(self.writer.sighting(port, at + gap, [vessel.subject(self.rng)], "MARITIME",
                                            location=self.off_every_point(port, km, km)))
        self.truth.alert("implausible_movement", [seen, fix], [vessel], port.code,
                         f"Vessel at {port.code}, then a radar fix {km:.0f} km off in {gap / HOUR_MS:.1f} h "
                         f"({km / (gap / HOUR_MS):.0f} km/h, limit {limit} km/h).")

    def plant_vehicles(self) -> None:
        vehicle, limit = self.net.fast_vehicle, RULE_DEFAULTS["max_vehicle_speed_kmh"]
        a, b = self.fast
        distance = a.distance_km(b)
        room_h = (self.end_ms - self.earliest_ms) / HOUR_MS * 0.8
        speed = max(self.rng.uniform(2 * limit, 3 * limit), distance / room_h)
        gap = int(distance / speed * HOUR_MS)
        at = self.start_for(gap)
        reads = [self.read(vehicle, a, at), self.read(vehicle, b, at + gap)]
        self.truth.alert("implausible_movement", reads, [vehicle], b.code,
                         f"Plate read at {a.code} and {b.code}, {distance:.0f} km in {gap / HOUR_MS:.1f} h "
                         f"({distance / (gap / HOUR_MS):.0f} km/h).")

        vehicle, points = self.net.touring_vehicle, self.touring
        gaps = [self._legal_gap(p, q) for p, q in itertools.pairwise(points)]
        at = self.start_for(sum(gaps))
        reads = [self.read(vehicle, points[0], at)]
        for point, gap in zip(points[1:], gaps, strict=True):
            reads.append(self.read(vehicle, point, reads[-1].occurred_at_ms + gap))
        self.truth.alert("implausible_movement", reads, [vehicle], points[-1].code,
                         f"Plate read at {len(points)} distinct points ({', '.join(p.code for p in points)}) "
                         f"within {sum(gaps) / HOUR_MS:.1f} h.")

        vehicle, (a, b) = self.net.steady_vehicle, self.steady
        gap = self._legal_gap(a, b)
        at = self.start_for(gap)
        reads = [self.read(vehicle, a, at), self.read(vehicle, b, at + gap)]
        distance = a.distance_km(b)
        self.truth.near_miss("implausible_movement", reads, [vehicle],
                             f"two points only, {distance:.0f} km in {gap / HOUR_MS:.1f} h "
                             f"({distance / (gap / HOUR_MS):.0f} km/h) is plausible")

    def _legal_gap(self, a: BorderPoint, b: BorderPoint) -> int:
        """Driving time at a comfortably legal 35-60 km/h, plus a stop."""
        return int((a.distance_km(b) / self.rng.uniform(35, 60) + self.rng.uniform(0.5, 1.5)) * HOUR_MS)

    def read(self, vehicle: Ident, point: BorderPoint, at_ms: int) -> PlannedEvent:
        return self.add(self.writer.sighting(point, at_ms, [vehicle.subject(self.rng)], "ANPR_CAMERA"))

    # ----------------------------------------------------------------- rule 5: advert_to_action

    def plant_adverts(self) -> None:
        facilitator, point, gap = self.net.advert_facilitator, self.slots["advert"], self.hours(2, 16)
        assert facilitator.phone is not None
        at = self.start_for(gap)
        advert = self.advert(facilitator, self.net.advert_wallets[0], at)
        if self.rng.random() < 0.6:
            sighting = self.scan(facilitator, point, at + gap, phone=True)
            self.truth.alert("advert_to_action", [advert, sighting], [facilitator.phone], point.code,
                             f"Phone advertised on {advert.body['platform']} for crossings to the UK, declared at "
                             f"{point.code} {gap / HOUR_MS:.1f} h later by {facilitator.name}.")
        else:  # the fee is paid: a low-risk transfer naming the advertised phone (too low for the money rule)
            payment = self.payment(facilitator, at + gap)
            self.truth.alert("advert_to_action", [advert, payment], [facilitator.phone], None,
                             f"Phone advertised on {advert.body['platform']}, named in a transfer "
                             f"{gap / HOUR_MS:.1f} h later.")

        quiet = self.net.quiet_facilitator
        assert quiet.phone is not None
        advert = self.advert(quiet, self.net.advert_wallets[1], self.start_for(0))
        self.truth.near_miss("advert_to_action", [advert], [quiet.phone], "the advertised phone is never seen again")

    def payment(self, facilitator: Person, at_ms: int) -> PlannedEvent:
        """A transfer from a fresh account naming the facilitator's phone, below the money rule's threshold."""
        assert facilitator.phone is not None
        agency = self.rng.choice(self.config.publishers("finance-flag"))
        country = agency.country if agency.country in IBAN_COUNTRIES else "GB"
        account = self.factory.iban(country)
        self.net.accounts[facilitator.passport.id] = account
        currency = _currency(country, self.rng)
        threshold = RULE_DEFAULTS["finance_risk_threshold"]
        return self.add(self.writer.finance_flag(
            agency.code, at_ms, [account.subject(self.rng), facilitator.phone.subject(self.rng)],
            amount=_amount(currency, self.rng, 900, 4000), currency=currency, channel="MONEY_SERVICE",
            counterparties=[], typologies=["SMUGGLING_FEES"], risk=self.rng.randint(30, threshold - 5), year=self.year,
        ))

    def advert(self, facilitator: Person, wallet: Ident, at_ms: int) -> PlannedEvent:
        """A smuggling advert: the platform account, the contact phone and a USDT wallet for fees."""
        agency = self.rng.choice(self.config.publishers("platform-report"))
        platform = self.rng.choice(agency.platforms)
        assert facilitator.phone is not None
        subjects = [facilitator.phone.subject(self.rng), wallet.subject(self.rng)]
        if platform != "whatsapp":
            account = self.factory.platform_account(platform)
            self.net.platform_accounts.append(account)
            subjects.insert(0, account.subject(self.rng))
        return self.add(self.writer.platform_report(
            agency.code, platform, at_ms, subjects, content_kind="ADVERT", route=f"{ORIGIN}>TR>{TRANSIT}>{DESTINATION}",
            language=self.rng.choice(("ku", "ar")),
        ))

    # ----------------------------------------------------------------- colour: the crossing itself

    def plant_crossing(self) -> None:
        """The boat and the people it carried: realistic traffic that matches no rule."""
        point, at = self.boat_point, self.start_for(10 * HOUR_MS)
        people = len(self.net.migrants) + self.rng.randint(20, 45)
        boat = self.net.boat.subject(self.rng)
        first = self.add(self.writer.sighting(point, at, [boat], "MARITIME", direction="INBOUND", headcount=people,
                                              notes="Overcrowded vessel, no lights."))
        km, gap = self.rng.uniform(20, 40), self.hours(5, 9)
        radar = self.add(self.writer.sighting(point, at + gap, [self.net.boat.subject(self.rng)], "MARITIME",
                                              location=self.off_every_point(point, km, km), headcount=people))
        self.truth.near_miss("implausible_movement", [first, radar], [self.net.boat],
                             f"radar fix {km:.0f} km off the port {gap / HOUR_MS:.1f} h later is a plausible boat speed")
        subjects = [migrant.passport.subject(self.rng) for migrant in self.net.migrants]
        self.add(self.writer.sighting(point, at + self.hours(0.5, 3), subjects, "PATROL", direction="INBOUND",
                                      headcount=people, notes="Group landed; documents recovered from some."))


# --------------------------------------------------------------------------- background traffic


_BACKGROUND_TYPOLOGIES = ("CASH_INTENSIVE", "STRUCTURING", "ROUND_AMOUNTS", "THIRD_PARTY_DEPOSITS", "UNUSUAL_PATTERN")


@dataclass
class Background:
    """Ordinary traffic: fresh subjects that never complete a pattern (see the module docstring)."""

    writer: EventWriter
    factory: IdentityFactory
    config: WorldConfig
    window: tuple[int, int]
    year: int
    truth: GroundTruth
    events: list[PlannedEvent] = field(default_factory=list)

    def generate(self, count: int) -> list[PlannedEvent]:
        rng = self.writer.rng
        if count >= HOTLINE_ROOM:
            self.hotline()
        stories: list[tuple[Callable[[int], None], int]] = [
            (self.traveller, 38), (self.vehicle, 22), (self.patrol, 4), (self.finance, 14),
            (self.platform, 13), (self.case, 5),
        ]
        if self.config.points_where(None, "sea"):
            stories.append((self.maritime, 4))
        makers, weights = zip(*stories, strict=True)
        while len(self.events) < count:
            rng.choices(makers, weights)[0](count - len(self.events))
        return self.events

    @property
    def rng(self) -> random.Random:
        return self.writer.rng

    def when(self) -> int:
        return self.rng.randint(*self.window)

    def nationality(self, point: BorderPoint | None = None) -> str:
        if point is not None and self.rng.random() < 0.5 and self.config.region(point) in ("IQ", "GR", "GB", "TR"):
            return self.config.region(point)
        return self.rng.choices(("IQ", "TR", "GB", "GR", "DE", "SY", "IR", "AF", "FR", "EG", "PK"),
                                (25, 15, 20, 10, 10, 6, 5, 3, 3, 2, 2))[0]

    def hotline(self) -> None:
        """A taxi firm's number that travellers declare at the border: a hub, which must join none of them.

        The correlator reports it once (hub_detected) on the earliest events, in event order, that
        name more than ``max_links`` other subjects with it.
        """
        cap = RULE_DEFAULTS["max_links"]
        phone = self.factory.phone(self.rng.choice(("GB", "GR", "TR")))
        scans = []
        for _ in range(cap + 5):
            point = self.rng.choice(self.config.sighting_points)
            person = self.factory.person(self.nationality(point), with_phone=False)
            subjects = [person.passport.subject(), phone.subject(self.rng)]
            scans.append(self.writer.sighting(point, self.when(), subjects, "DOCUMENT_SCAN"))
        self.events += scans
        named: set[str] = set()
        evidence = []
        for scan in sorted(scans, key=lambda event: (event.occurred_at_ms, event.event_id)):
            evidence.append(scan)
            named.add(scan.body["subjects"][0]["id"])
            if len(named) > cap:
                break
        self.truth.alert("hub_detected", evidence, [phone], None,
                         f"One phone declared by {len(scans)} different travellers: a hotline, not a link between them.")

    def traveller(self, room: int) -> None:
        """A document scan; some travellers come back through the same point or one nearby."""
        rng = self.rng
        point = rng.choice(self.config.sighting_points)
        person = self.factory.person(self.nationality(point), with_phone=rng.random() < 0.4)
        at = self.when()
        self.events.append(self._scan(person, point, at))
        back_at = at + int(rng.uniform(2, 36) * HOUR_MS)
        if room >= 2 and rng.random() < 0.3 and back_at <= self.window[1]:
            self.events.append(self._scan(person, self._nearby(point), back_at))

    def _scan(self, person: Person, point: BorderPoint, at: int) -> PlannedEvent:
        subjects = [ident.subject() for ident in person.idents()]
        return self.writer.sighting(point, at, subjects, "DOCUMENT_SCAN")

    def _nearby(self, point: BorderPoint) -> BorderPoint:
        near = [other for other in self.config.sighting_points if point.distance_km(other) <= 300]
        return self.rng.choice(near)

    def vehicle(self, room: int) -> None:
        """An ANPR read; some vehicles are read once more, at the same or a nearby point, at most
        60 km/h on average: never three points, never too fast."""
        rng = self.rng
        point = rng.choice(self.config.sighting_points)
        plate = self.factory.plate(self._plate_country(point))
        at = self.when()
        self.events.append(self.writer.sighting(point, at, [plate.subject()], "ANPR_CAMERA"))
        second = self._nearby(point)
        later = at + int((point.distance_km(second) / 60 + rng.uniform(1, 10)) * HOUR_MS)
        if room >= 2 and rng.random() < 0.3 and later <= self.window[1]:
            self.events.append(self.writer.sighting(second, later, [plate.subject()], "ANPR_CAMERA"))

    def _plate_country(self, point: BorderPoint) -> str:
        return plate_country_for(self.config, point) if self.rng.random() < 0.7 else self.rng.choice(PLATE_COUNTRIES)

    def patrol(self, room: int) -> None:
        """A drone or patrol observation of a vehicle or a small group on foot."""
        rng = self.rng
        point = rng.choice(self.config.sighting_points)
        if rng.random() < 0.5:
            subjects = [self.factory.plate(self._plate_country(point)).subject()]
            headcount = rng.randint(1, 6)
        else:
            group = [self.factory.person(self.nationality(), with_phone=False) for _ in range(rng.randint(1, 3))]
            subjects = [person.passport.subject() for person in group]
            headcount = len(group) + rng.randint(0, 12)
        method = rng.choice(("DRONE", "PATROL"))
        location = point.off(rng.uniform(0.5, 15), rng.uniform(0, 360)) if rng.random() < 0.5 else None
        self.events.append(self.writer.sighting(point, self.when(), subjects, method, headcount=headcount, location=location))

    def maritime(self, room: int) -> None:
        """Ferries and cargo ships seen once at a port."""
        point = self.rng.choice(self.config.points_where(None, "sea"))
        flag = self.rng.choice((None, None, "GR", "TR", "GB"))
        vessel = self.factory.vessel(flag)
        self.events.append(self.writer.sighting(point, self.when(), [vessel.subject()], "MARITIME"))

    def finance(self, room: int) -> None:
        """A flag naming a fresh, never-sighted holder; a few score high, which is harmless alone."""
        rng = self.rng
        agency = rng.choice(self.config.publishers("finance-flag"))
        country = agency.country if agency.country in IBAN_COUNTRIES else rng.choice(IBAN_COUNTRIES)
        holder = self.factory.person(self.nationality(), with_phone=rng.random() < 0.5)
        subjects = [self.factory.iban(country).subject()]
        if rng.random() < 0.6:
            subjects.append(rng.choice(holder.idents()).subject())
        channel = rng.choice(("WIRE", "WIRE", "CARD", "MONEY_SERVICE", "CASH_COURIER", "HAWALA", "CRYPTO"))
        if channel == "CRYPTO":
            subjects.append(self.factory.wallet(rng.choice(("ETH", "TRX"))).subject())
        currency = "USD" if channel == "CRYPTO" else _currency(country, rng)
        high = rng.random() < 0.12
        risk = rng.randint(70, 92) if high else rng.randint(5, 65)
        typologies = rng.sample(_BACKGROUND_TYPOLOGIES, rng.randint(1, 2))
        counterparties = [
            {"role": "ORIGINATOR", "subject_id": None, "name": holder.name, "country": holder.nationality},
            {"role": "BENEFICIARY", "subject_id": None, "name": self.factory.name(self.nationality()), "country": country},
        ]
        self.events.append(self.writer.finance_flag(
            agency.code, self.when(), subjects, amount=_amount(currency, rng, 200, 25_000), currency=currency,
            channel=channel, counterparties=counterparties, typologies=typologies, risk=risk, year=self.year,
        ))

    def platform(self, room: int) -> None:
        """Reported content whose contacts are fresh and never reappear."""
        rng = self.rng
        agency = rng.choice(self.config.publishers("platform-report"))
        platform = rng.choice(agency.platforms)
        kind = rng.choice(("ADVERT", "ADVERT", "ACCOUNT", "GROUP", "MESSAGE"))
        subjects = []
        if platform != "whatsapp":
            subjects.append(self.factory.platform_account(platform).subject())
        if platform == "whatsapp" or rng.random() < 0.6:
            subjects.append(self.factory.phone(rng.choice(("IQ", "TR", "GR", "GB", "IR", "AF"))).subject())
        if kind == "ADVERT" and rng.random() < 0.3:
            subjects.append(self.factory.wallet("TRX").subject())
        routes = ("IQ>TR>GR>GB", "IQ>TR>BG>DE", "SY>TR>GR>IT", "AF>IR>TR>GR", "IQ>BY>PL>DE", "LY>IT", "FR>GB")
        route = rng.choice(routes) if kind == "ADVERT" else None
        self.events.append(self.writer.platform_report(
            agency.code, platform, self.when(), subjects, content_kind=kind, route=route,
        ))

    def case(self, room: int) -> None:
        """Unrelated casework on people who never cross a monitored border; never a warrant."""
        rng = self.rng
        agency = rng.choice(self.config.publishers("case-update"))
        suspects = [self.factory.person(self.nationality(), with_phone=False) for _ in range(rng.randint(1, 3))]
        roles = ("SUSPECT", "SUSPECT", "FACILITATOR", "VICTIM", "WITNESS")
        named = [(person.passport.subject(), rng.choice(roles)) for person in suspects]
        network = f"OCG-{self.year}-{rng.randint(100, 999)}" if rng.random() < 0.3 else None
        summary = rng.choice((
            "Document fraud investigation.", "Modern slavery referral reviewed.", "Cash seizure follow-up.",
            "Counterfeit visa stamps recovered.", "Exploitation of seasonal workers under review.",
        ))
        self.events.append(self.writer.case_update(
            agency.code, self.when(), case_id=f"{agency.code.upper()}-{self.year}-{rng.randint(10000, 99999)}",
            status=rng.choice(("OPENED", "SUBJECT_ADDED", "CHARGED", "CLOSED")), named=named, network_id=network,
            summary=summary,
        ))
