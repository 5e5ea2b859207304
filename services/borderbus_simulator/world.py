"""The simulated world: the bus configuration, synthetic identifiers, and the smuggling networks.

Everything here is drawn from a seeded ``random.Random``, so one seed always yields one world.
Identifiers are realistic enough to pass the publisher's validation (valid phone ranges, IBAN and
IMO check digits) and each is issued once: the factory remembers every canonical id it handed out,
so background traffic can never collide with a planted subject by accident.
"""

from __future__ import annotations

import dataclasses
import math
import random
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from borderbus import catalogue, identifiers
from borderbus.catalogue import Agency

# The planted smuggling route runs from the origin country through the transit country to the
# destination country; border points are placed on it by the country of the agency operating them
# (so the UK-run juxtaposed control in France counts as the destination).
ORIGIN, TRANSIT, DESTINATION = ROUTE_COUNTRIES = ("IQ", "GR", "GB")

_AIR = re.compile(r"\bairport\b", re.IGNORECASE)
_SEA = re.compile(r"\b(port|coast|harbour|harbor|marina)\b", re.IGNORECASE)


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class BorderPoint(catalogue.BorderPoint):
    """A catalogue border point with what the scenario needs to know about it."""

    @property
    def kind(self) -> str:
        """'air', 'sea' or 'land', read from the name: the config has no such attribute, and
        the kind decides which sightings are plausible there (a vessel at an airport is not)."""
        if _AIR.search(self.name):
            return "air"
        return "sea" if _SEA.search(self.name) else "land"

    @property
    def short(self) -> str:
        """'ibk' for 'IQ-IBK', used in source-system names such as 'anpr-ibk-2'."""
        return self.code.rsplit("-", 1)[-1].lower()

    def location(self) -> dict[str, Any]:
        return {"border_point": self.code, "country": self.country, "latitude": self.latitude, "longitude": self.longitude}

    def off(self, km: float, bearing_deg: float) -> dict[str, Any]:
        """A location ``km`` from this point on ``bearing_deg`` (a drone or radar fix): coordinates, no border point."""
        lat1, lon1, bearing = map(math.radians, (self.latitude, self.longitude, bearing_deg))
        arc = km / 6371.0
        lat2 = math.asin(math.sin(lat1) * math.cos(arc) + math.cos(lat1) * math.sin(arc) * math.cos(bearing))
        east = math.sin(bearing) * math.sin(arc) * math.cos(lat1)
        lon2 = lon1 + math.atan2(east, math.cos(arc) - math.sin(lat1) * math.sin(lat2))
        return {"border_point": None, "country": self.country, "latitude": round(math.degrees(lat2), 6),
                "longitude": round(math.degrees(lon2), 6)}


@dataclass(frozen=True)
class WorldConfig:
    agencies: dict[str, Agency]
    points: dict[str, BorderPoint]

    def publishers(self, event_type: str) -> list[Agency]:
        """Agencies allowed to publish ``event_type``, in config order."""
        return [agency for agency in self.agencies.values() if event_type in agency.publishes]

    @property
    def sighting_points(self) -> list[BorderPoint]:
        """Points whose operator may publish sightings: the only places a sighting can come from."""
        allowed = {agency.code for agency in self.publishers("sighting")}
        return [point for point in self.points.values() if point.operated_by in allowed]

    def region(self, point: BorderPoint) -> str:
        """The country of the operating agency: where on the route the point sits."""
        return self.agencies[point.operated_by].country

    def points_where(self, region: str | None = None, kind: str | None = None) -> list[BorderPoint]:
        return [
            point for point in self.sighting_points
            if (region is None or self.region(point) == region) and (kind is None or point.kind == kind)
        ]


def load_config(agencies_path: Path, border_points_path: Path) -> WorldConfig:
    """Read the two YAML files the bus itself runs on, so the scenario matches the deployment."""
    agencies = catalogue.parse_agencies(catalogue.read_yaml(agencies_path)["agencies"])
    points = catalogue.parse_border_points(catalogue.read_yaml(border_points_path)["border_points"])
    return WorldConfig(agencies, {code: BorderPoint(**dataclasses.asdict(point)) for code, point in points.items()})


# --------------------------------------------------------------------------- identifiers


