"""The Store: one interface over the embedded SQLite file and PostgreSQL.

Writes happen inside :meth:`Store.transaction`, which yields a :class:`Writer`; everything written
in one transaction lands together or not at all (a file that fails half-way leaves nothing).
Every insert is "insert unless the natural key exists", so importing the same data twice adds
nothing.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from hyperhealth.errors import NotFound, StoreError
from hyperhealth.model import (
    Allergy,
    Condition,
    Encounter,
    Exposure,
    GenotypeUpload,
    LifestyleEvent,
    LifestyleKind,
    Location,
    LocationVisit,
    Medication,
    Observation,
    Person,
    Quality,
)
from hyperhealth.model.time import from_us, to_us, when_text, when_value
from hyperhealth.security import _crypto as C  # encryption at rest (issue 6)
from hyperhealth.store import _bulk as bulk
from hyperhealth.store import _schema as S

if TYPE_CHECKING:
    from hyperhealth.security._keys import Keyring

_OBS_COLS = ("person_pk", "code", "t", "system", "source", "device", "record_id", "t_end",
             "value", "unit", "value_text", "value_code", "display", "category", "flags")


def new_person_id() -> str:
    """A fresh pseudonymous person id (random, carries no identifying information)."""
    return "p-" + secrets.token_hex(6)


def _now_us() -> int:
    return time.time_ns() // 1000


@dataclass(frozen=True, slots=True)
class Series:
    """A numeric time series; when downsampled each point is a bucket (mean, min, max, n)."""

    t_us: np.ndarray
    value: np.ndarray
    vmin: np.ndarray
    vmax: np.ndarray
    n: np.ndarray
    bucket_us: int  # 0 when the points are raw readings

    def __len__(self) -> int:
        return len(self.t_us)


@dataclass(frozen=True, slots=True)
class Committed:
    """What one committed transaction added: observation rows (``person_pk, code, t_us, system,
    source, device, record_id, t_end, value, ...``, duplicates included) and lifestyle events."""

    rows: list[tuple[Any, ...]]
    events: list[LifestyleEvent]


CommitListener = Callable[[Committed], None]
_log = logging.getLogger("hyperhealth.store")
_CAREFUL_S = 60.0  # after a reading stored twice, live batches stage their rows this long
_MAX_REMEMBERED_DEVICES = 1_000_000  # owners a store remembers (a few hundred bytes each)


@dataclass(frozen=True, slots=True)
class AlertChange:
    """One change of an alert (see :meth:`Store.alert_changes`) with the alert's current
    state: ``kind`` is ``event`` (a row of ``alert_events``), ``raise`` (raised to a higher
    level) or ``notice`` (another notification: not a change, only a key to pass)."""

    kind: str
    seq: int  # the key of the event or notification row
    alert_id: int
    person_id: str
    at: datetime  # wall-clock time of the change
    level: int
    status: str
    title: str
    rule: str


@dataclass(frozen=True, slots=True)
class StreamInfo:
    code: str
    system: str
    unit: str
    count: int
    first: datetime
    last: datetime


class DuplicateReadings(StoreError):
    """A live batch copied straight into the observations held a reading stored before, which
    aborts the transaction (PostgreSQL): write the batch again, it takes the staging path."""


class Store:
    """Open with a SQLAlchemy URL; the schema is migrated to the newest revision on open.

    With a ``keyring``, direct identifiers, free text and genotype references are encrypted on
    write and decrypted on read (``security._crypto.COLUMNS``); rows written without keys stay
    readable, and ``security.encrypt_existing`` converts them.
    """

    def __init__(self, url: str, *, migrate: bool = True,
                 keyring: Keyring | None = None) -> None:
        self.url = url
        # encryption at rest (issue 6): None keeps every value as before
        self.keyring = keyring
        self._env = C.Envelope(keyring) if keyring is not None else None
        if url.startswith("sqlite:///"):
            path = Path(url.removeprefix("sqlite:///"))
            if str(path) not in ("", ":memory:"):
                path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # JSON columns in orjson (a sixth of the standard library's time for an alert's
            # evidence or a notification, measured); read back with json.loads, which also
            # reads rows written before
            self.engine = sa.create_engine(url, future=True, json_serializer=_json_text)
        except Exception as exc:  # bad URL or missing driver
            raise StoreError(f"cannot open store {url!r}: {exc}") from exc
        self.dialect = self.engine.dialect.name
        self._checkpointers = 0  # Store.checkpointing blocks running (SQLite)
        if self.dialect == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            sa.event.listen(self.engine, "checkout", self._wal_limit)
        # persons are never deleted, so a key always names the same person
        self._person_pks: dict[str, int] = {}
        self._person_ids: dict[int, str] = {}
        # nothing deletes a device or gives it another person (register_device refuses), so a
        # committed owner stays true; unregistered devices are not remembered
        self._device_owners: dict[str, str] = {}
        self._copy_types: list[int] | None = None  # PostgreSQL observations column types
        self._careful_until = 0.0  # monotonic time until which live batches are staged
        self._listeners: list[CommitListener] = []
        if migrate:
            self.migrate()

    # -- lifecycle -------------------------------------------------------------------------
    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except sa.exc.OperationalError as exc:
            raise StoreError(f"cannot reach the store at {self.safe_url}: {exc.orig}") from exc

    @property
    def safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def checkpointing(self, every_s: float = 0.2) -> Iterator[None]:
        """SQLite: copy the write-ahead log into the database from a background thread while
        the block runs, so the commit that crosses the log's size limit finds little to copy.

        A live batch rewrites a few hundred pages of the observations tree (one per person).
        With SQLite's default limit (4 MB) the writer's own checkpoint ran every few batches
        and made those commits 17-30 ms slower; inside the block the limit is 40 MB
        (:meth:`_wal_limit`), so it runs rarely, and after these passive checkpoints (which
        neither block nor wait for the writer) its spike is about half as long. The passive
        checkpoints also sync the log every ``every_s``. Outside such a block (and on
        PostgreSQL) nothing changes.
        """
        if self.dialect != "sqlite":
            yield
            return
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(every_s):
                try:
                    with self.engine.connect() as conn:
                        conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
                except sa.exc.SQLAlchemyError:  # busy or closing: the next round tries again
                    _log.debug("WAL checkpoint skipped", exc_info=True)

        th = threading.Thread(target=run, name="hh-wal-checkpoint", daemon=True)
        th.start()
        self._checkpointers += 1
        try:
            yield
        finally:
            self._checkpointers -= 1
            stop.set()
            th.join()

    def _wal_limit(self, dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        """The log size at which a committing writer checkpoints (SQLite), set per checkout:
        40 MB while :meth:`checkpointing` runs (live batches rewrite the same few hundred
        pages, one per person, and a checkpoint copies each page once however often it
        changed), SQLite's default 4 MB otherwise, so a database file copied while the store
        is open is never far behind its log."""
        pages = 10_000 if self._checkpointers else 1_000
        if record.info.get("wal_pages") != pages:  # a statement less per checkout
            dbapi_conn.execute(f"PRAGMA wal_autocheckpoint={pages}")
            record.info["wal_pages"] = pages

    @contextmanager
    def transaction(self) -> Iterator[Writer]:
        """All writes inside land together or not at all."""
        try:
            with self.engine.begin() as conn:
                writer = Writer(self, conn)
                yield writer
        except BaseException:
            # keys of persons created in the rolled-back transaction must not be remembered
            self._person_pks.clear()
            self._person_ids.clear()
            raise
        writer._committed()
        if self._listeners and (writer.new_rows or writer.new_events):
            done = Committed(writer.new_rows, writer.new_events)
            for fn in self._listeners:
                try:
                    fn(done)
                except Exception:  # the data is stored; a listener catches up from the store
                    _log.exception("commit listener %r failed", fn)

    def add_commit_listener(self, fn: CommitListener) -> None:
        """Call ``fn`` after each transaction that added observations or lifestyle events."""
        self._listeners.append(fn)

    def remove_commit_listener(self, fn: CommitListener) -> None:
        self._listeners.remove(fn)

    # -- persons ---------------------------------------------------------------------------
    def _pk(self, conn: sa.Connection, person_id: str) -> int:
        pk = self._person_pks.get(person_id)
        if pk is None:
            pk = conn.execute(sa.select(S.persons.c.pk).where(S.persons.c.id == person_id)
                              ).scalar_one_or_none()
            if pk is None:
                raise NotFound(f"no person {person_id!r}")
            self._person_pks[person_id] = pk
            self._person_ids[pk] = person_id
        return pk

    def person_pk(self, person_id: str) -> int:
        with self.engine.connect() as conn:
            return self._pk(conn, person_id)

    def person_ids(self, pks: Sequence[int]) -> dict[int, str]:
        """Person ids of internal keys (as found in :class:`Committed` rows)."""
        known = self._person_ids
        missing = list({pk for pk in pks if pk not in known})
        if missing:
            p = S.persons
            with self.engine.connect() as conn:
                found = {int(r[0]): r[1] for r in conn.execute(
                    sa.select(p.c.pk, p.c.id).where(bulk.where_in(conn, p.c.pk, missing)))}
            known.update(found)  # committed rows only: their persons exist
        return {pk: known[pk] for pk in pks if pk in known}

    def persons(self, ids: Sequence[str] | None = None) -> list[Person]:
        """Every person (or those of ``ids`` that exist), by id."""
        q = sa.select(S.persons).order_by(S.persons.c.id)
        with self.engine.connect() as conn:
            if ids is not None:
                q = q.where(bulk.where_in(conn, S.persons.c.id, ids))
            return [_person(r, self._env) for r in conn.execute(q).mappings()]

    def person(self, person_id: str) -> Person:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(S.persons).where(S.persons.c.id == person_id)
                               ).mappings().first()
        if row is None:
            raise NotFound(f"no person {person_id!r}",)
        return _person(row, self._env)

    def find_person(self, source: str, external_id: str) -> str | None:
        """The person linked to an id in another system (FHIR Patient id, Fitbit user ...)."""
        with self.engine.connect() as conn:
            return _find_link(conn, source, external_id)

    def person_links(self, person_id: str) -> list[tuple[str, str]]:
        with self.engine.connect() as conn:
            pk = self._pk(conn, person_id)
            rows = conn.execute(sa.select(S.person_links.c.source, S.person_links.c.external_id)
                                .where(S.person_links.c.person_pk == pk)
                                .order_by(S.person_links.c.source))
            return [(r[0], r[1]) for r in rows]

    # -- observations ------------------------------------------------------------------------
    def observations(
        self,
        person_id: str,
        code: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        limit: int | None = None,
        category: str | None = None,
    ) -> list[Observation]:
        o = S.observations
        with self.engine.connect() as conn:
            pk = self._pk(conn, person_id)
            q = sa.select(*[o.c[c] for c in _OBS_COLS]).where(o.c.person_pk == pk)
            if code is not None:
                q = q.where(o.c.code == code)
            if category is not None:
                q = q.where(o.c.category == category)
            if start is not None:
                q = q.where(o.c.t >= to_us(start))
            if end is not None:
                q = q.where(o.c.t < to_us(end))
            q = q.order_by(o.c.code, o.c.t)
            if limit is not None:
                q = q.limit(limit)
            return [_observation(person_id, r) for r in conn.execute(q)]

    def series(
        self,
        person_id: str,
        code: str,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        max_points: int | None = None,
    ) -> Series:
        """Numeric values of one code over time, downsampled server-side to ``max_points``."""
        o = S.observations
        with self.engine.connect() as conn:
            pk = self._pk(conn, person_id)
            cond = [o.c.person_pk == pk, o.c.code == code, o.c.value.is_not(None)]
            t0 = to_us(start) if start is not None else None
            t1 = to_us(end) if end is not None else None
            if t0 is not None:
                cond.append(o.c.t >= t0)
            if t1 is not None:
                cond.append(o.c.t < t1)
            # count only as far as max_points + 1: that decides raw or downsampled, cheaply
            if max_points and _count_upto(conn, cond, max_points + 1) > max_points:
                # bucket edges need both ends; each missing end is one index probe
                if t0 is None:
                    t0 = conn.execute(sa.select(o.c.t).where(*cond).order_by(o.c.t)
                                      .limit(1)).scalar_one()
                if t1 is None:
                    t1 = conn.execute(sa.select(o.c.t).where(*cond).order_by(o.c.t.desc())
                                      .limit(1)).scalar_one() + 1
                return _downsample(conn, cond, t0, t1, max_points)
            raw = _fetch_points(conn, pk, code, t0, t1)
        arr = np.fromiter(raw, dtype=_TV, count=len(raw))
        t = np.ascontiguousarray(arr["t"])
        v = np.ascontiguousarray(arr["v"])
        return Series(t_us=t, value=v, vmin=v, vmax=v, n=np.ones(len(v), dtype=np.int64),
                      bucket_us=0)

    def streams(self, person_id: str) -> list[StreamInfo]:
        """Which codes a person has, with counts and first/last time."""
        o = S.observations
        with self.engine.connect() as conn:
            pk = self._pk(conn, person_id)
            q = (sa.select(o.c.code, o.c.system, sa.func.max(o.c.unit), sa.func.count(),
                           sa.func.min(o.c.t), sa.func.max(o.c.t))
                 .where(o.c.person_pk == pk).group_by(o.c.code, o.c.system).order_by(o.c.code))
            return [StreamInfo(r[0], r[1], r[2], r[3], from_us(r[4]), from_us(r[5]))
                    for r in conn.execute(q)]

    def latest_observations(self, person_id: str, codes: Sequence[str] | None = None,
                            category: str | None = None) -> list[Observation]:
        """The most recent observation of each code (optionally of some codes or a category)."""
        o = S.observations
        with self.engine.connect() as conn:
            pk = self._pk(conn, person_id)
            inner = sa.select(o.c.code, sa.func.max(o.c.t).label("t")).where(o.c.person_pk == pk)
            if codes is not None:
                inner = inner.where(o.c.code.in_(list(codes)))
            if category is not None:
                inner = inner.where(o.c.category == category)
            sub = inner.group_by(o.c.code).subquery()
            q = (sa.select(*[o.c[c] for c in _OBS_COLS])
                 .join(sub, sa.and_(o.c.code == sub.c.code, o.c.t == sub.c.t))
                 .where(o.c.person_pk == pk).order_by(o.c.code))
            seen: dict[str, Observation] = {}
            for r in conn.execute(q):
                seen.setdefault(r[1], _observation(person_id, r))
            return list(seen.values())

    # -- clinical records -------------------------------------------------------------------
    def conditions(self, person_id: str) -> list[Condition]:
        return [Condition(person_id, r.code, r.display, r.system, when_value(r.onset),
                          when_value(r.abatement), r.clinical_status, r.verification_status,
                          r.source, r.record_id)
                for r in self._rows(S.conditions, person_id, "onset")]

    def medications(self, person_id: str) -> list[Medication]:
        return [Medication(person_id, r.code, r.display, r.system, r.kind, r.status,
                           when_value(r.start), when_value(r.end), r.dosage, r.reason,
                           r.source, r.record_id)
                for r in self._rows(S.medications, person_id, "start")]

    def allergies(self, person_id: str) -> list[Allergy]:
        return [Allergy(person_id, r.code, r.display, r.system, r.category, r.criticality,
                        r.clinical_status, when_value(r.onset), r.source, r.record_id)
                for r in self._rows(S.allergies, person_id, "onset")]

    def encounters(self, person_id: str) -> list[Encounter]:
        out = []
        for r in self._rows(S.encounters, person_id, "start"):
            start, end = when_value(r.start), when_value(r.end)
            assert isinstance(start, datetime)
            out.append(Encounter(person_id, start, end if isinstance(end, datetime) else None,
                                 r.class_code, r.code, r.display, r.system, r.status, r.reason,
                                 r.source, r.record_id))
        return out

    def lifestyle_events(self, person_id: str, start: datetime | None = None,
                         end: datetime | None = None) -> list[LifestyleEvent]:
        e = S.lifestyle_events
        with self.engine.connect() as conn:
            q = sa.select(e).where(e.c.person_pk == self._pk(conn, person_id))
            if start is not None:
                q = q.where(e.c.start >= to_us(start))
            if end is not None:
                q = q.where(e.c.start < to_us(end))
            rows = conn.execute(q.order_by(e.c.start, e.c.kind)).all()
        col = C.BY_NAME["lifestyle_events.details"]  # encryption at rest (issue 6)
        return [LifestyleEvent(person_id, LifestyleKind(r.kind), from_us(r.start),
                               from_us(r.end) if r.end is not None else None,
                               dict(C.open_json(self._env, col.place(r._mapping, person_id),
                                                r.details)),
                               r.source, r.record_id) for r in rows]

    def genotype_uploads(self, person_id: str | None = None) -> list[GenotypeUpload]:
        g, p = S.genotype_uploads, S.persons
        q = sa.select(g, p.c.id.label("person_id")).outerjoin(p, p.c.pk == g.c.person_pk)
        if person_id is not None:
            q = q.where(p.c.id == person_id)
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(g.c.pk)).all()
        env = self._env  # encryption at rest (issue 6)
        return [GenotypeUpload(
            r.person_id, C.open_text(env, ("genotype_uploads", "path", r.sha256), r.path),
            r.sha256, tuple(C.open_json(env, ("genotype_uploads", "samples", r.sha256),
                                        r.samples)),
            r.build, r.chr_prefix, r.contigs, from_us(r.registered_us)) for r in rows]

    def location_visits(self, person_id: str) -> list[LocationVisit]:
        v, loc = S.location_visits, S.locations
        with self.engine.connect() as conn:
            q = (sa.select(v, loc.c.lat, loc.c.lon, loc.c.label)
                 .join(loc, loc.c.pk == v.c.location_pk)
                 .where(v.c.person_pk == self._pk(conn, person_id)).order_by(v.c.start))
            rows = conn.execute(q).all()
        return [LocationVisit(person_id, from_us(r.start),
                              from_us(r.end) if r.end is not None else None,
                              Location(r.lat, r.lon, r.label), r.source) for r in rows]

    def exposure_locations(self) -> list[tuple[int, Location]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(S.locations).order_by(S.locations.c.pk)).all()
        return [(r.pk, Location(r.lat, r.lon, r.label)) for r in rows]

    def exposures(self, location_pk: int, code: str | None = None,
                  start: datetime | None = None, end: datetime | None = None) -> list[Exposure]:
        x, loc = S.exposures, S.locations
        q = (sa.select(x, loc.c.lat, loc.c.lon, loc.c.label)
             .join(loc, loc.c.pk == x.c.location_pk).where(x.c.location_pk == location_pk))
        if code is not None:
            q = q.where(x.c.code == code)
        if start is not None:
            q = q.where(x.c.t >= to_us(start))
        if end is not None:
            q = q.where(x.c.t < to_us(end))
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(x.c.code, x.c.t)).all()
        out = []
        for r in rows:
            m = r._mapping  # (Row.t is SQLAlchemy's tuple accessor, not our column)
            out.append(Exposure(Location(m["lat"], m["lon"], m["label"]), m["code"],
                                from_us(m["t"]), m["value"], m["unit"],
                                from_us(m["t_end"]) if m["t_end"] is not None else None,
                                m["source"]))
        return out

    def counts(self) -> dict[str, int]:
        """Rows per table (for reports and tests)."""
        with self.engine.connect() as conn:
            return {name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                    for name, t in S.metadata.tables.items()}

    # -- encryption at rest (issue 6): for columns written outside this module -----------------
    def seal_json(self, aad: C.Place, obj: Any) -> Any:
        """``obj`` for a JSON column at ``aad`` = ``(table, column, *row key)``: a blob when
        the store has keys, else ``obj`` unchanged (e.g. ``alert_events.detail``)."""
        return C.seal_json(self._env, aad, obj)

    def open_json(self, aad: C.Place, stored: Any) -> Any:
        """A JSON column's value as written by :meth:`seal_json` (plaintext passes through)."""
        return C.open_json(self._env, aad, stored)

    def seal_text(self, aad: C.Place, text: str | None) -> str | None:
        """``text`` for a text column at ``aad`` (e.g. ``users.totp_secret``)."""
        return C.seal_text(self._env, aad, text)

    def open_text(self, aad: C.Place, stored: str | None) -> str | None:
        return C.open_text(self._env, aad, stored)

    def _rows(self, table: sa.Table, person_id: str, order: str) -> list[Any]:
        with self.engine.connect() as conn:
            q = (sa.select(table).where(table.c.person_pk == self._pk(conn, person_id))
                 .order_by(table.c[order], table.c.code))
            return list(conn.execute(q).all())

    # -- live views and the triage panel (issue 7): read-only, batched ------------------------
    def latest_times(self, person_ids: Sequence[str]) -> dict[str, dict[str, datetime]]:
        """The time of each person's newest observation of each code they have.

        A loose index scan over the ``(person, code, t)`` key: a few index probes per code,
        never a read of the series, so the cost does not grow with the length of the history.
        Persons without observations (or unknown ids) are absent from the answer.
        """
        out: dict[str, dict[str, datetime]] = {}
        ids = list(dict.fromkeys(person_ids))
        q = sa.text(
            "WITH RECURSIVE c(pk, code) AS ("
            " SELECT p.pk, (SELECT MIN(o.code) FROM observations o WHERE o.person_pk = p.pk)"
            " FROM persons p WHERE p.id IN :ids"
            " UNION ALL"
            " SELECT c.pk, (SELECT MIN(o.code) FROM observations o"
            "  WHERE o.person_pk = c.pk AND o.code > c.code)"
            " FROM c WHERE c.code IS NOT NULL)"
            " SELECT p.id, c.code, (SELECT MAX(o.t) FROM observations o"
            "  WHERE o.person_pk = c.pk AND o.code = c.code)"
            " FROM c JOIN persons p ON p.pk = c.pk WHERE c.code IS NOT NULL"
        ).bindparams(sa.bindparam("ids", expanding=True))
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                for pid, code, t in conn.execute(q, {"ids": ids[i:i + 500]}):
                    out.setdefault(pid, {})[code] = from_us(int(t))
        return out

    def observation_counts(self, person_id: str, codes: Sequence[str],
                           since: datetime) -> dict[str, int]:
        """How many observations of each of ``codes`` the person has at or after ``since``
        (codes without any are absent)."""
        if not codes:
            return {}
        o = S.observations
        with self.engine.connect() as conn:
            q = (sa.select(o.c.code, sa.func.count())
                 .where(o.c.person_pk == self._pk(conn, person_id),
                        o.c.code.in_(sorted(set(codes))), o.c.t >= to_us(since))
                 .group_by(o.c.code))
            return {r[0]: int(r[1]) for r in conn.execute(q)}

    def recent_observations(self, person_id: str, codes: Sequence[str], since: datetime,
                            *, limit: int) -> list[Observation]:
        """Observations of ``codes`` at or after ``since``, newest first, at most ``limit``."""
        if not codes:
            return []
        o = S.observations
        with self.engine.connect() as conn:
            q = (sa.select(*[o.c[c] for c in _OBS_COLS])
                 .where(o.c.person_pk == self._pk(conn, person_id),
                        o.c.code.in_(sorted(set(codes))), o.c.t >= to_us(since))
                 .order_by(o.c.t.desc(), o.c.code).limit(limit))
            return [_observation(person_id, r) for r in conn.execute(q)]

    def demographics(self, person_ids: Sequence[str]) -> dict[str, tuple[date | None, str]]:
        """Birth date and sex at birth of each known person (one query; no direct
        identifiers are read or decrypted)."""
        p = S.persons
        out: dict[str, tuple[date | None, str]] = {}
        ids = list(dict.fromkeys(person_ids))
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                q = sa.select(p.c.id, p.c.birth_date, p.c.sex_at_birth).where(
                    p.c.id.in_(ids[i:i + 500]))
                for pid, born, sex in conn.execute(q):
                    out[pid] = (date.fromisoformat(born) if born else None, sex)
        return out

    def conditions_of(self, person_ids: Sequence[str]) -> dict[str, list[Condition]]:
        """:meth:`conditions` of several persons in one query (persons without any are
        absent)."""
        c, p = S.conditions, S.persons
        out: dict[str, list[Condition]] = {}
        ids = list(dict.fromkeys(person_ids))
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                q = (sa.select(c, p.c.id.label("person_id")).join(p, p.c.pk == c.c.person_pk)
                     .where(p.c.id.in_(ids[i:i + 500])).order_by(p.c.id, c.c.onset, c.c.code))
                for r in conn.execute(q):
                    out.setdefault(r.person_id, []).append(Condition(
                        r.person_id, r.code, r.display, r.system, when_value(r.onset),
                        when_value(r.abatement), r.clinical_status, r.verification_status,
                        r.source, r.record_id))
        return out

    def alert_change_heads(self) -> tuple[int, int]:
        """The newest ``alert_events`` key and ``notifications`` key: where a feed of
        :meth:`alert_changes` starts when it wants only what happens from now on."""
        with self.engine.connect() as conn:
            e = conn.execute(sa.select(sa.func.max(S.alert_events.c.pk))).scalar()
            n = conn.execute(sa.select(sa.func.max(S.notifications.c.pk))).scalar()
        return int(e or 0), int(n or 0)

    def alert_changes(self, after_event: int, after_raise: int, *,
                      events: Sequence[int] = (), raises: Sequence[int] = (),
                      limit: int = 500) -> list[AlertChange]:
        """Changes of alerts after the given keys, oldest first, with each alert's current state.

        A change is a row of ``alert_events`` (opened, acknowledged, resolved, held, ...) with
        a key above ``after_event`` or in ``events``, or a notification that an alert was
        raised to a higher level (``notifications.reason = 'raised'``, the one change that
        writes no event) with a key above ``after_raise`` or in ``raises``. The explicit keys
        let a reader look again at keys it skipped (a transaction that had not committed yet).
        At most ``limit`` of each kind.
        """
        e, n, a, p = S.alert_events, S.notifications, S.alerts, S.persons
        state = (a.c.pk, p.c.id, a.c.level, a.c.status, a.c.title, a.c.rule)
        qe = (sa.select(e.c.pk, e.c.at_us, *state).join(a, a.c.pk == e.c.alert_pk)
              .join(p, p.c.pk == a.c.person_pk)
              .where(sa.or_(e.c.pk > after_event, e.c.pk.in_(list(events))))
              .order_by(e.c.pk).limit(limit))
        qn = (sa.select(n.c.pk, n.c.created_us, *state, n.c.reason)
              .join(a, a.c.pk == n.c.alert_pk).join(p, p.c.pk == a.c.person_pk)
              .where(sa.or_(n.c.pk > after_raise, n.c.pk.in_(list(raises))))
              .order_by(n.c.pk).limit(limit))
        with self.engine.connect() as conn:
            rows: list[tuple[str, Any]] = [("event", r) for r in conn.execute(qe)]
            # every notification key comes back (a reader's cursor must pass them all), but
            # only a raise is a change; the others are marked "notice"
            rows += [("raise" if r[8] == "raised" else "notice", r) for r in conn.execute(qn)]
        return [AlertChange(kind, int(r[0]), int(r[2]), r[3], from_us(int(r[1])), int(r[4]),
                            r[5], r[6], r[7]) for kind, r in rows]


