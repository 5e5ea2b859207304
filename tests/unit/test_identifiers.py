"""Unit tests for borderbus.identifiers: one canonical string per real-world identifier."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from borderbus.identifiers import Canonical, IdentifierError, SubjectKind, canonicalise, normalise, subject_key

K = SubjectKind

# (kind, raw, country, canonical): every row in a group spells the same identifier.
ACCEPTED: list[tuple[SubjectKind, str, str | None, str]] = [
    # PERSON_DOCUMENT
    (K.PERSON_DOCUMENT, "A1234567", "IQ", "IQ:A1234567"),
    (K.PERSON_DOCUMENT, " a12 345-67 ", "iq", "IQ:A1234567"),
    (K.PERSON_DOCUMENT, "A.123.4567", "IRQ", "IQ:A1234567"),
    (K.PERSON_DOCUMENT, "IQ:A1234567", None, "IQ:A1234567"),
    (K.PERSON_DOCUMENT, "irq: a1234567", "IQ", "IQ:A1234567"),
    (K.PERSON_DOCUMENT, "\u0391\u0661\u0662\u0663\u0664\u0665\u0666\u0667", "IQ", "IQ:A1234567"),
    (K.PERSON_DOCUMENT, "AB 12 34 56", "GBR", "GB:AB123456"),
    (K.PERSON_DOCUMENT, "U12345678", "tur", "TR:U12345678"),
    # PHONE
    (K.PHONE, "+9647701234567", None, "+9647701234567"),
    (K.PHONE, "+964 770 123 4567", None, "+9647701234567"),
    (K.PHONE, "0770 123 4567", "IQ", "+9647701234567"),
    (K.PHONE, "07701234567", "IRQ", "+9647701234567"),
    (K.PHONE, "00964 770-123-4567", None, "+9647701234567"),
    (K.PHONE, "(0770) 123 4567", "iq", "+9647701234567"),
    (K.PHONE, "+964 770 123 4567", "GB", "+9647701234567"),
    (K.PHONE, "+964 770 123 4567 ext. 12", None, "+9647701234567"),
    (K.PHONE, "07400 123456", "GB", "+447400123456"),
    (K.PHONE, "+44 (0)7400 123456", None, "+447400123456"),
    (K.PHONE, "0532 123 45 67", "TR", "+905321234567"),
    (K.PHONE, "691 234 5678", "GRC", "+306912345678"),
    # VEHICLE_PLATE
    (K.VEHICLE_PLATE, "IBM-1234", "GR", "GR:IBM1234"),
    (K.VEHICLE_PLATE, "ibm 1234", "grc", "GR:IBM1234"),
    (K.VEHICLE_PLATE, "\u0399\u0392\u039c 1234", "GR", "GR:IBM1234"),
    (K.VEHICLE_PLATE, "\u03b9\u03b2\u03bc-1234", "GR", "GR:IBM1234"),
    (K.VEHICLE_PLATE, "GR:IBM1234", None, "GR:IBM1234"),
    (K.VEHICLE_PLATE, "\u0421\u0410 1234 \u0410\u0412", "BG", "BG:CA1234AB"),
    (K.VEHICLE_PLATE, "CA.1234.AB", "BGR", "BG:CA1234AB"),
    (K.VEHICLE_PLATE, "12345 Baghdad", "IQ", "IQ:12345BAGHDAD"),
    (K.VEHICLE_PLATE, "\u0661\u0662\u0663\u0664\u0665 baghdad", "IQ", "IQ:12345BAGHDAD"),
    (K.VEHICLE_PLATE, "\u06f1\u06f2\u06f3\u06f4\u06f5-BAGHDAD", "IRQ", "IQ:12345BAGHDAD"),
    (K.VEHICLE_PLATE, "\uff11\uff12\uff13\uff14\uff15 BAGHDAD", "IQ", "IQ:12345BAGHDAD"),
    (K.VEHICLE_PLATE, "B-XY 123", "de", "DE:BXY123"),
    # VESSEL
    (K.VESSEL, "IMO 9074729", None, "IMO:9074729"),
    (K.VESSEL, "imo9074729", None, "IMO:9074729"),
    (K.VESSEL, "9074729", None, "IMO:9074729"),
    (K.VESSEL, "IMO:9074729", "GR", "IMO:9074729"),
    (K.VESSEL, "IMO-9074729", None, "IMO:9074729"),
    (K.VESSEL, "273123456", None, "MMSI:273123456"),
    (K.VESSEL, "MMSI 273123456", None, "MMSI:273123456"),
    (K.VESSEL, "mmsi:273123456", None, "MMSI:273123456"),
    # BANK_ACCOUNT
    (K.BANK_ACCOUNT, "GB82WEST12345698765432", None, "GB82WEST12345698765432"),
    (K.BANK_ACCOUNT, "GB82 WEST 1234 5698 7654 32", None, "GB82WEST12345698765432"),
    (K.BANK_ACCOUNT, "gb82-west-1234-5698-7654-32", None, "GB82WEST12345698765432"),
    (K.BANK_ACCOUNT, "IBAN: GB82 WEST 1234 5698 7654 32", "IQ", "GB82WEST12345698765432"),
    (K.BANK_ACCOUNT, "DE89 3704 0044 0532 0130 00", None, "DE89370400440532013000"),
    (K.BANK_ACCOUNT, "iq98 nbiq 8501 2345 6789 012", None, "IQ98NBIQ850123456789012"),
    (K.BANK_ACCOUNT, "BE71 0961 2345 6769", None, "BE71096123456769"),
    (K.BANK_ACCOUNT, "GB02WEST12345698760082", None, "GB02WEST12345698760082"),  # the lowest check digits there are
    # CRYPTO_WALLET
    (K.CRYPTO_WALLET, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", None, "BTC:bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
    (K.CRYPTO_WALLET, "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", None, "BTC:bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
    (K.CRYPTO_WALLET, "btc:bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", None, "BTC:bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
    (
        K.CRYPTO_WALLET,
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        None,
        "BTC:bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
    ),
    (K.CRYPTO_WALLET, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", None, "BTC:1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
    (K.CRYPTO_WALLET, "Bitcoin: 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", None, "BTC:1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
    (K.CRYPTO_WALLET, "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", None, "BTC:3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"),
    (K.CRYPTO_WALLET, "0x52908400098527886E0F7030069857D2E4169EE7", None, "ETH:0x52908400098527886e0f7030069857d2e4169ee7"),
    (K.CRYPTO_WALLET, "0X52908400098527886e0f7030069857d2e4169ee7", None, "ETH:0x52908400098527886e0f7030069857d2e4169ee7"),
    (K.CRYPTO_WALLET, "ETH:0x52908400098527886E0F7030069857D2E4169EE7", None, "ETH:0x52908400098527886e0f7030069857d2e4169ee7"),
    (K.CRYPTO_WALLET, "erc20:0x52908400098527886e0f7030069857d2e4169ee7", None, "ETH:0x52908400098527886e0f7030069857d2e4169ee7"),
    (K.CRYPTO_WALLET, "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", None, "TRX:TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"),
    (K.CRYPTO_WALLET, "tron:TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", None, "TRX:TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"),
    (K.CRYPTO_WALLET, "TRC20: TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", None, "TRX:TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"),
    # PLATFORM_ACCOUNT
    (K.PLATFORM_ACCOUNT, "tiktok:@Route_Ads", None, "tiktok:route_ads"),
    (K.PLATFORM_ACCOUNT, "TikTok: route_ads", None, "tiktok:route_ads"),
    (K.PLATFORM_ACCOUNT, " tiktok:ROUTE_ADS ", "IQ", "tiktok:route_ads"),
    (K.PLATFORM_ACCOUNT, "Telegram:@Safe.Passage-EU", None, "telegram:safe.passage-eu"),
    (K.PLATFORM_ACCOUNT, "twitter:@Route_Ads", None, "x:route_ads"),
    (K.PLATFORM_ACCOUNT, "X:route_ads", None, "x:route_ads"),
    (K.PLATFORM_ACCOUNT, "whatsapp:+964 770 123 4567", None, "whatsapp:+9647701234567"),
    (K.PLATFORM_ACCOUNT, "WhatsApp: 0770 123 4567", "IQ", "whatsapp:+9647701234567"),
]

# (kind, raw, country, field, words the reason must contain)
REJECTED: list[tuple[str | SubjectKind, str, str | None, str, str]] = [
    (K.PHONE, "", "IQ", "id", "is empty"),
    (K.VESSEL, "   ", None, "id", "is empty"),
    ("PASSPORT", "A1234567", "IQ", "kind", "unknown subject kind"),
    ("", "A1234567", "IQ", "kind", "unknown subject kind"),
    # PERSON_DOCUMENT
    (K.PERSON_DOCUMENT, "A1234567", None, "country", "required"),
    (K.PERSON_DOCUMENT, "A1234567", "  ", "country", "required"),
    (K.PERSON_DOCUMENT, "A1234567", "XX", "country", "unknown country code"),
    (K.PERSON_DOCUMENT, "A1234567", "IRAQ", "country", "unknown country code"),
    (K.PERSON_DOCUMENT, "ZZ:A1234567", None, "country", "unknown country code"),
    (K.PERSON_DOCUMENT, "IQ:A1234567", "GR", "country", "prefixed with IQ but country says GR"),
    (K.PERSON_DOCUMENT, "A123", "IQ", "id", "5-20"),
    (K.PERSON_DOCUMENT, "A" * 21, "IQ", "id", "5-20"),
    (K.PERSON_DOCUMENT, "A123/4567", "IQ", "id", "letters A-Z and digits"),
    (K.PERSON_DOCUMENT, "IQ:", None, "id", "5-20"),
    # PHONE
    (K.PHONE, "0770 123 4567", None, "country", "required"),
    (K.PHONE, "0770 123 4567", "QQ", "country", "unknown country code"),
    (K.PHONE, "+964 770 123", None, "id", "not a valid phone number for region IQ"),
    (K.PHONE, "+964 770 123 4567 89", None, "id", "too long"),
    (K.PHONE, "+999 770 123 4567", None, "id", "country calling code is unknown"),
    (K.PHONE, "call me", "IQ", "id", "not a valid phone number for region IQ"),
    # VEHICLE_PLATE
    (K.VEHICLE_PLATE, "IBM1234", None, "country", "required"),
    (K.VEHICLE_PLATE, "IBM1234", "GRE", "country", "unknown country code"),
    (K.VEHICLE_PLATE, "GR:IBM1234", "IT", "country", "prefixed with GR but country says IT"),
    (K.VEHICLE_PLATE, "A", "GR", "id", "2-12"),
    (K.VEHICLE_PLATE, "- . -", "GR", "id", "2-12"),
    (K.VEHICLE_PLATE, "ABCDEFG1234567", "GR", "id", "2-12"),
    # VESSEL
    (K.VESSEL, "9074728", None, "id", "check digit"),
    (K.VESSEL, "IMO 1234568", None, "id", "check digit"),
    (K.VESSEL, "IMO 273123456", None, "id", "7 digits"),
    (K.VESSEL, "MMSI 9074729", None, "id", "9 digits"),
    (K.VESSEL, "12345678", None, "id", "7 digits (IMO) or 9 digits (MMSI)"),
    (K.VESSEL, "ENI 12345678", None, "id", "IMO number"),
    (K.VESSEL, "Ever Given", None, "id", "IMO number"),
    # BANK_ACCOUNT
    (K.BANK_ACCOUNT, "GB83 WEST 1234 5698 7654 32", None, "id", "checksum failed"),
    (K.BANK_ACCOUNT, "BE44096123456770", None, "id", "checksum failed: the national check digits"),
    # check digits that pass mod 97 but are not the ones computed (98 and 02 written as 01 and 99): one spelling per account
    (K.BANK_ACCOUNT, "IQ01NBIQ850123456789012", None, "id", "checksum failed: the check digits"),
    (K.BANK_ACCOUNT, "GB99WEST12345698760082", None, "id", "checksum failed: the check digits"),
    (K.BANK_ACCOUNT, "GB82 WEST 1234 5698 7654 3", None, "id", "format failed"),
    (K.BANK_ACCOUNT, "GB82 WEST 1234 5698 7654 321", None, "id", "format failed"),
    (K.BANK_ACCOUNT, "XX82WEST12345698765432", None, "id", "format failed: XX is not a country"),
    (K.BANK_ACCOUNT, "12345678", "GB", "id", "only IBANs are accepted"),
    (K.BANK_ACCOUNT, "40-47-84 12345678", "GB", "id", "only IBANs are accepted"),
    (K.BANK_ACCOUNT, "GB82/WEST/1234", None, "id", "only IBANs are accepted"),
    # CRYPTO_WALLET
    (K.CRYPTO_WALLET, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", None, "id", "checksum"),
    (K.CRYPTO_WALLET, "bc1qW508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", None, "id", "all lower-case or all upper-case"),
    (K.CRYPTO_WALLET, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3tb", None, "id", "bad characters"),
    (K.CRYPTO_WALLET, "1A1zP1eP5QGefi2DMPTfTL5SLmv7Divf0a", None, "id", "unrecognised wallet address format"),
    (K.CRYPTO_WALLET, "1A1zP1eP5QGef", None, "id", "unrecognised wallet address format"),
    (K.CRYPTO_WALLET, "0x52908400098527886e0f7030069857d2e4169ee", None, "id", "unrecognised wallet address format"),
    (K.CRYPTO_WALLET, "0x52908400098527886e0f7030069857d2e4169eeg", None, "id", "unrecognised wallet address format"),
    (K.CRYPTO_WALLET, "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6", None, "id", "unrecognised wallet address format"),
    (K.CRYPTO_WALLET, "ltc:LQTpS3VaYTjCr4s9Y1t5zbeY26zevf7Fb3", None, "id", "unsupported chain prefix"),
    (K.CRYPTO_WALLET, "ETH:TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", None, "id", "is a TRX address but is prefixed ETH"),
    (K.CRYPTO_WALLET, "ETH:", None, "id", "unrecognised wallet address format"),
    # PLATFORM_ACCOUNT
    (K.PLATFORM_ACCOUNT, "@route_ads", None, "id", "platform:handle"),
    (K.PLATFORM_ACCOUNT, "myspace:route_ads", None, "id", "unsupported platform"),
    (K.PLATFORM_ACCOUNT, "tiktok:", None, "id", "handle"),
    (K.PLATFORM_ACCOUNT, "tiktok:@", None, "id", "1-64 characters"),
    (K.PLATFORM_ACCOUNT, "tiktok:route ads", None, "id", "1-64 characters"),
    (K.PLATFORM_ACCOUNT, "tiktok:@@route_ads", None, "id", "1-64 characters"),
    (K.PLATFORM_ACCOUNT, "tiktok:" + "a" * 65, None, "id", "1-64 characters"),
    (K.PLATFORM_ACCOUNT, "whatsapp:0770 123 4567", None, "country", "required"),
    (K.PLATFORM_ACCOUNT, "whatsapp:+964 770 123", None, "id", "not a valid phone number"),
]

REQUIRED_COUNTRIES = {
    "IRQ": "IQ",
    "GBR": "GB",
    "TUR": "TR",
    "GRC": "GR",
    "IRN": "IR",
    "SYR": "SY",
    "AFG": "AF",
    "DEU": "DE",
    "FRA": "FR",
    "ITA": "IT",
    "NLD": "NL",
    "BEL": "BE",
    "AUT": "AT",
    "BGR": "BG",
    "ROU": "RO",
    "HUN": "HU",
    "SRB": "RS",
    "MKD": "MK",
    "ALB": "AL",
    "LBY": "LY",
    "TUN": "TN",
    "EGY": "EG",
    "MAR": "MA",
    "DZA": "DZ",
    "PAK": "PK",
    "IND": "IN",
    "BGD": "BD",
    "VNM": "VN",
    "ERI": "ER",
    "SDN": "SD",
    "SOM": "SO",
    "ETH": "ET",
    "NGA": "NG",
    "JOR": "JO",
    "LBN": "LB",
    "SAU": "SA",
    "ARE": "AE",
    "KWT": "KW",
    "QAT": "QA",
    "USA": "US",
    "CHN": "CN",
    "UKR": "UA",
    "POL": "PL",
    "ESP": "ES",
    "CYP": "CY",
    "MLT": "MT",
}


def _case_id(case: tuple[object, ...]) -> str:
    kind, raw, country = case[0], case[1], case[2]
    name = kind.value if isinstance(kind, SubjectKind) else repr(kind)
    return f"{name}-{raw!r}-{country}"


@pytest.mark.parametrize("case", ACCEPTED, ids=_case_id)
def test_accepted_spellings_give_one_canonical_value(
    case: tuple[SubjectKind, str, str | None, str],
) -> None:
    kind, raw, country, expected = case
    assert normalise(kind, raw, country) == expected


@pytest.mark.parametrize("case", ACCEPTED, ids=_case_id)
def test_normalise_is_idempotent(case: tuple[SubjectKind, str, str | None, str]) -> None:
    kind, raw, country, _ = case
    once = normalise(kind, raw, country)
    assert normalise(kind, once, country) == once
    assert normalise(kind, once, None) == once
    assert normalise(kind.value, once) == once


def test_every_kind_is_covered_by_the_tables() -> None:
    assert {c[0] for c in ACCEPTED} == set(SubjectKind)
    assert {c[0] for c in REJECTED if isinstance(c[0], SubjectKind)} == set(SubjectKind)


@pytest.mark.parametrize("case", REJECTED, ids=_case_id)
def test_rejected_inputs_name_the_field_and_the_problem(
    case: tuple[str | SubjectKind, str, str | None, str, str],
) -> None:
    kind, raw, country, field, words = case
    with pytest.raises(IdentifierError) as info:
        normalise(kind, raw, country)
    assert info.value.field == field
    assert words in info.value.reason


UNVERIFIABLE = [
    (K.PHONE, "+964 123 456 7890", None, "+9641234567890", "region IQ"),
    (K.PHONE, "0770 123 4567", "TR", "+907701234567", "region TR"),
    (K.PLATFORM_ACCOUNT, "whatsapp:+964 123 456 7890", None, "whatsapp:+9641234567890", "region IQ"),
]


@pytest.mark.parametrize(("kind", "raw", "country", "canonical", "region"), UNVERIFIABLE)
def test_a_well_formed_but_unassigned_number_keeps_its_canonical_form_unverified(
    kind: SubjectKind, raw: str, country: str | None, canonical: str, region: str
) -> None:
    """Numbering plans lag behind operators: the number still joins events, marked unverified."""
    result = canonicalise(kind, raw, country)
    assert (result.id, result.verified) == (canonical, False)
    assert result.reason and region in result.reason and "range" in result.reason
    assert normalise(kind, raw, country) == canonical == normalise(kind, canonical)
    assert subject_key(kind, canonical) == f"{kind.value}:{canonical}"
    with pytest.raises(IdentifierError, match="range"):
        normalise(kind, raw, country, strict=True)


def test_verified_identifiers_say_so() -> None:
    assert canonicalise(K.PHONE, "0770 123 4567", "IQ") == Canonical("+9647701234567", True, None)


def test_kind_values_equal_avro_symbols() -> None:
    assert [k.value for k in SubjectKind] == [
        "PERSON_DOCUMENT",
        "PHONE",
        "VEHICLE_PLATE",
        "VESSEL",
        "BANK_ACCOUNT",
        "CRYPTO_WALLET",
        "PLATFORM_ACCOUNT",
    ]
    assert all(k.value == k.name for k in SubjectKind)


@pytest.mark.parametrize("kind", ["PHONE", "phone", " Phone ", K.PHONE])
def test_kind_accepts_enum_or_symbol(kind: str | SubjectKind) -> None:
    assert normalise(kind, "+9647701234567") == "+9647701234567"


@pytest.mark.parametrize(("alpha3", "alpha2"), sorted(REQUIRED_COUNTRIES.items()))
def test_country_codes_map_alpha3_to_alpha2_in_any_case(alpha3: str, alpha2: str) -> None:
    expected = f"{alpha2}:AB12345"
    for code in (alpha3, alpha3.lower(), alpha2, alpha2.lower(), f" {alpha2} "):
        assert normalise(K.PERSON_DOCUMENT, "ab12345", code) == expected
        assert normalise(K.VEHICLE_PLATE, "AB-12345", code) == expected


def test_phone_error_reason_names_region_and_problem() -> None:
    with pytest.raises(IdentifierError) as info:
        normalise(K.PHONE, "0770 123", "IQ")
    assert info.value.field == "id"
    assert info.value.reason.startswith("not a valid phone number for region IQ: ")
    assert "0770" not in info.value.reason


def test_identifier_error_is_a_value_error_with_field_and_reason() -> None:
    err = IdentifierError("country", "is required")
    assert isinstance(err, ValueError)
    assert (err.field, err.reason) == ("country", "is required")
    assert str(err) == "country: is required"


def test_country_is_ignored_for_self_describing_kinds() -> None:
    assert normalise(K.VESSEL, "9074729", "nonsense") == "IMO:9074729"
    assert normalise(K.BANK_ACCOUNT, "GB82WEST12345698765432", "XX") == "GB82WEST12345698765432"


@pytest.mark.parametrize("case", ACCEPTED, ids=_case_id)
def test_subject_key_prefixes_the_kind(case: tuple[SubjectKind, str, str | None, str]) -> None:
    kind, _, _, canonical = case
    assert subject_key(kind, canonical) == f"{kind.value}:{canonical}"
    assert subject_key(kind.value, canonical) == f"{kind.value}:{canonical}"


def test_subject_key_example() -> None:
    assert subject_key("PHONE", "+9647701234567") == "PHONE:+9647701234567"


@pytest.mark.parametrize(
    ("kind", "not_canonical"),
    [
        (K.PHONE, "0770 123 4567"),
        (K.PHONE, "+964 770 123 4567"),
        (K.PLATFORM_ACCOUNT, "tiktok:@Route_Ads"),
        (K.BANK_ACCOUNT, "GB82 WEST 1234 5698 7654 32"),
        (K.VESSEL, "9074729"),
        (K.PERSON_DOCUMENT, "IRQ:A1234567"),
        (K.CRYPTO_WALLET, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
    ],
)
def test_subject_key_refuses_non_canonical_ids(kind: SubjectKind, not_canonical: str) -> None:
    with pytest.raises(IdentifierError) as info:
        subject_key(kind, not_canonical)
    assert info.value.field in {"id", "country"}


def test_subject_key_refuses_non_canonical_id_with_reason() -> None:
    with pytest.raises(IdentifierError) as info:
        subject_key(K.VESSEL, "9074729")
    assert info.value.field == "id"
    assert "normalise()" in info.value.reason


def test_subject_key_rejects_unknown_kind() -> None:
    with pytest.raises(IdentifierError) as info:
        subject_key("SHIP", "IMO:9074729")
    assert info.value.field == "kind"


def test_a_remembered_key_still_refuses_a_spelling_that_is_not_canonical() -> None:
    """Keys are remembered (an IBAN costs ~100 us to check); refusals are not, and a long id is checked every time."""
    assert subject_key("PHONE", "+9647701234567") == subject_key(SubjectKind.PHONE, "+9647701234567") == "PHONE:+9647701234567"
    for _ in range(2):
        with pytest.raises(IdentifierError):
            subject_key("PHONE", "07700 900123")
    long_id = "CN:" + "A" * 300
    with pytest.raises(IdentifierError):
        subject_key("PERSON_DOCUMENT", long_id)


def test_keying_a_phone_number_does_not_check_its_range(monkeypatch: pytest.MonkeyPatch) -> None:
    """The range check only tells a verified number from an unverifiable one, which have the same canonical form;
    keying skips it (a third of a phone number's cost, and phones are the costliest subjects to key)."""
    import phonenumbers

    from borderbus import identifiers

    def no_range_check(_number: object) -> bool:
        raise AssertionError("keying checked the number range")

    monkeypatch.setattr(phonenumbers, "is_valid_number", no_range_check)
    assert identifiers._checked_key(K.PHONE, "+9647701234567") == "PHONE:+9647701234567"
    with pytest.raises(AssertionError, match="range"):  # what is not keyed (normalised) still has its range checked
        normalise(K.PHONE, "+9647701234567")


_PHONE_SPELLINGS = st.one_of(
    st.from_regex(r"\A\+[0-9]{1,17}\Z"),
    st.from_regex(r"\A(\+|00|0)?[0-9 ()-]{1,20}\Z"),
    st.sampled_from(["+9647701234567", "+96407701234567", "+44 20 7946 0958", "+442079460958", "+4402079460958", "+1 0", ""]),
)


@settings(max_examples=400, deadline=None)
@given(_PHONE_SPELLINGS)
def test_a_phone_key_is_refused_exactly_when_the_id_is_not_what_normalise_makes_of_it(phone: str) -> None:
    try:
        canonical = normalise(K.PHONE, phone)
    except IdentifierError:
        canonical = None
    if canonical == phone:
        assert subject_key(K.PHONE, phone) == f"PHONE:{phone}"
    else:
        with pytest.raises(IdentifierError):
            subject_key(K.PHONE, phone)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_folds_by_case_alone(text: str) -> None:
    """Most ids are ASCII, folded without the Unicode passes; that must be what the passes would have made."""
    from borderbus import identifiers

    assert identifiers._fold(text) == identifiers._fold_unicode(text) == text.upper()
