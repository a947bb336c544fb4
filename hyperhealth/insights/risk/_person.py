"""Every applicable equation for one person, from their profile.

An equation is *not applicable* when the person is outside what it was made for (the
primary-prevention equations and established cardiovascular disease, FINDRISC and existing
diabetes, CHA2DS2-VASc without atrial fibrillation), *incomplete* when inputs are missing, *out
of range* when an input is outside the equation's range, and *computed* otherwise. Each run
carries the assembled inputs (used, missing, imputed, with their records) and the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hyperhealth.errors import InputError
from hyperhealth.insights.risk._assemble import AssembledInputs, Facts, assemble_inputs
from hyperhealth.insights.risk._base import RiskResult
from hyperhealth.insights.risk._codes import ESTABLISHED_CVD
from hyperhealth.insights.risk._enhancer import DEFAULT_HIGH_PERCENTILE, RiskEnhancer, prs_enhancer
from hyperhealth.insights.risk._registry import EQUATIONS
from hyperhealth.insights.risk._whatif import WhatIf, what_if
from hyperhealth.store import Store

_PRIMARY_PREVENTION = ("pce", "pce_revised", "prevent", "qrisk3")
#: 2018 AHA/ACC cholesterol guideline: LDL-C >= 190 mg/dL calls for a statin without a risk
#: estimate (Grundy 2019, doi:10.1161/CIR.0000000000000625)
LDL_NO_ESTIMATE_MG_DL = 190.0


@dataclass(frozen=True, slots=True)
class EquationRun:
    equation: str
    name: str
    status: str  # computed | not applicable | incomplete | out of range
    reason: str
    inputs: AssembledInputs | None
    result: RiskResult | None = None
    what_if: WhatIf | None = None
    enhancer: RiskEnhancer | None = None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"equation": self.equation, "name": self.name, "status": self.status,
                "reason": self.reason,
                "inputs": self.inputs.to_dict() if self.inputs else None,
                "result": self.result.to_dict() if self.result else None,
                "what_if": self.what_if.to_dict() if self.what_if else None,
                "enhancer": self.enhancer.to_dict() if self.enhancer else None,
                "notes": list(self.notes)}


@dataclass(frozen=True, slots=True)
class PersonRisk:
    person_id: str
    as_of: datetime
    runs: tuple[EquationRun, ...]
    notes: tuple[str, ...]

    def run(self, equation: str) -> EquationRun:
        for r in self.runs:
            if r.equation == equation:
                return r
        raise KeyError(equation)

    def to_dict(self) -> dict[str, Any]:
        return {"person_id": self.person_id, "as_of": self.as_of.isoformat(),
                "runs": [r.to_dict() for r in self.runs], "notes": list(self.notes)}


def _why_not(eid: str, f: Facts) -> str:
    if f.person.deceased is not None:
        return "the person is recorded as deceased"
    found = f.found
    if eid in _PRIMARY_PREVENTION:
        cvd = [n.replace("_", " ") for n in ESTABLISHED_CVD if found.get(n) and found[n].value]
        if cvd:
            return (f"established cardiovascular disease on record ({', '.join(cvd)}): this "
                    "equation is for people without it")
    if eid == "findrisc" and found.get("diabetes_any") and found["diabetes_any"].value:
        return "the person has diabetes: FINDRISC estimates the risk of developing it"
    if eid == "cha2ds2_vasc" and not (found.get("af") and found["af"].value):
        return "no atrial fibrillation on record: CHA2DS2-VASc is for people with AF"
    if eid == "ckd_epi_2021_cr_cys" and "cystatin_c" not in found:
        return "no cystatin C on record (the creatinine equation is used instead)"
    return ""


def risk_for_person(store: Store, person_id: str, *, as_of: datetime | None = None,
                    given: Mapping[str, Any] | None = None, what_ifs: bool = True,
                    prs_percentile: float | None = None,
                    prs_high_from: float = DEFAULT_HIGH_PERCENTILE) -> PersonRisk:
    """Run every applicable equation for ``person_id``.

    ``given``: answers not in the records (e.g. ``{"daily_vegetables": True}``); each equation
    takes the ones it has. ``prs_percentile``: a coronary polygenic-score percentile (from the
    polygenic-score module or elsewhere) shown as a risk-enhancer label next to the 10-year
    ASCVD estimates.
    """
    facts = Facts(store, person_id, as_of)
    given = dict(given or {})
    runs = []
    for eid, eq in EQUATIONS.items():
        why = _why_not(eid, facts)
        if why:
            runs.append(EquationRun(eid, eq.name, "not applicable", why, None))
            continue
        mine = {k: v for k, v in given.items() if k in eq.input_names}
        inputs = assemble_inputs(store, person_id, eid, given=mine, facts=facts)
        notes = []
        ldl = inputs.extra.get("ldl_c")
        if eid in ("pce", "pce_revised") and ldl is not None and ldl >= LDL_NO_ESTIMATE_MG_DL:
            notes.append(f"LDL cholesterol {ldl:g} mg/dL (>= 190): the 2018 AHA/ACC guideline "
                         "recommends statin therapy without estimating risk first")
        if inputs.missing:
            names = ", ".join(m.name for m in inputs.missing)
            runs.append(EquationRun(eid, eq.name, "incomplete", f"missing: {names}", inputs,
                                    notes=tuple(notes)))
            continue
        try:
            result = eq.calculate(inputs.values)
        except InputError as exc:
            runs.append(EquationRun(eid, eq.name, "out of range", str(exc), inputs,
                                    notes=tuple(notes)))
            continue
        wi = what_if(eq, inputs.values, extra=inputs.extra) if what_ifs else None
        enh = None
        if prs_percentile is not None and eid in ("pce", "pce_revised", "prevent"):
            ascvd = result.estimate("ascvd", 10).value
            enh = prs_enhancer(prs_percentile, ascvd_10y=ascvd, equation=eid,
                               high_from=prs_high_from)
        runs.append(EquationRun(eid, eq.name, "computed", "", inputs, result, wi, enh,
                                tuple(notes)))
    return PersonRisk(person_id, facts.as_of, tuple(runs), tuple(facts.notes))
