"""Thresholds and windows of the correlation rules, read from ``ops/config/rules.yaml``.

The YAML speaks human units (hours, days, km/h); :class:`RuleConfig` holds milliseconds so rules
compare event times without converting. Unknown keys and rule names are refused, so a typo
cannot silently leave a rule on its default.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

RULE_NAMES = (
    "wanted_subject_sighted",
    "flagged_money_meets_border",
    "network_convergence",
    "implausible_movement",
    "advert_to_action",
    "hub_detected",
)
"""Every rule the correlator knows, in evaluation order (``rules.RULES`` must match)."""


@dataclass(frozen=True)
class RuleConfig:
    enabled_rules: frozenset[str] = frozenset(RULE_NAMES)
    finance_risk_threshold: int = 70
    finance_border_window_ms: int = 72 * HOUR_MS
    convergence_window_ms: int = 6 * HOUR_MS
    convergence_radius_km: float = 5.0
    max_vehicle_speed_kmh: float = 120.0
    max_vessel_speed_kmh: float = 60.0
    distinct_points_per_day: int = 3
    advert_window_ms: int = 30 * DAY_MS
    allowed_lateness_ms: int = 6 * HOUR_MS
    max_observations: int = 500
    max_links: int = 50

    @cached_property
    def retention_ms(self) -> int:
        """How far back any rule can look from a subject's watermark, plus the lateness an event may have."""
        windows = (self.finance_border_window_ms, self.convergence_window_ms, self.advert_window_ms, DAY_MS)
        return max(windows) + self.allowed_lateness_ms


def _number(key: str, value: Any, *, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
        raise ValueError(f"{key} must be {'an integer' if integer else 'a number'}, got {value!r}")
    return value


def _positive(key: str, value: Any) -> float:
    number = _number(key, value)
    if number <= 0:
        raise ValueError(f"{key} must be positive, got {value!r}")
    return number


def _millis(unit_ms: int) -> Callable[[str, Any], int]:
    return lambda key, value: round(_positive(key, value) * unit_ms)


def _speed(key: str, value: Any) -> float:
    """A positive real in its own unit (km/h, km)."""
    return float(_positive(key, value))


def _integer(low: int, high: int | None = None) -> Callable[[str, Any], int]:
    def convert(key: str, value: Any) -> int:
        number = int(_number(key, value, integer=True))
        if number < low or (high is not None and number > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise ValueError(f"{key} must be {bounds}, got {value!r}")
        return number

    return convert


# YAML key -> (RuleConfig field, converter from the human unit)
_FIELDS: dict[str, tuple[str, Callable[[str, Any], Any]]] = {
    "finance_risk_threshold": ("finance_risk_threshold", _integer(0, 100)),
    "finance_border_window_hours": ("finance_border_window_ms", _millis(HOUR_MS)),
    "convergence_window_hours": ("convergence_window_ms", _millis(HOUR_MS)),
    "convergence_radius_km": ("convergence_radius_km", _speed),
    "max_vehicle_speed_kmh": ("max_vehicle_speed_kmh", _speed),
    "max_vessel_speed_kmh": ("max_vessel_speed_kmh", _speed),
    "distinct_points_per_day": ("distinct_points_per_day", _integer(2)),
    "advert_window_days": ("advert_window_ms", _millis(DAY_MS)),
    "allowed_lateness_hours": ("allowed_lateness_ms", _millis(HOUR_MS)),
    "max_observations": ("max_observations", _integer(1)),
    "max_links": ("max_links", _integer(1)),
}


def _enabled_rules(raw: Any) -> frozenset[str]:
    """``rules: {name: true|false}``; a rule not listed stays enabled."""
    if raw is None:
        return frozenset(RULE_NAMES)
    if not isinstance(raw, Mapping):
        raise ValueError("rules must be a mapping of rule name to true/false")
    for name, enabled in raw.items():
        if name not in RULE_NAMES:
            raise ValueError(f"unknown rule rules.{name}; known: {', '.join(RULE_NAMES)}")
        if not isinstance(enabled, bool):
            raise ValueError(f"rules.{name} must be true or false, got {enabled!r}")
    return frozenset(name for name in RULE_NAMES if raw.get(name, True))


def rule_config_from_mapping(data: Mapping[str, Any]) -> RuleConfig:
    """A :class:`RuleConfig` from the YAML's top-level mapping; missing keys keep their defaults."""
    unknown = sorted(set(data) - set(_FIELDS) - {"rules"})
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r}; known: rules, {', '.join(_FIELDS)}")
    values = {field: convert(key, data[key]) for key, (field, convert) in _FIELDS.items() if key in data}
    return RuleConfig(enabled_rules=_enabled_rules(data.get("rules")), **values)


def load_rule_config(path: Path) -> RuleConfig:
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: expected a mapping at the top level")
    try:
        return rule_config_from_mapping(data)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
