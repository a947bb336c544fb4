"""Sign-in: OAuth2 password grant (with a TOTP code where the role needs one), refresh, revoke,
log out, and the signed-in user's own account."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from hyperhealth.delivery.api._errors import ApiError, responses
from hyperhealth.delivery.api._guard import SESSION_COOKIE, AccessDep, Rule, bearer_token, rule
from hyperhealth.errors import InputError
from hyperhealth.security._identity import ACCESS_TTL_S, Identity

router = APIRouter(prefix="/api", tags=["auth"])

#: sign-in attempts per client address per minute (beyond it: 429); the per-account lockout
#: in security._identity stops slow guessing spread over many addresses
AUTH_ATTEMPTS_PER_MINUTE = 20


class RateLimiter:
    """A sliding one-minute window per key, in memory (one API process)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float:
        """Count one attempt; returns 0, or the seconds to wait when over the limit."""
        now = time.monotonic()
        with self._lock:
            q = self._hits.setdefault(key, deque())
            while q and now - q[0] >= 60:
                q.popleft()
            if len(q) >= self.per_minute:
                return 60 - (now - q[0])
            q.append(now)
            if len(self._hits) > 100_000:  # forget idle keys so memory stays bounded
                self._hits = {k: v for k, v in self._hits.items() if v and now - v[-1] < 60}
            return 0.0


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="seconds until the access token expires")


class MeOut(BaseModel):
    username: str
    role: str
    display_name: str
    person_id: str | None = Field(description="for patients: their own person id")
    teams: list[str]
    preferences: dict[str, Any]


class PreferencesIn(BaseModel):
    language: Literal["en", "es"] | None = None
    glucose_unit: Literal["mg/dL", "mmol/L"] | None = None
    weight_unit: Literal["kg", "lb"] | None = None


def _identity(request: Request) -> Identity:
    identity: Identity = request.app.state.identity
    return identity


def _throttle(request: Request) -> None:
    limiter: RateLimiter = request.app.state.auth_limiter
    wait = limiter.hit(request.client.host if request.client else "unknown")
    if wait:
        raise ApiError(429, "Too many attempts",
                       f"more than {limiter.per_minute} sign-in attempts in a minute from this "
                       "address", where="POST /api/auth/token",
                       fix=f"wait {int(wait) + 1} seconds", headers={
                           "Retry-After": str(int(wait) + 1)})


@router.post("/auth/token", response_model=TokenOut, responses=responses(400, 401, 429),
             summary="Sign in or refresh (OAuth2 token endpoint)")
@rule(Rule("public"))
def token(
    request: Request,
    grant_type: Annotated[Literal["password", "refresh_token"], Form()],
    username: Annotated[str | None, Form(max_length=120)] = None,
    password: Annotated[str | None, Form(max_length=256)] = None,
    totp: Annotated[str | None, Form(max_length=10, description=(
        "the 6-digit code from the authenticator app (clinicians and admins)"))] = None,
    refresh_token: Annotated[str | None, Form(max_length=200)] = None,
) -> JSONResponse:
    """``grant_type=password`` with ``username``, ``password`` (and ``totp``), or
    ``grant_type=refresh_token`` with ``refresh_token``. Access tokens last 15 minutes; a
    refresh token works once, lasts 12 hours, and lapses after 30 minutes without activity."""
    _throttle(request)
    identity = _identity(request)
    if grant_type == "password":
        if not username or not password:
            raise ApiError(400, "Invalid request", "username and password are required",
                           where="form fields username, password",
                           fix="send both as application/x-www-form-urlencoded")
        pair = identity.login(username, password, totp)
    else:
        if not refresh_token:
            raise ApiError(400, "Invalid request", "refresh_token is required",
                           where="form field refresh_token", fix="send the refresh token")
        pair = identity.refresh(refresh_token)
    return JSONResponse(pair.to_dict(), headers={"Cache-Control": "no-store"})


@router.post("/auth/revoke", status_code=200, responses=responses(429),
             summary="Revoke a token (RFC 7009)")
@rule(Rule("public"))
def revoke(request: Request, token: Annotated[str, Form(max_length=200)]) -> dict[str, str]:
    """Ends the login the token belongs to. Unknown tokens are accepted silently."""
    _throttle(request)
    _identity(request).revoke(token)
    return {"status": "revoked"}


@router.post("/auth/logout", responses=responses(401), summary="Sign out")
@rule(Rule("user"))
def logout(request: Request, access: AccessDep) -> JSONResponse:
    """Ends the current login on every device it was refreshed on, and clears the web cookie."""
    tok = bearer_token(request)
    if tok:
        _identity(request).revoke(tok)
    resp = JSONResponse({"status": "signed out", "user": access.user.username})
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


@router.get("/me", response_model=MeOut, responses=responses(401), summary="Who am I")
@rule(Rule("user"))
def me(request: Request, access: AccessDep) -> MeOut:
    actor = access.user
    if actor.user_pk is None:  # a device credential
        return MeOut(username=actor.username, role=actor.role, display_name=actor.username,
                     person_id=actor.person_id, teams=[], preferences={})
    u = _identity(request).user(actor.username)
    return MeOut(username=u.username, role=u.role, display_name=u.display_name,
                 person_id=u.person_id, teams=sorted(u.teams), preferences=u.preferences)


@router.put("/me/preferences", response_model=MeOut, responses=responses(401, 422),
            summary="Change my display preferences")
@rule(Rule("user", write=True))
def set_preferences(request: Request, body: PreferencesIn, access: AccessDep) -> MeOut:
    actor = access.user
    if actor.user_pk is None:
        raise InputError("a device has no display preferences", field="preferences",
                         hint="sign in as a user to change them")
    _identity(request).set_preferences(actor.username, **body.model_dump(exclude_none=True))
    return me(request, access)


__all__ = ["ACCESS_TTL_S", "RateLimiter", "router"]