@dataclass(frozen=True)
class Ident:
    """One real-world identifier: how it is usually written, other spellings agencies use, and its
    canonical id (what the publisher will turn any spelling into)."""

    kind: str
    raw: str
    country: str | None
    id: str
    label: str | None = None
    spellings: tuple[tuple[str, str | None], ...] = ()

    def subject(self, rng: random.Random | None = None, *, with_label: bool = True) -> dict[str, Any]:
        """The subject as an agency sends it; with ``rng``, in one of its alternative spellings."""
        raw, country = self.raw, self.country
        if rng is not None and self.spellings:
            raw, country = rng.choice(((self.raw, self.country), *self.spellings))
        subject: dict[str, Any] = {"kind": self.kind, "id": raw}
        if country is not None:
            subject["country"] = country
        if with_label and self.label is not None:
            subject["display_name"] = self.label
        return subject

    def truth(self) -> dict[str, Any]:
        """The ground-truth form: the usual spelling plus the canonical id alerts will carry."""
        entry: dict[str, Any] = {"kind": self.kind, "raw": self.raw}
        if self.country is not None:
            entry["country"] = self.country
        entry["id"] = self.id
        return entry


@dataclass(frozen=True)
class Person:
    name: str
    nationality: str
    passport: Ident
    phone: Ident | None = None

    def idents(self) -> list[Ident]:
        return [self.passport] + ([self.phone] if self.phone else [])


ALPHA3 = {
    "AF": "AFG", "DE": "DEU", "EG": "EGY", "ER": "ERI", "FR": "FRA", "GB": "GBR", "GR": "GRC",
    "IQ": "IRQ", "IR": "IRN", "PK": "PAK", "SD": "SDN", "SY": "SYR", "TR": "TUR",
}

# 'L' is a letter, '#' a digit, anything else literal.
_PASSPORT_PATTERNS = {
    "IQ": "L########", "SY": "N#########", "IR": "K########", "AF": "P#######", "TR": "U########",
    "GR": "LL#######", "GB": "#########", "DE": "CLL######", "ER": "LL######", "SD": "P########",
    "PK": "LL#######", "EG": "A########", "FR": "##LL#####",
}

# Mobile ranges that libphonenumber accepts: calling code, a drawer for the national number, the
# trunk prefix dialled nationally, and how the digits are grouped when written.
@dataclass(frozen=True)
class _PhonePlan:
    calling_code: str
    draw: Callable[[random.Random], str]
    trunk: str
    groups: tuple[int, ...]

    def grouped(self, number: str) -> str:
        parts, start = [], 0
        for size in self.groups:
            parts.append(number[start:start + size])
            start += size
        return " ".join(parts)


_PHONE_PLANS: dict[str, _PhonePlan] = {
    "IQ": _PhonePlan("964", lambda r: "7" + r.choice("578") + _digits(r, 8), "0", (3, 3, 4)),
    "GB": _PhonePlan("44", lambda r: "7400" + _digits(r, 6), "0", (4, 6)),
    "TR": _PhonePlan("90", lambda r: "5" + r.choice("345") + _digits(r, 8), "0", (3, 3, 2, 2)),
    "GR": _PhonePlan("30", lambda r: "69" + r.choice("45789") + _digits(r, 7), "", (3, 3, 4)),
    "SY": _PhonePlan("963", lambda r: "9" + r.choice("345689") + _digits(r, 7), "0", (3, 3, 3)),
    "IR": _PhonePlan("98", lambda r: "91" + _digits(r, 8), "0", (3, 3, 4)),
    "AF": _PhonePlan("93", lambda r: "7" + r.choice("0234789") + _digits(r, 7), "0", (2, 3, 4)),
    "DE": _PhonePlan("49", lambda r: "15" + r.choice("12579") + _digits(r, 8), "0", (3, 8)),
}

_GREEK_LOOKALIKE = str.maketrans("ABEZHIKMNOPTYX", "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ")

_IBAN_BANKS = {
    "GB": ("NWBK", "BARC", "LOYD", "HBUK", "MIDL", "WEST"),
    "IQ": ("NBIQ", "RAFB", "TRIQ", "AIBI", "KIBI", "BBAC"),
    "TR": ("00010", "00012", "00015", "00046", "00062", "00064", "00067", "00111"),
    "DE": ("10070000", "20040000", "37040044", "50010517", "70020270"),
}

