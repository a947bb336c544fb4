"""The audit trail: an append-only, hash-chained log of every access to personal data.

Each entry's ``hash`` is ``HMAC-SHA256(key, prev_hash || canonical JSON of the entry)``, where the
JSON holds every column but the two hashes (``seq`` and ``t_us`` included) and ``prev_hash`` is the
previous entry's hash (:data:`GENESIS` for the first). Changing, removing or moving one entry
breaks the chain at that entry, and without the key nobody can compute a valid replacement.

What a chain alone cannot show is that its newest entries were cut off. For that a signed
*checkpoint* (the ``seq`` and ``hash`` of the newest entry, with an HMAC under the same key) is
kept in a small file outside the database; :meth:`AuditLog.verify` reports a log that ends
before its checkpoint. Limits (in docs/methods.md): anyone with the key can rewrite the whole log
and checkpoint; entries appended after the last checkpoint can be cut without trace; the
checkpoint file itself can be replaced by an *older* genuine one.

Appends are serialised so that concurrent writers cannot fork the chain: PostgreSQL takes a
transaction-level advisory lock, SQLite takes its single writer lock before the head is read.

>>> entry_hash(b"k" * 32, GENESIS, {"seq": 1, "t_us": 0})[:16]
'fa0b898b1cd92a6b'
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from hyperhealth.model.time import from_us
from hyperhealth.security._model import Actor, Role
from hyperhealth.store import Store
from hyperhealth.store import _schema as S

#: ``prev_hash`` of the first entry
GENESIS = "0" * 64
#: RFC 2104 section 3: keys shorter than the hash output (32 bytes for SHA-256) are discouraged
KEY_BYTES = 32
#: the advisory lock that serialises appends on PostgreSQL ("hhaudit" in ASCII)
PG_LOCK_KEY = 0x68686175646974
_HEAD_DOMAIN = b"hyperhealth audit checkpoint v1\n"
_TAIL_BYTES = 4096  # the newest checkpoint line is in the file's last 4 KiB
_COMPACT_BYTES = 64 * 1024
_T = S.audit_log
_COLUMNS = (_T.c.seq, _T.c.t_us, _T.c.actor, _T.c.role, _T.c.action, _T.c.resource,
            _T.c.person_id, _T.c.purpose, _T.c.outcome, _T.c.source, _T.c.detail,
            _T.c.prev_hash, _T.c.hash)
_log = logging.getLogger("hyperhealth.security.audit")


class Action(StrEnum):
    """What was done; mapped to FHIR AuditEvent.action C/R/U/D/E on export."""

    CREATE = "create"
    READ = "read"
    UPDATE = "update"
    DELETE = "delete"
    SEARCH = "search"
    EXPORT = "export"
    LOGIN = "login"
    LOGOUT = "logout"
    EXECUTE = "execute"


class Outcome(StrEnum):
    PERMIT = "permit"
    DENY = "deny"
    BREAK_GLASS = "break-glass"  # permitted only through emergency access, flagged for review
    ERROR = "error"


# column widths of the schema, checked before writing so that SQLite and PostgreSQL agree
_WIDTH = {"actor": 120, "role": 32, "action": 16, "person_id": 64, "purpose": 32,
          "outcome": 16, "source": 120}


def canonical_json(obj: Any) -> bytes:
    """UTF-8 JSON with sorted keys and no spaces: one byte string per value.

    >>> canonical_json({"b": [1, 2.5], "a": "é"})
    b'{"a":"\\xc3\\xa9","b":[1,2.5]}'
    """
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def entry_hash(key: bytes, prev_hash: str, content: Mapping[str, Any]) -> str:
    """The chain hash of one entry: hex HMAC-SHA256 over ``prev_hash`` and the content."""
    return hmac.new(key, prev_hash.encode("ascii") + canonical_json(content),
                    hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One access to be recorded: who (actor, role), what (action on resource), whose data
    (person_id), why (purpose), how it ended (outcome), from where (source)."""

    actor: str
    role: str
    action: str
    resource: str
    person_id: str | None = None
    purpose: str = ""  # a security.Purpose; empty where none applies (login)
    outcome: str = Outcome.PERMIT
    source: str = "system"  # client address, "cli", "engine"
    detail: Mapping[str, Any] = field(default_factory=dict)  # no personal data here
    t_us: int | None = None  # None: the time of recording

    @classmethod
    def by(cls, who: Actor, action: str, resource: str, **kw: Any) -> AuditEntry:
        """An entry for an authenticated actor.

        >>> from hyperhealth.security._model import SYSTEM
        >>> AuditEntry.by(SYSTEM, "read", "persons/p-1", person_id="p-1").actor
        'system'
        """
        return cls(actor=who.username, role=who.role, action=action, resource=resource, **kw)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """A stored entry, with its place in the chain."""

    seq: int
    t_us: int
    actor: str
    role: str
    action: str
    resource: str
    person_id: str | None
    purpose: str
    outcome: str
    source: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str

    @property
    def time(self) -> datetime:
        return from_us(self.t_us)

    def content(self) -> dict[str, Any]:
        """What the hash covers: every column but the two hashes."""
        return {"seq": self.seq, "t_us": self.t_us, "actor": self.actor, "role": self.role,
                "action": self.action, "resource": self.resource, "person_id": self.person_id,
                "purpose": self.purpose, "outcome": self.outcome, "source": self.source,
                "detail": self.detail}

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "time": self.time.isoformat()}


