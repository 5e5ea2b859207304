"""Alert summaries as structured phrases, and their rendering from per-locale template catalogues.

The correlator states each summary once, as phrases (a template key and typed values taken from
the evidence); every locale renders the same phrases from its own catalogue
(``i18n/summaries.<locale>.json``), so an Arabic summary says exactly what the English one says
and nothing is machine-translated. The correlator renders English here for the Avro ``summary``
field; the console renders the officer's locale in the browser (``console/i18n.js``), with the
same template syntax:

- ``{name}`` is replaced by the value of the parameter ``name`` (empty when it has no value);
- ``[ ... ]`` is an optional group, dropped when any placeholder inside it is empty;
- a ``KEY`` parameter names another template of the catalogue, rendered with the same values.

Pure functions: no clock, no I/O but reading the packaged catalogues.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from importlib import resources
from typing import Any

KINDS = ("IDENTIFIER", "TEXT", "NUMBER", "TIME", "DURATION", "PLACE", "MONEY", "KEY")
LOCALES = ("en", "ar")
HOUR_MS = 3_600_000
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_GROUP = re.compile(r"\[([^\[\]]*)\]")


class MissingTemplate(KeyError):
    """A phrase names a template the catalogue does not have."""


@dataclass(frozen=True)
class Param:
    name: str
    kind: str
    values: tuple[str, ...]

    def to_record(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "values": list(self.values)}


@dataclass(frozen=True)
class Phrase:
    template: str
    params: tuple[Param, ...] = ()

    def to_record(self) -> dict[str, Any]:
        return {"template": self.template, "params": [param.to_record() for param in self.params]}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Phrase:
        return cls(
            str(record["template"]),
            tuple(Param(str(p["name"]), str(p["kind"]), tuple(str(v) for v in p["values"])) for p in record["params"]),
        )


def phrase(template: str, **params: Param) -> Phrase:
    """``phrase("rule.part", subject=ident("PHONE:+44..."))``: the keyword names the placeholder."""
    return Phrase(template, tuple(Param(name, p.kind, p.values) for name, p in params.items()))


def ident(*values: str) -> Param:
    return Param("", "IDENTIFIER", tuple(values))


def text(value: str | None) -> Param:
    return Param("", "TEXT", (value,) if value else ())


def number(value: str | int) -> Param:
    return Param("", "NUMBER", (str(value),))


def moment(ms: int) -> Param:
    return Param("", "TIME", (str(int(ms)),))


def duration(ms: int) -> Param:
    return Param("", "DURATION", (str(int(ms)),))


def place(border_point: str | None, latitude: float | None = None, longitude: float | None = None) -> Param:
    """A border point code, else coordinates (4 decimals), else no place."""
    if border_point is not None:
        return Param("", "PLACE", (border_point,))
    if latitude is not None and longitude is not None:
        return Param("", "PLACE", (f"{latitude:.4f},{longitude:.4f}",))
    return Param("", "PLACE", ())


def money(amount: str | None, currency: str | None) -> Param:
    return Param("", "MONEY", tuple(str(item) for item in (amount, currency) if item))


def key(template: str) -> Param:
    return Param("", "KEY", (template,))


@cache
def templates(locale: str) -> Mapping[str, str]:
    """The summary catalogue of ``locale`` (``en``, ``ar``), as shipped in ``borderbus/i18n``."""
    if locale not in LOCALES:
        raise ValueError(f"unknown locale {locale!r}; known: {', '.join(LOCALES)}")
    path = resources.files("borderbus") / "i18n" / f"summaries.{locale}.json"
    catalogue: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return catalogue


def placeholders(template: str) -> set[str]:
    return set(_PLACEHOLDER.findall(template))


def fill(template: str, values: Callable[[str], str]) -> str:
    """The template with its optional groups kept or dropped and its placeholders replaced.

    Both steps work from the template's parse, remembered per template: an alert's summary is rendered
    again for every version, from the same few templates."""
    text = "".join(part if names is None or all(values(name) for name in names) else "" for part, names in _groups(template))
    return "".join(literal if name is None else literal + values(name) for literal, name in _pieces(text))


@lru_cache(maxsize=4096)
def _groups(template: str) -> tuple[tuple[str, tuple[str, ...] | None], ...]:
    """The template cut at its optional groups: ``(text, None)`` always kept, ``(inner, names)`` kept only
    when every placeholder it names has a value."""
    parts: list[tuple[str, tuple[str, ...] | None]] = []
    start = 0
    for match in _GROUP.finditer(template):
        parts.append((template[start : match.start()], None))
        parts.append((match.group(1), tuple(placeholders(match.group(1)))))
        start = match.end()
    parts.append((template[start:], None))
    return tuple(parts)


@lru_cache(maxsize=4096)
def _pieces(text: str) -> tuple[tuple[str, str | None], ...]:
    """``text`` cut after each placeholder: ``(literal before it, its name)``, the last with no name."""
    pieces: list[tuple[str, str | None]] = []
    start = 0
    for match in _PLACEHOLDER.finditer(text):
        pieces.append((text[start : match.start()], match.group(1)))
        start = match.end()
    pieces.append((text[start:], None))
    return tuple(pieces)


def utc(ms: int) -> str:
    return _utc_minute(ms // 60_000)


@lru_cache(maxsize=1 << 16)
def _utc_minute(minute: int) -> str:
    """Summaries show minutes, and the evidence of an alert shares them: each minute is formatted once."""
    return datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%d %H:%M UTC")


def render(phrases: Sequence[Phrase], catalogue: Mapping[str, str], place_names: Mapping[str, str]) -> str:
    """The phrases as one text, joined by spaces, with times in UTC and numbers as the values hold them:
    the plain-text rendering (English for the Avro ``summary``). ``place_names`` maps border point codes
    to their names."""

    def lookup(template: str) -> str:
        try:
            return catalogue[template]
        except KeyError:
            raise MissingTemplate(template) from None

    def value(param: Param, params: Mapping[str, Param]) -> str:
        if not param.values:
            return lookup("place.none") if param.kind == "PLACE" else ""
        first = param.values[0]
        if param.kind == "TIME":
            return utc(int(first))
        if param.kind == "DURATION":
            ms = int(first)
            unit = "duration.hours" if ms >= HOUR_MS else "duration.minutes"
            amount = f"{ms / HOUR_MS:.1f}" if ms >= HOUR_MS else f"{ms / 60_000:.0f}"
            return fill(lookup(unit), lambda _: amount)
        if param.kind == "PLACE":
            name = place_names.get(first)
            return fill(lookup("place.named"), {"code": first, "name": name}.__getitem__) if name else first
        if param.kind == "KEY":
            return fill(lookup(first), lambda name: value(params[name], params) if name in params else "")
        if param.kind in ("MONEY", "TEXT"):
            return " ".join(param.values)
        return lookup("list.separator").join(param.values)

    def one(item: Phrase) -> str:
        params = {param.name: param for param in item.params}
        return fill(lookup(item.template), lambda name: value(params[name], params) if name in params else "")

    return " ".join(part for part in map(one, phrases) if part)


def render_english(phrases: Sequence[Phrase], place_names: Mapping[str, str]) -> str:
    return render(phrases, templates("en"), place_names)
