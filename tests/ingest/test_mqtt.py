"""The MQTT listener against the real Mosquitto broker at 127.0.0.1:1883.

Each test uses its own topic prefix and client ids, so parallel runs never see each other's
messages, and short session expiry, so the broker forgets the sessions soon after.
"""

from __future__ import annotations

import contextlib
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
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperhealth.errors import ConfigError
from hyperhealth.ingest import _mqtt_net
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


def listener(store: Store, prefix: str, client_id: str | None = None, url: str = URL,
             **kw: Any) -> MqttListener:
    return MqttListener(store, url, topic=f"{prefix}/+/readings",
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


@pytest.fixture
def locked_broker(tmp_path: Any) -> Iterator[int]:
    """A second, private Mosquitto on a free port that lets in only user ``hh``, password
    ``right`` (a real broker refusing, as a production one configured with passwords does)."""
    import getpass
    import shutil
    import subprocess

    if shutil.which("mosquitto") is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto and mosquitto_passwd are not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    passwords = tmp_path / "passwords"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "hh", "right"], check=True,
                   capture_output=True)
    passwords.chmod(0o600)
    conf = tmp_path / "mosquitto.conf"
    # run as us (as root, Mosquitto would switch to its own user, which cannot read the file)
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\n"
                    f"password_file {passwords}\npersistence false\nuser {getpass.getuser()}\n")
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("the private Mosquitto did not start")
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("process", [False, True], ids=["thread", "process"])
def test_a_refused_login_is_a_clear_error_and_the_right_one_works(
        sqlite_store: Store, prefix: str, locked_broker: int, process: bool) -> None:
    add_person(sqlite_store)
    where = f"127.0.0.1:{locked_broker}"
    # MQTT 5 reason codes 0x86 and 0x87 (OASIS MQTT 5.0, 3.2.2.2); Mosquitto answers 0x87
    refused = (f"the MQTT broker at {where} refused the connection as .*: "
               r"(bad user name or password|not authorized) \(0x8[67]\); "
               "check the client id, user name and password")
    for who in ("hh:wrong", "nobody:right", None):
        url = f"mqtt://{who + '@' if who else ''}{where}"
        lst = listener(sqlite_store, prefix, url=url, process=process)
        with pytest.raises(ConfigError, match=refused):
            lst.run(max_messages=1)
    url = f"mqtt://hh:right@{where}"
    lst = listener(sqlite_store, prefix, url=url, process=process)
    with running(lst):
        publish_readings(url, "watch-1", [msg("ok-1", 0, 5)], topic=f"{prefix}/watch-1/readings")
        wait_for(lambda: heart_rates(sqlite_store) == 5)


