"""The outbox dispatcher against the real Mosquitto broker and a real local HTTP server.

Alerts are opened by the real :class:`AlertBook` (no mocks); each test uses its own person id, so
its MQTT topic ``hyperhealth/<person>/alerts`` is its own.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from hyperhealth.actions.alerts import AlertBook, alert_topic
from hyperhealth.actions.levels import Level
from hyperhealth.delivery.notify import GAVE_UP_US, Dispatcher, RetryPolicy
from hyperhealth.store import Store
from hyperhealth.store import _schema as S
from tests.conftest import need_service
from tests.delivery.alert_rows import add_person, now_us, raise_alert

URL = "mqtt://127.0.0.1:1883"
S_US = 1_000_000


def pid() -> str:
    return f"p-nt{uuid.uuid4().hex[:10]}"


def rows(store: Store) -> list[dict[str, Any]]:
    n = S.notifications
    with store.engine.connect() as c:
        return [dict(r) for r in c.execute(sa.select(n).order_by(n.c.pk)).mappings()]


# -- a real MQTT subscriber --------------------------------------------------------------------
class Subscriber:
    def __init__(self, topic: str) -> None:
        self.messages: list[bytes] = []
        self.ready = threading.Event()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2,
                             client_id=f"hh-test-sub-{uuid.uuid4().hex[:8]}",
                             protocol=MQTTProtocolVersion.MQTTv5)
        self.c.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.c.on_subscribe = lambda *_: self.ready.set()
        self.c.on_message = lambda _c, _u, m: self.messages.append(bytes(m.payload))
        self.c.connect("127.0.0.1", 1883, 30)
        self.c.loop_start()
        assert self.ready.wait(10), "the broker did not confirm the subscription"

    def wait_for(self, n: int, timeout: float = 10.0, settle: float = 0.5) -> list[bytes]:
        """Wait for ``n`` messages, then a little longer to catch any duplicate."""
        end = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < end:
            time.sleep(0.02)
        time.sleep(settle)
        return list(self.messages)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture
def broker() -> None:
    need_service("Mosquitto", "127.0.0.1", 1883)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- a real HTTP receiver ----------------------------------------------------------------------
@dataclass
class Receiver:
    """Answers with ``script`` statuses in turn (then 200), records every request."""

    script: list[int] = field(default_factory=list)
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)  # extra headers on failures
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def status(self) -> int:
        with self.lock:
            return self.script.pop(0) if self.script else 200


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with rec.lock:
                rec.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            time.sleep(rec.delay_s)
            code = rec.status()
            self.send_response(code)
            if code >= 300:
                for k, v in rec.headers.items():
                    self.send_header(k, v)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hook/secret-path"
    th = threading.Thread(target=server.serve_forever, daemon=True)
    th.start()
    yield rec
    server.shutdown()
    server.server_close()


def signature_ok(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Recomputed here with hmac directly, as a receiver would."""
    want = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, headers.get("x-hyperhealth-signature", ""))


# -- MQTT ----------------------------------------------------------------------------------------
def test_mqtt_publishes_once_with_the_alert(store: Store, broker: None) -> None:
    p = pid()
    add_person(store, p)
    sub = Subscriber(alert_topic(p))
    try:
        aid = raise_alert(store, p)
        with Dispatcher(store, mqtt_url=URL) as d:
            first = d.deliver_pending()
            again = d.deliver_pending()
        assert first.delivered == 1 and first.by_channel == {"mqtt": 1}
        assert again.delivered == 0 and again.retrying == 0
        got = sub.wait_for(1)
    finally:
        sub.close()
    assert len(got) == 1, f"expected the notification once, got {len(got)}"
    msg = json.loads(got[0])
    (row,) = rows(store)
    want = {**AlertBook(store).get(aid).to_dict(), "reason": "opened"}
    want["notifications"] = msg["notifications"]  # the count as it was when queued
    assert msg == {**want, "notification_id": row["pk"]}
    assert msg["level"] == "urgent" and msg["person_id"] == p
    assert row["delivered_us"] is not None and row["attempts"] == 1 and row["last_error"] == ""


