"""Which records count as which risk-equation input: LOINC lab codes, SNOMED CT conditions,
RxNorm medications (as FHIR data carries them: Synthea bundles and ``hyperhealth.synth``).

Medications are matched by RxNorm code first; any other RxNorm code whose display names a
listed ingredient matches too (FHIR data usually carries clinical-drug codes such as "lisinopril
10 MG Oral Tablet", one code per strength and form), and the result says which way it matched.
Drug classes are the usual pharmacological classes of each ingredient.

>>> med_class("314076", "Lisinopril 10 MG Oral Tablet")
('antihypertensive', 'code')
>>> med_class("999999", "Rosuvastatin calcium 5 MG Oral Tablet")
('statin', 'ingredient name')
>>> med_class("106258", "Hydrocortisone 10 MG/ML Topical Cream") is None
True
"""

from __future__ import annotations

import re

# -- LOINC ---------------------------------------------------------------------------------------
# code -> (input, unit the code is measured in when the record gives none)
LAB_CODES: dict[str, str] = {
    "2093-3": "total_c", "14647-2": "total_c",
    "2085-9": "hdl_c", "14646-4": "hdl_c",
    "18262-6": "ldl_c", "13457-7": "ldl_c", "2089-1": "ldl_c", "22748-8": "ldl_c",
    "39469-2": "ldl_c",
    "2160-0": "creatinine", "38483-4": "creatinine", "14682-9": "creatinine",
    "33863-2": "cystatin_c",
    "4548-4": "hba1c", "17856-6": "hba1c", "4549-2": "hba1c",
    # urine albumin/creatinine, spot urine: mass ratio, microalbumin (as Synthea records it),
    # ratio
    "9318-7": "uacr", "14959-1": "uacr", "32294-1": "uacr",
}
#: stored eGFR results: 98979-8 is CKD-EPI 2021; the others are older or unnamed equations
EGFR_CODES = {"98979-8": "CKD-EPI 2021 (creatinine)", "62238-1": "CKD-EPI 2009",
              "33914-3": "MDRD or unspecified", "48642-3": "MDRD (non-Black)",
              "48643-1": "MDRD (Black)", "50044-7": "MDRD (female)"}
SYSTOLIC, BMI, WEIGHT, HEIGHT = "8480-6", "39156-5", "29463-7", "8302-2"
WAIST_CODES = ("8280-0", "56086-2")
SMOKING_STATUS = "72166-2"

# -- SNOMED CT: smoking status answers (72166-2) ---------------------------------------------------
SMOKING_ANSWERS: dict[str, str] = {
    "266919005": "never", "8517006": "former",
    "449868002": "current", "428041000124106": "current", "77176002": "current",
    "65568007": "current", "428061000124105": "current_light",
    "428071000124103": "current_heavy",
    "266927001": "unknown",
}

# -- SNOMED CT: conditions -----------------------------------------------------------------------
CONDITIONS: dict[str, frozenset[str]] = {
    "diabetes_type1": frozenset({"46635009"}),
    "diabetes_type2": frozenset({"44054006", "368581000119106", "422034002",
                                 "1551000119108", "97331000119101", "90781000119102",
                                 "157141000119108", "313436004"}),
    "diabetes_any": frozenset({"73211009", "46635009", "44054006", "368581000119106",
                               "127013003", "422034002", "1551000119108", "97331000119101",
                               "90781000119102", "157141000119108", "313436004"}),
    "high_glucose": frozenset({"15777000", "80394007", "11687002", "390951007", "9414007",
                               "714628002"}),
    "hypertension": frozenset({"38341003", "59621000", "1201005", "31992008"}),
    "af": frozenset({"49436004", "282825002", "440059007", "426749004", "706923002"}),
    "heart_failure": frozenset({"88805009", "84114007", "42343007", "85232009", "417996009",
                                "441481004", "441530006"}),
    "stroke_tia": frozenset({"230690007", "266257000", "422504002", "432504007",
                             "275526006"}),
    "myocardial_infarction": frozenset({"22298006", "399211009", "401303003", "401314000",
                                        "57054005", "1755008"}),
    "coronary_disease": frozenset({"53741008", "414545008", "194828000"}),
    "peripheral_artery_disease": frozenset({"399957001", "840580004"}),
    "ckd_stage_3_5": frozenset({"433144002", "700378005", "700379002", "431857002",
                                "433146000", "46177005"}),
    "rheumatoid_arthritis": frozenset({"69896004"}),
    "migraine": frozenset({"37796009", "124171000119105", "4473006"}),
    "sle": frozenset({"55464009"}),
    "severe_mental_illness": frozenset({"58214004", "13746004", "69322001"}),
    "erectile_dysfunction": frozenset({"860914002"}),
}

#: established cardiovascular disease: the primary-prevention equations do not apply
ESTABLISHED_CVD = ("myocardial_infarction", "coronary_disease", "stroke_tia",
                   "peripheral_artery_disease", "heart_failure")

