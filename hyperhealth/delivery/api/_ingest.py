"""Ingestion over HTTP: device messages (``hyperhealth.device/1``) and FHIR Bundles.

Status codes: 200 when nothing was rejected (duplicates of earlier deliveries count as stored,
ingestion is idempotent), 207 when some records were stored and some rejected, 422 when nothing
could be stored; the body is always the ingest report with its rejects.

Device bodies may be gzip-compressed (``Content-Encoding: gzip``, what edge agents send); the body
limit then applies to the *decompressed* size, checked while decompressing piece by piece, so a
small compressed body cannot expand into memory past the limit (a zip bomb).
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.types import Message

from hyperhealth.delivery.api._deps import StoreDep, read_json_body
from hyperhealth.delivery.api._errors import ApiError, responses
from hyperhealth.delivery.api._guard import AccessDep, Rule, rule
from hyperhealth.delivery.api._models import IngestOut
from hyperhealth.errors import AccessDenied
from hyperhealth.ingest._base import KIND
from hyperhealth.security._model import Role

_RECORD_KINDS = frozenset(KIND.values())

router = APIRouter(prefix="/api/ingest", tags=["ingest"])

_OUTCOMES: dict[int | str, dict[str, Any]] = {
    200: {"model": IngestOut, "description": "everything was stored"},
    207: {"model": IngestOut, "description": "some records were rejected"},
    422: {"model": IngestOut, "description": "nothing could be stored"}}

PersonQ = Annotated[str | None, Query(description="attach every record to this person id")]
TzQ = Annotated[str | None, Query(description="IANA zone for times given without an offset")]


@router.post("/device", response_model=IngestOut, responses={**_OUTCOMES, **responses(
             400, 404, 413, 415, 501)}, summary="Ingest device messages")
@rule(Rule("device", write=True))
async def ingest_device(
    request: Request,
    store: StoreDep,
    access: AccessDep,
    device_id: Annotated[str | None, Query(description=(
        "the device this request comes from; messages that name another device are "
        "rejected"))] = None,
    person: PersonQ = None,
    tz: TzQ = None,
) -> JSONResponse:
    """One ``hyperhealth.device/1`` message or a batch of them (see ``docs/formats.md``).

    The body may be gzip-compressed (``Content-Encoding: gzip``); the size limit applies to it
    decompressed. A device credential writes only as itself: ``device_id`` is its own and
    ``person`` can only be its owner.
    """
    actor = access.user
    if actor.role is Role.DEVICE:
        if device_id not in (None, actor.device_id) or person not in (None, actor.person_id):
            raise AccessDenied("a device may send readings only as itself, for its own person",
                               hint="leave out device_id and person, or give its own")
        device_id = actor.device_id
    try:
        from hyperhealth.ingest.device_json import ingest_messages
    except ImportError as exc:
        raise _missing("device JSON ingestion", "hyperhealth.ingest.device_json", exc) from None
    payload = await read_device_body(request, request.app.state.device_body_limit,
                                     "device message")
    report = await _run(ingest_messages, store, payload, device_id=device_id,
                        options=_options(person, tz))
    return _answer(report)


@router.post("/fhir", response_model=IngestOut, responses={**_OUTCOMES, **responses(
             400, 404, 413, 501)}, summary="Ingest a FHIR R4 Bundle")
@rule(Rule("admin", write=True))
async def ingest_fhir(request: Request, store: StoreDep, person: PersonQ = None,
                      tz: TzQ = None) -> JSONResponse:
    """A FHIR R4 Bundle, or a single resource (``application/fhir+json`` or JSON).

    A bundle whose content was imported before is answered with 200 and ``already_imported``.
    """
    try:
        from hyperhealth.ingest.fhir import ingest_bundle
    except ImportError as exc:
        raise _missing("FHIR ingestion", "hyperhealth.ingest.fhir", exc) from None
    bundle = await read_json_body(request, request.app.state.fhir_body_limit, "FHIR Bundle")
    if not isinstance(bundle, dict) or not isinstance(bundle.get("resourceType"), str):
        got = "an object without resourceType" if isinstance(bundle, dict) \
            else f"a JSON {type(bundle).__name__}"
        raise ApiError(422, "Not FHIR", f"the body is {got}, not a FHIR resource",
                       where="body.resourceType",
                       fix='send a FHIR R4 Bundle: {"resourceType": "Bundle", "entry": [...]}')
    report = await _run(ingest_bundle, store, bundle, options=_options(person, tz))
    return _answer(report)


_GZIP = ("gzip", "x-gzip")
_PIECE = 256 * 1024  # decompressed bytes produced per step: memory stays bounded


async def read_device_body(request: Request, limit: int, what: str) -> Any:
    """The JSON body, plain or gzip-compressed; ``limit`` bytes apply to it decompressed.

    The decompressed bytes go through :func:`read_json_body`, which stops reading at ``limit``
    (413); decompression yields them in pieces of at most 256 KiB, so a bomb is cut off after
    ``limit`` bytes. A body that is not gzip, or is truncated, gets 400; another
    ``Content-Encoding`` gets 415.
    """
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return await read_json_body(request, limit, what)
    if encoding not in _GZIP:
        raise ApiError(415, "Unsupported encoding",
                       f"the body is encoded as {encoding!r}, which this server cannot read",
                       where="header Content-Encoding",
                       fix="send the body uncompressed or gzip-compressed "
                           "(Content-Encoding: gzip)")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "Body too large", f"the compressed {what} alone is over the limit "
                       f"of {limit:,} bytes ({int(declared):,} bytes declared)", where="body",
                       fix="split it into smaller batches and send them one after another")
    # the same request with the decompressed body and without the headers that described
    # the compressed one
    scope = dict(request.scope)
    scope["headers"] = [(k, v) for k, v in request.scope["headers"]
                        if k not in (b"content-length", b"content-encoding")]
    pieces = _gunzip(request.stream(), limit)

    async def receive() -> Message:
        try:
            piece = await pieces.__anext__()
        except StopAsyncIteration:
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": piece, "more_body": True}

    try:
        return await read_json_body(Request(scope, receive), limit, what)
    finally:
        await pieces.aclose()  # stopped at the limit: no more decompression


async def _gunzip(compressed: AsyncIterator[bytes], limit: int) -> AsyncGenerator[bytes, None]:
    """Decompress a gzip stream (one or more members) in pieces of at most ``_PIECE`` bytes."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    received = 0
    try:
        async for chunk in compressed:
            received += len(chunk)
            if received > limit:
                raise ApiError(413, "Body too large", f"the compressed body alone is over the "
                               f"limit of {limit:,} bytes", where="body",
                               fix="split it into smaller batches and send them one after "
                                   "another")
            data = chunk
            while data:
                if d.eof:  # one gzip member ended; another may follow (RFC 1952, 2.2)
                    if b"\x1f\x8b".startswith(data[:2]):
                        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    elif data.strip(b"\x00"):
                        raise _not_gzip("there are bytes after the end of the gzip data")
                    else:
                        break
                piece = d.decompress(data, _PIECE)
                data = d.unused_data + d.unconsumed_tail if d.eof else d.unconsumed_tail
                if piece:
                    yield piece
        if not d.eof:
            raise _not_gzip("the gzip data ends too early (truncated)")
    except zlib.error as exc:
        raise _not_gzip(f"it cannot be decompressed ({exc})") from None


