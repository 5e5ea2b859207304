"""Message catalogues and structured summaries: every language says everything, from the same phrases.

The console's interface catalogues (``console/i18n/<locale>.json``) and the summary catalogues the
correlator and the console share (``borderbus/i18n/summaries.<locale>.json``) must have every English
key in every other language, with the same placeholders; every phrase the summarisers write must
render in every language.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import pytest
from test_rules import ACCOUNT, CAR, PERSON, PHONE, case, flag, sighting
from test_summaries import CFG, POINTS

from borderbus import phrases
from borderbus.phrases import MissingTemplate, Phrase, ident, key, moment, phrase, render, templates
from borderbus_correlator.alert_book import _evidence_record, evidence_summary
from borderbus_correlator.model import Observation
from borderbus_correlator.summaries import summary_phrases
from borderbus_desk import audit
from borderbus_desk.silences import MATCHER_FIELDS

REPO = Path(__file__).resolve().parents[2]
CONSOLE = REPO / "services" / "borderbus_desk" / "console" / "i18n"
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
PLURAL_SUFFIXES = (".zero", ".one", ".two", ".few", ".many", ".other")


def _console(locale: str) -> dict[str, str]:
    catalogue: dict[str, str] = json.loads((CONSOLE / f"{locale}.json").read_text(encoding="utf-8"))
    return catalogue


def _base(key: str) -> str:
    return next((key[: -len(suffix)] for suffix in PLURAL_SUFFIXES if key.endswith(suffix)), key)


@pytest.mark.parametrize("locale", [locale for locale in phrases.LOCALES if locale != "en"])
def test_every_console_message_in_english_exists_in_each_language_with_the_same_placeholders(locale: str) -> None:
    english, other = _console("en"), _console(locale)
    assert sorted(set(english) - set(other)) == []
    plural_bases = {_base(k) for k in english if k != _base(k)}
    assert sorted({_base(k) for k in other} - {_base(k) for k in english}) == []  # nothing extra but plural forms
    for name, text in english.items():
        if _base(name) in plural_bases:
            continue  # a plural form may spell out its number ("تنبيهان")
        assert set(PLACEHOLDER.findall(other[name])) == set(PLACEHOLDER.findall(text)), name


@pytest.mark.parametrize("locale", [locale for locale in phrases.LOCALES if locale != "en"])
def test_every_summary_template_exists_in_each_language_with_the_same_placeholders(locale: str) -> None:
    english, other = templates("en"), templates(locale)
    assert set(english) == set(other)
    for name, text in english.items():
        assert phrases.placeholders(other[name]) == phrases.placeholders(text), name


def test_optional_groups_drop_when_a_value_is_missing_and_keys_fill_from_the_same_phrase() -> None:
    catalogue = {"a": "{who}[ ({role})] was {how}.", "how.fast": "fast at {kmh}", "list.separator": ", ", "place.none": "-"}
    with_role = phrase("a", who=ident("X", "Y"), role=phrases.text("driver"), how=key("how.fast"), kmh=phrases.number("9"))
    without = phrase("a", who=ident("X"), role=phrases.text(None), how=key("how.fast"), kmh=phrases.number("9"))
    assert render([with_role], catalogue, {}) == "X, Y (driver) was fast at 9."
    assert render([without], catalogue, {}) == "X was fast at 9."
    with pytest.raises(MissingTemplate):
        render([Phrase("nowhere")], catalogue, {})


def _histories() -> list[list]:  # type: ignore[type-arg]
    warrant = case("c1", "WARRANT_ISSUED", {PERSON: "DRIVER"}, 0, warrant_ref="W-7")
    return [
        [warrant, sighting("s1", [PERSON, CAR], 5, "GB-DOV"), sighting("s2", [PERSON], 9, "GB-CQF")],
        [flag("f1", [ACCOUNT, PHONE], 0, 90), sighting("s3", [PHONE], 3, "GB-DOV")],
    ]


@pytest.mark.parametrize("locale", phrases.LOCALES)
def test_the_summarisers_phrases_render_in_every_language(locale: str) -> None:
    names = {code: point.name for code, point in POINTS.items()}
    cases = [
        ("wanted_subject_sighted", f"wanted_subject_sighted|c1|W-7|{PERSON}", _histories()[0]),
        ("flagged_money_meets_border", "flagged_money_meets_border|f1", _histories()[1]),
    ]
    for rule, alert_key, evidence in cases:
        said = summary_phrases(rule, alert_key, evidence, POINTS, CFG)
        assert said, rule
        text = render(said, templates(locale), names)
        assert PERSON in text or PHONE in text
        assert "{" not in text and "[" not in text
        if locale == "ar":
            assert re.search("[\u0600-\u06ff]", text)


def test_english_is_the_avro_summary_and_a_time_is_in_utc() -> None:
    said = [phrase("hub_detected.named", subject=ident(PHONE), linked=phrases.number(3), events=phrases.number(4),
                   first=moment(0), last=moment(3_600_000), cap=phrases.number(50))]  # fmt: skip
    expected = f"{PHONE} was named together with 3 other subjects in 4 events from 1970-01-01 00:00 UTC"
    assert render(said, templates("en"), {}).startswith(expected)


# ---------- the console's own words: plural forms, keys the scripts use, evidence lines ----------

CONSOLE_JS = REPO / "services" / "borderbus_desk" / "console"
PLURAL_CATEGORIES = {"en": {"one", "other"}, "ar": {"zero", "one", "two", "few", "many", "other"}}
"""CLDR plural categories (what Intl.PluralRules selects) of each console language."""
LITERAL_KEY = re.compile(r"""(?:\bt|i18n\.(?:t|nodes|plural|pluralNodes|compose|has))\(\s*"([a-z_.\-]+)\"""")


