"""Patient-controlled consent, modelled on FHIR Consent provisions, and break-glass access.

A grant permits one grantee (a user or a care team) to see some data categories of one person for
one purpose during a period. Nothing is permitted without a grant (deny by default), except a
patient's own data. Break-glass gives a clinician emergency access to everything for a short time
with a stated reason; every such access is flagged for review.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from hyperhealth.errors import AccessDenied, InputError, NotFound
from hyperhealth.security._model import (
    ALL_CATEGORIES,
    CARE_ROLES,
    Actor,
    Category,
    Purpose,
    Role,
)
from hyperhealth.store import Store
from hyperhealth.store import _schema as t

#: longest break-glass window; emergency access must be renewed (with a reason) after it
BREAK_GLASS_MAX_MINUTES = 240
#: a reason shorter than this is not a reason
_MIN_REASON = 10


def _now_us() -> int:
    return time.time_ns() // 1000


@dataclass(frozen=True)
class Grant:
    """One permit provision: grantee, categories, purpose and period."""

    pk: int
    person_id: str
    grantee_kind: str  # "user" or "team"
    grantee: str
    categories: frozenset[Category]
    purpose: Purpose
    start_us: int
    end_us: int | None
    created_us: int
    created_by: str
    revoked_us: int | None
    revoked_by: str | None

    def state(self, now_us: int) -> str:
        """``active``, ``revoked``, ``expired`` or ``pending`` (starts later)."""
        if self.revoked_us is not None:
            return "revoked"
        if self.end_us is not None and now_us >= self.end_us:
            return "expired"
        if now_us < self.start_us:
            return "pending"
        return "active"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.pk, "person_id": self.person_id, "grantee_kind": self.grantee_kind,
                "grantee": self.grantee, "categories": sorted(self.categories),
                "purpose": str(self.purpose), "start_us": self.start_us, "end_us": self.end_us,
                "created_us": self.created_us, "created_by": self.created_by,
                "revoked_us": self.revoked_us, "revoked_by": self.revoked_by,
                "state": self.state(_now_us())}


@dataclass(frozen=True)
class BreakGlass:
    pk: int
    username: str
    person_id: str
    reason: str
    start_us: int
    end_us: int
    reviewed_us: int | None
    reviewed_by: str | None
    review_note: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.pk, "username": self.username, "person_id": self.person_id,
                "reason": self.reason, "start_us": self.start_us, "end_us": self.end_us,
                "reviewed_us": self.reviewed_us, "reviewed_by": self.reviewed_by,
                "review_note": self.review_note}


@dataclass(frozen=True)
class Decision:
    """What an actor may see of one person for one purpose, and why."""

    categories: frozenset[Category]
    basis: str  # "self", "consent:<pks>", "break-glass:<pk>" or "none"
    break_glass: bool = False

    def allows(self, category: Category) -> bool:
        return category in self.categories

    @property
    def any(self) -> bool:
        return bool(self.categories)


NONE = Decision(frozenset(), "none")


class ConsentBook:
    """Grants, revocations, break-glass and the access decision, over one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- the decision ------------------------------------------------------------------------
    def decide(self, actor: Actor, person_id: str, purpose: Purpose = Purpose.TREATMENT,
               now_us: int | None = None) -> Decision:
        """The categories ``actor`` may read of ``person_id`` for ``purpose`` at ``now_us``."""
        now = _now_us() if now_us is None else now_us
        if actor.role is Role.PATIENT:
            return Decision(ALL_CATEGORIES, "self") if actor.person_id == person_id else NONE
        if actor.role not in CARE_ROLES:  # devices write only; admins and researchers read none
            return NONE
        with self.store.engine.connect() as conn:
            pk = _person_pk(conn, person_id)
            if pk is None:
                return NONE
            if actor.role is Role.CLINICIAN and purpose is not Purpose.RESEARCH:
                bg = conn.execute(
                    sa.select(t.break_glass.c.pk).where(
                        t.break_glass.c.person_pk == pk,
                        t.break_glass.c.user_pk == actor.user_pk,
                        t.break_glass.c.start_us <= now, t.break_glass.c.end_us > now)
                    .order_by(t.break_glass.c.end_us.desc()).limit(1)).scalar()
                if bg is not None:
                    return Decision(ALL_CATEGORIES, f"break-glass:{bg}", break_glass=True)
            if purpose is Purpose.EMERGENCY:
                return NONE
            rows = conn.execute(_grants_query(pk).where(
                t.consents.c.purpose == purpose.value,
                t.consents.c.revoked_us.is_(None),
                t.consents.c.start_us <= now,
                sa.or_(t.consents.c.end_us.is_(None), t.consents.c.end_us > now),
                _grantee_clause(actor))).all()
        cats: set[Category] = set()
        for r in rows:
            cats |= _categories(r.categories)
        if not cats:
            return NONE
        return Decision(frozenset(cats), "consent:" + ",".join(str(r.pk) for r in rows))

    def require(self, actor: Actor, person_id: str, category: Category,
                purpose: Purpose = Purpose.TREATMENT) -> Decision:
        """:meth:`decide`, raising :class:`AccessDenied` when ``category`` is not permitted."""
        d = self.decide(actor, person_id, purpose)
        if not d.allows(category):
            raise AccessDenied(
                f"{actor.username} ({actor.role}) has no {purpose} access to the "
                f"{category} data of this person",
                hint="ask the patient to grant access, or use break-glass in an emergency")
        return d

    def grantees(self, person_id: str, category: Category,
                 purpose: Purpose = Purpose.TREATMENT, now_us: int | None = None) -> set[str]:
        """Usernames who may read ``category`` of the person now: the patient, grantees (teams
        expanded) and clinicians with active break-glass."""
        now = _now_us() if now_us is None else now_us
        with self.store.engine.connect() as conn:
            pk = _person_pk(conn, person_id)
            if pk is None:
                return set()
            u = t.users
            names: set[str] = set(conn.execute(sa.select(u.c.username).where(
                u.c.person_pk == pk, u.c.role == Role.PATIENT.value,
                u.c.disabled.is_(False))).scalars())
            rows = conn.execute(_grants_query(pk).where(
                t.consents.c.purpose == purpose.value, t.consents.c.revoked_us.is_(None),
                t.consents.c.start_us <= now,
                sa.or_(t.consents.c.end_us.is_(None), t.consents.c.end_us > now))).all()
            users = {r.grantee for r in rows
                     if r.grantee_kind == "user" and category in _categories(r.categories)}
            teams = {r.grantee for r in rows
                     if r.grantee_kind == "team" and category in _categories(r.categories)}
            if teams:
                users |= set(conn.execute(
                    sa.select(u.c.username)
                    .join(t.care_team_members, t.care_team_members.c.user_pk == u.c.pk)
                    .join(t.care_teams, t.care_teams.c.pk == t.care_team_members.c.team_pk)
                    .where(t.care_teams.c.name.in_(teams))).scalars())
            if purpose is not Purpose.RESEARCH:
                users |= set(conn.execute(
                    sa.select(u.c.username).join(t.break_glass, t.break_glass.c.user_pk == u.c.pk)
                    .where(t.break_glass.c.person_pk == pk, t.break_glass.c.start_us <= now,
                           t.break_glass.c.end_us > now)).scalars())
            staff = set(conn.execute(sa.select(u.c.username).where(
                u.c.username.in_(users), u.c.disabled.is_(False),
                u.c.role.in_([r.value for r in CARE_ROLES]))).scalars())
        return names | staff

    def persons_visible(self, actor: Actor, purpose: Purpose = Purpose.TREATMENT,
                        now_us: int | None = None) -> list[str]:
        """Ids of the persons ``actor`` may see anything of (a clinician's panel)."""
        now = _now_us() if now_us is None else now_us
        if actor.role is Role.PATIENT:
            return [actor.person_id] if actor.person_id else []
        if actor.role not in CARE_ROLES:
            return []
        p = t.persons
        with self.store.engine.connect() as conn:
            by_consent = sa.select(t.consents.c.person_pk).where(
                t.consents.c.purpose == purpose.value, t.consents.c.revoked_us.is_(None),
                t.consents.c.start_us <= now,
                sa.or_(t.consents.c.end_us.is_(None), t.consents.c.end_us > now),
                _grantee_clause(actor))
            by_glass = sa.select(t.break_glass.c.person_pk).where(
                t.break_glass.c.user_pk == actor.user_pk, t.break_glass.c.start_us <= now,
                t.break_glass.c.end_us > now)
            ids = conn.execute(sa.select(p.c.id).where(
                sa.or_(p.c.pk.in_(by_consent), p.c.pk.in_(by_glass))).order_by(p.c.id)).scalars()
            return list(ids)

    # -- grants --------------------------------------------------------------------------------
    def grant(self, person_id: str, grantee: str, categories: Iterable[Category | str], *,
              by: Actor, grantee_kind: str = "user", purpose: Purpose = Purpose.TREATMENT,
              start_us: int | None = None, end_us: int | None = None) -> Grant:
        """Add a permit provision. Only the patient themself (or an admin acting on a signed
        paper consent) may grant."""
        _may_manage(by, person_id)
        if purpose is Purpose.EMERGENCY:
            raise InputError("emergency access is not granted; clinicians use break-glass",
                             field="purpose", hint="grant purpose 'treatment' or 'research'")
        cats = {Category.parse(c) if isinstance(c, str) else c for c in categories}
        if not cats:
            raise InputError("a grant needs at least one data category", field="categories",
                             hint="e.g. vitals, cgm, medications")
        if grantee_kind not in ("user", "team"):
            raise InputError(f"grantee kind {grantee_kind!r} is not 'user' or 'team'",
                             field="grantee_kind", hint="use 'user' or 'team'")
        now = _now_us()
        start = now if start_us is None else start_us
        if end_us is not None and end_us <= start:
            raise InputError("the grant ends before it starts", field="end",
                             hint="give an end after the start, or none for 'until revoked'")
        with self.store.engine.begin() as conn:
            pk = _person_pk(conn, person_id)
            if pk is None:
                raise NotFound(f"no person with id {person_id!r}")
            _check_grantee(conn, grantee_kind, grantee, purpose)
            gpk = conn.execute(t.consents.insert().values(
                person_pk=pk, grantee_kind=grantee_kind, grantee=grantee,
                categories=sorted(c.value for c in cats), purpose=purpose.value,
                start_us=start, end_us=end_us, created_us=now, created_by=by.username,
            ).returning(t.consents.c.pk)).scalar_one()
        return self.get(person_id, gpk)

    def revoke(self, person_id: str, grant_pk: int, *, by: Actor) -> Grant:
        """End a grant now. Revoking twice is harmless."""
        _may_manage(by, person_id)
        c = t.consents
        with self.store.engine.begin() as conn:
            pk = _person_pk(conn, person_id)
            n = conn.execute(c.update().where(c.c.pk == grant_pk, c.c.person_pk == pk,
                                              c.c.revoked_us.is_(None))
                             .values(revoked_us=_now_us(), revoked_by=by.username)).rowcount
            if not n and conn.execute(sa.select(c.c.pk).where(
                    c.c.pk == grant_pk, c.c.person_pk == pk)).first() is None:
                raise NotFound(f"person {person_id!r} has no grant {grant_pk}")
        return self.get(person_id, grant_pk)

    def get(self, person_id: str, grant_pk: int) -> Grant:
        for g in self.grants(person_id):
            if g.pk == grant_pk:
                return g
        raise NotFound(f"person {person_id!r} has no grant {grant_pk}")

    def grants(self, person_id: str) -> list[Grant]:
        """Every grant of the person, newest first, whatever its state."""
        with self.store.engine.connect() as conn:
            pk = _person_pk(conn, person_id)
            if pk is None:
                raise NotFound(f"no person with id {person_id!r}")
            rows = conn.execute(_grants_query(pk).order_by(t.consents.c.pk.desc())).all()
        return [_grant(person_id, r) for r in rows]

    # -- break-glass ---------------------------------------------------------------------------
    def break_glass(self, actor: Actor, person_id: str, reason: str,
                    minutes: int = 60) -> BreakGlass:
        """Open emergency access for a clinician: a stated reason, at most
        :data:`BREAK_GLASS_MAX_MINUTES`, flagged for review."""
        if actor.role is not Role.CLINICIAN or actor.user_pk is None:
            raise AccessDenied("only clinicians can use break-glass access",
                               hint="ask a clinician on call")
        if len(reason.strip()) < _MIN_REASON:
            raise InputError("break-glass needs a reason a reviewer can check",
                             field="reason", hint=f"write at least {_MIN_REASON} characters, "
                             "e.g. 'unconscious in ED, no consent obtainable'")
        if not 1 <= minutes <= BREAK_GLASS_MAX_MINUTES:
            raise InputError(f"break-glass lasts 1-{BREAK_GLASS_MAX_MINUTES} minutes, not "
                             f"{minutes}", field="minutes", hint="renew it when it runs out")
        now = _now_us()
        with self.store.engine.begin() as conn:
            pk = _person_pk(conn, person_id)
            if pk is None:
                raise NotFound(f"no person with id {person_id!r}")
            bpk = conn.execute(t.break_glass.insert().values(
                user_pk=actor.user_pk, person_pk=pk, reason=reason.strip(), start_us=now,
                end_us=now + minutes * 60_000_000, review_note="",
            ).returning(t.break_glass.c.pk)).scalar_one()
        return self._break_glass(sa.true(), bpk)[0]

    def pending_reviews(self) -> list[BreakGlass]:
        """Break-glass sessions nobody has reviewed yet, oldest first."""
        return self._break_glass(t.break_glass.c.reviewed_us.is_(None))

    def review(self, pk: int, *, by: Actor, note: str) -> BreakGlass:
        """Record the review of a break-glass session (an admin; never the user themself)."""
        if by.role is not Role.ADMIN:
            raise AccessDenied("only an admin reviews break-glass access",
                               hint="sign in as an admin")
        found = self._break_glass(t.break_glass.c.pk == pk)
        if not found:
            raise NotFound(f"no break-glass session {pk}")
        if found[0].username == by.username:
            raise AccessDenied("a break-glass session cannot be reviewed by its own user",
                               hint="ask another admin")
        with self.store.engine.begin() as conn:
            conn.execute(t.break_glass.update().where(t.break_glass.c.pk == pk).values(
                reviewed_us=_now_us(), reviewed_by=by.username, review_note=note))
        return self._break_glass(t.break_glass.c.pk == pk)[0]

    def _break_glass(self, where: Any, pk: int | None = None) -> list[BreakGlass]:
        b = t.break_glass
        q = (sa.select(b, t.users.c.username, t.persons.c.id.label("person_id"))
             .join(t.users, t.users.c.pk == b.c.user_pk)
             .join(t.persons, t.persons.c.pk == b.c.person_pk).where(where).order_by(b.c.pk))
        if pk is not None:
            q = q.where(b.c.pk == pk)
        with self.store.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [BreakGlass(r.pk, r.username, r.person_id, r.reason, r.start_us, r.end_us,
                           r.reviewed_us, r.reviewed_by, r.review_note) for r in rows]


