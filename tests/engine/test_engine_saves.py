"""Deferred state saves: a person's state is saved with the findings it produced, the others' at
most every ``save_every_s``; a crash at any point, then catch-up, gives exactly the alerts and
notifications of an uninterrupted run (SQLite and PostgreSQL)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from hyperhealth.engine import Engine
from hyperhealth.ingest.device_json import SCHEMA, DevicePayload, ingest_payloads
from hyperhealth.model import Person
from hyperhealth.store import Store
from hyperhealth.store import _schema as S

T0 = datetime(2024, 5, 1, tzinfo=UTC)
PERSONS = ("p0", "p1", "p2")


def _batches(seed: int, n: int = 30) -> list[list[DevicePayload]]:
    """Batches of home blood-pressure messages; now and then a reading in the crisis range."""
    rng = random.Random(seed)
    out = []
    for b in range(n):
        batch = []
        for i, pid in enumerate(PERSONS):
            if rng.random() < 0.3:
                continue  # not everyone measures in every batch
            crisis = rng.random() < 0.2
            t = (T0 + timedelta(hours=6 * b, minutes=i)).isoformat()
            batch.append(DevicePayload({
                "schema": SCHEMA, "message_id": f"{pid}-{b}", "person": pid,
                "device": {"id": f"cuff-{pid}", "kind": "cuff"},
                "readings": [
                    {"metric": "systolic_bp", "value": 185 if crisis else 126 + i,
                     "unit": "mm[Hg]", "t": t},
                    {"metric": "diastolic_bp", "value": 95 if crisis else 81, "unit": "mm[Hg]",
                     "t": t}]}, f"cuff-{pid}"))
        out.append(batch)
    return out


def _setup(store: Store) -> None:
    with store.transaction() as w:
        for pid in PERSONS:
            w.upsert_person(Person(id=pid))
            w.register_device(f"cuff-{pid}", pid, "cuff")


def _outcome(store: Store) -> list[tuple[Any, ...]]:
    """Every alert with its status, times and notification reasons."""
    a, n, p = S.alerts, S.notifications, S.persons
    with store.engine.connect() as conn:
        alerts = conn.execute(sa.select(a.c.pk, p.c.id, a.c.rule, a.c.key, a.c.status,
                                        a.c.opened_us, a.c.resolved_us, a.c.notifications)
                              .join(p, p.c.pk == a.c.person_pk)).all()
        reasons: dict[int, list[str]] = {}
        for pk, reason in conn.execute(sa.select(n.c.alert_pk, n.c.reason).order_by(n.c.pk)):
            reasons.setdefault(pk, []).append(reason)
    return sorted((*r[1:], tuple(reasons.get(r[0], ()))) for r in alerts)


def _saved(store: Store) -> set[str]:
    es, p = S.engine_state, S.persons
    with store.engine.connect() as conn:
        return {r[0] for r in conn.execute(sa.select(p.c.id).join(es, es.c.person_pk == p.c.pk))}


def _uninterrupted(path: Any, batches: list[list[DevicePayload]]) -> list[tuple[Any, ...]]:
    """The alerts of one engine living through every batch in the committing thread."""
    ref = Store(f"sqlite:///{path}")
    _setup(ref)
    engine = Engine(ref, clock=lambda: 0)
    engine.attach()
    for b in batches:
        ingest_payloads(ref, b)
    engine.detach()
    try:
        return _outcome(ref)
    finally:
        ref.close()


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_crash_at_any_batch_then_catch_up_equals_uninterrupted(store: Store, tmp_path: Any,
                                                               seed: int) -> None:
    batches = _batches(seed)
    expected = _uninterrupted(tmp_path / "ref.sqlite", batches)
    assert any(r[3] == "resolved" for r in expected), "the signal should open and clear alerts"

    _setup(store)
    crash_after = random.Random(seed).randrange(5, len(batches) - 5)
    first = Engine(store, clock=lambda: 0, save_every_s=3600)  # only findings save state
    first.attach()
    for b in batches[:crash_after]:
        ingest_payloads(store, b)
    # a crash: the engine goes away without flushing
    store.remove_commit_listener(first.on_commit)
    unsaved = set(first._unsaved)
    assert unsaved, "some persons' state should be waiting for its save at the crash"
    second = Engine(store, clock=lambda: 0)
    second.attach()  # catches up from the saved states
    for b in batches[crash_after:]:
        ingest_payloads(store, b)
    second.detach()
    assert _outcome(store) == expected
    assert _saved(store) == set(PERSONS)


def test_state_is_saved_with_findings_and_otherwise_waits(sqlite_store: Store) -> None:
    store = sqlite_store
    _setup(store)
    engine = Engine(store, clock=lambda: 0, save_every_s=3600)
    engine.attach()

    def cuff(pid: str, b: int, sbp: int) -> DevicePayload:
        t = (T0 + timedelta(hours=b)).isoformat()
        return DevicePayload({"schema": SCHEMA, "message_id": f"{pid}-{b}", "person": pid,
                              "device": {"id": f"cuff-{pid}", "kind": "cuff"}, "readings": [
                                  {"metric": "systolic_bp", "value": sbp, "unit": "mm[Hg]",
                                   "t": t},
                                  {"metric": "diastolic_bp", "value": 80, "unit": "mm[Hg]",
                                   "t": t}]}, f"cuff-{pid}")

    ingest_payloads(store, [cuff("p0", 0, 125), cuff("p1", 0, 125)])
    assert _saved(store) == set()  # no findings: the saves wait
    ingest_payloads(store, [cuff("p0", 1, 190), cuff("p1", 1, 125)])
    assert _saved(store) == {"p0"}  # saved with its crisis alert, in one transaction
    engine.save_every_s = 0
    ingest_payloads(store, [cuff("p2", 2, 125)])
    assert _saved(store) == set(PERSONS)  # their turn came
    engine.detach()


def test_background_worker_gives_the_alerts_of_the_committing_thread(store: Store,
                                                                      tmp_path: Any) -> None:
    batches = _batches(11, n=40)
    expected = _uninterrupted(tmp_path / "ref.sqlite", batches)

    _setup(store)
    worker = Engine(store, clock=lambda: 0)
    worker.attach(background=True)
    for b in batches:
        ingest_payloads(store, b)  # returns before the engine has seen the batch
    worker.detach()  # processes what is queued, then saves every state
    assert worker.stats.readings == sum(2 * len(b) for b in batches)
    assert _outcome(store) == expected
    assert _saved(store) == set(PERSONS)


def test_a_failed_engine_transaction_is_replayed(store: Store, tmp_path: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The database refuses the transaction that applies a batch's findings (twice: the first
    replay fails too). The readings are stored; the engine replays the persons involved from
    their saved state before the next batch, so the alerts equal an uninterrupted run."""
    from hyperhealth.actions.alerts import AlertBook

    batches = _batches(5)
    expected = _uninterrupted(tmp_path / "ref.sqlite", batches)
    _setup(store)
    engine = Engine(store, clock=lambda: 0)
    engine.attach()
    real = AlertBook.apply
    failures = []

    def refused(self: AlertBook, conn: Any, findings: Any, *args: Any) -> Any:
        if findings and len(failures) < 2:
            failures.append(len(findings))
            raise sa.exc.OperationalError("INSERT INTO alerts", {}, Exception("server gone"))
        return real(self, conn, findings, *args)

    monkeypatch.setattr(AlertBook, "apply", refused)
    for b in batches:
        ingest_payloads(store, b)  # the engine's failure is logged, the readings are stored
    engine.detach()
    assert len(failures) == 2
    assert _outcome(store) == expected
    assert _saved(store) == set(PERSONS)


