"""Medicines that raise the risk of harm from heat, by drug class.

The classes and the ways they interact with heat are from CDC, *Heat and Medications - Guidance
for Clinicians* (2024, cdc.gov/heat-health/hcp/clinical-guidance/heat-and-medications-guidance-
for-clinicians.html): "commonly prescribed medications that increase risk from heat include
diuretics, anticholinergic agents, and some psychotropic medications"; an ACE inhibitor or ARB
*with* a diuretic "may significantly increase risk" (ARNIs the same); and the mechanisms
(reduced thirst; interference with central thermoregulation; altered sweating; volume depletion,
hypotension or reduced cardiac output; electrolyte imbalance). See ``docs/methods.md`` for which
lines were read on the page itself and which through a quotation of it.

Which ingredient belongs to which class follows the WHO ATC classification (group codes given
per class); first-generation antihistamines are counted as anticholinergic agents because the
AGS Beers Criteria list them among drugs with strong anticholinergic properties (American
Geriatrics Society, J Am Geriatr Soc 2023;71:2052-2081, doi:10.1111/jgs.18372). Inhaled
antimuscarinics (ipratropium, tiotropium) act locally in the airways and are not counted.

A record is matched on the ingredient (or brand) names in its display text, as whole words, so
"Lasix 40mg" (RxNorm 315971 in the Synthea bundles) is furosemide and "24 HR metoprolol succinate
100 MG Extended Release Oral Tablet [Toprol]" is metoprolol.

>>> from hyperhealth.model import Medication
>>> [c.key for c, _ in drug_classes(Medication("p", "314076", "Lisinopril 10 MG Oral Tablet"))]
['ace_inhibitor']
>>> [c.key for c, _ in drug_classes(Medication("p", "315971", "Lasix 40mg"))]
['diuretic']
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from hyperhealth.model import Medication

CITATION = ("CDC, Heat and Medications - Guidance for Clinicians (2024), cdc.gov/heat-health/"
            "hcp/clinical-guidance/heat-and-medications-guidance-for-clinicians.html")

# mechanisms, in our words, after the CDC list
THIRST = "can reduce the feeling of thirst"
CENTRAL = "can interfere with how the brain controls body temperature"
LESS_SWEAT = "can reduce sweating, which the body needs to cool down"
MORE_SWEAT = "can increase sweating, so more fluid is lost"
VOLUME = "can lower fluid volume or blood pressure, which raises the risk of fainting and falls"
SALTS = "can upset the body's salt (electrolyte) balance"


@dataclass(frozen=True, slots=True)
class DrugClass:
    key: str
    label: str
    atc: str  # WHO ATC group(s)
    effects: tuple[str, ...]
    names: tuple[str, ...]  # ingredient and brand names, lower case


CLASSES: tuple[DrugClass, ...] = (
    DrugClass("diuretic", "a diuretic (water tablet)", "C03", (THIRST, VOLUME, SALTS),
              ("furosemide", "lasix", "bumetanide", "torsemide", "torasemide",
               "hydrochlorothiazide", "chlorthalidone", "chlortalidone", "chlorothiazide",
               "indapamide", "metolazone", "spironolactone", "eplerenone", "triamterene",
               "amiloride")),
    DrugClass("ace_inhibitor", "an ACE inhibitor", "C09A, C09B", (THIRST,),
              ("lisinopril", "enalapril", "ramipril", "captopril", "benazepril", "quinapril",
               "fosinopril", "perindopril", "trandolapril", "moexipril")),
    DrugClass("arb", "an angiotensin receptor blocker (ARB)", "C09C, C09D", (THIRST,),
              ("losartan", "valsartan", "irbesartan", "candesartan", "telmisartan",
               "olmesartan", "azilsartan", "eprosartan")),
    DrugClass("arni", "an angiotensin receptor-neprilysin inhibitor (ARNI)", "C09DX04",
              (THIRST,), ("sacubitril", "entresto")),
    DrugClass("beta_blocker", "a beta-blocker", "C07", (VOLUME, SALTS),
              ("metoprolol", "toprol", "lopressor", "atenolol", "propranolol", "carvedilol",
               "bisoprolol", "nadolol", "labetalol", "nebivolol")),
    DrugClass("calcium_channel_blocker", "a calcium channel blocker", "C08", (SALTS,),
              ("amlodipine", "nifedipine", "diltiazem", "verapamil", "felodipine",
               "nicardipine", "isradipine")),
    DrugClass("antipsychotic", "an antipsychotic", "N05A (not N05AN)", (CENTRAL, LESS_SWEAT),
              ("haloperidol", "chlorpromazine", "fluphenazine", "perphenazine",
               "olanzapine", "quetiapine", "risperidone", "aripiprazole", "clozapine",
               "ziprasidone", "lurasidone", "paliperidone")),
    DrugClass("lithium", "lithium", "N05AN", (SALTS,), ("lithium",)),
    DrugClass("anticholinergic", "a medicine with anticholinergic effects",
              "G04BD, N04A, R06AA, A04AD", (CENTRAL, LESS_SWEAT),
              ("oxybutynin", "tolterodine", "solifenacin", "trospium", "darifenacin",
               "fesoterodine", "benztropine", "trihexyphenidyl", "scopolamine", "hyoscine",
               "diphenhydramine", "hydroxyzine", "chlorpheniramine", "doxylamine",
               "promethazine")),
    DrugClass("stimulant", "a stimulant", "N06BA", (CENTRAL,),
              ("methylphenidate", "dexmethylphenidate", "amphetamine", "dextroamphetamine",
               "lisdexamfetamine")),
    DrugClass("ssri", "an SSRI antidepressant", "N06AB", (MORE_SWEAT,),
              ("fluoxetine", "sertraline", "paroxetine", "citalopram", "escitalopram",
               "fluvoxamine")),
    DrugClass("snri", "an SNRI antidepressant", "N06AX", (MORE_SWEAT,),
              ("venlafaxine", "desvenlafaxine", "duloxetine", "levomilnacipran")),
    DrugClass("tca", "a tricyclic antidepressant", "N06AA", (LESS_SWEAT, VOLUME),
              ("amitriptyline", "nortriptyline", "imipramine", "desipramine", "clomipramine",
               "doxepin")),
    DrugClass("nsaid", "an anti-inflammatory painkiller (NSAID)", "M01A", (VOLUME,),
              ("ibuprofen", "naproxen", "diclofenac", "meloxicam", "celecoxib",
               "indomethacin", "ketorolac")),
    DrugClass("tmp_smx", "trimethoprim-sulfamethoxazole", "J01EE01", (SALTS,),
              ("sulfamethoxazole", "co-trimoxazole", "cotrimoxazole")),
)
CLASS_BY_KEY = {c.key: c for c in CLASSES}
_RAS = ("ace_inhibitor", "arb", "arni")
_ACTIVE = {"active", "intended", "on-hold", ""}
_PATTERNS = {c.key: re.compile(r"\b(" + "|".join(map(re.escape, c.names)) + r")\b")
             for c in CLASSES}


def drug_classes(m: Medication) -> list[tuple[DrugClass, str]]:
    """``(class, the matched name)`` for each heat-relevant class of the medication."""
    text = m.display.lower()
    out = []
    for c in CLASSES:
        hit = _PATTERNS[c.key].search(text)
        if hit:
            out.append((c, hit.group(1)))
    return out


def _ended(t: datetime | date | None, now: datetime) -> bool:
    if t is None:
        return False
    return t <= now if isinstance(t, datetime) else t < now.date()


def is_current(m: Medication, now: datetime) -> bool:
    """Active, intended or on hold, and not ended by ``now``."""
    return m.status.lower() in _ACTIVE and not _ended(m.end, now)


@dataclass(frozen=True, slots=True)
class HeatDrug:
    """A current medication in a heat-relevant class."""

    drug_class: DrugClass
    display: str
    code: str
    system: str


def heat_drugs(medications: Iterable[Medication], now: datetime) -> list[HeatDrug]:
    """The person's current medications that raise heat risk (one entry per class and record;
    a record repeated as request and statement is listed once)."""
    out: list[HeatDrug] = []
    seen: set[tuple[str, str]] = set()
    for m in medications:
        if not is_current(m, now):
            continue
        for c, _name in drug_classes(m):
            if (c.key, m.display.lower()) in seen:
                continue
            seen.add((c.key, m.display.lower()))
            out.append(HeatDrug(c, m.display, m.code, m.system))
    return out


def risky_combination(drugs: Iterable[HeatDrug]) -> bool:
    """An ACE inhibitor, ARB or ARNI together with a diuretic (CDC: may significantly increase
    risk of harm from heat)."""
    keys = {d.drug_class.key for d in drugs}
    return "diuretic" in keys and bool(keys & set(_RAS))