class Writer:
    """Writes inside one transaction (obtained from :meth:`Store.transaction`)."""

    def __init__(self, store: Store, conn: sa.Connection) -> None:
        self.store = store
        self.conn = conn
        self.new_rows: list[tuple[Any, ...]] = []  # kept for commit listeners only
        self.new_events: list[LifestyleEvent] = []
        self._staged = False  # observations went through PostgreSQL's staging table
        self._owners: dict[str, str] = {}  # device owners read or registered in this transaction
        self._stage_made: dict[str, Any] | None = None  # the connection's info, if it made one

    def _committed(self) -> None:
        """Remember what the committed transaction made true (see :meth:`Store.transaction`)."""
        owners = self.store._device_owners
        if len(owners) + len(self._owners) > _MAX_REMEMBERED_DEVICES:
            owners.clear()
        owners.update(self._owners)
        if self._stage_made is not None:
            self._stage_made["obs_stage"] = True

    # -- persons and links -------------------------------------------------------------------
    def upsert_person(self, person: Person) -> str:
        """Insert the person, or update their demographics if the id exists."""
        p = S.persons
        values = {
            "birth_date": person.birth_date.isoformat() if person.birth_date else None,
            "sex_at_birth": person.sex_at_birth, "race": person.race,
            "ethnicity": person.ethnicity, "tz": person.tz,
            "home_lat": person.home.lat if person.home else None,
            "home_lon": person.home.lon if person.home else None,
            "home_label": person.home.label if person.home else "",
            "identity": dict(person.identity), "deceased": when_text(person.deceased) or None,
        }
        env = self.store._env
        if env is not None:  # encryption at rest (issue 6): identity and home in one blob
            home = (person.home.lat, person.home.lon, person.home.label) if person.home else None
            values.update(identity=C.seal_identity(env, person.id, person.identity, home),
                          home_lat=None, home_lon=None, home_label="")
        exists = self.conn.execute(sa.select(p.c.pk).where(p.c.id == person.id)).scalar()
        if exists is None:
            self.conn.execute(p.insert().values(id=person.id, created_us=_now_us(), **values))
        else:
            self.conn.execute(p.update().where(p.c.pk == exists).values(**values))
        return person.id

    def link_person(self, source: str, external_id: str, person_id: str) -> None:
        pk = self.store._pk(self.conn, person_id)
        self._insert_ignore(S.person_links, [{"source": source, "external_id": external_id,
                                              "person_pk": pk}])

    def resolve_person(self, source: str, external_id: str,
                       template: Person | None = None) -> tuple[str, bool]:
        """The person linked to ``(source, external_id)``, created from ``template`` if new.

        Returns ``(person_id, created)``.
        """
        found = _find_link(self.conn, source, external_id)
        if found is not None:
            return found, False
        person = template or Person(id=new_person_id())
        self.upsert_person(person)
        self.link_person(source, external_id, person.id)
        return person.id, True

    def register_device(self, device_id: str, person_id: str, kind: str = "") -> None:
        pk = self.store._pk(self.conn, person_id)
        d = S.devices
        owner = self.conn.execute(sa.select(d.c.person_pk).where(d.c.device_id == device_id)
                                  ).scalar()
        if owner is None:
            self.conn.execute(d.insert().values(device_id=device_id, person_pk=pk, kind=kind,
                                                registered_us=_now_us()))
        elif owner != pk:
            raise StoreError(f"device {device_id!r} already belongs to another person")
        self._owners[device_id] = person_id

    def device_owner(self, device_id: str) -> str | None:
        d, p = S.devices, S.persons
        return self.conn.execute(sa.select(p.c.id).join(d, d.c.person_pk == p.c.pk)
                                 .where(d.c.device_id == device_id)).scalar()

    def claim_message(self, device: str, message_id: str, readings: int) -> bool:
        """Record a device message id; ``False`` if it was stored before (a redelivery)."""
        return self._insert_ignore(S.ingest_messages, [{
            "device": device, "message_id": message_id, "received_us": _now_us(),
            "readings": readings}]) == 1

    def device_owners(self, device_ids: Sequence[str]) -> dict[str, str]:
        """The owner of each registered device among ``device_ids`` (at most one query).

        Owners committed before are remembered by the store (a device never changes person),
        so a live batch from known devices asks the database nothing (on PostgreSQL the lookup
        had cost about a millisecond per batch). The others are read with a fixed
        statement with the ids as one parameter (an array on PostgreSQL, a JSON array on
        SQLite): building a statement with a placeholder per id cost more than running it. It
        goes through SQLAlchemy's driver call, so a value the database refuses (a NUL in an id
        on PostgreSQL) is its ``DataError`` (the API's 422).
        """
        known = self.store._device_owners
        found = {d: known[d] for d in device_ids if d in known}
        ids = [d for d in dict.fromkeys(device_ids) if d not in found]
        if ids:
            read = self._read_owners(ids)
            self._owners.update(read)
            found.update(read)
        return found

    def _read_owners(self, ids: list[str]) -> dict[str, str]:
        param: Any
        if self.store.dialect == "postgresql":
            where, param = "d.device_id = ANY(%s)", ids
        else:
            where, param = "d.device_id IN (SELECT value FROM json_each(?))", \
                orjson.dumps(ids).decode()
        return dict(self.conn.exec_driver_sql(
            "SELECT d.device_id, p.id FROM devices d JOIN persons p ON p.pk = d.person_pk "
            f"WHERE {where}", (param,)).all())

    def claim_messages(self, items: Sequence[tuple[str, str, int]]) -> list[bool]:
        """:meth:`claim_message` for many ``(device, message_id, readings)`` at once.

        ``True`` for each item whose message id is new (the first of repeats within ``items``).
        One insert that skips existing keys and returns those it added: index lookups only
        (a row-value ``IN`` list made PostgreSQL scan the table), and a message a concurrent
        transaction claims first is not reported new here.
        """
        first: dict[tuple[str, str], int] = {}
        rows: list[tuple[str, str, int]] = []
        for i, (dev, mid, n) in enumerate(items):
            if (dev, mid) not in first:
                first[(dev, mid)] = i
                rows.append((dev, mid, n))
        if not rows:
            return []
        # one JSON parameter: a fixed statement instead of one placeholder per value, and on
        # PostgreSQL a quarter less client time than three arrays (which psycopg builds in
        # Python, value by value)
        now, items_json = _now_us(), orjson.dumps(rows).decode()
        if self.store.dialect == "postgresql":
            claimed = {(r[0], r[1]) for r in self.conn.exec_driver_sql(
                "INSERT INTO ingest_messages (device, message_id, received_us, readings) "
                "SELECT e ->> 0, e ->> 1, %s, (e ->> 2)::int FROM json_array_elements(%s::json)"
                " AS e ON CONFLICT DO NOTHING RETURNING device, message_id", (now, items_json))}
        else:
            claimed = {(r[0], r[1]) for r in self.conn.exec_driver_sql(
                "INSERT INTO ingest_messages (device, message_id, received_us, readings) "
                "SELECT value ->> 0, value ->> 1, ?, value ->> 2 FROM json_each(?) WHERE true "
                "ON CONFLICT DO NOTHING RETURNING device, message_id", (now, items_json))}
        return [first[key] == i and key in claimed
                for i, key in enumerate((dev, mid) for dev, mid, _ in items)]

    def file_imported(self, sha256: str) -> bool:
        f = S.ingest_files
        return self.conn.execute(sa.select(f.c.sha256).where(f.c.sha256 == sha256)
                                 ).first() is not None

    def record_file(self, sha256: str, path: str, fmt: str, report: dict[str, Any]) -> None:
        self._insert_ignore(S.ingest_files, [{"sha256": sha256, "path": path, "format": fmt,
                                              "imported_us": _now_us(), "report": report}])

    # -- observations (the hot path) ---------------------------------------------------------
    def add_observations(self, obs: Sequence[Observation]) -> int:
        """Insert observations, skipping those whose natural key exists; returns rows added."""
        if not obs:
            return 0
        pks = self.store._person_pks
        rows = []
        for o in obs:
            pk = pks.get(o.person_id)
            if pk is None:
                pk = self.store._pk(self.conn, o.person_id)
            rows.append((pk, o.code, to_us(o.t), o.system, o.source, o.device, o.record_id,
                         None if o.t_end is None else to_us(o.t_end), o.value, o.unit,
                         o.value_text, o.value_code, o.display, o.category, int(o.flags)))
        return self.add_observation_rows(rows)

    def add_observation_rows(self, rows: Sequence[tuple[Any, ...]], *,
                             direct: bool = False) -> int:
        """Bulk insert of raw rows in ``_OBS_COLS`` order (person_pk, code, t_us, ...),
        skipping readings stored before.

        PostgreSQL stages the rows in a temp table and inserts what is new from there. With
        ``direct`` (a live batch, whose message ids were claimed, so its readings are new but
        for a device that sends a reading again in another message) the rows are copied
        straight into the table: the staging took 1.3 ms of a 3.1 ms batch of 80 readings,
        over a third of it in the commit, which empties the temp table. A reading stored before then
        raises :class:`DuplicateReadings` (the transaction is lost; write the batch again) and
        live batches are staged for a minute.
        """
        if not rows:
            return 0
        if self.store._listeners:
            self.new_rows.extend(rows)
        cols = ", ".join(_OBS_COLS)
        if self.store.dialect == "sqlite":
            marks = ", ".join("?" * len(_OBS_COLS))
            sql = f"INSERT OR IGNORE INTO observations ({cols}) VALUES ({marks})"
            cur = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            with bulk.driver_errors(self.conn, sql):
                cur.executemany(sql, rows)
            return int(cur.rowcount)
        if self.store.dialect == "postgresql":
            from psycopg.errors import UniqueViolation

            raw = self.conn.connection.driver_connection
            with bulk.driver_errors(self.conn, "COPY observations"), \
                    raw.cursor() as cur:  # type: ignore[union-attr]
                if direct and time.monotonic() >= self.store._careful_until:
                    try:
                        return self._copy(cur, "observations", rows)
                    except UniqueViolation as exc:
                        self.store._careful_until = time.monotonic() + _CAREFUL_S
                        raise DuplicateReadings(f"a live batch held a reading stored before "
                                                f"({exc.diag.message_detail})") from exc
                # a temp table lives as long as the pooled connection: create it if absent (a
                # rolled-back transaction takes its CREATE with it; the connection remembers
                # one a committed transaction made, a round trip less per batch). The commit
                # empties it in place; a TRUNCATE statement instead cost 1.3-3.4 ms a batch
                # (a new file and catalog rows each time), half of a one-message batch. Only a
                # second batch in the same transaction finds rows in it.
                info = self.conn.connection.info
                if not info.get("obs_stage"):
                    cur.execute("CREATE TEMP TABLE IF NOT EXISTS _obs_stage ON COMMIT DELETE "
                                f"ROWS AS SELECT {cols} FROM observations WITH NO DATA")
                    self._stage_made = info
                if self._staged:
                    cur.execute("DELETE FROM _obs_stage")
                self._staged = True
                self._copy(cur, "_obs_stage", rows)
                cur.execute(f"INSERT INTO observations ({cols}) SELECT {cols} FROM _obs_stage "
                            "ON CONFLICT DO NOTHING")
                return int(cur.rowcount)
        raise StoreError(f"unsupported database {self.store.dialect}")

    def _copy(self, cur: Any, table: str, rows: Sequence[tuple[Any, ...]]) -> int:
        """Binary COPY of observation rows into ``table`` (PostgreSQL): about a third less
        client time than text for the same rows."""
        if self.store._copy_types is None:
            cur.execute("SELECT attname, atttypid FROM pg_attribute WHERE attrelid = "
                        "'observations'::regclass AND attnum > 0 AND NOT attisdropped")
            oid = dict(cur.fetchall())
            self.store._copy_types = [int(oid[c]) for c in _OBS_COLS]
        with cur.copy(f"COPY {table} ({', '.join(_OBS_COLS)}) FROM STDIN (FORMAT BINARY)"
                      ) as copy:
            copy.set_types(self.store._copy_types)
            for r in rows:
                copy.write_row(r)
        return int(cur.rowcount)

    # -- other records -------------------------------------------------------------------------
    def add_conditions(self, items: Sequence[Condition]) -> int:
        return self._insert_ignore(S.conditions, [{
            "person_pk": self._ppk(c.person_id), "source": c.source, "record_id": c.record_id,
            "system": c.system, "code": c.code, "display": c.display, "onset": when_text(c.onset),
            "abatement": when_text(c.abatement) or None, "clinical_status": c.clinical_status,
            "verification_status": c.verification_status} for c in items])

    def add_medications(self, items: Sequence[Medication]) -> int:
        return self._insert_ignore(S.medications, [{
            "person_pk": self._ppk(m.person_id), "source": m.source, "record_id": m.record_id,
            "system": m.system, "code": m.code, "display": m.display, "kind": m.kind,
            "status": m.status, "start": when_text(m.start), "end": when_text(m.end) or None,
            "dosage": m.dosage, "reason": m.reason} for m in items])

    def add_allergies(self, items: Sequence[Allergy]) -> int:
        return self._insert_ignore(S.allergies, [{
            "person_pk": self._ppk(a.person_id), "source": a.source, "record_id": a.record_id,
            "system": a.system, "code": a.code, "display": a.display, "category": a.category,
            "criticality": a.criticality, "clinical_status": a.clinical_status,
            "onset": when_text(a.onset)} for a in items])

    def add_encounters(self, items: Sequence[Encounter]) -> int:
        return self._insert_ignore(S.encounters, [{
            "person_pk": self._ppk(e.person_id), "source": e.source, "record_id": e.record_id,
            "start": when_text(e.start), "end": when_text(e.end) or None,
            "class_code": e.class_code, "system": e.system, "code": e.code,
            "display": e.display, "status": e.status, "reason": e.reason} for e in items])

    def add_lifestyle_events(self, items: Sequence[LifestyleEvent]) -> int:
        if self.store._listeners:
            self.new_events.extend(items)
        rows = [{
            "person_pk": self._ppk(e.person_id), "kind": str(e.kind), "start": to_us(e.start),
            "end": None if e.end is None else to_us(e.end), "details": dict(e.details),
            "source": e.source, "record_id": e.record_id} for e in items]
        env = self.store._env
        if env is not None:  # encryption at rest (issue 6)
            col = C.BY_NAME["lifestyle_events.details"]
            for e, r in zip(items, rows, strict=True):
                r["details"] = C.seal_json(env, col.place(r, e.person_id), r["details"])
        return self._insert_ignore(S.lifestyle_events, rows)

    def location_pk(self, loc: Location) -> int:
        t = S.locations
        self._insert_ignore(t, [{"lat": loc.lat, "lon": loc.lon, "label": loc.label}])
        return int(self.conn.execute(sa.select(t.c.pk).where(
            t.c.lat == loc.lat, t.c.lon == loc.lon, t.c.label == loc.label)).scalar_one())

    def add_exposures(self, items: Sequence[Exposure]) -> int:
        cache: dict[Location, int] = {}
        rows = []
        for x in items:
            lpk = cache.get(x.location)
            if lpk is None:
                lpk = cache[x.location] = self.location_pk(x.location)
            rows.append({"location_pk": lpk, "code": x.code, "t": to_us(x.t),
                         "t_end": None if x.t_end is None else to_us(x.t_end),
                         "value": x.value, "unit": x.unit, "source": x.source})
        return self._insert_ignore(S.exposures, rows)

    def add_location_visits(self, items: Sequence[LocationVisit]) -> int:
        return self._insert_ignore(S.location_visits, [{
            "person_pk": self._ppk(v.person_id), "start": to_us(v.start),
            "end": None if v.end is None else to_us(v.end),
            "location_pk": self.location_pk(v.location), "source": v.source} for v in items])

    def register_genotype(self, g: GenotypeUpload) -> bool:
        """Record a VCF upload; ``False`` if this file was registered for this person before."""
        ppk = self._ppk(g.person_id) if g.person_id else None
        t = S.genotype_uploads
        q = sa.select(t.c.pk).where(t.c.sha256 == g.sha256)
        q = q.where(t.c.person_pk == ppk) if ppk is not None else q.where(t.c.person_pk.is_(None))
        if self.conn.execute(q).first() is not None:
            return False
        env = self.store._env  # encryption at rest (issue 6)
        self.conn.execute(t.insert().values(
            person_pk=ppk, sha256=g.sha256,
            path=C.seal_text(env, ("genotype_uploads", "path", g.sha256), g.path),
            samples=C.seal_json(env, ("genotype_uploads", "samples", g.sha256), list(g.samples)),
            build=g.build, chr_prefix=g.chr_prefix, contigs=g.contigs, registered_us=_now_us()))
        return True

    # -- helpers -------------------------------------------------------------------------------
    def _ppk(self, person_id: str) -> int:
        return self.store._pk(self.conn, person_id)

    def _insert_ignore(self, table: sa.Table, rows: list[dict[str, Any]]) -> int:
        if not rows:
            return 0
        ins: Any
        if self.store.dialect == "sqlite":
            ins = sqlite_dialect.insert(table).on_conflict_do_nothing()
        else:
            ins = pg_dialect.insert(table).on_conflict_do_nothing()
        # SQLAlchemy 2.1 reports rowcount -1 on PostgreSQL unless asked to keep it
        opts = {"preserve_rowcount": True}
        if len(rows) == 1:
            return int(self.conn.execute(ins, rows[0], execution_options=opts).rowcount)
        return int(self.conn.execute(ins, rows, execution_options=opts).rowcount)


