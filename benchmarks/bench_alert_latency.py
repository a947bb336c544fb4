"""Latency from MQTT publish to stored alert at a steady message rate (target p99 < 100 ms).

A publisher process (devices are not in the server's process) sends ``--rate`` messages/s for
``--seconds`` (one home blood-pressure reading per message, 200 persons; every 10th reading is
in the hypertensive-crisis range, the next one clears it, so a fifth of the messages open or
resolve an alert) to the real Mosquitto. The listener stores each batch, the engine runs on the
commit and the lifecycle stores the alert with its notification. Latency = the commit of the
engine transaction that stored the alert minus the publish time of the message that raised
it. The baseline is the same pipeline at 20 messages/s (unloaded), measured in the same run, so
the ratio shows what load costs. A run that loses messages (the broker drops QoS 1 messages
beyond its queue limit, 1,000 by default, when the listener falls behind) reports how many.

    python benchmarks/bench_alert_latency.py [--rate 5000] [--seconds 8] [--backend postgres]
"""

from __future__ import annotations

import argparse
import bisect
import multiprocessing as mp
import socket
import struct
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, fresh_postgres, percentile, print_table

from hyperhealth.engine import LiveMonitor
from hyperhealth.ingest._mqtt_net import encode_length
from hyperhealth.ingest.device_json import SCHEMA
from hyperhealth.ingest.mqtt import MqttListener
from hyperhealth.model import Person
from hyperhealth.model.time import to_us
from hyperhealth.store import Store
from hyperhealth.store import _schema as S

PERSONS = 200
T0 = datetime(2024, 1, 1, tzinfo=UTC)


class _Publisher:
    """A minimal MQTT 3.1.1 publisher (QoS 1) for load generation, on a plain socket.

    Devices publish from other machines; here the publisher shares the 2 cores with Mosquitto,
    the listener and PostgreSQL. paho's client spent about 80 % of a core at 5,000 messages/s
    (building each packet and handling each PUBACK in Python), which the server then did not
    have. This one encodes each PUBLISH in a few bytes operations and only counts the broker's
    PUBACKs (4 bytes each, read in bulk every 10 ms: the broker sends each on its own, and
    waking for each cost the publisher 0.3-0.7 s of CPU in a run), so the measurement is of the
    server, not of the load generator. For the same reason it writes what is due once a
    millisecond (about five messages at 5,000/s) rather than waking for each message: that
    halved its CPU time (3.4 to 1.7 s of a run, with Mosquitto's 1.3 to 0.9 s). Each message's
    publish time is when it is written. The broker sees standard QoS 1 publishes either way.
    """

    def __init__(self, host: str, port: int, client_id: str) -> None:
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cid = client_id.encode()
        # CONNECT: protocol "MQTT" level 4, clean session, keep-alive 60 s
        body = b"\x00\x04MQTT\x04\x02\x00\x3c" + struct.pack("!H", len(cid)) + cid
        self.sock.sendall(b"\x10" + encode_length(len(body)) + body)
        if self._read(4) != b"\x20\x02\x00\x00":
            raise SystemExit("the broker refused the benchmark publisher's connection")
        self.sent = 0
        self.acked = 0
        self._reader = threading.Thread(target=self._count_acks, daemon=True)
        self._reader.start()

    def packet(self, topic: str, payload: bytes) -> bytes:
        """The PUBLISH packet of the next message (QoS 1, its own packet id)."""
        self.sent += 1
        t = topic.encode()
        body = struct.pack("!H", len(t)) + t + struct.pack("!H", self.sent % 65535 + 1) + payload
        return b"\x32" + encode_length(len(body)) + body

    def send(self, packets: list[bytes]) -> None:
        self.sock.sendall(b"".join(packets))

    def close(self, timeout_s: float = 60.0) -> None:
        """Wait until the broker acknowledged every message, then disconnect."""
        deadline = time.monotonic() + timeout_s
        while self.acked < self.sent and time.monotonic() < deadline:
            time.sleep(0.01)
        self.sock.sendall(b"\xe0\x00")
        self.sock.close()
        if self.acked < self.sent:
            raise SystemExit(f"the broker acknowledged {self.acked} of {self.sent} messages")

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise SystemExit("the broker closed the benchmark publisher's connection")
            data += chunk
        return data

    def _count_acks(self) -> None:
        pending = 0
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return
                pending += len(chunk)  # only PUBACKs (4 bytes each) follow the CONNACK
                self.acked += pending // 4
                pending %= 4
                time.sleep(0.01)  # read them in bulk: the broker sends each on its own
        except OSError:  # closed by close()
            return


