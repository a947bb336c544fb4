"""Edge alerts on the server: applied once, merged with what the server's engine derives.

The alert requests come from a real edge agent that ran the urgent rules on the same CGM
readings the server's engine sees; ``POST /api/edge/alerts`` and ``apply_edge_alerts`` are
checked on both backends.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from hyperhealth.actions.alerts._lifecycle import STATUSES, AlertBook
from hyperhealth.delivery.api import _edge as edge_api
from hyperhealth.engine import Engine
from hyperhealth.engine.edge import EdgeAgent, EdgeAlert, apply_edge_alerts, parse_map
from hyperhealth.ingest.device_json import ingest_messages
from hyperhealth.store import Store
from tests.engine.edge_helpers import LOW, MAP, add_persons, cgm
from tests.signin import SignedIn, app_for


def edge_alerts(tmp: Path, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The alert requests a real edge raises on these messages (one payload each)."""
    with EdgeAgent(tmp, edge_map=parse_map(MAP)) as agent:
        for m in messages:
            agent.accept(m)
        return [a["body"] for a in agent.queue.alerts()]


def as_request(body: dict[str, Any]) -> EdgeAlert:
    from datetime import datetime

    from hyperhealth.actions.levels import Level

    return EdgeAlert(id=body["id"], person=body["person"], rule=body["rule"],
                     rule_version=body["rule_version"], level=Level.parse(body["level"]),
                     time=datetime.fromisoformat(body["time"]), title=body["title"],
                     explanation=body["explanation"], key=body["key"],
                     evidence=body["evidence"], citation=body["citation"],
                     raised=datetime.fromisoformat(body["raised"]))


def urgent_lows(store: Store) -> list[Any]:
    return [a for a in AlertBook(store).find(status=list(STATUSES), limit=1000)
            if a.rule == "glucose" and a.key == "urgent-low"]


@pytest.fixture
def raised(tmp_path: Path) -> list[dict[str, Any]]:
    bodies = edge_alerts(tmp_path / "edge", cgm(LOW))
    assert [b["key"] for b in bodies] == ["low", "urgent-low"]
    return bodies


def test_applied_then_duplicate(store: Store, raised: list[dict[str, Any]]) -> None:
    add_persons(store)
    first = apply_edge_alerts(store, "edge-test", [as_request(b) for b in raised])
    assert [r.outcome for r in first] == ["applied", "applied"]
    again = apply_edge_alerts(store, "edge-test", [as_request(b) for b in raised])
    assert [r.outcome for r in again] == ["duplicate", "duplicate"]
    assert [r.alert_id for r in again] == [r.alert_id for r in first]
    (u,) = urgent_lows(store)
    assert u.status == "open" and u.evidence["raised_at_edge"]["edge"] == "edge-test"
    assert [h["action"] for h in AlertBook(store).history(u.id)] == ["opened", "edge-raised"]
    # the server's engine then derives the same episode from the readings: one alert still
    engine = Engine(store)
    engine.attach()
    ingest_messages(store, cgm(LOW))
    engine.detach()
    (u2,) = urgent_lows(store)
    assert u2.id == u.id and u2.status == "resolved"


def test_merged_with_an_episode_the_server_found_first(store: Store,
                                                       raised: list[dict[str, Any]]) -> None:
    add_persons(store)
    engine = Engine(store)
    engine.attach()
    ingest_messages(store, cgm(LOW[:12]))  # still low: the server's alert is open
    (server_alert,) = urgent_lows(store)
    assert server_alert.status == "open"
    res = apply_edge_alerts(store, "edge-test", [as_request(raised[1])])
    assert [(r.outcome, r.alert_id) for r in res] == [("merged", server_alert.id)]
    ingest_messages(store, cgm(LOW[12:], start=12))  # back in range: resolved
    engine.detach()
    (done,) = urgent_lows(store)
    assert done.status == "resolved"
    # the same request from another edge after the episode ended: merged into it, not reopened
    res = apply_edge_alerts(store, "edge-other", [as_request(raised[1])])
    assert [(r.outcome, r.alert_id) for r in res] == [("merged", done.id)]
    assert len(urgent_lows(store)) == 1
    actions = [h["action"] for h in AlertBook(store).history(done.id)]
    assert actions.count("edge-raised") == 2


def test_a_later_episode_opens_a_new_alert(store: Store, tmp_path: Path) -> None:
    add_persons(store)
    engine = Engine(store)
    engine.attach()
    ingest_messages(store, cgm(LOW))
    engine.detach()
    # the edge saw a second episode the server has no readings of (yet)
    later = edge_alerts(tmp_path / "edge2", cgm(LOW) + cgm(LOW, start=len(LOW)))
    second = [b for b in later if b["key"] == "urgent-low"][1]
    res = apply_edge_alerts(store, "edge-test", [as_request(second)])
    assert res[0].outcome == "applied"
    assert sorted(a.status for a in urgent_lows(store)) == ["open", "resolved"]


def test_refused(store: Store, raised: list[dict[str, Any]]) -> None:
    add_persons(store)
    nobody = {**raised[1], "id": "k-1", "person": "p-nobody"}
    unknown = {**raised[1], "id": "k-2", "rule": "no-such-rule"}
    res = apply_edge_alerts(store, "edge-test", [as_request(nobody), as_request(unknown)])
    assert [r.outcome for r in res] == ["refused", "refused"]
    assert "p-nobody" in res[0].reason and "no-such-rule" in res[1].reason
    assert urgent_lows(store) == []
    # refused keys are not claimed: once the person exists the same request is applied
    from hyperhealth.model import Person

    with store.transaction() as w:
        w.upsert_person(Person("p-nobody"))
    res = apply_edge_alerts(store, "edge-test", [as_request(nobody)])
    assert [r.outcome for r in res] == ["applied"]


def test_api(sqlite_store: Store, raised: list[dict[str, Any]]) -> None:
    add_persons(sqlite_store)
    app = app_for(sqlite_store, web=False)
    if "/api/edge/alerts" not in app.openapi()["paths"]:
        app.include_router(edge_api.router)
    with SignedIn(app) as c:
        body = orjson.dumps({"edge": "edge-test", "alerts": raised})
        r = c.post("/api/edge/alerts", content=gzip.compress(body),
                   headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
        assert r.status_code == 200, r.text
        assert [x["outcome"] for x in r.json()["results"]] == ["applied", "applied"]
        assert r.json()["summary"] == "2 applied"
        r = c.post("/api/edge/alerts", content=body)
        assert r.status_code == 200 and r.json()["summary"] == "2 duplicate"
        odd = {**raised[0], "id": "k-9", "person": "p-nobody"}
        r = c.post("/api/edge/alerts", json={"edge": "edge-test", "alerts": [raised[0], odd]})
        assert r.status_code == 207
        assert [x["outcome"] for x in r.json()["results"]] == ["duplicate", "refused"]
        r = c.post("/api/edge/alerts", json={"edge": "edge-test", "alerts": [odd]})
        assert r.status_code == 422 and r.json()["results"][0]["outcome"] == "refused"
        bad = {k: v for k, v in raised[0].items() if k != "time"}
        r = c.post("/api/edge/alerts", json={"edge": "edge-test", "alerts": [bad]})
        assert r.status_code == 422
        assert r.json()["where"] == "body.alerts.0.time" and r.json()["fix"]
        r = c.post("/api/edge/alerts", content=body, headers={"Content-Encoding": "br"})
        assert r.status_code == 415
