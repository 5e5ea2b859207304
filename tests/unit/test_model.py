"""The correlator's plain data keeps the promises of a frozen dataclass where it is written by hand for speed."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from borderbus_correlator.model import Observation


def test_an_observation_takes_and_sets_exactly_its_fields_in_order() -> None:
    """Its ``__init__`` is hand-written (one dict update): a field added to the class must be added there too."""
    names = [f.name for f in dataclasses.fields(Observation)]
    assert list(inspect.signature(Observation.__init__).parameters)[1:] == names
    values = {name: f"value-{index}" for index, name in enumerate(names)}
    observation = Observation(**values)  # type: ignore[arg-type]
    assert {name: getattr(observation, name) for name in names} == values
    assert vars(observation).keys() == set(names)


def test_an_observation_is_still_frozen_and_compared_by_value() -> None:
    observation = Observation("e-1", "uk-bf", "sighting", 1, 2, "AMBER", ("PHONE:+9647701234567",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        observation.tlp = "RED"  # type: ignore[misc]
    assert observation == Observation("e-1", "uk-bf", "sighting", 1, 2, "AMBER", ("PHONE:+9647701234567",), facts={})
    assert observation.facts == {} and observation.facts is not Observation("e", "a", "t", 1, 2, "C", ()).facts
    assert dataclasses.replace(observation, tlp="RED").tlp == "RED"
