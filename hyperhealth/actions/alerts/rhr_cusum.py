"""Elevated resting heart rate, online CuSum over hourly resting HR (RHR-Diff / CuSum).

Method after Mishra T et al., Pre-symptomatic detection of COVID-19 from smartwatch data,
Nat Biomed Eng 2020;4:1208-1220, doi:10.1038/s41551-020-00640-6: resting heart rate is heart
rate with no steps in the preceding minutes (the engine derives it); it is averaged per hour;
each hour is standardised against the person's own baseline of the preceding 28 days, and a
one-sided CuSum of the standardised residuals raises an alarm when it crosses a decision
interval. Our choices where the paper leaves room are parameters, stated in docs/methods.md:
reference value k = 0.5 and decision interval h = 5 (in baseline SDs; the textbook CuSum
design for a one-SD shift, Montgomery, Introduction to Statistical Quality Control), the alarm
ends when the CuSum returns to 0, hours inside an alarm do not enter the baseline, and
monitoring starts once ``min_baseline_days`` of hours exist.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from hyperhealth.actions.alerts._rule import HOUR_US, RESTING_HR, Rule, RuleContext, iso
from hyperhealth.actions.levels import Level


def hourly(t: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hour index (UTC), sum and count of the values in each hour present.

    >>> h, s, n = hourly(np.array([0, 1, 3_600_000_001]), np.array([60., 62, 70]))
    >>> h.tolist(), s.tolist(), n.tolist()
    ([0, 1], [122.0, 70.0], [2, 1])
    """
    hours = t // HOUR_US
    uniq, first = np.unique(hours, return_index=True)
    sums = np.add.reduceat(v, first) if len(v) else np.empty(0)
    counts = np.diff(np.append(first, len(v)))
    return uniq, sums, counts


class RestingHrCusum(Rule):
    name = "rhr-cusum"
    version = "1"
    codes = (RESTING_HR,)
    citation = "Mishra T et al. Nat Biomed Eng 2020;4:1208-1220. doi:10.1038/s41551-020-00640-6"
    defaults: ClassVar[Mapping[str, Any]] = {
        "baseline_days": 28,
        "min_baseline_days": 7,
        "k": 0.5,
        "h": 5.0,
    }

    def evaluate(self, ctx: RuleContext) -> None:
        c = ctx.chunk(RESTING_HR)
        if not len(c):
            return
        st = ctx.state
        h, s, n = hourly(c.t, c.v)
        open_h = st.get("open")  # [hour, sum, count] of the hour still filling
        if open_h is not None and len(h) and h[0] == open_h[0]:
            s[0] += open_h[1]
            n[0] += open_h[2]
        elif open_h is not None:
            self._close(ctx, int(open_h[0]), open_h[1] / open_h[2])
        for k in range(len(h) - 1):
            self._close(ctx, int(h[k]), float(s[k] / n[k]))
        st["open"] = [int(h[-1]), float(s[-1]), int(n[-1])]

    def _close(self, ctx: RuleContext, hour: int, x: float) -> None:
        """One completed hour of resting HR enters the CuSum, then (outside alarms) the baseline."""
        p, st = ctx.params, ctx.state
        base: list[list[float]] = st.setdefault("base", [])  # [hour, mean] pairs, oldest first
        horizon = hour - int(p["baseline_days"]) * 24
        # running sums of (value - centre) over the baseline keep each hour O(1)
        centre = float(st.setdefault("centre", x))
        s1, s2 = float(st.get("s1", 0.0)), float(st.get("s2", 0.0))
        while base and base[0][0] <= horizon:
            old = base.pop(0)[1] - centre
            s1, s2 = s1 - old, s2 - old * old
        alarm = bool(st.get("alarm", False))
        cusum = float(st.get("cusum", 0.0))
        span_days = (hour - base[0][0]) / 24 if base else 0.0
        if len(base) >= 2 and span_days >= p["min_baseline_days"]:
            n = len(base)
            mu = centre + s1 / n
            sd = math.sqrt(max(0.0, (s2 - s1 * s1 / n) / (n - 1)))
            if sd > 0 and math.isfinite(sd):
                z = (x - mu) / sd
                cusum = max(0.0, cusum + z - float(p["k"]))
                t_us = (hour + 1) * HOUR_US - 1  # the hour is complete at its end
                if not alarm and cusum >= p["h"]:
                    alarm = True
                    st["alarm_start"] = hour
                    self.request(
                        ctx, level=Level.WARN, t_us=t_us, **_alert(x, mu, sd, z, cusum, p, hour)
                    )
                elif alarm and cusum == 0.0:
                    alarm = False
                    self.clear(ctx, t_us=t_us, reason="resting heart rate back at baseline")
        if not alarm:
            base.append([hour, x])
            s1, s2 = s1 + (x - centre), s2 + (x - centre) ** 2
        st["alarm"], st["cusum"], st["s1"], st["s2"] = alarm, cusum, s1, s2


def _alert(
    x: float, mu: float, sd: float, z: float, cusum: float, p: Any, hour: int
) -> dict[str, Any]:
    return {
        "title": "Resting heart rate above your usual level",
        "explanation": (
            f"Your resting heart rate has been higher than your own 28-day baseline for several "
            f"hours (latest hour {x:.1f}/min against a usual {mu:.1f} ± {sd:.1f}/min). A rise like "
            "this can come before the symptoms of an infection, and also with stress, alcohol, "
            "poor sleep or travel. Watch how you feel; it is not a diagnosis."
        ),
        "evidence": {
            "hour_start": iso(hour * HOUR_US),
            "resting_hr_per_min": round(x, 2),
            "baseline_mean": round(mu, 2),
            "baseline_sd": round(sd, 2),
            "z": round(z, 2),
            "cusum": round(cusum, 2),
            "k": p["k"],
            "h": p["h"],
            "baseline_days": p["baseline_days"],
        },
    }
