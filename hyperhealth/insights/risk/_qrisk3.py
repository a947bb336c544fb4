"""QRISK3-2017: 10-year risk of cardiovascular disease (Hippisley-Cox et al. 2017).

This module is distributed under the GNU Lesser General Public License v3 (or later), as the
QRISK3-2017 algorithm it implements is: Copyright 2017 ClinRisk Ltd., LGPL-3.0. Coefficients,
centring values and baseline survival are those of ClinRisk's open-source QRISK3-2017 release
(qrisk.org); the model is described in Hippisley-Cox J, Coupland C, Brindle P. Development and
validation of QRISK3 risk prediction algorithms to estimate future risk of cardiovascular
disease: prospective cohort study. BMJ 2017;357:j2099 (doi:10.1136/bmj.j2099, PMID 28536104).

ClinRisk's licence terms require its disclaimer to accompany every score (``DISCLAIMER``, quoted
verbatim and attached to each result).

>>> r = QRISK3.calculate({"age": 64, "sex": "female", "ethnicity": "indian",
...     "smoking": "non_smoker", "bmi": 25.2493372, "cholesterol_hdl_ratio": 4, "sbp": 180,
...     "sbp_sd": 20, "townsend": 0})
>>> r.estimates[0].display
'17.2 %'
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
    flag_input,
    sbp_input,
)

HIPPISLEY_COX_2017 = Citation(
    "Hippisley-Cox J, Coupland C, Brindle P. Development and validation of QRISK3 risk "
    "prediction algorithms to estimate future risk of cardiovascular disease: prospective "
    "cohort study. BMJ 2017;357:j2099; coefficients from ClinRisk's open-source QRISK3-2017 "
    "release (LGPL-3.0, qrisk.org)", doi="10.1136/bmj.j2099", pmid="28536104")

#: ClinRisk's disclaimer, which its licence terms require alongside every displayed score
DISCLAIMER = (
    "The initial version of this file, to be found at "
    "http://svn.clinrisk.co.uk/opensource/qrisk2, faithfully implements QRISK3-2017. "
    "ClinRisk Ltd. have released this code under the GNU Lesser General Public License to "
    "enable others to implement the algorithm faithfully. However, the nature of the GNU Lesser "
    "General Public License is such that we cannot prevent, for example, someone accidentally "
    "altering the coefficients, getting the inputs wrong, or just poor programming. ClinRisk "
    "Ltd. stress, therefore, that it is the responsibility of the end user to check that the "
    "source that they receive produces the same results as the original code found at "
    "https://qrisk.org. Inaccurate implementations of risk scores can lead to wrong patients "
    "being given the wrong treatment.")

ETHNICITIES = ("white_or_not_stated", "indian", "pakistani", "bangladeshi", "other_asian",
               "black_caribbean", "black_african", "chinese", "other")
SMOKING = ("non_smoker", "ex_smoker", "light", "moderate", "heavy")  # light <10/day,
# moderate 10-19/day, heavy >= 20/day

_SRC = "Hippisley-Cox 2017: derived in people aged 25-84"

# boolean predictors in the order of the coefficient rows below
_FLAGS = ("af", "atypical_antipsychotic", "corticosteroids", "erectile_dysfunction",
          "migraine", "rheumatoid_arthritis", "ckd_stage_3_5", "severe_mental_illness", "sle",
          "treated_hypertension", "diabetes_type1", "diabetes_type2", "family_history_chd")

QRISK3_INPUTS: tuple[InputSpec, ...] = (
    age_input((25, 84), _SRC),
    SEX_INPUT,
    InputSpec("ethnicity", "choice", "self-assigned ethnic group (QRISK3 categories)",
              choices=ETHNICITIES),
    InputSpec("smoking", "choice", "smoking status (light < 10, moderate 10-19, heavy >= 20 "
              "cigarettes a day)", choices=SMOKING),
    InputSpec("bmi", "number", "body-mass index", unit="kg/m2", hard=(10, 90)),
    InputSpec("cholesterol_hdl_ratio", "number", "total cholesterol / HDL cholesterol ratio",
              hard=(1, 30)),
    sbp_input(None, ""),
    InputSpec("sbp_sd", "number", "standard deviation of at least two recent systolic "
              "readings", unit="mm[Hg]", hard=(0, 100)),
    InputSpec("townsend", "number", "Townsend deprivation score of the home area (0 = "
              "national average)", hard=(-20, 30)),
    flag_input("af", "atrial fibrillation", required=False),
    flag_input("atypical_antipsychotic", "on an atypical antipsychotic", required=False),
    flag_input("corticosteroids", "on regular oral corticosteroids", required=False),
    flag_input("erectile_dysfunction", "erectile dysfunction diagnosed or treated (men)",
               required=False),
    flag_input("migraine", "migraine", required=False),
    flag_input("rheumatoid_arthritis", "rheumatoid arthritis", required=False),
    flag_input("ckd_stage_3_5", "chronic kidney disease stage 3, 4 or 5", required=False),
    flag_input("severe_mental_illness", "severe mental illness", required=False),
    flag_input("sle", "systemic lupus erythematosus", required=False),
    flag_input("treated_hypertension", "on blood-pressure treatment", required=False),
    flag_input("diabetes_type1", "type 1 diabetes", required=False),
    flag_input("diabetes_type2", "type 2 diabetes", required=False),
    flag_input("family_history_chd", "angina or heart attack in a first-degree relative "
               "under 60", required=False),
)


class _Sex:
    """One sex's model: fractional-polynomial powers, centring values, coefficients."""

    def __init__(self, *, survivor10: float, age_powers: tuple[float, float],
                 centre: Mapping[str, float], ethnicity: tuple[float, ...],
                 smoking: tuple[float, ...], cont: Mapping[str, float],
                 flags: Mapping[str, float], age1: Mapping[str, Any],
                 age2: Mapping[str, Any]) -> None:
        self.survivor10, self.age_powers, self.centre = survivor10, age_powers, centre
        self.ethnicity, self.smoking, self.cont, self.flags = ethnicity, smoking, cont, flags
        self.age1, self.age2 = age1, age2


