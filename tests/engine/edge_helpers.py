"""Shared pieces of the edge tests: a real server under uvicorn, synthetic device traffic."""

from __future__ import annotations

import contextlib
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import uvicorn

from hyperhealth.delivery.api import _edge as edge_api
from hyperhealth.engine import Engine
from hyperhealth.engine.edge._forward import TOKEN_ENV
from hyperhealth.ingest.device_json import SCHEMA
from hyperhealth.model import Person
from hyperhealth.store import Store
from tests import signin

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)
PERSONS = {"p-edge-a": "Europe/Madrid", "p-edge-b": "America/New_York"}
DEVICES = {"p-edge-a": ("watch-a", "cgm-a"), "p-edge-b": ("watch-b", "cgm-b")}
MAP = {"edge_id": "edge-test", "persons": [
    {"id": pid, "tz": tz, "devices": list(DEVICES[pid])} for pid, tz in PERSONS.items()]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


class LiveServer:
    """The hyperhealth API over ``store`` under uvicorn on ``port``, with its engine attached,
    as a server process would run it; :meth:`stop` takes both down, :meth:`start` brings them
    up again (the engine catches up from the store, as after a restart)."""

    def __init__(self, store: Store, port: int | None = None, *, edge_routes: bool = True,
                 **app_kw: Any) -> None:
        self.store = store
        self.port = port or free_port()
        self.edge_routes = edge_routes
        self.app_kw = app_kw
        self.engine: Engine | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        self.engine = Engine(self.store)
        self.engine.attach()
        app = signin.app_for(self.store, web=False, **self.app_kw)
        # the edge presents an integration account's token, as a deployment configures it
        signin.ensure_accounts(self.store)
        os.environ[TOKEN_ENV] = signin.login(self.store, signin.ADMIN)
        has = "/api/edge/alerts" in app.openapi()["paths"]
        if self.edge_routes and not has:
            app.include_router(edge_api.router)
        elif not self.edge_routes and has:  # a server from before the edge route existed
            app.router.routes = [
                r for r in app.router.routes
                if getattr(r, "original_router", None) is not edge_api.router
                and getattr(r, "path", "") != "/api/edge/alerts"]
        app.openapi_schema = None
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                     log_level="warning", lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        server = self._server
        wait_for(lambda: server.started, 20, "the server to listen")
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(30)
            assert not self._thread.is_alive(), "the server did not stop"
        if self.engine is not None:
            self.engine.detach()
        self._server = self._thread = self.engine = None


def add_persons(store: Store) -> None:
    with store.transaction() as w:
        for pid, tz in PERSONS.items():
            w.upsert_person(Person(pid, tz=tz))


# -- synthetic device traffic ----------------------------------------------------------------------
def glucose_a(m: int) -> float:
    """Person A's CGM (mg/dL) at minute ``m``: a fall to ~48 mg/dL from minute 92 to 128
    (below 54 for more than 30 minutes), then back in range."""
    if m < 70:
        v = 125 + 5 * math.sin(m / 20)
    elif m < 95:
        v = 125 - (125 - 48) * (m - 70) / 25
    elif m < 125:
        v = 48 - 3 * math.sin(m / 7)
    elif m < 145:
        v = 48 + (120 - 48) * (m - 125) / 20
    else:
        v = 120 + 5 * math.sin(m / 20)
    return round(v, 1)


def glucose_b(m: int) -> float:
    return round(110 + 15 * math.sin(m / 40), 1)


@dataclass(frozen=True)
class Payload:
    minute: int
    body: Any  # one message or a list of them
    repeat: bool  # the device sends it twice (it did not get the first answer)


def traffic(minutes: int = 210, seed: int = 3) -> tuple[list[Payload], dict[str, Any]]:
    """Device payloads minute by minute for both persons, and what they carry.

    Watches send the last five one-minute heart rates every five minutes as an array of five
    one-reading messages; CGMs send one message per five-minute reading. Every seventh payload
    is sent twice. Returns the payloads in sending order and ``expected``: readings per
    (person, code) as ``{t_us: value}``, and the message ids.
    """
    rng = np.random.default_rng(seed)
    hr = {pid: np.round(62 + 8 * np.sin(np.arange(minutes) / 30)
                        + rng.normal(0, 2, minutes), 0) for pid in PERSONS}
    glucose = {"p-edge-a": glucose_a, "p-edge-b": glucose_b}
    out: list[Payload] = []
    expected: dict[tuple[str, str], dict[int, float]] = {}
    ids: set[tuple[str, str]] = set()
    n = 0

    def msg(pid: str, dev: str, kind: str, m: int, metric: str, value: float,
            unit: str) -> dict[str, Any]:
        t = T0 + timedelta(minutes=m)
        code = "8867-4" if metric == "heart_rate" else "99504-3"
        expected.setdefault((pid, code), {})[_us(t)] = value
        ids.add((dev, f"{dev}/{m}"))
        return {"schema": SCHEMA, "message_id": f"{dev}/{m}", "device": {"id": dev, "kind": kind},
                "readings": [{"metric": metric, "t": t.isoformat(), "value": value,
                              "unit": unit}]}

    for m in range(minutes):
        for pid in PERSONS:
            watch, cgm = DEVICES[pid]
            if m % 5 == 4:
                body: Any = [msg(pid, watch, "watch", k, "heart_rate", float(hr[pid][k]), "bpm")
                             for k in range(m - 4, m + 1)]
                n += 1
                out.append(Payload(m, body, n % 7 == 0))
            if m % 5 == 0:
                body = msg(pid, cgm, "cgm", m, "cgm_glucose", glucose[pid](m), "mg/dL")
                n += 1
                out.append(Payload(m, body, n % 7 == 0))
    return out, {"readings": expected, "messages": ids}


def _us(t: datetime) -> int:
    return (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def in_window(payloads: list[Payload], start: int, end: int) -> Iterator[Payload]:
    return (p for p in payloads if start <= p.minute < end)


#: an urgent low from minute 30 to 65, back in range from minute 70
LOW = [120, 110, 95, 80, 65, 55, 50, 48, 47, 46, 47, 49, 50, 53, 60, 75, 90, 100, 110, 115,
       118, 120, 121, 120]


def cgm(values: list[float], start: int = 0, dev: str = "cgm-a") -> list[dict[str, Any]]:
    return [{"schema": SCHEMA, "message_id": f"{dev}/{start + i}", "device": {"id": dev},
             "person": "p-edge-a",
             "readings": [{"metric": "cgm_glucose", "value": v, "unit": "mg/dL",
                           "t": (T0 + timedelta(minutes=5 * (start + i))).isoformat()}]}
            for i, v in enumerate(values)]


class LossyProxy:
    """A TCP proxy in front of the server that loses answers on chosen connections.

    ``plan`` maps a connection's number (1, 2, ...) to ``"drop"`` (the request reaches the server,
    its answer is thrown away and the connection cut) or ``"stall"`` (the answer is held past the
    client's timeout, then thrown away). Either way the server has done the work and the client
    does not know: it must send again, and that must change nothing.
    """

    def __init__(self, target_port: int, plan: dict[int, str], stall_s: float = 3.0) -> None:
        self.target_port = target_port
        self.plan = dict(plan)
        self.stall_s = stall_s
        self.connections = 0
        self.lost: list[tuple[int, str]] = []
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = int(self._sock.getsockname()[1])
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._closed = True
        self._sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            mode = self.plan.get(self.connections, "pass")
            threading.Thread(target=self._serve, args=(client, mode, self.connections),
                             daemon=True).start()

    def _serve(self, client: socket.socket, mode: str, n: int) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.target_port))

        def up() -> None:
            try:
                while data := client.recv(65536):
                    upstream.sendall(data)
            except OSError:
                pass

        threading.Thread(target=up, daemon=True).start()
        try:
            while data := upstream.recv(65536):
                if mode != "pass":  # the server answered: it has done the work
                    self.lost.append((n, mode))
                    if mode == "stall":
                        time.sleep(self.stall_s)
                    break
                client.sendall(data)
        except OSError:
            pass
        finally:
            for s in (client, upstream):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
