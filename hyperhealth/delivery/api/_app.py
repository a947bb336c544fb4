"""The FastAPI application: API routers, error handlers and the web pages."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from fastapi import Depends, FastAPI

from hyperhealth.delivery.api import (
    _advisories,
    _alerts,
    _auth,
    _edge,
    _export,
    _health,
    _ingest,
    _live,
    _observations,
    _persons,
    _pgx,
    _risk,
    _sharing,
    _summary,
    _triage,
)
from hyperhealth.delivery.api._deps import DEVICE_BODY_LIMIT, FHIR_BODY_LIMIT
from hyperhealth.delivery.api._errors import install_error_handlers
from hyperhealth.delivery.api._guard import enforce
from hyperhealth.delivery.api._hardening import Hardening
from hyperhealth.errors import ConfigError
from hyperhealth.security._audit import AuditLog
from hyperhealth.security._consent import ConsentBook
from hyperhealth.security._identity import Identity
from hyperhealth.security._keys import Keyring
from hyperhealth.store import Store

_DESCRIPTION = """\
One health profile per person. Errors answer with a body that says **what** was wrong,
**where** (parameter, field, record) and how to **fix** it. Times are ISO-8601 with an offset;
storage is UTC. See `docs/formats.md` (section API) for the ingest formats and status codes.
"""


def create_app(store: Store, *, keyring: Keyring | None = None,
               audit_checkpoint: Path | None = None,
               device_body_limit: int = DEVICE_BODY_LIMIT,
               fhir_body_limit: int = FHIR_BODY_LIMIT, web: bool = True) -> FastAPI:
    """The API (under ``/api``, docs at ``/docs``) and web pages over ``store``.

    Every route is behind sign-in, consent and the audit log (``hyperhealth.security``); the
    audit chain is keyed by ``keyring`` (default: the store's) and its signed head is kept in
    ``audit_checkpoint``. Body limits are in bytes; larger requests get 413. ``web=False``
    serves only the API.
    """
    keyring = keyring or store.keyring
    if keyring is None:
        raise ConfigError("the API needs a keyring (the audit log is keyed by it): set "
                          "HYPERHEALTH_KEY_FILE or HYPERHEALTH_MASTER_KEYS, or run "
                          "'hyperhealth keys init'")
    app = FastAPI(title="hyperhealth", version=_version(), description=_DESCRIPTION,
                  docs_url="/docs", redoc_url=None, dependencies=[Depends(enforce)])
    app.state.store = store
    app.state.identity = Identity(store)
    app.state.consents = ConsentBook(store)
    app.state.audit = AuditLog(store, keyring.audit_key, checkpoint=audit_checkpoint)
    app.state.auth_limiter = _auth.RateLimiter(_auth.AUTH_ATTEMPTS_PER_MINUTE)
    app.state.device_body_limit = device_body_limit
    app.state.fhir_body_limit = fhir_body_limit
    install_error_handlers(app)
    app.add_middleware(Hardening)
    for module in (_health, _auth, _sharing, _persons, _observations, _ingest, _export,
                   _advisories, _risk, _alerts, _pgx, _edge, _summary, _triage, _live):
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
