"""Revised Pooled Cohort Equations (Yadlowsky et al. 2018): 10-year ASCVD risk.

Re-derived in more contemporary cohorts with logistic models, sex-specific, with Black race as
a term and its interactions (Yadlowsky S et al. Clinical Implications of Revised Pooled Cohort
Equations for Estimating Atherosclerotic Cardiovascular Disease Risk. Ann Intern Med
2018;169(1):20-29, doi:10.7326/M17-3011, PMID 29868850; coefficients from its appendix).
risk = 1 / (1 + exp(-x)). People who are not Black use black = 0.

>>> r = PCE_REVISED.calculate({"age": 59, "sex": "male", "race": "white", "total_c": 200,
...                            "hdl_c": 45, "sbp": 160, "bp_treated": True, "smoker": False,
...                            "diabetes": True})
>>> round(r.estimates[0].value, 3)
0.182
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hyperhealth.insights.risk._base import Citation, Equation, Estimate, logistic
from hyperhealth.insights.risk._pce import PCE_INPUTS, ascvd_category

YADLOWSKY_2018 = Citation("Yadlowsky S et al. Clinical implications of revised pooled cohort "
                          "equations for estimating atherosclerotic cardiovascular disease risk. "
                          "Ann Intern Med 2018;169(1):20-29, appendix", doi="10.7326/M17-3011",
                          pmid="29868850")

# name -> (female, male); Yadlowsky 2018 appendix
_COEF: dict[str, tuple[float, float]] = {
    "intercept": (-12.823110, -11.679980),
    "age": (0.106501, 0.064200),
    "black": (0.432440, 0.482835),
    "sbp_sq": (0.000056, -0.000061),
    "sbp": (0.017666, 0.038950),
    "bp_treated": (0.731678, 2.055533),
    "diabetes": (0.943970, 0.842209),
    "smoker": (1.009790, 0.895589),
    "tc_hdl": (0.151318, 0.193307),
    "age_black": (-0.008580, 0.0),
    "sbp_treated": (-0.003647, -0.014207),
    "sbp_black": (0.006208, 0.011609),
    "black_treated": (0.152968, -0.119460),
    "age_sbp": (-0.000153, 0.000025),
    "black_diabetes": (0.115232, -0.077214),
    "black_smoker": (-0.092231, -0.226771),
    "black_tc_hdl": (0.070498, -0.117749),
    "black_sbp_treated": (-0.000173, 0.004190),
    "age_sbp_black": (-0.000094, -0.000199),
}


def linear_predictor(v: Mapping[str, Any]) -> float:
    i = 0 if v["sex"] == "female" else 1
    b = 1.0 if v["race"] == "african_american" else 0.0
    age, sbp = float(v["age"]), float(v["sbp"])
    trt = 1.0 if v["bp_treated"] else 0.0
    dm = 1.0 if v["diabetes"] else 0.0
    smk = 1.0 if v["smoker"] else 0.0
    ratio = v["total_c"] / v["hdl_c"]
    x = {"intercept": 1.0, "age": age, "black": b, "sbp_sq": sbp * sbp, "sbp": sbp,
         "bp_treated": trt, "diabetes": dm, "smoker": smk, "tc_hdl": ratio,
         "age_black": age * b, "sbp_treated": sbp * trt, "sbp_black": sbp * b,
         "black_treated": b * trt, "age_sbp": age * sbp, "black_diabetes": b * dm,
         "black_smoker": b * smk, "black_tc_hdl": b * ratio, "black_sbp_treated": b * sbp * trt,
         "age_sbp_black": age * sbp * b}
    return sum(_COEF[k][i] * x[k] for k in _COEF)


class PooledCohortRevised(Equation):
    id = "pce_revised"
    name = "Revised Pooled Cohort Equations (Yadlowsky 2018)"
    version = "2018"
    inputs = PCE_INPUTS
    citations = (YADLOWSKY_2018,)
    limits = ("10-year risk of a first ASCVD event for adults 40-79 without cardiovascular "
              "disease, re-estimated in cohorts followed into the 2010s; race terms cover Black "
              "and non-Black people only. An association model: a change in an input shows the "
              "equation's arithmetic, not the effect a treatment would have.")

    def _compute(self, v: Mapping[str, Any]) -> tuple[list[Estimate], list[str]]:
        warnings = []
        if v["race"] == "other":
            warnings.append("race 'other' is treated as not Black (the equations have no other "
                            "race terms)")
        risk = logistic(linear_predictor(v))
        return [Estimate("ascvd", "10-year risk of a first ASCVD event", risk, "proportion",
                         10, category=ascvd_category(risk))], warnings


PCE_REVISED = PooledCohortRevised()
