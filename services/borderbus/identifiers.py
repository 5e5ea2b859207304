"""Canonical forms for the identifiers that border events name as subjects.

The correlator joins events from different agencies only when they name the
same subject with byte-identical strings, so every spelling of one real-world
identifier must map to exactly one canonical string, and a canonical string
must map to itself (``normalise`` is idempotent).  Every canonical form is
self-describing, so it can be re-normalised without the ``country`` hint.

Identifier policy: refuse only what cannot be put in a canonical form. An identifier that is well
formed but cannot be verified (a phone number of the right length in a range the numbering plan
calls unassigned: plans lag behind the operators) keeps its canonical form and is reported as
unverified (:func:`canonicalise`), so it still joins the events that name it; a caller asking
for ``strict`` treats it as invalid.

This module is pure logic: no I/O, no clock, no global state.
"""

from __future__ import annotations

import contextlib
import enum
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum.exceptions import InvalidChecksum, InvalidComponent, ValidationError

__all__ = ["Canonical", "IdentifierError", "SubjectKind", "canonicalise", "normalise", "subject_key"]


class SubjectKind(enum.StrEnum):
    """Kinds of subject; values equal the Avro enum symbols."""

    PERSON_DOCUMENT = "PERSON_DOCUMENT"
    PHONE = "PHONE"
    VEHICLE_PLATE = "VEHICLE_PLATE"
    VESSEL = "VESSEL"
    BANK_ACCOUNT = "BANK_ACCOUNT"
    CRYPTO_WALLET = "CRYPTO_WALLET"
    PLATFORM_ACCOUNT = "PLATFORM_ACCOUNT"


class IdentifierError(ValueError):
    """An identifier that cannot be normalised.

    ``field`` names the offending input ('id', 'country' or 'kind') so an API
    can point at it; ``reason`` is a sentence the sender can act on.  Reasons
    describe the problem rather than echo the value, because these values are
    personal data and errors end up in logs.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class _Unverifiable(Exception):
    """Raised inside a normaliser: the identifier has this canonical form but cannot be verified."""

    def __init__(self, canonical: str, reason: str) -> None:
        super().__init__(reason)
        self.canonical = canonical
        self.reason = reason


@dataclass(frozen=True)
class Canonical:
    """An identifier's canonical form; ``verified`` is False (with ``reason``) when it is well formed but unverifiable."""

    id: str
    verified: bool = True
    reason: str | None = None


_ALPHA3_TO_ALPHA2: dict[str, str] = {
    "AFG": "AF",
    "ALB": "AL",
    "ARE": "AE",
    "ARM": "AM",
    "AUT": "AT",
    "AZE": "AZ",
    "BEL": "BE",
    "BGD": "BD",
    "BGR": "BG",
    "BHR": "BH",
    "BIH": "BA",
    "CHE": "CH",
    "CHN": "CN",
    "CYP": "CY",
    "CZE": "CZ",
    "DEU": "DE",
    "DNK": "DK",
    "DZA": "DZ",
    "EGY": "EG",
    "ERI": "ER",
    "ESP": "ES",
    "EST": "EE",
    "ETH": "ET",
    "FIN": "FI",
    "FRA": "FR",
    "GBR": "GB",
    "GEO": "GE",
    "GRC": "GR",
    "HRV": "HR",
    "HUN": "HU",
    "IND": "IN",
    "IRL": "IE",
    "IRN": "IR",
    "IRQ": "IQ",
    "ISL": "IS",
    "ISR": "IL",
    "ITA": "IT",
    "JOR": "JO",
    "KWT": "KW",
    "LBN": "LB",
    "LBY": "LY",
    "LIE": "LI",
    "LTU": "LT",
    "LUX": "LU",
    "LVA": "LV",
    "MAR": "MA",
    "MDA": "MD",
    "MKD": "MK",
    "MLT": "MT",
    "MNE": "ME",
    "NGA": "NG",
    "NLD": "NL",
    "NOR": "NO",
    "OMN": "OM",
    "PAK": "PK",
    "POL": "PL",
    "PRT": "PT",
    "PSE": "PS",
    "QAT": "QA",
    "ROU": "RO",
    "RUS": "RU",
    "SAU": "SA",
    "SDN": "SD",
    "SOM": "SO",
    "SRB": "RS",
    "SVK": "SK",
    "SVN": "SI",
    "SWE": "SE",
    "SYR": "SY",
    "TUN": "TN",
    "TUR": "TR",
    "UKR": "UA",
    "USA": "US",
    "VNM": "VN",
    "YEM": "YE",
}
_ALPHA2 = frozenset(_ALPHA3_TO_ALPHA2.values())

