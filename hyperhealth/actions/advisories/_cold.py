"""Cold: wind chill (NWS / Environment Canada formula) and Environment Canada's risk bands.

Wind chill: the 2001 NWS formula (weather.gov/safety/cold-wind-chill-chart; the index adopted
jointly by the NWS and the Meteorological Service of Canada), with T in F and V (wind at 10 m)
in mph, ``35.74 + 0.6215 T - 35.75 V**0.16 + 0.4275 T V**0.16``, defined for T <= 50 F and
V >= 3 mph. In calm air (V < 3 mph) the wind chill is the air temperature.

Bands (wind chill in Cel, whole degrees), Environment and Climate Change Canada, *Canada's wind
chill index* (canada.ca/en/environment-climate-change/services/weather-health/
wind-chill-cold-weather/wind-chill-index.html), hazard table: 0 to -9 low risk; -10 to -27 risk
of hypothermia if outside for long periods without adequate protection; -28 to -39 exposed skin
can freeze in 10-30 minutes; -40 to -47 in 5-10 minutes; -48 to -54 in 2-5 minutes; -55 and
colder in under 2 minutes (outdoor conditions hazardous); faster in sustained winds over
50 km/h. Those at greater risk (ECCC, *Wind chill and cold weather*): young children, older
adults, people with chronic illnesses, people working or exercising outdoors.

Without a wind reading the air temperature is used: it is the wind chill in calm air, and wind
only makes it colder, so the band found is the mildest that can apply (the advice says so).

Project levels (our choice): -10 to -27 -> INFO for a person with a risk factor or outdoor
plans, nothing otherwise; -28 to -47 -> WARN; -48 and colder -> URGENT.

>>> round(wind_chill_f(0, 15))   # the NWS chart: 0 F with 15 mph wind feels like -19 F
-19
>>> band(-30).freeze
'10-30 minutes'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hyperhealth.actions.advisories._advisory import Advisory
from hyperhealth.actions.advisories._common import RuleResult, activity_advice, activity_why, join
from hyperhealth.actions.advisories._context import PersonContext
from hyperhealth.actions.advisories._environment import describe, reading, staleness, where_text
from hyperhealth.actions.levels import Level
from hyperhealth.insights.exposure import CurrentEnvironment
from hyperhealth.model.heat import c_to_f, f_to_c

RULE = "cold"
VERSION = "1"
CITATION = ("Wind chill: NWS wind chill chart and formula (2001), weather.gov/safety/"
            "cold-wind-chill-chart; risk bands: Environment and Climate Change Canada, Canada's "
            "wind chill index, canada.ca/en/environment-climate-change/services/weather-health/"
            "wind-chill-cold-weather/wind-chill-index.html; groups at risk: ECCC, Wind chill and "
            "cold weather")
WIND_CODE = "wind-speed"
KMH_PER_MPH = 1.609344  # exact (international mile)
_TO_KMH = {"km/h": 1.0, "m/s": 3.6, "[mi_i]/h": KMH_PER_MPH, "mph": KMH_PER_MPH,
           "[kn_i]": 1.852}


def wind_chill_f(t_f: float, v_mph: float) -> float:
    """NWS wind chill (F); the air temperature where the formula is not defined
    (T > 50 F or V < 3 mph)."""
    if t_f > 50.0 or v_mph < 3.0:
        return t_f
    p = v_mph ** 0.16
    return 35.74 + 0.6215 * t_f - 35.75 * p + 0.4275 * t_f * p


def wind_chill_c(t_c: float, v_kmh: float) -> float:
    """Wind chill in Cel from air temperature (Cel) and wind at 10 m (km/h)."""
    return f_to_c(wind_chill_f(c_to_f(t_c), v_kmh / KMH_PER_MPH))


@dataclass(frozen=True, slots=True)
class Band:
    upper: int  # warmest whole-degree wind chill in the band
    freeze: str  # how fast exposed skin can freeze ("" = not a frostbite band)
    risk: str  # our words


BANDS: tuple[Band, ...] = (  # ECCC hazard table, coldest first
    Band(-55, "under 2 minutes", "Outdoor conditions are hazardous: exposed skin can freeze "
                                 "in under 2 minutes."),
    Band(-48, "2-5 minutes", "Exposed skin can freeze in 2 to 5 minutes, and there is a serious "
                             "risk of hypothermia with long exposure."),
    Band(-40, "5-10 minutes", "Exposed skin can freeze in 5 to 10 minutes."),
    Band(-28, "10-30 minutes", "Exposed skin can freeze in 10 to 30 minutes."),
    Band(-10, "", "There is a risk of hypothermia when outside for long periods without enough "
                  "protection."),
)


def band(wc_c: float) -> Band | None:
    """The ECCC band of a wind chill (rounded half away from zero to whole degrees)."""
    w = int(math.copysign(math.floor(abs(wc_c) + 0.5), wc_c))
    return next((b for b in BANDS if w <= b.upper), None)


def _kmh(value: float, unit: str) -> float | None:
    f = _TO_KMH.get(unit)
    return None if f is None else value * f


def check(ctx: PersonContext, env: CurrentEnvironment | None) -> RuleResult:
    if env is None or not env.values:
        return RuleResult(unchecked="no environment data near the person")
    t = reading(env, "air-temperature")
    if t is None:
        return RuleResult(unchecked="no air-temperature reading near the person in the last "
                                    "24 hours")
    w = reading(env, WIND_CODE)
    notes = []
    v_kmh = _kmh(w.exposure.value, w.exposure.unit) if w is not None else None
    if w is not None and v_kmh is None:
        notes.append(f"wind speed in unit {w.exposure.unit!r} not understood; calm air assumed")
    t_c = t.exposure.value
    wc = wind_chill_c(t_c, v_kmh) if v_kmh is not None else t_c
    b = band(wc)
    if b is None:
        return RuleResult(notes=tuple(notes))
    acts = ctx.outdoor_activities
    reasons = []
    if ctx.child:
        reasons.append(f"Young children are more at risk in the cold (ECCC); {ctx.age_text()}.")
    if ctx.older:
        reasons.append(f"Older adults are more at risk in the cold (ECCC); {ctx.age_text()}.")
    for key in ("heart_disease", "lung_disease", "diabetes", "kidney_disease"):
        for r in ctx.groups.get(key, []):
            reasons.append(f"{r.text}: people with chronic illnesses are more at risk in the "
                           "cold (ECCC).")
    at_risk = bool(reasons or acts)
    if b.upper == -10:
        level = Level.INFO if at_risk or ctx.age is None else None
    else:
        level = Level.URGENT if b.upper <= -48 else Level.WARN
    if level is None:
        return RuleResult(notes=tuple(notes))
    if v_kmh is not None and v_kmh / KMH_PER_MPH >= 3.0 and t_c <= f_to_c(50.0):
        what = (f"Wind chill {wc:.0f} Cel (air {t_c:g} Cel, wind {v_kmh:.0f} km/h) "
                f"{where_text(t)}")
    else:
        what = f"Air temperature {t_c:g} Cel {where_text(t)}"
    why = [f"{what}: {b.risk} (ECCC wind chill bands).", *reasons, *activity_why(ctx, acts)]
    missing = list(notes)
    if w is None:
        missing.append("no wind reading: the air temperature was used, which is the wind chill "
                       "in calm air; any wind makes it feel colder and skin freeze faster")
    if ctx.age is None:
        missing += ctx.missing
    for p in (t, w):
        if p is not None and (note := staleness(p, ctx.now)):
            missing.append(note)
    text = (f"It is very cold. {b.risk} Dress in warm layers with a wind-resistant outer layer, "
            "and cover exposed skin (hat, mittens, scarf or face cover).")
    if b.upper <= -48:
        text += " Be ready to cut outdoor activities short or cancel them."
    if b.upper <= -55:
        text = f"It is dangerously cold. {b.risk} Stay indoors if you can."
    if acts and level >= Level.WARN:
        text += " " + activity_advice(ctx, acts, "moving it indoors or keeping it short")
    if not at_risk and ctx.age is None and b.upper == -10:
        text += (" Young children and older adults are more at risk; your age is not recorded, "
                 "so we cannot tell whether that includes you.")
    evidence: dict[str, Any] = {
        "wind_chill_c": round(wc, 1), "air_temperature_c": t_c,
        "wind_kmh": round(v_kmh, 1) if v_kmh is not None else None,
        "band_upper_c": b.upper, "skin_can_freeze_in": b.freeze or None,
        "readings": [describe(p) for p in (t, w) if p is not None],
        "at_risk_groups_matched": join(r.split(";")[0] for r in reasons) or None,
    }
    return RuleResult(Advisory(
        ctx.person.id, RULE, VERSION, level, ctx.now,
        f"Cold: wind chill {wc:.0f} Cel" if w is not None else f"Cold: {t_c:g} Cel",
        text, tuple(why), evidence, CITATION, tuple(dict.fromkeys(missing))),
        notes=tuple(notes))
