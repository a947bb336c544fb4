"""Oxygen saturation (pulse oximetry) below the NEWS2 bands.

Royal College of Physicians. National Early Warning Score (NEWS) 2, 2017, SpO2 scale 1:
<= 91 % scores 3 (a single red score calls for an urgent response), 92-93 % scores 2. People
with confirmed hypercapnic respiratory failure use scale 2 (target 88-92 %): a clinician sets
that per person by lowering the thresholds. To keep a single artefact from alerting, the value
must hold over two consecutive readings at least a minute apart (our rule, not NEWS2's).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from hyperhealth.actions.alerts._episodes import track
from hyperhealth.actions.alerts._rule import MINUTE_US, Rule, RuleContext, iso
from hyperhealth.actions.levels import Level
from hyperhealth.model.codes import SPO2


class Desaturation(Rule):
    name = "spo2"
    version = "1"
    codes = (SPO2,)
    citation = (
        "Royal College of Physicians. National Early Warning Score (NEWS) 2. London: RCP, 2017"
    )
    defaults: ClassVar[Mapping[str, Any]] = {
        "severe_max_pct": 91.0,
        "low_max_pct": 93.0,
        "confirm_minutes": 2,
        "end_minutes": 10,
        "max_gap_minutes": 90,
    }

    def evaluate(self, ctx: RuleContext) -> None:
        c = ctx.chunk(SPO2)
        if not len(c):
            return
        p = ctx.params
        common = {
            "min_on_us": int(p["confirm_minutes"] * MINUTE_US),
            "min_off_us": int(p["end_minutes"] * MINUTE_US),
            "step_us": MINUTE_US,
            "max_gap_us": int(p["max_gap_minutes"] * MINUTE_US),
        }
        for key, limit, level in (
            ("severe", p["severe_max_pct"], Level.URGENT),
            ("low", p["low_max_pct"], Level.WARN),
        ):
            st = ctx.state.setdefault(key, {})
            for tr in track(st, c.t, c.v, c.v <= limit, lower=True, **common):
                if tr.started:
                    self.request(
                        ctx,
                        level=level,
                        t_us=tr.t_us,
                        key=key,
                        title=f"Oxygen saturation at or below {limit:g} %",
                        explanation=(
                            f"Pulse oximetry has read {limit:g} % or less since "
                            f"{iso(tr.since_us)[11:16]} UTC (lowest {tr.extreme:g} %). "
                            "Check the sensor fit; if it is right and you feel unwell "
                            "or breathless, seek care."
                        ),
                        evidence={
                            "lowest_pct": tr.extreme,
                            "since": iso(tr.since_us),
                            "threshold_pct": limit,
                            "scale": "NEWS2 scale 1",
                        },
                    )
                else:
                    self.clear(
                        ctx,
                        t_us=tr.t_us,
                        key=key,
                        reason=f"above {limit:g} % for {p['end_minutes']} minutes",
                    )