# -- row mapping ---------------------------------------------------------------------------------
def _json_text(obj: Any) -> str:
    """JSON text of a value for a JSON column (non-string keys become strings, as with
    ``json.dumps``; numpy numbers are numbers).

    >>> _json_text({"a": [1, 2.5, None], 3: "ü"})
    '{"a":[1,2.5,null],"3":"ü"}'
    """
    return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY).decode()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; WAL keeps it consistent
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def _find_link(conn: sa.Connection, source: str, external_id: str) -> str | None:
    L, p = S.person_links, S.persons
    return conn.execute(sa.select(p.c.id).join(L, L.c.person_pk == p.c.pk)
                        .where(L.c.source == source, L.c.external_id == external_id)).scalar()


def _person(r: Any, env: C.Envelope | None = None) -> Person:
    home = Location(r["home_lat"], r["home_lon"], r["home_label"]) \
        if r["home_lat"] is not None else None
    identity = r["identity"] or {}
    if isinstance(identity, str):  # encryption at rest (issue 6): a blob
        identity, h = C.open_identity(env, r["id"], identity)
        home = Location(*h) if h is not None else None
    dec = when_value(r["deceased"])
    return Person(
        id=r["id"], birth_date=date.fromisoformat(r["birth_date"]) if r["birth_date"] else None,
        sex_at_birth=r["sex_at_birth"], race=r["race"], ethnicity=r["ethnicity"], tz=r["tz"],
        home=home, identity=dict(identity),
        deceased=dec if isinstance(dec, datetime) else None,
    )


