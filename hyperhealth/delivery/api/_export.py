"""Export: one person's record as a FHIR Bundle, or everyone's as FHIR NDJSON."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.responses import Response, StreamingResponse

from hyperhealth.delivery.api._deps import StoreDep
from hyperhealth.delivery.api._errors import ApiError, responses
from hyperhealth.store import Store

router = APIRouter(tags=["export"])

FHIR_JSON = "application/fhir+json"
FHIR_NDJSON = "application/fhir+ndjson"


def _exporter() -> Any:
    try:
        from hyperhealth.delivery.fhir import export_bundle
    except ImportError as exc:
        raise ApiError(501, "Not available", f"FHIR export is not installed in this build ({exc})",
                       where="hyperhealth.delivery.fhir",
                       fix="install a build of hyperhealth that includes it") from None
    return export_bundle


@router.get("/api/persons/{person_id}/export/fhir", responses={
    200: {"content": {FHIR_JSON: {}}, "description": "a FHIR R4 Bundle of type collection"},
    **responses(404, 501)}, summary="Export one person as FHIR")
def export_person(person_id: str, store: StoreDep) -> Response:
    """Everything stored about the person as one FHIR R4 Bundle (``Patient/$everything``)."""
    export_bundle = _exporter()
    store.person(person_id)  # a clear 404 before any work
    return Response(orjson.dumps(export_bundle(store, person_id)), media_type=FHIR_JSON)


@router.get("/api/export/ndjson", responses={
    200: {"content": {FHIR_NDJSON: {}}, "description": "one FHIR resource per line"},
    **responses(501)}, summary="Export everyone as FHIR NDJSON")
def export_ndjson(store: StoreDep) -> StreamingResponse:
    """Every person's resources, one FHIR R4 resource per line, streamed person by person."""
    try:
        from hyperhealth.delivery.fhir import person_resources
    except ImportError as exc:
        raise ApiError(501, "Not available", f"FHIR export is not installed in this build ({exc})",
                       where="hyperhealth.delivery.fhir",
                       fix="install a build of hyperhealth that includes it") from None
    return StreamingResponse(_lines(store, person_resources), media_type=FHIR_NDJSON)


def _lines(store: Store, person_resources: Any) -> Iterator[bytes]:
    for p in store.persons():
        for res in person_resources(store, p.id):
            yield res.model_dump_json(exclude_none=True).encode() + b"\n"