def _age_term(dage: float, power: float) -> float:
    return dage ** power  # no log terms are needed: the powers are -2, 1, -1 and 3


# ClinRisk QRISK3-2017 release: female model
_FEMALE = _Sex(
    survivor10=0.988876402378082,
    age_powers=(-2.0, 1.0),
    centre={"age_1": 0.053274843841791, "age_2": 4.332503318786621,
            "bmi_1": 0.154946178197861, "bmi_2": 0.144462317228317,
            "rati": 3.476326465606690, "sbp": 123.130012512207030,
            "sbps5": 9.002537727355957, "town": 0.392308831214905},
    ethnicity=(0.0, 0.2804031433299542500, 0.5629899414207539800, 0.2959000085111651600,
               0.0727853798779825450, -0.1707213550885731700, -0.3937104331487497100,
               -0.3263249528353027200, -0.1712705688324178400),
    smoking=(0.0, 0.1338683378654626200, 0.5620085801243853700, 0.6674959337750254700,
             0.8494817764483084700),
    cont={"age_1": -8.1388109247726188, "age_2": 0.79733376689699098,
          "bmi_1": 0.29236092275460052, "bmi_2": -4.1513300213837665,
          "rati": 0.15338035820802554, "sbp": 0.013131488407103424,
          "sbps5": 0.0078894541014586095, "town": 0.077223790588590108},
    flags={"af": 1.5923354969269663, "atypical_antipsychotic": 0.25237642070115557,
           "corticosteroids": 0.59520725304601851, "erectile_dysfunction": 0.0,
           "migraine": 0.301267260870345, "rheumatoid_arthritis": 0.21364803435181942,
           "ckd_stage_3_5": 0.65194569493845833, "severe_mental_illness": 0.12555308058820178,
           "sle": 0.75880938654267693, "treated_hypertension": 0.50931593683423004,
           "diabetes_type1": 1.7267977510537347, "diabetes_type2": 1.0688773244615468,
           "family_history_chd": 0.45445319020896213},
    age1={"smoking": (0.0, -4.7057161785851891, -2.7430383403573337, -0.86608088829392182,
                      0.90241562369710648),
          "af": 19.938034889546561, "corticosteroids": -0.98408045235936281,
          "migraine": 1.7634979587872999, "ckd_stage_3_5": -3.5874047731694114,
          "sle": 19.690303738638292, "treated_hypertension": 11.872809733921812,
          "diabetes_type1": -1.2444332714320747, "diabetes_type2": 6.8652342000009599,
          "bmi_1": 23.802623412141742, "bmi_2": -71.184947692087007,
          "family_history_chd": 0.99467807940435127, "sbp": 0.034131842338615485,
          "town": -1.0301180802035639},
    age2={"smoking": (0.0, -0.075589244643193026, -0.11951192874867074,
                      -0.10366306397571923, -0.13991853591718389),
          "af": -0.076182651011162505, "corticosteroids": -0.12005364946742472,
          "migraine": -0.065586917898699859, "ckd_stage_3_5": -0.22688873086442507,
          "sle": 0.077347949679016273, "treated_hypertension": 0.00096857823588174436,
          "diabetes_type1": -0.28724064624488949, "diabetes_type2": -0.097112252590695489,
          "bmi_1": 0.52369958933664429, "bmi_2": 0.045744190122323759,
          "family_history_chd": -0.076885051698423038, "sbp": -0.0015082501423272358,
          "town": -0.031593414674962329},
)

