"""Done-when of the edge agent: the server is down for 2.5 hours of data, then comes back.

A real server (the FastAPI app under uvicorn over a real store, SQLite and PostgreSQL, its
engine attached as in production) and a real edge (its HTTP endpoint, durable queue, local
engine and forwarder). Two persons' watches (one-minute heart rate) and CGMs (five-minute
glucose) send device messages to the edge for 3.5 hours of data time. After 30 minutes the server
is stopped; for the next 2.5 hours of data person A's glucose falls below 54 mg/dL for more than
30 minutes; the edge itself is restarted in the middle of the outage; then the server is started
again. Proven afterwards: nothing lost, nothing duplicated, the urgent alert raised at the edge
during the outage, and exactly one such alert on the server although the server's own engine
derived the same finding from the forwarded readings.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from hyperhealth.actions.alerts._lifecycle import STATUSES, AlertBook
from hyperhealth.actions.alerts._registry import URGENT_RULES
from hyperhealth.engine.edge import EdgeService, ForwardConfig, parse_map
from hyperhealth.model.time import to_us
from hyperhealth.store import Store
from hyperhealth.store import _schema as S
from tests.engine.edge_helpers import (
    MAP,
    PERSONS,
    T0,
    LiveServer,
    Payload,
    add_persons,
    free_port,
    in_window,
    traffic,
    wait_for,
)

OUTAGE = (30, 180)  # minutes of data time: 2.5 hours
FAST = ForwardConfig(initial_s=0.05, max_s=0.5, idle_s=0.2, batch_messages=100)


def send(client: httpx.Client, edge_url: str, payloads: list[Payload]) -> dict[str, int]:
    """Post payloads to the edge as the devices would; every answer must be 200."""
    seen = {"queued": 0, "repeated": 0}
    for p in payloads:
        for _ in range(2 if p.repeat else 1):
            r = client.post(edge_url + "/api/ingest/device", json=p.body)
            assert r.status_code == 200, r.text
            body = r.json()
            seen["queued"] += body["queued"]
            seen["repeated"] += body["repeated"]
    return seen


def drained(edge_url: str) -> bool:
    q = httpx.get(edge_url + "/api/edge/status").json()["queue"]
    return not q["messages"].get("queued") and not q["alerts"].get("queued")


def test_outage_of_two_and_a_half_hours(store: Store, tmp_path: Path) -> None:
    add_persons(store)
    payloads, expected = traffic()
    server = LiveServer(store).start()
    edge_dir, edge_port = tmp_path / "edge", free_port()
    raised: list[tuple[dict[str, Any], bool]] = []  # (alert, was the server down)
    server_down = threading.Event()

    def on_alert(a: dict[str, Any]) -> None:
        raised.append((a, server_down.is_set()))

    def edge() -> EdgeService:
        return EdgeService(edge_dir, server.url, edge_map=parse_map(MAP), port=edge_port,
                           forward=FAST, on_alert=on_alert).start()

    svc = edge()
    counts = {"queued": 0, "repeated": 0}
    try:
        with httpx.Client(timeout=30) as client:
            # 30 minutes with the server up: forwarded as they come
            for k, v in send(client, svc.url, list(in_window(payloads, 0, OUTAGE[0]))).items():
                counts[k] += v
            wait_for(lambda: drained(svc.url), 60, "the edge to forward the first 30 minutes")

            # the server goes away for 2.5 hours of data; the edge restarts half-way through
            server.stop()
            server_down.set()
            half = (OUTAGE[0] + OUTAGE[1]) // 2
            for k, v in send(client, svc.url, list(in_window(payloads, OUTAGE[0], half))).items():
                counts[k] += v
            svc.stop()
            svc = edge()
            for k, v in send(client, svc.url, list(in_window(payloads, half, OUTAGE[1]))).items():
                counts[k] += v
            status = httpx.get(svc.url + "/api/edge/status").json()
            in_outage = [p for p in payloads if OUTAGE[0] <= p.minute < OUTAGE[1]]
            n_outage = sum(len(p.body) if isinstance(p.body, list) else 1 for p in in_outage)
            assert status["queue"]["messages"]["queued"] == n_outage
            assert status["forwarder"]["consecutive_failures"] > 0  # it kept trying
            queued_alerts = [a for a in status["alerts"] if a["state"] == "queued"]
            # nothing reached the server meanwhile: no glucose alert there yet
            assert not [a for a in AlertBook(store).find(status=list(STATUSES), limit=1000)
                        if a.rule == "glucose"]

            # the server comes back (its engine catches up, as after a restart)
            restored_us = to_us_now()
            server.start()
            wait_for(lambda: drained(svc.url), 120, "the edge to forward the outage backlog")
            server_down.clear()
            for k, v in send(client, svc.url, list(in_window(payloads, OUTAGE[1], 210))).items():
                counts[k] += v
            wait_for(lambda: drained(svc.url), 60, "the edge to forward the last 30 minutes")
            final = httpx.get(svc.url + "/api/edge/status").json()
    finally:
        svc.stop()
        server.stop()

    # -- the urgent alert was raised at the edge, during the outage --------------------------
    urgent_edge = [a for a, down in raised if a["key"] == "urgent-low"]
    assert len(urgent_edge) == 1
    assert urgent_edge[0]["person"] == "p-edge-a" and urgent_edge[0]["level"] == "urgent"
    assert [down for a, down in raised if a["key"] == "urgent-low"] == [True]
    assert any(a["key"] == "urgent-low" and a["person"] == "p-edge-a" for a in queued_alerts)
    t_alert = urgent_edge[0]["time"]
    assert T0.isoformat() < t_alert  # a data time inside the outage
    assert to_us(_dt(t_alert)) - to_us(T0) >= OUTAGE[0] * 60_000_000

    # -- zero loss, zero duplicates --------------------------------------------------------------
    sent_readings = expected["readings"]
    with store.engine.connect() as conn:
        o, p = S.observations, S.persons
        rows = conn.execute(sa.select(p.c.id, o.c.code, o.c.t, o.c.value)
                            .join(p, p.c.pk == o.c.person_pk)).all()
        messages = conn.execute(sa.select(S.ingest_messages.c.device,
                                          S.ingest_messages.c.message_id,
                                          S.ingest_messages.c.received_us)).all()
    stored: dict[tuple[str, str], dict[int, float]] = {}
    for pid, code, t, value in rows:
        assert t not in stored.setdefault((pid, code), {}), "a reading stored twice"
        stored[(pid, code)][t] = value
    assert stored == sent_readings  # every reading, once, with its value
    assert len(rows) == sum(len(v) for v in sent_readings.values()) == 2 * 210 + 2 * 42
    device_msgs = {(d, m) for d, m, _ in messages if not d.startswith("edge-alerts/")}
    assert device_msgs == expected["messages"]
    assert len([m for m in messages if not m[0].startswith("edge-alerts/")]) == 504
    assert counts["queued"] == 504  # the edge kept each message once ...
    assert counts["repeated"] == sum(
        len(p.body) if isinstance(p.body, list) else 1 for p in payloads if p.repeat)

    # -- urgent first: after the outage the glucose backlog went before the heart rate ---------
    backlog = [(d, r) for d, m, r in messages if r >= restored_us
               and OUTAGE[0] <= int(m.rsplit("/", 1)[1]) < OUTAGE[1]]
    cgm_last = max(r for d, r in backlog if d.startswith("cgm-"))
    watch_first = min(r for d, r in backlog if d.startswith("watch-"))
    assert cgm_last <= watch_first

    # -- exactly one urgent alert on the server, raised by the edge, merged by the engine -------
    book = AlertBook(store)
    alerts = book.find(status=list(STATUSES), limit=1000)
    urgent = [a for a in alerts if a.rule == "glucose" and a.key == "urgent-low"]
    assert len(urgent) == 1
    (u,) = urgent
    assert u.person_id == "p-edge-a" and u.opened.isoformat() == t_alert
    history = book.history(u.id)
    edge_events = [h for h in history if h["action"] == "edge-raised"]
    assert len(edge_events) == 1 and edge_events[0]["detail"]["outcome"] == "applied"
    # the server's engine derived the same episode from the forwarded readings: it updated and
    # then auto-resolved this alert (values back in range) instead of opening another
    assert u.status == "resolved"
    assert any(h["action"] == "auto-resolved" and h["actor"] == "engine" for h in history)
    assert _ms(edge_events[0]["at"]) <= min(r for d, r in backlog if d == "cgm-a") // 1000
    # no episode of an urgent rule twice: each (person, rule, key) alert opened at its own time
    opened = [(a.person_id, a.rule, a.key, a.opened) for a in alerts if a.rule in URGENT_RULES]
    assert len(opened) == len(set(opened))
    # every alert the edge raised is on the server exactly once
    for a, _ in raised:
        same = [x for x in alerts if (x.person_id, x.rule, x.key) == (a["person"], a["rule"],
                a["key"]) and x.opened <= _dt(a["time"]) <= (x.resolved or x.last_seen)]
        assert len(same) == 1, a
    assert final["forwarder"]["refused_messages"] == 0
    assert final["forwarder"]["alerts"] == len(raised)
    assert set(PERSONS) >= {a.person_id for a in alerts}


def _dt(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text)


def _ms(text: str) -> int:
    return to_us(_dt(text)) // 1000


def to_us_now() -> int:
    import time

    return time.time_ns() // 1000


@pytest.fixture(autouse=True)
def _quiet_edge_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("ERROR", logger="hyperhealth.edge")