_COUNTRY_PREFIX = re.compile(r"([A-Za-z]{2,3})\s*:\s*(.*)", re.DOTALL)

# Greek and Cyrillic capitals that plates and documents share with Latin
# (Greek and Bulgarian plates use only these), so that an officer typing on a
# Greek or Cyrillic keyboard produces the same key as one typing in Latin; and
# the Persian-keyboard Yeh and Keheh, which render like Arabic Yeh and Kaf.
_LOOKALIKES = str.maketrans(
    "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧАВЕКМНОРСТУХІЈЅ\u06cc\u06a9",
    "ABEZHIKMNOPTYXABEKMHOPCTYXIJS\u064a\u0643",
)

_DOCUMENT = re.compile(r"[A-Z0-9]{5,20}")
_DOCUMENT_SEPARATORS = re.compile(r"[\s.\-]+")

_VESSEL = re.compile(r"(IMO|MMSI)?[\s:.\-]*([0-9]+)")

_IBAN_SHAPE = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{1,30}")
_IBAN_NOISE = re.compile(r"[\s.\-]+")

_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32M_CONST = 0x2BC830A3
_BTC_BECH32 = re.compile(rf"bc1[{_BECH32_CHARSET}]{{11,71}}")
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BTC_BASE58 = re.compile(rf"[13][{_BASE58}]{{25,34}}")
_TRX = re.compile(rf"T[{_BASE58}]{{33}}")
_ETH = re.compile(r"0x[0-9a-f]{40}")
_CHAIN_ALIASES: dict[str, str] = {
    "BTC": "BTC",
    "BITCOIN": "BTC",
    "XBT": "BTC",
    "ETH": "ETH",
    "ETHEREUM": "ETH",
    "ERC20": "ETH",
    "TRX": "TRX",
    "TRON": "TRX",
    "TRC20": "TRX",
}
_CHAIN_PREFIX = re.compile(r"([A-Za-z0-9]+)\s*:\s*(.*)", re.DOTALL)

_PLATFORMS = frozenset(
    {
        "facebook",
        "instagram",
        "whatsapp",
        "messenger",
        "tiktok",
        "telegram",
        "x",
        "youtube",
        "snapchat",
    }
)
_PLATFORM_ALIASES: dict[str, str] = {"twitter": "x"}
_HANDLE = re.compile(r"[a-z0-9._-]{1,64}")


def normalise(kind: str | SubjectKind, raw: str, country: str | None = None, *, strict: bool = False) -> str:
    """Return the canonical id string for one identifier, or raise IdentifierError.

    ``country`` (ISO 3166-1 alpha-2 or alpha-3, any case) is the issuing
    country of a document or plate and the dialling region of a national
    phone number (also for WhatsApp accounts); the other kinds are
    self-describing and ignore it. A well-formed but unverifiable identifier
    is returned in canonical form unless ``strict`` (see :func:`canonicalise`).
    """
    return canonicalise(kind, raw, country, strict=strict).id


def canonicalise(kind: str | SubjectKind, raw: str, country: str | None = None, *, strict: bool = False) -> Canonical:
    """The canonical form and whether it could be verified; IdentifierError when there is no canonical form.

    With ``strict``, an unverifiable identifier is an IdentifierError too (an agency's stricter policy).
    """
    subject_kind = _parse_kind(kind)
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        raise IdentifierError("id", "is empty")
    try:
        return Canonical(_NORMALISERS[subject_kind](text, country))
    except _Unverifiable as unverifiable:
        if strict:
            raise IdentifierError("id", unverifiable.reason) from None
        return Canonical(unverifiable.canonical, False, unverifiable.reason)


