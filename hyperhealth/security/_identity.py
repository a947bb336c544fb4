"""Users, roles, passwords, second factor, bearer tokens and device credentials.

Sources for the numbers (security policy, not medicine):

- NIST SP 800-63B-4 (2024), section 3.1.1.2: passwords of at least 15 characters when they are
  the only factor, at least 8 when part of multi-factor authentication; no composition rules.
- NIST SP 800-63B-4, section 2.2.3 (AAL2): reauthenticate at least every 24 hours; we use 12 h as
  the refresh-token lifetime and 30 minutes of inactivity as automatic logoff (HIPAA
  45 CFR 164.312(a)(2)(iii) requires automatic logoff without fixing a time).
- RFC 6238 (TOTP) section 5.2: a verifier must not accept the same one-time password twice.
- OAuth 2.0 Security Best Current Practice (RFC 9700) section 4.14.2: refresh tokens rotate and
  the reuse of a rotated one revokes the whole chain.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyotp
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hyperhealth.errors import AuthenticationError, InputError, NotFound
from hyperhealth.security._consent import _person_pk as find_person_pk
from hyperhealth.security._model import SECOND_FACTOR_ROLES, Actor, Role
from hyperhealth.store import Store
from hyperhealth.store import _schema as t

ACCESS_TTL_S = 15 * 60
REFRESH_TTL_S = 12 * 3600
IDLE_LOGOFF_S = 30 * 60
MAX_FAILED_LOGINS = 10  # SP 800-63B-4 allows up to 100; lower is allowed
LOCKOUT_S = 15 * 60
MIN_PASSWORD = 15
MIN_PASSWORD_MFA = 8
_TOUCH_EVERY_US = 60_000_000  # write last_used at most once a minute per token

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 low-memory profile
_DUMMY_HASH = _hasher.hash("timing-equaliser-for-unknown-users")


def _now_us() -> int:
    return time.time_ns() // 1000


def _digest(token: str) -> str:
    """Tokens and device secrets are 256-bit random, so a plain SHA-256 is enough to store."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int  # seconds, of the access token
    token_type: str = "Bearer"

    def to_dict(self) -> dict[str, Any]:
        return {"access_token": self.access_token, "refresh_token": self.refresh_token,
                "expires_in": self.expires_in, "token_type": self.token_type}


@dataclass(frozen=True)
class User:
    pk: int
    username: str
    role: Role
    person_id: str | None
    display_name: str
    totp_enrolled: bool
    preferences: dict[str, Any]
    disabled: bool
    teams: frozenset[str]

    def actor(self) -> Actor:
        return Actor(username=self.username, role=self.role, person_id=self.person_id,
                     teams=self.teams, user_pk=self.pk)


