"""Tachycardia and bradycardia at rest, on heart rate taken with no steps before it.

Rates from the guidelines' definitions: tachycardia > 100 beats/min (Page RL et al. 2015
ACC/AHA/HRS guideline for supraventricular tachycardia, Circulation 2016;133:e506-e574,
doi:10.1161/CIR.0000000000000311) and sinus bradycardia < 50 beats/min (Kusumoto FM et al.
2018 ACC/AHA/HRS guideline on bradycardia, Circulation 2019;140:e382-e482,
doi:10.1161/CIR.0000000000000628). The guideline notes that rates in the 40s are common in
sleep and in trained people, so bradycardia is informational, is not looked for between
midnight and 07:00 local time (the overnight window NightSignal uses), and a clinician can lower
it.
The 10-minute duration is our choice to avoid alerts on single beats; it is a parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from hyperhealth.actions.alerts._episodes import track
from hyperhealth.actions.alerts._rule import (
    MINUTE_US,
    RESTING_HR,
    Rule,
    RuleContext,
    iso,
    local_hour,
)
from hyperhealth.actions.levels import Level


class RestingRate(Rule):
    name = "heart-rate-at-rest"
    version = "1"
    codes = (RESTING_HR,)
    citation = (
        "Page RL et al. Circulation 2016;133:e506-e574 (tachycardia > 100/min); "
        "Kusumoto FM et al. Circulation 2019;140:e382-e482 (bradycardia < 50/min)"
    )
    defaults: ClassVar[Mapping[str, Any]] = {
        "tachycardia_above": 100.0,
        "bradycardia_below": 50.0,
        "minutes": 10,
        "end_minutes": 10,
        "max_gap_minutes": 5,
        "night_end_hour": 7,
    }

    def evaluate(self, ctx: RuleContext) -> None:
        c = ctx.chunk(RESTING_HR)
        if not len(c):
            return
        p = ctx.params
        awake_hours = local_hour(c.t, ctx.subject.tz) >= p["night_end_hour"]
        common = {
            "min_on_us": int(p["minutes"] * MINUTE_US),
            "min_off_us": int(p["end_minutes"] * MINUTE_US),
            "step_us": MINUTE_US,
            "max_gap_us": int(p["max_gap_minutes"] * MINUTE_US),
        }
        for key, cond, level, lower, limit, word in (
            (
                "tachycardia",
                c.v > p["tachycardia_above"],
                Level.WARN,
                False,
                p["tachycardia_above"],
                "above",
            ),
            (
                "bradycardia",
                (c.v < p["bradycardia_below"]) & awake_hours,
                Level.INFO,
                True,
                p["bradycardia_below"],
                "below",
            ),
        ):
            st = ctx.state.setdefault(key, {})
            for tr in track(st, c.t, c.v, cond, lower=lower, **common):
                if tr.started:
                    minutes = round((tr.t_us + MINUTE_US - tr.since_us) / MINUTE_US)
                    self.request(
                        ctx,
                        level=level,
                        t_us=tr.t_us,
                        key=key,
                        title=f"Heart rate at rest {word} {limit:g}/min",
                        explanation=(
                            f"While you were not moving, your heart rate stayed {word} "
                            f"{limit:g} beats per minute for {minutes} minutes "
                            f"({'highest' if not lower else 'lowest'} {tr.extreme:g})."
                        ),
                        evidence={
                            "extreme_per_min": tr.extreme,
                            "since": iso(tr.since_us),
                            "threshold_per_min": limit,
                            "minutes": minutes,
                            "at_rest": "no steps in the preceding 10 minutes",
                        },
                    )
                else:
                    self.clear(
                        ctx,
                        t_us=tr.t_us,
                        key=key,
                        reason=f"back within range for {p['end_minutes']} minutes",
                    )