@dataclass(frozen=True, slots=True)
class Head:
    """The newest entry of the chain (``seq`` 0 and :data:`GENESIS` for an empty log)."""

    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class Problem:
    """The first thing found wrong. ``kind``: edited, deleted, reordered, broken-link,
    truncated, checkpoint-mismatch, bad-checkpoint, checkpoint-missing."""

    seq: int
    kind: str
    message: str


@dataclass(frozen=True, slots=True)
class VerifyReport:
    ok: bool
    checked: int  # entries whose content and link were checked
    head: Head
    problem: Problem | None
    checkpoint: Head | None  # the signed checkpoint read, if any
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked, "head": asdict(self.head),
                "problem": asdict(self.problem) if self.problem else None,
                "checkpoint": asdict(self.checkpoint) if self.checkpoint else None,
                "warnings": list(self.warnings)}


_VALID = {"role": frozenset(Role), "action": frozenset(Action), "outcome": frozenset(Outcome)}


def _check(e: AuditEntry) -> None:
    """Refuse an entry that the schema or the FHIR export could not represent."""
    for name, valid in _VALID.items():
        if getattr(e, name) not in valid:
            raise ValueError(f"audit entry for {e.resource!r}: {getattr(e, name)!r} is not a "
                             f"valid {name}; use one of {', '.join(sorted(valid))}")
    for name, width in _WIDTH.items():
        value = getattr(e, name)
        if value is not None and len(value) > width:
            raise ValueError(f"audit entry for {e.resource!r}: {name} is {len(value)} "
                             f"characters, the limit is {width}")


# -- PostgreSQL: refuse UPDATE, DELETE and TRUNCATE --------------------------------------------
_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION hh_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION USING MESSAGE = 'audit_log is append-only: ' || TG_OP || ' refused',
    ERRCODE = 'insufficient_privilege',
          HINT = 'audit entries are never changed or removed';
END $$
"""
_PG_TRIGGER = """
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
FOR EACH STATEMENT EXECUTE FUNCTION hh_audit_log_append_only()
"""
_SQLITE_TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS audit_log_no_{op.lower()} BEFORE {op} ON audit_log "
    f"BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: {op} refused'); END"
    for op in ("UPDATE", "DELETE")
]


def ensure_append_only(conn: sa.Connection) -> bool:
    """Install the triggers that refuse changes to ``audit_log`` unless present; True when
    they were created. Safe to call from concurrent processes and in a migration.

    On PostgreSQL this stops everyone but a table owner or superuser (who can disable the
    trigger); on SQLite it guards against mistakes only, since the file's owner can drop it.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK_KEY})
        exists = conn.execute(sa.text(
            "SELECT 1 FROM pg_trigger WHERE tgname = 'audit_log_append_only' "
            "AND tgrelid = 'audit_log'::regclass")).first()
        if exists:
            return False
        conn.exec_driver_sql(_PG_FUNCTION)
        conn.exec_driver_sql(_PG_TRIGGER)
        return True
    if conn.dialect.name == "sqlite":
        n = conn.execute(sa.text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
                                 "AND name LIKE 'audit_log_no_%'")).scalar_one()
        if n == len(_SQLITE_TRIGGERS):
            return False
        for ddl in _SQLITE_TRIGGERS:
            conn.exec_driver_sql(ddl)
        return True
    raise NotImplementedError(f"no append-only guard for the {conn.dialect.name} dialect")


