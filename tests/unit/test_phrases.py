"""Template filling from a remembered parse gives what the two regular-expression passes give."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from borderbus.phrases import fill, utc

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_GROUP = re.compile(r"\[([^\[\]]*)\]")


def fill_by_regex(template: str, values: Callable[[str], str]) -> str:
    """The rendering as the catalogue's syntax defines it, one regular-expression pass per step."""

    def group(match: re.Match[str]) -> str:
        inner = match.group(1)
        return inner if all(values(name) for name in _PLACEHOLDER.findall(inner)) else ""

    return _PLACEHOLDER.sub(lambda match: values(match.group(1)), _GROUP.sub(group, template))


NAMES = ("a", "b", "subject", "at")
templates = st.lists(
    st.sampled_from(["{a}", "{b}", "{subject}", "{at}", "{unknown}", "[", "]", "[at {at}]", "[{a} and {b}]", " ", "x", "{", "}"]),
    max_size=12,
).map("".join)
value_maps = st.fixed_dictionaries({name: st.sampled_from(["", "v", "{a}", "[b]"]) for name in NAMES})


@given(templates, value_maps)
def test_fill_gives_what_the_regular_expressions_give(template: str, values: dict[str, str]) -> None:
    def value(name: str) -> str:
        return values.get(name, "")

    assert fill(template, value) == fill_by_regex(template, value)
    assert fill(template, value) == fill_by_regex(template, value)  # the second time from the remembered parse


def test_an_optional_group_is_dropped_when_a_placeholder_in_it_is_empty() -> None:
    values = {"who": "PHONE:+447700900123", "where": ""}
    assert fill("{who} seen[ at {where}].", lambda name: values[name]) == "PHONE:+447700900123 seen."
    values["where"] = "GB-DOV"
    assert fill("{who} seen[ at {where}].", lambda name: values[name]) == "PHONE:+447700900123 seen at GB-DOV."


@given(st.integers(min_value=-(10**12), max_value=4 * 10**12))
def test_times_are_the_minute_they_fall_in(ms: int) -> None:
    assert utc(ms) == datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
