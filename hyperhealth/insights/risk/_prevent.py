"""AHA PREVENT (Khan et al. 2023): 10- and 30-year risk of total CVD, ASCVD, heart failure,
coronary heart disease and stroke, with the HbA1c, UACR and social-deprivation add-on models.

Sex-specific logistic models without race (Khan SS et al. Development and Validation of the
American Heart Association's PREVENT Equations. Circulation 2024;149(6):430-449, published
online 10 Nov 2023, doi:10.1161/CIRCULATIONAHA.123.067626, PMID 37947085), coefficients from
its Supplemental Table S12A-J (``_prevent_coefficients``, which also records the
transcriptions they were checked against). risk = 1 / (1 + exp(-x)).

Predictors, centred and scaled as in the supplement: age per 10 y from 55 (and its square in
the 30-year models), non-HDL-C per 1 mmol/L from 3.5, HDL-C per 0.3 mmol/L from 1.3 (0.02586
mmol/L per mg/dL), SBP per 20 mmHg with a knot at 110, BMI per 5 kg/m2 with a knot at 30
(heart failure only), eGFR per -15 mL/min/1.73 m2 with a knot at 60, treatment and age
interactions; the add-ons: HbA1c - 5.3 % separately with and without diabetes, ln UACR (mg/g),
SDI decile groups 4-6 and 7-10 against 1-3, and an indicator for each of them being missing.

Which model: the base model when none of HbA1c, UACR and SDI decile is given; the base model
adding that one when exactly one is given; the full model when two or three are given, the
absent one entered through the full model's missing-value term. The rule is preventr
0.12.0's (documented in ``estimate_risk()``, section "Model selection when model = NULL", and
implemented by ``select_model()`` in ``R/helpers.R``); the missing-value terms that let the
full model run without one of the three are part of the published full model (Table S12E/J).
The result's ``method`` and ``warnings`` name the model and which optional inputs were used;
its ``model`` (:func:`model_choice`) gives the same as data.

SDI: PREVENT takes the Social Deprivation Index decile (Robert Graham Center, by ZIP code
tabulation area). hyperhealth has no ZIP-to-SDI table, so the decile is an input
(``sdi_decile``, 1-10). UACR below 0.1 mg/g (only with ``extrapolate=True``) enters as 0.1, as
the AHA's R code does (``AHAprevent::adjust``).

The 30-year models were developed for ages 30-59: results for older people are flagged.

>>> r = PREVENT.calculate({"age": 50, "sex": "female", "sbp": 160, "bp_treated": True,
...     "total_c": 200, "hdl_c": 45, "statin": False, "diabetes": True, "smoker": False,
...     "egfr": 90, "bmi": 35})
>>> round(r.estimate("total_cvd", 10).value, 3), round(r.estimate("stroke", 10).value, 3)
(0.147, 0.054)
>>> r.to_dict()["model"]
{'id': 'base', 'label': 'base model', 'optional_used': []}
>>> select_model({"hba1c": 7.5}), select_model({"hba1c": 7.5, "uacr": 40})
('hba1c', 'full')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from hyperhealth.errors import InputError
from hyperhealth.insights.risk._base import (
    CREATININE_UMOL_PER_MG_DL,
    SEX_INPUT,
    Citation,
    Equation,
    Estimate,
    InputSpec,
    ModelChoice,
    RiskResult,
    age_input,
    cholesterol_input,
    flag_input,
    logistic,
    sbp_input,
)
from hyperhealth.insights.risk._prevent_coefficients import TABLES, column

KHAN_2023 = Citation("Khan SS et al. Development and validation of the American Heart "
                     "Association's PREVENT equations. Circulation 2024;149(6):430-449, "
                     "Supplemental Table S12A-J",
                     doi="10.1161/CIRCULATIONAHA.123.067626", pmid="37947085")

_SRC = ("Khan 2023: the ranges of the derivation sample and of the published PREVENT "
        "calculator (age 30-79, TC 130-320 mg/dL, HDL-C 20-100 mg/dL, SBP 90-200 mmHg, "
        "BMI 18.5-39.9 kg/m2, eGFR 15-140)")
_OPT_SRC = ("preventr 0.12.0 input ranges for the PREVENT add-on models: HbA1c 4.5-15 % (the "
            "calculator's lower bound of 3 % raised to physiological values), UACR 0.1-25000 "
            "mg/g; SDI deciles 1-10 (Khan 2023)")

#: mmol/L of cholesterol per mg/dL, as used in the PREVENT supplement
MMOL_PER_MG_DL = 0.02586
#: HbA1c centre of the add-on models (%)
HBA1C_CENTRE = 5.3
#: UACR below this enters the equation as this value (AHAprevent ``adjust()``)
UACR_FLOOR = 0.1
#: mg/g per mg/mmol of urine albumin/creatinine (creatinine 113.12 g/mol)
UACR_MG_G_PER_MG_MMOL = CREATININE_UMOL_PER_MG_DL / 10

OUTCOMES = {"total_cvd": "total cardiovascular disease (ASCVD or heart failure)",
            "ascvd": "atherosclerotic cardiovascular disease (MI, stroke, CHD death)",
            "heart_failure": "heart failure",
            "chd": "coronary heart disease (non-fatal MI or CHD death)",
            "stroke": "stroke"}

#: the optional inputs, and the add-on model each one alone selects
OPTIONAL = {"hba1c": "hba1c", "uacr": "uacr", "sdi_decile": "sdi"}
MODELS = {"base": "base model",
          "hba1c": "base model adding HbA1c",
          "uacr": "base model adding UACR",
          "sdi": "base model adding SDI",
          "full": "full model (base adding HbA1c, UACR and SDI)"}
_OPTIONAL_NAMES = {"hba1c": "HbA1c", "uacr": "UACR", "sdi_decile": "SDI decile"}

PREVENT_INPUTS: tuple[InputSpec, ...] = (
    age_input((30, 79), _SRC),
    SEX_INPUT,
    cholesterol_input("total_c", "total cholesterol", (130, 320), _SRC),
    cholesterol_input("hdl_c", "HDL cholesterol", (20, 100), _SRC),
    sbp_input((90, 200), _SRC),
    flag_input("bp_treated", "whether the person takes blood-pressure medication"),
    flag_input("statin", "whether the person takes a statin"),
    flag_input("diabetes", "whether the person has diabetes"),
    flag_input("smoker", "whether the person currently smokes (any cigarette in the last 30 "
               "days)"),
    InputSpec("egfr", "number", "estimated GFR (CKD-EPI 2021)", unit="mL/min/{1.73_m2}",
              valid=(15, 140), hard=(1, 250), range_source=_SRC),
    InputSpec("bmi", "number", "body-mass index", unit="kg/m2", valid=(18.5, 39.9),
              hard=(10, 90), range_source=_SRC),
    InputSpec("hba1c", "number", "HbA1c (NGSP %), optional: selects an add-on model",
              unit="%", valid=(4.5, 15), hard=(2, 20), required=False, range_source=_OPT_SRC),
    InputSpec("uacr", "number", "urine albumin-to-creatinine ratio, optional: selects an "
              "add-on model", unit="mg/g", valid=(UACR_FLOOR, 25000), hard=(0, 100000),
              required=False, alt_units={"mg/mmol": UACR_MG_G_PER_MG_MMOL},
              range_source=_OPT_SRC),
    InputSpec("sdi_decile", "number", "Social Deprivation Index decile of the home area (1 "
              "least to 10 most deprived; Robert Graham Center SDI by ZIP code), optional: "
              "selects an add-on model", valid=(1, 10), hard=(1, 10), required=False,
              range_source=_OPT_SRC),
)

THIRTY_YEAR_AGE_MAX = 59


def select_model(v: Mapping[str, Any]) -> str:
    """base, hba1c, uacr, sdi or full, from which optional inputs are given (not None)."""
    given = [name for name in OPTIONAL if v.get(name) is not None]
    if not given:
        return "base"
    return OPTIONAL[given[0]] if len(given) == 1 else "full"


def model_choice(v: Mapping[str, Any]) -> ModelChoice:
    """The model :func:`select_model` picks, with its label and the optional inputs used.

    >>> model_choice({"hba1c": 7.1, "uacr": None}).to_dict()
    {'id': 'hba1c', 'label': 'base model adding HbA1c', 'optional_used': ['hba1c']}
    """
    chosen = select_model(v)
    return ModelChoice(chosen, MODELS[chosen],
                       tuple(name for name in OPTIONAL if v.get(name) is not None))


def terms(v: Mapping[str, Any]) -> dict[str, float]:
    """Every predictor of every PREVENT model, centred and scaled (Khan 2023 supplement);
    a model's table uses the ones it has."""
    age = (v["age"] - 55) / 10
    non_hdl = (v["total_c"] - v["hdl_c"]) * MMOL_PER_MG_DL - 3.5
    hdl = (v["hdl_c"] * MMOL_PER_MG_DL - 1.3) / 0.3
    sbp_lt = (min(v["sbp"], 110) - 110) / 20
    sbp_ge = (max(v["sbp"], 110) - 130) / 20
    bmi_lt = (min(v["bmi"], 30) - 25) / 5
    bmi_ge = (max(v["bmi"], 30) - 30) / 5
    egfr_lt = (min(v["egfr"], 60) - 60) / -15
    egfr_ge = (max(v["egfr"], 60) - 90) / -15
    dm, smk = float(v["diabetes"]), float(v["smoker"])
    trt, statin = float(v["bp_treated"]), float(v["statin"])
    hba1c, uacr, sdi = v.get("hba1c"), v.get("uacr"), v.get("sdi_decile")
    a1c = hba1c - HBA1C_CENTRE if hba1c is not None else 0.0
    return {"age": age, "age_sq": age * age, "non_hdl": non_hdl, "hdl": hdl,
            "sbp_lt_110": sbp_lt, "sbp_ge_110": sbp_ge, "diabetes": dm, "smoker": smk,
            "bmi_lt_30": bmi_lt, "bmi_ge_30": bmi_ge, "egfr_lt_60": egfr_lt,
            "egfr_ge_60": egfr_ge, "bp_treated": trt, "statin": statin,
            "treated_sbp_ge_110": trt * sbp_ge, "statin_non_hdl": statin * non_hdl,
            "age_non_hdl": age * non_hdl, "age_hdl": age * hdl, "age_sbp_ge_110": age * sbp_ge,
            "age_diabetes": age * dm, "age_smoker": age * smk, "age_bmi_ge_30": age * bmi_ge,
            "age_egfr_lt_60": age * egfr_lt,
            "sdi_4_6": float(sdi is not None and 4 <= sdi <= 6),
            "sdi_7_10": float(sdi is not None and sdi >= 7),
            "sdi_missing": float(sdi is None),
            "ln_uacr": math.log(max(uacr, UACR_FLOOR)) if uacr is not None else 0.0,
            "uacr_missing": float(uacr is None),
            "hba1c_dm": a1c * dm, "hba1c_no_dm": a1c * (1 - dm),
            "hba1c_missing": float(hba1c is None),
            "constant": 1.0}