_VESSEL_MIDS = {"GR": ("237", "239", "240", "241"), "TR": ("271",), "GB": ("232", "233", "235")}
_VESSEL_NAMES = (
    "AEGEAN STAR", "BLUE HORIZON", "NORTH WIND", "SEA SPRAY", "KAPETAN GIORGOS", "MARMARA PRIDE",
    "ANATOLIA", "CHANNEL SPIRIT", "PRIDE OF KENT", "ELENI K", "AYVALIK", "MORNING CLOUD",
)

_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_HANDLE_WORDS = (
    "safe", "travel", "euro", "trip", "road", "visa", "jobs", "uk", "london", "hope", "way", "bridge",
    "sea", "boat", "help", "family", "kurd", "news", "cars", "market", "shop", "food", "music", "life",
)

NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "IQ": (("Karwan", "Hawre", "Ahmed", "Rebin", "Shvan", "Dilan", "Ali", "Omar", "Sara", "Zhino", "Hemin", "Bawar"),
           ("Aziz", "Hamad", "Mustafa", "Rashid", "Barzani", "Jaf", "Othman", "Saleh", "Karim", "Qadir")),
    "SY": (("Mohammad", "Khaled", "Yusuf", "Rania", "Hassan", "Lina", "Samer", "Nour"),
           ("Haddad", "Khalil", "Darwish", "Sabbagh", "Hamdan", "Asaad")),
    "IR": (("Reza", "Mehdi", "Arash", "Neda", "Dariush", "Parisa", "Babak"),
           ("Ahmadi", "Hosseini", "Karimi", "Rahimi", "Moradi", "Jafari")),
    "AF": (("Ahmad", "Farid", "Wahid", "Zarmina", "Naveed", "Gul"),
           ("Safi", "Popal", "Wardak", "Stanikzai", "Noori", "Sultani")),
    "TR": (("Mehmet", "Emre", "Ayse", "Burak", "Elif", "Murat", "Zeynep"),
           ("Yilmaz", "Kaya", "Demir", "Celik", "Sahin", "Ozturk")),
    "GR": (("Giorgos", "Nikos", "Eleni", "Dimitris", "Maria", "Kostas"),
           ("Papadopoulos", "Nikolaou", "Georgiou", "Ioannou", "Vlachos")),
    "GB": (("James", "Oliver", "Emma", "Sophie", "Daniel", "Priya", "Tom", "Aisha"),
           ("Smith", "Jones", "Taylor", "Brown", "Patel", "Walker", "Khan")),
    "DE": (("Lukas", "Anna", "Jonas", "Lea", "Felix"), ("Muller", "Schmidt", "Schneider", "Fischer", "Weber")),
    "ER": (("Yonas", "Selam", "Tesfay", "Helen"), ("Tesfamariam", "Ghebre", "Haile", "Kidane")),
    "SD": (("Mohamed", "Amna", "Osman", "Hiba"), ("Abdelrahman", "Elamin", "Idris", "Babiker")),
    "FR": (("Lucas", "Camille", "Hugo", "Chloe", "Nicolas"), ("Martin", "Bernard", "Dubois", "Moreau", "Laurent")),
    "EG": (("Mahmoud", "Mona", "Tarek", "Yasmin", "Amr"), ("Abdelaziz", "Mansour", "Fahmy", "Soliman", "Hegazy")),
    "PK": (("Imran", "Ayesha", "Bilal", "Sana", "Usman"), ("Qureshi", "Malik", "Chaudhry", "Butt", "Raza")),
}


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(count))


def _letters(rng: random.Random, count: int, alphabet: str = string.ascii_uppercase) -> str:
    return "".join(rng.choice(alphabet) for _ in range(count))


def _from_pattern(rng: random.Random, pattern: str) -> str:
    return "".join(
        rng.choice(string.ascii_uppercase) if ch == "L" else rng.choice(string.digits) if ch == "#" else ch for ch in pattern
    )


def iban_check_digits(country: str, bban: str) -> str:
    """ISO 13616 check digits: move the country and '00' behind the BBAN, read letters as 10..35,
    and choose the two digits that make the whole number 1 modulo 97."""
    numeric = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    return f"{98 - int(numeric) % 97:02d}"


def imo_check_digit(six_digits: str) -> int:
    """IMO check digit: the first six digits weighted 7..2, summed, modulo 10."""
    return sum(int(d) * w for d, w in zip(six_digits, range(7, 1, -1), strict=True)) % 10


