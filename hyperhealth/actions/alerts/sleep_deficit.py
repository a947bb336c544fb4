"""Short sleep over the last week.

Watson NF et al. Recommended amount of sleep for a healthy adult: a joint consensus statement of
the American Academy of Sleep Medicine and Sleep Research Society. Sleep 2015;38:843-844,
doi:10.5665/sleep.4716: adults should sleep 7 or more hours per night on a regular basis.
We average the sleep periods logged over the last ``nights`` nights (a parameter).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from hyperhealth.actions.alerts._rule import DAY_US, SLEEP_MINUTES, Rule, RuleContext
from hyperhealth.actions.levels import Level


class SleepDeficit(Rule):
    name = "sleep-deficit"
    version = "1"
    codes = (SLEEP_MINUTES,)
    citation = "Watson NF et al. Sleep 2015;38:843-844. doi:10.5665/sleep.4716"
    defaults: ClassVar[Mapping[str, Any]] = {"min_hours": 7.0, "nights": 7, "min_nights": 5}

    def evaluate(self, ctx: RuleContext) -> None:
        c = ctx.chunk(SLEEP_MINUTES)
        p, st = ctx.params, ctx.state
        hist: list[list[float]] = st.setdefault("sleeps", [])  # [end_us, minutes]
        short = bool(st.get("short", False))
        for t, minutes in zip(c.t.tolist(), c.v.tolist(), strict=True):
            hist.append([t, minutes])
            start = t - int(p["nights"]) * DAY_US
            hist[:] = [h for h in hist if h[0] > start]
            # sleep per night: periods ending on the same UTC day are added up (naps included)
            per_day: dict[int, float] = {}
            for end, m in hist:
                per_day[int(end // DAY_US)] = per_day.get(int(end // DAY_US), 0.0) + m
            if len(per_day) < p["min_nights"]:
                continue
            avg_h = float(np.mean(list(per_day.values()))) / 60
            if avg_h < p["min_hours"] and not short:
                short = True
                self.request(
                    ctx,
                    level=Level.INFO,
                    t_us=t,
                    title=f"Less than {p['min_hours']:g} hours of sleep on average",
                    explanation=(
                        f"Over the last {len(per_day)} nights you slept {avg_h:.1f} hours"
                        f" on average; adults are advised to sleep {p['min_hours']:g} "
                        "hours or more regularly."
                    ),
                    evidence={
                        "average_hours": round(avg_h, 2),
                        "nights": len(per_day),
                        "threshold_hours": p["min_hours"],
                    },
                )
            elif avg_h >= p["min_hours"] and short:
                short = False
                self.clear(ctx, t_us=t, reason=f"average back to {avg_h:.1f} hours")
        st["short"] = short
