"""The FastAPI application: API routers, error handlers and the web pages."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI

from hyperhealth.delivery.api import (
    _advisories,
    _alerts,
    _edge,
    _export,
    _health,
    _ingest,
    _observations,
    _persons,
    _pgx,
    _risk,
)
from hyperhealth.delivery.api._deps import DEVICE_BODY_LIMIT, FHIR_BODY_LIMIT
from hyperhealth.delivery.api._errors import install_error_handlers
from hyperhealth.store import Store

_DESCRIPTION = """\
One health profile per person. Errors answer with a body that says **what** was wrong,
**where** (parameter, field, record) and how to **fix** it. Times are ISO-8601 with an offset;
storage is UTC. See `docs/formats.md` (section API) for the ingest formats and status codes.
"""


def create_app(store: Store, *, device_body_limit: int = DEVICE_BODY_LIMIT,
               fhir_body_limit: int = FHIR_BODY_LIMIT, web: bool = True) -> FastAPI:
    """The API (under ``/api``, docs at ``/docs``) and web pages over ``store``.

    Body limits are in bytes; larger requests get 413. ``web=False`` serves only the API.
    """
    app = FastAPI(title="hyperhealth", version=_version(),
                  description=_DESCRIPTION, docs_url="/docs", redoc_url=None)
    app.state.store = store
    app.state.device_body_limit = device_body_limit
    app.state.fhir_body_limit = fhir_body_limit
    install_error_handlers(app)
    for module in (_health, _persons, _observations, _ingest, _export, _advisories, _risk, _alerts,
                   _pgx, _edge):
        app.include_router(module.router)
    if web:
        from hyperhealth.delivery.web import install_web

        install_web(app)
    return app


def _version() -> str:
    try:
        return version("hyperhealth")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"