class IdentityFactory:
    """Issues unique, valid identifiers.

    Every identifier goes through the bus's own normaliser; a clash with anything issued before
    (compared by canonical id, so '0770 ...' and '+964 770 ...' count as one) or a value the
    normaliser refuses is simply drawn again.
    """

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.issued: set[tuple[str, str]] = set()

    def _issue(self, kind: str, draw: Callable[[], tuple[str, str | None, tuple[tuple[str, str | None], ...]]],
               label: str | None = None) -> Ident:
        for _ in range(1000):
            raw, country, spellings = draw()
            try:
                canonical = identifiers.normalise(kind, raw, country)
            except identifiers.IdentifierError:
                continue
            if (kind, canonical) not in self.issued:
                self.issued.add((kind, canonical))
                return Ident(kind, raw, country, canonical, label, spellings)
        raise RuntimeError(f"could not draw a fresh {kind} identifier")

    def name(self, nationality: str) -> str:
        firsts, lasts = NAMES.get(nationality, NAMES["GB"])
        return f"{self.rng.choice(firsts)} {self.rng.choice(lasts)}"

    def passport(self, country: str, holder: str | None = None) -> Ident:
        pattern = _PASSPORT_PATTERNS.get(country, "LL#######")

        def draw() -> tuple[str, str | None, tuple[tuple[str, str | None], ...]]:
            number = _from_pattern(self.rng, pattern)
            alpha3 = ALPHA3.get(country, country)
            spellings = ((f"{number[:2]} {number[2:]}", country), (number, alpha3), (number.lower(), country.lower()))
            return number, country, spellings

        return self._issue("PERSON_DOCUMENT", draw, holder)

    def phone(self, country: str) -> Ident:
        """International format usually; agencies also write it nationally (with the country) or with 00."""
        plan = _PHONE_PLANS[country]

        def draw() -> tuple[str, str | None, tuple[tuple[str, str | None], ...]]:
            number = plan.draw(self.rng)
            grouped = plan.grouped(number)
            spellings = ((f"{plan.trunk}{grouped}", country), (f"00{plan.calling_code}{number}", None))
            return f"+{plan.calling_code} {grouped}", None, spellings

        return self._issue("PHONE", draw)

    def plate(self, country: str) -> Ident:
        rng = self.rng

        def draw() -> tuple[str, str | None, tuple[tuple[str, str | None], ...]]:
            variants: tuple[str, ...]
            if country == "IQ":
                plate = f"{rng.randint(10, 99)}-{_digits(rng, 5)}"
                variants = (plate.replace("-", " "), plate.replace("-", ""))
            elif country == "TR":
                plate = f"{rng.randint(1, 81):02d} {_letters(rng, 3)} {_digits(rng, 3)}"
                variants = (plate.replace(" ", ""),)
            elif country == "GR":
                plate = f"{_letters(rng, 3, 'ABEZHIKMNOPTYX')}-{_digits(rng, 4)}"
                variants = (plate.translate(_GREEK_LOOKALIKE), plate.replace("-", " "))
            elif country == "DE":
                plate = f"{rng.choice(('B', 'M', 'HH', 'K', 'F', 'S'))}-{_letters(rng, 2)} {rng.randint(1, 9999)}"
                variants = (plate.replace("-", " "),)
            else:
                plate = f"{_letters(rng, 2)}{_digits(rng, 2)} {_letters(rng, 3)}"
                variants = (plate.replace(" ", ""),)
            alpha3 = ALPHA3.get(country, country)
            return plate, country, (*((v, country) for v in variants), (plate, alpha3), (plate.lower(), alpha3.lower()))

        return self._issue("VEHICLE_PLATE", draw)

    def vessel(self, flag: str | None = None) -> Ident:
        rng = self.rng
        name = rng.choice(_VESSEL_NAMES)

        def draw() -> tuple[str, str | None, tuple[tuple[str, str | None], ...]]:
            if flag is None:
                six = rng.choice("89") + _digits(rng, 5)
                number = f"{six}{imo_check_digit(six)}"
                return f"IMO {number}", None, ((f"IMO{number}", None), (number, None))
            mmsi = rng.choice(_VESSEL_MIDS.get(flag, ("237",))) + _digits(rng, 6)
            return f"MMSI {mmsi}", None, ((mmsi, None),)

        return self._issue("VESSEL", draw, name)

    def iban(self, country: str) -> Ident:
        rng = self.rng

        def draw() -> tuple[str, str | None, tuple[tuple[str, str | None], ...]]:
            bank = rng.choice(_IBAN_BANKS[country])
            bban = {
                "GB": lambda: bank + _digits(rng, 6) + _digits(rng, 8),
                "IQ": lambda: bank + _digits(rng, 3) + _digits(rng, 12),
                "TR": lambda: bank + "0" + _digits(rng, 16),
                "DE": lambda: bank + _digits(rng, 10),
            }[country]()
            compact = country + iban_check_digits(country, bban) + bban
            grouped = " ".join(compact[i:i + 4] for i in range(0, len(compact), 4))
            return compact, None, ((grouped, None),)

        return self._issue("BANK_ACCOUNT", draw)

    def wallet(self, chain: str) -> Ident:
        rng = self.rng

        def draw() -> tuple[str, str | None, tuple[tuple[str, str | None], ...]]:
            if chain == "ETH":
                address = "0x" + _letters(rng, 40, "0123456789abcdef")
                return address, None, ((f"ETH:{address}", None),)
            address = "T" + _letters(rng, 33, _BASE58)
            return address, None, ((f"TRC20:{address}", None),)

        return self._issue("CRYPTO_WALLET", draw)

    def platform_account(self, platform: str) -> Ident:
        rng = self.rng

        def draw() -> tuple[str, str | None, tuple[tuple[str, str | None], ...]]:
            handle = f"{rng.choice(_HANDLE_WORDS)}{rng.choice('._')}{rng.choice(_HANDLE_WORDS)}{_digits(rng, rng.randint(2, 5))}"
            at = "@" if platform in ("tiktok", "instagram", "x") else ""
            return f"{platform}:{at}{handle}", None, ((f"{platform}:{handle.upper()}", None),)

        return self._issue("PLATFORM_ACCOUNT", draw)

    def person(self, nationality: str, *, phone_country: str | None = None, with_phone: bool = True,
               avoid_names: set[str] | None = None) -> Person:
        """A traveller with a passport and usually a phone; ``avoid_names`` keeps the people of one
        network distinguishable by name in the ground truth (ids stay the real key)."""
        name = self.name(nationality)
        for _ in range(50):
            if avoid_names is None or name not in avoid_names:
                break
            name = self.name(nationality)
        if avoid_names is not None:
            avoid_names.add(name)
        phone = self.phone(phone_country or phone_country_for(nationality)) if with_phone else None
        return Person(name, nationality, self.passport(nationality, name), phone)