class Identity:
    """User accounts and the tokens that stand for them."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- accounts ------------------------------------------------------------------------------
    def create_user(self, username: str, role: Role | str, password: str, *,
                    person_id: str | None = None, display_name: str = "",
                    teams: Iterable[str] = ()) -> tuple[User, str | None]:
        """Create an account; returns it and, for roles that need a second factor, the TOTP
        provisioning URI to show once (an authenticator app scans it)."""
        role = Role(role)
        name = username.strip()
        if not name or len(name) > 120 or any(ch.isspace() for ch in name):
            raise InputError(f"username {username!r} must be 1-120 characters without spaces",
                             field="username", hint="e.g. dr.garcia or maria.lopez")
        if role is Role.DEVICE:
            raise InputError("devices are registered with device credentials, not accounts",
                             field="role", hint="use register_device_secret()")
        needs_mfa = role in SECOND_FACTOR_ROLES
        _check_password(password, MIN_PASSWORD_MFA if needs_mfa else MIN_PASSWORD)
        if role is Role.PATIENT and not person_id:
            raise InputError("a patient account belongs to a person", field="person_id",
                             hint="give the person id the account is for")
        secret = pyotp.random_base32() if needs_mfa else None
        with self.store.engine.begin() as conn:
            if conn.execute(sa.select(t.users.c.pk).where(t.users.c.username == name)).first():
                raise InputError(f"username {name!r} is taken", field="username",
                                 hint="choose another")
            ppk = _person_pk(conn, person_id) if person_id else None
            pk = conn.execute(t.users.insert().values(
                username=name, role=role.value, person_pk=ppk,
                display_name=display_name or name, password_hash=_hasher.hash(password),
                totp_secret=self._seal(name, secret), preferences={}, failed_logins=0,
                disabled=False,
                created_us=_now_us()).returning(t.users.c.pk)).scalar_one()
            for team in teams:
                _join_team(conn, team, pk)
        uri = pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name="hyperhealth") if secret \
            else None
        return self.user(name), uri

    def totp_secret(self, username: str) -> str | None:
        """The base32 TOTP secret (for enrolment screens and tests); ``None`` when none."""
        with self.store.engine.connect() as conn:
            s: str | None = conn.execute(sa.select(t.users.c.totp_secret).where(
                t.users.c.username == username)).scalar()
        return self._open(username, s)

    def _seal(self, username: str, secret: str | None) -> str | None:
        return self.store.seal_text(("users", "totp_secret", username), secret)

    def _open(self, username: str, stored: str | None) -> str | None:
        return self.store.open_text(("users", "totp_secret", username), stored)

    def set_password(self, username: str, password: str) -> None:
        """Replace an account's password (admin reset); every session of it ends."""
        user = self.user(username)
        _check_password(password, MIN_PASSWORD_MFA if user.role in SECOND_FACTOR_ROLES
                        else MIN_PASSWORD)
        with self.store.engine.begin() as conn:
            conn.execute(t.users.update().where(t.users.c.pk == user.pk).values(
                password_hash=_hasher.hash(password), failed_logins=0, locked_until_us=None))
            conn.execute(t.auth_tokens.update().where(
                t.auth_tokens.c.user_pk == user.pk, t.auth_tokens.c.revoked_us.is_(None))
                .values(revoked_us=_now_us()))

    def enrol_totp(self, username: str) -> str:
        """Give an account a (new) TOTP secret; returns the provisioning URI."""
        secret = pyotp.random_base32()
        with self.store.engine.begin() as conn:
            n = conn.execute(t.users.update().where(t.users.c.username == username)
                             .values(totp_secret=self._seal(username, secret),
                                     totp_last_step=None)).rowcount
        if not n:
            raise NotFound(f"no user named {username!r}")
        return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name="hyperhealth")

    def user(self, username: str) -> User:
        with self.store.engine.connect() as conn:
            row = conn.execute(_user_query().where(t.users.c.username == username)).first()
            if row is None:
                raise NotFound(f"no user named {username!r}")
            return _user(conn, row)

    def users(self) -> list[User]:
        with self.store.engine.connect() as conn:
            return [_user(conn, r) for r in conn.execute(_user_query().order_by(t.users.c.pk))]

    def set_disabled(self, username: str, disabled: bool) -> None:
        """Disable (or re-enable) an account; disabling revokes its tokens at once."""
        with self.store.engine.begin() as conn:
            pk = conn.execute(sa.update(t.users).where(t.users.c.username == username)
                              .values(disabled=disabled).returning(t.users.c.pk)).scalar()
            if pk is None:
                raise NotFound(f"no user named {username!r}")
            if disabled:
                conn.execute(t.auth_tokens.update().where(
                    t.auth_tokens.c.user_pk == pk, t.auth_tokens.c.revoked_us.is_(None))
                    .values(revoked_us=_now_us()))

    def set_preferences(self, username: str, **prefs: Any) -> dict[str, Any]:
        """Merge display preferences (language, units) into the account."""
        user = self.user(username)
        merged = {**user.preferences, **prefs}
        with self.store.engine.begin() as conn:
            conn.execute(t.users.update().where(t.users.c.pk == user.pk)
                         .values(preferences=merged))
        return merged

    def add_team(self, name: str, members: Iterable[str] = ()) -> None:
        with self.store.engine.begin() as conn:
            if not conn.execute(sa.select(t.care_teams.c.pk).where(
                    t.care_teams.c.name == name)).first():
                conn.execute(t.care_teams.insert().values(name=name))
            for m in members:
                upk = conn.execute(sa.select(t.users.c.pk).where(
                    t.users.c.username == m)).scalar()
                if upk is None:
                    raise NotFound(f"no user named {m!r}")
                _join_team(conn, name, upk)

    # -- login and tokens ----------------------------------------------------------------------
    def login(self, username: str, password: str, totp_code: str | None = None) -> TokenPair:
        """Check password (and TOTP where the role needs it); return a new token pair.

        Wrong credentials all give the same message, so it does not reveal which part was wrong
        or whether the account exists.
        """
        now = _now_us()
        bad = AuthenticationError("wrong username, password or one-time code",
                                  hint="check them; accounts lock for 15 minutes after "
                                  f"{MAX_FAILED_LOGINS} failed attempts")
        with self.store.engine.begin() as conn:
            row = conn.execute(sa.select(t.users).where(t.users.c.username == username)
                               .with_for_update()).first()
            if row is None:
                _verify(_DUMMY_HASH, password)  # same work as for a real account
                raise bad
            if row.locked_until_us and row.locked_until_us > now:
                raise AuthenticationError("this account is locked after repeated failed logins",
                                          hint="wait 15 minutes or ask an admin")
            ok = _verify(row.password_hash, password) and not row.disabled
            step = None
            if ok and Role(row.role) in SECOND_FACTOR_ROLES:
                step = _totp_step(self._open(username, row.totp_secret), totp_code,
                                  row.totp_last_step, now)
                ok = step is not None
            if not ok:
                fails = row.failed_logins + 1
                conn.execute(t.users.update().where(t.users.c.pk == row.pk).values(
                    failed_logins=0 if fails >= MAX_FAILED_LOGINS else fails,
                    locked_until_us=now + LOCKOUT_S * 1_000_000 if fails >= MAX_FAILED_LOGINS
                    else row.locked_until_us))
        if not ok:  # outside the transaction, so the failure count is committed
            raise bad
        with self.store.engine.begin() as conn:
            values: dict[str, Any] = {"failed_logins": 0, "locked_until_us": None}
            if step is not None:
                values["totp_last_step"] = step
            if _hasher.check_needs_rehash(row.password_hash):
                values["password_hash"] = _hasher.hash(password)
            conn.execute(t.users.update().where(t.users.c.pk == row.pk).values(**values))
            return _issue(conn, row.pk, secrets.token_hex(16), now)

    def refresh(self, refresh_token: str) -> TokenPair:
        """Exchange a refresh token for a new pair. A refresh token works once: presenting a
        used one again revokes every token of that login (it was probably stolen)."""
        now = _now_us()
        with self.store.engine.begin() as conn:
            row = conn.execute(sa.select(t.auth_tokens).where(
                t.auth_tokens.c.token_hash == _digest(refresh_token),
                t.auth_tokens.c.kind == "refresh").with_for_update()).first()
            if row is None:
                raise AuthenticationError("unknown refresh token", hint="log in again")
            if row.revoked_us is not None:
                _revoke_family(conn, row.family, now)
                reused = True
            else:
                reused = False
                _check_live(row, now, "refresh token")
                conn.execute(t.auth_tokens.update().where(
                    t.auth_tokens.c.token_hash == row.token_hash).values(revoked_us=now))
                if _user_disabled(conn, row.user_pk):
                    raise AuthenticationError("this account is disabled", hint="ask an admin")
                pair = _issue(conn, row.user_pk, row.family, now)
        if reused:
            raise AuthenticationError("this refresh token was already used; every session of "
                                      "that login has been ended", hint="log in again")
        return pair

    def revoke(self, token: str) -> None:
        """Revoke a token (RFC 7009: unknown tokens are not an error); a refresh token ends
        its whole login."""
        now = _now_us()
        with self.store.engine.begin() as conn:
            row = conn.execute(sa.select(t.auth_tokens).where(
                t.auth_tokens.c.token_hash == _digest(token))).first()
            if row is not None:
                _revoke_family(conn, row.family, now)

    def authenticate(self, token: str, now_us: int | None = None) -> Actor:
        """The actor behind an access token or a device token; raises on anything else."""
        now = _now_us() if now_us is None else now_us
        if token.startswith("hhd_"):
            return self.authenticate_device(token)
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(t.auth_tokens).where(
                t.auth_tokens.c.token_hash == _digest(token),
                t.auth_tokens.c.kind == "access")).first()
            if row is None:
                raise AuthenticationError("unknown or malformed access token",
                                          hint="log in (POST /api/auth/token) and send "
                                          "'Authorization: Bearer <access_token>'")
            _check_live(row, now, "access token")
            urow = conn.execute(_user_query().where(t.users.c.pk == row.user_pk)).first()
            if urow is None or urow.disabled:
                raise AuthenticationError("this account is disabled", hint="ask an admin")
            user = _user(conn, urow)
        if now - row.last_used_us > _TOUCH_EVERY_US:
            with self.store.engine.begin() as conn:
                conn.execute(t.auth_tokens.update().where(t.auth_tokens.c.family == row.family,
                                                          t.auth_tokens.c.revoked_us.is_(None))
                             .values(last_used_us=now))
        return user.actor()

    # -- devices -------------------------------------------------------------------------------
    def register_device_secret(self, device_id: str) -> str:
        """A new credential for a registered device (replacing any old one); returns the
        bearer token to configure on the device, shown only once."""
        secret = "hhd_" + device_id + "." + secrets.token_urlsafe(32)
        with self.store.engine.begin() as conn:
            if not conn.execute(sa.select(t.devices.c.device_id).where(
                    t.devices.c.device_id == device_id)).first():
                raise NotFound(f"no registered device {device_id!r}")
            conn.execute(t.device_credentials.delete().where(
                t.device_credentials.c.device_id == device_id))
            conn.execute(t.device_credentials.insert().values(
                device_id=device_id, secret_hash=_digest(secret), created_us=_now_us()))
        return secret

    def authenticate_device(self, token: str) -> Actor:
        device_id = token.removeprefix("hhd_").rsplit(".", 1)[0]
        d, c = t.devices, t.device_credentials
        with self.store.engine.connect() as conn:
            row = conn.execute(
                sa.select(c.c.secret_hash, c.c.revoked_us, t.persons.c.id)
                .join(d, d.c.device_id == c.c.device_id)
                .join(t.persons, t.persons.c.pk == d.c.person_pk)
                .where(c.c.device_id == device_id)).first()
        if row is None or row.revoked_us is not None or \
                not secrets.compare_digest(row.secret_hash, _digest(token)):
            raise AuthenticationError("unknown or revoked device credential",
                                      hint="issue a new one: hyperhealth users device-secret")
        return Actor(username=f"device:{device_id}", role=Role.DEVICE, person_id=row.id,
                     device_id=device_id)


