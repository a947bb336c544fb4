"""Pollen, for people with allergic conditions: National Allergy Bureau (NAB) count levels.

Levels, grains per cubic metre of air over 24 hours, per pollen type (AAAAI National Allergy
Bureau, as published with NAB reports, e.g. pollenandmold.stlouisco.com "Pollen Levels" and
Canton City Public Health): trees - low 1-14, moderate 15-89, high 90-1499, very high 1500 and
more; grasses - low 1-4, moderate 5-19, high 20-199, very high 200 and more; weeds - low 1-9,
moderate 10-49, high 50-499, very high 500 and more. What they mean (NAB): low - only people
extremely sensitive to this pollen have symptoms; moderate - many people sensitive to it do;
high - most people with any sensitivity to it do; very high - almost all of them do, and
extremely sensitive people could have severe symptoms.

The levels are per type, so a total count without the plant type ("pollen") cannot be placed on
the scale: it is reported as not checked rather than guessed. Typed counts use the codes
``pollen-tree``, ``pollen-grass`` and ``pollen-weed`` (/m3).

Who it concerns: people with allergic rhinitis or a recorded pollen allergy, and people with
asthma (pollen matters for them if it triggers their asthma). Project levels (our choice):
allergic rhinitis or pollen allergy -> moderate INFO, high or very high WARN; asthma only ->
high or very high INFO.

>>> nab_level("grass", 25).name, nab_level("tree", 25).name
('High', 'Moderate')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hyperhealth.actions.advisories._advisory import Advisory
from hyperhealth.actions.advisories._common import RuleResult, join
from hyperhealth.actions.advisories._context import PersonContext
from hyperhealth.actions.advisories._environment import describe, reading, staleness, where_text
from hyperhealth.actions.levels import Level
from hyperhealth.insights.exposure import CurrentEnvironment

RULE = "pollen"
VERSION = "1"
CITATION = ("AAAAI National Allergy Bureau pollen count levels (grains/m3, 24 h) per tree, "
            "grass and weed pollen, as published with NAB reports")
CODES = {"tree": "pollen-tree", "grass": "pollen-grass", "weed": "pollen-weed"}


@dataclass(frozen=True, slots=True)
class NabLevel:
    name: str
    lo: float  # lowest count in the level, grains/m3
    meaning: str  # our words


_MEANING = {
    "Low": "only people who are extremely sensitive to this pollen have symptoms",
    "Moderate": "many people who are sensitive to this pollen have symptoms",
    "High": "most people with any sensitivity to this pollen have symptoms",
    "Very High": "almost everyone with any sensitivity to this pollen has symptoms, and very "
                 "sensitive people can have severe ones",
}
_LOWER_BOUNDS = {"tree": (1, 15, 90, 1500), "grass": (1, 5, 20, 200), "weed": (1, 10, 50, 500)}
LEVELS: dict[str, tuple[NabLevel, ...]] = {
    kind: tuple(NabLevel(name, lo, _MEANING[name])
                for name, lo in zip(("Low", "Moderate", "High", "Very High"), bounds,
                                    strict=True))
    for kind, bounds in _LOWER_BOUNDS.items()
}


def nab_level(kind: str, count: float) -> NabLevel | None:
    """The NAB level of a count of ``kind`` pollen; ``None`` when none was counted."""
    found = None
    for lvl in LEVELS[kind]:
        if count >= lvl.lo:
            found = lvl
    return found


def _reasons(ctx: PersonContext, kind: str) -> tuple[list[str], list[str]]:
    """(firm reasons, reasons that hold only if pollen triggers the condition)."""
    firm = [f"{text}: your recorded allergy to {k} pollen." if k == kind
            else f"{text}: a recorded pollen allergy."
            for k, text in ctx.pollen_allergies if k in (kind, None)]
    firm += [f"{r.text}: allergic rhinitis is often triggered by pollen."
             for r in ctx.groups.get("allergic_rhinitis", [])]
    maybe = [f"{r.text}: pollen can trigger asthma in people who are allergic to it."
             for r in ctx.groups.get("asthma", [])]
    return firm, maybe


def check(ctx: PersonContext, env: CurrentEnvironment | None) -> RuleResult:
    if env is None or not env.values:
        return RuleResult(unchecked="no environment data near the person")
    typed = {k: reading(env, c) for k, c in CODES.items() if reading(env, c) is not None}
    if not typed:
        if reading(env, "pollen") is not None:
            return RuleResult(unchecked="a pollen count without the plant type was found; the NAB "
                                        "levels are per type (tree, grass, weed), so it was not "
                                        "rated")
        return RuleResult(unchecked="no pollen count near the person in the last 24 hours")
    best: tuple[Level, int, str, NabLevel, list[str]] | None = None
    rated: list[dict[str, Any]] = []
    for kind, p in typed.items():
        assert p is not None
        lvl = nab_level(kind, p.exposure.value)
        rated.append({"type": kind, "nab_level": lvl.name if lvl else "None counted",
                      "reading": describe(p)})
        if lvl is None or lvl.name == "Low":
            continue
        firm, maybe = _reasons(ctx, kind)
        if not firm and not maybe:
            continue
        high = lvl.name in ("High", "Very High")
        level = (Level.WARN if high else Level.INFO) if firm else (Level.INFO if high else None)
        if level is None:
            continue
        rank = (level, LEVELS[kind].index(lvl), kind, lvl, firm + maybe)
        if best is None or rank[:2] > best[:2]:
            best = rank
    if best is None:
        return RuleResult()
    level, _, kind, lvl, reasons = best
    p = typed[kind]
    assert p is not None
    why = [f"{kind.capitalize()} pollen {p.exposure.value:g} grains/m3 {where_text(p)}: NAB "
           f"level {lvl.name} (from {lvl.lo:g}) - {lvl.meaning}.", *reasons]
    missing = [n for q in typed.values() if q is not None and (n := staleness(q, ctx.now))]
    others = [r["type"] for r in rated if r["type"] != kind and r["nab_level"] in
              ("Moderate", "High", "Very High")]
    text = (f"{kind.capitalize()} pollen is {lvl.name.lower()}: {lvl.meaning}. If pollen "
            "affects you, consider spending less time outdoors while counts are high, and keep "
            "to the treatment plan agreed with your clinician.")
    if others:
        text += f" {join(o.capitalize() for o in others)} pollen is raised too."
    evidence = {"type": kind, "count": p.exposure.value, "unit": "grains/m3",
                "nab_level": lvl.name, "level_from": lvl.lo,
                "levels": {k: [(x.name, x.lo) for x in LEVELS[k]] for k in typed},
                "rated": rated}
    return RuleResult(Advisory(
        ctx.person.id, RULE, VERSION, level, ctx.now,
        f"{kind.capitalize()} pollen {lvl.name.lower()}", text, tuple(why), evidence, CITATION,
        tuple(missing)))
