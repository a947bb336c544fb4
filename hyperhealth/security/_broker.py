"""Mosquitto password and ACL files made from the store, so the broker enforces who may publish
and who may read what.

* A **device** (broker username = its ``device_id``, registered in ``devices``) may only publish
  its own readings topic, ``hyperhealth/<device_id>/readings``; it can read nothing.
* A **service** account (the ingest listener, the edge agent's local subscriber and the alert
  dispatcher) may read every readings topic and publish every alerts topic.
* A **user** may read the alerts topic ``hyperhealth/<person_id>/alerts`` of each person whose
  alerts they may see (the rule of :meth:`ConsentBook.grantees`): a patient their own; a
  clinician or care coordinator those of persons whose active ``treatment`` consent covering
  ``alerts`` names them or their care team, and those of persons they hold an active
  break-glass access for. Nobody else reads anything.

Everything else is denied: once ``acl_file`` is set Mosquitto refuses any topic no line allows,
and ``allow_anonymous false`` refuses clients without a password. Consents start, end and are
revoked, and break-glass access expires, so the files must be rebuilt and the broker sent
SIGHUP (which rereads both files) whenever access changes: :func:`watch` does that, waking at
the next scheduled change (:attr:`BrokerFiles.next_change_us`) or every interval.

Passwords are stored and written in Mosquitto's own ``sha512-pbkdf2`` encoding (type 7 in
Mosquitto's ``password_mosq.h``): ``$7$<iterations>$<base64 12-byte salt>$<base64 64-byte
PBKDF2-HMAC-SHA512>``, standard base64 with padding, as ``mosquitto_passwd`` writes it. The secrets
are 256-bit random tokens made here, never chosen by people, so the iteration count is not what
protects them; it is kept low (:data:`DEFAULT_ITERATIONS`) because the broker derives the hash on
every CONNECT and a reconnect storm of thousands of devices must not stall it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import re
import secrets
import signal
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from hyperhealth.errors import ConfigError, InputError, NotFound
from hyperhealth.security._model import CARE_ROLES, Category, Purpose, Role
from hyperhealth.store import Store
from hyperhealth.store import _schema as S

log = logging.getLogger("hyperhealth.security.broker")

#: Mosquitto's salt length for sha512-pbkdf2 (``SALT_LEN`` in its ``password_mosq.c``); the
#: broker rejects a type-7 line whose salt does not decode to exactly this many bytes.
SALT_BYTES = 12
#: PBKDF2 rounds written into new hashes (Mosquitto 2.0's ``mosquitto_passwd`` writes 101,
#: later releases 1000); any count >= 1 is read back from the line itself.
DEFAULT_ITERATIONS = 1000
_SECRET_BYTES = 32  # 256-bit secrets: brute force is out of reach at any iteration count

#: the topics, in the same shapes as :mod:`hyperhealth.ingest.mqtt` and the alert lifecycle
READINGS_TOPIC = "hyperhealth/{}/readings"
ALERTS_TOPIC = "hyperhealth/{}/alerts"

# Characters that would change the meaning of a password-file line (``:``) or an ACL topic
# (``/``, ``+``, ``#``), or of a line at all (whitespace, control characters).
_UNSAFE = re.compile(r"[:/+#\s\x00-\x1f\x7f]")


class BrokerKind(StrEnum):
    DEVICE = "device"
    USER = "user"
    SERVICE = "service"


def _now_us() -> int:
    return time.time_ns() // 1000


def check_name(name: str, what: str) -> str:
    """``name`` if it can stand as a broker username or a topic level, else an error.

    >>> check_name("watch-7", "device id")
    'watch-7'
    >>> check_name("a/b", "device id")
    Traceback (most recent call last):
    ...
    hyperhealth.errors.InputError: [device id]: 'a/b' cannot be used with the MQTT broker: ...
    """
    if not name or len(name) > 200 or _UNSAFE.search(name):
        raise InputError(f"{name!r} cannot be used with the MQTT broker: it must be 1-200 "
                         "characters without ':', '/', '+', '#', spaces or control characters",
                         field=what, hint="register it under an id without those characters")
    return name


# -- Mosquitto's password encoding ------------------------------------------------------------
def mosquitto_hash(secret: str, *, iterations: int = DEFAULT_ITERATIONS,
                   salt: bytes | None = None) -> str:
    """The password-file encoding of ``secret`` (without the ``username:`` prefix).

    >>> h = mosquitto_hash("s3cret", salt=bytes(12), iterations=101)
    >>> h.split("$")[1:4]
    ['7', '101', 'AAAAAAAAAAAAAAAA']
    >>> mosquitto_verify(h, "s3cret"), mosquitto_verify(h, "S3cret")
    (True, False)
    """
    if iterations < 1:
        raise ValueError(f"iterations must be at least 1, not {iterations}")
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    if len(salt) != SALT_BYTES:
        raise ValueError(f"Mosquitto needs a {SALT_BYTES}-byte salt, got {len(salt)} bytes")
    digest = hashlib.pbkdf2_hmac("sha512", secret.encode(), salt, iterations)
    b64 = base64.b64encode
    return f"$7${iterations}${b64(salt).decode()}${b64(digest).decode()}"


def mosquitto_verify(encoded: str, secret: str) -> bool:
    """Whether ``secret`` matches a ``$7$`` hash (as the broker would decide)."""
    parts = encoded.split("$")
    if len(parts) != 5 or parts[0] or parts[1] != "7":
        raise ValueError("not a Mosquitto sha512-pbkdf2 hash ($7$<iterations>$<salt>$<hash>)")
    try:
        iterations = int(parts[2])
        salt = base64.b64decode(parts[3], validate=True)
        want = base64.b64decode(parts[4], validate=True)
    except (ValueError, binascii.Error) as exc:
        raise ValueError(f"malformed Mosquitto hash: {exc}") from None
    got = hashlib.pbkdf2_hmac("sha512", secret.encode(), salt, iterations, dklen=len(want))
    return hmac.compare_digest(got, want)


# -- credentials ------------------------------------------------------------------------------
def issue_credentials(store: Store, username: str, kind: BrokerKind | str, *,
                      replace: bool = False, iterations: int = DEFAULT_ITERATIONS) -> str:
    """Create (or with ``replace``, rotate) a broker password; return the secret, once.

    Only its Mosquitto hash is stored. A device must be registered (``devices``) and a user must
    exist (``users``) under the same name; services are free-standing accounts.
    """
    kind = BrokerKind(kind)
    check_name(username, "username")
    now = _now_us()
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    encoded = mosquitto_hash(secret, iterations=iterations)
    bc = S.broker_credentials
    with store.engine.begin() as conn:
        if kind is BrokerKind.DEVICE and conn.execute(sa.select(S.devices.c.device_id).where(
                S.devices.c.device_id == username)).first() is None:
            raise NotFound(f"no registered device {username!r}: register it with its owner first "
                           "(device ids are broker usernames)")
        if kind is BrokerKind.USER and conn.execute(sa.select(S.users.c.pk).where(
                S.users.c.username == username)).first() is None:
            raise NotFound(f"no user {username!r}: create the user before their broker password")
        row = conn.execute(sa.select(bc.c.kind, bc.c.revoked_us).where(bc.c.username == username)
                           ).first()
        if row is None:
            conn.execute(bc.insert().values(username=username, kind=kind.value,
                                            password_hash=encoded, created_us=now))
            return secret
        if row.kind != kind.value:
            raise InputError(f"broker username {username!r} already belongs to a {row.kind}, "
                             f"not a {kind.value}", field="username",
                             hint="choose another name")
        if row.revoked_us is None and not replace:
            raise InputError(f"broker credentials for {username!r} exist already",
                             field="username", hint="to rotate them, issue again with --replace")
        conn.execute(bc.update().where(bc.c.username == username).values(
            password_hash=encoded, created_us=now, revoked_us=None))
    return secret


def revoke_credentials(store: Store, username: str) -> bool:
    """Mark a broker credential revoked (kept for the record); ``False`` if none was active."""
    bc = S.broker_credentials
    with store.engine.begin() as conn:
        n = conn.execute(bc.update().where(bc.c.username == username, bc.c.revoked_us.is_(None))
                         .values(revoked_us=_now_us())).rowcount
    return bool(n)


# -- who may read whose alerts ----------------------------------------------------------------
def alert_readers(conn: sa.Connection, now_us: int) -> dict[str, set[str]]:
    """``{username: {person_id, ...}}``: whose alerts each enabled user may read at ``now_us``.

    The same rule as :meth:`ConsentBook.grantees` (a test holds them equal): the patient
    themself; clinicians and care coordinators named by an active ``treatment`` consent that
    covers ``alerts``, directly or through a care team; clinicians with an active break-glass
    access. Here in one query per source for the whole deployment, where ``grantees`` asks
    per person.
    """
    u, p, c = S.users, S.persons, S.consents
    out: dict[str, set[str]] = defaultdict(set)
    enabled = u.c.disabled.is_(False)
    for name, pid in conn.execute(sa.select(u.c.username, p.c.id).join(p, u.c.person_pk == p.c.pk)
                                  .where(u.c.role == Role.PATIENT.value, enabled)):
        out[name].add(pid)
    staff = set(conn.execute(sa.select(u.c.username).where(
        enabled, u.c.role.in_([r.value for r in CARE_ROLES]))).scalars())
    members: dict[str, set[str]] = defaultdict(set)
    t, m = S.care_teams, S.care_team_members
    for team, name in conn.execute(sa.select(t.c.name, u.c.username)
                                   .join(m, m.c.team_pk == t.c.pk).join(u, u.c.pk == m.c.user_pk)):
        members[team].add(name)
    q = (sa.select(c.c.grantee_kind, c.c.grantee, c.c.categories, p.c.id)
         .join(p, c.c.person_pk == p.c.pk)
         .where(c.c.purpose == Purpose.TREATMENT.value, c.c.revoked_us.is_(None),
                c.c.start_us <= now_us, sa.or_(c.c.end_us.is_(None), c.c.end_us > now_us)))
    for kind, grantee, categories, pid in conn.execute(q):
        if Category.ALERTS.value not in (categories or ()):
            continue
        names = members.get(grantee, set()) if kind == "team" else {grantee}
        for name in names & staff:
            out[name].add(pid)
    bg = S.break_glass
    for name, pid in conn.execute(
            sa.select(u.c.username, p.c.id).join(u, bg.c.user_pk == u.c.pk)
            .join(p, bg.c.person_pk == p.c.pk)
            .where(bg.c.start_us <= now_us, bg.c.end_us > now_us)):
        if name in staff:
            out[name].add(pid)
    return dict(out)


def next_access_change(conn: sa.Connection, now_us: int) -> int | None:
    """The next time (us) a consent or break-glass access starts or ends, if any is scheduled."""
    c, bg = S.consents, S.break_glass
    times = [conn.execute(sa.select(sa.func.min(col)).where(col > now_us, *extra)).scalar()
             for col, extra in ((c.c.start_us, [c.c.revoked_us.is_(None)]),
                                (c.c.end_us, [c.c.revoked_us.is_(None)]),
                                (bg.c.start_us, []), (bg.c.end_us, []))]
    found = [int(t) for t in times if t is not None]
    return min(found) if found else None


# -- the files --------------------------------------------------------------------------------
@dataclass(frozen=True)
class BrokerFiles:
    """The two files' text and what went into them."""

    password_text: str
    acl_text: str
    devices: int
    users: int
    services: int
    person_topics: int  # distinct persons whose alerts topic someone may read
    grants: int  # (user, alerts topic) read lines
    skipped: list[str] = field(default_factory=list)  # why a credential was left out
    next_change_us: int | None = None  # rebuild by then: a consent or break-glass starts/ends

    def summary(self) -> dict[str, Any]:
        return {"devices": self.devices, "users": self.users, "services": self.services,
                "person_topics": self.person_topics, "grants": self.grants,
                "skipped": self.skipped, "next_change_us": self.next_change_us}


