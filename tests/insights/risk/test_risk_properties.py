"""Properties the science requires of the equations, and range validation, with hypothesis."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperhealth.errors import InputError
from hyperhealth.insights.risk import EQUATIONS, _pce, _prevent, calculate, get_equation
from hyperhealth.insights.risk._pce import PCE
from hyperhealth.insights.risk._pce_revised import PCE_REVISED
from hyperhealth.insights.risk._prevent import PREVENT
from hyperhealth.insights.risk._prevent_coefficients import TABLES

flags = st.booleans()


@st.composite
def pce_inputs(draw: Any) -> dict[str, Any]:
    return {"age": draw(st.floats(40, 79)), "sex": draw(st.sampled_from(["female", "male"])),
            "race": draw(st.sampled_from(["white", "african_american", "other"])),
            "total_c": draw(st.floats(130, 320)), "hdl_c": draw(st.floats(20, 100)),
            "sbp": draw(st.floats(90, 200)), "bp_treated": draw(flags),
            "smoker": draw(flags), "diabetes": draw(flags)}


@st.composite
def prevent_inputs(draw: Any) -> dict[str, Any]:
    return {"age": draw(st.floats(30, 79)), "sex": draw(st.sampled_from(["female", "male"])),
            "total_c": draw(st.floats(130, 320)), "hdl_c": draw(st.floats(20, 100)),
            "sbp": draw(st.floats(90, 200)), "bp_treated": draw(flags),
            "statin": draw(flags), "diabetes": draw(flags), "smoker": draw(flags),
            "egfr": draw(st.floats(15, 140)), "bmi": draw(st.floats(18.5, 39.9)),
            # optional: which of them are given chooses the base, an add-on or the full model
            "hba1c": draw(st.none() | st.floats(4.5, 15)),
            "uacr": draw(st.none() | st.floats(0.1, 25000)),
            "sdi_decile": draw(st.none() | st.integers(1, 10))}


def _all(res: Any) -> list[float]:
    return [e.value for e in res.estimates]


def _rises(eq: Any, a: dict[str, Any], b: dict[str, Any]) -> list[tuple[float, float]]:
    return list(zip(_all(eq.calculate(a)), _all(eq.calculate(b)), strict=True))


# -- systolic BP: "higher SBP never lowers risk, all else equal" ---------------------------------
@settings(max_examples=300, deadline=None)
@given(v=pce_inputs(), step=st.floats(0.5, 40))
def test_pce_higher_sbp_never_lowers_risk(v: dict[str, Any], step: float) -> None:
    hi = dict(v, sbp=min(200.0, v["sbp"] + step))
    for eq in (PCE, PCE_REVISED):
        for x, y in _rises(eq, v, hi):
            assert y >= x - 1e-12, (eq.id, v, hi)


def _prevent_sbp_slope(v: dict[str, Any], outcome: str, horizon: int) -> float:
    """d(linear predictor)/d((SBP-130)/20) of PREVENT for SBP >= 110 (Khan 2023 Table S12)."""
    c = _prevent.coefficients(_prevent.select_model(v), horizon, outcome, v["sex"])
    return (c["sbp_ge_110"] + c["treated_sbp_ge_110"] * float(v["bp_treated"])
            + c["age_sbp_ge_110"] * (v["age"] - 55) / 10)


def test_prevent_sbp_slope_above_110_is_positive_up_to_59_in_every_model() -> None:
    """Every PREVENT table (base, HbA1c, UACR, SDI, full; 10 and 30 years; every outcome and
    sex): from 110 mmHg up, SBP raises the linear predictor at ages 30-59, treated or not."""
    checked = 0
    for model, horizon in TABLES:
        for outcome in _prevent.OUTCOMES:
            for sex in ("female", "male"):
                c = _prevent.coefficients(model, horizon, outcome, sex)
                # the slope is linear in age: its ends over 30-59 bound it
                for age, treated in ((30, 0), (30, 1), (59, 0), (59, 1)):
                    slope = (c["sbp_ge_110"] + c["treated_sbp_ge_110"] * treated
                             + c["age_sbp_ge_110"] * (age - 55) / 10)
                    assert slope > 0.1, (model, horizon, outcome, sex, age, treated, slope)
                    checked += 1
    assert checked == 10 * 5 * 2 * 4


@settings(max_examples=300, deadline=None)
@given(v=prevent_inputs(), step=st.floats(0.5, 40))
def test_prevent_higher_sbp_at_or_above_110_never_lowers_risk(v: dict[str, Any],
                                                                step: float) -> None:
    """PREVENT models SBP with a knot at 110 mmHg and a negative slope below it (risk rises
    again at low SBP, by design), so the property holds from 110 up; the 30-year models were
    developed for ages 30-59. Any model (the optional inputs are drawn too)."""
    v = dict(v, sbp=max(110.0, v["sbp"]), age=min(v["age"], 59.0))
    hi = dict(v, sbp=min(200.0, v["sbp"] + step))
    for x, y in _rises(PREVENT, v, hi):
        assert y >= x - 1e-12, (v, hi)


@settings(max_examples=300, deadline=None)
@given(v=prevent_inputs(), step=st.floats(0.5, 40))
def test_prevent_sbp_above_110_follows_the_published_slope_at_any_age(v: dict[str, Any],
                                                                        step: float) -> None:
    """Above 59 the treated-SBP and age x SBP terms can outweigh the SBP term (e.g. heart
    failure in treated men near 79 in the add-on 10-year models): the risk then follows the
    sign of the published slope, which is constant in SBP above 110."""
    v = dict(v, sbp=max(110.0, v["sbp"]))
    hi = dict(v, sbp=min(200.0, v["sbp"] + step))
    for e0, e1 in zip(PREVENT.calculate(v).estimates, PREVENT.calculate(hi).estimates,
                      strict=True):
        slope = _prevent_sbp_slope(v, e0.outcome, e0.horizon_years or 10)
        if slope >= 0:
            assert e1.value >= e0.value - 1e-12, (e0.outcome, v, hi)
        else:
            assert e1.value <= e0.value + 1e-12, (e0.outcome, v, hi)


def test_prevent_treated_sbp_lowers_heart_failure_risk_near_79_in_an_add_on_model() -> None:
    """Found by the property above: in the UACR model (Table S12B) a treated 79-year-old
    man's 10-year heart-failure estimate falls as SBP rises (0.3290 - 0.0646 - 0.1230 x 2.4
    < 0). This is the published model, not an implementation error."""
    v = {"age": 79, "sex": "male", "total_c": 200, "hdl_c": 50, "sbp": 140,
         "bp_treated": True, "statin": False, "diabetes": False, "smoker": False,
         "egfr": 90, "bmi": 25, "uacr": 30}
    assert _prevent_sbp_slope(v, "heart_failure", 10) < 0
    lo = PREVENT.calculate(v).estimate("heart_failure", 10).value
    hi = PREVENT.calculate(dict(v, sbp=160)).estimate("heart_failure", 10).value
    assert hi < lo


def test_prevent_sbp_below_110_is_a_j_curve_as_published() -> None:
    v = {"age": 50, "sex": "female", "total_c": 200, "hdl_c": 50, "sbp": 110,
         "bp_treated": False, "statin": False, "diabetes": False, "smoker": False,
         "egfr": 90, "bmi": 25}
    at110 = PREVENT.calculate(v).estimate("total_cvd", 10).value
    at90 = PREVENT.calculate(dict(v, sbp=90)).estimate("total_cvd", 10).value
    assert at90 > at110  # coefficient of (min(SBP,110)-110)/20 is -0.2394 (Khan 2023)


# -- age: "older never lowers risk, all else equal" ----------------------------------------------
@settings(max_examples=300, deadline=None)
@given(v=pce_inputs(), step=st.floats(0.5, 20))
def test_revised_pce_older_never_lowers_risk(v: dict[str, Any], step: float) -> None:
    older = dict(v, age=min(79.0, v["age"] + step))
    for x, y in _rises(PCE_REVISED, v, older):
        assert y >= x - 1e-12


def _pce_age_slope(v: dict[str, Any], ln_age: float) -> float:
    """d(individual sum)/d(ln age) of the 2013 PCE (Goff Table A), at ln_age."""
    group = "african_american" if v["race"] == "african_american" else "white"
    c, _, _ = _pce._GROUPS[(v["sex"], group)]
    t = dict(zip(_pce._TERMS, c, strict=True))
    trt = 1.0 if v["bp_treated"] else 0.0
    ln_sbp = math.log(v["sbp"])
    return (t["ln_age"] + 2 * t["ln_age_sq"] * ln_age + t["ln_age_ln_tc"] * math.log(v["total_c"])
            + t["ln_age_ln_hdl"] * math.log(v["hdl_c"])
            + t["ln_age_ln_treated_sbp"] * trt * ln_sbp
            + t["ln_age_ln_untreated_sbp"] * (1 - trt) * ln_sbp
            + t["ln_age_smoker"] * (1.0 if v["smoker"] else 0.0))


@settings(max_examples=500, deadline=None)
@given(v=pce_inputs(), step=st.floats(0.5, 20))
def test_pce_2013_age_follows_the_published_slope(v: dict[str, Any], step: float) -> None:
    """The 2013 PCE rise with age wherever the published coefficients make the slope positive
    over the interval, and fall where it is negative (the slope is linear in ln age)."""
    older = dict(v, age=min(79.0, v["age"] + step))
    s0 = _pce_age_slope(v, math.log(v["age"]))
    s1 = _pce_age_slope(v, math.log(older["age"]))
    ((x, y),) = _rises(PCE, v, older)
    if s0 >= 0 and s1 >= 0:
        assert y >= x - 1e-12, (v, older)
    elif s0 < 0 and s1 < 0:
        assert y <= x + 1e-12, (v, older)


def test_pce_2013_falls_with_age_in_a_published_corner() -> None:
    """Found by the property test: for African-American women with low HDL and high untreated
    SBP the 2013 coefficients give a negative age slope (17.114 + 4.475 ln HDL - 6.087 ln SBP
    < 0). This is the published model, not an implementation error."""
    v = {"age": 40.0, "sex": "female", "race": "african_american", "total_c": 130.0,
         "hdl_c": 20.0, "sbp": 151.0, "bp_treated": False, "smoker": False,
         "diabetes": False}
    assert _pce_age_slope(v, math.log(40)) < 0
    ((x, y),) = _rises(PCE, v, dict(v, age=41.0))
    assert y < x


def _prevent_age_slope(v: dict[str, Any], outcome: str, horizon: int, age_t: float) -> float:
    """d(linear predictor)/d((age-55)/10) of PREVENT at age_t, in the model the inputs
    select (Khan 2023 Table S12)."""
    t = _prevent.terms(v)
    c = _prevent.coefficients(_prevent.select_model(v), horizon, outcome, v["sex"])
    slope = c["age"] + (2 * c["age_sq"] * age_t if horizon == 30 else 0.0)
    for inter, base in (("age_non_hdl", "non_hdl"), ("age_hdl", "hdl"),
                        ("age_sbp_ge_110", "sbp_ge_110"), ("age_diabetes", "diabetes"),
                        ("age_smoker", "smoker"), ("age_bmi_ge_30", "bmi_ge_30"),
                        ("age_egfr_lt_60", "egfr_lt_60")):
        slope += c[inter] * t[base]
    return slope


@settings(max_examples=500, deadline=None)
@given(v=prevent_inputs(), step=st.floats(0.5, 20))
def test_prevent_age_follows_the_published_slope(v: dict[str, Any], step: float) -> None:
    """PREVENT rises with age wherever its published slope is positive over the interval
    (typical profiles); with several extreme risk factors together the age interactions make
    the slope negative and the risk falls with age, as published."""
    older = dict(v, age=min(79.0, v["age"] + step))
    res0, res1 = PREVENT.calculate(v), PREVENT.calculate(older)
    for e0, e1 in zip(res0.estimates, res1.estimates, strict=True):
        h = e0.horizon_years or 10
        s0 = _prevent_age_slope(v, e0.outcome, h, (v["age"] - 55) / 10)
        s1 = _prevent_age_slope(v, e0.outcome, h, (older["age"] - 55) / 10)
        if s0 >= 0 and s1 >= 0:
            assert e1.value >= e0.value - 1e-12, (e0.outcome, h, v, older)
        elif s0 < 0 and s1 < 0:
            assert e1.value <= e0.value + 1e-12, (e0.outcome, h, v, older)


@settings(max_examples=300, deadline=None)
@given(v=prevent_inputs(), step=st.floats(0.5, 20))
def test_prevent_10_year_older_never_lowers_risk_for_typical_profiles(v: dict[str, Any],
                                                                      step: float) -> None:
    """No diabetes, not smoking, eGFR >= 60, SBP <= 160, non-HDL-C <= 190 mg/dL: here every
    10-year PREVENT slope in age is positive."""
    v = dict(v, diabetes=False, smoker=False, egfr=max(60.0, v["egfr"]),
             sbp=min(160.0, v["sbp"]), total_c=min(v["total_c"], v["hdl_c"] + 190))
    older = dict(v, age=min(79.0, v["age"] + step))
    for e0, e1 in zip(PREVENT.calculate(v).estimates, PREVENT.calculate(older).estimates,
                      strict=True):
        if e0.horizon_years == 10:
            assert e1.value >= e0.value - 1e-12, (e0.outcome, v, older)


@settings(max_examples=200, deadline=None)
@given(v=prevent_inputs())
def test_risks_are_proportions(v: dict[str, Any]) -> None:
    for e in PREVENT.calculate(v).estimates:
        assert 0.0 < e.value < 1.0


# -- range validation ----------------------------------------------------------------------------
def _numeric_specs() -> list[tuple[str, str]]:
    return [(eid, s.name) for eid, eq in EQUATIONS.items() for s in eq.inputs
            if s.kind == "number" and s.valid is not None]


def _inside(eid: str) -> dict[str, Any]:
    """A valid input set for each equation (midpoints of ranges, first choices, False)."""
    eq = get_equation(eid)
    v: dict[str, Any] = {}
    for s in eq.inputs:
        if not s.required and s.kind == "number":
            continue  # optional numbers (PREVENT's HbA1c, UACR, SDI decile) choose a model
        if s.kind == "number":
            lo, hi = s.valid or s.hard or (1, 2)
            v[s.name] = (lo + hi) / 2
        elif s.kind == "choice":
            v[s.name] = s.choices[0]
        else:
            v[s.name] = False
    return v


@pytest.mark.parametrize(("eid", "name"), _numeric_specs())
def test_outside_valid_range_is_an_error_or_flagged(eid: str, name: str) -> None:
    eq = get_equation(eid)
    spec = eq.spec(name)
    assert spec.valid is not None
    base = _inside(eid)
    eq.calculate(base)  # inside: fine
    hard = spec.hard or (float("-inf"), float("inf"))
    for outside in (spec.valid[0] - 1e-6 * max(1.0, abs(spec.valid[0])),
                    spec.valid[1] + 1.0):
        if not hard[0] <= outside <= hard[1]:
            continue
        v = dict(base, **{name: outside})
        with pytest.raises(InputError) as err:
            eq.calculate(v)
        assert err.value.field == name and "extrapolate" in err.value.hint
        res = eq.calculate(v, extrapolate=True)
        assert any(f.startswith(name) for f in res.extrapolated)


@settings(max_examples=200, deadline=None)
@given(eid=st.sampled_from(sorted(EQUATIONS)), data=st.data())
def test_impossible_values_are_always_errors(eid: str, data: Any) -> None:
    eq = get_equation(eid)
    numeric = [s for s in eq.inputs if s.kind == "number" and s.hard is not None]
    spec = data.draw(st.sampled_from(numeric))
    assert spec.hard is not None
    bad = data.draw(st.one_of(st.floats(max_value=spec.hard[0], exclude_max=True,
                                        allow_nan=False, allow_infinity=False),
                              st.floats(min_value=spec.hard[1], exclude_min=True,
                                        allow_nan=False, allow_infinity=False)))
    with pytest.raises(InputError):
        eq.calculate(dict(_inside(eid), **{spec.name: bad}), extrapolate=True)


@settings(max_examples=100, deadline=None)
@given(v=pce_inputs())
def test_within_range_never_flagged(v: dict[str, Any]) -> None:
    assert PCE.calculate(v).extrapolated == ()


def test_missing_unknown_and_mistyped_inputs_say_what_and_how() -> None:
    v = _inside("pce")
    del v["hdl_c"]
    with pytest.raises(InputError, match="hdl_c is missing") as e:
        calculate("pce", v)
    assert "mg/dL" in e.value.hint
    with pytest.raises(InputError, match="unknown input") as e:
        calculate("pce", dict(_inside("pce"), hdl=50))
    assert "hdl_c" in e.value.hint
    with pytest.raises(InputError, match="must be a number"):
        calculate("pce", dict(_inside("pce"), sbp="high"))
    with pytest.raises(InputError, match="true or false"):
        calculate("pce", dict(_inside("pce"), smoker="sometimes"))
    with pytest.raises(InputError, match="no equation"):
        calculate("framingham", {})


def test_alternative_units_convert() -> None:
    v = dict(_inside("pce"), total_c={"value": 5.5, "unit": "mmol/L"})
    res = calculate("pce", v)
    assert res.inputs["total_c"] == pytest.approx(5.5 * 38.67)
    with pytest.raises(InputError, match="not accepted"):
        calculate("pce", dict(_inside("pce"), total_c={"value": 5.5, "unit": "g/L"}))


def test_qrisk3_disclaimer_and_findrisc_range_without_family_history() -> None:
    q = calculate("qrisk3", _inside("qrisk3"))
    assert "ClinRisk" in q.disclaimer and "wrong treatment" in q.disclaimer
    assert "ClinRisk" in q.to_dict()["disclaimer"]
    f = calculate("findrisc", {"age": 50, "sex": "female", "bmi": 31, "waist_cm": 90,
                               "daily_activity_30min": False, "daily_vegetables": False,
                               "antihypertensive_ever": False, "high_glucose_ever": False})
    assert f.estimates[0].value == 2 + 3 + 4 + 2 + 1
    assert any("at most 17" in w for w in f.warnings)


def test_cha2ds2_vasc_maximum_is_nine() -> None:
    r = calculate("cha2ds2_vasc", {"age": 80, "sex": "female", "heart_failure": True,
                                   "hypertension": True, "diabetes": True,
                                   "stroke_tia": True, "vascular_disease": True})
    assert r.estimates[0].value == 9
