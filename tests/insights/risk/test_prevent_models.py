"""PREVENT's model selection (base, one add-on, or full with missing-value terms), the optional
inputs' validation, and what the result says about the model used."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest

from hyperhealth.errors import InputError
from hyperhealth.insights.risk import calculate, what_if
from hyperhealth.insights.risk._prevent import (
    MODELS,
    PREVENT,
    UACR_MG_G_PER_MG_MMOL,
    coefficients,
    risk,
    select_model,
)

BASE = {"age": 50, "sex": "female", "sbp": 160, "bp_treated": True, "total_c": 200,
        "hdl_c": 45, "statin": False, "diabetes": True, "smoker": False, "egfr": 90, "bmi": 35}
OPTIONAL = {"hba1c": 7.5, "uacr": 40.0, "sdi_decile": 8}
ALONE = {"hba1c": "hba1c", "uacr": "uacr", "sdi_decile": "sdi"}
LABELS = {"hba1c": "HbA1c", "uacr": "UACR", "sdi_decile": "SDI decile"}
OUTCOMES = ("total_cvd", "ascvd", "heart_failure", "chd", "stroke")


def logit(p: float) -> float:
    return math.log(p / (1 - p))


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_the_optional_inputs_given_choose_the_model(n: int) -> None:
    """none: base; exactly one: the base model adding it; two or three: the full model."""
    for names in itertools.combinations(OPTIONAL, n):
        v = dict(BASE, **{k: OPTIONAL[k] for k in names})
        want = "base" if n == 0 else ALONE[names[0]] if n == 1 else "full"
        assert select_model(v) == want
        res = PREVENT.calculate(v)
        assert MODELS[want] in res.method and MODELS[want] in res.warnings[0]
        # the same model as data, last in the JSON (where the API and CLI put it before)
        assert res.model is not None and res.model.id == want
        assert res.to_dict()["model"] == {"id": want, "label": MODELS[want],
                                          "optional_used": list(names)}
        assert list(res.to_dict())[-1] == "model"
        # and which optional inputs it used
        parts = res.warnings[0].split(": ", 1)[1].split("; ")
        for k, label in LABELS.items():
            (part,) = [p for p in parts if p.startswith(label + " ")]
            assert part.endswith(" used") if k in names else part == f"{label} not given"
        for e in res.estimates:
            assert e.value == risk(v, e.outcome, e.horizon_years or 10, want)


def test_only_an_equation_with_several_models_names_one() -> None:
    """PREVENT's result carries its model (so does the what-if's "now", the same result); an
    equation with one model (PCE) has none and its JSON no "model" key."""
    pce = calculate("pce", {"age": 55, "sex": "male", "race": "white", "total_c": 213,
                            "hdl_c": 50, "sbp": 120, "bp_treated": False, "smoker": False,
                            "diabetes": False})
    assert pce.model is None and "model" not in pce.to_dict()
    wi = what_if(PREVENT, dict(BASE, uacr=40.0))
    assert wi.base.model is not None and wi.base.model.id == "uacr"
    assert wi.to_dict()["now"]["model"]["optional_used"] == ["uacr"]


def test_none_is_the_same_as_not_given() -> None:
    a = PREVENT.calculate(BASE)
    b = PREVENT.calculate(dict(BASE, hba1c=None, uacr=None, sdi_decile=None))
    assert [e.value for e in a.estimates] == [e.value for e in b.estimates]
    assert select_model(b.inputs) == "base"


def test_base_inputs_give_the_base_model_for_every_outcome_and_horizon() -> None:
    res = PREVENT.calculate(BASE)
    assert [(e.outcome, e.horizon_years) for e in res.estimates] == [
        (o, h) for h in (10, 30) for o in OUTCOMES]
    for e in res.estimates:
        assert e.value == risk(BASE, e.outcome, e.horizon_years or 10, "base")
    # adding HbA1c changes the model, so the numbers
    with_a1c = PREVENT.calculate(dict(BASE, hba1c=7.5))
    assert all(x.value != y.value for x, y in zip(res.estimates, with_a1c.estimates,
                                                  strict=True))


@pytest.mark.parametrize(("absent", "reference", "term"),
                         [("sdi_decile", 2, "sdi_missing"), ("uacr", 1.0, "uacr_missing"),
                          ("hba1c", 5.3, "hba1c_missing")])
def test_the_full_model_enters_an_absent_input_through_its_missing_term(
        absent: str, reference: float, term: str) -> None:
    """With two of the three given, the full model adds the absent one's missing-value
    coefficient where a reference value (SDI decile 1-3, UACR 1 mg/g, HbA1c 5.3 %) adds 0."""
    given = {k: v for k, v in OPTIONAL.items() if k != absent}
    missing = PREVENT.calculate(dict(BASE, **given))
    at_reference = PREVENT.calculate(dict(BASE, **given, **{absent: reference}))
    assert select_model(missing.inputs) == select_model(at_reference.inputs) == "full"
    for e0, e1 in zip(missing.estimates, at_reference.estimates, strict=True):
        h = e0.horizon_years or 10
        c = coefficients("full", h, e0.outcome, BASE["sex"])[term]
        assert logit(e0.value) - logit(e1.value) == pytest.approx(c, abs=1e-12)


@pytest.mark.parametrize(("decile", "group"), [(1, ()), (3, ()), (4, ("sdi_4_6",)),
                                               (6, ("sdi_4_6",)), (7, ("sdi_7_10",)),
                                               (10, ("sdi_7_10",))])
def test_sdi_deciles_enter_as_published_groups(decile: int, group: tuple[str, ...]) -> None:
    """Deciles 1-3 are the reference; 4-6 and 7-10 have their own coefficient."""
    lo = PREVENT.calculate(dict(BASE, sdi_decile=1))
    res = PREVENT.calculate(dict(BASE, sdi_decile=decile))
    for e0, e1 in zip(lo.estimates, res.estimates, strict=True):
        c = coefficients("sdi", e0.horizon_years or 10, e0.outcome, BASE["sex"])
        want = sum(c[g] for g in group)
        assert logit(e1.value) - logit(e0.value) == pytest.approx(want, abs=1e-12)


def test_hba1c_acts_through_the_diabetes_specific_term() -> None:
    """HbA1c - 5.3 % has one coefficient with diabetes and another without."""
    for dm, term in ((True, "hba1c_dm"), (False, "hba1c_no_dm")):
        v = dict(BASE, diabetes=dm)
        a, b = (PREVENT.calculate(dict(v, hba1c=x)).estimate("chd", 10).value
                for x in (5.3, 8.3))
        c = coefficients("hba1c", 10, "chd", "female")[term]
        assert logit(b) - logit(a) == pytest.approx(3 * c, abs=1e-12)


def test_optional_inputs_are_validated_like_the_others() -> None:
    with pytest.raises(InputError) as e:
        PREVENT.calculate(dict(BASE, hba1c=16))
    assert e.value.field == "hba1c" and "extrapolate" in e.value.hint
    flagged = PREVENT.calculate(dict(BASE, hba1c=16), extrapolate=True)
    assert any(x.startswith("hba1c") for x in flagged.extrapolated)
    for bad in (0, 11, 5.5):
        with pytest.raises(InputError) as e:
            PREVENT.calculate(dict(BASE, sdi_decile=bad), extrapolate=True)
        assert e.value.field == "sdi_decile"
    with pytest.raises(InputError):
        PREVENT.calculate(dict(BASE, uacr=-1), extrapolate=True)


def test_uacr_units_and_the_floor_below_the_range() -> None:
    mg_g = PREVENT.calculate(dict(BASE, uacr=30 * UACR_MG_G_PER_MG_MMOL))
    mg_mmol = PREVENT.calculate(dict(BASE, uacr={"value": 30, "unit": "mg/mmol"}))
    assert mg_mmol.inputs["uacr"] == pytest.approx(265.2)
    assert [e.value for e in mg_g.estimates] == pytest.approx([e.value for e in
                                                                mg_mmol.estimates])
    # below 0.1 mg/g only with extrapolate, and then as 0.1 (AHAprevent adjust())
    zero = PREVENT.calculate(dict(BASE, uacr=0), extrapolate=True)
    floor = PREVENT.calculate(dict(BASE, uacr=0.1))
    assert [e.value for e in zero.estimates] == [e.value for e in floor.estimates]
    assert zero.extrapolated


def test_describe_lists_the_optional_inputs() -> None:
    specs: dict[str, Any] = {s["name"]: s for s in PREVENT.describe()["inputs"]}
    for name in OPTIONAL:
        assert specs[name]["required"] is False and specs[name]["range_source"]
    assert specs["uacr"]["unit"] == "mg/g" and specs["hba1c"]["unit"] == "%"