def phone_country_for(country: str) -> str:
    """People carry a local SIM where the plan is known, else an Iraqi one (the route's origin)."""
    return country if country in _PHONE_PLANS else ORIGIN


PLATE_COUNTRIES = ("IQ", "TR", "GR", "GB", "DE")
IBAN_COUNTRIES = tuple(_IBAN_BANKS)


# --------------------------------------------------------------------------- networks


@dataclass
class Network:
    """One smuggling network. Each member has one job in the planted patterns, so that patterns
    never share a subject and cannot combine into an alert the ground truth does not list."""

    network_id: str
    case_ids: dict[str, str]                       # case-update agency code -> case id
    wanted_organiser: Person                       # warrant issued, then sighted
    cleared_organiser: Person                      # warrant issued and withdrawn, then sighted
    advert_facilitator: Person                     # phone in an advert, then at a checkpoint
    quiet_facilitator: Person                      # phone in an advert, never seen again
    convoy_drivers: tuple[Person, Person]          # same point within the convergence window
    drone_pair: tuple[Person, Person]              # one scanned at a point, one seen by a drone a few km off it
    spaced_drivers: tuple[Person, Person]          # same point, too far apart in time
    flag_first_financier: Person                   # high-risk flag, then sighted
    sighting_first_financier: Person               # sighted, then high-risk flag
    low_risk_courier: Person                       # flag just under the threshold, then sighted
    unnamed_holder: Person                         # account flagged without naming the holder
    late_courier: Person                           # flagged, sighted after the window
    migrants: list[Person]
    fast_vessel: Ident                             # at a port, then a radar contact too far off for a boat
    fast_vehicle: Ident
    touring_vehicle: Ident
    steady_vehicle: Ident
    boat: Ident
    accounts: dict[str, Ident]                     # passport id -> account
    advert_wallets: tuple[Ident, Ident]
    platform_accounts: list[Ident] = field(default_factory=list)   # the advertisers, made when advertising
    route: list[str] = field(default_factory=list)

    def case_named(self) -> list[tuple[Person, str]]:
        """The people the case names, with their roles: the members convergence is judged on."""
        return [
            (self.wanted_organiser, "ORGANISER"), (self.cleared_organiser, "ORGANISER"),
            (self.flag_first_financier, "FINANCIER"), (self.sighting_first_financier, "FINANCIER"),
            (self.advert_facilitator, "FACILITATOR"), (self.quiet_facilitator, "FACILITATOR"),
            *((driver, "DRIVER") for driver in (*self.convoy_drivers, *self.spaced_drivers, *self.drone_pair)),
        ]

    def truth(self) -> dict[str, Any]:
        members = [self._member(role, person) for person, role in self.case_named()]
        members += [self._member("COURIER", p) for p in (self.low_risk_courier, self.unnamed_holder, self.late_courier)]
        members += [self._member("MIGRANT", person) for person in self.migrants]
        assets = (self.fast_vessel, self.fast_vehicle, self.touring_vehicle, self.steady_vehicle, self.boat, *self.advert_wallets,
                  *self.platform_accounts)
        return {
            "network_id": self.network_id,
            "case_ids": sorted(self.case_ids.values()),
            "members": members,
            "assets": [ident.truth() for ident in assets],
            "route": self.route,
        }

    def _member(self, role: str, person: Person) -> dict[str, Any]:
        idents = person.idents()
        if person.passport.id in self.accounts:
            idents.append(self.accounts[person.passport.id])
        return {"role": role, "name": person.name, "subjects": [ident.truth() for ident in idents]}


