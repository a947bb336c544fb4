"""Heat: the NWS heat-index level, made personal by medicines, conditions, age and activity.

Levels and what each means (our words): NWS heat index chart (weather.gov/safety/heat-index) -
Caution 80-90 F (fatigue possible with prolonged exposure and/or physical activity), Extreme
Caution 90-103 F (heat stroke, heat cramps or heat exhaustion possible), Danger 103-124 F (heat
cramps or heat exhaustion likely, heat stroke possible), Extreme Danger 125 F or more (heat stroke
highly likely); computed in ``model/heat.py``.

Who is more at risk: CDC, Clinical Overview of Heat (cdc.gov/heat-health/hcp/clinical-overview,
2024) - infants and children, pregnant women, adults over age 65, people with chronic health
conditions (heat is associated with hospital visits for cardiovascular and respiratory diseases,
asthma, diabetes, kidney diseases and mental health conditions) and people who engage in
strenuous outdoor activities; medicines: :mod:`._medications` (CDC Heat and Medications).

Project levels (our choice, ``docs/methods.md``): Caution -> INFO for a person with any risk
factor, nothing otherwise; Extreme Caution -> WARN with a risk factor, INFO otherwise; Danger ->
URGENT with a risk factor, WARN otherwise; Extreme Danger -> URGENT.
"""

from __future__ import annotations

from typing import Any

from hyperhealth.actions.advisories import _medications as M
from hyperhealth.actions.advisories._advisory import Advisory
from hyperhealth.actions.advisories._common import RuleResult, activity_advice, activity_why, join
from hyperhealth.actions.advisories._context import PersonContext
from hyperhealth.actions.advisories._environment import describe, reading, staleness, where_text
from hyperhealth.actions.levels import Level
from hyperhealth.insights.exposure import CurrentEnvironment
from hyperhealth.model import heat

RULE = "heat"
VERSION = "1"
GROUPS_CITATION = ("CDC, Clinical Overview of Heat (2024), cdc.gov/heat-health/hcp/"
                   "clinical-overview")
CITATION = f"{heat.CITATION}; at-risk groups: {GROUPS_CITATION}; medicines: {M.CITATION}"

#: condition groups and how CDC names them
_CDC_CONDITIONS = {
    "heart_disease": "cardiovascular disease", "hypertension": "cardiovascular disease",
    "lung_disease": "respiratory disease", "diabetes": "diabetes",
    "kidney_disease": "kidney disease", "mental_health": "mental health conditions",
    "pregnancy": "pregnancy",
}
_EFFECT = {  # NWS chart, our words
    "Caution": "With long exposure or activity, tiredness is possible.",
    "Extreme Caution": "With long exposure or activity, heat cramps, heat exhaustion and even "
                       "heat stroke are possible.",
    "Danger": "With long exposure or activity, heat cramps or heat exhaustion are likely and heat "
              "stroke is possible.",
    "Extreme Danger": "Heat stroke is highly likely with continued exposure.",
}
_ORDER = ("Caution", "Extreme Caution", "Danger", "Extreme Danger")


def risk_reasons(ctx: PersonContext) -> list[str]:
    """Why this person is more at risk in heat (empty: nothing recorded)."""
    why = []
    for d in ctx.drugs:
        why.append(f"{d.display} is {d.drug_class.label}, which {join(d.drug_class.effects)} "
                   f"(CDC).")
    if ctx.risky_drug_combination:
        why.append("You take an ACE inhibitor, ARB or ARNI together with a diuretic; CDC notes "
                   "that this combination may significantly increase the risk of harm from heat.")
    for key, cdc in _CDC_CONDITIONS.items():
        for r in ctx.groups.get(key, []):
            why.append(f"{r.text}: CDC lists people with {cdc} among those more at risk on hot "
                       f"days.")
    if ctx.older:
        why.append(f"Older adults (CDC: over 65) are more at risk in heat; {ctx.age_text()}.")
    if ctx.child:
        why.append(f"Children are more at risk in heat (CDC); {ctx.age_text()}.")
    return why


def _level(name: str, at_risk: bool) -> Level | None:
    i = _ORDER.index(name)
    if i == 0:
        return Level.INFO if at_risk else None
    if i == 1:
        return Level.WARN if at_risk else Level.INFO
    if i == 2:
        return Level.URGENT if at_risk else Level.WARN
    return Level.URGENT


def check(ctx: PersonContext, env: CurrentEnvironment | None) -> RuleResult:
    if env is None or not env.values:
        return RuleResult(unchecked="no environment data near the person")
    t, rh, hi_read = (reading(env, c) for c in ("air-temperature", "relative-humidity",
                                                "heat-index"))
    hi_c = env.heat_index_c
    if hi_c is None and t is not None and rh is not None:
        hi_c = heat.heat_index(t.exposure.value, rh.exposure.value)
    if hi_c is None:
        need = "air temperature and relative humidity" if t is None or rh is None else ""
        return RuleResult(unchecked=f"no heat index (needs {need or 'a heat-index reading'}) "
                                    "near the person in the last 24 hours")
    lvl = heat.heat_level(hi_c)
    if lvl is None:
        return RuleResult()
    reasons = risk_reasons(ctx)
    acts = ctx.outdoor_activities
    at_risk = bool(reasons or acts)
    level = _level(lvl.name, at_risk)
    undetermined = ctx.age is None and not at_risk
    if level is None and undetermined:
        level = Level.INFO
    if level is None:
        return RuleResult()
    hi_f = heat.c_to_f(hi_c)
    src = hi_read or t
    where = f" {where_text(src)}" if src is not None else ""
    why = [f"Heat index {hi_c:.1f} Cel ({hi_f:.0f} F){where}: NWS level {lvl.name} "
           f"(from {lvl.lo_f:g} F)."]
    why += reasons
    why += activity_why(ctx, acts)
    if not at_risk and not undetermined:
        why.append("Nothing recorded about you adds to the risk; at this level heat can affect "
                   "anyone.")
    text = f"It is hot: the heat index is {lvl.name.lower()} level. {_EFFECT[lvl.name]} " \
           "Drink water regularly, take breaks somewhere cool or shaded, and avoid strenuous " \
           "activity in the hottest part of the day."
    if ctx.drugs:
        text += (" Some of your medicines can make heat harder to handle; do not stop or change "
                 "them on your own, but ask your clinician or pharmacist about a plan for hot "
                 "days.")
    if undetermined:
        text += (" Children and older adults are more at risk; your age is not recorded, so we "
                 "cannot tell whether that includes you.")
    if acts and level >= Level.WARN:
        text += " " + activity_advice(ctx, acts, "moving it indoors or to a cooler time of day")
    missing = list(ctx.missing) if ctx.age is None else []
    for p in (t, rh, hi_read):
        if p is not None and (note := staleness(p, ctx.now)):
            missing.append(note)
    evidence: dict[str, Any] = {
        "heat_index_c": round(hi_c, 1), "heat_index_f": round(hi_f, 1), "nws_level": lvl.name,
        "level_range_f": [lvl.lo_f, lvl.hi_f],
        "readings": [describe(p) for p in (t, rh, hi_read) if p is not None],
        "medicines": [{"display": d.display, "code": d.code, "class": d.drug_class.key,
                       "atc": d.drug_class.atc} for d in ctx.drugs],
        "risky_combination": ctx.risky_drug_combination,
    }
    return RuleResult(Advisory(
        ctx.person.id, RULE, VERSION, level, ctx.now, f"Heat: {lvl.name} (heat index "
        f"{hi_c:.0f} Cel)", text, tuple(why), evidence, CITATION, tuple(missing)))