def _may_manage(by: Actor, person_id: str) -> None:
    if by.role is Role.PATIENT and by.person_id == person_id:
        return
    if by.role is Role.ADMIN:
        return
    raise AccessDenied("only the patient (or an admin recording a signed consent) can change "
                       "who sees their data", hint="ask the patient to change it")


def _check_grantee(conn: sa.Connection, kind: str, name: str, purpose: Purpose) -> None:
    if kind == "team":
        if purpose is Purpose.RESEARCH and name == "research":
            return  # the research programme: de-identified export only
        if conn.execute(sa.select(t.care_teams.c.pk).where(t.care_teams.c.name == name)).first():
            return
        raise NotFound(f"no care team named {name!r}")
    role = conn.execute(sa.select(t.users.c.role).where(t.users.c.username == name)).scalar()
    if role is None:
        raise NotFound(f"no user named {name!r}")
    if role not in {r.value for r in CARE_ROLES}:
        raise InputError(f"{name!r} is a {role}; access is granted to clinicians and care "
                         "coordinators (or their teams)", field="grantee",
                         hint="researchers receive de-identified exports instead")


def _person_pk(conn: sa.Connection, person_id: str) -> int | None:
    pk: int | None = conn.execute(
        sa.select(t.persons.c.pk).where(t.persons.c.id == person_id)).scalar()
    return pk


def _grants_query(person_pk: int) -> sa.Select[Any]:
    return sa.select(t.consents).where(t.consents.c.person_pk == person_pk)


def _grantee_clause(actor: Actor) -> sa.ColumnElement[bool]:
    c = t.consents.c
    by_user = sa.and_(c.grantee_kind == "user", c.grantee == actor.username)
    if not actor.teams:
        return by_user
    return sa.or_(by_user, sa.and_(c.grantee_kind == "team", c.grantee.in_(sorted(actor.teams))))


def _categories(value: Sequence[str] | None) -> set[Category]:
    out: set[Category] = set()
    for v in value or ():
        try:
            out.add(Category(v))
        except ValueError:  # a category retired since the grant: grants nothing
            continue
    return out


def _grant(person_id: str, r: Any) -> Grant:
    return Grant(r.pk, person_id, r.grantee_kind, r.grantee, frozenset(_categories(r.categories)),
                 Purpose(r.purpose), r.start_us, r.end_us, r.created_us, r.created_by,
                 r.revoked_us, r.revoked_by)
