"""AHA PREVENT base model (Khan et al. 2023): 10- and 30-year total CVD, ASCVD and heart failure.

Sex-specific logistic models without race (Khan SS et al. Development and Validation of the
American Heart Association's PREVENT Equations. Circulation 2024;149(6):430-449, published
online 10 Nov 2023, doi:10.1161/CIRCULATIONAHA.123.067626, PMID 37947085). Coefficients are the
base model of its Supplemental Table S12 (10-year and 30-year sheets); the predictors are
centred and scaled as in the supplement's worked example: age per 10 y from 55, non-HDL-C per
1 mmol/L from 3.5, HDL-C per 0.3 mmol/L from 1.3, SBP per 20 mmHg with a knot at 110, BMI per
5 kg/m2 with a knot at 30 (heart failure only), eGFR per -15 mL/min/1.73 m2 with a knot at 60.
Cholesterol is converted with 0.02586 mmol/L per mg/dL as in the supplement.
risk = 1 / (1 + exp(-x)).

The 30-year models were developed for ages 30-59: results for older people are flagged.

>>> r = PREVENT.calculate({"age": 50, "sex": "female", "sbp": 160, "bp_treated": True,
...     "total_c": 200, "hdl_c": 45, "statin": False, "diabetes": True, "smoker": False,
...     "egfr": 90, "bmi": 35})
>>> round(r.estimate("total_cvd", 10).value, 3)
0.147
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hyperhealth.insights.risk._base import (
    SEX_INPUT,
    Citation,
    Equation,
    Estimate,
    InputSpec,
    age_input,
    cholesterol_input,
    flag_input,
    logistic,
    sbp_input,
)

KHAN_2023 = Citation("Khan SS et al. Development and validation of the American Heart "
                     "Association's PREVENT equations. Circulation 2024;149(6):430-449, "
                     "Supplemental Table S12 (base model)",
                     doi="10.1161/CIRCULATIONAHA.123.067626", pmid="37947085")

_SRC = ("Khan 2023: the ranges of the derivation sample and of the published PREVENT "
        "calculator (age 30-79, TC 130-320 mg/dL, HDL-C 20-100 mg/dL, SBP 90-200 mmHg, "
        "BMI 18.5-39.9 kg/m2, eGFR 15-140)")

#: mmol/L of cholesterol per mg/dL, as used in the PREVENT supplement
MMOL_PER_MG_DL = 0.02586

TERMS = ("age", "age_sq", "non_hdl", "hdl", "sbp_lt_110", "sbp_ge_110", "diabetes", "smoker",
         "bmi_lt_30", "bmi_ge_30", "egfr_lt_60", "egfr_ge_60", "bp_treated", "statin",
         "treated_sbp_ge_110", "statin_non_hdl", "age_non_hdl", "age_hdl", "age_sbp_ge_110",
         "age_diabetes", "age_smoker", "age_bmi_ge_30", "age_egfr_lt_60", "constant")

# (horizon, outcome, sex) -> coefficients in TERMS order (0 where the model has no such term)
_C: dict[tuple[int, str, str], tuple[float, ...]] = {
    # -- 10 years ------------------------------------------------------------------------------
    (10, "total_cvd", "female"): (
        0.7939329, 0.0, 0.0305239, -0.1606857, -0.2394003, 0.3600781, 0.8667604, 0.5360739,
        0.0, 0.0, 0.6045917, 0.0433769, 0.3151672, -0.1477655, -0.0663612, 0.1197879,
        -0.0819715, 0.0306769, -0.0946348, -0.27057, -0.078715, 0.0, -0.1637806, -3.307728),
    (10, "total_cvd", "male"): (
        0.7688528, 0.0, 0.0736174, -0.0954431, -0.4347345, 0.3362658, 0.7692857, 0.4386871,
        0.0, 0.0, 0.5378979, 0.0164827, 0.288879, -0.1337349, -0.0475924, 0.150273,
        -0.0517874, 0.0191169, -0.1049477, -0.2251948, -0.0895067, 0.0, -0.1543702, -3.031168),
    (10, "ascvd", "female"): (
        0.719883, 0.0, 0.1176967, -0.151185, -0.0835358, 0.3592852, 0.8348585, 0.4831078,
        0.0, 0.0, 0.4864619, 0.0397779, 0.2265309, -0.0592374, -0.0395762, 0.0844423,
        -0.0567839, 0.0325692, -0.1035985, -0.2417542, -0.0791142, 0.0, -0.1671492, -3.819975),
    (10, "ascvd", "male"): (
        0.7099847, 0.0, 0.1658663, -0.1144285, -0.2837212, 0.3239977, 0.7189597, 0.3956973,
        0.0, 0.0, 0.3690075, 0.0203619, 0.2036522, -0.0865581, -0.0322916, 0.114563,
        -0.0300005, 0.0232747, -0.0927024, -0.2018525, -0.0970527, 0.0, -0.1217081, -3.500655),
    (10, "heart_failure", "female"): (
        0.8998235, 0.0, 0.0, 0.0, -0.4559771, 0.3576505, 1.038346, 0.583916,
        -0.0072294, 0.2997706, 0.7451638, 0.0557087, 0.3534442, 0.0, -0.0981511, 0.0,
        0.0, 0.0, -0.0946663, -0.3581041, -0.1159453, -0.003878, -0.1884289, -4.310409),
    (10, "heart_failure", "male"): (
        0.8972642, 0.0, 0.0, 0.0, -0.6811466, 0.3634461, 0.923776, 0.5023736,
        -0.0485841, 0.3726929, 0.6926917, 0.0251827, 0.2980922, 0.0, -0.0497731, 0.0,
        0.0, 0.0, -0.1289201, -0.3040924, -0.1401688, 0.0068126, -0.1797778, -3.946391),
    # -- 30 years ------------------------------------------------------------------------------
    (30, "total_cvd", "female"): (
        0.5503079, -0.0928369, 0.0409794, -0.1663306, -0.1628654, 0.3299505, 0.6793894,
        0.3196112, 0.0, 0.0, 0.1857101, 0.0553528, 0.2894, -0.075688, -0.056367, 0.1071019,
        -0.0751438, 0.0301786, -0.0998776, -0.3206166, -0.1607862, 0.0, -0.1450788, -1.318827),
    (30, "total_cvd", "male"): (
        0.4627309, -0.0984281, 0.0836088, -0.1029824, -0.2140352, 0.2904325, 0.5331276,
        0.2141914, 0.0, 0.0, 0.1155556, 0.0603775, 0.232714, -0.0272112, -0.0384488, 0.134192,
        -0.0511759, 0.0165865, -0.1101437, -0.2585943, -0.1566406, 0.0, -0.1166776, -1.148204),
    (30, "ascvd", "female"): (
        0.4669202, -0.0893118, 0.1256901, -0.1542255, -0.0018093, 0.322949, 0.6296707,
        0.268292, 0.0, 0.0, 0.100106, 0.0499663, 0.1875292, 0.0152476, -0.0276123, 0.0736147,
        -0.0521962, 0.0316918, -0.1046101, -0.2727793, -0.1530907, 0.0, -0.1299149, -1.974074),
    (30, "ascvd", "male"): (
        0.3994099, -0.0937484, 0.1744643, -0.120203, -0.0665117, 0.2753037, 0.4790257,
        0.1782635, 0.0, 0.0, -0.0218789, 0.0602553, 0.1421182, 0.0135996, -0.0218265, 0.1013148,
        -0.0312619, 0.020673, -0.0920935, -0.2159947, -0.1548811, 0.0, -0.0712547, -1.736444),
    (30, "heart_failure", "female"): (
        0.6254374, -0.0983038, 0.0, 0.0, -0.3919241, 0.3142295, 0.8330787, 0.3438651,
        0.0594874, 0.2525536, 0.2981642, 0.0667159, 0.333921, 0.0, -0.0893177, 0.0,
        0.0, 0.0, -0.0974299, -0.404855, -0.1982991, -0.0035619, -0.1564215, -2.205379),
    (30, "heart_failure", "male"): (
        0.5681541, -0.1048388, 0.0, 0.0, -0.4761564, 0.30324, 0.6840338, 0.2656273,
        0.0833107, 0.26999, 0.2541805, 0.0638923, 0.2583631, 0.0, -0.0391938, 0.0,
        0.0, 0.0, -0.1269124, -0.3273572, -0.2043019, -0.0182831, -0.1342618, -1.95751),
}

OUTCOMES = {"total_cvd": "total cardiovascular disease (ASCVD or heart failure)",
            "ascvd": "atherosclerotic cardiovascular disease (MI, stroke, CHD death)",
            "heart_failure": "heart failure"}

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
)

THIRTY_YEAR_AGE_MAX = 59


def terms(v: Mapping[str, Any]) -> dict[str, float]:
    """The centred, scaled predictors of the base model (Khan 2023 supplement)."""
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
    return {"age": age, "age_sq": age * age, "non_hdl": non_hdl, "hdl": hdl,
            "sbp_lt_110": sbp_lt, "sbp_ge_110": sbp_ge, "diabetes": dm, "smoker": smk,
            "bmi_lt_30": bmi_lt, "bmi_ge_30": bmi_ge, "egfr_lt_60": egfr_lt,
            "egfr_ge_60": egfr_ge, "bp_treated": trt, "statin": statin,
            "treated_sbp_ge_110": trt * sbp_ge, "statin_non_hdl": statin * non_hdl,
            "age_non_hdl": age * non_hdl, "age_hdl": age * hdl, "age_sbp_ge_110": age * sbp_ge,
            "age_diabetes": age * dm, "age_smoker": age * smk, "age_bmi_ge_30": age * bmi_ge,
            "age_egfr_lt_60": age * egfr_lt, "constant": 1.0}


def risk(v: Mapping[str, Any], outcome: str, horizon: int) -> float:
    t = terms(v)
    coef = _C[(horizon, outcome, v["sex"])]
    return logistic(sum(c * t[name] for c, name in zip(coef, TERMS, strict=True)))


class PreventBase(Equation):
    id = "prevent"
    name = "AHA PREVENT, base model"
    version = "2023"
    inputs = PREVENT_INPUTS
    citations = (KHAN_2023,)
    limits = ("10- and 30-year risk of a first total CVD, ASCVD or heart-failure event for "
              "adults 30-79 without cardiovascular disease (30-year models: ages 30-59), "
              "derived in US cohorts and electronic health records with follow-up to 2010s; "
              "race is not an input. Base model: no HbA1c, UACR or social deprivation terms. An "
              "association model: a change in an input shows the equation's arithmetic, not "
              "the effect a treatment would have.")

    def _compute(self, v: Mapping[str, Any]) -> tuple[list[Estimate], list[str]]:
        warnings = []
        old = v["age"] > THIRTY_YEAR_AGE_MAX
        if old:
            warnings.append(f"30-year estimates are outside the ages they were developed for "
                            f"(30-{THIRTY_YEAR_AGE_MAX}); read them with caution")
        out = []
        for horizon in (10, 30):
            for outcome, what in OUTCOMES.items():
                note = "extrapolated: age above 59" if horizon == 30 and old else ""
                out.append(Estimate(outcome, f"{horizon}-year risk of {what}",
                                    risk(v, outcome, horizon), "proportion", horizon,
                                    note=note))
        return out, warnings


PREVENT = PreventBase()
