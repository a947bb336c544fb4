"""Error bodies: every failure says what was wrong, where, and how to fix it — never a traceback.

>>> p = Problem(status=404, title="Not found", what="no person 'p-1'", where="path: person_id",
...             fix="list persons with GET /api/persons")
>>> sorted(p.model_dump())
['errors', 'fix', 'status', 'title', 'what', 'where']
"""

from __future__ import annotations

import logging
from html import escape
from typing import Any
from urllib.parse import quote

import sqlalchemy.exc as sa_exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from hyperhealth.errors import AccessDenied, AuthenticationError, InputError, NotFound, StoreError

log = logging.getLogger("hyperhealth.api")


class ProblemItem(BaseModel):
    """One of several problems found in a request (e.g. two bad query parameters)."""

    what: str = Field(description="what is wrong")
    where: str = Field(description="the parameter, body field or record concerned")
    fix: str = Field(default="", description="what to do about it")


class Problem(BaseModel):
    """The body of every error response."""

    status: int = Field(description="the HTTP status code, repeated for convenience")
    title: str = Field(description="a short name for the kind of error")
    what: str = Field(description="what was wrong")
    where: str = Field(default="",
                       description="where: a path/query parameter, a body field, a record")
    fix: str = Field(default="", description="what to do about it")
    errors: list[ProblemItem] = Field(default_factory=list,
                                      description="each problem, when there are several")


class ApiError(Exception):
    """Raised by a route to answer with a :class:`Problem` body."""

    def __init__(self, status: int, title: str, what: str, *, where: str = "", fix: str = "",
                 errors: list[ProblemItem] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(what)
        self.problem = Problem(status=status, title=title, what=what, where=where, fix=fix,
                               errors=errors or [])
        self.headers = headers


def problem_response(p: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(p.model_dump(), status_code=p.status, headers=headers)


#: error responses documented on every route that can produce them
def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries with the :class:`Problem` schema for ``codes``."""
    return {c: {"model": Problem} for c in codes}


_PARAM_KIND = {"query": "query parameter", "path": "path parameter", "body": "body",
               "header": "header"}


def _where(loc: tuple[Any, ...] | list[Any]) -> str:
    if not loc:
        return ""
    kind = _PARAM_KIND.get(str(loc[0]), str(loc[0]))
    rest = ".".join(str(x) for x in loc[1:])
    return f"{kind} {rest}".strip()


_BOUND = {"ge": "of at least", "gt": "greater than", "le": "of at most", "lt": "less than"}


def _fix_for(err: dict[str, Any]) -> str:
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    if kind == "missing":
        return "add this parameter to the request"
    if kind.startswith("greater_than") or kind.startswith("less_than"):
        bounds = " and ".join(f"{_BOUND[k]} {v}" for k, v in ctx.items() if k in _BOUND)
        return f"use a value {bounds}" if bounds else "use a value within the allowed range"
    if kind.startswith("datetime"):
        return "give an ISO-8601 date-time with an offset, e.g. 2024-05-01T00:00:00Z"
    if kind.startswith("int"):
        return "give a whole number"
    if kind.startswith("float"):
        return "give a number"
    return "correct the value and send the request again"


_DENIED_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>No access</title>
<link rel="stylesheet" href="/static/app.css"></head><body><main id="main">
<h1>No access</h1><p>{what}.</p><p>{fix}.</p><p><a href="/">Back to the start page</a></p>
</main></body></html>"""


def install_error_handlers(app: FastAPI) -> None:
    """Map the project's exceptions and FastAPI's validation errors to :class:`Problem` bodies."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return problem_response(exc.problem, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        items = [ProblemItem(what=str(e.get("msg", "invalid value")), where=_where(e["loc"]),
                             fix=_fix_for(e)) for e in exc.errors()]
        first = items[0] if items else ProblemItem(what="invalid request", where="")
        return problem_response(Problem(
            status=422, title="Invalid request",
            what=first.what if len(items) == 1 else f"{len(items)} problems in the request",
            where=first.where if len(items) == 1 else ", ".join(i.where for i in items),
            fix=first.fix if len(items) == 1 else "fix each problem listed in errors",
            errors=items))

    @app.exception_handler(AuthenticationError)
    async def _unauthenticated(request: Request, exc: AuthenticationError) -> Response:
        if request.method == "GET" and not request.url.path.startswith("/api/"):
            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
        return problem_response(Problem(
            status=401, title="Not signed in", what=exc.message, where="Authorization header",
            fix=exc.hint or "log in again"), headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(AccessDenied)
    async def _denied(request: Request, exc: AccessDenied) -> Response:
        if request.method == "GET" and not request.url.path.startswith("/api/"):
            return HTMLResponse(_DENIED_PAGE.format(what=escape(exc.message),
                                                    fix=escape(exc.hint)), status_code=403)
        return problem_response(Problem(
            status=403, title="Forbidden", what=exc.message, where=request.url.path,
            fix=exc.hint or "ask the patient or an admin for access"))

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
        return problem_response(Problem(
            status=404, title="Not found", what=str(exc), where=request.url.path,
            fix="check the id; GET /api/persons lists the persons in this store"))

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError) -> JSONResponse:
        where = exc.where + (f" [{exc.field}]" if exc.field else "")
        return problem_response(Problem(
            status=422, title="Invalid input", what=exc.message,
            where=where or request.url.path,
            fix=exc.hint or "correct the input and send it again"))

    @app.exception_handler(sa_exc.DataError)
    async def _bad_value(request: Request, exc: sa_exc.DataError) -> JSONResponse:
        # the database refused a value the checks let through (a NUL character in text on
        # PostgreSQL, a number out of range): the client's input, not a server fault
        log.warning("database refused a value on %s: %s", request.url.path,
                    type(exc.orig).__name__)
        return problem_response(Problem(
            status=422, title="Invalid input",
            what="a value in the request cannot be stored (for example a NUL character or a "
                 "number out of range)", where=request.url.path,
            fix="remove control characters and keep numbers within 64 bits"))

    @app.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError) -> JSONResponse:
        # the details (SQL, parameters) go to the server log only: they can hold personal data
        log.error("store error on %s: %s", request.url.path, exc)
        if isinstance(exc.__cause__, sa_exc.DataError):
            return await _bad_value(request, exc.__cause__)
        return problem_response(Problem(
            status=503, title="Store unavailable",
            what="the store could not complete the request; nothing of it was stored",
            where="the store",
            fix="check that the database is running and reachable, then retry"))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return problem_response(Problem(
                status=404, title="Not found", what=f"no route {request.url.path}",
                where=request.url.path, fix="see the API reference at /docs"))
        if exc.status_code == 405:
            return problem_response(Problem(
                status=405, title="Method not allowed",
                what=f"{request.method} is not supported on {request.url.path}",
                where=request.url.path, fix="see the API reference at /docs"),
                headers=dict(exc.headers or {}))
        return problem_response(Problem(status=exc.status_code, title="HTTP error",
                                        what=str(exc.detail), where=request.url.path),
                                headers=dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # the traceback goes to the server log, never to the client
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem_response(Problem(
            status=500, title="Internal error",
            what=f"the server failed while handling this request ({type(exc).__name__})",
            where=request.url.path,
            fix="retry; if it keeps failing, report it with the time of the request"))
