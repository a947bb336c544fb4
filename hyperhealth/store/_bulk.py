"""Bulk writes for the live path: COPY and arrays on PostgreSQL, SQLAlchemy elsewhere.

SQLAlchemy writes many rows to PostgreSQL as one statement with a placeholder per value. Such a
statement is long, so psycopg parses it again on every call (it caches short statements only)
and the server plans it afresh: about 0.2 ms per alert row, most of a live batch's time. COPY
and ``unnest`` over one array per column keep the statement short and fixed. SQLite runs in
the process and is fast with plain ``executemany`` of one fixed statement; it gets the rows as
tuples through SQLAlchemy's driver call (which still turns driver errors into SQLAlchemy's), not
through a compiled statement that runs each value of each row through the column's type: that
cost more than SQLite's own work for the events and notifications of a batch of alerts.

Values go in as the SQLAlchemy column types would store them; JSON columns take any value
orjson serializes (non-string keys become strings, as with ``json.dumps``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect

Rows = Sequence[Mapping[str, Any]]


def where_in(conn: sa.Connection, col: sa.Column[Any], values: Sequence[Any]
             ) -> sa.ColumnElement[bool]:
    """``col IN values``: one array parameter on PostgreSQL (a fixed statement), a list
    elsewhere (keep ``values`` under SQLite's 32,766 parameters)."""
    if _pg(conn):
        return col == sa.any_(sa.bindparam(None, list(values), type_=pg_dialect.ARRAY(col.type)))
    return col.in_(list(values))


def insert(conn: sa.Connection, table: sa.Table, rows: Rows) -> None:
    """Insert ``rows`` (dicts with the same keys)."""
    if not rows:
        return
    names = list(rows[0])
    if not _pg(conn):
        conn.exec_driver_sql(_sqlite_insert(table.name, tuple(names)),
                             _columns(table, names, rows, by_row=True))
        return
    raw: Any = conn.connection.driver_connection
    sql = f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
    with driver_errors(conn, sql), raw.cursor() as cur, cur.copy(sql) as copy:
        for values in _columns(table, names, rows, by_row=True):
            copy.write_row(values)


def insert_returning_keys(conn: sa.Connection, table: sa.Table, rows: Rows) -> list[int]:
    """Insert ``rows`` (without their ``pk``) and return the new keys in the rows' order."""
    if not rows:
        return []
    if not _pg(conn):
        # one fixed statement a row through the driver's cursor (SQLite runs in the process):
        # for 20 alerts 0.30-0.37 ms against 0.55-0.59 ms for SQLAlchemy's multi-row insert
        names = list(rows[0])
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        sql = _sqlite_insert(table.name, tuple(names)) + " RETURNING pk"
        try:
            with driver_errors(conn, sql):
                return [int(cur.execute(sql, values).fetchone()[0])
                        for values in _columns(table, names, rows, by_row=True)]
        finally:
            cur.close()
    keys = [int(k) for k in conn.exec_driver_sql(
        "SELECT nextval(pg_get_serial_sequence(%(t)s, 'pk')) FROM generate_series(1, %(n)s)",
        {"t": table.name, "n": len(rows)}).scalars()]
    insert(conn, table, [{"pk": k, **r} for k, r in zip(keys, rows, strict=True)])
    return keys


def update(conn: sa.Connection, table: sa.Table, rows: Rows) -> None:
    """Set the columns of each row (dicts with ``pk`` and the same other keys) by its key."""
    if not rows:
        return
    names = [n for n in rows[0] if n != "pk"]
    if not _pg(conn):
        sets = ", ".join(f"{n} = ?" for n in names)
        conn.exec_driver_sql(f"UPDATE {table.name} SET {sets} WHERE pk = ?",
                             _columns(table, [*names, "pk"], rows, by_row=True))
        return
    source, params = _unnest(conn, table, ["pk", *names], rows)
    sets = ", ".join(f"{n} = v.{n}" for n in names)
    # planned on each call, never prepared: psycopg prepares a statement run five times, and
    # the server may then keep a plan made while the table was small, a scan of every row (1.2
    # ms for 40 of 5,000 alerts; tests/test_store_keys.py)
    _raw_execute(conn, f"UPDATE {table.name} SET {sets} FROM {source} "
                 f"WHERE {table.name}.pk = v.pk", params, prepare=False)


def upsert(conn: sa.Connection, table: sa.Table, rows: Rows, key: str) -> None:
    """Insert ``rows``, replacing the other columns of rows whose ``key`` exists."""
    if not rows:
        return
    names = list(rows[0])
    others = [n for n in names if n != key]
    sets = ", ".join(f"{n} = excluded.{n}" for n in others)
    if not _pg(conn):
        conn.exec_driver_sql(f"{_sqlite_insert(table.name, tuple(names))} "
                             f"ON CONFLICT ({key}) DO UPDATE SET {sets}",
                             _columns(table, names, rows, by_row=True))
        return
    source, params = _unnest(conn, table, names, rows)
    _raw_execute(conn, f"INSERT INTO {table.name} ({', '.join(names)}) "
                 f"SELECT {', '.join(f'v.{n}' for n in names)} FROM {source} "
                 f"ON CONFLICT ({key}) DO UPDATE SET {sets}", params)


@contextmanager
def driver_errors(conn: sa.Connection, sql: str) -> Iterator[None]:
    """Raise errors of the driver's own cursor (COPY, ``executemany``) as SQLAlchemy raises
    them for its statements (``IntegrityError``, ``OperationalError``, ...), so that callers
    which turn SQLAlchemy's errors into clear ones (the store is unavailable, a key is missing)
    see these too."""
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        yield
    except dbapi_error as exc:
        raise sa.exc.DBAPIError.instance(sql, None, exc, dbapi_error) from exc


# -- inside ------------------------------------------------------------------------------------
@functools.cache
def _sqlite_insert(table: str, names: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"


def _pg(conn: sa.Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _json(col: sa.Column[Any]) -> bool:
    return isinstance(col.type, sa.JSON)


def _columns(table: sa.Table, names: Sequence[str], rows: Rows, *, by_row: bool
             ) -> list[Any]:
    """The rows' values (a tuple per row, or a list per column), JSON serialized to text."""
    cols = [[r[n] for r in rows] for n in names]
    for n, values in zip(names, cols, strict=True):
        if _json(table.c[n]):
            values[:] = [None if v is None else
                         orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS).decode() for v in values]
    return list(zip(*cols, strict=True)) if by_row else cols


def _unnest(conn: sa.Connection, table: sa.Table, names: Sequence[str], rows: Rows
            ) -> tuple[str, list[list[Any]]]:
    """``(SELECT ... FROM unnest(%b::type[], ...)) AS v(names)`` and one array per column;
    JSON travels as text and is cast back per value. The arrays go in binary: for a batch of
    saved states (bytea) a sixth of the time of text, which escapes every byte."""
    arrays, casts = [], []
    for n in names:
        col = table.c[n]
        kind = "text" if _json(col) else col.type.compile(dialect=conn.dialect)
        arrays.append(f"%b::{kind}[]")
        casts.append(f"{n}::json AS {n}" if _json(col) else n)
    source = (f"(SELECT {', '.join(casts)} FROM unnest({', '.join(arrays)}) AS "
              f"u({', '.join(names)})) AS v")
    return source, _columns(table, names, rows, by_row=False)


def _raw_execute(conn: sa.Connection, sql: str, params: Sequence[Any], *,
                 prepare: bool | None = None) -> None:
    raw: Any = conn.connection.driver_connection
    with driver_errors(conn, sql), raw.cursor() as cur:
        cur.execute(sql, params, prepare=prepare)
