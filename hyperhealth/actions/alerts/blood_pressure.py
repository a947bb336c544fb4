"""Home blood pressure: hypertensive crisis at once; ACC/AHA 2017 category of the average.

Whelton PK et al. 2017 ACC/AHA guideline for high blood pressure in adults, Hypertension
2018;71:e13-e115, doi:10.1161/HYP.0000000000000065: categories normal (< 120 and < 80),
elevated (120-129 and < 80), stage 1 (130-139 or 80-89), stage 2 (>= 140 or >= 90); readings
are averaged (the guideline bases the category on an average of >= 2 readings on >= 2
occasions; for home monitoring it averages a week of morning and evening readings).
Hypertensive crisis is >= 180 systolic and/or >= 120 diastolic: one reading is enough to alert.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from hyperhealth.actions.alerts._rule import DAY_US, Rule, RuleContext, iso
from hyperhealth.actions.levels import Level
from hyperhealth.model.codes import DIASTOLIC_BP, SYSTOLIC_BP

_CATEGORIES = ("normal", "elevated", "stage 1 hypertension", "stage 2 hypertension")


def category(sbp: float, dbp: float) -> int:
    """Index into the ACC/AHA 2017 categories for one (averaged) reading.

    >>> [_CATEGORIES[category(s, d)] for s, d in ((118, 76), (125, 79), (132, 70), (128, 92))]
    ['normal', 'elevated', 'stage 1 hypertension', 'stage 2 hypertension']
    """
    if sbp >= 140 or dbp >= 90:
        return 3
    if sbp >= 130 or dbp >= 80:
        return 2
    if sbp >= 120:
        return 1
    return 0


def _days(times: list[int], enough: int) -> int:
    """Distinct days among sorted ``times``, counted up to ``enough`` (a jump per day).

    >>> _days([0, 5, DAY_US, 3 * DAY_US], 9), _days([0, DAY_US, 2 * DAY_US], 2)
    (3, 2)
    """
    days, i = 0, 0
    while i < len(times) and days < enough:
        days += 1
        i = bisect.bisect_left(times, (times[i] // DAY_US + 1) * DAY_US, i)
    return days


class BloodPressure(Rule):
    name = "blood-pressure"
    version = "1"
    codes = (SYSTOLIC_BP, DIASTOLIC_BP)
    citation = "Whelton PK et al. Hypertension 2018;71:e13-e115. doi:10.1161/HYP.0000000000000065"
    defaults: ClassVar[Mapping[str, Any]] = {
        "crisis_systolic": 180.0,
        "crisis_diastolic": 120.0,
        "average_days": 7,
        "min_readings": 4,
        "min_days": 2,
        "alert_from_category": 3,
    }

    def evaluate(self, ctx: RuleContext) -> None:
        s, d = ctx.chunk(SYSTOLIC_BP), ctx.chunk(DIASTOLIC_BP)
        # plain lists: live batches hold a reading or two, where numpy's per-call cost rules
        t, sbp = s.lists()
        td, dbp = d.lists()
        if t != td:  # not the usual case: unpaired halves
            both, i, j = np.intersect1d(s.t, d.t, assume_unique=False, return_indices=True)
            t, sbp, dbp = both.tolist(), s.v[i].tolist(), d.v[j].tolist()
        if not t:
            return  # unpaired halves of a reading are not used (one message carries both)
        p = ctx.params
        was = bool(ctx.state.get("crisis", False))
        win = ctx.state.setdefault("window", {"t": [], "s": [], "d": []})
        cat_prev = ctx.state.get("category")
        for tk, sk, dk in zip(t, sbp, dbp, strict=True):
            crisis = sk >= p["crisis_systolic"] or dk >= p["crisis_diastolic"]
            if crisis and not was:
                self.request(
                    ctx,
                    level=Level.URGENT,
                    t_us=tk,
                    key="crisis",
                    title="Blood pressure in the hypertensive-crisis range",
                    explanation=(
                        f"A home reading of {sk:g}/{dk:g} mmHg is at or above "
                        f"{p['crisis_systolic']:g}/{p['crisis_diastolic']:g} mmHg. "
                        "Repeat the measurement after a few minutes of rest; with "
                        "chest pain, breathlessness, weakness or confusion call "
                        "emergency services."
                    ),
                    evidence={
                        "systolic_mm_hg": sk,
                        "diastolic_mm_hg": dk,
                        "threshold": f">= {p['crisis_systolic']:g} and/or >= "
                        f"{p['crisis_diastolic']:g} mmHg",
                    },
                )
            elif not crisis and was:
                self.clear(
                    ctx,
                    t_us=tk,
                    key="crisis",
                    reason=f"next reading {sk:g}/{dk:g} mmHg is below the crisis range",
                )
            was = crisis
            win["t"].append(tk)
            win["s"].append(sk)
            win["d"].append(dk)
            # the window is in time order (the engine feeds each stream in order)
            old = bisect.bisect_right(win["t"], tk - int(p["average_days"] * DAY_US))
            if old:
                for name in ("t", "s", "d"):
                    del win[name][:old]
            n = len(win["t"])
            if n < p["min_readings"] or _days(win["t"], p["min_days"]) < p["min_days"]:
                continue
            ms, md = math.fsum(win["s"]) / n, math.fsum(win["d"]) / n
            cat = category(ms, md)
            high = cat >= p["alert_from_category"]
            if (cat_prev is not None and high != (cat_prev >= p["alert_from_category"])) or (
                cat_prev is None and high
            ):
                if high:
                    self.request(
                        ctx,
                        level=Level.WARN,
                        t_us=tk,
                        key="average",
                        title=f"Home blood pressure average: {_CATEGORIES[cat]}",
                        explanation=(
                            f"The average of {len(win['t'])} home readings over the last"
                            f" {p['average_days']} days is {ms:.0f}/{md:.0f} mmHg, in the"
                            f" ACC/AHA 2017 category '{_CATEGORIES[cat]}'. Share this "
                            "with your clinician."
                        ),
                        evidence={
                            "mean_systolic_mm_hg": round(ms, 1),
                            "mean_diastolic_mm_hg": round(md, 1),
                            "readings": len(win["t"]),
                            "since": iso(win["t"][0]),
                            "category": _CATEGORIES[cat],
                        },
                    )
                else:
                    self.clear(
                        ctx,
                        t_us=tk,
                        key="average",
                        reason=f"the {p['average_days']}-day average {ms:.0f}/{md:.0f} mmHg"
                        f" is now '{_CATEGORIES[cat]}'",
                    )
            cat_prev = cat
        ctx.state["crisis"] = was
        ctx.state["category"] = cat_prev