@pytest.mark.parametrize("locale", phrases.LOCALES)
def test_every_counted_message_has_each_plural_category_of_its_language(locale: str) -> None:
    catalogue = _console(locale)
    counted = {_base(k) for k in _console("en") if k != _base(k)}
    assert {"evidence.day", "evidence.events", "alerts.count", "map.unplaced", "silences.banner", "audit.count"} <= counted
    for base in counted:
        assert base not in catalogue, f"{base}: a counted message has only plural forms"
        forms = {k[len(base) + 1 :] for k in catalogue if _base(k) == base and k != base}
        assert forms == PLURAL_CATEGORIES[locale], (base, forms)
        extra = {name for k in catalogue if _base(k) == base for name in PLACEHOLDER.findall(catalogue[k])} - {"count"}
        for k in (k for k in catalogue if _base(k) == base):
            assert set(PLACEHOLDER.findall(catalogue[k])) - {"count"} == extra, k  # only the number may be spelt out


def test_every_message_the_console_scripts_name_is_in_the_catalogues() -> None:
    english = _console("en")
    used = {key for path in CONSOLE_JS.glob("*.js") for key in LITERAL_KEY.findall(path.read_text(encoding="utf-8"))}
    assert {"notice.retracted", "notice.updated_since_acknowledged", "place.named", "evidence.stats"} <= used
    assert {"silences.created", "silences.banner", "audit.count", "audit.officer_agency"} <= used  # silences.js too
    counted = {_base(k) for k in english if k != _base(k)}
    assert sorted(key for key in used if key not in english and key not in counted) == []


def test_the_silences_and_audit_codes_the_console_labels_are_in_the_catalogues() -> None:
    """silences.js builds these keys from codes the desk sends: every state, matcher and audit kind has a label."""
    english = _console("en")
    wanted = {f"silences.state.{state}" for state in ("pending", "active", "expired")}
    wanted |= {f"silences.matcher.{name}" for name in MATCHER_FIELDS}
    wanted |= {f"audit.what.{what}" for what in audit.WHAT} | {"audit.outcome.ok", "audit.outcome.refused"}
    assert sorted(wanted - set(english)) == []
    assert all(english[f"audit.what.{what}"] == what for what in audit.WHAT)  # English shows the codes as today


class _Page(HTMLParser):
    """index.html's data-i18n keys, and any words not inside a [data-i18n] element in the given sections."""

    VOID: ClassVar[set[str]] = {"input", "meta", "link", "br", "img", "hr", "source"}

    def __init__(self, sections: set[str]) -> None:
        super().__init__()
        self.sections, self.keys, self.bare = sections, set[str](), list[str]()
        self.stack: list[tuple[str, bool, bool]] = []  # (tag, inside a section, inside [data-i18n])

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("data-i18n"):
            self.keys.add(str(attributes["data-i18n"]))
        for pair in (attributes.get("data-i18n-attr") or "").split(";"):
            if ":" in pair:
                self.keys.add(pair.split(":", 1)[1].strip())
        section, translated = self.stack[-1][1:] if self.stack else (False, False)
        if tag not in self.VOID:
            self.stack.append((tag, section or attributes.get("id") in self.sections, translated or "data-i18n" in attributes))

    def handle_endtag(self, tag: str) -> None:
        while self.stack and self.stack.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1][1] and not self.stack[-1][2] and re.search("[A-Za-z]", data):
            self.bare.append(data.strip())


def test_every_word_of_the_page_comes_from_the_catalogues_in_the_silences_and_audit_parts() -> None:
    page = _Page({"silences-section", "audit-section", "silence-banner", "filter-silenced"})
    page.feed((CONSOLE_JS / "index.html").read_text(encoding="utf-8"))
    assert {"silences.title", "audit.title", "filters.silenced"} <= page.keys
    assert sorted(page.keys - set(_console("en"))) == []
    assert page.bare == []


def _line(observation: Observation) -> str:
    """The console's English evidence line, rendered with the same template language as the browser."""
    record = _evidence_record(observation)
    facts = record["facts"]
    place = record["border_point"] or (
        f"{record['latitude']:.4f},{record['longitude']:.4f}" if record["latitude"] is not None else None
    )
    values = {"agency": record["agency"], "type": record["event_type"], "place": place, **facts}
    template = f"evidence.line.{record['event_type']}"
    catalogue = _console("en")
    template = template if template in catalogue else "evidence.line.default"
    names = phrases.placeholders(catalogue[template])
    said = phrase(template, **{name: phrases.text(values.get(name)) for name in names})
    return render([said], catalogue, {})


PAYMENT = {"channel": "HAWALA", "amount": "15000.00", "currency": "USD"}


def test_the_english_evidence_line_from_facts_is_the_correlators_summary() -> None:
    bare = Observation("e", "uk-nca", "case-update", 0, 0, "AMBER", (PERSON,))
    cases = [
        bare,
        replace(bare, facts={"case_id": "CPS-1", "status": "WARRANT_ISSUED", "warrant_ref": "W-9"}, border_point="GB-DOV"),
        replace(bare, event_type="sighting", facts={"method": "DRONE"}, latitude=50.94, longitude=0.976),
        replace(bare, event_type="sighting", border_point="GB-LHR"),
        replace(bare, event_type="finance-flag", facts={**PAYMENT, "risk_score": 88}),
        replace(bare, event_type="finance-flag", facts={"risk_score": 0}),
        replace(
            bare, event_type="platform-report", facts={"platform": "facebook", "content_kind": "ADVERT", "content_ref": "ad-1"}
        ),
        replace(bare, event_type="new-type"),
    ]
    for observation in cases:
        assert _line(observation) == evidence_summary(observation), observation
