from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hyperhealth.errors import ImplausibleValue, UnknownUnit
from hyperhealth.model import METRICS, Quality, normalise


@pytest.mark.parametrize(("code", "value", "unit", "expected"), [
    ("2339-0", 100.0, "mg/dL", 100.0),
    ("2339-0", 5.55, "mmol/L", 5.55 * 18.0156),  # glucose molar mass 180.156 g/mol
    ("29463-7", 100.0, "[lb_av]", 45.359237),  # exact pound definition
    ("29463-7", 70_000, "g", 70.0),
    ("8302-2", 70.0, "[in_i]", 177.8),
    ("8310-5", 102.2, "[degF]", 39.0),
    ("8480-6", 16.0, "kPa", 16.0 * 7.500617),
    ("8867-4", 72, "bpm", 72.0),
])
def test_conversions(code: str, value: float, unit: str, expected: float) -> None:
    v, u, flags = normalise(code, value, unit)
    assert u == METRICS[code].unit
    assert math.isclose(v, expected, rel_tol=1e-9)
    assert bool(flags & Quality.CONVERTED) == (unit not in (METRICS[code].unit, "bpm"))


def test_fahrenheit_is_exact() -> None:
    assert normalise("8310-5", 98.6, "[degF]")[0] == pytest.approx(37.0)
    assert normalise("8310-5", 104.0, "degF")[0] == pytest.approx(40.0)


@pytest.mark.parametrize(("code", "value", "unit"), [
    ("8867-4", 0, "/min"), ("8867-4", 400, "/min"), ("59408-5", 120, "%"),
    ("8480-6", -5, "mm[Hg]"), ("2339-0", 0, "mg/dL"), ("55423-8", -1, "{steps}"),
])
def test_impossible_values_are_rejected_with_a_reason(code: str, value: float, unit: str) -> None:
    with pytest.raises(ImplausibleValue) as err:
        normalise(code, value, unit)
    assert err.value.field == "value" and METRICS[code].display in err.value.message


@pytest.mark.parametrize(("code", "value", "unit"), [
    ("8867-4", 25, "/min"), ("8867-4", 240, "/min"), ("59408-5", 62, "%"),
    ("2339-0", 700, "mg/dL"),
])
def test_implausible_but_possible_values_are_flagged(code: str, value: float, unit: str) -> None:
    v, _, flags = normalise(code, value, unit)
    assert v == value and flags & Quality.IMPLAUSIBLE


def test_unknown_unit_is_an_error_never_a_guess() -> None:
    with pytest.raises(UnknownUnit):
        normalise("8867-4", 1.2, "Hz")
    with pytest.raises(UnknownUnit):
        normalise("2339-0", 5.5, "mmol/mol")


def test_codes_without_a_metric_pass_through() -> None:
    assert normalise("2093-3", 180.0, "mg/dL") == (180.0, "mg/dL", Quality.NONE)


@given(st.floats(min_value=1.0, max_value=60.0))
def test_glucose_mmol_roundtrip(mmol: float) -> None:
    mg, _, _ = normalise("2339-0", mmol, "mmol/L")
    assert math.isclose(mg / 18.0156, mmol, rel_tol=1e-9)