def subject_key(kind: str | SubjectKind, canonical_id: str) -> str:
    """Return 'KIND:canonical_id', the Kafka partition key and correlation-state key.

    Refuses ids that are not already canonical: a key built from a raw spelling
    would silently split one subject into two.
    """
    subject_kind = _parse_kind(kind)
    if isinstance(canonical_id, str) and len(canonical_id) <= _REMEMBERED_ID_LENGTH:
        return _remembered_key(subject_kind, canonical_id)
    return _checked_key(subject_kind, canonical_id)


_REMEMBERED_ID_LENGTH = 128
"""Ids up to this length (every real one) have their keys remembered; a longer one is checked each time,
so a hostile record cannot fill the cache with megabytes."""


def _checked_key(kind: SubjectKind, canonical_id: str) -> str:
    key_form = _KEY_FORMS.get(kind)
    text = canonical_id.strip() if isinstance(canonical_id, str) else ""
    canonical = key_form(text, None) if key_form is not None and text else normalise(kind, canonical_id)
    if canonical != canonical_id:
        raise IdentifierError("id", "is not in canonical form; pass it through normalise() first")
    return f"{kind.value}:{canonical_id}"


@lru_cache(maxsize=1 << 16)
def _remembered_key(kind: SubjectKind, canonical_id: str) -> str:
    """:func:`_checked_key`, remembered: the ingest decoder and the observation both key every subject of every
    event, and a phone number or IBAN costs 60-100 us to normalise (a refusal raises, so is never remembered)."""
    return _checked_key(kind, canonical_id)


_KINDS = {kind.value: kind for kind in SubjectKind}


def _parse_kind(kind: str | SubjectKind) -> SubjectKind:
    """Accept the enum or its symbol in any case, since both travel over the wire."""
    if isinstance(kind, SubjectKind):
        return kind
    exact = _KINDS.get(kind) if isinstance(kind, str) else None
    if exact is not None:
        return exact
    try:
        return SubjectKind(str(kind).strip().upper())
    except ValueError:
        known = ", ".join(k.value for k in SubjectKind)
        raise IdentifierError("kind", f"unknown subject kind; use one of {known}") from None


def _parse_country(code: str) -> str:
    """Map an alpha-2 or alpha-3 code to alpha-2; unknown codes are refused
    rather than passed through, because a typo would create a separate subject."""
    upper = code.strip().upper()
    if upper in _ALPHA2:
        return upper
    if upper in _ALPHA3_TO_ALPHA2:
        return _ALPHA3_TO_ALPHA2[upper]
    raise IdentifierError(
        "country",
        "unknown country code; use ISO 3166-1 alpha-2 (e.g. IQ) or alpha-3 (e.g. IRQ)",
    )


def _given_country(country: str | None) -> str | None:
    """Treat a blank country like a missing one (Avro producers often send '')."""
    if country is None or not country.strip():
        return None
    return _parse_country(country)


def _split_country(text: str, country: str | None, what: str) -> tuple[str, str]:
    """Split an optional 'CC:' prefix off ``text`` and reconcile it with ``country``.

    The prefix makes canonical ids re-normalisable without a country argument.
    """
    given = _given_country(country)
    match = _COUNTRY_PREFIX.fullmatch(text)
    if match:
        prefixed = _parse_country(match.group(1))
        if given is not None and given != prefixed:
            raise IdentifierError(
                "country",
                f"the {what} is prefixed with {prefixed} but country says {given}",
            )
        return prefixed, match.group(2)
    if given is None:
        raise IdentifierError("country", f"is required for a {what}: give the issuing country")
    return given, text


def _fold(text: str) -> str:
    """Fold presentation differences that do not change a printed identifier:
    compatibility forms (full-width digits), any script's decimal digits
    (Arabic-Indic, Eastern Arabic-Indic) to ASCII, case, and Latin look-alikes."""
    if text.isascii():  # ASCII is its own NFKC form, its digits are decimal already, and no look-alike is ASCII
        return text.upper()
    return _fold_unicode(text)


