"""Bulk writes (``store/_bulk.py``): COPY and binary arrays on PostgreSQL, SQLAlchemy on SQLite.

Both backends must store exactly what SQLAlchemy's own statements would: JSON as JSON, NULLs as
NULL, bytes unchanged, keys in the rows' order.
"""

from __future__ import annotations

import sqlalchemy as sa

from hyperhealth.model import Person
from hyperhealth.store import Store
from hyperhealth.store import _bulk as bulk
from hyperhealth.store import _schema as S


def _persons(store: Store, n: int) -> list[int]:
    with store.transaction() as w:
        for i in range(n):
            w.upsert_person(Person(id=f"bulk-{i}"))
    return [store.person_pk(f"bulk-{i}") for i in range(n)]


def _alert(pk: int, i: int) -> dict[str, object]:
    return {"person_pk": pk, "rule": "r", "key": f"k{i}", "rule_version": "1", "level": 2,
            "status": "open", "title": f"t{i}", "explanation": "tab\there, \\ and 'quotes'\n",
            "evidence": {"value": i + 0.5, "nested": {"ü": [1, None]}, "text": "a\tb"},
            "citation": "", "opened_us": i, "last_seen_us": i, "resolved_us": None,
            "acknowledged_by": None, "acknowledged_us": None, "last_notified_us": None,
            "notifications": 0, "escalation": 0, "created_us": 7}


def test_insert_update_and_read_back_as_written(store: Store) -> None:
    pks = _persons(store, 3)
    a = S.alerts
    rows = [_alert(pk, i) for i, pk in enumerate(pks)]
    with store.transaction() as w:
        keys = bulk.insert_returning_keys(w.conn, a, rows)
        bulk.insert(w.conn, S.alert_events, [
            {"alert_pk": k, "at_us": 1, "actor": "engine", "action": "opened",
             "detail": {"i": i}} for i, k in enumerate(keys)])
    assert len(set(keys)) == 3
    with store.engine.connect() as c:
        got = {r.pk: r for r in c.execute(sa.select(a).where(a.c.pk.in_(keys)))}
        events = dict(c.execute(sa.select(S.alert_events.c.alert_pk, S.alert_events.c.detail)
                                .where(S.alert_events.c.alert_pk.in_(keys))).all())
    for i, k in enumerate(keys):  # each key names the row given at its place
        assert got[k].key == f"k{i}" and got[k].evidence == rows[i]["evidence"]
        assert got[k].explanation == rows[i]["explanation"] and got[k].resolved_us is None
        assert events[k] == {"i": i}
    with store.transaction() as w:
        bulk.update(w.conn, a, [{"pk": keys[0], "status": "resolved", "resolved_us": 99,
                                 "evidence": {"after": True}},
                                {"pk": keys[2], "status": "open", "resolved_us": None,
                                 "evidence": {"after": [1, 2]}}])
    with store.engine.connect() as c:
        after = {r.pk: r for r in c.execute(sa.select(a).where(a.c.pk.in_(keys)))}
    assert (after[keys[0]].status, after[keys[0]].resolved_us) == ("resolved", 99)
    assert after[keys[0]].evidence == {"after": True}
    assert after[keys[2]].evidence == {"after": [1, 2]} and after[keys[2]].resolved_us is None
    assert after[keys[1]].evidence == rows[1]["evidence"]  # untouched


def test_upsert_replaces_by_key_and_where_in_selects(store: Store) -> None:
    pks = _persons(store, 4)
    es = S.engine_state
    blob = bytes(range(256)) * 3  # every byte value, as compressed states hold
    with store.transaction() as w:
        bulk.upsert(w.conn, es, [{"person_pk": pk, "state": blob, "updated_us": 1}
                                 for pk in pks[:3]], key="person_pk")
        bulk.upsert(w.conn, es, [{"person_pk": pk, "state": b"new", "updated_us": 2}
                                 for pk in pks[1:]], key="person_pk")
    with store.engine.connect() as c:
        got = {r.person_pk: (bytes(r.state), r.updated_us) for r in c.execute(
            sa.select(es).where(bulk.where_in(c, es.c.person_pk, pks)))}
        none = c.execute(sa.select(es).where(bulk.where_in(c, es.c.person_pk, []))).all()
    assert got == {pks[0]: (blob, 1), pks[1]: (b"new", 2), pks[2]: (b"new", 2),
                   pks[3]: (b"new", 2)}
    assert none == []
