"""Warfarin: the IWPC pharmacogenetic dosing equation and the CPIC genotype inputs it needs.

International Warfarin Pharmacogenetics Consortium, Klein TE et al. "Estimation of the warfarin
dose with clinical and pharmacogenetic data." N Engl J Med 2009;360:753-764, PMID 19228618,
doi:10.1056/NEJMoa0809329 (supplementary appendix, pharmacogenetic algorithm). The equation
predicts the square root of the stable weekly dose (mg) for a target INR of 2-3::

    sqrt(dose) = 5.6044 - 0.2614 age(decades) + 0.0087 height(cm) + 0.0128 weight(kg)
                 - 0.8677 VKORC1 A/G - 1.6974 VKORC1 A/A - 0.4854 VKORC1 unknown
                 - 0.5211 CYP2C9 *1/*2 - 0.9357 *1/*3 - 1.0616 *2/*2 - 1.9206 *2/*3
                 - 2.3312 *3/*3 - 0.2188 CYP2C9 unknown
                 - 0.1092 Asian - 0.2760 Black or African American - 0.1032 missing or mixed race
                 + 1.1816 enzyme inducer (carbamazepine, phenytoin, rifampin/rifampicin)
                 - 0.5503 amiodarone

"Age in decades" is the decade of life as IWPC coded it (10-19 years = 1, ..., 90+ = 9). The CPIC
warfarin guideline (Johnson et al. 2017, PMID 28198005) recommends a validated pharmacogenetic
algorithm such as this one; its Figure 2 adds CYP4F2 and rs12777823 considerations, which we
report but do not fold into the number. The equation covers CYP2C9 *1, *2 and *3 only: any other
CYP2C9 allele stops the calculation rather than being treated as unknown.

>>> r = iwpc_weekly_dose(age=65, height_cm=170, weight_kg=80, vkorc1="A/G", cyp2c9="*1/*1",
...                      race="white")
>>> round(r.weekly_dose_mg, 1)
32.2
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hyperhealth.errors import InputError

CITATION = "Klein TE et al., N Engl J Med 2009;360:753-764, PMID 19228618 (IWPC)"
CPIC_CITATION = "Johnson JA et al., Clin Pharmacol Ther 2017;102:397-404, PMID 28198005 (CPIC)"
METHOD = "IWPC pharmacogenetic warfarin dosing equation"

_INTERCEPT = 5.6044
_AGE = -0.2614
_HEIGHT = 0.0087
_WEIGHT = 0.0128
_VKORC1 = {"G/G": 0.0, "A/G": -0.8677, "A/A": -1.6974, "unknown": -0.4854}
_CYP2C9 = {"*1/*1": 0.0, "*1/*2": -0.5211, "*1/*3": -0.9357, "*2/*2": -1.0616,
           "*2/*3": -1.9206, "*3/*3": -2.3312, "unknown": -0.2188}
_RACE = {"white": 0.0, "asian": -0.1092, "black": -0.2760, "unknown": -0.1032}
_INDUCER = 1.1816
_AMIODARONE = -0.5503
#: drugs the IWPC equation counts as enzyme inducers
INDUCERS = frozenset({"carbamazepine", "phenytoin", "rifampin", "rifampicin"})

#: VKORC1 rs9923231 on the + strand (C/T) -> the -1639 G>A notation the equation uses
_VKORC1_NAMES = {"rs9923231 reference (C)": "G", "rs9923231 variant (T)": "A"}


def vkorc1_genotype(diplotype: str | None) -> str:
    """``G/G``, ``A/G`` or ``A/A`` from our VKORC1 diplotype name; ``unknown`` if not called.

    >>> vkorc1_genotype("rs9923231 reference (C)/rs9923231 variant (T)")
    'A/G'
    """
    if not diplotype:
        return "unknown"
    parts = diplotype.split("/")
    if len(parts) != 2 or any(p not in _VKORC1_NAMES for p in parts):
        return "unknown"
    return "/".join(sorted(_VKORC1_NAMES[p] for p in parts))


def cyp2c9_genotype(diplotype: str | None) -> str:
    """``*1/*2``-style genotype for the equation, ``unknown`` if not called; other alleles raise.

    >>> cyp2c9_genotype("*3/*1")
    '*1/*3'
    """
    if not diplotype:
        return "unknown"
    parts = sorted(diplotype.split("/"), key=lambda a: int(a.lstrip("*")) if
                   a.lstrip("*").isdigit() else 99)
    g = "/".join(parts)
    if g not in _CYP2C9:
        raise InputError(f"CYP2C9 {diplotype} has an allele the IWPC equation does not model "
                         "(it knows *1, *2 and *3)", field="CYP2C9",
                         hint="follow CPIC Figure 2 (PMID 28198005) for other CYP2C9 alleles")
    return g


def race_category(race: str | None) -> str:
    """IWPC race category from free text (``unknown`` for missing or mixed)."""
    r = (race or "").strip().lower()
    if not r:
        return "unknown"
    if "black" in r or "african" in r:
        return "black"
    if "asian" in r:
        return "asian"
    if "white" in r or "caucasian" in r or "european" in r:
        return "white"
    return "unknown"


@dataclass(frozen=True, slots=True)
class WarfarinDose:
    weekly_dose_mg: float
    daily_dose_mg: float
    inputs: dict[str, object]
    missing: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    method: str = METHOD
    citation: str = CITATION
    guideline: str = CPIC_CITATION
    extra: dict[str, object] = field(default_factory=dict)


def iwpc_weekly_dose(*, age: float, height_cm: float, weight_kg: float, vkorc1: str = "unknown",
                     cyp2c9: str = "unknown", race: str | None = None,
                     enzyme_inducer: bool = False, amiodarone: bool = False) -> WarfarinDose:
    """Predicted stable weekly warfarin dose (mg) by the IWPC pharmacogenetic equation."""
    if not 18 <= age <= 120:
        raise InputError(f"age {age} is outside the adult range the equation was built on",
                         field="age", hint="the IWPC cohort was adults (18 years or older)")
    if not 100 <= height_cm <= 250:
        raise InputError(f"height {height_cm} cm is implausible", field="height_cm",
                         hint="give the height in centimetres")
    if not 25 <= weight_kg <= 300:
        raise InputError(f"weight {weight_kg} kg is implausible", field="weight_kg",
                         hint="give the weight in kilograms")
    if vkorc1 not in _VKORC1:
        raise InputError(f"VKORC1 genotype {vkorc1!r} is not G/G, A/G, A/A or unknown",
                         field="vkorc1", hint="use the -1639G>A (rs9923231) genotype")
    if cyp2c9 not in _CYP2C9:
        raise InputError(f"CYP2C9 genotype {cyp2c9!r} is not modelled", field="cyp2c9",
                         hint="the equation knows *1, *2 and *3")
    rc = race_category(race)
    decades = min(9, int(age // 10))
    root = (_INTERCEPT + _AGE * decades + _HEIGHT * height_cm + _WEIGHT * weight_kg
            + _VKORC1[vkorc1] + _CYP2C9[cyp2c9] + _RACE[rc]
            + (_INDUCER if enzyme_inducer else 0.0) + (_AMIODARONE if amiodarone else 0.0))
    weekly = max(root, 0.0) ** 2
    missing = tuple(n for n, v in (("VKORC1", vkorc1), ("CYP2C9", cyp2c9), ("race", rc))
                    if v == "unknown")
    inputs: dict[str, object] = {
        "age_years": age, "age_decades": decades, "height_cm": height_cm,
        "weight_kg": weight_kg, "vkorc1": vkorc1, "cyp2c9": cyp2c9, "race": rc,
        "enzyme_inducer": enzyme_inducer, "amiodarone": amiodarone}
    notes = ("a starting estimate for a target INR of 2-3; INR monitoring decides the dose",)
    if not math.isfinite(weekly):  # pragma: no cover - inputs are range-checked
        raise InputError("the equation did not give a number", field="warfarin")
    return WarfarinDose(round(weekly, 2), round(weekly / 7, 2), inputs, missing, notes)
