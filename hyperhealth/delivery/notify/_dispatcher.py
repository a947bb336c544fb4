"""The outbox dispatcher: delivers stored notifications to MQTT and webhooks, retrying failures.

The alert lifecycle writes each notification into the ``notifications`` table in the same
transaction as the alert change (the outbox). :class:`Dispatcher` takes the rows that are due,
delivers them and records the outcome:

* **MQTT** rows are published with QoS 1 to the row's topic (``hyperhealth/<person>/alerts``);
  a row counts as delivered when the broker has acknowledged it (PUBACK).
* **webhook** rows are POSTed as JSON to the webhook's URL with the headers
  ``X-Hyperhealth-Signature: sha256=<HMAC-SHA256 of the body with the webhook's secret>`` and
  ``Idempotency-Key: <notification id>``; any 2xx answer counts as delivered.

The body is the alert as stored with the notification (``Alert.to_dict()`` and ``reason``) plus
``notification_id``. A failure increments ``attempts``, stores the reason in ``last_error`` and
schedules the next attempt with exponential back-off and jitter (:class:`RetryPolicy`); after
``max_attempts`` failures the row is given up: ``next_attempt_us`` becomes :data:`GAVE_UP_US`
and ``last_error`` starts with ``gave up``.

Guarantees: delivery is *at least once*. A row is claimed (its ``next_attempt_us`` moved a lease
ahead) before it is sent, so two dispatchers on one store do not send it at the same time; a
dispatcher that dies after sending but before recording the delivery leaves the row to be sent
again when the lease ends, which is why receivers get the notification id to drop repeats.
Notifications of one alert to one receiver are sent in the order they were created: a later one
waits until the earlier one is delivered or given up.

Logs and ``last_error`` name notification and webhook ids, never persons, topics, URLs or
payloads.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from hyperhealth.delivery.notify._retry import GAVE_UP_US, RetryPolicy
from hyperhealth.delivery.notify._sign import (
    ATTEMPT_HEADER,
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    sign,
)
from hyperhealth.errors import ConfigError
from hyperhealth.ingest.mqtt import parse_mqtt_url
from hyperhealth.store import Store
from hyperhealth.store import _schema as S

log = logging.getLogger("hyperhealth.notify")

_US = 1_000_000
_N = S.notifications
_BROKER = ("mqtt", "*")  # in a pass's set of failed receivers: the MQTT broker


def _now_us() -> int:
    return time.time_ns() // 1000


@dataclass(slots=True)
class DeliveryStats:
    """What one :meth:`Dispatcher.deliver_pending` call (or a whole :meth:`~Dispatcher.run`) did."""

    delivered: int = 0
    retrying: int = 0  # failed, another attempt is scheduled
    gave_up: int = 0  # failed for the last time, or can never be delivered
    deferred: int = 0  # due, but its receiver already failed in this round: left for later
    by_channel: dict[str, int] = field(default_factory=dict)  # delivered per channel

    def add(self, other: DeliveryStats) -> None:
        for f in ("delivered", "retrying", "gave_up", "deferred"):
            setattr(self, f, getattr(self, f) + getattr(other, f))
        for k, v in other.by_channel.items():
            self.by_channel[k] = self.by_channel.get(k, 0) + v

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class _Row:
    pk: int
    channel: str
    target: str
    payload: dict[str, Any]
    attempts: int

    def body(self) -> bytes:
        return orjson.dumps({**self.payload, "notification_id": self.pk})


@dataclass(frozen=True, slots=True)
class _Failure:
    error: str
    retry_after_s: float | None = None
    final: bool = False  # can never succeed (webhook removed, no broker configured)


Outcome = _Failure | None  # None: delivered


class Dispatcher:
    """Delivers the outbox of ``store``.

    ``mqtt_url`` (``mqtt://host:port``) is the broker for MQTT notifications; without one they are
    given up with ``last_error`` "gave up: no MQTT broker configured" (so the outbox does not grow
    on a machine without a broker). ``http_client`` is used for webhooks (one is created, and
    closed by :meth:`close`, when not given). ``lease_s`` must exceed the longest a delivery
    can take (the HTTP and PUBACK timeouts).
    """

    def __init__(
        self,
        store: Store,
        *,
        mqtt_url: str | None = None,
        http_client: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
        batch_size: int = 200,
        timeout_s: float = 10.0,
        lease_s: float = 120.0,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.retry = retry or RetryPolicy()
        self.batch_size = max(1, batch_size)
        self.timeout_s = timeout_s
        self.lease_us = int(lease_s * _US)
        if self.lease_us <= 2 * timeout_s * _US:
            raise ConfigError(f"the claim lease ({lease_s:g} s) must be longer than twice the "
                              f"delivery timeout ({timeout_s:g} s)")
        self._rng = rng or random.Random()
        self._mqtt = _MqttLink(mqtt_url, timeout_s) if mqtt_url else None
        self._own_http = http_client is None
        self.http = http_client or httpx.Client(
            timeout=httpx.Timeout(timeout_s), follow_redirects=False,
            headers={"User-Agent": "hyperhealth-notify"})
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one pass ------------------------------------------------------------------------------
    def deliver_pending(self, now_us: int | None = None) -> DeliveryStats:
        """Deliver every notification due at ``now_us`` (default: the wall clock)."""
        now = _now_us() if now_us is None else now_us
        stats = DeliveryStats()
        down: set[tuple[str, str]] = set()  # receivers that failed in this pass
        while True:
            rows = self._claim(now, down)
            if not rows:
                break
            outcomes = self._send(rows, down, stats)
            self._record(rows, outcomes, now, stats)
        return stats

    def _due(self, now: int, down: set[tuple[str, str]]) -> list[int]:
        """Due rows, urgent alerts first; of one alert and receiver only the oldest pending."""
        a = S.alerts
        pending = sa.and_(_N.c.delivered_us.is_(None), _N.c.next_attempt_us < GAVE_UP_US)
        heads = (sa.select(sa.func.min(_N.c.pk)).where(pending)
                 .group_by(_N.c.alert_pk, _N.c.channel, _N.c.target))
        q = (sa.select(_N.c.pk).join(a, a.c.pk == _N.c.alert_pk)
             .where(_N.c.pk.in_(heads.scalar_subquery()), _N.c.next_attempt_us <= now))
        if _BROKER in down:
            q = q.where(_N.c.channel != "mqtt")
        hooks = [t for c, t in down if c == "webhook"]
        if hooks:
            q = q.where(sa.not_(sa.and_(_N.c.channel == "webhook", _N.c.target.in_(hooks))))
        q = q.order_by(a.c.level.desc(), _N.c.pk).limit(self.batch_size)
        with self.store.engine.connect() as conn:
            return [int(r[0]) for r in conn.execute(q)]

    def _claim(self, now: int, down: set[tuple[str, str]]) -> list[_Row]:
        """Take due rows for this dispatcher by moving their next attempt a lease ahead."""
        due = self._due(now, down)
        if not due:
            return []
        # the UPDATE is the transaction's first statement: on SQLite it takes the write lock
        # (waiting for busy_timeout) instead of failing to upgrade a read snapshot
        with self.store.engine.begin() as conn:
            got = conn.execute(
                sa.update(_N)
                .where(_N.c.pk.in_(due), _N.c.delivered_us.is_(None),
                       _N.c.next_attempt_us <= now)
                .values(next_attempt_us=now + self.lease_us)
                .returning(_N.c.pk, _N.c.channel, _N.c.target, _N.c.payload, _N.c.attempts)
            ).all()
        rows = [_Row(int(r[0]), r[1], r[2], dict(r[3]), int(r[4])) for r in got]
        order = {pk: i for i, pk in enumerate(due)}
        return sorted(rows, key=lambda r: order[r.pk])

    def _send(self, rows: Sequence[_Row], down: set[tuple[str, str]], stats: DeliveryStats
              ) -> dict[int, Outcome]:
        """Deliver ``rows``; a row left out of the answer was deferred (its receiver is down)."""
        out: dict[int, Outcome] = {}
        mq = [r for r in rows if r.channel == "mqtt"]
        if mq:
            if self._mqtt is None:
                miss = _Failure("no MQTT broker configured", final=True)
                out.update({r.pk: miss for r in mq})
            else:
                res = self._mqtt.publish([(r.target, r.body()) for r in mq])
                out.update({r.pk: e for r, e in zip(mq, res, strict=True)})
                if any(e is not None for e in res):
                    down.add(_BROKER)  # every MQTT row shares the broker: no more this pass
        hooks = [r for r in rows if r.channel == "webhook"]
        if hooks:
            targets = self._webhooks({r.target for r in hooks})
            for r in hooks:
                if ("webhook", r.target) in down:
                    stats.deferred += 1
                    continue
                o = self._post(r, targets.get(r.target))
                out[r.pk] = o
                if o is not None and not o.final:
                    down.add(("webhook", r.target))
        for r in rows:
            if r.channel not in ("mqtt", "webhook"):
                out[r.pk] = _Failure(f"unknown channel {r.channel!r}", final=True)
        return out

    def _webhooks(self, targets: Iterable[str]) -> dict[str, tuple[str, str, bool]]:
        w = S.webhooks
        ids = [int(t) for t in targets if t.isdigit()]
        with self.store.engine.connect() as conn:
            return {str(r[0]): (r[1], r[2], bool(r[3])) for r in conn.execute(
                sa.select(w.c.pk, w.c.url, w.c.secret, w.c.active).where(w.c.pk.in_(ids)))}

    def _post(self, row: _Row, hook: tuple[str, str, bool] | None) -> Outcome:
        if hook is None:
            return _Failure(f"webhook {row.target} no longer exists", final=True)
        url, secret, active = hook
        if not active:
            return _Failure(f"webhook {row.target} is inactive", final=True)
        body = row.body()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret, body),
            IDEMPOTENCY_HEADER: str(row.pk),
            ATTEMPT_HEADER: str(row.attempts + 1),
        }
        try:
            r = self.http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:  # refused, timed out, TLS, bad URL ...
            return _Failure(f"webhook {row.target}: {_short(exc)}")
        if 200 <= r.status_code < 300:
            return None
        # the answer's body is not kept: a receiver may echo what it was sent
        return _Failure(f"webhook {row.target}: HTTP {r.status_code} {r.reason_phrase}".strip(),
                        retry_after_s=_retry_after(r.headers.get("Retry-After")))

    def _record(self, rows: Sequence[_Row], outcomes: dict[int, Outcome], now: int,
                stats: DeliveryStats) -> None:
        """Store what happened; deferred rows go back to due (their claim is released)."""
        done: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        released: list[dict[str, Any]] = []
        retry_log: dict[tuple[str, str], list[int]] = {}
        final_log: dict[tuple[str, str], list[int]] = {}
        for r in rows:
            if r.pk not in outcomes:  # deferred: release the claim, no attempt counted
                released.append({"b_pk": r.pk})
                continue
            o = outcomes[r.pk]
            if o is None:
                done.append({"b_pk": r.pk, "b_attempts": r.attempts + 1})
                stats.delivered += 1
                stats.by_channel[r.channel] = stats.by_channel.get(r.channel, 0) + 1
                continue
            n = r.attempts + 1
            if o.final or self.retry.gives_up(n):
                nxt, err = GAVE_UP_US, f"gave up after {n} attempt(s): {o.error}"
                stats.gave_up += 1
                final_log.setdefault((r.channel, o.error), []).append(r.pk)
            else:
                delay = self.retry.delay_s(n, self._rng, o.retry_after_s)
                nxt, err = now + max(1, int(delay * _US)), o.error
                stats.retrying += 1
                retry_log.setdefault((r.channel, o.error), []).append(r.pk)
            failed.append({"b_pk": r.pk, "b_attempts": n, "b_error": err[:500], "b_next": nxt})
        by_pk = _N.c.pk == sa.bindparam("b_pk")
        with self.store.engine.begin() as conn:
            if done:
                conn.execute(sa.update(_N).where(by_pk).values(
                    delivered_us=now, attempts=sa.bindparam("b_attempts"), last_error=""), done)
            if failed:
                conn.execute(sa.update(_N).where(by_pk).values(
                    attempts=sa.bindparam("b_attempts"), last_error=sa.bindparam("b_error"),
                    next_attempt_us=sa.bindparam("b_next")), failed)
            if released:
                conn.execute(sa.update(_N).where(by_pk).values(next_attempt_us=now), released)
        for (channel, error), pks in retry_log.items():
            log.info("%d %s notification(s) failed (%s), retrying later: ids %s",
                     len(pks), channel, error, _ids(pks))
        for (channel, error), pks in final_log.items():
            log.warning("%d %s notification(s) not delivered, giving up (%s): ids %s",
                        len(pks), channel, error, _ids(pks))
        if done:
            log.debug("%d notification(s) delivered", len(done))

    # -- running in the background ---------------------------------------------------------------
    def run(self, stop_event: threading.Event | None = None, interval_s: float = 1.0
            ) -> DeliveryStats:
        """Deliver what is due every ``interval_s`` (sooner after :meth:`wake`) until
        ``stop_event`` is set or :meth:`stop` is called; a failing pass is logged and retried."""
        stop = stop_event or self._stop
        total = DeliveryStats()
        while not stop.is_set() and not self._stop.is_set():
            try:
                total.add(self.deliver_pending())
            except Exception as exc:  # store unreachable, ...: the outbox keeps the rows
                log.error("delivering notifications failed (%s: %s); retrying in %.1f s",
                          type(exc).__name__, _short(exc), interval_s)
            self._wake.wait(interval_s)
            self._wake.clear()
        return total

    def start(self, interval_s: float = 1.0) -> threading.Thread:
        """Run :meth:`run` in a daemon thread; :meth:`stop` ends it."""
        if self._thread is not None and self._thread.is_alive():
            return self._thread
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, kwargs={"interval_s": interval_s},
                                        name="hyperhealth-notify", daemon=True)
        self._thread.start()
        return self._thread

    def wake(self) -> None:
        """Deliver now instead of at the end of the interval (e.g. after new alerts)."""
        self._wake.set()

    def stop(self, timeout_s: float = 30.0) -> None:
        """End :meth:`start`'s thread (after the pass in hand) and close the connections."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        self.close()

    def close(self) -> None:
        if self._mqtt is not None:
            self._mqtt.close()
        if self._own_http:
            self.http.close()

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _MqttLink:
    """One connection to the broker, opened when needed and reopened after a failure."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self.host, self.port, self._user, self._password = parse_mqtt_url(url)
        self.timeout_s = timeout_s
        self._client: mqtt.Client | None = None
        self._connected = threading.Event()
        self._refused: ReasonCode | None = None
        self._acks: dict[int, ReasonCode] = {}

    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        if rc.is_failure:
            self._refused = rc
        self._connected.set()

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        self._acks[mid] = rc

    def _ensure(self) -> mqtt.Client:
        if self._client is not None and self._client.is_connected():
            return self._client
        self.close()
        c = mqtt.Client(CallbackAPIVersion.VERSION2,
                        client_id=f"hyperhealth-notify-{uuid.uuid4().hex[:10]}",
                        protocol=MQTTProtocolVersion.MQTTv5)
        if self._user is not None:
            c.username_pw_set(self._user, self._password)
        c.on_connect = self._on_connect
        c.on_publish = self._on_publish
        c.max_inflight_messages_set(1000)
        c.connect_timeout = self.timeout_s
        self._connected.clear()
        self._refused = None
        try:
            c.connect(self.host, self.port, keepalive=30)
        except OSError as exc:
            raise _Unreachable(f"MQTT broker unreachable ({_short(exc)})") from None
        c.loop_start()
        self._client = c
        if not self._connected.wait(self.timeout_s):
            self.close()
            raise _Unreachable(f"MQTT broker did not answer within {self.timeout_s:g} s")
        if self._refused is not None:
            rc = self._refused
            self.close()
            raise _Unreachable(f"MQTT broker refused the connection ({rc})")
        return c

    def publish(self, items: Sequence[tuple[str, bytes]]) -> list[Outcome]:
        """Publish with QoS 1 and wait for each PUBACK; ``None`` for each acknowledged item."""
        try:
            c = self._ensure()
        except _Unreachable as exc:
            return [_Failure(str(exc))] * len(items)
        infos = [c.publish(topic, body, qos=1) for topic, body in items]
        deadline = time.monotonic() + self.timeout_s
        out: list[Outcome] = []
        for info in infos:
            if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_AGAIN):
                out.append(_Failure(f"MQTT publish failed ({mqtt.error_string(info.rc)})"))
                continue
            try:
                info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            except (RuntimeError, ValueError) as exc:
                out.append(_Failure(f"MQTT publish failed ({_short(exc)})"))
                continue
            rc = self._acks.pop(info.mid, None)
            if not info.is_published():
                out.append(_Failure(f"no PUBACK from the MQTT broker within {self.timeout_s:g} s"))
            elif rc is not None and rc.is_failure:
                out.append(_Failure(f"the MQTT broker refused the message ({rc})", final=False))
            else:
                out.append(None)
        if any(o is not None for o in out):
            # drop what paho still queues, so it is not sent behind our back and again on retry
            self.close()
        return out

    def close(self) -> None:
        c, self._client = self._client, None
        if c is not None:
            try:
                c.disconnect()
            finally:
                c.loop_stop()
        self._acks.clear()


class _Unreachable(Exception):
    pass


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _ids(pks: Sequence[int]) -> str:
    """A short list of ids for the log.

    >>> _ids([1, 2, 3]), _ids(list(range(20)))
    ('1, 2, 3', '0, 1, 2, 3, 4 ... 19 (20)')
    """
    if len(pks) <= 6:
        return ", ".join(map(str, pks))
    return ", ".join(map(str, pks[:5])) + f" ... {pks[-1]} ({len(pks)})"


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date).

    >>> _retry_after("120"), _retry_after(None), _retry_after("soon")
    (120.0, None, None)
    """
    if not value:
        return None
    v = value.strip()
    if v.isdigit():
        return float(v)
    try:
        when = parsedate_to_datetime(v)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