_MIGRANT_NATIONALITIES = ("IQ", "IQ", "SY", "IR", "AF", "ER", "SD")


def build_network(factory: IdentityFactory, config: WorldConfig, index: int, year: int,
                  plate_countries: tuple[str, str, str]) -> Network:
    """A network with organisers from the origin country, financiers at both ends of the route,
    and drivers and facilitators along it; it has a case at every agency that publishes case
    updates. ``plate_countries`` registers the fast, touring and steady vehicles where they drive."""
    rng = factory.rng
    case_ids = {
        agency.code: f"{agency.code.upper()}-{year}-{rng.randint(1000, 9999)}"
        for agency in config.publishers("case-update")
    }
    accounts: dict[str, Ident] = {}
    names: set[str] = set()

    def member(nationality: str = ORIGIN, phone_country: str | None = None, account_country: str | None = None) -> Person:
        person = factory.person(nationality, phone_country=phone_country, avoid_names=names)
        if account_country is not None:
            accounts[person.passport.id] = factory.iban(account_country)
        return person

    fast, touring, steady = plate_countries
    return Network(
        network_id=f"OIC-NET-{year}-{index + 1:02d}{_letters(rng, 2)}",
        case_ids=case_ids,
        wanted_organiser=member(),
        cleared_organiser=member(),
        advert_facilitator=member(rng.choice(("TR", ORIGIN)), phone_country="TR"),
        quiet_facilitator=member(rng.choice(("TR", ORIGIN)), phone_country="TR"),
        convoy_drivers=(member(rng.choice(("GB", ORIGIN, "DE"))), member(rng.choice(("GB", "TR")))),
        spaced_drivers=(member(), member()),
        drone_pair=(member(rng.choice(("GB", ORIGIN))), member()),
        flag_first_financier=member(account_country="IQ"),
        sighting_first_financier=member(rng.choice(("GB", ORIGIN)), phone_country="GB", account_country="GB"),
        low_risk_courier=member(rng.choice(("TR", ORIGIN)), account_country="TR"),
        unnamed_holder=member(rng.choice(("DE", ORIGIN)), phone_country="DE", account_country="DE"),
        late_courier=member(account_country="IQ"),
        migrants=[member(rng.choice(_MIGRANT_NATIONALITIES)) for _ in range(rng.randint(3, 5))],
        fast_vessel=factory.vessel(None),
        fast_vehicle=factory.plate(fast),
        touring_vehicle=factory.plate(touring),
        steady_vehicle=factory.plate(steady),
        boat=factory.vessel(rng.choice(("GR", "TR"))),
        accounts=accounts,
        advert_wallets=(factory.wallet("TRX"), factory.wallet("TRX")),
    )


def plate_country_for(config: WorldConfig, point: BorderPoint) -> str:
    """Vehicles mostly carry plates of the country whose agency reads them."""
    region = config.region(point)
    return region if region in PLATE_COUNTRIES else "GB"
