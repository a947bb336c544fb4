"""Sign tests in through the real security layer instead of switching it off.

``SignedIn`` is a TestClient that sends a clinician's bearer token (a member of the care team
``test-care``, which every person in the store has granted every category) and, on the routes
only integrations use (ingest, edge, webhooks), an admin's. Grants are topped up before each
request, so persons added during a test are covered too. The authorisation matrix test
(tests/security/test_authz_matrix.py) checks the rules themselves.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlparse

import pyotp
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hyperhealth.delivery.api import create_app
from hyperhealth.errors import AuthenticationError
from hyperhealth.security._identity import Identity
from hyperhealth.security._keys import Keyring
from hyperhealth.security._model import ALL_CATEGORIES, Role
from hyperhealth.store import Store
from hyperhealth.store import _schema as t

TEAM = "test-care"
CLINICIAN, ADMIN = "test.clinician", "test.admin"
PASSWORD = "a long test password for the suite"
ADMIN_PATHS = ("/api/ingest/", "/api/edge/", "/api/webhooks", "/api/users", "/api/audit",
               "/api/break-glass")


def app_for(store: Store, **kw: Any) -> FastAPI:
    """The real app; a store opened without a keyring gets a fresh in-memory one."""
    kw.setdefault("keyring", store.keyring or Keyring.generate())
    return create_app(store, **kw)


def ensure_accounts(store: Store) -> None:
    identity = Identity(store)
    have = {u.username for u in identity.users()}
    if CLINICIAN not in have:
        identity.create_user(CLINICIAN, Role.CLINICIAN, PASSWORD, teams=[TEAM])
    if ADMIN not in have:
        identity.create_user(ADMIN, Role.ADMIN, PASSWORD)


def grant_everyone(store: Store) -> None:
    """Every person without a grant to ``test-care`` gets one for all categories."""
    c = t.consents
    with store.engine.begin() as conn:
        granted = sa.select(c.c.person_pk).where(c.c.grantee == TEAM, c.c.revoked_us.is_(None))
        missing = conn.execute(sa.select(t.persons.c.pk).where(
            t.persons.c.pk.not_in(granted))).scalars().all()
        if missing:
            conn.execute(c.insert(), [
                {"person_pk": pk, "grantee_kind": "team", "grantee": TEAM,
                 "categories": sorted(ALL_CATEGORIES), "purpose": "treatment", "start_us": 0,
                 "end_us": None, "created_us": 0, "created_by": "test"} for pk in missing])


def login(store: Store, username: str) -> str:
    """Sign in; a second login in the same 30 s uses the next step's code (one step of clock
    drift is accepted, and a code is never accepted twice)."""
    identity = Identity(store)
    secret = identity.totp_secret(username)
    if not secret:
        return identity.login(username, PASSWORD).access_token
    totp = pyotp.TOTP(secret)
    now = time.time()
    for at in (now, now + 30):
        try:
            return identity.login(username, PASSWORD, totp.at(at)).access_token
        except AuthenticationError:
            continue
    time.sleep(31 - time.time() % 30)
    return identity.login(username, PASSWORD, totp.now()).access_token


class SignedIn(TestClient):
    def __init__(self, app: FastAPI, **kw: Any) -> None:
        super().__init__(app, **kw)
        self.store: Store = app.state.store
        ensure_accounts(self.store)
        self._tokens: dict[str, str] = {}

    def token(self, username: str) -> str:
        if username not in self._tokens:
            self._tokens[username] = login(self.store, username)
        return self._tokens[username]

    def request(self, method: str, url: Any, **kw: Any) -> Any:
        headers = dict(kw.pop("headers", None) or {})
        if not any(k.lower() == "authorization" for k in headers):
            path = urlparse(str(url)).path
            who = ADMIN if path.startswith(ADMIN_PATHS) else CLINICIAN
            headers["Authorization"] = f"Bearer {self.token(who)}"
        grant_everyone(self.store)
        return super().request(method, url, headers=headers, **kw)


def signed_in(store: Store, **kw: Any) -> SignedIn:
    """``SignedIn(app_for(store, ...))``; TestClient keywords go through ``client_kw``."""
    client_kw = kw.pop("client_kw", {})
    return SignedIn(app_for(store, **kw), **client_kw)
