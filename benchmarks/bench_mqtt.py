"""Device JSON over MQTT, end to end through the real broker into the embedded SQLite store.

Target (DESIGN.md, 2-core machine): >= 200k readings/s end to end with batched payloads. Every
figure is printed next to a baseline measured in the same run:

* batched: messages of ``--per-message`` readings (default 500) published with QoS 1 to Mosquitto
  by a separate process, stored by :class:`~hyperhealth.ingest.mqtt.MqttListener` (acknowledged
  after commit); readings/s from the first publish to the last commit. Baseline: the same
  messages given to :func:`~hyperhealth.ingest.device_json.ingest_messages` directly, in batches
  of the same size (no broker), so the ratio is what the transport costs;
* naive: one reading per message through the same broker and listener (batched is compared
  against it);
* latency: publish -> stored (committed and acknowledged), p50/p99, at a fixed publish rate
  (``--rate`` messages/s of one reading each for ``--seconds``).

The publisher does not outrun the listener by more than ``--window`` messages (Mosquitto keeps at
most ``max_queued_messages`` = 1000 per client by default and drops QoS 1 messages beyond that), and
every run checks that everything published was stored. Run ``python benchmarks/bench_mqtt.py
--quick`` (about half a minute); the broker is ``--url`` or ``HYPERHEALTH_MQTT_URL``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, percentile, print_table, write_json

from hyperhealth.ingest import IngestReport
from hyperhealth.ingest.device_json import SCHEMA, ingest_messages
from hyperhealth.ingest.mqtt import MqttListener, Received, parse_mqtt_url
from hyperhealth.model import Person
from hyperhealth.store import Store

T0 = datetime(2024, 3, 1, tzinfo=UTC)
METRICS = (("heart_rate", "/min", 60.0, 40), ("spo2", "%", 94.0, 5), ("steps", "", 0.0, 30))


# -- data -----------------------------------------------------------------------------------------
def person_of(device: str) -> str:
    return f"p-{device}"


def device_message(device: str, k: int, n: int) -> dict[str, Any]:
    """Message ``k`` of a device: ``n`` one-second readings, cycling over three metrics."""
    first = k * n
    readings = []
    for i in range(first, first + n):
        metric, unit, base, spread = METRICS[i % 3]
        readings.append({"metric": metric, "t": (T0 + timedelta(seconds=i)).isoformat(),
                         "value": base + i % spread, "unit": unit})
    return {"schema": SCHEMA, "message_id": f"{device}-{k}",
            "device": {"id": device, "kind": "watch"}, "person": person_of(device),
            "readings": readings}


def workload(messages: int, per_message: int, devices: int) -> list[tuple[str, dict[str, Any]]]:
    """``(device id, message)`` pairs, devices taking turns."""
    return [(f"w{k % devices:03d}", device_message(f"w{k % devices:03d}", k // devices,
                                                    per_message)) for k in range(messages)]


def fresh_store(folder: Path, name: str, devices: int) -> Store:
    store = Store(f"sqlite:///{folder / name}.sqlite")
    with store.transaction() as w:
        for d in range(devices):
            w.upsert_person(Person(id=person_of(f"w{d:03d}")))
    return store


# -- the publisher (a separate process, as devices are) -------------------------------------------
def publisher(url: str, prefix: str, messages: int, per_message: int, devices: int, window: int,
              stored: Any, ready: Any, go: Any, rate: float) -> None:
    """Publish the workload with QoS 1; at ``rate`` > 0 pace it and stamp each message."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

    host, port, user, password = parse_mqtt_url(url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"hh-bench-pub-{uuid.uuid4().hex}",
                         protocol=MQTTProtocolVersion.MQTTv5)
    if user is not None:
        client.username_pw_set(user, password)
    client.max_inflight_messages_set(100)
    client.connect(host, port, 30)
    client.loop_start()
    work = workload(messages, per_message, devices)
    blobs = [] if rate > 0 else [orjson.dumps(m) for _, m in work]
    ready.set()
    go.wait()
    start = time.perf_counter()
    infos = []
    for i, (device, msg) in enumerate(work):
        while i - stored.value > window:  # back-pressure: never overflow the broker's queue
            time.sleep(0.0005)
        if rate > 0:
            due = start + i / rate
            while (now := time.perf_counter()) < due:
                time.sleep(min(0.001, due - now))
            msg["meta"] = {"sent": time.time()}
            body = orjson.dumps(msg)
        else:
            body = blobs[i]
        infos.append(client.publish(f"{prefix}/{device}/readings", body, qos=1))
    for info in infos:
        info.wait_for_publish(120)
    client.disconnect()
    client.loop_stop()


