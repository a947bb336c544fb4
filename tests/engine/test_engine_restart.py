"""Kill the MQTT listener (with its engine) while readings stream, start it again: no reading
lost or duplicated, and the detectors resume from saved state (real Mosquitto and PostgreSQL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from hyperhealth.actions.alerts import AlertBook
from hyperhealth.engine import Engine
from hyperhealth.ingest.device_json import DevicePayload, ingest_payloads
from hyperhealth.ingest.mqtt import publish_readings
from hyperhealth.model import Person
from hyperhealth.store import Store
from tests.conftest import need_service
from tests.engine._signals import cgm_hours, readings, watch_hours

pytestmark = pytest.mark.mqtt
URL = "mqtt://127.0.0.1:1883"
ROOT = Path(__file__).resolve().parents[2]


def _listener(db_url: str, prefix: str, client: str, log: Path, extra: list[str]
              ) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HYPERHEALTH_DATABASE_URL": db_url}
    return subprocess.Popen(
        [sys.executable, "-m", "hyperhealth.delivery.cli", "mqtt-listen", "--url", URL,
         "--topic", f"{prefix}/+/readings", "--client-id", client, "--json",
         "--state-save-s", "0.1", *extra],  # the stream lasts seconds: save state during it
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log.open("ab"))


def _wait(cond, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def _alerts(store: Store) -> list[tuple[str, str, str, int, str]]:
    return sorted((a.person_id, a.rule, a.key, int(a.level), a.opened.isoformat())
                  for a in AlertBook(store).find(status=["open", "acknowledged", "resolved"],
                                                 limit=10_000))


@pytest.mark.parametrize("extra", [[], ["--engine-worker"]], ids=["engine-inline", "engine-worker"])
def test_kill_and_restart_loses_nothing_and_resumes(pg_url: str, tmp_path: Path,
                                                    extra: list[str]) -> None:
    need_service("Mosquitto", "127.0.0.1", 1883)
    prefix = f"hhrestart/{uuid.uuid4().hex[:8]}"
    client = f"hh-restart-{uuid.uuid4().hex[:8]}"
    a_msgs = watch_hours("pa", "watch-a", 9, rise_from_day=8)  # baseline, then a rise
    b_msgs = cgm_hours("pb", "cgm-b", 9, low_at_hour=200)
    sent = readings(a_msgs) + readings(b_msgs)
    store = Store(pg_url)
    with store.transaction() as w:
        for pid, dev, kind in (("pa", "watch-a", "watch"), ("pb", "cgm-b", "cgm")):
            w.upsert_person(Person(id=pid))
            w.register_device(dev, pid, kind)

    def stored() -> int:
        return sum(s.count for p in ("pa", "pb") for s in store.streams(p))

    def saved_states() -> set[int]:
        with store.engine.connect() as conn:
            return {r[0] for r in conn.exec_driver_sql("SELECT person_pk FROM engine_state")}

    log = tmp_path / "listener.log"
    first = _listener(pg_url, prefix, client, log, extra)
    try:
        # the session must exist before publishing, so QoS 1 messages queue for it
        time.sleep(4)  # connected and subscribed (the session then keeps what we publish)
        order = [m for pair in zip(a_msgs, b_msgs, strict=False) for m in pair]

        def publish() -> None:  # the devices go on publishing through the kill
            for m in order:
                dev = m["device"]["id"]
                publish_readings(URL, dev, [m], topic=f"{prefix}/{dev}/readings")

        devices = threading.Thread(target=publish, daemon=True)
        devices.start()
        _wait(lambda: stored() > sent // 4 and bool(saved_states()), 120)
    finally:
        first.send_signal(signal.SIGKILL)  # no chance to finish anything
        first.wait(20)
    at_kill = stored()
    assert 0 < at_kill < sent, "the kill should land while readings are still arriving"
    devices.join()  # the rest waits for the session with the broker
    assert saved_states(), "detector state was saved while running"

    second = _listener(pg_url, prefix, client, log, extra)
    try:
        _wait(lambda: stored() == sent, 180)
        time.sleep(2)  # let the engine finish the last batch
    finally:
        second.send_signal(signal.SIGTERM)
        out, _ = second.communicate(timeout=60)
    stats = json.loads(out)
    assert stored() == sent  # nothing lost, nothing twice
    # the restarted engine caught up from saved state: it did not reprocess history
    assert stats["engine"]["readings"] < sent

    # the same readings written at once and replayed from scratch give the same alerts
    ref = Store(f"sqlite:///{tmp_path / 'ref.sqlite'}")
    with ref.transaction() as w:
        for pid, dev, kind in (("pa", "watch-a", "watch"), ("pb", "cgm-b", "cgm")):
            w.upsert_person(Person(id=pid))
            w.register_device(dev, pid, kind)
    ingest_payloads(ref, [DevicePayload(a_msgs, "watch-a"), DevicePayload(b_msgs, "cgm-b")])
    Engine(ref).replay()
    live = _alerts(store)
    assert live == _alerts(ref)
    rules = {(a[1], a[2]) for a in live}
    assert ("glucose", "urgent-low") in rules and ("rhr-cusum", "") in rules
    ref.close()
    store.close()
