"""Every route declares who may call it; one dependency enforces it and audits the access.

A route without a declared :class:`Rule` is refused (fail closed), and the authorisation matrix
test fails on it. Consent is checked before the handler runs, so a caller without access learns
nothing, not even whether the person exists (both answer 403).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Depends, Request

from hyperhealth.delivery.api._errors import ApiError
from hyperhealth.errors import AccessDenied, AuthenticationError, NotFound
from hyperhealth.security._audit import AuditEntry, AuditLog
from hyperhealth.security._consent import ConsentBook, Decision
from hyperhealth.security._identity import Identity
from hyperhealth.security._model import CARE_ROLES, Actor, Category, Purpose, Role

Kind = Literal["public", "user", "person", "alert", "manage", "admin", "device", "staff"]
F = TypeVar("F", bound=Callable[..., Any])

SESSION_COOKIE = "hh_session"
_PERSON_ID_MAX = 64  # persons.id is String(64)
_ACTION = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}
ATTRIBUTE = "__hh_rule__"


@dataclass(frozen=True)
class Rule:
    """Who may call a route.

    - ``public``: anyone (health check, login, static files).
    - ``user``: any signed-in user; the handler shows only what the caller may see.
    - ``person``: the route has ``{person_id}``; the caller needs consent for ``categories``
      (all of them; none named: any category, and the handler filters by the decision).
    - ``alert``: as ``person``, for the person an ``{alert_id}`` belongs to.
    - ``manage``: the patient themself (or an admin): consent and access-log routes.
    - ``staff``: clinicians and care coordinators only (``roles`` narrows it).
    - ``admin``: admins only.
    - ``device``: a device credential (or an admin), writing only its own person's data.
    """

    kind: Kind
    categories: tuple[Category, ...] = ()
    write: bool = False
    roles: frozenset[Role] | None = None  # further narrows who may call (after consent)
    purpose: Purpose = Purpose.TREATMENT

    def describe(self) -> str:
        cats = "+".join(self.categories) or "any"
        return f"{self.kind}({cats}{', write' if self.write else ''})"


def rule(r: Rule) -> Callable[[F], F]:
    """Declare the access rule of a route handler (put it under the ``@router`` decorator)."""

    def mark(fn: F) -> F:
        setattr(fn, ATTRIBUTE, r)
        return fn

    return mark


def rule_of(endpoint: Any) -> Rule | None:
    r = getattr(endpoint, ATTRIBUTE, None)
    return r if isinstance(r, Rule) else None


@dataclass(frozen=True)
class Access:
    """What the guard established for this request; handlers filter with it."""

    actor: Actor | None
    decision: Decision | None = None
    person_id: str | None = None

    def allows(self, category: Category) -> bool:
        return self.decision is not None and self.decision.allows(category)

    @property
    def categories(self) -> frozenset[Category]:
        return self.decision.categories if self.decision else frozenset()

    def require(self, category: Category) -> None:
        """Refuse (403) when the decision does not cover ``category``."""
        if not self.allows(category):
            who = self.actor.username if self.actor else "anonymous"
            raise AccessDenied(f"{who} has no access to the {category} data of this person",
                               hint="ask the patient to grant it")

    @property
    def user(self) -> Actor:
        if self.actor is None:  # only on public routes, which do not ask
            raise AuthenticationError("not signed in", hint="log in first")
        return self.actor


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.cookies.get(SESSION_COOKIE) or None


def current_actor(request: Request) -> Actor:
    token = bearer_token(request)
    from_cookie = token is not None and not request.headers.get("authorization")
    if from_cookie and request.method not in ("GET", "HEAD", "OPTIONS"):
        # a cookie travels with cross-site requests too: refuse writes from another origin
        origin = request.headers.get("origin") or request.headers.get("referer") or ""
        own = f"{request.url.scheme}://{request.url.netloc}"
        if not (origin == own or origin.startswith(own + "/")):
            raise AccessDenied("a signed-in page of another site cannot act for you",
                               hint="use hyperhealth's own pages, or send a bearer token")
    if token is None:
        raise AuthenticationError("this needs a signed-in user",
                                  hint="log in (POST /api/auth/token) and send "
                                  "'Authorization: Bearer <access_token>'")
    identity: Identity = request.app.state.identity
    return identity.authenticate(token)


def enforce(request: Request) -> Access:
    """The app-wide dependency: authenticate, check the route's rule and consent, audit.

    Synchronous on purpose: FastAPI runs it in the thread pool, so its database work never
    blocks the event loop."""
    route = request.scope.get("route")
    r = rule_of(getattr(route, "endpoint", None))
    if r is None:
        raise ApiError(403, "Forbidden", "this route has no access rule, so it is closed",
                       where=request.url.path, fix="report it: every route must declare one")
    if r.kind == "public":
        return Access(actor=None)
    person = request.path_params.get("person_id")
    if person is not None and len(str(person)) > _PERSON_ID_MAX:
        raise ApiError(422, "Invalid request",
                       f"person_id is {len(str(person))} characters; ids have at most "
                       f"{_PERSON_ID_MAX}", where="path parameter person_id",
                       fix="GET /api/persons lists the ids you may use")
    actor = current_actor(request)
    request.state.actor = actor
    try:
        access = _check(request, r, actor)
    except AccessDenied as exc:
        pid = request.path_params.get("person_id")
        audit(request, actor, r, str(pid) if pid else None, "deny", {"why": exc.message})
        raise
    audit(request, actor, r, access.person_id,
          "break-glass" if access.decision and access.decision.break_glass else "permit")
    return access


AccessDep = Annotated[Access, Depends(enforce)]


def _check(request: Request, r: Rule, actor: Actor) -> Access:
    consents: ConsentBook = request.app.state.consents
    params = request.path_params
    if r.kind == "user":
        return Access(actor)
    if r.kind == "admin":
        _role(actor, {Role.ADMIN})
        return Access(actor)
    if r.kind == "staff":
        _role(actor, r.roles or CARE_ROLES)
        return Access(actor)
    if r.kind == "device":
        _role(actor, {Role.DEVICE, Role.ADMIN})
        return Access(actor)
    person_id = str(params.get("person_id", ""))
    if r.kind == "alert":
        person_id = _alert_person(request, params.get("alert_id"))
    if r.kind == "manage":
        if not (actor.role is Role.ADMIN or
                (actor.role is Role.PATIENT and actor.person_id == person_id)):
            raise AccessDenied("only the patient (or an admin) manages who sees their data",
                               hint="sign in as the patient")
        return Access(actor, None, person_id)
    decision = consents.decide(actor, person_id, r.purpose)
    missing = [c for c in r.categories if not decision.allows(c)]
    if missing or not decision.any:
        raise AccessDenied(
            f"{actor.username} ({actor.role}) has no access to "
            f"{', '.join(missing) or 'any'} data of this person",
            hint="ask the patient to grant access, or use break-glass in an emergency")
    if r.roles is not None:
        _role(actor, r.roles)
    return Access(actor, decision, person_id)


def _role(actor: Actor, roles: frozenset[Role] | set[Role]) -> None:
    if actor.role not in roles:
        allowed = ", ".join(sorted(roles))
        raise AccessDenied(f"{actor.role} accounts cannot do this (allowed: {allowed})",
                           hint="sign in with an account of an allowed role")


def _alert_person(request: Request, alert_id: Any) -> str:
    from hyperhealth.actions.alerts import AlertBook

    if not str(alert_id).isdigit():
        raise ApiError(422, "Invalid request", f"alert_id={alert_id!r} is not a number",
                       where="path parameter alert_id", fix="use the id of an alert")
    if int(alert_id) >= 2**63:  # beyond any stored id (64-bit keys): unknown, like the rest
        raise AccessDenied("no access to this alert",
                           hint="check the id; GET /api/alerts lists the alerts you may see")
    try:
        return AlertBook(request.app.state.store).get(int(alert_id)).person_id
    except NotFound:
        # same answer as "no access", so alert ids cannot be probed
        raise AccessDenied("no access to this alert",
                           hint="check the id; GET /api/alerts lists the alerts you may see"
                           ) from None


def audit(request: Request, actor: Actor, r: Rule, person_id: str | None, outcome: str,
          detail: dict[str, Any] | None = None) -> None:
    """Record the access in the hash-chained audit log (who, what, when, why, from where)."""
    log: AuditLog = request.app.state.audit
    route = request.scope.get("route")
    resource = f"{request.method} {getattr(route, 'path', request.url.path)}"
    log.record_one(AuditEntry.by(
        actor, _ACTION.get(request.method, "read") if r.write else "read", resource,
        person_id=person_id, purpose=str(r.purpose), outcome=outcome,
        source=request.client.host if request.client else "", detail=detail or {}))


def visible_persons(store: Any, access: Access, category: Category) -> list[str]:
    """Ids of the persons whose ``category`` data the caller may read (list endpoints)."""
    actor = access.user
    consents = ConsentBook(store)
    if actor.role is Role.PATIENT:
        return [actor.person_id] if actor.person_id else []
    return [pid for pid in consents.persons_visible(actor)
            if consents.decide(actor, pid).allows(category)]
