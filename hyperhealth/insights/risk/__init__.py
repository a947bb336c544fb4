"""Disease risk from published equations, assembled from a person's profile, with what-if.

Each equation is one module with its coefficients and citation (``_pce``, ``_pce_revised``,
``_prevent``, ``_qrisk3``, ``_findrisc``, ``_ckd_epi``, ``_cha2ds2vasc``); every input has a
declared unit and range, and a value outside the range is an error unless extrapolation is
asked for and flagged. ``assemble_inputs`` takes the inputs from the records and says where each
came from; ``risk_for_person`` runs every applicable equation; ``what_if`` recomputes an
equation under a modifiable change. Estimates support a conversation with a clinician; they do
not replace one.

>>> from hyperhealth.insights.risk import calculate
>>> calculate("ckd_epi_2021_cr", {"age": 60, "sex": "male", "creatinine": 1.4}
...           ).estimates[0].display
'57.5 mL/min/1.73m2'
"""

from hyperhealth.insights.risk._assemble import (
    AssembledInputs,
    InputSource,
    MissingInput,
    assemble_inputs,
)
from hyperhealth.insights.risk._base import (
    Citation,
    Equation,
    Estimate,
    InputSpec,
    RiskResult,
)
from hyperhealth.insights.risk._enhancer import RiskEnhancer, prs_enhancer
from hyperhealth.insights.risk._person import EquationRun, PersonRisk, risk_for_person
from hyperhealth.insights.risk._registry import EQUATIONS, calculate, get_equation
from hyperhealth.insights.risk._whatif import CHANGES, Scenario, WhatIf, what_if

__all__ = [
    "CHANGES",
    "EQUATIONS",
    "AssembledInputs",
    "Citation",
    "Equation",
    "EquationRun",
    "Estimate",
    "InputSource",
    "InputSpec",
    "MissingInput",
    "PersonRisk",
    "RiskEnhancer",
    "RiskResult",
    "Scenario",
    "WhatIf",
    "assemble_inputs",
    "calculate",
    "get_equation",
    "prs_enhancer",
    "risk_for_person",
    "what_if",
]