def _lock(conn: sa.Connection) -> None:
    """Hold the writer lock of the audit chain until the transaction ends."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK_KEY})
    else:
        # SQLite has one writer at a time; a write statement (this one changes no row) takes
        # that lock now, waiting busy_timeout for another writer, before the head is read.
        conn.exec_driver_sql("UPDATE audit_log SET seq = seq WHERE 0")


def _head(conn: sa.Connection) -> Head:
    row = conn.execute(sa.select(_T.c.seq, _T.c.hash).order_by(_T.c.seq.desc()).limit(1)).first()
    return Head(int(row[0]), row[1]) if row else Head(0, GENESIS)


def _record(row: Any) -> AuditRecord:
    return AuditRecord(int(row[0]), int(row[1]), row[2], row[3], row[4], row[5], row[6], row[7],
                       row[8], row[9], dict(row[10] or {}), row[11], row[12])


class AuditLog:
    """The audit trail of one store.

    ``key`` is the 32-byte HMAC secret (kept outside the database). ``checkpoint`` is the file
    that holds the signed head of the chain (to detect deletion of the newest entries); None
    turns that check off, and :meth:`verify` then says so in its warnings.
    """

    def __init__(self, store: Store, key: bytes, *, checkpoint: Path | None = None,
                 install_guard: bool = True) -> None:
        if len(key) < KEY_BYTES:
            raise ValueError(f"the audit key has {len(key)} bytes; it needs {KEY_BYTES} random "
                             "bytes (e.g. secrets.token_bytes(32)) kept outside the database")
        self.store = store
        self._key = bytes(key)
        self._mac = hmac.new(self._key, digestmod=hashlib.sha256)  # copied per entry
        self.checkpoint = checkpoint
        if install_guard:
            with store.engine.begin() as conn:
                ensure_append_only(conn)

    # -- writing -------------------------------------------------------------------------
    def record(self, entries: Sequence[AuditEntry]) -> Head:
        """Append entries in their own transaction; returns the new head."""
        with self.store.engine.begin() as conn:
            before, head = self._append(conn, entries)
        self.seal(head, follows=before)
        return head

    def record_one(self, entry: AuditEntry) -> Head:
        return self.record([entry])

    def record_in(self, conn: sa.Connection, entries: Sequence[AuditEntry]) -> Head:
        """Append entries inside the caller's transaction, so that they commit (or roll back)
        with the data access they describe. The chain stays locked until that transaction
        ends: keep it short. Call :meth:`seal` with the result after the commit."""
        return self._append(conn, entries)[1]

    def _append(self, conn: sa.Connection, entries: Sequence[AuditEntry]) -> tuple[Head, Head]:
        """The head before and after appending."""
        for e in entries:
            _check(e)
        _lock(conn)
        head = _head(conn)
        if not entries:
            return head, head
        now = time.time_ns() // 1000
        rows = []
        prev, seq = head.hash, head.seq
        for e in entries:
            seq += 1
            # stored as the canonical form round-trips, so what is hashed is what is read back
            detail = json.loads(canonical_json(dict(e.detail)))
            content = {"seq": seq, "t_us": now if e.t_us is None else int(e.t_us),
                       "actor": e.actor, "role": str(e.role), "action": str(e.action),
                       "resource": e.resource, "person_id": e.person_id,
                       "purpose": str(e.purpose), "outcome": str(e.outcome),
                       "source": e.source, "detail": detail}
            h = self._hash(prev, content)
            rows.append({**content, "prev_hash": prev, "hash": h})
            prev = h
        conn.execute(_T.insert(), rows)
        return head, Head(seq, prev)

    def _hash(self, prev_hash: str, content: Mapping[str, Any]) -> str:
        m = self._mac.copy()
        m.update(prev_hash.encode("ascii"))
        m.update(canonical_json(content))
        return m.hexdigest()

    # -- checkpoint ----------------------------------------------------------------------
    def _head_mac(self, seq: int, hash_: str, t_us: int) -> str:
        return hmac.new(self._key, _HEAD_DOMAIN + f"{seq}:{hash_}:{t_us}".encode(),
                        hashlib.sha256).hexdigest()

    def read_checkpoint(self) -> Head | None:
        """The newest signed head in the checkpoint file; None when there is none.

        The file holds one signed line per seal, appended (a rename per seal would cost a
        forced write-back on ext4). An unfinished last line, left by a crash mid-write, is
        skipped: the line before it is an older but still genuine checkpoint. Raises
        ValueError when a complete line is unreadable or wrongly signed."""
        if self.checkpoint is None:
            return None
        try:
            with open(self.checkpoint, "rb") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(0, size - _TAIL_BYTES))
                tail = f.read()
        except FileNotFoundError:
            return None
        lines = tail.split(b"\n")[:-1]  # the piece after the last newline is unfinished
        if not lines or not lines[-1].strip():
            return None
        try:
            d = json.loads(lines[-1])
            seq, hash_, t_us, mac = int(d["seq"]), str(d["hash"]), int(d["t_us"]), d["mac"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{self.checkpoint}: unreadable audit checkpoint ({exc})") from None
        if not hmac.compare_digest(str(mac), self._head_mac(seq, hash_, t_us)):
            raise ValueError(f"{self.checkpoint}: the checkpoint's signature is wrong (the file "
                             "was edited, or the audit key is not the one that wrote it)")
        return Head(seq, hash_)

    def seal(self, head: Head | None = None, *, follows: Head | None = None) -> Head | None:
        """Move the checkpoint forward to ``head`` (default: the newest stored entry).

        The checkpoint only moves forward, and only while the entry it names is still in the
        log unchanged: a log that was cut back and re-grown keeps its old checkpoint, so that
        :meth:`verify` reports it. ``follows`` is the head that ``head``'s entries were
        appended to (read under the chain lock); when the checkpoint names it, that entry is
        known to be in place and is not looked up again. Returns the checkpoint now on file."""
        if self.checkpoint is None:
            return None
        if head is None:
            with self.store.engine.connect() as conn:
                head = _head(conn)
        path = self.checkpoint
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_name(path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # writers in other processes take turns
            try:
                old = self.read_checkpoint()
            except ValueError as exc:
                _log.error("audit checkpoint not moved: %s", exc)
                return None
            if old is not None and head.seq <= old.seq:
                return old
            if old is not None and old.seq > 0 and old != follows:
                with self.store.engine.connect() as conn:
                    at = conn.execute(sa.select(_T.c.hash).where(_T.c.seq == old.seq)).scalar()
                if at != old.hash:
                    _log.error("audit checkpoint not moved: entry %d no longer matches it; run "
                               "`hyperhealth audit verify`", old.seq)
                    return old
            t_us = time.time_ns() // 1000
            line = json.dumps({"seq": head.seq, "hash": head.hash, "t_us": t_us,
                               "mac": self._head_mac(head.seq, head.hash, t_us)}) + "\n"
            with open(path, "a+b") as f:
                size = f.seek(0, os.SEEK_END)
                if size:  # end an unfinished line (a crash mid-write) before the new one
                    f.seek(size - 1)
                    if f.read(1) != b"\n":
                        line = "\n" + line
                f.write(line.encode())
                size = f.tell()
            if size > _COMPACT_BYTES:  # keep the newest line only (rarely: every ~400 seals)
                tmp = path.with_name(path.name + ".tmp")
                tmp.write_text(line.lstrip("\n"))
                os.replace(tmp, path)  # readers see the old or the new file, never half
        return head

    # -- reading -------------------------------------------------------------------------
    def head(self) -> Head:
        with self.store.engine.connect() as conn:
            return _head(conn)

    def records(self, since_seq: int = 0, *, batch: int = 5000) -> Iterator[AuditRecord]:
        """Every entry after ``since_seq`` in chain order, streamed (not loaded at once)."""
        with self.store.engine.connect() as conn:
            rows = conn.execution_options(stream_results=True, yield_per=batch).execute(
                sa.select(*_COLUMNS).where(_T.c.seq > since_seq).order_by(_T.c.seq))
            for row in rows:
                yield _record(row)

    def accesses(self, person_id: str, since_us: int | None = None,
                 limit: int | None = None) -> list[AuditRecord]:
        """Who did what with one person's data, newest first (denied attempts included)."""
        q = sa.select(*_COLUMNS).where(_T.c.person_id == person_id)
        if since_us is not None:
            q = q.where(_T.c.t_us >= since_us)
        q = q.order_by(_T.c.t_us.desc(), _T.c.seq.desc())
        if limit is not None:
            q = q.limit(limit)
        with self.store.engine.connect() as conn:
            return [_record(r) for r in conn.execute(q)]

    @staticmethod
    def to_fhir(records: Sequence[AuditRecord]) -> list[dict[str, Any]]:
        """FHIR R4 AuditEvent resources (validated by ``fhir.resources.R4B``)."""
        from hyperhealth.security._audit_fhir import to_fhir

        return to_fhir(records)

    # -- verification --------------------------------------------------------------------
    def verify(self, *, batch: int = 5000,
               progress: Callable[[int], object] | None = None) -> VerifyReport:
        """Walk the whole chain in ``seq`` order, streaming, and report the first problem.

        ``progress`` is called with the number of entries checked after every ``batch``."""
        warnings: list[str] = []
        checkpoint: Head | None = None
        try:
            checkpoint = self.read_checkpoint()
        except ValueError as exc:
            return VerifyReport(False, 0, self.head(), Problem(0, "bad-checkpoint", str(exc)),
                                None)
        if self.checkpoint is None:
            warnings.append("no checkpoint file configured: deletion of the newest entries "
                            "cannot be detected")
        prev, expected, checked = GENESIS, 1, 0
        problem: Problem | None = None
        last = Head(0, GENESIS)
        with self.store.engine.connect() as conn:
            rows = conn.execution_options(stream_results=True, yield_per=batch).execute(
                sa.select(*_COLUMNS).order_by(_T.c.seq))
            for row in rows:
                rec = _record(row)
                problem = self._check_one(conn, rec, expected, prev)
                if problem is None and checkpoint and rec.seq == checkpoint.seq \
                        and rec.hash != checkpoint.hash:
                    problem = Problem(rec.seq, "checkpoint-mismatch", (
                        f"entry {rec.seq} differs from the signed checkpoint: the log was cut "
                        "back and new entries appended, or it was restored from an older copy"))
                if problem is not None:
                    break
                checked += 1
                if progress is not None and checked % batch == 0:
                    progress(checked)
                prev, expected = rec.hash, rec.seq + 1
                last = Head(rec.seq, rec.hash)
        if problem is None and checkpoint is not None and last.seq < checkpoint.seq:
            problem = Problem(last.seq + 1, "truncated", (
                f"the log ends at entry {last.seq} but the signed checkpoint records entry "
                f"{checkpoint.seq}: the newest {checkpoint.seq - last.seq} entries were deleted"))
        if problem is None and self.checkpoint is not None and checkpoint is None \
                and last.seq > 0:
            problem = Problem(0, "checkpoint-missing", (
                f"{self.checkpoint} is missing although the log has {last.seq} entries: it was "
                "deleted, or this log was never sealed (after checking how, run "
                "`hyperhealth audit seal`)"))
        if problem is not None:
            last = self.head()
        return VerifyReport(problem is None, checked, last, problem, checkpoint,
                            tuple(warnings))

    def _check_one(self, conn: sa.Connection, rec: AuditRecord, expected: int,
                   prev: str) -> Problem | None:
        if rec.seq != expected:
            gap = f"entry {expected}" if rec.seq == expected + 1 \
                else f"entries {expected}..{rec.seq - 1}"
            return Problem(expected, "deleted", f"{gap} missing: the log jumps from entry "
                                                f"{expected - 1} to {rec.seq}")
        linked = hmac.compare_digest(rec.prev_hash, prev)
        intact = hmac.compare_digest(rec.hash, self._hash(rec.prev_hash, rec.content()))
        if linked and intact:
            return None
        if linked:
            hint = " (if every entry fails, the key is not the one the log was written " \
                   "with)" if rec.seq == 1 else ""
            return Problem(rec.seq, "edited",
                           f"entry {rec.seq} was changed after it was written{hint}")
        if intact:
            return Problem(rec.seq, "broken-link", (
                f"entry {rec.seq} does not follow entry {rec.seq - 1}: an entry was replaced "
                "or inserted before it"))
        # neither: find the entry it was written after (one scan, only once a problem is found)
        after = conn.execute(sa.select(_T.c.seq).where(_T.c.hash == rec.prev_hash)).scalar()
        if after is None and rec.prev_hash == GENESIS:
            after = 0
        if after is None:
            return Problem(rec.seq, "deleted", (
                f"entry {rec.seq} follows an entry that is no longer in the log (entries were "
                "deleted and the later ones renumbered), or it was edited"))
        where = "as the first entry" if after == 0 else f"right after the entry now at {after}"
        return Problem(rec.seq, "reordered", (
            f"entry {rec.seq} is out of place: it was written {where}, not after entry "
            f"{rec.seq - 1} (entries were moved)"))