def _fold_unicode(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in text)
    return unicodedata.normalize("NFKC", text.upper()).translate(_LOOKALIKES)


def _person_document(text: str, country: str | None) -> str:
    """'<CC>:<NUMBER>': document numbers are only unique per issuing country."""
    cc, number = _split_country(text, country, "document number")
    number = _DOCUMENT_SEPARATORS.sub("", _fold(number))
    if not _DOCUMENT.fullmatch(number):
        raise IdentifierError(
            "id",
            "a document number must be 5-20 letters A-Z and digits after removing spaces, hyphens and dots",
        )
    return f"{cc}:{number}"


_NOT_A_NUMBER = "it does not look like a phone number"
_PARSE_PROBLEMS: dict[int, str] = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: ("the country calling code is unknown"),
    phonenumbers.NumberParseException.NOT_A_NUMBER: _NOT_A_NUMBER,
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "it is too short",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "it is too short",
    phonenumbers.NumberParseException.TOO_LONG: "it is too long",
}
_POSSIBILITY_PROBLEMS: dict[int, str] = {
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: ("the country calling code is unknown"),
    phonenumbers.ValidationResult.TOO_SHORT: "it is too short",
    phonenumbers.ValidationResult.TOO_LONG: "it is too long",
    phonenumbers.ValidationResult.INVALID_LENGTH: "it has the wrong length",
    phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY: ("it is too short (a local number needs its area code)"),
}


def _phone(text: str, country: str | None) -> str:
    """E.164; a national number needs ``country`` as its dialling region.

    Without a region, a leading 00 is read as the international prefix, as it
    is in most of the world.  Extensions are dropped because E.164 cannot
    express them and the subscriber line is what identifies the subject.
    """
    number, region, e164 = _possible_phone(text, country)
    if phonenumbers.is_valid_number(number):
        return e164
    # the right length for its country: E.164 is its one spelling, only the range is not known to be assigned
    raise _Unverifiable(e164, _invalid_phone(_region_of(region, number), "no such number range is known to be in use").reason)


def _phone_key_form(text: str, country: str | None) -> str:
    """:func:`_phone`'s canonical form without the check of the number range, which only tells a verified number
    from an unverifiable one (both have a canonical form): a third of the cost of keying a phone number."""
    return _possible_phone(text, country)[2]


def _possible_phone(text: str, country: str | None) -> tuple[phonenumbers.PhoneNumber, str | None, str]:
    """The parsed number, the region given, and its E.164 form; IdentifierError unless it has a possible length."""
    region = _given_country(country)
    if region is None and text.startswith("00"):
        text = "+" + text[2:]
    if region is None and not text.startswith("+"):
        raise IdentifierError(
            "country",
            "is required for a phone number without an international prefix; "
            "give the region or write the number as +<country code>...",
        )
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        problem = _PARSE_PROBLEMS.get(exc.error_type, _NOT_A_NUMBER)
        raise _invalid_phone(region, problem) from None
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible == phonenumbers.ValidationResult.IS_POSSIBLE:
        return number, region, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    raise _invalid_phone(_region_of(region, number), _POSSIBILITY_PROBLEMS.get(possible, "it has the wrong length"))


def _region_of(given: str | None, number: phonenumbers.PhoneNumber) -> str:
    """The region a number was checked against: the one given, else its country code's."""
    return given if given is not None else phonenumbers.region_code_for_country_code(number.country_code or 0)


def _invalid_phone(region: str | None, problem: str) -> IdentifierError:
    """Name the region the number was checked against; never echo the number."""
    if region in (None, phonenumbers.UNKNOWN_REGION):
        region = "unknown"
    return IdentifierError("id", f"not a valid phone number for region {region}: {problem}")


