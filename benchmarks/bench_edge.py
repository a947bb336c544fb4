"""The edge agent: taking device messages, and draining an outage backlog to the server.

Every figure is printed next to a baseline measured in the same run:

* drain: an outage backlog (``--persons`` persons x ``--hours`` of one-minute heart rate and
  five-minute CGM, one reading per device message, as devices send them) kept by an
  :class:`~hyperhealth.engine.edge.EdgeAgent`, then forwarded by the
  :class:`~hyperhealth.engine.edge.Forwarder` (gzip batches of ``--batch`` messages, urgent
  first) to a real server: the FastAPI app under uvicorn over a fresh SQLite store, its engine
  attached as in production. Messages/s from the first request to the last answer. Baseline: a
  naive forwarder posting each message on its own, uncompressed, to an identical fresh server
  (timed on the first ``--naive`` messages). Also bytes on the wire, compressed vs raw.
* accept: messages/s through ``EdgeAgent.accept`` one message at a time (fsynced queue write,
  local ingest, the urgent rules), against the queue write alone (``EdgeQueue.put``, fsynced):
  the ratio is what evaluating the urgent rules at the edge costs.

Each run checks that the server holds every reading once. ``python benchmarks/bench_edge.py
--quick`` takes about half a minute.
"""

from __future__ import annotations

import argparse
import platform
import sqlite3
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, print_table, write_json