def _observation(person_id: str, r: Any) -> Observation:
    """An observation from a row selected in ``_OBS_COLS`` order."""
    (_, code, t, system, source, device, record_id, t_end, value, unit, value_text, value_code,
     display, category, flags) = r
    return Observation(
        person_id=person_id, code=code, t=from_us(t), value=value, unit=unit, system=system,
        t_end=from_us(t_end) if t_end is not None else None, value_text=value_text,
        value_code=value_code, display=display, category=category, source=source,
        device=device, record_id=record_id, flags=Quality(flags),
    )


# fetched rows go straight into numpy records: about twice as fast as np.array(list of tuples)
_TV = np.dtype([("t", np.int64), ("v", np.float64)])
_BUCKET = np.dtype([("b", np.int64), ("mean", np.float64), ("min", np.float64),
                    ("max", np.float64), ("n", np.int64)])


def _fetch_points(conn: sa.Connection, pk: int, code: str, t0: int | None,
                  t1: int | None) -> list[tuple[int, float]]:
    """``(t, value)`` rows of one stream in time order, as the driver's plain tuples.

    The driver's cursor skips SQLAlchemy's Row objects (~5x faster for long series); on
    PostgreSQL binary results also save parsing numbers from text (~30% of the fetch).
    """
    pg = conn.dialect.name == "postgresql"
    mark = "%s" if pg else "?"
    sql = (f"SELECT t, value FROM observations WHERE person_pk = {mark} AND code = {mark} "
           "AND value IS NOT NULL")
    params: list[Any] = [pk, code]
    if t0 is not None:
        sql += f" AND t >= {mark}"
        params.append(t0)
    if t1 is not None:
        sql += f" AND t < {mark}"
        params.append(t1)
    sql += " ORDER BY t"
    driver: Any = conn.connection.driver_connection
    cur = driver.cursor(binary=True) if pg else driver.cursor()
    try:
        cur.execute(sql, params)
        rows: list[tuple[int, float]] = cur.fetchall()
        return rows
    finally:
        cur.close()