def _check_password(password: str, minimum: int) -> None:
    if len(password) < minimum:
        raise InputError(f"the password has {len(password)} characters; at least {minimum} "
                         "are needed", field="password",
                         hint="a few unrelated words make a long password easy to remember")
    if len(password) > 256:
        raise InputError("the password is longer than 256 characters", field="password",
                         hint="use a shorter one")


def _verify(hash_: str, password: str) -> bool:
    try:
        return _hasher.verify(hash_, password)
    except (VerificationError, InvalidHashError):
        return False


def _totp_step(secret: str | None, code: str | None, last: int | None, now_us: int) -> int | None:
    """The accepted time step for ``code`` (±1 step for clock drift), never one used before."""
    if not secret or not code:
        return None
    totp = pyotp.TOTP(secret)
    step_now = now_us // 1_000_000 // totp.interval
    for step in (step_now, step_now - 1, step_now + 1):
        if (last is None or step > last) and secrets.compare_digest(
                totp.generate_otp(step), code.strip()):
            return step
    return None


def _issue(conn: sa.Connection, user_pk: int, family: str, now: int) -> TokenPair:
    access = "hh_at_" + secrets.token_urlsafe(32)
    refresh = "hh_rt_" + secrets.token_urlsafe(32)
    conn.execute(t.auth_tokens.insert(), [
        {"token_hash": _digest(access), "kind": "access", "user_pk": user_pk, "family": family,
         "issued_us": now, "expires_us": now + ACCESS_TTL_S * 1_000_000, "last_used_us": now},
        {"token_hash": _digest(refresh), "kind": "refresh", "user_pk": user_pk,
         "family": family, "issued_us": now, "expires_us": now + REFRESH_TTL_S * 1_000_000,
         "last_used_us": now}])
    return TokenPair(access, refresh, ACCESS_TTL_S)


