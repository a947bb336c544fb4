"""Pooled Cohort Equations, 2013 (Goff et al.): 10-year risk of a first hard ASCVD event.

Coefficients, baseline survival and mean values are Table A of the 2013 ACC/AHA Guideline on the
Assessment of Cardiovascular Risk (Goff DC Jr et al., Circulation 2014;129(25 Suppl 2):S49-S73,
doi:10.1161/01.cir.0000437741.48606.98, PMID 24222018), sex- and race-specific (white,
African American). risk = 1 - S10 ^ exp(sum - mean). The guideline advises the white equations
for other groups, which may over- or under-estimate their risk; results say so.

>>> r = PCE.calculate({"age": 55, "sex": "male", "race": "white", "total_c": 213,
...                    "hdl_c": 50, "sbp": 120, "bp_treated": False, "smoker": False,
...                    "diabetes": False})
>>> r.estimates[0].display
'5.4 %'
"""

from __future__ import annotations

import math
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
    sbp_input,
)

GOFF_2013 = Citation("Goff DC Jr et al. 2013 ACC/AHA Guideline on the Assessment of "
                     "Cardiovascular Risk. Circulation 2014;129(25 Suppl 2):S49-S73, Table A",
                     doi="10.1161/01.cir.0000437741.48606.98", pmid="24222018")

_RANGE_SOURCE = ("age 40-79 y: Goff 2013 (the population the equations were derived in); "
                 "total cholesterol 130-320 mg/dL, HDL 20-100 mg/dL, SBP 90-200 mmHg: the input "
                 "limits of the ACC/AHA Pooled Cohort risk estimator")

#: term order of the coefficient rows below
_TERMS = ("ln_age", "ln_age_sq", "ln_tc", "ln_age_ln_tc", "ln_hdl", "ln_age_ln_hdl",
          "ln_treated_sbp", "ln_age_ln_treated_sbp", "ln_untreated_sbp",
          "ln_age_ln_untreated_sbp", "smoker", "ln_age_smoker", "diabetes")

# (coefficients in _TERMS order, mean of sum, baseline survival at 10 years); Goff 2013 Table A.
# Table A prints the means to 2 decimals (-29.18, 86.61, 61.18, 19.54); the 4-decimal means here
# are those of the work group's downloadable risk-estimator spreadsheet released with the
# guideline, which other implementations use too. The two differ by < 0.001 in risk.
_GROUPS: dict[tuple[str, str], tuple[tuple[float, ...], float, float]] = {
    ("female", "white"): ((-29.799, 4.884, 13.540, -3.114, -13.578, 3.149, 2.019, 0.0, 1.957,
                           0.0, 7.574, -1.665, 0.661), -29.1817, 0.9665),
    ("female", "african_american"): ((17.114, 0.0, 0.940, 0.0, -18.920, 4.475, 29.291, -6.432,
                                      27.820, -6.087, 0.691, 0.0, 0.874), 86.6081, 0.9533),
    ("male", "white"): ((12.344, 0.0, 11.853, -2.664, -7.990, 1.769, 1.797, 0.0, 1.764, 0.0,
                         7.837, -1.795, 0.658), 61.1816, 0.9144),
    ("male", "african_american"): ((2.469, 0.0, 0.302, 0.0, -0.307, 0.0, 1.916, 0.0, 1.809,
                                    0.0, 0.549, 0.0, 0.645), 19.5425, 0.8954),
}

RACE_INPUT = InputSpec("race", "choice", "race group of the equations (white, african_american;"
                       " other uses the white equations)",
                       choices=("white", "african_american", "other"))

PCE_INPUTS: tuple[InputSpec, ...] = (
    age_input((40, 79), _RANGE_SOURCE),
    SEX_INPUT,
    RACE_INPUT,
    cholesterol_input("total_c", "total cholesterol", (130, 320), _RANGE_SOURCE),
    cholesterol_input("hdl_c", "HDL cholesterol", (20, 100), _RANGE_SOURCE),
    sbp_input((90, 200), _RANGE_SOURCE),
    flag_input("bp_treated", "whether the person takes blood-pressure medication"),
    flag_input("smoker", "whether the person currently smokes"),
    flag_input("diabetes", "whether the person has diabetes"),
)

OTHER_RACE_NOTE = ("race 'other': the white equations were used, as the guideline advises; they "
                   "may over- or under-estimate risk in other groups")


def individual_sum(v: Mapping[str, Any], race_group: str) -> float:
    """The sum of coefficient x value for one person (Goff 2013 Table A, 'individual sum')."""
    coef, _, _ = _GROUPS[(v["sex"], race_group)]
    ln_age = math.log(v["age"])
    ln_tc, ln_hdl, ln_sbp = math.log(v["total_c"]), math.log(v["hdl_c"]), math.log(v["sbp"])
    treated = 1.0 if v["bp_treated"] else 0.0
    smoker = 1.0 if v["smoker"] else 0.0
    x = (ln_age, ln_age * ln_age, ln_tc, ln_age * ln_tc, ln_hdl, ln_age * ln_hdl,
         treated * ln_sbp, treated * ln_age * ln_sbp, (1 - treated) * ln_sbp,
         (1 - treated) * ln_age * ln_sbp, smoker, ln_age * smoker,
         1.0 if v["diabetes"] else 0.0)
    return math.fsum(c * t for c, t in zip(coef, x, strict=True))


class PooledCohort2013(Equation):
    id = "pce"
    name = "Pooled Cohort Equations (2013)"
    version = "2013"
    inputs = PCE_INPUTS
    citations = (GOFF_2013,)
    limits = ("10-year risk of a first hard ASCVD event (non-fatal MI, CHD death, fatal or "
              "non-fatal stroke) for adults 40-79 without cardiovascular disease, derived in US "
              "cohorts from the 1960s-1990s; known to overestimate risk in many contemporary "
              "populations (see the revised PCE and PREVENT). Not for people with established "
              "ASCVD or LDL-C >= 190 mg/dL. An association model: a change in an input shows "
              "the equation's arithmetic, not the effect a treatment would have.")

    def _compute(self, v: Mapping[str, Any]) -> tuple[list[Estimate], list[str]]:
        warnings = []
        race_group = "african_american" if v["race"] == "african_american" else "white"
        if v["race"] == "other":
            warnings.append(OTHER_RACE_NOTE)
        _, mean, s10 = _GROUPS[(v["sex"], race_group)]
        risk = 1.0 - s10 ** math.exp(individual_sum(v, race_group) - mean)
        return [Estimate("ascvd", "10-year risk of a first hard ASCVD event", risk,
                         "proportion", 10, category=ascvd_category(risk))], warnings


def ascvd_category(risk: float) -> str:
    """The 2018 ACC/AHA cholesterol guideline's 10-year ASCVD risk bands (for PCE estimates).

    Grundy SM et al. 2018 AHA/ACC Guideline on the Management of Blood Cholesterol,
    Circulation 2019;139:e1082-e1143 (doi:10.1161/CIR.0000000000000625): low < 5 %,
    borderline 5 to < 7.5 %, intermediate 7.5 to < 20 %, high >= 20 %.

    >>> ascvd_category(0.06)
    'borderline (5 to <7.5 %)'
    """
    if risk < 0.05:
        return "low (<5 %)"
    if risk < 0.075:
        return "borderline (5 to <7.5 %)"
    if risk < 0.20:
        return "intermediate (7.5 to <20 %)"
    return "high (>=20 %)"


PCE = PooledCohort2013()
