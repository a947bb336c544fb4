"""Air quality: the US EPA AQI category of each pollutant and who it affects most.

Source: US EPA, Technical Assistance Document for the Reporting of Daily Air Quality - the AQI
(TAD), EPA-454/B-24-002 (2024) for the breakpoints and categories (``model/air_quality.py``);
the sensitive groups and the cautionary statements (the actions per category) after the TAD,
EPA 454/B-18-007 (2018), Tables 3 and 4. Per category, as the TAD's cautionary statements say
(our words in the advice):

- Unhealthy for Sensitive Groups: the pollutant's sensitive groups should reduce prolonged or
  heavy exertion; nothing for anyone else.
- Unhealthy: sensitive groups avoid prolonged or heavy exertion; everyone else reduces it.
- Very Unhealthy: sensitive groups avoid all physical activity outdoors; everyone else avoids
  prolonged or heavy exertion.
- Hazardous: everyone avoids all physical activity outdoors; sensitive groups stay indoors and
  keep activity levels low.
- Good and Moderate: no advisory (the Moderate statement concerns "unusually sensitive" people,
  whom records cannot identify).

The mapping of these to the project's levels (INFO/WARN/URGENT) is the project's choice, stated
in ``docs/methods.md``: sensitive at USG -> WARN; Unhealthy -> WARN if sensitive or an outdoor
activity is planned, else INFO; Very Unhealthy -> URGENT if sensitive, else WARN; Hazardous ->
URGENT.

Readings are hourly where the TAD defines the AQI on 24-hour (PM) and 8-hour (ozone, CO)
means; the NowCast is not implemented, so the index of the newest hourly value is used and the
evidence says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hyperhealth.actions.advisories._advisory import Advisory
from hyperhealth.actions.advisories._common import RuleResult, activity_advice, activity_why, join
from hyperhealth.actions.advisories._context import AGE_CITATION, PersonContext
from hyperhealth.actions.advisories._environment import describe, staleness, where_text
from hyperhealth.actions.levels import Level
from hyperhealth.errors import InputError
from hyperhealth.insights.exposure import CurrentEnvironment, PersonExposure
from hyperhealth.model import air_quality as aq

RULE = "air-quality"
VERSION = "1"
CITATION = (aq.CITATION + "; sensitive groups and cautionary statements after the TAD "
            "EPA 454/B-18-007 (2018), Tables 3 and 4; age groups: " + AGE_CITATION)
USG, UNHEALTHY, VERY_UNHEALTHY, HAZARDOUS = 2, 3, 4, 5
_APPROX = ("index of the newest hourly value; the TAD defines the AQI on 24-hour (PM2.5, PM10, "
           "SO2 24 h) and 8-hour (ozone, CO) means, and the NowCast is not implemented")
_NOT_RECORDED = {"lower_ses", "genetic_variants", "nutrient_poor_diet"}


@dataclass(frozen=True, slots=True)
class Pollutant:
    scale: str  # key of aq.SCALES
    value: float
    index: int | None  # None: beyond the top of the table
    category: int  # index into aq.CATEGORIES
    reading: PersonExposure | None

    @property
    def display(self) -> str:
        return aq.SCALES[self.scale].display if self.scale in aq.SCALES else "an unnamed pollutant"

    @property
    def groups(self) -> tuple[str, ...]:
        if self.scale in aq.SCALES:
            return aq.SCALES[self.scale].sensitive_groups
        return tuple(aq.SENSITIVE_GROUPS)  # pollutant unknown: every group

    def row(self) -> str:
        """The Table 6 row the value fell in, e.g. '125.5-225.4 ug/m3 -> 201-300'."""
        s = aq.SCALES.get(self.scale)
        if s is None:
            return ""
        c = aq.truncate(self.scale, self.value)
        for bp in s.rows:
            if bp.c_lo <= c <= bp.c_hi:
                return f"{bp.c_lo}-{bp.c_hi} {s.unit} -> {bp.i_lo}-{bp.i_hi}"
        return f"above {s.rows[-1].c_hi} {s.unit} (beyond the AQI)"


def _category_of(index: int) -> int:
    return next(i for i, c in enumerate(aq.CATEGORIES) if c.lo <= index <= c.hi)


_ABOVE = {"o3_8h": "o3_1h", "so2": "so2_24h"}


def _index(scale: str, value: float) -> tuple[str, int | None] | None:
    """(scale used, sub-index or None beyond the table); None where no index is defined."""
    s = aq.SCALES[scale]
    if aq.truncate(scale, value) > s.rows[-1].c_hi:
        if scale in _ABOVE:  # the TAD: above these rows the other averaging period decides
            return _index(_ABOVE[scale], value)
        return scale, None
    i = aq.sub_index(scale, value)
    return None if i is None else (scale, i)


def pollutants(env: CurrentEnvironment) -> tuple[list[Pollutant], list[str]]:
    """Each pollutant reading with its sub-index and category; notes for unusable ones."""
    out, notes = [], []
    for code, p in sorted(env.values.items()):
        scale = aq.SCALE_FOR_CODE.get(code)
        if scale is None:
            continue
        try:
            got = _index(scale, p.exposure.value)
        except InputError as exc:
            notes.append(f"{code} reading not used: {exc}")
            continue
        if got is None:
            continue
        used, i = got
        cat = HAZARDOUS if i is None or i > 500 else _category_of(i)
        out.append(Pollutant(used, p.exposure.value, i, cat, p))
    if not out and "aqi" in env.values:
        p = env.values["aqi"]
        i = int(p.exposure.value)
        cat = HAZARDOUS if i > 500 else _category_of(max(i, 0))
        out.append(Pollutant("unknown", float(i), i, cat, p))
        notes.append("only the overall AQI was available, not the pollutant behind it: every "
                     "pollutant's sensitive groups were considered")
    return out, notes


def _person_groups(ctx: PersonContext) -> dict[str, list[str]]:
    """AQI sensitive-group key -> why the person is in it."""
    g: dict[str, list[str]] = {}
    for key in ("heart_disease", "lung_disease", "asthma"):
        if key in ctx.groups:
            g[key] = [r.text for r in ctx.groups[key]]
    if ctx.older:
        g["older_adults"] = [ctx.age_text()]
    if ctx.child:
        g["children"] = [ctx.age_text()]
    if ctx.outdoor_activities:
        g["active_outdoors"] = [a.describe(ctx.tz) for a in ctx.outdoor_activities]
    return g


def _level(cat: int, sensitive: bool, undetermined: bool, active: bool) -> Level | None:
    if cat >= HAZARDOUS:
        return Level.URGENT
    if cat == VERY_UNHEALTHY:
        return Level.URGENT if sensitive else Level.WARN
    if cat == UNHEALTHY:
        return Level.WARN if sensitive or active else Level.INFO
    if cat == USG:
        if sensitive:
            return Level.WARN
        return Level.INFO if undetermined else None
    return None


_PM_ADVICE = {  # (category, sensitive) -> what to do; TAD particle-pollution statements
    (HAZARDOUS, True): "Stay indoors and keep your activity light.",
    (HAZARDOUS, False): "Avoid all physical activity outdoors.",
    (VERY_UNHEALTHY, True): "Avoid all physical activity outdoors today.",
    (VERY_UNHEALTHY, False): "Avoid long or strenuous activity outdoors today.",
    (UNHEALTHY, True): "Avoid long or strenuous activity outdoors today.",
    (UNHEALTHY, False): "Cut down on long or strenuous activity outdoors today.",
    (USG, True): "Cut down on long or strenuous activity outdoors today; take more breaks and "
                 "choose lighter activities.",
}
_O3_ADVICE = _PM_ADVICE | {  # where the TAD ozone statements differ
    (HAZARDOUS, True): "Avoid all physical activity outdoors.",
    (VERY_UNHEALTHY, False): "Cut down on physical activity outdoors today.",
}


def advice(scale: str, category: int, sensitive: bool) -> str | None:
    """What to do, in our words after the TAD cautionary statements (ozone has its own;
    CO, NO2 and SO2 use the particle-pollution ones)."""
    table = _O3_ADVICE if scale.startswith("o3") else _PM_ADVICE
    return table.get((min(category, HAZARDOUS), sensitive))


def check(ctx: PersonContext, env: CurrentEnvironment | None) -> RuleResult:
    if env is None or not env.values:
        return RuleResult(unchecked="no environment data near the person")
    polls, notes = pollutants(env)
    if not polls:
        return RuleResult(unchecked="no air-quality reading (PM2.5, PM10, ozone, NO2, SO2, CO "
                                    "or AQI) near the person in the last 24 hours",
                          notes=tuple(notes))
    mine = _person_groups(ctx)
    active = bool(ctx.outdoor_activities)
    scored = []
    for p in polls:
        matched = [k for k in p.groups if k in mine]
        undetermined = (not matched and ctx.age is None
                        and bool({"children", "older_adults"} & set(p.groups)))
        lvl = _level(p.category, bool(matched), undetermined, active)
        scored.append((lvl, p, matched, undetermined))
    firing = [s for s in scored if s[0] is not None]
    if not firing:
        return RuleResult(notes=tuple(notes))
    level, worst, matched, undetermined = max(
        firing, key=lambda s: (s[0], s[1].category, s[1].index or 10_000))
    assert level is not None
    cat = aq.CATEGORIES[worst.category]
    sensitive = bool(matched)
    why = [_measurement_why(p) for lvl, p, _, _ in firing]
    for key in matched:
        group = aq.SENSITIVE_GROUPS[key]
        why.append(f"{group[:1].upper()}{group[1:]} are among those most affected by "
                   f"{worst.display} (EPA): {join(mine[key])}.")
    if not sensitive and not undetermined:
        why.append(f"Nothing recorded about you puts you in the groups most affected by "
                   f"{worst.display}; at this level it can affect everyone.")
    acts = ctx.outdoor_activities
    if acts and "active_outdoors" not in matched:
        why += activity_why(ctx, acts)
    missing = list(notes)
    text = f"Air quality is {cat.name.lower()} because of {worst.display}"
    if undetermined:
        missing += ctx.missing
        general = advice(worst.scale, worst.category, False)
        text += "." + (f" {general}" if general else "")
        if_so = advice(worst.scale, worst.category, True) or ""
        text += (" It affects children and older adults most; your age is not recorded, so we "
                 "cannot tell whether that includes you. If it does: "
                 + if_so[:1].lower() + if_so[1:])
    else:
        text += ", and you are in a group it affects most." if sensitive else "."
        text += " " + (advice(worst.scale, worst.category, sensitive) or "")
    if acts and level >= Level.WARN:
        text += " " + activity_advice(ctx, acts, "moving it indoors, making it lighter, or "
                                                  "doing it another day")
    unknown = sorted(_NOT_RECORDED & set(worst.groups))
    if unknown:
        missing.append("not recorded, and also raising sensitivity to "
                       f"{worst.display}: " + join(aq.SENSITIVE_GROUPS[k] for k in unknown))
    for _, p, _, _ in firing:
        if p.reading is not None and (note := staleness(p.reading, ctx.now)):
            missing.append(note)
    evidence: dict[str, Any] = {
        "aqi": worst.index, "category": cat.name, "category_range": [cat.lo, cat.hi],
        "colour": cat.hex, "responsible_pollutant": worst.scale,
        "pollutants": [_pollutant_evidence(p, lvl) for lvl, p, _, _ in scored],
        "sensitive_groups": {worst.scale: [aq.SENSITIVE_GROUPS[k] for k in worst.groups]},
        "person_in_groups": {k: mine[k] for k in matched},
        "approximation": _APPROX,
    }
    title = f"Air quality {cat.name.lower()} ({worst.display}"
    title += f", AQI {worst.index})" if worst.index is not None else ", beyond the AQI)"
    return RuleResult(Advisory(
        ctx.person.id, RULE, VERSION, level, ctx.now, title, text, tuple(why), evidence,
        CITATION, tuple(dict.fromkeys(missing)), key=worst.scale), notes=tuple(notes))


def _measurement_why(p: Pollutant) -> str:
    cat = aq.CATEGORIES[p.category].name
    idx = f"AQI {p.index}" if p.index is not None else "beyond the AQI (above 500)"
    if p.scale == "unknown":
        val = "The overall AQI"
    else:
        val = f"{p.display} {p.value:g} {aq.SCALES[p.scale].unit}"
    where = f" {where_text(p.reading)}" if p.reading is not None else ""
    return f"{val}{where}: {idx}, {cat} (EPA AQI)."


def _pollutant_evidence(p: Pollutant, lvl: Level | None) -> dict[str, Any]:
    cat = aq.CATEGORIES[p.category]
    d: dict[str, Any] = {"pollutant": p.scale, "display": p.display, "value": p.value,
                         "sub_index": p.index, "category": cat.name, "row": p.row(),
                         "level_for_person": lvl.label if lvl is not None else None}
    if p.scale in aq.SCALES:
        d["averaging"] = aq.SCALES[p.scale].averaging
        d["unit"] = aq.SCALES[p.scale].unit
    if p.reading is not None:
        d["reading"] = describe(p.reading)
    return d