# -- the connection itself -------------------------------------------------------------------------
class Relay:
    """A TCP relay to the real broker whose connections the test can cut, as a network would."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            broker = socket.create_connection(("127.0.0.1", 1883))
            self.pairs.append((client, broker))
            self.connections += 1
            for a, b in ((client, broker), (broker, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        for pair in self.pairs:
            for s in pair:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
        self.pairs = []

    def close(self) -> None:
        self.cut()
        with contextlib.suppress(OSError):  # wakes the accepting thread; then nothing listens
            self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()


@pytest.mark.parametrize("process", [False, True], ids=["thread", "process"])
def test_a_cut_connection_is_resumed_and_nothing_is_lost_or_stored_twice(
        sqlite_store: Store, prefix: str, process: bool, caplog: pytest.LogCaptureFixture) -> None:
    add_person(sqlite_store)
    topic = f"{prefix}/watch-1/readings"
    relay = Relay()
    lst = listener(sqlite_store, prefix, url=f"mqtt://127.0.0.1:{relay.port}", process=process)
    try:
        with caplog.at_level(logging.INFO, logger="hyperhealth.ingest.mqtt"), running(lst):
            publish_readings(URL, "watch-1", [msg(f"f{i}", 10 * i, 10) for i in range(3)],
                             topic=topic)
            wait_for(lambda: lst.stats.messages == 3)
            relay.cut()
            # published while the listener is away: the broker keeps them for its session
            publish_readings(URL, "watch-1", [msg(f"f{i}", 10 * i, 10) for i in range(3, 8)],
                             topic=topic)
            wait_for(lambda: heart_rates(sqlite_store) == 80)
            assert relay.connections == 2
    finally:
        relay.close()
    assert lst.stats.observations == 80 and lst.stats.duplicates == 0
    assert "lost the MQTT broker" in caplog.text and "(session resumed)" in caplog.text


@pytest.mark.parametrize("process", [False, True], ids=["thread", "process"])
def test_a_listener_waiting_to_reconnect_stops_at_once(sqlite_store: Store, prefix: str,
                                                       process: bool) -> None:
    relay = Relay()
    lst = listener(sqlite_store, prefix, url=f"mqtt://127.0.0.1:{relay.port}", process=process)
    stop = threading.Event()
    th = threading.Thread(target=lst.run, args=(stop,), daemon=True)
    th.start()
    assert lst.subscribed.wait(10)
    relay.close()  # the broker is gone for good: the connection tries again after 1, 2, 4 s
    time.sleep(3.5)  # into the 4 s wait
    started = time.monotonic()
    stop.set()
    th.join(20)
    assert not th.is_alive() and time.monotonic() - started < 1.5


def test_keep_alive_holds_an_idle_connection(sqlite_store: Store, prefix: str,
                                             caplog: pytest.LogCaptureFixture) -> None:
    """With nothing to acknowledge, pings keep the broker (which drops a client silent for 1.5
    keep-alive intervals) from closing the connection."""
    add_person(sqlite_store)
    lst = listener(sqlite_store, prefix, keepalive_s=1)
    with caplog.at_level(logging.INFO, logger="hyperhealth.ingest.mqtt"), running(lst):
        time.sleep(3.5)
        publish_readings(URL, "watch-1", [msg("g1", 0, 10)], topic=f"{prefix}/watch-1/readings")
        wait_for(lambda: lst.stats.messages == 1)
    assert "lost the MQTT broker" not in caplog.text
    assert caplog.text.count("connected to") == 1


def publish_packet(topic: str, payload: bytes, mid: int, props: bytes = b"\x00") -> bytes:
    """An MQTT 5 PUBLISH (QoS 1), encoded here independently of the module under test."""
    body = len(topic.encode()).to_bytes(2, "big") + topic.encode() + mid.to_bytes(2, "big") \
        + props + payload
    n, length = len(body), bytearray()
    while True:
        n, digit = divmod(n, 128)
        length.append(digit | (128 if n else 0))
        if not n:
            break
    return b"\x32" + bytes(length) + body


class Collect(_mqtt_net.Session):
    def __init__(self) -> None:
        super().__init__({"connection_base": 7, "topic": "t", "keepalive_s": 30})
        self.messages: list[tuple[Any, ...]] = []

    def received(self, items: list[tuple[Any, ...]]) -> None:
        self.messages += items

    def log(self, level: int, text: str) -> None:
        raise AssertionError(text)

    def subscribed(self) -> None:
        raise AssertionError("no SUBACK was sent")


@given(cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=12))
@settings(max_examples=150, deadline=None)
def test_packets_split_anywhere_by_the_network_are_decoded_once(cuts: list[int]) -> None:
    """Whatever TCP hands over in each read, every message comes out whole, once, in order."""
    sent = [(f"dev/{i}/readings", bytes([i]) * (i * 37 % 300), i + 1,
             b"\x00" if i % 3 else b"\x05\x01\x01\x03\x00\x00")  # some carry properties
            for i in range(12)]
    stream = b"".join(publish_packet(*m) for m in sent) + b"\xd0\x00"  # and a PINGRESP
    s, buf = Collect(), bytearray()
    start = 0
    for end in [*sorted({min(c, len(stream)) for c in cuts}), len(stream)]:
        buf += stream[start:end]
        start = end
        s._decode(buf)
    assert not buf
    assert [(t, p, mid, qos, conn) for t, p, mid, qos, _, conn in s.messages] == [
        (topic, payload, mid, 1, 7) for topic, payload, mid, _ in sent]
