"""FINDRISC, the Finnish Diabetes Risk Score: points for the 10-year risk of type 2 diabetes.

Lindström J, Tuomilehto J. The Diabetes Risk Score: a practical tool to predict type 2 diabetes
risk. Diabetes Care 2003;26(3):725-731 (doi:10.2337/diacare.26.3.725, PMID 12610029) derived
the score (age, BMI, waist, physical activity, daily vegetables/fruit/berries, antihypertensive
drugs, history of high blood glucose; 0-20 points). The published questionnaire by the same
authors (Finnish Diabetes Association "Type 2 diabetes risk assessment form") adds family
history of diabetes (0-26 points) and gives the 10-year risk bands used here:
< 7 low (about 1 in 100), 7-11 slightly elevated (1 in 25), 12-14 moderate (1 in 6),
15-20 high (1 in 3), > 20 very high (1 in 2). Points per item are those of the form.

Family history is often unknown; without it the score is a lower bound and the result gives the
range it could reach.

>>> r = FINDRISC.calculate({"age": 58, "sex": "male", "bmi": 27, "waist_cm": 98,
...     "daily_activity_30min": False, "daily_vegetables": False,
...     "antihypertensive_ever": True, "high_glucose_ever": False, "family_history": "none"})
>>> r.estimates[0].value, r.estimates[0].category
(12.0, 'moderate (12-14 points: about 1 in 6)')
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
    flag_input,
)

LINDSTROM_2003 = Citation("Lindström J, Tuomilehto J. The Diabetes Risk Score: a practical tool "
                          "to predict type 2 diabetes risk. Diabetes Care 2003;26(3):725-731; "
                          "with the authors' published risk assessment form (Finnish Diabetes "
                          "Association) for family history and the risk bands",
                          doi="10.2337/diacare.26.3.725", pmid="12610029")

FAMILY = ("none", "second_degree", "first_degree")  # second: grandparent, aunt, uncle, first
# cousin; first: parent, sibling, own child

FINDRISC_INPUTS: tuple[InputSpec, ...] = (
    age_input((18, 130), "the questionnaire is for adults; the score was derived at ages 35-64 "
              "(Lindström 2003)"),
    SEX_INPUT,
    InputSpec("bmi", "number", "body-mass index", unit="kg/m2", hard=(10, 90)),
    InputSpec("waist_cm", "number", "waist circumference measured below the ribs", unit="cm",
              hard=(30, 250)),
    flag_input("daily_activity_30min", "usually at least 30 minutes of physical activity a "
               "day (work or leisure)"),
    flag_input("daily_vegetables", "eats vegetables, fruit or berries every day"),
    flag_input("antihypertensive_ever", "has ever taken blood-pressure medication regularly"),
    flag_input("high_glucose_ever", "has ever had high blood glucose found (check-up, illness, "
               "pregnancy)"),
    InputSpec("family_history", "choice", "diabetes in the family: none, second_degree "
              "(grandparent, aunt, uncle, first cousin) or first_degree (parent, sibling, "
              "child)", choices=FAMILY, required=False),
)

_BANDS = ((21, "very high (> 20 points: about 1 in 2)"), (15, "high (15-20 points: about 1 in 3)"),
          (12, "moderate (12-14 points: about 1 in 6)"),
          (7, "slightly elevated (7-11 points: about 1 in 25)"),
          (0, "low (< 7 points: about 1 in 100)"))


def band(points: float) -> str:
    for lower, label in _BANDS:
        if points >= lower:
            return label
    return _BANDS[-1][1]


def points(v: Mapping[str, Any]) -> dict[str, int]:
    """Points per item (the form's scoring)."""
    age, bmi, waist = v["age"], v["bmi"], v["waist_cm"]
    lo, hi = (94, 102) if v["sex"] == "male" else (80, 88)
    return {
        "age": 0 if age < 45 else 2 if age < 55 else 3 if age < 65 else 4,
        "bmi": 0 if bmi < 25 else 1 if bmi <= 30 else 3,
        "waist_cm": 0 if waist < lo else 3 if waist <= hi else 4,
        "daily_activity_30min": 0 if v["daily_activity_30min"] else 2,
        "daily_vegetables": 0 if v["daily_vegetables"] else 1,
        "antihypertensive_ever": 2 if v["antihypertensive_ever"] else 0,
        "high_glucose_ever": 5 if v["high_glucose_ever"] else 0,
        "family_history": {"none": 0, "second_degree": 3, "first_degree": 5,
                           None: 0}[v["family_history"]],
    }


class Findrisc(Equation):
    id = "findrisc"
    name = "FINDRISC (Finnish Diabetes Risk Score)"
    version = "2003"
    inputs = FINDRISC_INPUTS
    citations = (LINDSTROM_2003,)
    limits = ("A questionnaire score for the 10-year risk of (drug-treated) type 2 diabetes in "
              "adults without diabetes, derived in Finland; the risk bands are approximate "
              "and population-specific. Not for people who already have diabetes. Points move "
              "in steps: a small change may not change the score.")

    def _compute(self, v: Mapping[str, Any]) -> tuple[list[Estimate], list[str]]:
        p = points(v)
        total = float(sum(p.values()))
        warnings = []
        note = "points per item: " + ", ".join(f"{k} {n}" for k, n in p.items())
        if v["family_history"] is None:
            top = total + 5
            warnings.append(f"family history of diabetes not given: the score is at least "
                            f"{total:g} and at most {top:g} ({band(top)})")
            note += "; family history unknown (counted as 0)"
        return [Estimate("type2_diabetes", "FINDRISC score for the 10-year risk of type 2 "
                         "diabetes", total, "points", 10, category=band(total), note=note)], \
            warnings


FINDRISC = Findrisc()
