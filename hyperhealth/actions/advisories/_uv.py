"""UV: the WHO Global Solar UV Index exposure categories.

Source: WHO, WMO, UNEP and ICNIRP, *Global Solar UV Index: A Practical Guide* (WHO/SDE/OEH/02.2,
2002): low 0-2 (no protection required), moderate 3-5 and high 6-7 (protection required: seek
shade during midday hours, cover up with clothing, a hat and sunglasses, use sunscreen), very
high 8-10 and extreme 11+ (extra protection: avoid being outside during midday hours, seek
shade; shirt, sunscreen and hat are a must). The index is reported in whole numbers, so a
reading is rounded (half up) before it is categorised.

Project levels (our choice): with an outdoor activity planned today, protection categories ->
INFO and extra-protection categories -> WARN; without one, extra-protection categories -> INFO;
otherwise no advisory.

>>> category(2.4).name, category(2.5).name, category(11).name
('Low', 'Moderate', 'Extreme')
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hyperhealth.actions.advisories._advisory import Advisory
from hyperhealth.actions.advisories._common import RuleResult, activity_advice, activity_why
from hyperhealth.actions.advisories._context import PersonContext
from hyperhealth.actions.advisories._environment import describe, reading, staleness, where_text
from hyperhealth.actions.levels import Level
from hyperhealth.insights.exposure import CurrentEnvironment

RULE = "uv"
VERSION = "1"
CITATION = ("WHO/WMO/UNEP/ICNIRP, Global Solar UV Index: A Practical Guide, WHO/SDE/OEH/02.2 "
            "(2002)")


@dataclass(frozen=True, slots=True)
class UvCategory:
    name: str
    lo: int
    protection: str  # "none", "protection", "extra"


CATEGORIES = (UvCategory("Low", 0, "none"), UvCategory("Moderate", 3, "protection"),
              UvCategory("High", 6, "protection"), UvCategory("Very High", 8, "extra"),
              UvCategory("Extreme", 11, "extra"))
_ADVICE = {
    "protection": "Protect your skin: seek shade around midday, cover up with clothing, a hat "
                  "and sunglasses, and use sunscreen on skin you cannot cover.",
    "extra": "Take extra care: avoid being outside around midday if you can, seek shade, and "
             "wear clothing, a hat, sunglasses and sunscreen.",
}


def category(uvi: float) -> UvCategory:
    """The WHO category of a UV index value."""
    whole = math.floor(uvi + 0.5)
    return [c for c in CATEGORIES if whole >= c.lo][-1]


def check(ctx: PersonContext, env: CurrentEnvironment | None) -> RuleResult:
    if env is None or not env.values:
        return RuleResult(unchecked="no environment data near the person")
    p = reading(env, "uv-index")
    if p is None:
        return RuleResult(unchecked="no UV index reading near the person in the last 24 hours")
    uvi = p.exposure.value
    cat = category(uvi)
    if cat.protection == "none":
        return RuleResult()
    acts = ctx.outdoor_activities
    extra = cat.protection == "extra"
    if acts:
        level = Level.WARN if extra else Level.INFO
    elif extra:
        level = Level.INFO
    else:
        return RuleResult()
    why = [f"UV index {uvi:g} {where_text(p)}: WHO category {cat.name}."]
    why += activity_why(ctx, acts)
    text = f"The UV index is {cat.name.lower()}. {_ADVICE[cat.protection]}"
    if acts:
        text += " " + activity_advice(ctx, acts, "doing it earlier or later in the day, in shade")
    missing = [n for n in (staleness(p, ctx.now),) if n]
    evidence = {"uv_index": uvi, "who_category": cat.name, "category_from": cat.lo,
                "protection": cat.protection, "reading": describe(p)}
    return RuleResult(Advisory(
        ctx.person.id, RULE, VERSION, level, ctx.now, f"UV index {cat.name.lower()} ({uvi:g})",
        text, tuple(why), evidence, CITATION, tuple(missing)))