# -- one run through the broker -------------------------------------------------------------------
def through_broker(url: str, folder: Path, name: str, *, messages: int, per_message: int,
                   devices: int, batch_max: int, batch_wait_s: float, window: int,
                   rate: float = 0.0, timeout_s: float = 180.0) -> dict[str, Any]:
    """Publish from a child process, store with the listener; seconds, counts and latencies."""
    store = fresh_store(folder, name, devices)
    prefix = f"hhbench/{uuid.uuid4().hex[:10]}"
    ctx = mp.get_context("spawn")
    stored, ready, go = ctx.Value("q", 0), ctx.Event(), ctx.Event()
    latencies: list[float] = []
    done_at = [0.0]

    def hook(batch: Sequence[Received], _report: IngestReport) -> None:
        now = time.time()
        with stored.get_lock():
            stored.value += len(batch)
        if rate > 0:
            for r in batch:
                latencies.append(1000.0 * (now - orjson.loads(r.payload)["meta"]["sent"]))
        done_at[0] = time.perf_counter()

    listener = MqttListener(store, url, topic=f"{prefix}/+/readings",
                            client_id=f"hh-bench-{uuid.uuid4().hex[:10]}", batch_max=batch_max,
                            batch_wait_s=batch_wait_s, session_expiry_s=60, on_batch=hook)
    stop = threading.Event()
    result: dict[str, Any] = {}
    th = threading.Thread(target=lambda: result.update(listener.run(stop, messages)), daemon=True)
    th.start()
    if not listener.subscribed.wait(10):
        raise SystemExit(f"the broker at {url} did not confirm the subscription")
    pub = ctx.Process(target=publisher, args=(url, prefix, messages, per_message, devices, window,
                                              stored, ready, go, rate), daemon=True)
    pub.start()
    if not ready.wait(120):
        raise SystemExit("the publisher process did not start")
    t0 = time.perf_counter()
    cpu0, broker0 = time.process_time(), broker_cpu_s()
    go.set()
    th.join(timeout_s)
    cpu = time.process_time() - cpu0
    broker = broker_cpu_s() - broker0
    finished = not th.is_alive()
    stop.set()
    th.join(20)
    pub.join(30)
    rows = store.counts()["observations"]
    store.close()
    seconds = (done_at[0] or time.perf_counter()) - t0
    return {"seconds": seconds, "stored_readings": rows, "expected": messages * per_message,
            "finished": finished, "stats": result, "latencies_ms": latencies,
            "listener_cpu_s": cpu, "broker_cpu_s": broker}


def broker_cpu_s() -> float:
    """CPU seconds Mosquitto has used so far (0 when its pid file is not readable)."""
    try:
        pid = Path("/run/mosquitto/mosquitto.pid").read_text().strip()
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def direct(folder: Path, *, messages: int, per_message: int, devices: int,
           batch_max: int) -> tuple[float, float, int]:
    """The baseline: the same messages through ingest_messages, ``batch_max`` per transaction.

    Returns wall seconds, CPU seconds and rows stored.
    """
    store = fresh_store(folder, "direct", devices)
    work = [m for _, m in workload(messages, per_message, devices)]
    t0, cpu0 = time.perf_counter(), time.process_time()
    for i in range(0, len(work), batch_max):
        ingest_messages(store, work[i:i + batch_max])
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    rows = store.counts()["observations"]
    store.close()
    return seconds, cpu, rows


