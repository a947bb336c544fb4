"""Foreign keys of the busiest tables hold on both stores.

On PostgreSQL they are checked once per statement by triggers (migrations 0005 and 0006), on
SQLite by its built-in foreign keys; these tests hold both to the same rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from hyperhealth.actions.alerts._lifecycle import _read_batch
from hyperhealth.model import Person
from hyperhealth.store import Store
from hyperhealth.store import _bulk as bulk
from hyperhealth.store import _schema as S

# on every write path, SQLAlchemy's statements and the raw ones (COPY, executemany) alike
REFUSED = sa.exc.IntegrityError


def _reading(person_pk: int, minute: int) -> tuple[Any, ...]:
    """A row in the store's observation column order."""
    return (person_pk, "8867-4", minute * 60_000_000, "http://loinc.org", "device", "watch-1",
            "", None, 61.0, "/min", "", "", "", "vital-signs", 0)


def _alert(person_pk: int) -> dict[str, Any]:
    return {"person_pk": person_pk, "rule": "spo2", "key": "", "rule_version": "1", "level": 3,
            "status": "open", "title": "t", "explanation": "e", "evidence": {}, "citation": "c",
            "opened_us": 0, "last_seen_us": 0, "notifications": 0, "escalation": 0,
            "created_us": 0}


def _event(alert_pk: int) -> dict[str, Any]:
    return {"alert_pk": alert_pk, "at_us": 0, "actor": "engine", "action": "opened",
            "detail": {}}


def _note(alert_pk: int) -> dict[str, Any]:
    return {"alert_pk": alert_pk, "channel": "mqtt", "target": "t", "reason": "opened",
            "payload": {}, "created_us": 0, "attempts": 0, "next_attempt_us": 0,
            "last_error": ""}


@pytest.fixture
def two(store: Store) -> Iterator[tuple[Store, int, int]]:
    """Persons a and b, each with a reading, an alert, its event and its notification."""
    with store.transaction() as w:
        w.upsert_person(Person(id="a"))
        w.upsert_person(Person(id="b"))
        pa, pb = store._pk(w.conn, "a"), store._pk(w.conn, "b")
        w.add_observation_rows([_reading(pa, 0), _reading(pb, 0)])
        keys = bulk.insert_returning_keys(w.conn, S.alerts, [_alert(pa), _alert(pb)])
        bulk.insert(w.conn, S.alert_events, [_event(k) for k in keys])
        bulk.insert(w.conn, S.notifications, [_note(k) for k in keys])
    yield store, pa, pb


def _counts(store: Store) -> dict[str, int]:
    with store.engine.connect() as c:
        return {t: c.execute(sa.select(sa.func.count()).select_from(S.metadata.tables[t])
                             ).scalar_one()
                for t in ("observations", "alerts", "alert_events", "notifications")}


@pytest.mark.parametrize("direct", [True, False])
def test_readings_of_an_unknown_person_are_refused(two: tuple[Store, int, int],
                                                    direct: bool) -> None:
    """Both write paths of a live batch (straight copy, and staged) refuse a missing person,
    and the transaction keeps nothing of the batch."""
    store, pa, _ = two
    with pytest.raises(REFUSED), store.transaction() as w:
        w.add_observation_rows([_reading(pa, 1), _reading(pa + 1000, 1)], direct=direct)
    assert _counts(store)["observations"] == 2


def test_alert_rows_need_their_person_and_alert(two: tuple[Store, int, int]) -> None:
    store, pa, _ = two
    for table, row in ((S.alerts, _alert(pa + 1000)), (S.alert_events, _event(10_000)),
                       (S.notifications, _note(10_000))):
        with pytest.raises(REFUSED), store.transaction() as w:
            bulk.insert(w.conn, table, [row])
        with pytest.raises(REFUSED), store.transaction() as w:
            w.conn.execute(sa.insert(table).values(row))
    with pytest.raises(REFUSED), store.transaction() as w:  # moving an alert to nobody
        w.conn.execute(sa.update(S.alerts).values(person_pk=pa + 1000))
    assert _counts(store) == {"observations": 2, "alerts": 2, "alert_events": 2,
                              "notifications": 2}