def coefficients(model: str, horizon: int, outcome: str, sex: str) -> dict[str, float]:
    """One equation's coefficients by term (Table S12A-J)."""
    col = column(outcome, sex)
    return {name: row[col] for name, row in TABLES[(model, horizon)][1].items()}


def linear_predictor(v: Mapping[str, Any], outcome: str, horizon: int,
                     model: str | None = None) -> float:
    """x of ``outcome`` at ``horizon`` years; ``model`` defaults to the selection rule."""
    t = terms(v)
    coef = coefficients(model or select_model(v), horizon, outcome, v["sex"])
    return sum(c * t[name] for name, c in coef.items())


def risk(v: Mapping[str, Any], outcome: str, horizon: int, model: str | None = None) -> float:
    return logistic(linear_predictor(v, outcome, horizon, model))


def _optional_text(v: Mapping[str, Any]) -> str:
    parts = []
    for name, label in _OPTIONAL_NAMES.items():
        x = v.get(name)
        unit = {"hba1c": " %", "uacr": " mg/g"}.get(name, "")
        parts.append(f"{label} {x:g}{unit} used" if x is not None else f"{label} not given")
    return "; ".join(parts)


class Prevent(Equation):
    id = "prevent"
    name = "AHA PREVENT"
    version = "2023"
    inputs = PREVENT_INPUTS
    citations = (KHAN_2023,)
    limits = ("10- and 30-year risk of a first total CVD, ASCVD, heart-failure, coronary "
              "heart disease or stroke event for adults 30-79 without cardiovascular disease "
              "(30-year models: ages 30-59), derived in US cohorts and electronic health "
              "records with follow-up to the 2010s; race is not an input. HbA1c, UACR and the "
              "Social Deprivation Index decile are optional and choose the add-on model; the "
              "decile is for US ZIP code areas and has to be given, as hyperhealth cannot look "
              "it up. An association model: a change in an input shows the equation's "
              "arithmetic, not the effect a treatment would have.")

    def calculate(self, values: Mapping[str, Any], *, extrapolate: bool = False) -> RiskResult:
        res = super().calculate(values, extrapolate=extrapolate)
        choice = model_choice(res.inputs)
        tables = " and ".join(TABLES[(choice.id, h)][0] for h in (10, 30))
        return replace(res, method=f"{res.method}, {choice.label} (Khan 2023 Supplemental "
                       f"Tables {tables})", model=choice)

    def _compute(self, v: Mapping[str, Any]) -> tuple[list[Estimate], list[str]]:
        sdi = v.get("sdi_decile")
        if sdi is not None and sdi != int(sdi):
            raise InputError(f"sdi_decile must be a whole decile, not {sdi:g}", where=self.id,
                             field="sdi_decile", hint="give the decile, 1 to 10")
        model = select_model(v)
        warnings = [f"PREVENT {MODELS[model]}: {_optional_text(v)}"]
        old = v["age"] > THIRTY_YEAR_AGE_MAX
        if old:
            warnings.append(f"30-year estimates are outside the ages they were developed for "
                            f"(30-{THIRTY_YEAR_AGE_MAX}); read them with caution")
        out = []
        for horizon in (10, 30):
            for outcome, what in OUTCOMES.items():
                note = "extrapolated: age above 59" if horizon == 30 and old else ""
                out.append(Estimate(outcome, f"{horizon}-year risk of {what}",
                                    risk(v, outcome, horizon, model), "proportion", horizon,
                                    note=note))
        return out, warnings


PREVENT = Prevent()
