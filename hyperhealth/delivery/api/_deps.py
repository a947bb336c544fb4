"""Shared dependencies: the injected store, time parameters, size-limited JSON bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request

from hyperhealth.delivery.api._errors import ApiError
from hyperhealth.store import Store

#: default request-body limits (bytes); create_app() takes others
DEVICE_BODY_LIMIT = 10 * 1024 * 1024
FHIR_BODY_LIMIT = 64 * 1024 * 1024


def get_store(request: Request) -> Store:
    """The store given to :func:`create_app`."""
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(get_store)]


def parse_time(text: str | None, name: str) -> datetime | None:
    """An ISO-8601 date-time with an offset (``Z`` or ``+HH:MM``); naive times are refused.

    >>> parse_time("2024-05-01T00:00:00Z", "start").isoformat()
    '2024-05-01T00:00:00+00:00'
    >>> parse_time(None, "start") is None
    True
    """
    if text is None or text == "":
        return None
    s = text.strip()
    if "T" in s and s.count(" ") == 1:  # an unencoded '+' in a query string arrives as ' '
        s = s.replace(" ", "+")
    try:
        t = datetime.fromisoformat(s)
    except ValueError:
        raise ApiError(422, "Invalid request", f"{name}={text!r} is not an ISO-8601 date-time",
                       where=f"query parameter {name}",
                       fix="use e.g. 2024-05-01T00:00:00Z (URL-encode '+' as %2B)") from None
    if t.tzinfo is None:
        raise ApiError(422, "Invalid request", f"{name}={text!r} has no time zone",
                       where=f"query parameter {name}",
                       fix="add 'Z' for UTC or an offset such as +02:00 (URL-encoded %2B02:00)")
    return t


async def read_json_body(request: Request, limit: int, what: str) -> Any:
    """The request body parsed as JSON; 413 above ``limit`` bytes, 400 when it is not JSON."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit, what)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # stop reading: a missing or false Content-Length must not bypass it
            raise _too_large(size, limit, what)
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        raise ApiError(400, "Empty body", f"the request has no {what}", where="body",
                       fix=f"send the {what} as JSON in the request body")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "Body is not JSON", f"the {what} is not valid JSON: {exc}",
                       where=f"body, character {exc.pos}",
                       fix="send valid UTF-8 JSON (check quotes, commas and brackets)") from None


def _too_large(size: int, limit: int, what: str) -> ApiError:
    return ApiError(413, "Body too large",
                    f"the {what} is over the limit of {limit:,} bytes ({size:,} bytes "
                    "declared or received)", where="body",
                    fix="split it into smaller batches and send them one after another")
