"""PGx results as FHIR R4 resources in the style of the HL7 Genomics Reporting IG.

One genotype Observation per called gene (LOINC 84413-4 "Genotype display name", component
48018-6 "Gene studied"), one phenotype Observation per gene with a phenotype (LOINC 53040-2
"Genetic variation's effect on drug metabolism"), one therapeutic-implication Observation per
actionable drug (LOINC 51963-7 "Medication assessed" component), and a DiagnosticReport
(LOINC 51969-4 "Genetic analysis report") that lists them. Every resource is a
``fhir.resources.R4B`` model, so it is validated on construction.

>>> from hyperhealth.insights.pgx._model import GenePhenotype
>>> obs = genotype_observation("CYP2C19", "*2/*2", "Patient/p-1", "o1")
>>> obs.code.coding[0].code, obs.valueCodeableConcept.text
('84413-4', 'CYP2C19 *2/*2')
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.observation import Observation

LOINC = "http://loinc.org"
GR = "http://hl7.org/fhir/uv/genomics-reporting/StructureDefinition/"
_CATEGORY = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                          "code": "laboratory"}]},
             {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074",
                          "code": "GE", "display": "Genetics"}]}]


def _id(*parts: str) -> str:
    return "pgx-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def _gene(gene: str) -> dict[str, Any]:
    return {"code": {"coding": [{"system": LOINC, "code": "48018-6",
                                 "display": "Gene studied [ID]"}]},
            "valueCodeableConcept": {"text": gene}}


def genotype_observation(gene: str, diplotype: str, subject: str, oid: str,
                         issued: datetime | None = None, note: str = "") -> Observation:
    d: dict[str, Any] = {
        "resourceType": "Observation", "id": oid, "status": "final",
        "meta": {"profile": [GR + "genotype"]}, "category": _CATEGORY,
        "code": {"coding": [{"system": LOINC, "code": "84413-4",
                             "display": "Genotype display name"}]},
        "subject": {"reference": subject},
        "valueCodeableConcept": {"text": f"{gene} {diplotype}"},
        "component": [_gene(gene)],
        "issued": (issued or datetime.now(UTC)).isoformat(),
    }
    if note:
        d["note"] = [{"text": note}]
    return Observation.model_validate(d)


def phenotype_observation(gene: str, phenotype: str, subject: str, oid: str, derived: str,
                          activity_score: str | None = None,
                          issued: datetime | None = None) -> Observation:
    comps = [_gene(gene)]
    if activity_score:
        comps.append({"code": {"text": "activity score"}, "valueString": activity_score})
    return Observation.model_validate({
        "resourceType": "Observation", "id": oid, "status": "final",
        "meta": {"profile": [GR + "therapeutic-implication"]}, "category": _CATEGORY,
        "code": {"coding": [{"system": LOINC, "code": "53040-2",
                             "display": "Genetic variation's effect on drug metabolism"}]},
        "subject": {"reference": subject},
        "valueCodeableConcept": {"text": phenotype}, "component": comps,
        "derivedFrom": [{"reference": derived}],
        "issued": (issued or datetime.now(UTC)).isoformat()})


def drug_observation(rec: Any, subject: str, oid: str, derived: list[str],
                     issued: datetime | None = None) -> Observation:
    med: dict[str, Any] = {"text": rec.drug}
    if rec.rxnorm:
        med["coding"] = [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                          "code": rec.rxnorm, "display": rec.drug}]
    return Observation.model_validate({
        "resourceType": "Observation", "id": oid, "status": "final",
        "meta": {"profile": [GR + "therapeutic-implication"]}, "category": _CATEGORY,
        "code": {"coding": [{"system": LOINC, "code": "51961-1",
                             "display": "Genetic variation's effect on drug efficacy"}],
                 "text": "therapeutic implication"},
        "subject": {"reference": subject},
        "valueCodeableConcept": {"text": rec.summary},
        "component": [{"code": {"coding": [{"system": LOINC, "code": "51963-7",
                                            "display": "Medication assessed [ID]"}]},
                       "valueCodeableConcept": med},
                      {"code": {"text": "action"}, "valueString": rec.action}],
        "derivedFrom": [{"reference": r} for r in derived],
        "note": [{"text": rec.citation}],
        "issued": (issued or datetime.now(UTC)).isoformat()})


def report_resources(report: Any, subject: str, issued: datetime | None = None) -> list[Any]:
    """Observations and the DiagnosticReport for a :class:`PgxReport` (report last)."""
    t = issued or datetime.now(UTC)
    base = report.match.vcf + "|" + report.sample
    out: list[Any] = []
    geno_ref: dict[str, str] = {}
    phen_ref: dict[str, str] = {}
    for gene in sorted(report.genes):
        p = report.genes[gene]
        if not p.diplotype:
            continue
        gid = _id(base, gene, "genotype")
        note = "; ".join(p.notes)
        out.append(genotype_observation(gene, p.diplotype, subject, gid, t, note))
        geno_ref[gene] = f"Observation/{gid}"
        if p.phenotype:
            pid = _id(base, gene, "phenotype")
            out.append(phenotype_observation(gene, p.phenotype, subject, pid, geno_ref[gene],
                                             p.activity_score, t))
            phen_ref[gene] = f"Observation/{pid}"
    for rec in report.drugs:
        if not rec.actionable:
            continue
        refs = [phen_ref[g] for g in rec.phenotypes if g in phen_ref]
        out.append(drug_observation(rec, subject, _id(base, rec.drug, "drug"), refs, t))
    not_called = "; ".join(f"{g}: {r[0] if r else ''}" for g, r in sorted(
        report.not_called.items()))
    conclusion = (f"{sum(1 for g in report.genes.values() if g.phenotype)} genes with a "
                  f"phenotype; {sum(1 for d in report.drugs if d.actionable)} medicines with "
                  "guideline advice to change. Not called: " + (not_called or "none") + ". " +
                  report.disclaimer)
    out.append(DiagnosticReport.model_validate({
        "resourceType": "DiagnosticReport", "id": _id(base, "report"), "status": "final",
        "meta": {"profile": [GR + "genomics-report"]}, "category": _CATEGORY[1:],
        "code": {"coding": [{"system": LOINC, "code": "51969-4",
                             "display": "Genetic analysis report"}]},
        "subject": {"reference": subject}, "issued": t.isoformat(),
        "result": [{"reference": f"Observation/{o.id}"} for o in out],
        "conclusion": conclusion}))
    return out


def report_bundle(report: Any, subject: str, issued: datetime | None = None) -> Bundle:
    """A ``collection`` Bundle of :func:`report_resources`."""
    res = report_resources(report, subject, issued)
    return Bundle.model_validate({
        "resourceType": "Bundle", "type": "collection",
        "timestamp": (issued or datetime.now(UTC)).isoformat(),
        "entry": [{"fullUrl": f"urn:uuid:{r.id}", "resource": r.model_dump(mode="json")}
                  for r in res]})
