"""The MQTT listener against the real Mosquitto broker at 127.0.0.1:1883.

Each test uses its own topic prefix and client ids, so parallel runs never see each other's
messages, and short session expiry, so the broker forgets the sessions soon after.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from hyperhealth.errors import ConfigError
from hyperhealth.ingest.device_json import SCHEMA
from hyperhealth.ingest.mqtt import MqttListener, parse_mqtt_url, publish_readings
from hyperhealth.model import Person
from hyperhealth.store import Store, Writer

URL = "mqtt://127.0.0.1:1883"
PID = "p-mqtt1"
T0 = datetime(2024, 3, 1, tzinfo=UTC)
pytestmark = pytest.mark.mqtt


@pytest.fixture(autouse=True)
def _broker() -> None:
    from tests.conftest import need_service

    need_service("Mosquitto", "127.0.0.1", 1883)


@pytest.fixture
def prefix() -> str:
    return f"hhtest/{uuid.uuid4().hex[:10]}"


def listener(store: Store, prefix: str, client_id: str | None = None,
             **kw: Any) -> MqttListener:
    return MqttListener(store, URL, topic=f"{prefix}/+/readings",
                        client_id=client_id or f"hh-test-{uuid.uuid4().hex[:10]}",
                        session_expiry_s=60, **kw)


@contextmanager
def running(lst: MqttListener, max_messages: int | None = None) -> Iterator[dict[str, Any]]:
    """Run the listener in a thread until the block ends (or it stops by itself)."""
    stop = threading.Event()
    result: dict[str, Any] = {}
    th = threading.Thread(target=lambda: result.update(lst.run(stop, max_messages)), daemon=True)
    th.start()
    assert lst.subscribed.wait(10), "the broker did not confirm the subscription"
    try:
        yield result
    finally:
        stop.set()
        th.join(20)
        assert not th.is_alive(), "the listener did not stop"


def wait_for(cond: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the listener")
        time.sleep(0.05)


def add_person(store: Store) -> None:
    with store.transaction() as w:
        w.upsert_person(Person(id=PID))


def msg(mid: str, first: int, n: int, device: str = "watch-1") -> dict[str, Any]:
    return {"schema": SCHEMA, "message_id": mid, "device": {"id": device, "kind": "watch"},
            "person": PID,
            "readings": [{"metric": "heart_rate", "value": 60 + (first + i) % 40, "unit": "/min",
                          "t": (T0 + timedelta(seconds=first + i)).isoformat()}
                         for i in range(n)]}


def heart_rates(store: Store) -> int:
    return len(store.observations(PID, "8867-4"))


def test_parse_url() -> None:
    assert parse_mqtt_url("mqtt://u:p%40ss@broker.example:8883") == (
        "broker.example", 8883, "u", "p@ss")
    assert parse_mqtt_url("mqtt://localhost")[1] == 1883
    with pytest.raises(ConfigError, match="mqtt://host:port"):
        parse_mqtt_url("http://localhost:1883")


@pytest.mark.parametrize("process", [False, True], ids=["thread", "process"])
def test_listener_stores_batched_messages_once(store: Store, prefix: str, process: bool) -> None:
    """Both backends: batched payloads are stored; publishing the same message ids adds nothing."""
    add_person(store)
    payloads = [[msg("a1", 0, 100), msg("a2", 100, 100)], [msg("a3", 200, 100)],
                msg("a4", 300, 50)]
    lst = listener(store, prefix, process=process)
    with running(lst):
        assert publish_readings(URL, "watch-1", payloads,
                                topic=f"{prefix}/watch-1/readings") == 3
        wait_for(lambda: lst.stats.messages == 3)
        assert heart_rates(store) == 350
        assert lst.stats.observations == 350
        publish_readings(URL, "watch-1", payloads, topic=f"{prefix}/watch-1/readings")
        wait_for(lambda: lst.stats.messages == 6)
    assert heart_rates(store) == 350
    assert lst.stats.redelivered == 4 and lst.stats.observations == 350
    obs = store.observations(PID, "8867-4", limit=1)
    assert obs[0].device == "watch-1" and obs[0].source == "device"


def test_bad_payloads_are_logged_acknowledged_and_do_not_stop_the_listener(
        sqlite_store: Store, prefix: str, caplog: pytest.LogCaptureFixture) -> None:
    add_person(sqlite_store)
    lst = listener(sqlite_store, prefix, batch_max=1)
    topic = f"{prefix}/watch-1/readings"
    with caplog.at_level(logging.WARNING, logger="hyperhealth.ingest.mqtt"), running(lst):
        publish_readings(URL, "watch-1", [b"{not json", b'{"schema": "other"}',
                                          msg("b1", 0, 5, device="watch-2")], topic=topic)
        publish_readings(URL, "watch-1", [msg("b2", 10, 5)], topic=topic)
        wait_for(lambda: lst.stats.messages == 4)
    assert heart_rates(sqlite_store) == 5  # only the good message after the bad ones
    assert lst.stats.rejects == 3
    text = caplog.text
    assert f"{topic}: payload: not valid JSON" in text
    assert f"{topic}: message #0 [schema]: unsupported schema 'other'" in text
    assert f"{topic}: message b1 [device.id]" in text


class StoreThatCannotCommit(Store):
    """A real store whose commits fail, as on a full disk: the writes run, then roll back."""

    failures = 0

    @contextmanager
    def transaction(self) -> Iterator[Writer]:
        with super().transaction() as w:
            yield w
            self.failures += 1
            raise sa.exc.OperationalError("COMMIT", {}, Exception("disk I/O error (injected)"))


@pytest.mark.parametrize("process", [False, True], ids=["thread", "process"])
def test_nothing_is_acknowledged_before_commit(sqlite_url: str, prefix: str,
                                               process: bool) -> None:
    """A listener whose store fails keeps the message; the next one with its client id gets it."""
    good = Store(sqlite_url)
    add_person(good)
    bad = StoreThatCannotCommit(sqlite_url)
    client_id = f"hh-test-{uuid.uuid4().hex[:10]}"
    first = listener(bad, prefix, client_id, process=process)
    with running(first):
        publish_readings(URL, "watch-1", [[msg("c1", 0, 20), msg("c2", 20, 20)]],
                         topic=f"{prefix}/watch-1/readings")
        wait_for(lambda: bad.failures >= 1)
    assert first.stats.messages == 0 and first.stats.store_failures >= 1
    assert heart_rates(good) == 0  # the failed transaction left nothing behind
    second = listener(good, prefix, client_id, process=process)
    with running(second):
        wait_for(lambda: second.stats.messages == 1)
    assert heart_rates(good) == 40
    good.close()
    bad.close()


@pytest.mark.parametrize("process", [False, True], ids=["thread", "process"])
def test_a_stopped_listener_leaves_the_rest_with_the_broker(sqlite_store: Store, prefix: str,
                                                            process: bool) -> None:
    add_person(sqlite_store)
    client_id = f"hh-test-{uuid.uuid4().hex[:10]}"
    first = listener(sqlite_store, prefix, client_id, batch_max=1, process=process)
    with running(first, max_messages=1) as result:
        publish_readings(URL, "watch-1", [msg(f"d{i}", 10 * i, 10) for i in range(4)],
                         topic=f"{prefix}/watch-1/readings")
        wait_for(lambda: bool(result))  # run() returned after one message
    assert result["messages"] == 1 and heart_rates(sqlite_store) == 10
    second = listener(sqlite_store, prefix, client_id, process=process)
    with running(second):
        wait_for(lambda: heart_rates(sqlite_store) == 40)
    assert second.stats.redelivered == 0  # the first listener acknowledged only what it stored


def test_a_connection_process_that_dies_is_replaced_and_nothing_is_lost(
        sqlite_store: Store, prefix: str) -> None:
    """Kill the MQTT child while messages are waiting: the listener starts a new one, which
    resumes the session; every message is stored once."""
    add_person(sqlite_store)
    topic = f"{prefix}/watch-1/readings"
    lst = listener(sqlite_store, prefix, batch_max=1, process=True)
    with running(lst):
        child = lst._link.proc  # type: ignore[attr-defined]
        publish_readings(URL, "watch-1", [msg("e0", 0, 10)], topic=topic)
        wait_for(lambda: lst.stats.messages == 1)
        child.kill()
        child.wait()
        publish_readings(URL, "watch-1", [msg(f"e{i}", 10 * i, 10) for i in range(1, 6)],
                         topic=topic)
        wait_for(lambda: heart_rates(sqlite_store) == 60)
        assert lst._link.proc.pid != child.pid  # type: ignore[attr-defined]
    # e0's ack may not have reached the broker before the kill: then it comes again, and its
    # message-id claim makes it a no-op
    assert lst.stats.observations == 60 and lst.stats.redelivered <= 1


@pytest.mark.parametrize("process", [False, True], ids=["thread", "process"])
def test_an_unreachable_broker_is_a_clear_error(sqlite_store: Store, process: bool) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lst = MqttListener(sqlite_store, f"mqtt://127.0.0.1:{port}", process=process)
    with pytest.raises(ConfigError, match=f"cannot reach the MQTT broker at 127.0.0.1:{port}"):
        lst.run(max_messages=1)
