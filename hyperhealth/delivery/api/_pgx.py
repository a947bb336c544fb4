"""Pharmacogenomics: a person's PGx results, and a check of a proposed prescription against them.

Wire with ``app.include_router(_pgx.router)``. Results come from the person's stored genotype
upload (``Store.genotype_uploads``), computed on request and cached in the process.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field, model_validator

from hyperhealth.delivery.api._deps import StoreDep
from hyperhealth.delivery.api._errors import ApiError, responses
from hyperhealth.delivery.api._guard import Rule, rule
from hyperhealth.security._model import Category

router = APIRouter(prefix="/api/persons", tags=["pharmacogenomics"])


class PrescriptionCheck(BaseModel):
    """A proposed prescription: a drug name (or product text) or an RxNorm ingredient code."""

    drug: str | None = Field(default=None, description="e.g. 'clopidogrel' or "
                                                       "'clopidogrel 75 MG Oral Tablet'")
    rxnorm: str | None = Field(default=None, description="RxNorm ingredient code, e.g. 32968")

    @model_validator(mode="after")
    def _one(self) -> PrescriptionCheck:
        if not (self.drug or self.rxnorm):
            raise ValueError("give 'drug' or 'rxnorm'")
        return self


class PrescriptionAnswer(BaseModel):
    person_id: str
    drug: str
    has_pgx_results: bool = Field(description="false when the person has no genotype upload")
    action: str = Field(description="avoid, consider_alternative, adjust_dose, see_guideline, "
                                    "use_as_directed, no_recommendation or no_data")
    summary: str
    actionable: bool
    phenotypes: dict[str, str]
    missing_genes: list[str]
    dose_note: str
    strength: list[dict[str, str]]
    cpic_level: str
    citation: str
    pmids: list[str]
    guideline_url: str
    disclaimer: str


def _pgx(store: Any, person_id: str) -> Any:
    from hyperhealth.errors import InputError
    from hyperhealth.insights.pgx._person import person_pgx

    try:
        return person_pgx(store, person_id)
    except InputError as err:
        raise ApiError(422, "Genotype file unusable", err.message, where=err.where,
                       fix=err.hint or "upload a GRCh38 VCF for this person") from None


@router.get("/{person_id}/pgx", responses=responses(404, 422), summary="PGx results")
@rule(Rule("person", (Category.GENOMICS,)))
def get_pgx(person_id: str, store: StoreDep) -> dict[str, Any]:
    """Diplotypes, phenotypes, drug guidance and what could not be called, from the person's
    stored VCF. 404 when the person has no genotype upload."""
    report = _pgx(store, person_id)
    if report is None:
        raise ApiError(404, "No genotype", f"person {person_id!r} has no usable genotype upload",
                       where=f"path: person_id={person_id}",
                       fix="import a GRCh38 VCF with 'hyperhealth ingest FILE.vcf --person "
                           f"{person_id}'")
    d: dict[str, Any] = report.to_dict()
    d["person_id"] = person_id
    return d


@router.post("/{person_id}/pgx/check-prescription", response_model=PrescriptionAnswer,
             responses=responses(404, 422), summary="Check a proposed prescription")
@rule(Rule("person", (Category.GENOMICS, Category.MEDICATIONS)))
def check_prescription(person_id: str, body: PrescriptionCheck,
                       store: StoreDep) -> PrescriptionAnswer:
    """What the CPIC guideline says about this drug for this person's genotype, before it is
    prescribed. ``has_pgx_results`` is false (and ``action`` ``no_data``) without a genotype."""
    from hyperhealth.errors import InputError
    from hyperhealth.insights.pgx import DISCLAIMER
    from hyperhealth.insights.pgx._person import check_prescription as check

    drug = body.rxnorm or body.drug or ""
    try:
        rec, has = check(store, person_id, drug)
    except InputError as err:
        raise ApiError(422, "Invalid input", err.message,
                       where="body." + ("rxnorm" if body.rxnorm else "drug"),
                       fix=err.hint or "give a drug name or RxNorm ingredient code") from None
    return PrescriptionAnswer(
        person_id=person_id, drug=rec.drug, has_pgx_results=has, action=rec.action,
        summary=rec.summary, actionable=rec.actionable, phenotypes=dict(rec.phenotypes),
        missing_genes=list(rec.missing_genes), dose_note=rec.dose_note,
        strength=[dict(s) for s in rec.strength], cpic_level=rec.cpic_level,
        citation=rec.citation, pmids=list(rec.pmids), guideline_url=rec.guideline_url,
        disclaimer=DISCLAIMER)
