"""Border points' localized names (``names:`` in border_points.yaml): optional, checked, the same in the Helm chart."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from borderbus.catalogue import CatalogueError, parse_border_points

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "ops" / "config" / "border_points.yaml"
HELM_COPY = REPO / "deploy" / "helm" / "borderbus" / "files" / "config" / "border_points.yaml"
BASE = {"code": "XX-ONE", "name": "One", "country": "XX", "latitude": 1.0, "longitude": 2.0, "operated_by": "uk-bf"}


def test_a_point_without_names_still_loads_and_is_named_in_english_everywhere() -> None:
    [point] = parse_border_points([BASE]).values()
    assert point.names == () and point.name_in("ar") == point.name_in("en") == "One"


def test_names_by_locale_fall_back_to_the_english_name() -> None:
    [point] = parse_border_points([{**BASE, "names": {"ar": " واحد ", "fr": "Un"}}]).values()
    assert point.names == (("ar", "واحد"), ("fr", "Un"))
    assert (point.name_in("ar"), point.name_in("fr"), point.name_in("de")) == ("واحد", "Un", "One")


@pytest.mark.parametrize("names", [["ar", "واحد"], {"Arabic!": "واحد"}, {"ar": ""}, {"ar": 3}])
def test_malformed_names_are_refused(names: object) -> None:
    with pytest.raises(CatalogueError, match="XX-ONE"):
        parse_border_points([{**BASE, "names": names}])


def test_every_declared_point_has_an_arabic_name_and_the_helm_copy_is_identical() -> None:
    points = parse_border_points(yaml.safe_load(CONFIG.read_text(encoding="utf-8"))["border_points"])
    for point in points.values():
        assert re.search("[\u0600-\u06ff]", point.name_in("ar")), point.code
    if HELM_COPY.exists():
        assert HELM_COPY.read_bytes() == CONFIG.read_bytes()
