"""A high polygenic score as a risk-enhancing factor next to an equation's ASCVD estimate.

The 2018 AHA/ACC cholesterol guideline (Grundy SM et al., Circulation 2019;139:e1082-e1143,
doi:10.1161/CIR.0000000000000625, PMID 30586774) lists "risk-enhancing factors" (among them a
family history of premature ASCVD) that, in adults 40-75 at borderline (5 to < 7.5 %) or
intermediate (7.5 to < 20 %) 10-year risk by the Pooled Cohort Equations, favour starting a
statin. A polygenic score is not on that list; the AHA scientific statement on polygenic risk
scores (O'Sullivan JW et al., Circulation 2022;146:e93-e118,
doi:10.1161/CIR.0000000000001077) discusses using a high one in the same way, as an analogue
of family history.

So the label is kept separate from the number: the equation's risk is not changed, and the
label says what the score is, which threshold was used and what it does not mean. The default
threshold, the 92nd percentile, is the top 8 % in which Khera AV et al. (Nat Genet
2018;50:1219-1224, doi:10.1038/s41588-018-0183-z, PMID 30104762) found a three-fold or higher
risk of coronary artery disease with their genome-wide score; other scores need their own.

>>> e = prs_enhancer(95.0, ascvd_10y=0.09, equation="pce")
>>> e.present, e.band
(True, 'intermediate (7.5 to <20 %)')
>>> prs_enhancer(60.0).present
False
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from hyperhealth.errors import InputError
from hyperhealth.insights.risk._base import Citation
from hyperhealth.insights.risk._pce import ascvd_category

GRUNDY_2018 = Citation("Grundy SM et al. 2018 AHA/ACC Guideline on the Management of Blood "
                       "Cholesterol. Circulation 2019;139:e1082-e1143 (risk-enhancing factors)",
                       doi="10.1161/CIR.0000000000000625", pmid="30586774")
OSULLIVAN_2022 = Citation("O'Sullivan JW et al. Polygenic risk scores for cardiovascular "
                          "disease: a scientific statement from the American Heart "
                          "Association. Circulation 2022;146:e93-e118",
                          doi="10.1161/CIR.0000000000001077")
KHERA_2018 = Citation("Khera AV et al. Genome-wide polygenic scores for common diseases "
                      "identify individuals with risk equivalent to monogenic mutations. Nat "
                      "Genet 2018;50:1219-1224", doi="10.1038/s41588-018-0183-z",
                      pmid="30104762")

DEFAULT_HIGH_PERCENTILE = 92.0
#: the guideline's risk bands refer to the Pooled Cohort Equations
_PCE_BANDED = ("pce", "pce_revised")


@dataclass(frozen=True, slots=True)
class RiskEnhancer:
    present: bool
    label: str
    percentile: float
    high_from: float
    band: str
    detail: str
    citations: tuple[Citation, ...]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["citations"] = [str(c) for c in self.citations]
        return d


def prs_enhancer(percentile: float, *, ascvd_10y: float | None = None, equation: str = "",
                 high_from: float = DEFAULT_HIGH_PERCENTILE, ancestry_note: str = ""
                 ) -> RiskEnhancer:
    """Label a polygenic-score percentile (0-100, within the person's ancestry reference).

    ``ascvd_10y`` and ``equation`` (the 10-year ASCVD estimate and which equation gave it) let
    the label say which guideline band the person is in; bands are given for PCE only.
    """
    for name, x in (("percentile", percentile), ("high_from", high_from)):
        if not 0 <= x <= 100:
            raise InputError(f"{name} {x:g} is not a percentile", field=name,
                             hint="give a number from 0 to 100")
    present = percentile >= high_from
    band = ascvd_category(ascvd_10y) if ascvd_10y is not None and \
        equation in _PCE_BANDED else ""
    if present:
        label = (f"risk enhancer: high polygenic score (percentile {percentile:g} >= "
                 f"{high_from:g})")
        detail = ("A high polygenic score is treated like a family history of premature "
                  "ASCVD, a risk-enhancing factor; it does not change the equation's number.")
        if band.startswith(("borderline", "intermediate")):
            detail += (" At borderline or intermediate 10-year risk the 2018 guideline says "
                       "risk-enhancing factors favour discussing a statin with a clinician.")
        elif band:
            detail += f" The equation's 10-year risk band is {band}."
    else:
        label = f"polygenic score percentile {percentile:g}: below {high_from:g}, not flagged"
        detail = "Not a risk-enhancing factor at the threshold used."
    detail += (" The threshold is the top 8 % of Khera 2018's coronary score; a percentile "
               "is only meaningful against a reference of the person's own ancestry.")
    if ancestry_note:
        detail += f" {ancestry_note}"
    return RiskEnhancer(present, label, percentile, high_from, band, detail,
                        (GRUNDY_2018, OSULLIVAN_2022, KHERA_2018))
