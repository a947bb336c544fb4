"""Sensor faults: flat lines, impossible jumps and dropouts in continuous streams.

Operational data-quality rules, not clinical thresholds: a living person's heart rate or
interstitial glucose does not stay at exactly one value for a long time, cannot change faster
than physiology allows, and a worn sensor reports at its usual rate. The limits are settings
(docs/methods.md gives the reasoning): flat for 30 minutes (heart rate) or 60 minutes (CGM);
faster than 40 beats/min per second or 10 mg/dL per minute; an hour with fewer than half the
stream's usual readings while the stream is not silent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from hyperhealth.actions.alerts._rule import HOUR_US, MINUTE_US, Chunk, Rule, RuleContext, iso, runs
from hyperhealth.actions.levels import Level
from hyperhealth.model.codes import CGM_GLUCOSE, HEART_RATE

_SPEC = {HEART_RATE: ("heart rate", "/min"), CGM_GLUCOSE: ("CGM glucose", "mg/dL")}


class SensorFaults(Rule):
    name = "sensor-faults"
    version = "1"
    codes = (HEART_RATE, CGM_GLUCOSE)
    citation = "operational data-quality setting (not a clinical threshold)"
    defaults: ClassVar[Mapping[str, Any]] = {
        "flat_minutes": {HEART_RATE: 30, CGM_GLUCOSE: 60},
        "max_rate_per_minute": {HEART_RATE: 2400.0, CGM_GLUCOSE: 10.0},
        "dropout_fraction": 0.5,
        "usual_hours": 168,
    }

    def evaluate(self, ctx: RuleContext) -> None:
        for code in self.codes:
            c = ctx.chunk(code)
            if len(c):
                st = ctx.state.setdefault(code, {})
                self._flat(ctx, code, c, st)
                self._jumps(ctx, code, c, st)
                self._dropouts(ctx, code, c, st)
                st["prev"] = [int(c.t[-1]), float(c.v[-1])]

    def _flat(self, ctx: RuleContext, code: str, c: Chunk, st: dict[str, Any]) -> None:
        limit = int(ctx.params["flat_minutes"][code]) * MINUTE_US
        prev = st.get("flat")  # [value, since_us, alerted]
        t, v = c.t, c.v
        change = np.flatnonzero(np.diff(v) != 0) + 1
        starts = np.concatenate(([0], change))
        ends = np.append(change, len(v))
        name, unit = _SPEC[code]
        # only runs that can matter: the first (may continue a long one) and the one after it,
        # long ones and those after them (may clear them), and the last (carried over)
        long_runs = np.flatnonzero(t[ends - 1] - t[starts] >= limit)
        todo = sorted({0, 1, len(starts) - 1, *long_runs.tolist(),
                       *(k + 1 for k in long_runs.tolist())} & set(range(len(starts))))
        last_k, last_alerted = -1, False
        for k in todo:
            a, b = int(starts[k]), int(ends[k])
            if k == 0 and prev is not None and prev[0] == v[0]:
                since, alerted = int(prev[1]), bool(prev[2])
            else:
                was = (
                    bool(prev[2])
                    if k == 0 and prev is not None
                    else (last_k == k - 1 and last_alerted)
                )
                if was:
                    self.clear(
                        ctx, t_us=int(t[a]), key=f"flat:{code}", reason=f"{name} values vary again"
                    )
                since, alerted = int(t[a]), False
            if not alerted and int(t[b - 1]) - since >= limit:
                i = a + int(np.searchsorted(t[a:b], since + limit))
                self.request(
                    ctx,
                    level=Level.INFO,
                    t_us=int(t[min(i, b - 1)]),
                    key=f"flat:{code}",
                    title=f"{name.capitalize()} sensor reports a flat line",
                    explanation=(
                        f"The {name} has read exactly {v[a]:g} {unit} since "
                        f"{iso(since)[:16]} UTC; a sensor problem is likely."
                    ),
                    evidence={
                        "value": float(v[a]),
                        "since": iso(since),
                        "limit_minutes": limit // MINUTE_US,
                    },
                )
                alerted = True
            last_k, last_alerted = k, alerted
            prev = [float(v[a]), since, alerted]
        st["flat"] = prev

    def _jumps(self, ctx: RuleContext, code: str, c: Chunk, st: dict[str, Any]) -> None:
        prev = st.get("prev")
        t = c.t if prev is None else np.concatenate(([prev[0]], c.t))
        v = c.v if prev is None else np.concatenate(([prev[1]], c.v))
        if len(t) < 2:
            return
        dt_min = np.maximum(np.diff(t), 1) / MINUTE_US
        rate = np.abs(np.diff(v)) / dt_min
        bad = rate > float(ctx.params["max_rate_per_minute"][code])
        name, unit = _SPEC[code]
        for a, _b in runs(bad):
            self.request(
                ctx,
                level=Level.INFO,
                t_us=int(t[a + 1]),
                key=f"jump:{code}",
                title=f"Impossible jump in {name}",
                explanation=(
                    f"{name.capitalize()} went from {v[a]:g} to {v[a + 1]:g} "
                    f"{unit} in {dt_min[a] * 60:.0f} seconds, faster than the "
                    "body can change; the reading is probably an artefact."
                ),
                evidence={
                    "from": float(v[a]),
                    "to": float(v[a + 1]),
                    "seconds": round(float(dt_min[a] * 60), 1),
                    "max_rate_per_minute": ctx.params["max_rate_per_minute"][code],
                },
            )

    def _dropouts(self, ctx: RuleContext, code: str, c: Chunk, st: dict[str, Any]) -> None:
        hours, counts = np.unique(c.t // HOUR_US, return_counts=True)
        open_h = st.get("hour")  # [hour, count]
        seq = [[int(h), int(n)] for h, n in zip(hours.tolist(), counts.tolist(), strict=True)]
        if open_h is not None:
            if seq and seq[0][0] == open_h[0]:
                seq[0][1] += open_h[1]
            else:
                seq.insert(0, open_h)
        usual: list[int] = st.setdefault("usual", [])
        name, _ = _SPEC[code]
        for h, n in seq[:-1]:  # all but the newest hour are complete
            if len(usual) >= 24:
                typical = float(np.median(usual))
                low = n < ctx.params["dropout_fraction"] * typical
                if low and not st.get("dropout"):
                    self.request(
                        ctx,
                        level=Level.INFO,
                        t_us=(h + 1) * HOUR_US - 1,
                        key=f"dropout:{code}",
                        title=f"{name.capitalize()} dropouts",
                        explanation=(
                            f"Only {n} {name} readings arrived in the hour from "
                            f"{iso(h * HOUR_US)[11:16]} UTC, against a usual "
                            f"{typical:.0f}; the sensor may be loose."
                        ),
                        evidence={
                            "readings": n,
                            "usual_per_hour": typical,
                            "hour_start": iso(h * HOUR_US),
                        },
                    )
                elif not low and st.get("dropout"):
                    self.clear(
                        ctx,
                        t_us=(h + 1) * HOUR_US - 1,
                        key=f"dropout:{code}",
                        reason="readings arrive at the usual rate again",
                    )
                st["dropout"] = bool(low)
            usual.append(n)
            del usual[: -int(ctx.params["usual_hours"])]
        st["hour"] = seq[-1] if seq else open_h
