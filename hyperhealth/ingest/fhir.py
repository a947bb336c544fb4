"""FHIR R4 JSON: transaction/collection Bundles, single resources and bulk NDJSON.

Every resource is validated with ``fhir.resources.R4B``; one that fails is rejected with its place
(bundle entry or NDJSON line), type/id and the failing field while the rest imports. Patient,
Observation, Condition, MedicationRequest, MedicationStatement, AllergyIntolerance and Encounter
are imported (``report.resources``); every other type is counted in ``report.skipped``.

>>> from pathlib import Path
>>> ADAPTER.sniff(Path("b.json"), '{"resourceType": "Bundle", "type": "transaction"}')
True
>>> ADAPTER.sniff(Path("x.json"), '{"device": "watch-1", "readings": []}')
False
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from hyperhealth.errors import InputError
from hyperhealth.ingest import _fhir_map as M
from hyperhealth.ingest._base import IngestContext, IngestOptions, IngestReport, Record
from hyperhealth.ingest._driver import run_import
from hyperhealth.ingest._fhir_read import Unit, document_units, read_units, validate
from hyperhealth.store import Store

#: resource types imported into the profile
IMPORTED = ("Patient", "Observation", "Condition", "MedicationRequest", "MedicationStatement",
            "AllergyIntolerance", "Encounter")


class FhirAdapter:
    name: ClassVar[str] = "fhir"

    def sniff(self, path: Path, head: str) -> bool:
        """FHIR JSON by content: a JSON object whose text names a ``resourceType``."""
        return head.lstrip().startswith("{") and '"resourceType"' in head

    def read(self, path: Path, ctx: IngestContext) -> Iterator[Record]:
        from hyperhealth.ingest._base import read_head

        yield from import_units(read_units(path, read_head(path)), ctx)


ADAPTER = FhirAdapter()


def import_units(units: Iterable[Unit], ctx: IngestContext) -> Iterator[Record]:
    """Validate and map each resource; Patients of a bundle go first so people get their data."""
    pending: list[Unit] = []
    bundle = None
    for u in units:
        if not isinstance(u.resource, dict):  # e.g. "resource": [..] in an entry, or an NDJSON line
            ctx.reject(u.where, "resource", "the resource is not a JSON object",
                       'give a FHIR resource, e.g. {"resourceType": "Observation", ...}')
            continue
        if u.bundle is not bundle:  # a new bundle: its Patients before its other entries
            yield from _flush(pending, ctx)
            pending, bundle = [], u.bundle
        if u.bundle is None or u.resource.get("resourceType") == "Patient":
            yield from _one(u, ctx)
        else:
            pending.append(u)
    yield from _flush(pending, ctx)


def _flush(pending: list[Unit], ctx: IngestContext) -> Iterator[Record]:
    for u in pending:
        yield from _one(u, ctx)


def _one(u: Unit, ctx: IngestContext) -> Iterator[Record]:
    res = u.resource
    rtype = str(res.get("resourceType"))
    where = f"{u.where} ({rtype}/{u.ext_id or '?'})"
    problems = validate(res)
    if problems:
        for field, msg in problems[:5]:
            ctx.reject(where, field, f"not valid FHIR R4: {msg}",
                       "fix this field; the other resources were imported")
        return
    if rtype not in IMPORTED:
        ctx.report.skipped[rtype] += 1
        return
    try:
        records = _map(res, u, where, ctx)
    except InputError as err:
        ctx.reject_error(err, where)
        return
    if records is None:
        return
    if records or rtype == "Patient":
        ctx.report.resources[rtype] += 1
    yield from records


def _map(res: dict[str, Any], u: Unit, where: str, ctx: IngestContext) -> list[Any] | None:
    rtype = res["resourceType"]
    if rtype == "Patient":
        return [] if M.map_patient(res, u.ext_id, where, ctx) is not None else None
    refs = M.Refs(ctx)
    pid = refs.person(res, "patient" if rtype == "AllergyIntolerance" else "subject", where,
                      u.bundle)
    if pid is None:
        return None
    if rtype == "Observation":
        return M.map_observation(res, pid, where, ctx)
    if rtype == "Condition":
        return M.map_condition(res, pid, where, ctx)
    if rtype in ("MedicationRequest", "MedicationStatement"):
        return M.map_medication(res, pid, where, ctx, u.bundle)
    if rtype == "AllergyIntolerance":
        return M.map_allergy(res, pid, where, ctx)
    return M.map_encounter(res, pid, where, ctx)


def ingest_bundle(store: Store, bundle: dict[str, Any],
                  options: IngestOptions | None = None) -> IngestReport:
    """Import a FHIR Bundle (or one resource) given as parsed JSON, in one transaction.

    The same path as files: a bundle whose content was imported before is reported as
    ``already_imported`` unless ``options.force``; a failure stores nothing.
    """
    options = options or IngestOptions()
    report = IngestReport(path="api:bundle", format=ADAPTER.name)
    canon = json.dumps(bundle, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canon.encode()).hexdigest()
    return run_import(store, report, digest,
                      lambda ctx: import_units(document_units(bundle, "bundle"), ctx), options)
