"""Polygenic scores from PGS Catalog scoring files and a person's VCF.

Read a scoring file, match its rows to the VCF (position or rsID, alleles, strand), sum
dosage x weight per sample, report coverage, and place the score in a reference distribution of
one ancestry group. The sums equal ``plink2 --score`` on the same variants (see
``docs/validation.md``). A polygenic score describes inherited tendency relative to a reference
group; it supports, and does not replace, a clinician's assessment.

>>> import hyperhealth.insights.prs as prs
>>> sorted(prs.__all__)[:3]
['AncestryStats', 'Coverage', 'Placement']
"""

from hyperhealth.insights.prs._match import STATUSES, is_ambiguous, resolve
from hyperhealth.insights.prs._reference import (
    AncestryStats,
    Placement,
    ReferenceStats,
    ReferenceVcf,
)
from hyperhealth.insights.prs._score import (
    Coverage,
    PrsResult,
    SampleScore,
    ScoreOptions,
    score_vcf,
)
from hyperhealth.insights.prs._scorefile import (
    ScoreRow,
    ScoringFile,
    parse_scoring_file,
    read_scoring_file,
)

__all__ = [
    "STATUSES", "AncestryStats", "Coverage", "Placement", "PrsResult", "ReferenceStats",
    "ReferenceVcf", "SampleScore", "ScoreOptions", "ScoreRow", "ScoringFile", "is_ambiguous",
    "parse_scoring_file", "read_scoring_file", "resolve", "score_vcf",
]