def test_unreachable_broker_is_retried_then_delivered(
        store: Store, broker: None, caplog: pytest.LogCaptureFixture) -> None:
    p = pid()
    add_person(store, p)
    raise_alert(store, p)
    t = now_us()
    caplog.set_level(logging.DEBUG, logger="hyperhealth")
    with Dispatcher(store, mqtt_url=f"mqtt://127.0.0.1:{closed_port()}", timeout_s=2,
                    retry=RetryPolicy(base_s=10, cap_s=60)) as down:
        s = down.deliver_pending(t)
    assert (s.delivered, s.retrying, s.gave_up) == (0, 1, 0)
    (row,) = rows(store)
    assert row["delivered_us"] is None and row["attempts"] == 1
    assert "unreachable" in row["last_error"]
    assert t + 5 * S_US <= row["next_attempt_us"] <= t + 10 * S_US  # 10 s, up to half jitter
    # no personal data: neither the person, nor the topic, nor the payload
    for text in [row["last_error"], *(r.getMessage() for r in caplog.records)]:
        assert p not in text and "alerts" not in text and "SpO2" not in text

    sub = Subscriber(alert_topic(p))
    try:
        with Dispatcher(store, mqtt_url=URL) as up:
            assert up.deliver_pending(t + 1 * S_US).delivered == 0  # not due yet
            assert up.deliver_pending(t + 11 * S_US).delivered == 1
        got = sub.wait_for(1)
    finally:
        sub.close()
    assert len(got) == 1
    (row,) = rows(store)
    assert row["attempts"] == 2 and row["last_error"] == "" and row["delivered_us"] is not None


def test_without_a_broker_mqtt_rows_are_closed_not_kept(store: Store) -> None:
    p = pid()
    add_person(store, p)
    raise_alert(store, p)
    with Dispatcher(store) as d:
        s = d.deliver_pending()
        assert d.deliver_pending(GAVE_UP_US - 1).gave_up == 0  # never picked again
    assert s.gave_up == 1
    (row,) = rows(store)
    assert row["next_attempt_us"] == GAVE_UP_US and row["delivered_us"] is None
    assert row["last_error"].startswith("gave up") and "no MQTT broker" in row["last_error"]


# -- webhooks ------------------------------------------------------------------------------------
def test_webhook_backoff_until_delivered_signed_and_idempotent(
        store: Store, receiver: Receiver) -> None:
    p = pid()
    add_person(store, p)
    wid, secret = AlertBook(store).add_webhook(receiver.url, person_id=p, min_level=Level.WARN)
    receiver.script = [503, 500, 502]  # three failures, then 200
    aid = raise_alert(store, p)
    policy = RetryPolicy(base_s=10, cap_s=25, max_attempts=6, jitter=0.5)
    t = now_us()
    with Dispatcher(store, retry=policy) as d:
        d.deliver_pending(t)  # the MQTT row is closed (no broker); the webhook fails once
        hook = next(r for r in rows(store) if r["channel"] == "webhook")
        assert hook["target"] == str(wid)
        for k, ceiling in enumerate([10, 20, 25], start=1):
            row = next(r for r in rows(store) if r["pk"] == hook["pk"])
            assert row["attempts"] == k and row["delivered_us"] is None
            assert row["last_error"].startswith(f"webhook {wid}: HTTP 5")
            wait = row["next_attempt_us"] - t
            assert ceiling / 2 * S_US <= wait <= ceiling * S_US, (k, wait)
            assert d.deliver_pending(row["next_attempt_us"] - 1).retrying == 0  # not yet due
            assert len(receiver.requests) == k
            t = row["next_attempt_us"]
            s = d.deliver_pending(t)
        assert s.delivered == 1 and s.by_channel == {"webhook": 1}
    row = next(r for r in rows(store) if r["pk"] == hook["pk"])
    assert row["attempts"] == 4 and row["delivered_us"] == t and row["last_error"] == ""
    assert len(receiver.requests) == 4
    bodies = {b for _, b in receiver.requests}
    assert len(bodies) == 1  # the same body each time
    for i, (h, b) in enumerate(receiver.requests, start=1):
        assert signature_ok(secret, h, b)
        assert not signature_ok("another secret", h, b)
        assert h["idempotency-key"] == str(hook["pk"])
        assert h["x-hyperhealth-attempt"] == str(i)
        assert h["content-type"] == "application/json"
    body = json.loads(bodies.pop())
    assert body["id"] == aid and body["notification_id"] == hook["pk"]
    assert body["reason"] == "opened" and body["level"] == "urgent"