# ClinRisk QRISK3-2017 release: male model
_MALE = _Sex(
    survivor10=0.977268040180206,
    age_powers=(-1.0, 3.0),
    centre={"age_1": 0.234766781330109, "age_2": 77.284080505371094,
            "bmi_1": 0.149176135659218, "bmi_2": 0.141913309693336,
            "rati": 4.300998687744141, "sbp": 128.571578979492190,
            "sbps5": 8.756621360778809, "town": 0.526304900646210},
    ethnicity=(0.0, 0.27719248760308279, 0.47446360714931268, 0.52961729919689371,
               0.035100159186299017, -0.35807899669327919, -0.4005648523216514,
               -0.41522792889830173, -0.26321348134749967),
    smoking=(0.0, 0.19128222863388983, 0.55241588192645552, 0.63835053027506072,
             0.78983819881858019),
    cont={"age_1": -17.839781666005575, "age_2": 0.0022964880605765492,
          "bmi_1": 2.4562776660536358, "bmi_2": -8.3011122314711354,
          "rati": 0.17340196856327111, "sbp": 0.012910126542553305,
          "sbps5": 0.010251914291290456, "town": 0.033268201277287295},
    flags={"af": 0.88209236928054657, "atypical_antipsychotic": 0.13046879855173513,
           "corticosteroids": 0.45485399750445543, "erectile_dysfunction": 0.22251859086705383,
           "migraine": 0.25584178074159913, "rheumatoid_arthritis": 0.20970658013956567,
           "ckd_stage_3_5": 0.71853261288274384, "severe_mental_illness": 0.12133039882047164,
           "sle": 0.4401572174457522, "treated_hypertension": 0.51659871082695474,
           "diabetes_type1": 1.2343425521675175, "diabetes_type2": 0.85942071430932221,
           "family_history_chd": 0.54055469009390156},
    age1={"smoking": (0.0, -0.21011133933516346, 0.75268676447503191, 0.99315887556405791,
                      2.1331163414389076),
          "af": 3.4896675530623207, "corticosteroids": 1.1708133653489108,
          "erectile_dysfunction": -1.506400985745431, "migraine": 2.3491159871402441,
          "ckd_stage_3_5": -0.50656716327223694, "treated_hypertension": 6.5114581098532671,
          "diabetes_type1": 5.3379864878006531, "diabetes_type2": 3.6461817406221311,
          "bmi_1": 31.004952956033886, "bmi_2": -111.29157184391643,
          "family_history_chd": 2.7808628508531887, "sbp": 0.018858524469865853,
          "town": -0.1007554870063731},
    age2={"smoking": (0.0, -0.00049854870275326121, -0.00079875633317385414,
                      -0.00083706184266251296, -0.00078400319155637289),
          "af": -0.00034995608340636049, "corticosteroids": -0.0002496045095297166,
          "erectile_dysfunction": -0.0011058218441227373, "migraine": 0.00019896446041478631,
          "ckd_stage_3_5": -0.0018325930166498813, "treated_hypertension": 0.00063838053104165013,
          "diabetes_type1": 0.0006409780808752897, "diabetes_type2": -0.00024695695588868315,
          "bmi_1": 0.0050380102356322029, "bmi_2": -0.013074483002524319,
          "family_history_chd": -0.00024791809907396037, "sbp": -0.000012718741915884570,
          "town": -0.000093299642323272888},
)


