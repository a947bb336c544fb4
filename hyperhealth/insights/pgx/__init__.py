"""Pharmacogenomics: VCF -> star-allele diplotypes -> phenotypes -> CPIC-guided prescribing.

Stages, each with its own file: ``.match.json`` (named-allele matcher) -> ``.phenotype.json``
(function, activity score, phenotype; outside calls enter here) -> ``.report.json``/``.html``
(CPIC recommendations per drug, what could not be called and why).

>>> import hyperhealth.insights.pgx as pgx
>>> "run_pgx" in pgx.__all__
True
"""

from typing import Any

from hyperhealth.insights.pgx._model import (
    Diplotype,
    GeneMatch,
    GenePhenotype,
    MatchResult,
    PhenotypeResult,
)
from hyperhealth.insights.pgx._outside import OutsideCall, parse_outside_calls, read_outside_calls
from hyperhealth.insights.pgx._phenotype import phenotype, phenotype_diplotype
from hyperhealth.insights.pgx._pipeline import (
    DISCLAIMER,
    PgxCaller,
    PgxReport,
    PgxRun,
    build_report,
    load_stage,
    run_pgx,
)
from hyperhealth.insights.pgx._recommend import (
    DrugRecommendation,
    recommend,
    recommend_drug,
    resolve_drug,
)
from hyperhealth.insights.pgx._tables import tables
from hyperhealth.insights.pgx._warfarin import iwpc_weekly_dose

# loaded on first use: they pull in the FHIR models and the store/alert modules
_LAZY = {"report_bundle": "_fhir", "report_resources": "_fhir", "check_prescription": "_person",
         "medication_alerts": "_person", "person_pgx": "_person"}


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{mod}"), name)


__all__ = [
    "DISCLAIMER",
    "Diplotype",
    "DrugRecommendation",
    "GeneMatch",
    "GenePhenotype",
    "MatchResult",
    "OutsideCall",
    "PgxCaller",
    "PgxReport",
    "PgxRun",
    "PhenotypeResult",
    "build_report",
    "check_prescription",
    "iwpc_weekly_dose",
    "load_stage",
    "medication_alerts",
    "parse_outside_calls",
    "person_pgx",
    "phenotype",
    "phenotype_diplotype",
    "read_outside_calls",
    "recommend",
    "recommend_drug",
    "report_bundle",
    "report_resources",
    "resolve_drug",
    "run_pgx",
    "tables",
]
