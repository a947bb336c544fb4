"""Latency from MQTT publish to stored alert at a steady message rate (target p99 < 100 ms).

A publisher sends ``--rate`` messages/s for ``--seconds`` (one home blood-pressure reading per
message, 200 persons; every 10th reading is in the hypertensive-crisis range, the next one
clears it), to the real Mosquitto. The listener stores each batch, the engine runs on the commit
and the lifecycle stores the alert. Latency = the alert row's creation time minus the publish
time carried in the message id. The baseline is the same pipeline at 20 messages/s (unloaded),
measured in the same run, so the ratio shows what load costs.

    python benchmarks/bench_alert_latency.py [--rate 5000] [--seconds 8]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, percentile, print_table

from hyperhealth.engine import LiveMonitor
from hyperhealth.ingest.device_json import SCHEMA
from hyperhealth.ingest.mqtt import MqttListener
from hyperhealth.model import Person
from hyperhealth.store import Store
from hyperhealth.store import _schema as S

PERSONS = 200
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def run(rate: float, seconds: float) -> tuple[list[float], int]:
    """Latencies (ms) of every crisis alert, and how many were expected."""
    prefix = f"hhbench/{uuid.uuid4().hex[:8]}"
    sent: dict[tuple[str, int], int] = {}  # (person, data time µs) -> publish time µs
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'lat.sqlite'}")
        with store.transaction() as w:
            for i in range(PERSONS):
                w.upsert_person(Person(id=f"b{i}"))
                w.register_device(f"cuff-{i}", f"b{i}", "cuff")
        listener = MqttListener(store, "mqtt://127.0.0.1:1883", topic=f"{prefix}/+/readings",
                                client_id=f"hh-lat-{uuid.uuid4().hex[:8]}", batch_max=256,
                                session_expiry_s=60)
        stop = threading.Event()
        with LiveMonitor(store, tick_s=3600):
            th = threading.Thread(target=listener.run, args=(stop,), daemon=True)
            th.start()
            listener.subscribed.wait(10)
            pub = mqtt.Client(CallbackAPIVersion.VERSION2)
            pub.max_inflight_messages_set(1000)
            pub.connect("127.0.0.1", 1883)
            pub.loop_start()
            n = int(rate * seconds)
            start = time.perf_counter()
            for k in range(n):
                i, round_ = k % PERSONS, k // PERSONS
                crisis = round_ % 10 == 0
                t = T0 + timedelta(minutes=round_)
                msg = {"schema": SCHEMA, "message_id": f"m{k}", "device": {"id": f"cuff-{i}"},
                       "person": f"b{i}", "readings": [
                           {"metric": "systolic_bp", "value": 190 if crisis else 125,
                            "unit": "mm[Hg]", "t": t.isoformat()},
                           {"metric": "diastolic_bp", "value": 100 if crisis else 80,
                            "unit": "mm[Hg]", "t": t.isoformat()}]}
                if crisis:
                    sent[(f"b{i}", int((t - datetime(1970, 1, 1, tzinfo=UTC))
                                       / timedelta(microseconds=1)))] = time.time_ns() // 1000
                pub.publish(f"{prefix}/cuff-{i}/readings", orjson.dumps(msg), qos=1)
                lag = start + (k + 1) / rate - time.perf_counter()
                if lag > 0:
                    time.sleep(lag)
            deadline = time.monotonic() + 60
            while listener.stats.messages < n and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(1.0)
            stop.set()
            th.join(20)
            pub.loop_stop()
        a, p = S.alerts, S.persons
        with store.engine.connect() as conn:
            rows = conn.execute(sa.select(p.c.id, a.c.opened_us, a.c.created_us).join(
                p, p.c.pk == a.c.person_pk).where(a.c.key == "crisis")).all()
        store.close()
    lat = [(created - sent[(pid, opened)]) / 1000 for pid, opened, created in rows
           if (pid, opened) in sent]
    return lat, len(sent)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=5000)
    ap.add_argument("--seconds", type=float, default=8)
    args = ap.parse_args()
    base, base_n = run(20, 10)
    lat, n = run(args.rate, args.seconds)
    rows = [Row("MQTT -> alert", f"p{q} at {args.rate:,.0f} msg/s ({len(lat)}/{n} alerts)",
                percentile(lat, q), "ms", percentile(base, q),
                f"same pipeline at 20 msg/s ({len(base)}/{base_n})", higher_is_better=False)
            for q in (50, 99)]
    print_table(rows)
    p99 = percentile(lat, 99)
    print(f"target p99 < 100 ms: {'met' if p99 < 100 else 'NOT met'} ({p99:.1f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