def publish(prefix: str, rate: float, seconds: float, out: Any) -> None:
    """Publish at ``rate`` (in its own process); send back {(person, data µs): publish µs}."""
    n = int(rate * seconds)
    messages = []
    for k in range(n):  # encoded before the clock starts
        i, round_ = k % PERSONS, k // PERSONS
        crisis = round_ % 10 == 0
        t = T0 + timedelta(minutes=round_)
        msg = {"schema": SCHEMA, "message_id": f"m{k}", "device": {"id": f"cuff-{i}"},
               "person": f"b{i}", "readings": [
                   {"metric": "systolic_bp", "value": 190 if crisis else 125,
                    "unit": "mm[Hg]", "t": t.isoformat()},
                   {"metric": "diastolic_bp", "value": 100 if crisis else 80,
                    "unit": "mm[Hg]", "t": t.isoformat()}]}
        key = (f"b{i}", to_us(t)) if crisis else None
        messages.append((f"{prefix}/cuff-{i}/readings", orjson.dumps(msg), key))
    sent: dict[tuple[str, int], int] = {}
    pub = _Publisher("127.0.0.1", 1883, f"hh-lat-pub-{uuid.uuid4().hex[:8]}")
    start = time.perf_counter()
    k = 0
    while k < n:
        # what is due goes in one write, every millisecond at most: devices on other machines
        # would not cost this machine a wake-up for each message (5,000 a second)
        woke = time.perf_counter()
        due = min(n, int((woke - start) * rate) + 1)
        now_us = time.time_ns() // 1000
        packets = []
        for topic, payload, key in messages[k:due]:
            if key is not None:
                sent[key] = now_us  # the publish time: when the message is written
            packets.append(pub.packet(topic, payload))
        pub.send(packets)
        k = due
        lag = max(start + k / rate, woke + 0.001) - time.perf_counter()
        if lag > 0:
            time.sleep(lag)
    pub.close()
    out.send(sent)


@contextmanager
def database(backend: str) -> Iterator[str]:
    if backend == "postgres":
        with fresh_postgres("hh_bench_lat") as url:
            yield url
    else:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'lat.sqlite'}"


def run(rate: float, seconds: float, backend: str) -> tuple[list[float], int, dict[str, Any]]:
    """Latencies (ms) of every crisis alert, how many were expected, and listener stats."""
    prefix = f"hhbench/{uuid.uuid4().hex[:8]}"
    n = int(rate * seconds)
    with database(backend) as url:
        store = Store(url)
        with store.transaction() as w:
            for i in range(PERSONS):
                w.upsert_person(Person(id=f"b{i}"))
                w.register_device(f"cuff-{i}", f"b{i}", "cuff")
        listener = MqttListener(store, "mqtt://127.0.0.1:1883", topic=f"{prefix}/+/readings",
                                client_id=f"hh-lat-{uuid.uuid4().hex[:8]}",
                                session_expiry_s=60, process=True)
        stop = threading.Event()
        # as `hyperhealth mqtt-listen` runs it: the engine in the committing thread
        commits: list[int] = []  # wall µs at the end of each engine commit that notified
        with LiveMonitor(store, tick_s=3600) as mon:
            mon.engine.on_notifications = lambda: commits.append(time.time_ns() // 1000)
            th = threading.Thread(target=listener.run, args=(stop,), daemon=True)
            th.start()
            listener.subscribed.wait(10)
            ours, theirs = mp.get_context("spawn").Pipe(duplex=False)
            proc = mp.get_context("spawn").Process(target=publish,
                                                   args=(prefix, rate, seconds, theirs))
            proc.start()
            sent = ours.recv()
            proc.join()
            deadline = time.monotonic() + 30
            while listener.stats.messages < n and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)
            stop.set()
            th.join(20)
        a, p = S.alerts, S.persons
        with store.engine.connect() as conn:
            rows = conn.execute(sa.select(p.c.id, a.c.opened_us, a.c.created_us).join(
                p, p.c.pk == a.c.person_pk).where(a.c.key == "crisis")).all()
        store.close()
    # an alert row carries the engine's clock when its batch began; it is stored when that
    # batch commits: the first notifying commit after it (a crisis alert always notifies)
    lat = [(commits[bisect.bisect_left(commits, created)] - sent[(pid, opened)]) / 1000
           for pid, opened, created in rows if (pid, opened) in sent]
    stats = listener.stats.to_dict()
    stats["sent"] = n
    return lat, len(sent), stats


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=5000)
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    args = ap.parse_args()
    base, base_n, _ = run(20, 10, args.backend)
    lat, n, stats = run(args.rate, args.seconds, args.backend)
    rows = [Row("MQTT -> alert", f"p{q} at {args.rate:,.0f} msg/s ({len(lat)}/{n} alerts, "
                f"{args.backend})", percentile(lat, q), "ms", percentile(base, q),
                f"same pipeline at 20 msg/s ({len(base)}/{base_n})", higher_is_better=False)
            for q in (50, 99)]
    print_table(rows)
    print(f"listener: {stats['messages']:,} of {stats['sent']:,} messages stored in "
          f"{stats['batches']:,} batches (mean {stats['messages'] / max(1, stats['batches']):.0f}"
          f" per batch), {stats['store_s']:.1f} s storing")
    p99 = percentile(lat, 99)
    ok = p99 < 100 and len(lat) == n
    print(f"target p99 < 100 ms with every alert: {'met' if ok else 'NOT met'} ({p99:.1f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
