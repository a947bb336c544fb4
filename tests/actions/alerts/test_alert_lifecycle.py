"""The lifecycle on both backends: de-duplication, budget, snooze, auto-resolve, escalation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from hyperhealth.actions.alerts import AlertBook, AlertRequest, Clear, Policy
from hyperhealth.actions.levels import Level
from hyperhealth.model import Person
from hyperhealth.model.time import to_us
from hyperhealth.store import Store
from hyperhealth.store import _schema as S

T = datetime(2024, 5, 1, 8, tzinfo=UTC)


def req(minute: int, key: str = "low", level: Level = Level.WARN) -> AlertRequest:
    return AlertRequest("p1", "glucose", "1", level, T + timedelta(minutes=minute), "Low",
                        "Glucose low", key=key, evidence={"minute": minute}, citation="cite")


def apply(store: Store, book: AlertBook, *found: AlertRequest | Clear) -> None:
    with store.transaction() as w:
        book.apply(w.conn, list(found), {"p1": "UTC"}, to_us(T))


def outbox(store: Store) -> list[str]:
    with store.engine.connect() as c:
        return [r[0] for r in c.execute(S.notifications.select().with_only_columns(
            S.notifications.c.reason).order_by(S.notifications.c.pk))]


def setup(store: Store, **policy: int) -> AlertBook:
    with store.transaction() as w:
        w.upsert_person(Person(id="p1"))
    return AlertBook(store, Policy(**policy))  # type: ignore[arg-type]


def test_repeats_are_one_alert_and_renotify_after_the_interval(store: Store) -> None:
    book = setup(store)
    apply(store, book, req(0), req(10), req(20))
    alerts = book.find("p1")
    assert len(alerts) == 1 and alerts[0].evidence == {"minute": 20}
    assert outbox(store) == ["opened"]
    apply(store, book, req(241))  # WARN repeats after 240 minutes
    assert outbox(store) == ["opened", "repeat"]
    apply(store, book, req(250, level=Level.URGENT))  # a higher level notifies at once
    assert outbox(store)[-1] == "raised" and book.find("p1")[0].level == Level.URGENT


def test_clear_resolves_and_a_new_finding_opens_a_new_alert(store: Store) -> None:
    book = setup(store)
    apply(store, book, req(0), Clear("p1", "glucose", "low", T + timedelta(minutes=30), "ok"))
    assert not book.find("p1")
    (done,) = book.find("p1", status=["resolved"])
    assert done.resolved == T + timedelta(minutes=30)
    assert [h["action"] for h in book.history(done.id)] == ["opened", "auto-resolved"]
    apply(store, book, req(60))
    assert len(book.find("p1")) == 1


def test_daily_budget_holds_back_non_urgent_but_never_urgent(store: Store) -> None:
    book = setup(store, daily_budget=2)
    apply(store, book, *[req(i, key=f"k{i}") for i in range(4)],
          req(5, key="u", level=Level.URGENT))
    shown = book.find("p1")
    assert sum(a.level < Level.URGENT for a in shown) == 2
    assert any(a.level == Level.URGENT for a in shown)
    assert len(book.find("p1", status=["suppressed"])) == 2
    # a suppressed alert that clears stays suppressed (never shown)
    apply(store, book, Clear("p1", "glucose", "k3", T + timedelta(minutes=9), "ok"))
    assert len(book.find("p1", status=["suppressed"])) == 2


def test_snooze_holds_notifications_at_and_below_its_level(store: Store) -> None:
    book = setup(store)
    book.snooze("p1", Level.WARN, T + timedelta(hours=2), by="patient")
    apply(store, book, req(0), req(1, key="u", level=Level.URGENT))
    assert outbox(store) == ["opened"]  # only the urgent one
    assert len(book.find("p1")) == 2  # both are still recorded


def test_acknowledge_resolve_and_escalation(store: Store) -> None:
    book = setup(store)
    apply(store, book, req(0, key="u", level=Level.URGENT), req(1, key="v", level=Level.URGENT))
    a, b = sorted(book.find("p1"), key=lambda x: x.key)
    book.acknowledge(a.id, by="dr-x")
    now = to_us(T) + 20 * 60_000_000
    assert book.escalate(now) == 1  # only the unacknowledged one is re-sent
    assert book.escalate(now) == 0
    assert book.escalate(now + 20 * 60_000_000) == 1  # then to the care team
    assert book.get(b.id).escalation == 2
    assert outbox(store).count("escalated") == 1
    book.resolve(a.id, by="dr-x", note="called the patient")
    assert book.get(a.id).status == "resolved"


def test_one_batch_of_many_new_alerts_keeps_each_event_and_notification_with_its_alert(
        store: Store) -> None:
    # urgent and warn findings interleaved: every warn one checks the budget, which writes the
    # batch's new alerts so far; notifications and events must still name their own alert
    book = setup(store, daily_budget=50)
    found: list[AlertRequest | Clear] = []
    for i in range(12):
        found.append(req(i, key=f"u{i}", level=Level.URGENT))
        found.append(req(i, key=f"w{i}"))
    found.append(Clear("p1", "glucose", "u3", T + timedelta(minutes=30), "ok"))
    apply(store, book, *found)
    a, n, e = S.alerts, S.notifications, S.alert_events
    with store.engine.connect() as c:
        key_of = dict(c.execute(a.select().with_only_columns(a.c.pk, a.c.key)).all())
        notes = c.execute(n.select().with_only_columns(n.c.alert_pk, n.c.payload, n.c.reason)
                          ).all()
        events = c.execute(e.select().with_only_columns(e.c.alert_pk, e.c.action)).all()
    assert sorted(key_of.values()) == sorted(f"{k}{i}" for i in range(12) for k in "uw")
    assert len(notes) == 25 and len(events) == 25
    for alert_pk, payload, reason in notes:
        assert payload["id"] == alert_pk and payload["key"] == key_of[alert_pk]
        assert payload["status"] == ("resolved" if reason == "resolved" else "open")
    assert sorted(key_of[pk] for pk, action in events if action == "auto-resolved") == ["u3"]


def test_webhooks_of_other_persons_get_nothing(store: Store) -> None:
    book = setup(store)
    with store.transaction() as w:
        w.upsert_person(Person(id="p2"))
    mine, _ = book.add_webhook("http://127.0.0.1:9/p1", person_id="p1")
    book.add_webhook("http://127.0.0.1:9/p2", person_id="p2")
    everyone, _ = book.add_webhook("http://127.0.0.1:9/all")
    apply(store, book, req(0))
    with store.engine.connect() as c:
        targets = [r[0] for r in c.execute(sa.select(S.notifications.c.target).where(
            S.notifications.c.channel == "webhook").order_by(S.notifications.c.target))]
    assert targets == sorted([str(mine), str(everyone)])