def test_batches_the_engine_cannot_read_for_are_replayed(store: Store, tmp_path: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The database is gone while the engine reads for a batch: the persons' ids (batch 4), their
    saved states (batch 9), and again during the replay that batch 10 starts with. The readings
    are stored; the persons are replayed before the next batch goes on, so the alerts equal an
    uninterrupted run."""
    batches = _batches(5)
    expected = _uninterrupted(tmp_path / "ref.sqlite", batches)
    _setup(store)
    engine = Engine(store, clock=lambda: 0)
    engine.attach()
    fail: list[str] = []
    real_ids, real_states = Store.person_ids, Engine._load_states

    def gone(what: str) -> None:
        if what in fail:
            fail.remove(what)
            raise sa.exc.OperationalError(f"SELECT {what}", {}, Exception("server gone"))

    def person_ids(self: Store, pks: Any) -> Any:
        gone("ids")
        return real_ids(self, pks)

    def load_states(self: Engine, person_ids: Any) -> None:
        gone("states")
        real_states(self, person_ids)

    monkeypatch.setattr(Store, "person_ids", person_ids)
    monkeypatch.setattr(Engine, "_load_states", load_states)
    for k, b in enumerate(batches):
        fail += {4: ["ids"], 9: ["states"], 10: ["states"]}.get(k, [])
        ingest_payloads(store, b)  # the engine's failure is logged, the readings are stored
        if k in (4, 9, 10):
            assert not fail and engine._behind | engine._behind_pks
    engine.detach()
    assert _outcome(store) == expected
    assert _saved(store) == set(PERSONS)