def test_gives_up_after_max_attempts(store: Store, receiver: Receiver) -> None:
    p = pid()
    add_person(store, p)
    AlertBook(store).add_webhook(receiver.url, person_id=p)
    receiver.script = [500] * 10
    raise_alert(store, p)
    t = now_us()
    with Dispatcher(store, retry=RetryPolicy(base_s=1, cap_s=4, max_attempts=3)) as d:
        outcomes = []
        for _ in range(5):
            s = d.deliver_pending(t)
            outcomes.append((s.retrying, s.gave_up))
            t += 10 * S_US
    hook = next(r for r in rows(store) if r["channel"] == "webhook")
    assert len(receiver.requests) == 3
    assert hook["attempts"] == 3 and hook["next_attempt_us"] == GAVE_UP_US
    assert hook["last_error"].startswith("gave up after 3 attempt(s): webhook")
    # first pass: the MQTT row is closed (no broker) and the webhook fails once
    assert outcomes == [(1, 1), (1, 0), (0, 1), (0, 0), (0, 0)]


def test_retry_after_is_respected(store: Store, receiver: Receiver) -> None:
    p = pid()
    add_person(store, p)
    AlertBook(store).add_webhook(receiver.url, person_id=p)
    receiver.script, receiver.headers = [429], {"Retry-After": "120"}
    raise_alert(store, p)
    t = now_us()
    with Dispatcher(store, retry=RetryPolicy(base_s=5, cap_s=600)) as d:
        d.deliver_pending(t)
        hook = next(r for r in rows(store) if r["channel"] == "webhook")
        assert "HTTP 429" in hook["last_error"]
        assert hook["next_attempt_us"] >= t + 120 * S_US  # not the 5 s of the policy
        assert d.deliver_pending(t + 100 * S_US).delivered == 0
        assert d.deliver_pending(t + 121 * S_US).delivered == 1
    hook = next(r for r in rows(store) if r["channel"] == "webhook")
    assert hook["attempts"] == 2 and hook["last_error"] == ""


def test_one_alert_reaches_a_receiver_in_order(store: Store, receiver: Receiver) -> None:
    """A later notification of the same alert waits for the earlier one to the same receiver."""
    p = pid()
    add_person(store, p)
    book = AlertBook(store)
    book.add_webhook(receiver.url, person_id=p)
    receiver.script = [503]
    aid = raise_alert(store, p)
    t = now_us()
    with Dispatcher(store, retry=RetryPolicy(base_s=10, cap_s=10, jitter=0)) as d:
        assert d.deliver_pending(t).retrying == 1  # 'opened' fails, next try at t + 10 s
        book.resolve(aid, by="dr-test", note="seen")  # 'resolved' is queued, due now
        s = d.deliver_pending(t + 5 * S_US)
        assert (s.delivered, len(receiver.requests)) == (0, 1)  # held behind 'opened'
        s = d.deliver_pending(t + 10 * S_US)
    assert s.delivered == 2
    reasons = [json.loads(b)["reason"] for _, b in receiver.requests]
    assert reasons == ["opened", "opened", "resolved"]