def _not_gzip(why: str) -> ApiError:
    return ApiError(400, "Body is not gzip", f"the body is declared gzip-compressed but {why}",
                    where="body", fix="compress the whole JSON body with gzip, or send it "
                                      "uncompressed without Content-Encoding")


async def _run(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run blocking ingestion in the thread pool so the event loop keeps serving."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args, **kwargs)


def _options(person: str | None, tz: str | None) -> Any:
    from hyperhealth.ingest import IngestOptions

    return IngestOptions(person=person, tz=tz)


def _missing(what: str, module: str, exc: ImportError) -> ApiError:
    return ApiError(501, "Not available", f"{what} is not installed in this build ({exc})",
                    where=module, fix="install a build of hyperhealth that includes it")


def outcome(report: dict[str, Any]) -> tuple[int, str, str]:
    """(status, outcome, summary) for an ingest report's dict.

    >>> outcome({"read": {"observations": 3}, "rejects": [], "error": ""})[:2]
    (200, 'stored')
    >>> outcome({"read": {"observations": 2, "rejected": 1}, "rejects": [{}], "error": ""})[:2]
    (207, 'partial')
    >>> outcome({"read": {"messages": 1, "rejected": 2}, "rejects": [{}, {}], "error": ""})[:2]
    (422, 'rejected')
    """
    if report.get("already_imported"):
        return 200, "stored", "this content was imported before; nothing new was stored"
    read = report.get("read") or {}
    n_rejected = max(int(read.get("rejected", 0)), len(report.get("rejects") or []))
    # only record kinds count (a report also counts e.g. the messages that carried them)
    n_ok = sum(int(v) for k, v in read.items() if k in _RECORD_KINDS)
    if report.get("error"):
        return 422, "rejected", (f"nothing was stored: {report['error']}; fix it and send the "
                                 "whole payload again")
    if n_rejected and not n_ok:
        return 422, "rejected", (f"nothing was stored: {_records(n_rejected)} rejected; see "
                                 "rejects for where and why, fix them and send again")
    if n_rejected:
        return 207, "partial", (f"{_records(n_ok)} accepted, {n_rejected} rejected; the accepted "
                                "ones are stored, fix the rejects and send only those again")
    return 200, "stored", f"{_records(n_ok)} accepted"


def _records(n: int) -> str:
    return f"{n} record" if n == 1 else f"{n} records"


def _answer(report: Any) -> JSONResponse:
    d: dict[str, Any] = report.to_dict()
    status, d["outcome"], d["summary"] = outcome(d)
    return JSONResponse(IngestOut.model_validate(d).model_dump(mode="json"), status_code=status)
