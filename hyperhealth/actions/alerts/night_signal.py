"""NightSignal: overnight resting heart rate against the person's streaming median.

After Alavi A et al., Real-time alerting system for COVID-19 and other stress events using
wearable data, Nat Med 2022;28:175-184, doi:10.1038/s41591-021-01593-2 (Extended Data Fig. 3):
each night's average resting heart rate between midnight and 07:00 local time is compared with
the median of the previous nights' averages; a red alert needs two consecutive nights at
least 4 beats/min above that baseline (one such night is yellow). We raise the red state as an
alert, record the yellow state in the evidence, and start once ``min_nights`` of baseline exist
(our choice, a parameter).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from hyperhealth.actions.alerts._rule import RESTING_HR, Rule, RuleContext
from hyperhealth.actions.levels import Level


class NightSignal(Rule):
    name = "night-signal"
    version = "1"
    codes = (RESTING_HR,)
    citation = "Alavi A et al. Nat Med 2022;28:175-184. doi:10.1038/s41591-021-01593-2"
    defaults: ClassVar[Mapping[str, Any]] = {
        "night_end_hour": 7,
        "delta_per_min": 4.0,
        "red_nights": 2,
        "min_nights": 5,
        "max_nights": 365,
    }

    def evaluate(self, ctx: RuleContext) -> None:
        c = ctx.chunk(RESTING_HR)
        if not len(c):
            return
        p, st = ctx.params, ctx.state
        local = pd.DatetimeIndex(c.t.astype("datetime64[us]"), tz="UTC").tz_convert(ctx.subject.tz)
        day = local.normalize().tz_localize(None).values.astype("datetime64[D]").astype(np.int64)
        hour = local.hour.to_numpy()
        night = hour < p["night_end_hour"]
        # a night closes once a reading at or after its end arrives (same day or later)
        closes = np.where(night, day, day + 1)  # non-decreasing, as the readings are sorted
        days, first = np.unique(day[night], return_index=True)
        vals = c.v[night]
        sums = np.add.reduceat(vals, first).tolist() if len(vals) else []
        counts = np.diff(np.append(first, len(vals))).tolist()
        pending: list[list[Any]] = [
            [int(d), float(x), int(n)] for d, x, n in zip(days.tolist(), sums, counts, strict=True)
        ]
        cur = st.get("open")  # [day, sum, count] of the night still filling
        if cur is not None:
            if pending and pending[0][0] == cur[0]:
                pending[0][1] += cur[1]
                pending[0][2] += cur[2]
            else:
                pending.insert(0, cur)
        st["open"] = None
        for d, total, n in pending:
            i = int(np.searchsorted(closes, d, side="right"))  # first reading after that night
            if i < len(c.t):
                self._close(ctx, d, total / n, int(c.t[i]))
            else:
                st["open"] = [d, total, n]

    def _close(self, ctx: RuleContext, day: int, avg: float, t_us: int) -> None:
        p, st = ctx.params, ctx.state
        nights: list[float] = st.setdefault("nights", [])
        above = int(st.get("above", 0))
        evidence: dict[str, Any] = {
            "night": str(np.datetime64(day, "D")),
            "night_mean_per_min": round(avg, 2),
        }
        if len(nights) >= p["min_nights"]:
            base = float(np.median(nights))
            high = avg >= base + p["delta_per_min"]
            above = above + 1 if high else 0
            evidence.update(
                baseline_median=round(base, 2),
                consecutive_nights_above=above,
                state="red" if above >= p["red_nights"] else "yellow" if above else "green",
            )
            if above == p["red_nights"]:
                self.request(
                    ctx,
                    level=Level.WARN,
                    t_us=t_us,
                    evidence=evidence,
                    title="Overnight heart rate up for two nights",
                    explanation=(
                        f"Your average resting heart rate overnight was {avg:.1f}/min, at least "
                        f"{p['delta_per_min']:g}/min above your usual {base:.1f}/min, for "
                        f"{above} nights in a row. This pattern can come with an infection, and "
                        "also with stress, alcohol or travel. It is not a diagnosis."
                    ),
                )
            elif not high and st.get("red"):
                self.clear(ctx, t_us=t_us, reason="an overnight average back near baseline")
            st["red"] = above >= p["red_nights"]
        nights.append(avg)
        del nights[: -int(p["max_nights"])]
        st["above"] = above