def build_broker_files(store: Store, *, now_us: int | None = None) -> BrokerFiles:
    """The password and ACL files for the credentials and access in force at ``now_us``.

    The text depends only on the store's content (sorted, no timestamps), so an unchanged
    result means no rewrite and no broker reload.
    """
    now = _now_us() if now_us is None else now_us
    bc, d, u = S.broker_credentials, S.devices, S.users
    with store.engine.connect() as conn:
        creds = conn.execute(sa.select(bc.c.username, bc.c.kind, bc.c.password_hash)
                             .where(bc.c.revoked_us.is_(None)).order_by(bc.c.username)).all()
        registered = {r[0] for r in conn.execute(sa.select(d.c.device_id))}
        enabled = {r[0] for r in conn.execute(sa.select(u.c.username)
                                              .where(u.c.disabled.is_(False)))}
        readers = alert_readers(conn, now)
        next_change = next_access_change(conn, now)

    skipped: list[str] = []
    pw_lines: list[str] = []
    services: list[str] = []
    devices: list[str] = []
    users: list[tuple[str, list[str]]] = []
    for name, kind, encoded in creds:
        why = _exclusion(name, kind, encoded, registered, enabled)
        if why:
            skipped.append(f"{kind} {name!r}: {why}")
            continue
        if kind == BrokerKind.SERVICE:
            services.append(name)
        elif kind == BrokerKind.DEVICE:
            devices.append(name)
        else:
            persons = []
            for pid in sorted(readers.get(name, ())):
                if _UNSAFE.search(pid):
                    skipped.append(f"alerts of person {pid!r} for {name!r}: the person id "
                                   "cannot be an MQTT topic level")
                else:
                    persons.append(pid)
            users.append((name, persons))
        pw_lines.append(f"{name}:{encoded}")

    acl = ["# Written by `hyperhealth mqtt-acl` from the store; edits are overwritten.",
           "# Mosquitto denies every topic not allowed below.", ""]
    for name in services:
        acl += [f"user {name}", f"topic read {READINGS_TOPIC.format('+')}",
                f"topic write {ALERTS_TOPIC.format('+')}", ""]
    for name in devices:
        acl += [f"user {name}", f"topic write {READINGS_TOPIC.format(name)}", ""]
    topics: set[str] = set()
    for name, persons in users:
        # a user with no access still gets a section: it documents that they see nothing
        acl.append(f"user {name}")
        acl += [f"topic read {ALERTS_TOPIC.format(pid)}" for pid in persons]
        acl.append("")
        topics.update(persons)
    return BrokerFiles(
        password_text="\n".join(pw_lines) + ("\n" if pw_lines else ""),
        acl_text="\n".join(acl), devices=len(devices), users=len(users),
        services=len(services), person_topics=len(topics),
        grants=sum(len(p) for _, p in users), skipped=skipped, next_change_us=next_change)