def _check_live(row: Any, now: int, what: str) -> None:
    if row.revoked_us is not None:
        raise AuthenticationError(f"this {what} was revoked (logged out)", hint="log in again")
    if now >= row.expires_us:
        raise AuthenticationError(f"this {what} has expired", hint="refresh it or log in again")
    if now - row.last_used_us > IDLE_LOGOFF_S * 1_000_000:
        raise AuthenticationError(f"logged off after {IDLE_LOGOFF_S // 60} minutes without "
                                  "activity", hint="log in again")


def _revoke_family(conn: sa.Connection, family: str, now: int) -> None:
    conn.execute(t.auth_tokens.update().where(t.auth_tokens.c.family == family,
                                              t.auth_tokens.c.revoked_us.is_(None))
                 .values(revoked_us=now))


def _user_disabled(conn: sa.Connection, user_pk: int) -> bool:
    return bool(conn.execute(sa.select(t.users.c.disabled).where(
        t.users.c.pk == user_pk)).scalar())


def _person_pk(conn: sa.Connection, person_id: str) -> int:
    pk = find_person_pk(conn, person_id)
    if pk is None:
        raise NotFound(f"no person with id {person_id!r}")
    return int(pk)


def _join_team(conn: sa.Connection, team: str, user_pk: int) -> None:
    tpk = conn.execute(sa.select(t.care_teams.c.pk).where(t.care_teams.c.name == team)).scalar()
    if tpk is None:
        tpk = conn.execute(t.care_teams.insert().values(name=team)
                           .returning(t.care_teams.c.pk)).scalar_one()
    m = t.care_team_members
    if not conn.execute(sa.select(m.c.team_pk).where(m.c.team_pk == tpk,
                                                    m.c.user_pk == user_pk)).first():
        conn.execute(m.insert().values(team_pk=tpk, user_pk=user_pk))


def _user_query() -> sa.Select[Any]:
    return sa.select(t.users, t.persons.c.id.label("person_id")).outerjoin(
        t.persons, t.persons.c.pk == t.users.c.person_pk)


def _user(conn: sa.Connection, r: Any) -> User:
    teams = frozenset(conn.execute(
        sa.select(t.care_teams.c.name).join(t.care_team_members,
                                            t.care_team_members.c.team_pk == t.care_teams.c.pk)
        .where(t.care_team_members.c.user_pk == r.pk)).scalars())
    return User(r.pk, r.username, Role(r.role), r.person_id, r.display_name,
                r.totp_secret is not None, dict(r.preferences or {}), bool(r.disabled), teams)
