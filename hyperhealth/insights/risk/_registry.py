"""The equations by id, and one entry point to compute any of them.

>>> sorted(EQUATIONS)[:3]
['cha2ds2_vasc', 'ckd_epi_2021_cr', 'ckd_epi_2021_cr_cys']
>>> calculate("cha2ds2_vasc", {"age": 80, "sex": "male", "heart_failure": False,
...     "hypertension": False, "diabetes": False, "stroke_tia": False,
...     "vascular_disease": False}).estimates[0].value
2.0
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hyperhealth.errors import InputError
from hyperhealth.insights.risk._base import Equation, RiskResult
from hyperhealth.insights.risk._cha2ds2vasc import CHA2DS2_VASC
from hyperhealth.insights.risk._ckd_epi import CKD_EPI_CR, CKD_EPI_CR_CYS
from hyperhealth.insights.risk._findrisc import FINDRISC
from hyperhealth.insights.risk._pce import PCE
from hyperhealth.insights.risk._pce_revised import PCE_REVISED
from hyperhealth.insights.risk._prevent import PREVENT
from hyperhealth.insights.risk._qrisk3 import QRISK3

EQUATIONS: dict[str, Equation] = {e.id: e for e in (
    PCE, PCE_REVISED, PREVENT, QRISK3, FINDRISC, CKD_EPI_CR, CKD_EPI_CR_CYS, CHA2DS2_VASC)}


def get_equation(equation: str | Equation) -> Equation:
    """The equation with this id (an :class:`Equation` is returned as it is)."""
    if isinstance(equation, Equation):
        return equation
    eq = EQUATIONS.get(equation.strip().lower().replace("-", "_"))
    if eq is None:
        raise InputError(f"no equation {equation!r}", field="equation",
                         hint=f"use one of: {', '.join(sorted(EQUATIONS))}")
    return eq


def calculate(equation: str | Equation, inputs: Mapping[str, Any], *,
              extrapolate: bool = False) -> RiskResult:
    """Compute ``equation`` for one set of inputs (validated against its declared ranges)."""
    return get_equation(equation).calculate(inputs, extrapolate=extrapolate)