# -- RxNorm: medication classes --------------------------------------------------------------------
# explicit codes seen in Synthea bundles and hyperhealth.synth (display in the comment)
_MED_CODES: dict[str, str] = {
    "314076": "antihypertensive",    # lisinopril 10 MG Oral Tablet
    "197361": "antihypertensive",    # amlodipine 5 MG Oral Tablet
    "316049": "antihypertensive",    # hydrochlorothiazide 25 MG
    "316052": "antihypertensive",    # hydrochlorothiazide 6.25 MG
    "310798": "antihypertensive",    # hydrochlorothiazide 25 MG Oral Tablet
    "833036": "antihypertensive",    # captopril 25 MG Oral Tablet
    "897718": "antihypertensive",    # verapamil hydrochloride 40 MG
    "866414": "antihypertensive",    # 24 HR metoprolol succinate 100 MG ER (Toprol)
    "315971": "antihypertensive",    # Lasix 40mg (furosemide)
    "316672": "statin",              # "Simvistatin 10 MG" (Synthea's spelling of simvastatin)
    "312961": "statin",              # simvastatin 20 MG Oral Tablet
    "259255": "statin",              # atorvastatin 80 MG Oral Tablet
    "860975": "diabetes_drug",       # 24 HR metformin hydrochloride 500 MG ER
    "274783": "diabetes_drug",       # insulin glargine
    "86009": "diabetes_drug",        # insulin lispro
    "106892": "diabetes_drug",       # insulin human isophane 70/30
    "312617": "oral_corticosteroid",  # prednisone 5 MG Oral Tablet
}

_INGREDIENTS: dict[str, tuple[str, ...]] = {
    "antihypertensive": (
        # ACE inhibitors, ARBs, calcium-channel blockers, thiazide and loop diuretics,
        # aldosterone antagonists, beta blockers, alpha blockers, central agonists, vasodilators
        "benazepril", "captopril", "enalapril", "fosinopril", "lisinopril", "moexipril",
        "perindopril", "quinapril", "ramipril", "trandolapril", "azilsartan", "candesartan",
        "eprosartan", "irbesartan", "losartan", "olmesartan", "telmisartan", "valsartan",
        "amlodipine", "felodipine", "isradipine", "nicardipine", "nifedipine", "nisoldipine",
        "diltiazem", "verapamil", "hydrochlorothiazide", "chlorthalidone", "chlorothiazide",
        "indapamide", "metolazone", "furosemide", "bumetanide", "torsemide", "spironolactone",
        "eplerenone", "amiloride", "triamterene", "atenolol", "bisoprolol", "carvedilol",
        "labetalol", "metoprolol", "nadolol", "nebivolol", "propranolol", "doxazosin",
        "prazosin", "terazosin", "clonidine", "methyldopa", "guanfacine", "hydralazine",
        "minoxidil", "aliskiren", "sacubitril"),
    "statin": ("atorvastatin", "fluvastatin", "lovastatin", "pitavastatin", "pravastatin",
               "rosuvastatin", "simvastatin"),
    "diabetes_drug": ("metformin", "insulin", "glipizide", "glyburide", "glimepiride",
                      "pioglitazone", "sitagliptin", "saxagliptin", "linagliptin", "alogliptin",
                      "empagliflozin", "dapagliflozin", "canagliflozin", "ertugliflozin",
                      "liraglutide", "semaglutide", "dulaglutide", "exenatide", "tirzepatide"),
    "atypical_antipsychotic": ("amisulpride", "aripiprazole", "clozapine", "lurasidone",
                               "olanzapine", "paliperidone", "quetiapine", "risperidone",
                               "sertindole", "ziprasidone", "asenapine", "brexpiprazole",
                               "cariprazine"),
    "oral_corticosteroid": ("prednisone", "prednisolone", "methylprednisolone",
                            "dexamethasone", "hydrocortisone", "cortisone", "betamethasone"),
    "erectile_dysfunction_drug": ("sildenafil", "tadalafil", "vardenafil", "avanafil"),
}
_WORDS = re.compile(r"[a-z]+")
# corticosteroids count only as tablets/solutions taken by mouth (QRISK3: "regular steroid
# tablets"); creams, inhalers and injections do not
_ORAL = ("oral", "tablet", "capsule")


def med_class(code: str, display: str) -> tuple[str, str] | None:
    """``(class, how matched)`` of a medication, or ``None`` when it is in no listed class."""
    if code in _MED_CODES:
        return _MED_CODES[code], "code"
    words = set(_WORDS.findall(display.lower()))
    for cls, names in _INGREDIENTS.items():
        if words & set(names):
            if cls == "oral_corticosteroid" and not any(w in words for w in _ORAL):
                return None
            return cls, "ingredient name"
    return None


def condition_classes(code: str) -> list[str]:
    return [name for name, codes in CONDITIONS.items() if code in codes]