def _exclusion(name: str, kind: str, encoded: str, registered: set[str],
               enabled: set[str]) -> str:
    """Why a stored credential cannot go into the files ('' if it can)."""
    if _UNSAFE.search(name) or not name:
        return "the name cannot be a broker username; issue credentials under another name"
    if not encoded.startswith("$7$") or "\n" in encoded or ":" in encoded:
        return "the stored hash is not in Mosquitto's $7$ format; issue new credentials"
    if kind not in {k.value for k in BrokerKind}:
        return f"unknown kind {kind!r} (device, user or service)"
    if kind == BrokerKind.DEVICE and name not in registered:
        return "no registered device with this id"
    if kind == BrokerKind.USER and name not in enabled:
        return "no enabled user with this name"
    return ""


def _write_atomic(path: Path, text: str, mode: int, owner: str | None) -> None:
    """Replace ``path`` with ``text`` in one rename, never leaving a partly written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), mode)  # before any content is in it
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if owner:
            os.chown(tmp, *_ids(owner))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


def _ids(owner: str) -> tuple[int, int]:
    """``(uid, gid)`` for ``user[:group]`` (-1 leaves one unchanged)."""
    import grp
    import pwd

    user, _, group = owner.partition(":")
    try:
        uid = pwd.getpwnam(user).pw_uid if user else -1
        gid = grp.getgrnam(group).gr_gid if group else -1
    except KeyError as exc:
        raise ConfigError(f"--owner {owner!r}: no such user or group ({exc.args[0]})") from None
    return uid, gid


def write_broker_files(files: BrokerFiles, password_file: Path, acl_file: Path, *,
                       owner: str | None = None) -> bool:
    """Write both files (password 0600, ACL 0640) if their text changed; ``True`` if so.

    The ACL goes first: between the two renames a reload can then only see access that is
    already narrowed, never a new password with the old, wider ACL of a revoked name.
    """
    changed = False
    for path, text, mode in ((acl_file, files.acl_text, 0o640),
                             (password_file, files.password_text, 0o600)):
        try:
            same = path.read_text(encoding="utf-8") == text
        except FileNotFoundError:
            same = False
        if not same:
            _write_atomic(path, text, mode, owner)
            changed = True
    return changed


# -- reloading the broker ---------------------------------------------------------------------
def broker_pid(pid: int | None = None, pid_file: Path | None = None) -> int:
    """The Mosquitto process to signal, checked to be one (a reused pid must not get SIGHUP)."""
    if pid is None:
        if pid_file is None:
            raise ConfigError("give the broker's pid (--reload-pid) or its pid file (--pid-file)")
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read a pid from {pid_file}: {exc}; point --pid-file at "
                              "the file named by Mosquitto's pid_file option") from None
    comm = Path(f"/proc/{pid}/comm")
    try:
        name = comm.read_text().strip()
    except FileNotFoundError:
        raise ConfigError(f"no process {pid}: is Mosquitto running?") from None
    except OSError:  # no /proc (not Linux): trust the caller
        return pid
    if "mosquitto" not in name:
        raise ConfigError(f"process {pid} is {name!r}, not mosquitto; not sending it SIGHUP")
    return pid


def reload_broker(pid: int) -> None:
    """Ask Mosquitto to reread its password and ACL files (SIGHUP)."""
    os.kill(pid, signal.SIGHUP)


def watch(store: Store, password_file: Path, acl_file: Path, *, interval_s: float,
          reload: Callable[[], int | None] | None = None, owner: str | None = None,
          stop: threading.Event | None = None,
          on_round: Callable[[BrokerFiles, bool], None] | None = None) -> None:
    """Rebuild the files every ``interval_s`` (sooner when an access is due to start or end),
    rewriting and reloading the broker only when their text changed.

    ``reload`` returns the pid to signal (looked up each time, as the broker may restart). A
    round that fails (store unreachable) is logged and tried again next round; the files on disk
    stay as they were.
    """
    stop = stop or threading.Event()
    while not stop.is_set():
        wait = interval_s
        try:
            files = build_broker_files(store)
            changed = write_broker_files(files, password_file, acl_file, owner=owner)
            if changed and reload is not None:
                pid = reload()
                if pid is not None:
                    reload_broker(pid)
            if on_round is not None:
                on_round(files, changed)
            if files.next_change_us is not None:
                due = (files.next_change_us - _now_us()) / 1e6 + 0.05
                wait = max(0.05, min(wait, due))
        except (sa.exc.SQLAlchemyError, ConfigError, OSError) as exc:
            log.error("mqtt-acl: could not refresh the broker files (%s); retrying in %.0f s",
                      exc, interval_s)
        stop.wait(wait)


def describe(files: BrokerFiles) -> Iterable[str]:
    """Human lines about a generation (for the CLI)."""
    yield (f"{files.devices} devices, {files.users} users, {files.services} services, "
           f"{files.person_topics} person alert topics ({files.grants} read grants)")
    for why in files.skipped:
        yield f"left out: {why}"
