"""What-if: the same equation recomputed with one modifiable input changed, "now vs if".

Changes (each applies only where the equation has that input, and says so otherwise):

- ``stop_smoking``: current smoker -> not smoking (QRISK3: -> ex-smoker, its own category);
- ``sbp_minus_10``: systolic BP 10 mmHg lower, treatment status unchanged;
- ``statin``: starts a moderate-intensity statin (only PREVENT has a statin input): the statin
  input is switched on *and* LDL cholesterol falls by 30 %, the lower end of the 30-49 % that
  the 2018 AHA/ACC cholesterol guideline gives for moderate-intensity statins (Grundy 2019,
  doi:10.1161/CIR.0000000000000625), total cholesterol by the same amount. Switching the input
  on alone would raise PREVENT's estimate, because its statin terms (statin and statin x
  non-HDL-C) describe people already treated, whose cholesterol was higher before; so the
  scenario needs the LDL value (``extra["ldl_c"]``);
- ``lower_cholesterol``: LDL cholesterol lower by ``ldl_drop_mg_dl`` (default 1 mmol/L =
  38.67 mg/dL, the unit in which the Cholesterol Treatment Trialists' Collaboration reports
  statin effects, Lancet 2010;376:1670-81, doi:10.1016/S0140-6736(10)61350-5); total
  cholesterol falls by the same amount and HDL is unchanged;
- ``weight_minus_5pct``: weight 5 % lower at the same height, so BMI 5 % lower (waist unchanged);
- ``more_activity``: at least 30 minutes of activity a day (only FINDRISC has that input).

The equations describe associations in observational cohorts: the difference shows the
equation's arithmetic, not the benefit a change has been shown to bring.

>>> from hyperhealth.insights.risk._pce import PCE
>>> w = what_if(PCE, {"age": 55, "sex": "male", "race": "white", "total_c": 213,
...     "hdl_c": 50, "sbp": 140, "bp_treated": False, "smoker": True, "diabetes": False})
>>> s = w.scenario("stop_smoking")
>>> s.applicable, s.now[0].value > s.after[0].value
(True, True)
>>> w.scenario("statin").reason
'pce has no statin input: the equation cannot show this change'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hyperhealth.errors import InputError
from hyperhealth.insights.risk._base import CHOL_MG_DL_PER_MMOL_L, Equation, Estimate, RiskResult
from hyperhealth.insights.risk._registry import get_equation

LDL_DROP_MG_DL = CHOL_MG_DL_PER_MMOL_L  # 1 mmol/L

ASSOCIATION_NOTE = ("What-if recomputes the same equation with one input changed. The "
                    "equation describes associations seen in observational cohorts, so the "
                    "difference is what the equation says, not the benefit the change has "
                    "been shown to bring in trials. Discuss changes with a clinician.")

CHANGES: dict[str, str] = {
    "stop_smoking": "stop smoking",
    "sbp_minus_10": "systolic blood pressure 10 mmHg lower (treatment status unchanged)",
    "statin": "start a moderate-intensity statin (LDL cholesterol 30 % lower)",
    "lower_cholesterol": "LDL cholesterol lower by {drop:.1f} mg/dL (total cholesterol "
                         "likewise, HDL unchanged)",
    "weight_minus_5pct": "weight 5 % lower (BMI 5 % lower at the same height; waist "
                         "unchanged)",
    "more_activity": "at least 30 minutes of physical activity a day",
}


@dataclass(frozen=True, slots=True)
class Scenario:
    change: str
    description: str
    applicable: bool
    reason: str = ""
    changed: Mapping[str, tuple[Any, Any]] | None = None
    now: tuple[Estimate, ...] = ()
    after: tuple[Estimate, ...] = ()
    extrapolated: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        estimates: list[dict[str, Any]] = []
        d = {"change": self.change, "description": self.description,
             "applicable": self.applicable, "reason": self.reason,
             "changed": {k: list(v) for k, v in (self.changed or {}).items()},
             "extrapolated": list(self.extrapolated), "estimates": estimates}
        for a, b in zip(self.now, self.after, strict=True):
            estimates.append({"outcome": a.outcome, "horizon_years": a.horizon_years,
                                   "label": a.label, "unit": a.unit, "now": a.value,
                                   "if": b.value, "now_display": a.display,
                                   "if_display": b.display, "change": b.value - a.value})
        return d


@dataclass(frozen=True, slots=True)
class WhatIf:
    equation: str
    base: RiskResult
    scenarios: tuple[Scenario, ...]
    limits: str
    note: str = ASSOCIATION_NOTE

    def scenario(self, change: str) -> Scenario:
        for s in self.scenarios:
            if s.change == change:
                return s
        raise KeyError(change)

    def to_dict(self) -> dict[str, Any]:
        return {"equation": self.equation, "now": self.base.to_dict(),
                "scenarios": [s.to_dict() for s in self.scenarios], "limits": self.limits,
                "note": self.note}


_Edit = Callable[[dict[str, Any], Mapping[str, Any]], str]  # edits in place; "" or why not


def _stop_smoking(v: dict[str, Any], _: Mapping[str, Any]) -> str:
    if "smoker" in v:
        if not v["smoker"]:
            return "does not smoke now"
        v["smoker"] = False
        return ""
    if "smoking" in v:
        if v["smoking"] in ("non_smoker", "ex_smoker"):
            return "does not smoke now"
        v["smoking"] = "ex_smoker"
        return ""
    return "no smoking input"


def _sbp(v: dict[str, Any], _: Mapping[str, Any]) -> str:
    if "sbp" not in v:
        return "no blood-pressure input"
    v["sbp"] = v["sbp"] - 10
    return ""


#: moderate-intensity statin: LDL-C lowered 30-49 % (Grundy 2019, Table 3); the lower end
STATIN_LDL_FRACTION = 0.30


def _statin(v: dict[str, Any], extra: Mapping[str, Any]) -> str:
    if "statin" not in v:
        return "no statin input"
    if v["statin"]:
        return "already takes a statin"
    ldl = extra.get("ldl_c")
    if ldl is None:
        return ("needs LDL cholesterol to apply the lowering a statin brings (switching the "
                "statin input on alone raises PREVENT's estimate)")
    v["statin"] = True
    v["total_c"] = v["total_c"] - STATIN_LDL_FRACTION * float(ldl)
    return ""


def _cholesterol(v: dict[str, Any], extra: Mapping[str, Any]) -> str:
    drop = float(extra.get("ldl_drop_mg_dl", LDL_DROP_MG_DL))
    if "total_c" in v:
        v["total_c"] = v["total_c"] - drop
        return ""
    if "cholesterol_hdl_ratio" in v:
        tc, hdl = extra.get("total_c"), extra.get("hdl_c")
        if tc is None or hdl is None:
            return "needs total and HDL cholesterol, not only their ratio"
        v["cholesterol_hdl_ratio"] = (tc - drop) / hdl
        return ""
    return "no cholesterol input"


def _weight(v: dict[str, Any], _: Mapping[str, Any]) -> str:
    if "bmi" not in v:
        return "no weight or BMI input"
    v["bmi"] = v["bmi"] * 0.95
    return ""


def _activity(v: dict[str, Any], _: Mapping[str, Any]) -> str:
    if "daily_activity_30min" not in v:
        return "no physical-activity input"
    if v["daily_activity_30min"]:
        return "already active at least 30 minutes a day"
    v["daily_activity_30min"] = True
    return ""


_EDITS: dict[str, _Edit] = {"stop_smoking": _stop_smoking, "sbp_minus_10": _sbp,
                            "statin": _statin, "lower_cholesterol": _cholesterol,
                            "weight_minus_5pct": _weight, "more_activity": _activity}


def what_if(equation: str | Equation, inputs: Mapping[str, Any],
            changes: Sequence[str] | None = None, *, extra: Mapping[str, Any] | None = None,
            extrapolate: bool = False) -> WhatIf:
    """Recompute ``equation`` under each change; ``extra`` may carry ``total_c``/``hdl_c``
    (for QRISK3's ratio) and ``ldl_drop_mg_dl``."""
    eq = get_equation(equation)
    extra = dict(extra or {})
    base = eq.calculate(inputs, extrapolate=extrapolate)
    names = list(changes) if changes is not None else list(CHANGES)
    out = []
    for name in names:
        if name not in _EDITS:
            raise InputError(f"no what-if change {name!r}", field="change",
                             hint=f"use one of: {', '.join(CHANGES)}")
        desc = CHANGES[name].format(drop=float(extra.get("ldl_drop_mg_dl", LDL_DROP_MG_DL)))
        v = dict(base.inputs)
        why = _EDITS[name](v, extra)
        if why:
            reason = (f"{eq.id} has {why}: the equation cannot show this change"
                      if why.startswith("no ") else why)
            out.append(Scenario(name, desc, False, reason))
            continue
        changed = {k: (base.inputs[k], v[k]) for k in v if v[k] != base.inputs[k]}
        try:
            after = eq.calculate(v, extrapolate=extrapolate)
        except InputError as exc:
            out.append(Scenario(name, desc, False, f"the changed value is outside the "
                                f"equation's range: {exc}", changed))
            continue
        out.append(Scenario(name, desc, True, "", changed, base.estimates, after.estimates,
                            after.extrapolated))
    return WhatIf(eq.id, base, tuple(out), eq.limits)