from hyperhealth.engine import Engine
from hyperhealth.engine.edge import EdgeAgent, EdgeQueue, ForwardConfig, Forwarder, parse_map
from hyperhealth.engine.edge._queue import Incoming
from hyperhealth.ingest.device_json import SCHEMA
from hyperhealth.model import Person
from hyperhealth.store import Store

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def messages(persons: int, hours: float) -> list[dict[str, Any]]:
    """One-reading device messages in sending order: heart rate each minute, CGM each five."""
    out = []
    for m in range(int(hours * 60)):
        t = (T0 + timedelta(minutes=m)).isoformat()
        for p in range(persons):
            out.append({"schema": SCHEMA, "message_id": f"w{p}/{m}", "device": {"id": f"w{p}"},
                        "person": f"p-{p}", "readings": [
                            {"metric": "heart_rate", "t": t, "value": 60 + (m + p) % 25,
                             "unit": "bpm"}]})
            if m % 5 == 0:
                out.append({"schema": SCHEMA, "message_id": f"c{p}/{m}",
                            "device": {"id": f"c{p}"}, "person": f"p-{p}", "readings": [
                                {"metric": "cgm_glucose", "t": t, "unit": "mg/dL",
                                 "value": 110 + 30 * ((m // 5 + p) % 7) / 7}]})
    return out


def edge_map(persons: int) -> Any:
    return parse_map({"edge_id": "bench", "persons": [
        {"id": f"p-{p}", "devices": [f"w{p}", f"c{p}"]} for p in range(persons)]})


class Server:
    """The API over a fresh SQLite store under uvicorn, engine attached."""

    def __init__(self, folder: Path, persons: int) -> None:
        import socket

        import uvicorn

        from hyperhealth.delivery.api import _edge, create_app

        self.store = Store(f"sqlite:///{folder / 'server.sqlite'}")
        with self.store.transaction() as w:
            for p in range(persons):
                w.upsert_person(Person(f"p-{p}"))
        self.engine = Engine(self.store)
        self.engine.attach()
        app = create_app(self.store, web=False)
        if "/api/edge/alerts" not in app.openapi()["paths"]:
            app.include_router(_edge.router)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def readings(self) -> int:
        return int(self.store.counts()["observations"])

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.engine.detach()
        self.store.close()


def drain(folder: Path, msgs: list[dict[str, Any]], persons: int, batch: int) -> dict[str, Any]:
    agent = EdgeAgent(folder / "edge", edge_map=edge_map(persons))
    for m in msgs:  # the outage: kept and evaluated at the edge, nothing forwarded
        agent.accept(m)
    server = Server(folder, persons)
    fwd = Forwarder(agent.queue, agent.edge_id, server.url,
                    config=ForwardConfig(batch_messages=batch))
    try:
        t0 = time.perf_counter()
        assert fwd.drain(timeout_s=3600)
        seconds = time.perf_counter() - t0
        stored = server.readings()
    finally:
        fwd.close()
        agent.close()
        server.close()
    assert stored == len(msgs), f"server holds {stored} readings, {len(msgs)} were sent"
    return {"seconds": seconds, "rate": len(msgs) / seconds, "raw": fwd.stats.raw_bytes,
            "sent": fwd.stats.sent_bytes, "batches": fwd.stats.batches}


def naive(folder: Path, msgs: list[dict[str, Any]], persons: int) -> dict[str, Any]:
    server = Server(folder, persons)
    sent = 0
    try:
        with httpx.Client(timeout=30) as c:
            t0 = time.perf_counter()
            for m in msgs:
                body = orjson.dumps(m)
                r = c.post(server.url + "/api/ingest/device", content=body,
                           headers={"Content-Type": "application/json"})
                assert r.status_code == 200, r.text
                sent += len(body)
            seconds = time.perf_counter() - t0
        assert server.readings() == len(msgs)
    finally:
        server.close()
    return {"seconds": seconds, "rate": len(msgs) / seconds, "sent": sent}


def accept(folder: Path, msgs: list[dict[str, Any]], persons: int) -> tuple[float, float]:
    agent = EdgeAgent(folder / "edge-accept", edge_map=edge_map(persons))
    try:
        t0 = time.perf_counter()
        for m in msgs:
            agent.accept(m)
        full = len(msgs) / (time.perf_counter() - t0)
    finally:
        agent.close()
    q = EdgeQueue(folder / "queue-only.sqlite")
    try:
        items = [Incoming(m["device"]["id"], m["message_id"], orjson.dumps(m), 1, False)
                 for m in msgs]
        t0 = time.perf_counter()
        for it in items:
            q.put([it])
        queue_only = len(items) / (time.perf_counter() - t0)
    finally:
        q.close()
    return full, queue_only


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--persons", type=int, default=20)
    ap.add_argument("--hours", type=float, default=3.0, help="length of the outage backlog")
    ap.add_argument("--batch", type=int, default=500, help="messages per forwarded batch")
    ap.add_argument("--naive", type=int, default=1500, help="messages for the naive baseline")
    ap.add_argument("--accept", type=int, default=1000, help="messages for the accept figures")
    ap.add_argument("--quick", action="store_true", help="small sizes, about half a minute")
    ap.add_argument("--json", type=Path, help="also write the results here")
    a = ap.parse_args(argv)
    if a.quick:
        a.persons, a.hours, a.naive, a.accept = 10, 1.5, 500, 300
    msgs = messages(a.persons, a.hours)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="hh-bench-edge-") as tmp:
        folder = Path(tmp)
        print(f"drain: {len(msgs):,} messages kept during an outage ...", flush=True)
        d = drain(folder / "d", msgs, a.persons, a.batch)
        print(f"naive: {a.naive:,} messages one per request ...", flush=True)
        n = naive(folder / "n", msgs[:a.naive], a.persons)
        print(f"accept: {a.accept:,} messages one at a time ...", flush=True)
        full, queue_only = accept(folder / "a", msgs[:a.accept], a.persons)
    rows.append(Row("drain", f"backlog to server, gzip batches of {a.batch}", d["rate"],
                    "messages/s", n["rate"], "one uncompressed POST per message",
                    extra={"messages": len(msgs), "seconds": round(d["seconds"], 2),
                           "batches": d["batches"]}))
    per_msg_sent = d["sent"] / len(msgs)
    rows.append(Row("drain", "request body bytes per message", per_msg_sent, "bytes",
                    n["sent"] / a.naive, "uncompressed JSON, one message", higher_is_better=False,
                    extra={"raw_bytes": d["raw"], "sent_bytes": d["sent"]}))
    rows.append(Row("accept", "EdgeAgent.accept, one message per call", full, "messages/s",
                    queue_only, "fsynced queue write alone (no evaluation)"))
    print()
    print_table(rows)
    print(f"\ngzip: {d['raw']:,} bytes of JSON sent as {d['sent']:,} "
          f"({d['raw'] / d['sent']:.1f}x smaller)")
    if a.json:
        write_json(a.json, rows, {"python": platform.python_version(),
                                  "sqlite": sqlite3.sqlite_version, "args": vars(a) | {
                                      "json": str(a.json)}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