def _vehicle_plate(text: str, country: str | None) -> str:
    """'<CC>:<PLATE>': plates are only unique per registering country, and the
    same plate is written with varying separators, digits and scripts."""
    cc, plate = _split_country(text, country, "vehicle plate")
    plate = "".join(ch for ch in _fold(plate) if ch.isalnum())
    if not 2 <= len(plate) <= 12:
        raise IdentifierError(
            "id",
            "a vehicle plate must have 2-12 letters and digits after removing spaces and punctuation",
        )
    return f"{cc}:{plate}"


def _vessel(text: str, country: str | None) -> str:
    """'IMO:<7 digits>' (hull, check digit verified) or 'MMSI:<9 digits>' (radio);
    a bare number is classified by its length."""
    match = _VESSEL.fullmatch(text.upper())
    if not match:
        raise IdentifierError("id", "a vessel id must be an IMO number (7 digits) or an MMSI (9 digits)")
    scheme, digits = match.group(1), match.group(2)
    if scheme is None:
        scheme = {7: "IMO", 9: "MMSI"}.get(len(digits))
        if scheme is None:
            raise IdentifierError(
                "id",
                "a bare vessel number must have 7 digits (IMO) or 9 digits (MMSI)",
            )
    if scheme == "IMO":
        if len(digits) != 7:
            raise IdentifierError("id", "an IMO number must have exactly 7 digits")
        weighted = sum(int(d) * w for d, w in zip(digits[:6], range(7, 1, -1), strict=True))
        if weighted % 10 != int(digits[6]):
            raise IdentifierError("id", "the IMO check digit does not match; re-check the number")
    elif len(digits) != 9:
        raise IdentifierError("id", "an MMSI must have exactly 9 digits")
    return f"{scheme}:{digits}"


def _bank_account(text: str, country: str | None) -> str:
    """Compact upper-case IBAN, the one account number format that is unique
    worldwide.  The layout is checked before the check digits so that a missing
    or extra character is reported as a format problem, not a checksum one."""
    number = _IBAN_NOISE.sub("", text.upper()).removeprefix("IBAN").lstrip(":")
    if not _IBAN_SHAPE.fullmatch(number):
        raise IdentifierError(
            "id",
            "only IBANs are accepted for now: expected 2 letters, 2 check digits and up to 30 letters or digits",
        )
    if "02" <= number[2:4] <= "98":  # the range stdnum computes check digits in: a valid IBAN needs no correction
        with contextlib.suppress(ValidationError):
            return stdnum_iban.validate(number)  # one check of layout, check digits and national digits (the usual case)
    cc = number[:2]
    corrected = cc + stdnum_iban.calc_check_digits(number) + number[4:]
    try:
        stdnum_iban.validate(corrected, check_country=False)
    except InvalidComponent:
        raise IdentifierError("id", f"IBAN format failed: {cc} is not a country that issues IBANs") from None
    except ValidationError:
        raise IdentifierError("id", f"IBAN format failed: wrong length or layout for an IBAN from {cc}") from None
    if corrected != number:
        raise IdentifierError(
            "id",
            "IBAN checksum failed: the check digits do not match the account number",
        )
    try:
        stdnum_iban.validate(number)
    except InvalidChecksum:
        raise IdentifierError(
            "id",
            f"IBAN checksum failed: the national check digits for {cc} do not match",
        ) from None
    except ValidationError:
        raise IdentifierError("id", f"IBAN format failed: the account part is not valid for {cc}") from None
    return number


def _crypto_wallet(text: str, country: str | None) -> str:
    """'<CHAIN>:<address>' for BTC, ETH and TRX.

    Only character sets, lengths and (for bech32) the checksum are verified;
    base58check and EIP-55 checksums are not, so a typo in those formats still
    yields a well-formed but wrong address.  Case is folded only where the
    format is case-insensitive (bech32, hex); base58 is case-sensitive.
    """
    declared = None
    address = text
    match = _CHAIN_PREFIX.fullmatch(text)
    if match:
        declared = _CHAIN_ALIASES.get(match.group(1).upper())
        if declared is None:
            supported = ", ".join(sorted(set(_CHAIN_ALIASES.values())))
            raise IdentifierError("id", f"unsupported chain prefix; supported chains are {supported}")
        address = match.group(2).strip()
    detected = _detect_chain(address)
    if detected is None:
        raise IdentifierError(
            "id",
            "unrecognised wallet address format; expected a BTC (bc1..., 1..., "
            "3...), ETH (0x + 40 hex) or TRX (T + 33 base58) address",
        )
    chain, canonical = detected
    if declared is not None and declared != chain:
        raise IdentifierError("id", f"the address is a {chain} address but is prefixed {declared}")
    return f"{chain}:{canonical}"


