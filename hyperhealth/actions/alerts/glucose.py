"""CGM glucose: urgent low, low, high, prolonged high and a predicted low.

Thresholds and event definitions are from the international consensus on CGM metrics
(Battelino T et al., Diabetes Care 2019;42:1593-1603, doi:10.2337/dci19-0028): level 2
hypoglycaemia < 54 mg/dL, level 1 < 70 mg/dL, level 2 hyperglycaemia > 250 mg/dL; an event
needs >= 15 consecutive minutes beyond the threshold and ends after >= 15 consecutive minutes
back in range. The consensus calls > 120 minutes an *extended* event; we use the same duration
for a prolonged high. The predicted low projects the last ``trend_minutes`` of readings
linearly (least squares) ``predict_minutes`` ahead and alerts when the projection stays below
the low threshold for ``predict_confirm_minutes``; the method and its settings are ours (tuned
on the synthetic cohort, see docs/validation.md) and are stated in each alert. It also needs
glucose to be *falling*, at least ``predict_min_fall_mg_dl_per_min``: a CGM shows a change of
less than 1 mg/dL per minute as steady (Dexcom G5 trend arrows as described by Laffel LM et
al. J Endocr Soc 2017;1(12):1461-1476, doi:10.1210/js.2017-00389), and on noisy sensors a
near-flat line projected 30 minutes ahead was most of the false alerts (docs/validation.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from hyperhealth.actions.alerts._episodes import track
from hyperhealth.actions.alerts._rule import MINUTE_US, Rule, RuleContext, iso
from hyperhealth.actions.levels import Level
from hyperhealth.model.codes import CGM_GLUCOSE

_CITE = "Battelino T et al. Diabetes Care 2019;42:1593-1603. doi:10.2337/dci19-0028"


class Glucose(Rule):
    name = "glucose"
    version = "2"  # 2: the predicted low needs a falling trend (>= 1 mg/dL/min)
    codes = (CGM_GLUCOSE,)
    citation = _CITE
    defaults: ClassVar[Mapping[str, Any]] = {
        "urgent_low_mg_dl": 54.0,
        "low_mg_dl": 70.0,
        "high_mg_dl": 250.0,
        "event_minutes": 15,
        "end_minutes": 15,
        "prolonged_high_minutes": 120,
        "predict_minutes": 30,
        "predict_confirm_minutes": 15,
        "trend_minutes": 30,
        "predict_min_fall_mg_dl_per_min": 1.0,  # "falling" on a CGM's trend arrow
        "reading_minutes": 5,
        "max_gap_minutes": 15,
    }

    def evaluate(self, ctx: RuleContext) -> None:
        c = ctx.chunk(CGM_GLUCOSE)
        if not len(c):
            return
        p = ctx.params
        step = int(p["reading_minutes"] * MINUTE_US)
        common = {
            "min_off_us": int(p["end_minutes"] * MINUTE_US),
            "step_us": step,
            "max_gap_us": int(p["max_gap_minutes"] * MINUTE_US),
        }
        on_us = int(p["event_minutes"] * MINUTE_US)
        checks: list[tuple[str, Any, Level, int, bool, str]] = [
            (
                "urgent-low",
                c.v < p["urgent_low_mg_dl"],
                Level.URGENT,
                on_us,
                True,
                f"below {p['urgent_low_mg_dl']:g} mg/dL (level 2 hypoglycaemia)",
            ),
            (
                "low",
                c.v < p["low_mg_dl"],
                Level.WARN,
                on_us,
                True,
                f"below {p['low_mg_dl']:g} mg/dL (level 1 hypoglycaemia)",
            ),
            (
                "high",
                c.v > p["high_mg_dl"],
                Level.WARN,
                on_us,
                False,
                f"above {p['high_mg_dl']:g} mg/dL (level 2 hyperglycaemia)",
            ),
            (
                "prolonged-high",
                c.v > p["high_mg_dl"],
                Level.WARN,
                int(p["prolonged_high_minutes"] * MINUTE_US),
                False,
                f"above {p['high_mg_dl']:g} mg/dL for {p['prolonged_high_minutes']} minutes",
            ),
        ]
        for key, cond, level, min_on, lower, what in checks:
            st = ctx.state.setdefault(key, {})
            for tr in track(st, c.t, c.v, cond, min_on_us=min_on, lower=lower, **common):
                minutes = round((tr.t_us + step - tr.since_us) / MINUTE_US)
                if tr.started:
                    self.request(
                        ctx,
                        level=level,
                        t_us=tr.t_us,
                        key=key,
                        title=f"Glucose {what}",
                        explanation=(
                            f"Glucose has been {what} for {minutes} minutes; the lowest"
                            if lower
                            else f"Glucose has been {what} for {minutes} minutes; the highest"
                        )
                        + f" reading was {tr.extreme:g} mg/dL.",
                        evidence={
                            "extreme_mg_dl": tr.extreme,
                            "since": iso(tr.since_us),
                            "threshold_mg_dl": _threshold(p, key),
                            "minutes": minutes,
                            "event_minutes": min_on // MINUTE_US,
                        },
                    )
                else:
                    self.clear(
                        ctx, t_us=tr.t_us, key=key, reason=f"back in range for {minutes} minutes"
                    )
        self._predicted_low(ctx, c.t, c.v, step, common)

    def _predicted_low(
        self, ctx: RuleContext, t: np.ndarray, v: np.ndarray, step: int, common: dict[str, int]
    ) -> None:
        p = ctx.params
        window = int(p["trend_minutes"] * MINUTE_US)
        tail = ctx.state.get("tail", {"t": [], "v": []})
        tt = np.concatenate((np.asarray(tail["t"], np.int64), t))
        vv = np.concatenate((np.asarray(tail["v"], np.float64), v))
        k = max(3, int(window // step))  # readings in the trend window
        n_old = len(tail["t"])
        if len(tt) >= k:
            wt = np.lib.stride_tricks.sliding_window_view(tt, k).astype(np.float64)
            wv = np.lib.stride_tricks.sliding_window_view(vv, k)
            x = (wt - wt[:, -1:]) / MINUTE_US  # minutes relative to the newest reading
            xm, ym = x.mean(1), wv.mean(1)
            sxx = ((x - xm[:, None]) ** 2).sum(1)
            slope = ((x - xm[:, None]) * (wv - ym[:, None])).sum(1) / np.where(sxx > 0, sxx, 1)
            ok = (wt[:, -1] - wt[:, 0]) <= window + common["max_gap_us"]
            proj = wv[:, -1] + slope * p["predict_minutes"]
            # windows ending at each new reading (the first k-1 readings ever have none)
            ends = np.arange(k - 1, len(tt))
            sel = ends >= n_old
            cur, pr, sl = wv[sel, -1], proj[sel], slope[sel]
            cond = ok[sel] & (pr < p["low_mg_dl"]) & (cur >= p["low_mg_dl"]) & (
                sl <= -p["predict_min_fall_mg_dl_per_min"])
            te = tt[ends[sel]]
            st = ctx.state.setdefault("predicted-low", {})
            for tr in track(
                st,
                te,
                pr,
                cond,
                lower=True,
                min_on_us=int(p["predict_confirm_minutes"] * MINUTE_US),
                **common,
            ):
                i = int(np.searchsorted(te, tr.t_us))
                if tr.started:
                    self.request(
                        ctx,
                        level=Level.WARN,
                        t_us=tr.t_us,
                        key="predicted-low",
                        title=f"Glucose may fall below {p['low_mg_dl']:g} mg/dL within "
                        f"{p['predict_minutes']} minutes",
                        explanation=(
                            f"Glucose is {cur[i]:g} mg/dL and falling {abs(sl[i]):.1f} mg/dL per"
                            f" minute over the last {p['trend_minutes']} minutes; at that rate it"
                            f" would be {pr[i]:.0f} mg/dL in {p['predict_minutes']} minutes. This"
                            " is a straight-line projection, not a certainty."
                        ),
                        evidence={
                            "current_mg_dl": float(cur[i]),
                            "slope_mg_dl_per_min": round(float(sl[i]), 3),
                            "projected_mg_dl": round(float(pr[i]), 1),
                            "threshold_mg_dl": p["low_mg_dl"],
                            "method": "least-squares line over the trend window",
                            "min_fall_mg_dl_per_min": p["predict_min_fall_mg_dl_per_min"],
                        },
                    )
                else:
                    self.clear(
                        ctx,
                        t_us=tr.t_us,
                        key="predicted-low",
                        reason="the projected value is back above the low threshold",
                    )
        keep = k - 1
        ctx.state["tail"] = {"t": tt[-keep:].tolist(), "v": vv[-keep:].tolist()}


def _threshold(p: Any, key: str) -> float:
    return float(
        p["urgent_low_mg_dl"]
        if key == "urgent-low"
        else p["low_mg_dl"]
        if key == "low"
        else p["high_mg_dl"]
    )
