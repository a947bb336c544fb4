"""The forwarder against real servers: batch limits, a server without the edge route, refused
messages, a server that cannot read gzip, and the back-off schedule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from hyperhealth.actions.alerts._lifecycle import STATUSES, AlertBook
from hyperhealth.delivery.api._deps import read_json_body
from hyperhealth.delivery.api._errors import install_error_handlers
from hyperhealth.delivery.api._ingest import _answer
from hyperhealth.engine.edge import EdgeAgent, ForwardConfig, Forwarder, Unreachable, parse_map
from hyperhealth.ingest.device_json import ingest_messages
from hyperhealth.store import Store
from tests.engine.edge_helpers import LOW, MAP, LiveServer, add_persons, cgm, traffic


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("CRITICAL", logger="hyperhealth.edge")


def run(fwd: Forwarder, limit: int = 500) -> list[str]:
    steps = []
    for _ in range(limit):
        steps.append(fwd.step())
        if steps[-1] == "idle":
            return steps
    raise AssertionError("the forwarder did not finish")


def test_batches_shrink_to_the_servers_body_limit(sqlite_store: Store, tmp_path: Path) -> None:
    add_persons(sqlite_store)
    payloads, expected = traffic(minutes=60)
    server = LiveServer(sqlite_store, device_body_limit=4_000).start()
    try:
        with EdgeAgent(tmp_path / "edge", edge_map=parse_map(MAP)) as agent:
            for p in payloads:
                agent.accept(p.body)
            fwd = Forwarder(agent.queue, agent.edge_id, server.url,
                            config=ForwardConfig(batch_messages=64))
            run(fwd)
            fwd.close()
            counts = agent.queue.counts()["messages"]
    finally:
        server.stop()
    assert counts == {"sent": len(expected["messages"])}
    assert fwd._limit < 64 and fwd.stats.refused_messages == 0
    assert sum(len(s.t_us) for pid in ("p-edge-a", "p-edge-b")
               for s in [sqlite_store.series(pid, "8867-4")]) == 120


def test_server_without_the_edge_route(store: Store, tmp_path: Path) -> None:
    """Alerts wait while the server has no edge route; readings go on; the alert, sent once
    the route exists, merges with the episode the server derived meanwhile."""
    add_persons(store)
    old = LiveServer(store, edge_routes=False).start()
    folder = tmp_path / "edge"
    try:
        with EdgeAgent(folder, edge_map=parse_map(MAP)) as agent:
            for m in cgm(LOW):
                agent.accept(m)
            fwd = Forwarder(agent.queue, agent.edge_id, old.url)
            steps = run(fwd)
            fwd.close()
            assert steps[0] == "messages"  # the alert POST got 404: messages went first
            assert fwd.stats.messages == len(LOW) and fwd.stats.alerts == 0
            assert agent.queue.counts()["alerts"] == {"queued": 2}
    finally:
        old.stop()
    (derived,) = [a for a in AlertBook(store).find(status=list(STATUSES))
                  if a.key == "urgent-low"]
    assert derived.status == "resolved"  # the server's engine found and closed the episode
    new = LiveServer(store, port=old.port).start()
    try:
        with EdgeAgent(folder, edge_map=parse_map(MAP)) as agent:
            fwd = Forwarder(agent.queue, agent.edge_id, new.url)
            assert run(fwd)[0] == "alerts"
            fwd.close()
    finally:
        new.stop()
    assert fwd.stats.outcomes == {"merged": 2}
    (same,) = [a for a in AlertBook(store).find(status=list(STATUSES)) if a.key == "urgent-low"]
    assert same.id == derived.id


def test_messages_the_server_refuses_are_kept_as_refused(sqlite_store: Store,
                                                         tmp_path: Path) -> None:
    add_persons(sqlite_store)
    server = LiveServer(sqlite_store).start()
    stranger = [{**m, "person": "p-unknown-here", "device": {"id": "cgm-x"},
                 "message_id": f"x/{i}"} for i, m in enumerate(cgm([100, 101]))]
    try:
        with EdgeAgent(tmp_path / "edge", edge_map=parse_map(MAP)) as agent:
            agent.accept(stranger)  # not served here either: kept, not evaluated
            fwd = Forwarder(agent.queue, agent.edge_id, server.url)
            run(fwd)
            fwd.close()
            states = agent.queue.message_states()
    finally:
        server.stop()
    assert {s for s, _ in states.values()} == {"refused"}
    assert fwd.stats.refused_messages == 2
    # the message ids were not claimed: fixed, they may be sent again
    add = ingest_messages(sqlite_store, [{**m, "person": "p-edge-a"} for m in stranger])
    assert add.added["messages"] == 2


def old_server(store: Store) -> FastAPI:
    """The device route as it was before gzip support (plain JSON bodies only)."""
    app = FastAPI()
    app.state.store = store
    install_error_handlers(app)

    @app.post("/api/ingest/device")
    async def device(request: Request) -> JSONResponse:
        payload = await read_json_body(request, 10_000_000, "device message")
        return _answer(ingest_messages(store, payload))

    return app


def test_falls_back_to_plain_bodies(sqlite_store: Store, tmp_path: Path) -> None:
    add_persons(sqlite_store)
    with EdgeAgent(tmp_path / "edge", edge_map=parse_map(MAP)) as agent, \
            TestClient(old_server(sqlite_store)) as client:
        for m in cgm([100, 101, 102]):
            agent.accept(m)
        fwd = Forwarder(agent.queue, agent.edge_id, "http://testserver", client=client)
        run(fwd)
        assert not fwd.compress and fwd.stats.messages == 3
    assert len(sqlite_store.series("p-edge-a", "99504-3")) == 3


def test_unreachable_keeps_everything(tmp_path: Path) -> None:
    from tests.engine.edge_helpers import free_port

    with EdgeAgent(tmp_path / "edge", edge_map=parse_map(MAP)) as agent:
        for m in cgm(LOW):
            agent.accept(m)
        fwd = Forwarder(agent.queue, agent.edge_id, f"http://127.0.0.1:{free_port()}")
        for _ in range(3):
            with pytest.raises(Unreachable):
                fwd.step()
        fwd.close()
        assert fwd.stats.consecutive_failures == 3
        counts = agent.queue.counts()
    assert counts == {"messages": {"queued": len(LOW), "queued_urgent": len(LOW)},
                      "alerts": {"queued": 2}}


def test_back_off_doubles_up_to_the_cap(tmp_path: Path) -> None:
    with EdgeAgent(tmp_path / "edge") as agent:
        fwd = Forwarder(agent.queue, agent.edge_id, "http://127.0.0.1:9",
                        config=ForwardConfig(initial_s=1, max_s=30, jitter=0.2))
        waits: list[Any] = [fwd._backoff(n) for n in range(1, 9)]
        fwd.close()
    lows = [1, 2, 4, 8, 16, 30, 30, 30]
    assert all(lo <= w <= lo * 1.2 for lo, w in zip(lows, waits, strict=True)), waits