def _count_upto(conn: sa.Connection, cond: list[Any], limit: int) -> int:
    """How many observations match, counting no further than ``limit``."""
    o = S.observations
    sub = sa.select(o.c.t).where(*cond).limit(limit).subquery()
    return int(conn.execute(sa.select(sa.func.count()).select_from(sub)).scalar_one())


def _downsample(conn: sa.Connection, cond: list[Any], t0: int, t1: int,
                max_points: int) -> Series:
    """Mean, min, max and count per time bucket, computed by the database."""
    o = S.observations
    bucket = max(1, -(-(t1 - t0) // max_points))
    b = ((o.c.t - t0) // bucket).label("b")
    q = (sa.select(b, sa.func.avg(o.c.value), sa.func.min(o.c.value), sa.func.max(o.c.value),
                   sa.func.count())
         .where(*cond).group_by(b).order_by(b))
    cur = conn.execute(q).cursor
    raw = cur.fetchall() if cur is not None else []
    arr = np.fromiter(raw, dtype=_BUCKET, count=len(raw))
    return Series(t_us=t0 + arr["b"] * bucket + bucket // 2,
                  value=np.ascontiguousarray(arr["mean"]), vmin=np.ascontiguousarray(arr["min"]),
                  vmax=np.ascontiguousarray(arr["max"]), n=np.ascontiguousarray(arr["n"]),
                  bucket_us=bucket)