# -- main -----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default=os.environ.get("HYPERHEALTH_MQTT_URL",
                                                    "mqtt://127.0.0.1:1883"))
    ap.add_argument("--messages", type=int, default=2000, help="batched messages to publish")
    ap.add_argument("--per-message", type=int, default=500, help="readings per batched message")
    ap.add_argument("--devices", type=int, default=10)
    ap.add_argument("--naive-messages", type=int, default=20_000,
                    help="one-reading messages for the naive baseline")
    ap.add_argument("--batch-max", type=int, default=64, help="messages per transaction")
    ap.add_argument("--batch-wait", type=float, default=0.0,
                    help="seconds to wait for more messages (0: what has arrived)")
    ap.add_argument("--window", type=int, default=400,
                    help="messages the publisher may be ahead of the store")
    ap.add_argument("--rate", type=float, default=1000.0, help="latency run: messages/s")
    ap.add_argument("--seconds", type=float, default=5.0, help="latency run: duration")
    ap.add_argument("--quick", action="store_true", help="small sizes, about half a minute")
    ap.add_argument("--json", type=Path, help="also write the results here")
    a = ap.parse_args(argv)
    if a.quick:
        a.messages, a.naive_messages, a.seconds = 400, 5000, 3.0
    rows: list[Row] = []
    common = {"devices": a.devices, "batch_max": a.batch_max, "batch_wait_s": a.batch_wait,
              "window": a.window}
    with tempfile.TemporaryDirectory(prefix="hh-bench-mqtt-") as tmp:
        folder = Path(tmp)
        total = a.messages * a.per_message
        print(f"direct: {total:,} readings in {a.messages} messages ...", flush=True)
        d_s, d_cpu, d_rows = direct(folder, messages=a.messages, per_message=a.per_message,
                             devices=a.devices, batch_max=a.batch_max)
        print(f"broker, batched: {total:,} readings ...", flush=True)
        b = through_broker(a.url, folder, "batched", messages=a.messages,
                           per_message=a.per_message, **common)
        print(f"broker, naive: {a.naive_messages:,} one-reading messages ...", flush=True)
        n = through_broker(a.url, folder, "naive", messages=a.naive_messages, per_message=1,
                           **common)
        lat_n = int(a.rate * a.seconds)
        print(f"broker, latency: {lat_n:,} messages at {a.rate:g}/s ...", flush=True)
        lat = through_broker(a.url, folder, "latency", messages=lat_n, per_message=1,
                             rate=a.rate, **common)
    for name, run in (("batched", b), ("naive", n), ("latency", lat)):
        if not run["finished"] or run["stored_readings"] != run["expected"]:
            print(f"WARNING: {name} run stored {run['stored_readings']:,} of "
                  f"{run['expected']:,} readings (finished={run['finished']})")
    e2e = b["stored_readings"] / b["seconds"]
    naive = n["stored_readings"] / n["seconds"]
    rows.append(Row("mqtt", f"batched end to end ({a.per_message}/msg)", e2e, "readings/s",
                    d_rows / d_s, "ingest_messages direct, same batches"))
    rows.append(Row("mqtt", "batched end to end vs naive", e2e, "readings/s", naive,
                    "one reading per message, same broker"))
    rows.append(Row("mqtt", "target (DESIGN.md)", e2e, "readings/s", 200_000.0,
                    "200k readings/s"))
    # CPU-normalised: what one core would do with nothing else running (shared machines)
    rows.append(Row("mqtt", "batched per listener CPU-second", b["stored_readings"]
                    / max(b["listener_cpu_s"], 1e-9), "readings/CPU-s", d_rows / d_cpu,
                    "direct, per CPU-second"))
    ms = lat["latencies_ms"]
    if ms:
        for q in (50, 99):
            rows.append(Row("latency", f"publish->stored p{q} at {a.rate:g} msg/s",
                            percentile(ms, q), "ms", None, "", higher_is_better=False))
        rows.append(Row("latency", "publish->stored max", max(ms), "ms", None, "",
                        higher_is_better=False))
    print()
    print_table(rows)
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"direct {d_rows:,} rows in {d_s:.2f} s; batched {b['stored_readings']:,} in "
          f"{b['seconds']:.2f} s; naive {n['stored_readings']:,} in {n['seconds']:.2f} s; "
          f"latency run {len(ms):,} messages, {lat['stats'].get('batches', 0)} batches")
    for name, run in (("batched", b), ("naive", n)):
        print(f"{name}: wall {run['seconds']:.2f} s; listener process CPU "
              f"{run['listener_cpu_s']:.2f} s, of which validating+storing "
              f"{run['stats'].get('store_s', 0):.2f} s; Mosquitto CPU {run['broker_cpu_s']:.2f} s; "
              f"{run['stats'].get('batches', 0)} transactions")
    if a.json:
        write_json(a.json, rows, {"args": {k: str(v) for k, v in vars(a).items()},
                                  "python": platform.python_version()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
