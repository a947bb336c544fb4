"""The alerts API on both backends: triage list, history, acting on alerts, snooze, webhooks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hyperhealth.actions.levels import Level
from hyperhealth.delivery.api._alerts import router
from hyperhealth.delivery.notify import verify
from hyperhealth.model.time import to_us
from hyperhealth.store import Store
from hyperhealth.store import _schema as S
from tests import signin
from tests.delivery.alert_rows import add_person, raise_alert
from tests.signin import CLINICIAN, SignedIn


def app_for(store: Store) -> FastAPI:
    app = signin.app_for(store, web=False)
    app.include_router(router)  # as the lead wires it in _app.py
    return app


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with SignedIn(app_for(store), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def alerts(store: Store) -> dict[str, int]:
    """Two persons; p-ann has an info, a warn and an urgent alert, p-ben one warn alert."""
    add_person(store, "p-ann")
    add_person(store, "p-ben")
    return {
        "info": raise_alert(store, "p-ann", level=Level.INFO, rule="sleep_deficit", key="",
                            minutes=30, title="Short sleep"),
        "warn": raise_alert(store, "p-ann", level=Level.WARN, rule="heart_rate_rest",
                            key="high", minutes=10, title="High resting heart rate"),
        "urgent": raise_alert(store, "p-ann", minutes=0),
        "ben": raise_alert(store, "p-ben", level=Level.WARN, rule="glucose", key="high",
                           minutes=40, title="High glucose"),
    }


def problem(r: Any, status: int, *words: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == status and body["what"] and "Traceback" not in r.text
    for w in words:
        assert w in r.text, (w, r.text)
    return body


def ids(r: Any) -> list[int]:
    assert r.status_code == 200, r.text
    return [a["id"] for a in r.json()]


def test_triage_list_orders_by_level_then_recency(client: TestClient,
                                                   alerts: dict[str, int]) -> None:
    got = client.get("/api/alerts")
    # urgent first; the two warn alerts by their newest finding (ben's is newer)
    assert ids(got) == [alerts["urgent"], alerts["ben"], alerts["warn"], alerts["info"]]
    first = got.json()[0]
    assert first["level"] == "urgent" and first["status"] == "open"
    assert first["evidence"] == {"spo2_pct": 86.0, "threshold_pct": 88}
    assert first["citation"] == "test citation" and first["person_id"] == "p-ann"
    assert ids(client.get("/api/alerts", params={"min_level": "warn"})) == \
        [alerts["urgent"], alerts["ben"], alerts["warn"]]
    assert ids(client.get("/api/alerts", params={"person": "p-ben"})) == [alerts["ben"]]
    assert ids(client.get("/api/alerts", params={"limit": 2})) == [alerts["urgent"], alerts["ben"]]
    assert ids(client.get("/api/persons/p-ann/alerts", params={"min_level": "urgent"})) == \
        [alerts["urgent"]]


def test_status_filter_and_bad_filters(client: TestClient, alerts: dict[str, int]) -> None:
    assert client.post(f"/api/alerts/{alerts['warn']}/resolve",
                       json={"by": "dr-a"}).status_code == 200
    assert alerts["warn"] not in ids(client.get("/api/persons/p-ann/alerts"))
    assert ids(client.get("/api/persons/p-ann/alerts", params={"status": "resolved"})) == \
        [alerts["warn"]]
    both = ids(client.get("/api/persons/p-ann/alerts",
                          params=[("status", "resolved"), ("status", "open")]))
    assert sorted(both) == sorted([alerts["urgent"], alerts["warn"], alerts["info"]])
    problem(client.get("/api/alerts", params={"status": "closed"}), 422, "status")
    problem(client.get("/api/alerts", params={"min_level": "severe"}), 422, "min_level")
    problem(client.get("/api/alerts", params={"limit": 0}), 422, "limit")
    # an id the caller cannot see filters to nothing; the person route refuses like no consent
    assert client.get("/api/alerts", params={"person": "p-nobody"}).json() == []
    problem(client.get("/api/persons/p-nobody/alerts"), 403, "no access")


def test_one_alert_with_history(client: TestClient, alerts: dict[str, int]) -> None:
    a = alerts["urgent"]
    r = client.get(f"/api/alerts/{a}")
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == a and body["title"] == "Low blood oxygen"
    assert [e["action"] for e in body["history"]] == ["opened"]
    assert body["history"][0]["actor"] == "engine"
    # an unknown id is refused like an alert the caller may not see: ids cannot be probed
    problem(client.get("/api/alerts/999999"), 403, "no access", "GET /api/alerts")
    problem(client.get("/api/alerts/abc"), 422, "alert_id")


def test_acknowledge_annotate_resolve(client: TestClient, store: Store,
                                      alerts: dict[str, int]) -> None:
    a = alerts["urgent"]
    r = client.post(f"/api/alerts/{a}/acknowledge", json={"by": "dr-a", "note": "calling"})
    assert r.status_code == 200, r.text
    # the signed-in user is recorded, whatever an old client puts in "by"
    assert r.json()["status"] == "acknowledged"
    assert r.json()["acknowledged_by"] == CLINICIAN
    problem(client.post(f"/api/alerts/{a}/acknowledge", json={"by": "dr-b"}), 409,
            "not open")
    r = client.post(f"/api/alerts/{a}/annotate", json={"by": "dr-a", "note": "spoke to her"})
    assert r.status_code == 200
    problem(client.post(f"/api/alerts/{a}/annotate", json={"by": "dr-a", "note": ""}), 422,
            "note")
    problem(client.post(f"/api/alerts/{a}/annotate", json={"by": "dr-a", "note": "   "}), 422,
            "note")
    r = client.post(f"/api/alerts/{a}/resolve", json={"by": "dr-a", "note": "fine now"})
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    assert r.json()["resolved"] is not None
    problem(client.post(f"/api/alerts/{a}/resolve", json={"by": "dr-a"}), 409, "already resolved")
    problem(client.post("/api/alerts/424242/resolve", json={"by": "dr-a"}), 403, "no access")
    history = client.get(f"/api/alerts/{a}").json()["history"]
    assert [(e["actor"], e["action"]) for e in history] == [
        ("engine", "opened"), (CLINICIAN, "acknowledged"), (CLINICIAN, "annotated"),
        (CLINICIAN, "resolved")]
    assert history[2]["detail"] == {"note": "spoke to her"}
    # resolving queued a 'resolved' notification in the outbox (for MQTT)
    n = S.notifications
    with store.engine.connect() as c:
        reasons = [r[0] for r in c.execute(sa.select(n.c.reason).where(n.c.alert_pk == a)
                                           .order_by(n.c.pk))]
    assert reasons == ["opened", "resolved"]


def test_snooze_holds_notifications(client: TestClient, store: Store) -> None:
    add_person(store, "p-sam")
    r = client.post("/api/persons/p-sam/snooze", json={"level": "warn", "minutes": 90,
                                                       "by": "dr-a"})
    assert r.status_code == 200, r.text
    until = datetime.fromisoformat(r.json()["until"])
    assert timedelta(minutes=89) < until - datetime.now(UTC) <= timedelta(minutes=90)
    # a warn finding (its data time is before `until`): the alert opens, no notification
    warn = raise_alert(store, "p-sam", level=Level.WARN, rule="glucose", key="high",
                       at_us=to_us(datetime.now(UTC)))
    with store.engine.connect() as c:
        n = c.execute(sa.select(sa.func.count()).select_from(S.notifications)
                      .where(S.notifications.c.alert_pk == warn)).scalar_one()
    assert n == 0
    assert [e["action"] for e in client.get(f"/api/alerts/{warn}").json()["history"]] == \
        ["opened", "held"]
    # urgent is above the snoozed level: notified
    urgent = raise_alert(store, "p-sam")
    with store.engine.connect() as c:
        n = c.execute(sa.select(sa.func.count()).select_from(S.notifications)
                      .where(S.notifications.c.alert_pk == urgent)).scalar_one()
    assert n == 1


def test_snooze_validation(client: TestClient, store: Store) -> None:
    add_person(store, "p-sam")
    url = "/api/persons/p-sam/snooze"
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    assert client.post(url, json={"level": "info", "until": later, "by": "x"}).status_code == 200
    problem(client.post(url, json={"level": "warn", "by": "x"}), 422, "until or minutes")
    problem(client.post(url, json={"level": "warn", "by": "x", "minutes": 5, "until": later}),
            422, "until or minutes")
    problem(client.post(url, json={"level": "warn", "by": "x",
                                   "until": "2030-01-01T00:00:00"}), 422, "time zone")
    problem(client.post(url, json={"level": "warn", "by": "x",
                                   "until": "2020-01-01T00:00:00Z"}), 422, "not in the future")
    far = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    problem(client.post(url, json={"level": "warn", "by": "x", "until": far}), 422, "7 days")
    problem(client.post(url, json={"level": "warn", "by": "x", "minutes": 0}), 422, "minutes")
    problem(client.post(url, json={"level": "loud", "by": "x", "minutes": 5}), 422, "level")
    problem(client.post("/api/persons/p-nobody/snooze",
                        json={"level": "warn", "by": "x", "minutes": 5}), 403, "no access")


def test_register_webhook_returns_the_secret_once(client: TestClient, store: Store) -> None:
    add_person(store, "p-ann")
    r = client.post("/api/webhooks", json={"url": "https://example.org/hook",
                                           "person_id": "p-ann", "min_level": "urgent"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["min_level"] == "urgent" and body["person_id"] == "p-ann"
    assert len(body["secret"]) >= 32
    w = S.webhooks
    with store.engine.connect() as c:
        row = c.execute(sa.select(w).where(w.c.pk == body["id"])).mappings().one()
    assert row["secret"] == body["secret"] and row["min_level"] == int(Level.URGENT)
    assert verify(body["secret"], b"{}", "sha256=" + "0" * 64) is False
    # two registrations get different secrets
    other = client.post("/api/webhooks", json={"url": "http://127.0.0.1:9/x"}).json()
    assert other["secret"] != body["secret"] and other["person_id"] is None
    assert other["min_level"] == "warn"
    problem(client.post("/api/webhooks", json={"url": "ftp://example.org/x"}), 422, "http")
    problem(client.post("/api/webhooks", json={"url": "https://e.org/h",
                                               "person_id": "p-nobody"}), 404, "p-nobody")


def test_openapi_documents_unverified_identity(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    ack = spec["paths"]["/api/alerts/{alert_id}/acknowledge"]["post"]
    assert "signed-in user" in ack["description"]
    assert {"200", "404", "409", "422"} <= set(ack["responses"])
    assert "/api/persons/{person_id}/snooze" in spec["paths"]
    assert spec["paths"]["/api/webhooks"]["post"]["responses"]["201"]
