"""The risk package's public surface is what ``__all__`` says, and every equation is described."""

from __future__ import annotations

import hyperhealth.insights.risk as risk


def test_exports_resolve_and_are_the_intended_ones() -> None:
    for name in risk.__all__:
        assert getattr(risk, name) is not None, name
    assert {"calculate", "assemble_inputs", "risk_for_person", "what_if", "prs_enhancer",
            "EQUATIONS"} <= set(risk.__all__)


def test_every_equation_declares_units_ranges_and_citations() -> None:
    assert set(risk.EQUATIONS) == {"pce", "pce_revised", "prevent", "qrisk3", "findrisc",
                                   "ckd_epi_2021_cr", "ckd_epi_2021_cr_cys", "cha2ds2_vasc"}
    for eq in risk.EQUATIONS.values():
        assert eq.citations and all(c.doi for c in eq.citations), eq.id
        assert eq.limits, eq.id
        for s in eq.inputs:
            if s.kind == "number":
                assert s.hard is not None, (eq.id, s.name)
            if s.kind == "choice":
                assert s.choices, (eq.id, s.name)
        d = eq.describe()
        assert d["inputs"] and d["citations"]
