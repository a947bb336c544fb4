"""Export: one person's record as a FHIR Bundle, or everyone's as FHIR NDJSON."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.responses import Response, StreamingResponse

from hyperhealth.delivery.api._deps import StoreDep
from hyperhealth.delivery.api._errors import ApiError, responses
from hyperhealth.delivery.api._guard import AccessDep, Rule, rule
from hyperhealth.security._consent import ConsentBook
from hyperhealth.security._model import Category
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
@rule(Rule("person"))
def export_person(person_id: str, store: StoreDep, access: AccessDep) -> Response:
    """What the caller may see of the person as one FHIR R4 Bundle (``Patient/$everything``,
    cut down to the categories of their consent)."""
    export_bundle = _exporter()
    store.person(person_id)  # a clear 404 before any work
    return Response(orjson.dumps(export_bundle(store, person_id, allowed=access.categories)),
                    media_type=FHIR_JSON)


@router.get("/api/export/ndjson", responses={
    200: {"content": {FHIR_NDJSON: {}}, "description": "one FHIR resource per line"},
    **responses(501)}, summary="Export everyone as FHIR NDJSON")
@rule(Rule("staff"))
def export_ndjson(store: StoreDep, access: AccessDep) -> StreamingResponse:
    """The resources of every person the caller may see, cut down to the categories of their
    consent, one FHIR R4 resource per line, streamed person by person."""
    try:
        from hyperhealth.delivery.fhir import person_resources
    except ImportError as exc:
        raise ApiError(501, "Not available", f"FHIR export is not installed in this build ({exc})",
                       where="hyperhealth.delivery.fhir",
                       fix="install a build of hyperhealth that includes it") from None
    consents = ConsentBook(store)
    actor = access.user
    grants = {pid: consents.decide(actor, pid).categories
              for pid in consents.persons_visible(actor)}
    return StreamingResponse(_lines(store, person_resources, grants), media_type=FHIR_NDJSON)


def _lines(store: Store, person_resources: Any,
           grants: dict[str, frozenset[Category]]) -> Iterator[bytes]:
    for pid, allowed in grants.items():
        for res in person_resources(store, pid, allowed):
            yield res.model_dump_json(exclude_none=True).encode() + b"\n"