def _detect_chain(address: str) -> tuple[str, str] | None:
    """Return (chain, canonical address) or None when no format matches."""
    if address[:3].lower() == "bc1":
        lower = address.lower()
        if address not in (lower, address.upper()):
            raise IdentifierError("id", "a bech32 address must be all lower-case or all upper-case")
        if not _BTC_BECH32.fullmatch(lower) or not _bech32_checksum_ok(lower):
            raise IdentifierError(
                "id",
                "not a valid bech32 BTC address: bad characters, length or checksum",
            )
        return "BTC", lower
    if address[:2].lower() == "0x":
        lower = address.lower()
        return ("ETH", lower) if _ETH.fullmatch(lower) else None
    if _BTC_BASE58.fullmatch(address):
        return "BTC", address
    if _TRX.fullmatch(address):
        return "TRX", address
    return None


def _bech32_checksum_ok(address: str) -> bool:
    """BIP-173/BIP-350 checksum: witness v0 uses bech32, later versions bech32m.
    Cheap to verify and catches the typos that would otherwise split a subject."""
    hrp, data = address[:2], [_BECH32_CHARSET.index(c) for c in address[3:]]
    values = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + data
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i, gen in enumerate((0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)):
            if (top >> i) & 1:
                chk ^= gen
    return data[0] <= 16 and chk == (1 if data[0] == 0 else _BECH32M_CONST)


def _platform_account(text: str, country: str | None) -> str:
    """'<platform>:<handle>', lower-case, since these platforms treat handles
    case-insensitively.  WhatsApp accounts are phone numbers, so their handle
    is the E.164 number (country is its dialling region), matching PHONE ids."""
    platform, sep, handle = text.partition(":")
    if not sep:
        raise IdentifierError(
            "id",
            "a platform account must be written as platform:handle, e.g. tiktok:@name",
        )
    platform = platform.strip().lower()
    platform = _PLATFORM_ALIASES.get(platform, platform)
    if platform not in _PLATFORMS:
        supported = ", ".join(sorted(_PLATFORMS))
        raise IdentifierError("id", f"unsupported platform; supported platforms are {supported}")
    handle = handle.strip()
    if not handle:
        raise IdentifierError("id", "the handle after 'platform:' is empty")
    if platform == "whatsapp":
        try:
            return f"whatsapp:{_phone(handle, country)}"
        except _Unverifiable as unverifiable:
            raise _Unverifiable(f"whatsapp:{unverifiable.canonical}", unverifiable.reason) from None
    handle = handle.removeprefix("@").lower()
    if not _HANDLE.fullmatch(handle):
        raise IdentifierError(
            "id",
            "a handle must be 1-64 characters of a-z, 0-9, '.', '_' or '-' (a leading @ is allowed)",
        )
    return f"{platform}:{handle}"


_NORMALISERS: dict[SubjectKind, Callable[[str, str | None], str]] = {
    SubjectKind.PERSON_DOCUMENT: _person_document,
    SubjectKind.PHONE: _phone,
    SubjectKind.VEHICLE_PLATE: _vehicle_plate,
    SubjectKind.VESSEL: _vessel,
    SubjectKind.BANK_ACCOUNT: _bank_account,
    SubjectKind.CRYPTO_WALLET: _crypto_wallet,
    SubjectKind.PLATFORM_ACCOUNT: _platform_account,
}

_KEY_FORMS: dict[SubjectKind, Callable[[str, str | None], str]] = {SubjectKind.PHONE: _phone_key_form}
"""Where a kind's canonical form costs less to find than to verify: keying needs only the form (:func:`subject_key`)."""