def test_deleting_a_person_deletes_their_rows_only(two: tuple[Store, int, int]) -> None:
    """Nothing in the product deletes persons; the keys still cascade as declared."""
    store, pa, pb = two
    with store.transaction() as w:
        w.conn.execute(sa.delete(S.persons).where(S.persons.c.pk == pa))
    assert _counts(store) == {"observations": 1, "alerts": 1, "alert_events": 1,
                              "notifications": 1}
    with store.engine.connect() as c:
        assert c.execute(sa.select(S.alerts.c.person_pk)).scalars().all() == [pb]


def test_a_referenced_person_keeps_its_key(two: tuple[Store, int, int]) -> None:
    store, pa, _ = two
    with pytest.raises(REFUSED), store.transaction() as w:
        w.conn.execute(sa.update(S.persons).where(S.persons.c.pk == pa)
                       .values(pk=pa + 1000))


def test_a_person_with_uncommitted_readings_cannot_be_deleted_meanwhile(pg_url: str) -> None:
    """As with a built-in foreign key, the inserting transaction locks the persons it wrote
    for, so a concurrent delete waits for it (here: gives up after its lock timeout)."""
    store = Store(pg_url)
    try:
        with store.transaction() as w:
            w.upsert_person(Person(id="a"))
            pa = store._pk(w.conn, "a")
        with store.transaction() as w, store.engine.connect() as other:
            w.add_observation_rows([_reading(pa, 0)], direct=True)
            other.exec_driver_sql("SET lock_timeout = '300ms'")
            with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
                other.execute(sa.delete(S.persons).where(S.persons.c.pk == pa))
            other.rollback()
        assert _counts(store)["observations"] == 1
    finally:
        store.close()


def test_the_live_path_finds_rows_by_index_on_a_grown_table(pg_url: str) -> None:
    """PostgreSQL may keep a plan for the rest of a connection (a PL/pgSQL function's, or a
    prepared statement's generic one), and plans by statistics, which a new database (or a
    server with autovacuum off) does not have. Key checks, alert updates and the batch's read
    of active alerts must still find rows by index once ``alerts`` has grown on the same
    connection (migration 0006): before, each scanned every alert."""
    store = Store(pg_url)
    plans: list[str] = []
    try:
        with store.transaction() as w:
            for p in ("a", "b"):
                w.upsert_person(Person(id=p))
            pa, pb = store._pk(w.conn, "a"), store._pk(w.conn, "b")
        with store.engine.connect() as conn:
            def alerts_with_rows(n: int) -> list[int]:
                keys = bulk.insert_returning_keys(
                    conn, S.alerts, [_alert(pa if i % 2 else pb) for i in range(n)])
                bulk.insert(conn, S.alert_events, [_event(k) for k in keys])
                bulk.insert(conn, S.notifications, [_note(k) for k in keys])
                conn.commit()
                return keys

            def update_and_read(keys: list[int], status: str) -> list[dict[str, Any]]:
                bulk.update(conn, S.alerts, [{"pk": k, "status": status} for k in keys])
                active = _read_batch(conn, [pa, pb])[0]
                conn.commit()
                return active

            # the first plans on tiny tables: PL/pgSQL keeps its plans, and psycopg prepares a
            # statement run five times, after which the server may keep a generic plan
            for _ in range(12):
                update_and_read(alerts_with_rows(2), "open")
            # resolved alerts of the size the rules write (an explanation of a few sentences)
            bulk.insert(conn, S.alerts, [{**_alert(pa), "status": "resolved",
                                          "explanation": "e" * 400}] * 5000)
            conn.commit()
            try:
                conn.exec_driver_sql("LOAD 'auto_explain'")
            except sa.exc.DBAPIError as exc:
                pytest.skip(f"PostgreSQL's auto_explain is not available here ({exc.orig})")
            for setting in ("log_min_duration = 0", "log_nested_statements = on",
                            "log_level = notice"):
                conn.exec_driver_sql(f"SET auto_explain.{setting}")
            conn.connection.driver_connection.add_notice_handler(  # type: ignore[union-attr]
                lambda diag: plans.append(f"{diag.message_primary}\n{diag.context}"))
            active = update_and_read(alerts_with_rows(40), "resolved")
    finally:
        store.close()
    assert len(active) == 24  # the twelve rounds' alerts, still open
    text = "\n".join(plans)
    assert "Seq Scan on alerts" not in text
    assert "ix_alerts_status_level" not in text
    for probe in ("hh_fk_alert_events", "hh_fk_notifications", "UPDATE alerts",
                  "ix_alerts_active"):
        assert probe in text, f"no plan shows {probe}"