def linear_predictor(v: Mapping[str, Any]) -> float:
    """The sum ``a`` of the QRISK3-2017 model (score = 100 (1 - S10^exp(a)))."""
    m = _FEMALE if v["sex"] == "female" else _MALE
    dage, dbmi = v["age"] / 10, v["bmi"] / 10
    x = {"age_1": _age_term(dage, m.age_powers[0]), "age_2": _age_term(dage, m.age_powers[1]),
         "bmi_1": dbmi ** -2, "bmi_2": dbmi ** -2 * math.log(dbmi),
         "rati": v["cholesterol_hdl_ratio"], "sbp": v["sbp"], "sbps5": v["sbp_sd"],
         "town": v["townsend"]}
    x = {k: val - m.centre[k] for k, val in x.items()}
    flags = {f: 1.0 if v[f] else 0.0 for f in _FLAGS}
    if v["sex"] == "female":
        flags["erectile_dysfunction"] = 0.0
    smoke = SMOKING.index(v["smoking"])
    a = m.ethnicity[ETHNICITIES.index(v["ethnicity"])] + m.smoking[smoke]
    a += sum(m.cont[k] * x[k] for k in m.cont)
    a += sum(m.flags[f] * flags[f] for f in _FLAGS)
    for age_key, inter in (("age_1", m.age1), ("age_2", m.age2)):
        age_x = x[age_key]
        a += age_x * inter["smoking"][smoke]
        for name, coef in inter.items():
            if name == "smoking":
                continue
            value = x[name] if name in x else flags[name]
            a += age_x * value * coef
    return a


class Qrisk3(Equation):
    id = "qrisk3"
    name = "QRISK3-2017"
    version = "2017"
    inputs = QRISK3_INPUTS
    citations = (HIPPISLEY_COX_2017,)
    disclaimer = DISCLAIMER
    limits = ("10-year risk of coronary heart disease, ischaemic stroke or TIA for people "
              "25-84 without cardiovascular disease, derived in English general practices "
              "(QResearch, 1998-2015); ethnic groups and the Townsend score are UK "
              "categories. The published work gives no input limits besides age; other values "
              "are used as given within plausibility limits. An association model: a change in "
              "an input shows the equation's arithmetic, not the effect a treatment would "
              "have.")

    def _compute(self, v: Mapping[str, Any]) -> tuple[list[Estimate], list[str]]:
        m = _FEMALE if v["sex"] == "female" else _MALE
        risk = 1.0 - m.survivor10 ** math.exp(linear_predictor(v))
        warnings = []
        if v["diabetes_type1"] and v["diabetes_type2"]:
            warnings.append("both type 1 and type 2 diabetes were given; QRISK3 expects one")
        if v["sex"] == "female" and v["erectile_dysfunction"]:
            warnings.append("erectile dysfunction is ignored for women")
        return [Estimate("cvd", "10-year risk of heart attack or stroke (CHD, ischaemic "
                         "stroke, TIA)", risk, "proportion", 10)], warnings


QRISK3 = Qrisk3()
