"""CHA2DS2-VASc: stroke risk points for people with atrial fibrillation (Lip et al. 2010).

Lip GYH, Nieuwlaat R, Pisters R, Lane DA, Crijns HJGM. Refining clinical risk stratification for
predicting stroke and thromboembolism in atrial fibrillation using a novel risk factor-based
approach: the Euro Heart Survey on atrial fibrillation. Chest 2010;137(2):263-272
(doi:10.1378/chest.09-1584, PMID 19762550). Points: congestive heart failure or LV dysfunction
1, hypertension 1, age >= 75 2, diabetes 1, prior stroke/TIA/thromboembolism 2, vascular disease
(prior MI, peripheral artery disease, aortic plaque) 1, age 65-74 1, female sex 1 (0-9).

>>> r = CHA2DS2_VASC.calculate({"age": 72, "sex": "female", "heart_failure": False,
...     "hypertension": True, "diabetes": False, "stroke_tia": False,
...     "vascular_disease": False})
>>> r.estimates[0].value
3.0
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hyperhealth.insights.risk._base import (
    SEX_INPUT,
    Citation,
    Equation,
    Estimate,
    age_input,
    flag_input,
)

LIP_2010 = Citation("Lip GYH et al. Refining clinical risk stratification for predicting "
                    "stroke and thromboembolism in atrial fibrillation using a novel risk "
                    "factor-based approach: the Euro Heart Survey on atrial fibrillation. Chest "
                    "2010;137(2):263-272", doi="10.1378/chest.09-1584", pmid="19762550")


def points(v: Mapping[str, Any]) -> dict[str, int]:
    age = v["age"]
    return {
        "heart_failure": 1 if v["heart_failure"] else 0,
        "hypertension": 1 if v["hypertension"] else 0,
        "age": 2 if age >= 75 else 1 if age >= 65 else 0,
        "diabetes": 1 if v["diabetes"] else 0,
        "stroke_tia": 2 if v["stroke_tia"] else 0,
        "vascular_disease": 1 if v["vascular_disease"] else 0,
        "sex": 1 if v["sex"] == "female" else 0,
    }


class Cha2ds2Vasc(Equation):
    id = "cha2ds2_vasc"
    name = "CHA2DS2-VASc"
    version = "2010"
    inputs = (
        age_input((18, 130), "Lip 2010: adults with atrial fibrillation"),
        SEX_INPUT,
        flag_input("heart_failure", "congestive heart failure or left-ventricular dysfunction"),
        flag_input("hypertension", "hypertension"),
        flag_input("diabetes", "diabetes"),
        flag_input("stroke_tia", "prior stroke, TIA or thromboembolism"),
        flag_input("vascular_disease", "prior myocardial infarction, peripheral artery disease "
                   "or aortic plaque"),
    )
    citations = (LIP_2010,)
    limits = ("A points score for stroke and thromboembolism risk in people with atrial "
              "fibrillation (not valvular AF); meaningful only when AF is present. It ranks "
              "risk; the decision about anticoagulation also weighs bleeding risk and belongs "
              "to the person and their clinician.")

    def _compute(self, v: Mapping[str, Any]) -> tuple[list[Estimate], list[str]]:
        p = points(v)
        total = float(sum(p.values()))
        note = "points per item: " + ", ".join(f"{k} {n}" for k, n in p.items())
        return [Estimate("stroke_in_af", "CHA2DS2-VASc stroke-risk points", total, "points",
                         note=note)], []


CHA2DS2_VASC = Cha2ds2Vasc()
