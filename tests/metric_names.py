"""Metric names on both sides of a dashboard or alert rule: those a PromQL expression reads, and those a
live ``/metrics`` endpoint exposes. Pure functions, so checks of dashboards and rules share one reading.
"""

from __future__ import annotations

import re
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

# Series that Prometheus writes itself for every scrape target; no service exposes them.
PROMETHEUS_SYNTHETIC = frozenset(
    {"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling", "scrape_series_added"}
)

_TOKEN = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<comment>\#[^\n]*)
    | (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
    | (?P<number>\.?[0-9][0-9a-zA-Z_.]*)
    | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
    | (?P<open>[({\[])
    | (?P<close>[)}\]])
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
# Followed by a parenthesised list of label names, not of expressions.
_GROUPING_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
# Binary operators and modifiers spelled as words, and the special float literals (all case-insensitive).
_WORD_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"})
_CLOSING = {"(": ")", "{": "}", "[": "]"}


def _tokens(expr: str) -> list[tuple[str, str]]:
    found = []
    for match in _TOKEN.finditer(expr):
        kind = match.lastgroup
        assert kind is not None
        if kind not in {"space", "comment"}:
            found.append((kind, match.group()))
    return found


def _matching_close(tokens: list[tuple[str, str]], start: int) -> int:
    """Index of the bracket closing the one at ``start`` (or the end, for unbalanced input: promtool reports that)."""
    opening = tokens[start][1]
    depth = 0
    for index in range(start, len(tokens)):
        kind, text = tokens[index]
        if kind == "open" and text == opening:
            depth += 1
        elif kind == "close" and text == _CLOSING[opening]:
            depth -= 1
            if depth == 0:
                return index
    return len(tokens) - 1


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    return body if literal.startswith("`") else re.sub(r"\\(.)", r"\1", body)


def promql_metric_names(expr: str) -> set[str]:
    """Metric names an expression selects: bare selectors, and ``{__name__="..."}`` matchers.

    Skipped: strings, label matchers, ranges and subquery steps in ``[...]``, numbers and durations, function and
    aggregation names (an identifier followed by ``(``, ``by`` or ``without``), label lists after by/without/on/
    ignoring/group_left/group_right, word operators and modifiers. ``__name__`` regex matchers name no single metric
    and are ignored. The expression is assumed to parse (check that with promtool).
    """
    tokens = _tokens(expr)
    names: set[str] = set()
    index = 0
    while index < len(tokens):
        kind, text = tokens[index]
        following = tokens[index + 1] if index + 1 < len(tokens) else ("", "")
        if kind == "open" and text in "{[":
            end = _matching_close(tokens, index)
            if text == "{":
                names |= _names_in_matchers(tokens[index + 1 : end])
            index = end + 1
            continue
        if kind == "ident":
            word = text.lower()
            if word in _GROUPING_KEYWORDS:
                index = _matching_close(tokens, index + 1) + 1 if following == ("open", "(") else index + 1
                continue
            # a function or aggregation: `rate(`, `sum(`, `sum by (`, `topk without (`
            called = following == ("open", "(") or (following[0] == "ident" and following[1].lower() in {"by", "without"})
            if word not in _WORD_KEYWORDS and not called:
                names.add(text)
        index += 1
    return names


def _names_in_matchers(matchers: list[tuple[str, str]]) -> set[str]:
    return {
        _unquote(matchers[i + 2][1])
        for i in range(len(matchers) - 2)
        if matchers[i] == ("ident", "__name__") and matchers[i + 1] == ("other", "=") and matchers[i + 2][0] == "string"
    }


_SERIES_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
}


def exposed_metric_names(exposition: str) -> set[str]:
    """Every series name a Prometheus scrape of this text can store.

    Families are read from their HELP/TYPE lines too: prometheus_client prints those for a labelled metric that
    has no child yet (e.g. a rejection counter before the first rejection), so the answer does not depend on
    what traffic the service happened to see. The parser drops ``_total`` from counter family names, hence the
    suffixes per type; names of actual samples are added as they are.
    """
    names: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        names.update(family.name + suffix for suffix in _SERIES_SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def fetch_exposition(url: str, timeout: float = 10.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return str(response.read().decode())
