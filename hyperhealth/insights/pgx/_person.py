"""PGx for a stored person: results from their genotype upload, and medication-safety alerts.

The store keeps the VCF path of each upload (``Store.genotype_uploads``); the results are computed
from that file on request (about 20-60 ms) and kept in a small in-process cache keyed by the file's
SHA-256, the sample and the clinical inputs, so nothing is stored twice and a changed file is
never served from the cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from hyperhealth.actions.alerts import AlertRequest
from hyperhealth.actions.levels import Level
from hyperhealth.errors import InputError
from hyperhealth.insights.pgx._model import METHOD_VERSION
from hyperhealth.insights.pgx._pipeline import PgxReport, default_caller, run_pgx
from hyperhealth.insights.pgx._recommend import (
    ACTIONABLE,
    DrugRecommendation,
    drugs_in_text,
    resolve_drug,
)
from hyperhealth.insights.pgx._warfarin import INDUCERS
from hyperhealth.model import GenotypeUpload
from hyperhealth.model.codes import BODY_HEIGHT, BODY_WEIGHT
from hyperhealth.store import Store

RULE = "pgx.medication"
#: alert level per CPIC action for a medicine the person is taking: "avoid" and "consider an
#: alternative" should be looked at today, a dose change when convenient (Level docs)
LEVELS = {"avoid": Level.WARN, "consider_alternative": Level.WARN, "adjust_dose": Level.INFO}
_CACHE: OrderedDict[tuple[Any, ...], PgxReport] = OrderedDict()
_CACHE_MAX = 64
_LOCK = threading.Lock()


def person_upload(store: Store, person_id: str) -> tuple[GenotypeUpload, str] | None:
    """The person's newest usable genotype upload and their sample in it (None if none)."""
    store.person(person_id)  # NotFound for an unknown person
    uploads = [u for u in store.genotype_uploads(person_id) if u.build in ("GRCh38", "unknown")]
    if not uploads:
        return None
    up = uploads[-1]
    linked = [x for s, x in store.person_links(person_id) if s == "vcf"]
    sample = next((s for s in up.samples if s in linked), None)
    if sample is None:
        if len(up.samples) != 1:
            return None
        sample = up.samples[0]
    return up, sample


def patient_inputs(store: Store, person_id: str, at: date | None = None) -> dict[str, Any]:
    """Age, height, weight, race and interacting drugs for the warfarin equation, if recorded."""
    p = store.person(person_id)
    out: dict[str, Any] = {"race": p.race or None}
    today = at or datetime.now(UTC).date()
    if p.birth_date is not None:
        b = p.birth_date
        out["age"] = today.year - b.year - ((today.month, today.day) < (b.month, b.day))
    for code, key, unit in ((BODY_HEIGHT, "height_cm", "cm"), (BODY_WEIGHT, "weight_kg", "kg")):
        latest = store.latest_observations(person_id, [code])
        if latest and latest[0].value is not None and latest[0].unit == unit:
            out[key] = latest[0].value
    names = [m.display for m in active_medications(store, person_id)]
    low = " ".join(n.lower() for n in names)
    out["amiodarone"] = "amiodarone" in low
    out["enzyme_inducer"] = any(d in low for d in INDUCERS)
    return out


def active_medications(store: Store, person_id: str) -> list[Any]:
    return [m for m in store.medications(person_id) if m.status in ("active", "on-hold", "")]


def person_pgx(store: Store, person_id: str) -> PgxReport | None:
    """The person's PGx report from their stored genotype upload (None without an upload)."""
    found = person_upload(store, person_id)
    if found is None:
        return None
    up, sample = found
    if not Path(up.path).is_file():
        raise InputError("the genotype file recorded for this person is no longer on disk",
                         where=up.path, hint="upload the VCF again with 'hyperhealth ingest'")
    patient = patient_inputs(store, person_id)
    key = (up.path, up.sha256, sample, tuple(sorted(patient.items())))
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    report = run_pgx(up.path, sample=sample, patient=patient, caller=default_caller()).report
    with _LOCK:
        _CACHE[key] = report
        while len(_CACHE) > _CACHE_MAX:
            _CACHE.popitem(last=False)
    return report


def check_prescription(store: Store, person_id: str, drug: str) -> tuple[DrugRecommendation,
                                                                         bool]:
    """The recommendation for a proposed drug and whether the person has PGx results."""
    from hyperhealth.insights.pgx._recommend import recommend_drug

    name = resolve_drug(drug)
    report = person_pgx(store, person_id)
    if report is None:
        return recommend_drug(name, {}), False
    hit = report.drug(name)
    if hit is None:
        hit = recommend_drug(name, report.genes,
                             patient=patient_inputs(store, person_id))
    return hit, True


def medication_alerts(store: Store, person_id: str, results: PgxReport | None
                      ) -> list[AlertRequest]:
    """Medication-safety alert requests: active medicines a CPIC guideline says to avoid or adjust
    given the person's PGx results (one request per medicine, key = the drug)."""
    if results is None:
        return []
    out: list[AlertRequest] = []
    now = datetime.now(UTC)
    seen: set[str] = set()
    for med in active_medications(store, person_id):
        names = drugs_in_text(med.display or "")
        if not names and med.code:
            try:
                names = [resolve_drug(med.code)]
            except InputError:
                names = []
        for name in names:
            if name in seen:
                continue
            seen.add(name)
            rec = results.drug(name)
            if rec is None or rec.action not in ACTIONABLE:
                continue
            genes = ", ".join(f"{g} {results.genes[g].diplotype or ''} ({v})".replace(" ()", "")
                              for g, v in rec.phenotypes.items() if g in results.genes)
            out.append(AlertRequest(
                person_id=person_id, rule=RULE, rule_version=METHOD_VERSION,
                level=LEVELS[rec.action], time=now,
                title=f"{name}: {_TITLE[rec.action]} for this genotype",
                explanation=(f"{rec.summary} Genes: {genes or 'see report'}. The person has an "
                             f"active {med.kind} for {med.display or name}. This supports, and "
                             "does not replace, the prescriber's judgement."),
                key=name,
                evidence=_evidence(rec, med, results),
                citation=rec.citation + (f"; {rec.guideline_url}" if rec.guideline_url else "")))
    return out


_TITLE = {"avoid": "guideline advises avoiding it",
          "consider_alternative": "guideline advises considering another medicine",
          "adjust_dose": "guideline advises a different dose"}


def _evidence(rec: DrugRecommendation, med: Any, results: PgxReport) -> Mapping[str, Any]:
    return {
        "drug": rec.drug, "action": rec.action, "cpic_level": rec.cpic_level,
        "strength": [dict(s) for s in rec.strength], "dose_note": rec.dose_note,
        "phenotypes": dict(rec.phenotypes),
        "diplotypes": {g: results.genes[g].diplotype for g in rec.phenotypes
                       if g in results.genes},
        "medication": {"code": med.code, "display": med.display, "system": med.system,
                       "status": med.status, "record_id": med.record_id},
        "pmids": list(rec.pmids), "vcf": results.match.vcf, "sample": results.sample,
        "definitions_version": results.match.provenance.get("definitions_version"),
    }


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()
