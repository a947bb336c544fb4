"""Data sharing: the patient's grants, who accessed their data, break-glass, and the admin side
(accounts, break-glass review, audit verification)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from hyperhealth.delivery.api._deps import StoreDep
from hyperhealth.delivery.api._errors import ApiError, responses
from hyperhealth.delivery.api._guard import AccessDep, Rule, rule
from hyperhealth.security._audit import AuditLog
from hyperhealth.security._consent import BREAK_GLASS_MAX_MINUTES, ConsentBook
from hyperhealth.security._identity import Identity
from hyperhealth.security._model import Category, Purpose, Role

router = APIRouter(prefix="/api", tags=["sharing"])

#: row ids are 64-bit integers in both stores; a larger id would fail in the driver (500)
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]



class GrantIn(BaseModel):
    grantee: str = Field(min_length=1, max_length=120, description="a username or team name")
    grantee_kind: Literal["user", "team"] = "user"
    categories: list[Category] = Field(min_length=1, max_length=len(Category))
    purpose: Literal["treatment", "research"] = "treatment"
    start: datetime | None = Field(default=None, description="default: now")
    end: datetime | None = Field(default=None, description="default: until revoked")


class BreakGlassIn(BaseModel):
    reason: str = Field(min_length=10, max_length=2000,
                        description="why emergency access is needed; reviewed afterwards")
    minutes: int = Field(default=60, ge=1, le=BREAK_GLASS_MAX_MINUTES)


class ReviewIn(BaseModel):
    note: str = Field(min_length=1, max_length=2000)


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=120)
    role: Literal["patient", "clinician", "care-coordinator", "researcher", "admin"]
    password: str = Field(min_length=8, max_length=256)
    person_id: str | None = Field(default=None, max_length=64)
    display_name: str = Field(default="", max_length=200)
    teams: list[str] = Field(default_factory=list, max_length=50)


def _us(t: datetime | None, name: str) -> int | None:
    if t is None:
        return None
    if t.tzinfo is None:
        raise ApiError(422, "Invalid request", f"{name} has no time zone", where=f"body.{name}",
                       fix="add Z or an offset such as +02:00")
    return int(t.astimezone(UTC).timestamp() * 1_000_000)


@router.get("/persons/{person_id}/consents", responses=responses(401, 403),
            summary="Who may see my data")
@rule(Rule("manage"))
def list_grants(person_id: str, store: StoreDep, access: AccessDep) -> list[dict[str, Any]]:
    """Every grant (active, pending, expired and revoked), newest first."""
    return [g.to_dict() for g in ConsentBook(store).grants(person_id)]


@router.post("/persons/{person_id}/consents", status_code=201,
             responses=responses(401, 403, 404, 422), summary="Grant access")
@rule(Rule("manage", write=True))
def add_grant(person_id: str, body: GrantIn, store: StoreDep,
              access: AccessDep) -> dict[str, Any]:
    """Let a clinician, care coordinator or care team see some categories of my data."""
    g = ConsentBook(store).grant(
        person_id, body.grantee, body.categories, by=access.user,
        grantee_kind=body.grantee_kind, purpose=Purpose(body.purpose),
        start_us=_us(body.start, "start"), end_us=_us(body.end, "end"))
    return g.to_dict()


@router.delete("/persons/{person_id}/consents/{grant_id}", responses=responses(401, 403, 404),
               summary="Revoke access")
@rule(Rule("manage", write=True))
def revoke_grant(person_id: str, grant_id: RowId, store: StoreDep,
                 access: AccessDep) -> dict[str, Any]:
    """Ends the grant now; the grantee's next request is refused."""
    return ConsentBook(store).revoke(person_id, grant_id, by=access.user).to_dict()


@router.get("/persons/{person_id}/access-log", responses=responses(401, 403),
            summary="Who accessed my data")
@rule(Rule("manage"))
def access_log(person_id: str, request: Request, access: AccessDep,
               limit: Annotated[int, Query(ge=1, le=5000)] = 200) -> list[dict[str, Any]]:
    """Every recorded access to the person's data, newest first, refused attempts included."""
    log: AuditLog = request.app.state.audit
    return [r.to_dict() for r in log.accesses(person_id, limit=limit)]


@router.post("/persons/{person_id}/break-glass", status_code=201,
             responses=responses(401, 403, 404, 422), summary="Emergency access")
@rule(Rule("staff", write=True, roles=frozenset({Role.CLINICIAN})))
def break_glass(person_id: str, body: BreakGlassIn, store: StoreDep,
                access: AccessDep) -> dict[str, Any]:
    """Open time-limited access to all of a person's data without their consent. The reason
    is recorded, every access during it is flagged, and an admin reviews it afterwards."""
    return ConsentBook(store).break_glass(access.user, person_id, body.reason,
                                          body.minutes).to_dict()


@router.get("/break-glass", responses=responses(401, 403), summary="Break-glass to review")
@rule(Rule("admin"))
def pending_reviews(store: StoreDep, access: AccessDep) -> list[dict[str, Any]]:
    return [b.to_dict() for b in ConsentBook(store).pending_reviews()]


@router.post("/break-glass/{session_id}/review", responses=responses(401, 403, 404, 422),
             summary="Review a break-glass session")
@rule(Rule("admin", write=True))
def review(session_id: RowId, body: ReviewIn, store: StoreDep,
           access: AccessDep) -> dict[str, Any]:
    return ConsentBook(store).review(session_id, by=access.user, note=body.note).to_dict()


@router.get("/users", responses=responses(401, 403), summary="Accounts")
@rule(Rule("admin"))
def list_users(request: Request, access: AccessDep) -> list[dict[str, Any]]:
    identity: Identity = request.app.state.identity
    return [{"username": u.username, "role": u.role, "display_name": u.display_name,
             "person_id": u.person_id, "teams": sorted(u.teams), "disabled": u.disabled,
             "second_factor": u.totp_enrolled} for u in identity.users()]


@router.post("/users", status_code=201, responses=responses(401, 403, 404, 422),
             summary="Create an account")
@rule(Rule("admin", write=True))
def create_user(request: Request, body: UserIn, access: AccessDep) -> dict[str, Any]:
    """Clinicians and admins get a TOTP secret: ``totp_uri`` is shown only in this answer."""
    identity: Identity = request.app.state.identity
    user, uri = identity.create_user(body.username, Role(body.role), body.password,
                                     person_id=body.person_id,
                                     display_name=body.display_name, teams=body.teams)
    return {"username": user.username, "role": user.role, "totp_uri": uri}


@router.get("/audit/verify", responses=responses(401, 403), summary="Verify the audit log")
@rule(Rule("admin"))
def verify_audit(request: Request, access: AccessDep) -> dict[str, Any]:
    """Walk the hash chain: any edited, deleted or reordered entry is reported."""
    log: AuditLog = request.app.state.audit
    return log.verify().to_dict()
