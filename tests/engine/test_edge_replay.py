"""Answers lost after the server did the work: replays of alerts and batches change nothing.

A proxy between edge and server loses the server's answers on chosen connections — cut after
the answer started, or held until the edge's request timed out — so the edge sends the same
alert request or message batch again, with the same idempotency keys. The server's store must
hold every reading once, every message id once, and the urgent alert once, with one
``edge-raised`` event; the edge must see the replays answered as duplicates.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from hyperhealth.actions.alerts._lifecycle import STATUSES, AlertBook
from hyperhealth.engine.edge import EdgeAgent, ForwardConfig, Forwarder, Unreachable, parse_map
from hyperhealth.store import Store
from hyperhealth.store import _schema as S
from tests.engine.edge_helpers import MAP, LiveServer, LossyProxy, add_persons, traffic


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("ERROR", logger="hyperhealth.edge")


def test_lost_answers_are_replayed_without_duplicates(store: Store, tmp_path: Path) -> None:
    add_persons(store)
    payloads, expected = traffic(minutes=150)
    server = LiveServer(store).start()
    # connection 1 carries the alerts (sent first), 3 and 5 message batches
    proxy = LossyProxy(server.port, {1: "stall", 3: "drop", 5: "stall"}, stall_s=2.0)
    agent = EdgeAgent(tmp_path / "edge", edge_map=parse_map(MAP))
    client = httpx.Client(timeout=1.0, limits=httpx.Limits(max_keepalive_connections=0))
    fwd = Forwarder(agent.queue, agent.edge_id, proxy.url, client=client,
                    config=ForwardConfig(batch_messages=40))
    try:
        for p in payloads:  # the whole 2.5 hours arrive while nothing is forwarded
            agent.accept(p.body)
        raised = agent.queue.alerts()
        assert {a["key"] for a in raised} >= {"urgent-low"}
        failures, steps = 0, []
        for _ in range(200):
            try:
                steps.append(fwd.step())
            except Unreachable:
                failures += 1
                continue
            if steps[-1] == "idle":
                break
    finally:
        fwd.close()
        agent.close()
        proxy.close()
        server.stop()

    assert failures == 3 and [m for _, m in proxy.lost] == ["stall", "drop", "stall"]
    assert steps[0] == "alerts" and steps[-1] == "idle"
    # the first alert request was applied but its answer lost: the replay is a duplicate
    assert fwd.stats.outcomes == {"duplicate": len(raised)}
    # the two batches of urgent (CGM) messages, 40 + 20, were stored but their answers lost:
    # replayed, the server reported every message in them as redelivered
    n_cgm = sum(d.startswith("cgm-") for d, _ in expected["messages"])
    assert n_cgm == 60 and fwd.stats.redelivered == n_cgm

    n_messages = len(expected["messages"])
    with store.engine.connect() as conn:
        o = S.observations
        n_obs = conn.execute(sa.select(sa.func.count()).select_from(o)).scalar_one()
        ids = conn.execute(sa.select(S.ingest_messages.c.device, S.ingest_messages.c.message_id)
                           ).all()
    assert n_obs == sum(len(v) for v in expected["readings"].values())
    assert {(d, m) for d, m in ids if not d.startswith("edge-alerts/")} == expected["messages"]
    assert len(ids) == n_messages + len(raised)  # each alert key claimed once

    book = AlertBook(store)
    urgent = [a for a in book.find(status=list(STATUSES), limit=1000)
              if a.rule == "glucose" and a.key == "urgent-low"]
    assert len(urgent) == 1
    events = [h for h in book.history(urgent[0].id) if h["action"] == "edge-raised"]
    assert len(events) == 1 and events[0]["detail"]["outcome"] == "applied"
