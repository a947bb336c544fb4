"""No data from a continuous stream for too long (watch off, sensor lost, phone out of range).

An operational rule, not a clinical one: the silence limit is a setting (default 60 minutes for
heart rate, 20 minutes for CGM, the signal-loss delay CGM makers commonly default to). The alert
time is the moment the limit passed, both live (clock tick) and in replay (found when data
resumes), so replay reproduces live alerts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from hyperhealth.actions.alerts._rule import MINUTE_US, Rule, RuleContext, iso
from hyperhealth.actions.levels import Level
from hyperhealth.model.codes import CGM_GLUCOSE, HEART_RATE, METRICS

_NAMES = {HEART_RATE: "heart rate", CGM_GLUCOSE: "CGM glucose"}


class DeviceSilence(Rule):
    name = "device-silence"
    version = "1"
    codes = (HEART_RATE, CGM_GLUCOSE)
    citation = "operational setting (not a clinical threshold)"
    defaults: ClassVar[Mapping[str, Any]] = {"minutes": {HEART_RATE: 60, CGM_GLUCOSE: 20}}
    on_tick = True

    def evaluate(self, ctx: RuleContext) -> None:
        limits = ctx.params["minutes"]
        for code in self.codes:
            st = ctx.state.setdefault(code, {})
            limit = int(limits.get(code, 60)) * MINUTE_US
            c = ctx.chunk(code)
            last = st.get("last")
            if len(c):
                t = c.t if last is None else np.concatenate(([int(last)], c.t))
                for i in np.flatnonzero(np.diff(t) > limit).tolist():
                    gap = int(t[i + 1] - t[i])
                    if not (i == 0 and last is not None and st.get("silent")):
                        self._silent(ctx, code, int(t[i]), limit)  # not yet raised by a tick
                    self.clear(
                        ctx,
                        t_us=int(t[i + 1]),
                        key=code,
                        reason=f"{_NAMES[code]} data resumed after {gap / MINUTE_US:.0f} minutes",
                    )
                if last is not None and st.get("silent") and int(c.t[0]) - int(last) <= limit:
                    self.clear(
                        ctx, t_us=int(c.t[0]), key=code, reason=f"{_NAMES[code]} data resumed"
                    )
                st["silent"] = False
                st["last"] = int(c.t[-1])
            elif not ctx.data and last is not None and not st.get("silent") \
                    and ctx.now_us - int(last) > limit:  # a clock tick, not other streams
                self._silent(ctx, code, int(last), limit)
                st["silent"] = True

    def _silent(self, ctx: RuleContext, code: str, last: int, limit: int) -> None:
        name = _NAMES.get(code, METRICS[code].display if code in METRICS else code)
        self.request(
            ctx,
            level=Level.INFO,
            t_us=last + limit,
            key=code,
            title=f"No {name} data for {limit // MINUTE_US} minutes",
            explanation=(
                f"The last {name} reading arrived at {iso(last)[:16]} UTC. Check that "
                "the device is worn, charged and connected."
            ),
            evidence={"last_reading": iso(last), "limit_minutes": limit // MINUTE_US},
        )
