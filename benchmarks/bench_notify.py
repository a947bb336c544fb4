"""Alert notifications from the outbox to MQTT and webhooks (hyperhealth.delivery.notify).

No target in DESIGN.md; these figures say how fast the outbox drains after a backlog (a broker
or receiver outage) and how long a new alert takes to reach a subscriber. Each figure sits next
to a baseline measured in the same run:

* MQTT drain: ``Dispatcher.deliver_pending`` over ``--alerts`` queued notifications, published
  with QoS 1 through the real Mosquitto broker (one connection, PUBACKs awaited together),
  notifications/s until every row is marked delivered; a subscriber checks that each arrived
  exactly once. Baseline: a naive outbox worker that, per notification, connects, publishes,
  waits for the PUBACK, disconnects and commits the row (timed on ``--naive`` rows).
* webhook drain: the same through ``POST`` to a local HTTP/1.1 server (``http.server`` in a
  thread) that checks every signature. Baseline: per notification a new connection
  (one ``httpx.Client`` without keep-alive) and its own commit.
* latency: commit of a new alert -> message at an MQTT subscriber, with the dispatcher running
  in its thread (``--interval`` s between passes): woken after the commit (``Dispatcher.wake``)
  versus waiting for the next pass (the baseline), p50 / p99 over ``--latency-alerts`` alerts.

Run ``python benchmarks/bench_notify.py --quick`` (about 20 s; needs Mosquitto on 127.0.0.1:1883).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import platform
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, percentile, print_table, write_json

from hyperhealth.actions.alerts import AlertBook, AlertRequest, alert_topic
from hyperhealth.actions.levels import Level
from hyperhealth.delivery.notify import GAVE_UP_US, Dispatcher, sign
from hyperhealth.ingest.mqtt import parse_mqtt_url
from hyperhealth.model import Person
from hyperhealth.store import Store
from hyperhealth.store import _schema as S

T0 = datetime(2024, 5, 1, tzinfo=UTC)
N = S.notifications


def now_us() -> int:
    return time.time_ns() // 1000


def queue_alerts(store: Store, pid: str, n: int, first: int = 0) -> None:
    """``n`` urgent alerts of one person (distinct keys), each queuing its notifications."""
    book = AlertBook(store)
    reqs = [AlertRequest(person_id=pid, rule="bench", rule_version="1", level=Level.URGENT,
                         time=T0 + timedelta(seconds=first + i), title="Benchmark alert",
                         explanation="A finding made up for the benchmark.", key=f"k{first + i}",
                         evidence={"value": float(i), "threshold": 1.0}, citation="none")
            for i in range(n)]
    with store.transaction() as w:
        book.apply(w.conn, reqs, {}, now_us())


def pending(store: Store, channel: str) -> list[tuple[int, str, Any]]:
    with store.engine.connect() as c:
        return [(int(r[0]), r[1], r[2]) for r in c.execute(
            sa.select(N.c.pk, N.c.target, N.c.payload)
            .where(N.c.channel == channel, N.c.delivered_us.is_(None)).order_by(N.c.pk))]


def mark(store: Store, pk: int) -> None:
    with store.engine.begin() as c:
        c.execute(sa.update(N).where(N.c.pk == pk).values(delivered_us=now_us(), attempts=1))


class Subscriber:
    def __init__(self, url: str, topic: str) -> None:
        host, port, user, password = parse_mqtt_url(url)
        self.seen: Counter[int] = Counter()
        self.arrived: dict[int, float] = {}
        self.lock = threading.Lock()
        ready = threading.Event()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2,
                             client_id=f"hh-bench-sub-{uuid.uuid4().hex[:8]}",
                             protocol=MQTTProtocolVersion.MQTTv5)
        if user is not None:
            self.c.username_pw_set(user, password)
        self.c.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.c.on_subscribe = lambda *_: ready.set()
        self.c.on_message = self._on_message
        self.c.connect(host, port, 30)
        self.c.loop_start()
        if not ready.wait(10):
            raise SystemExit("the broker did not confirm the subscription")

    def _on_message(self, _c: Any, _u: Any, m: mqtt.MQTTMessage) -> None:
        t = time.perf_counter()
        body = orjson.loads(m.payload)
        with self.lock:
            self.seen[body["id"]] += 1
            self.arrived.setdefault(body["id"], t)

    def wait(self, n: int, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while len(self.seen) < n and time.monotonic() < end:
            time.sleep(0.01)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


@contextmanager
def receiver(secret_of: dict[str, str]) -> Iterator[tuple[str, Counter[str]]]:
    """A local HTTP/1.1 webhook receiver that checks signatures; yields its URL and the count
    of requests per idempotency key."""
    keys: Counter[str] = Counter()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real receivers offer

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            want = "sha256=" + hmac.new(secret_of["secret"].encode(), body,
                                        hashlib.sha256).hexdigest()
            ok = hmac.compare_digest(want, self.headers.get("X-Hyperhealth-Signature", ""))
            with lock:
                keys[self.headers.get("Idempotency-Key", "")] += 1
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/hook", keys
    finally:
        srv.shutdown()
        srv.server_close()


# -- the measurements ---------------------------------------------------------------------------
def bench_mqtt(store: Store, url: str, n: int, naive_n: int) -> list[Row]:
    pid = f"p-bn{uuid.uuid4().hex[:8]}"
    with store.transaction() as w:
        w.upsert_person(Person(pid))
    sub = Subscriber(url, alert_topic(pid))
    try:
        queue_alerts(store, pid, n)
        with Dispatcher(store, mqtt_url=url, batch_size=500) as d:
            t0 = time.perf_counter()
            stats = d.deliver_pending()
            secs = time.perf_counter() - t0
        sub.wait(n)
        dup = sum(v - 1 for v in sub.seen.values())
        if stats.delivered != n or len(sub.seen) != n or dup:
            raise SystemExit(f"MQTT: delivered {stats.delivered}, received {len(sub.seen)} "
                             f"distinct, {dup} duplicates; expected {n} once each")
        # the naive worker on fresh rows
        queue_alerts(store, pid, naive_n, first=n)
        rows = pending(store, "mqtt")[:naive_n]
        host, port, _, _ = parse_mqtt_url(url)
        t0 = time.perf_counter()
        for pk, topic, payload in rows:
            c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
            c.connect(host, port, 30)
            c.loop_start()
            info = c.publish(topic, orjson.dumps({**payload, "notification_id": pk}), qos=1)
            info.wait_for_publish(10)
            c.disconnect()
            c.loop_stop()
            mark(store, pk)
        naive_secs = time.perf_counter() - t0
    finally:
        sub.close()
    return [Row("mqtt", f"drain {n:,} notifications", n / secs, "notifications/s",
                len(rows) / naive_secs, "connect+publish+PUBACK+commit per row",
                extra={"seconds": secs, "naive_rows": len(rows)})]


def bench_webhook(store: Store, n: int, naive_n: int) -> list[Row]:
    pid = f"p-bw{uuid.uuid4().hex[:8]}"
    with store.transaction() as w:
        w.upsert_person(Person(pid))
    secret: dict[str, str] = {}
    with receiver(secret) as (url, keys):
        _, secret["secret"] = AlertBook(store).add_webhook(url, person_id=pid)
        queue_alerts(store, pid, n, first=10_000_000)
        with Dispatcher(store, batch_size=500) as d:  # no broker: MQTT rows are closed
            t0 = time.perf_counter()
            stats = d.deliver_pending()
            secs = time.perf_counter() - t0
        got = sum(1 for k, v in keys.items() if v == 1)
        if stats.delivered != n or got != n or len(keys) != n:
            raise SystemExit(f"webhook: delivered {stats.delivered}, received {len(keys)} keys "
                             f"({got} once); expected {n} once each")
        queue_alerts(store, pid, naive_n, first=20_000_000)
        with store.engine.begin() as c:  # their MQTT rows are not part of this measurement
            c.execute(sa.update(N).where(N.c.channel == "mqtt", N.c.delivered_us.is_(None))
                      .values(next_attempt_us=GAVE_UP_US, last_error="benchmark: skipped"))
        rows = pending(store, "webhook")[:naive_n]
        # one client (no per-request TLS setup), but no keep-alive: a connection per request
        naive = httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0))
        t0 = time.perf_counter()
        for pk, _target, payload in rows:
            body = orjson.dumps({**payload, "notification_id": pk})
            r = naive.post(url, content=body, headers={
                "Content-Type": "application/json",
                "X-Hyperhealth-Signature": sign(secret["secret"], body),
                "Idempotency-Key": str(pk)})
            r.raise_for_status()
            mark(store, pk)
        naive_secs = time.perf_counter() - t0
    return [Row("webhook", f"drain {n:,} notifications", n / secs, "notifications/s",
                len(rows) / naive_secs, "new connection + commit per row",
                extra={"seconds": secs, "naive_rows": len(rows)})]


def bench_latency(store: Store, url: str, n: int, interval: float) -> list[Row]:
    out: dict[bool, list[float]] = {}
    for wake in (False, True):
        pid = f"p-bl{uuid.uuid4().hex[:8]}"
        with store.transaction() as w:
            w.upsert_person(Person(pid))
        sub = Subscriber(url, alert_topic(pid))
        d = Dispatcher(store, mqtt_url=url)
        d.start(interval_s=interval)
        lat = []
        try:
            for i in range(n):
                queue_alerts(store, pid, 1, first=30_000_000 + i)
                t = time.perf_counter()
                if wake:
                    d.wake()
                sub.wait(i + 1, timeout=10 + interval)
                alert_id = max(sub.arrived, default=None)
                if alert_id is None or len(sub.arrived) != i + 1:
                    raise SystemExit("latency: a notification did not arrive")
                lat.append((sub.arrived[alert_id] - t) * 1000)
                time.sleep(interval * ((i * 0.37) % 1))  # spread commits over the interval
        finally:
            d.stop()
            sub.close()
        out[wake] = lat
    w, p = out[True], out[False]
    return [
        Row("latency", "commit -> subscriber, p50 (woken)", percentile(w, 50), "ms",
            percentile(p, 50), f"next pass ({interval:g} s interval)", higher_is_better=False),
        Row("latency", "commit -> subscriber, p99 (woken)", percentile(w, 99), "ms",
            percentile(p, 99), f"next pass ({interval:g} s interval)", higher_is_better=False),
    ]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--url", default="mqtt://127.0.0.1:1883")
    ap.add_argument("--alerts", type=int, default=5000)
    ap.add_argument("--naive", type=int, default=300)
    ap.add_argument("--latency-alerts", type=int, default=60)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--quick", action="store_true", help="1,000 alerts, 100 naive, 20 latency")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    if a.quick:
        a.alerts, a.naive, a.latency_alerts = 1000, 100, 20
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp, _store(a.backend, Path(tmp)) as store:
        rows += bench_mqtt(store, a.url, a.alerts, a.naive)
        rows += bench_webhook(store, a.alerts, a.naive)
        rows += bench_latency(store, a.url, a.latency_alerts, a.interval)
    print_table(rows)
    if a.json:
        write_json(a.json, rows, {"python": platform.python_version(), "backend": a.backend,
                                  "alerts": a.alerts, "naive": a.naive})


@contextmanager
def _store(backend: str, tmp: Path) -> Iterator[Store]:
    if backend == "sqlite":
        s = Store(f"sqlite:///{tmp / 'bench.sqlite'}")
        try:
            yield s
        finally:
            s.close()
        return
    from _common import fresh_postgres

    with fresh_postgres() as url:
        s = Store(url)
        try:
            yield s
        finally:
            s.close()


if __name__ == "__main__":
    main()