def test_inactive_or_removed_webhook_is_given_up(store: Store, receiver: Receiver) -> None:
    p = pid()
    add_person(store, p)
    book = AlertBook(store)
    w1, _ = book.add_webhook(receiver.url, person_id=p)
    w2, _ = book.add_webhook(receiver.url + "/2", person_id=p)
    raise_alert(store, p)
    with store.engine.begin() as c:
        c.execute(sa.update(S.webhooks).where(S.webhooks.c.pk == w1).values(active=False))
        c.execute(sa.delete(S.webhooks).where(S.webhooks.c.pk == w2))
    with Dispatcher(store) as d:
        s = d.deliver_pending()
    assert s.gave_up == 3 and receiver.requests == []
    errors = sorted(r["last_error"] for r in rows(store) if r["channel"] == "webhook")
    assert errors == [f"gave up after 1 attempt(s): webhook {w1} is inactive",
                      f"gave up after 1 attempt(s): webhook {w2} no longer exists"]


def test_two_dispatchers_never_send_a_row_twice(store: Store, receiver: Receiver) -> None:
    p = pid()
    add_person(store, p)
    AlertBook(store).add_webhook(receiver.url, person_id=p, min_level=Level.INFO)
    receiver.delay_s = 0.01
    n = 40
    for i in range(n):
        raise_alert(store, p, rule="r", key=f"k{i}", minutes=i)
    hooks = {r["pk"] for r in rows(store) if r["channel"] == "webhook"}
    assert len(hooks) == n
    results: list[int] = []
    start = threading.Barrier(2)

    def work() -> None:
        with Dispatcher(store, batch_size=5) as d:
            start.wait()
            results.append(d.deliver_pending().delivered)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    keys = [h["idempotency-key"] for h, _ in receiver.requests]
    assert sorted(keys) == sorted(str(k) for k in hooks)  # each exactly once
    assert sum(results) == n
    assert all(r["delivered_us"] is not None for r in rows(store) if r["channel"] == "webhook")


def test_run_in_a_thread_delivers_new_alerts(sqlite_store: Store, receiver: Receiver) -> None:
    p = pid()
    add_person(sqlite_store, p)
    AlertBook(sqlite_store).add_webhook(receiver.url, person_id=p)
    d = Dispatcher(sqlite_store)
    d.start(interval_s=0.05)
    try:
        raise_alert(sqlite_store, p)
        d.wake()
        end = time.monotonic() + 10
        while not receiver.requests and time.monotonic() < end:
            time.sleep(0.02)
    finally:
        d.stop()
    assert len(receiver.requests) == 1
    assert not d._thread


def test_public_surface() -> None:
    import hyperhealth.delivery.notify as notify

    assert sorted(notify.__all__) == sorted([
        "ATTEMPT_HEADER", "GAVE_UP_US", "IDEMPOTENCY_HEADER", "SIGNATURE_HEADER",
        "DeliveryStats", "Dispatcher", "RetryPolicy", "sign", "verify"])
    for name in notify.__all__:
        assert getattr(notify, name) is not None


@settings(max_examples=300, deadline=None)
@given(base=st.floats(0.01, 600), extra=st.floats(0, 36000), jitter=st.floats(0, 1),
       failures=st.integers(1, 200), seed=st.integers(0, 2**32))
def test_retry_delay_stays_within_its_bounds(base: float, extra: float, jitter: float,
                                             failures: int, seed: int) -> None:
    import random

    p = RetryPolicy(base_s=base, cap_s=base + extra, max_attempts=5, jitter=jitter)
    ceiling = min(base + extra, base * 2.0 ** (failures - 1))
    d = p.delay_s(failures, random.Random(seed))
    assert ceiling * (1 - jitter) - 1e-9 <= d <= ceiling + 1e-9
    assert p.delay_s(failures, random.Random(seed), retry_after_s=1e9) == base + extra


def test_retry_policy_refuses_nonsense() -> None:
    for kw in ({"base_s": 10, "cap_s": 5}, {"base_s": 0}, {"max_attempts": 0}, {"jitter": 2}):
        with pytest.raises(ValueError):
            RetryPolicy(**kw)  # type: ignore[arg-type]
