"""CKD-EPI 2021 race-free eGFR from creatinine, and from creatinine with cystatin C.

Inker LA et al. New Creatinine- and Cystatin C-Based Equations to Estimate GFR without Race.
N Engl J Med 2021;385:1737-1749 (doi:10.1056/NEJMoa2102953, PMID 34554658):

- creatinine: 142 x min(Scr/k, 1)^a x max(Scr/k, 1)^-1.200 x 0.9938^age x 1.012 [female],
  k = 0.7 (female) / 0.9 (male), a = -0.241 (female) / -0.302 (male);
- creatinine-cystatin C: 135 x min(Scr/k, 1)^a x max(Scr/k, 1)^-0.544 x min(Scys/0.8, 1)^-0.323
  x max(Scys/0.8, 1)^-0.778 x 0.9961^age x 0.963 [female], a = -0.219 (female) / -0.144 (male).

Scr in mg/dL (umol/L accepted: / 88.4), Scys in mg/L, result in mL/min/1.73 m2, adults (>= 18 y).

>>> round(CKD_EPI_CR.calculate({"age": 55, "sex": "male", "creatinine": 1.2})
...       .estimates[0].value, 2)
71.42
>>> round(CKD_EPI_CR_CYS.calculate({"age": 60, "sex": "male", "creatinine": 1.4,
...                                 "cystatin_c": 0.8}).estimates[0].value, 2)
83.97
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hyperhealth.insights.risk._base import (
    CREATININE_UMOL_PER_MG_DL,
    SEX_INPUT,
    Citation,
    Equation,
    Estimate,
    InputSpec,
    age_input,
)

INKER_2021 = Citation("Inker LA et al. New creatinine- and cystatin C-based equations to "
                      "estimate GFR without race. N Engl J Med 2021;385:1737-1749",
                      doi="10.1056/NEJMoa2102953", pmid="34554658")

_SRC = "Inker 2021: developed and validated in adults (18 years and older)"

# Hard limits only (a creatinine of 0 or 40 mg/dL is not a measurement); the publication gives
# no other input range.
CREATININE_INPUT = InputSpec("creatinine", "number", "serum creatinine (IDMS-traceable)",
                             unit="mg/dL", hard=(0.05, 40),
                             alt_units={"umol/L": 1 / CREATININE_UMOL_PER_MG_DL})
CYSTATIN_INPUT = InputSpec("cystatin_c", "number", "serum cystatin C (IFCC-standardised)",
                           unit="mg/L", hard=(0.05, 20))

#: KDIGO 2012 GFR categories (KDIGO 2012 Clinical Practice Guideline for the Evaluation and
#: Management of CKD, Kidney Int Suppl 2013;3:1-150, doi:10.1038/kisup.2012.73)
_KDIGO = ((90, "G1 (normal or high, >= 90)"), (60, "G2 (mildly decreased, 60-89)"),
          (45, "G3a (mildly to moderately decreased, 45-59)"),
          (30, "G3b (moderately to severely decreased, 30-44)"),
          (15, "G4 (severely decreased, 15-29)"), (0, "G5 (kidney failure, < 15)"))

_LIMITS = ("Estimates GFR for adults from a single measurement; not valid when creatinine is "
           "not at steady state (acute kidney injury), at extremes of muscle mass or diet, or "
           "in pregnancy. A GFR category alone does not diagnose chronic kidney disease: that "
           "needs a reduced GFR or kidney damage for more than 3 months (KDIGO 2012).")

KDIGO_2012 = Citation("KDIGO 2012 Clinical Practice Guideline for the Evaluation and "
                      "Management of Chronic Kidney Disease. Kidney Int Suppl 2013;3:1-150 "
                      "(GFR categories)", doi="10.1038/kisup.2012.73")


def gfr_category(egfr: float) -> str:
    """KDIGO 2012 GFR category.

    >>> gfr_category(57.5)
    'G3a (mildly to moderately decreased, 45-59)'
    """
    for lower, label in _KDIGO:
        if egfr >= lower:
            return label
    return _KDIGO[-1][1]


def egfr_creatinine(age: float, female: bool, scr: float) -> float:
    k, a = (0.7, -0.241) if female else (0.9, -0.302)
    r = scr / k
    return (142 * min(r, 1.0) ** a * max(r, 1.0) ** -1.200 * 0.9938 ** age
            * (1.012 if female else 1.0))


def egfr_creatinine_cystatin(age: float, female: bool, scr: float, scys: float) -> float:
    k, a = (0.7, -0.219) if female else (0.9, -0.144)
    r, c = scr / k, scys / 0.8
    return (135 * min(r, 1.0) ** a * max(r, 1.0) ** -0.544 * min(c, 1.0) ** -0.323
            * max(c, 1.0) ** -0.778 * 0.9961 ** age * (0.963 if female else 1.0))


class CkdEpiCreatinine2021(Equation):
    id = "ckd_epi_2021_cr"
    name = "CKD-EPI 2021 eGFR (creatinine, race-free)"
    version = "2021"
    inputs = (age_input((18, 130), _SRC), SEX_INPUT, CREATININE_INPUT)
    citations = (INKER_2021, KDIGO_2012)
    limits = _LIMITS

    def _compute(self, v: Mapping[str, Any]) -> tuple[list[Estimate], list[str]]:
        e = egfr_creatinine(v["age"], v["sex"] == "female", v["creatinine"])
        return [Estimate("egfr", "estimated glomerular filtration rate", e,
                         "mL/min/1.73m2", category=gfr_category(e))], []


class CkdEpiCreatinineCystatin2021(Equation):
    id = "ckd_epi_2021_cr_cys"
    name = "CKD-EPI 2021 eGFR (creatinine and cystatin C, race-free)"
    version = "2021"
    inputs = (age_input((18, 130), _SRC), SEX_INPUT, CREATININE_INPUT, CYSTATIN_INPUT)
    citations = (INKER_2021, KDIGO_2012)
    limits = _LIMITS

    def _compute(self, v: Mapping[str, Any]) -> tuple[list[Estimate], list[str]]:
        e = egfr_creatinine_cystatin(v["age"], v["sex"] == "female", v["creatinine"],
                                     v["cystatin_c"])
        return [Estimate("egfr", "estimated glomerular filtration rate", e,
                         "mL/min/1.73m2", category=gfr_category(e))], []


CKD_EPI_CR = CkdEpiCreatinine2021()
CKD_EPI_CR_CYS = CkdEpiCreatinineCystatin2021()
