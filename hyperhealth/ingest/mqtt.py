"""Device messages over MQTT: a listener that acknowledges only what is stored.

Devices publish ``hyperhealth.device/1`` payloads (see :mod:`hyperhealth.ingest.device_json`) with
QoS 1 to ``hyperhealth/<device-id>/readings``. :class:`MqttListener` keeps a persistent MQTT 5
session and acknowledges each message by hand *after* the transaction that stored it committed.
If the listener stops or the store fails first, the broker still holds the message and delivers
it again on the next connection with the same client id; storing is idempotent, so a redelivered
message adds nothing. A payload that can never be stored (bad JSON, wrong schema) is logged with
its topic and the reason and acknowledged, so it is not redelivered forever.

>>> parse_mqtt_url("mqtt://127.0.0.1:1883")
('127.0.0.1', 1883, None, None)
>>> device_level("hyperhealth/+/readings"), device_level("$share/ingest/hyperhealth/+/readings")
(1, 1)
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import queue
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from hyperhealth.errors import ConfigError
from hyperhealth.ingest import _mqtt_net
from hyperhealth.ingest._base import IngestOptions, IngestReport
from hyperhealth.ingest._mqtt_net import Session, unreachable
from hyperhealth.ingest.device_json import DevicePayload, ingest_payloads
from hyperhealth.store import Store

log = logging.getLogger(__name__)

DEFAULT_TOPIC = "hyperhealth/+/readings"
DEFAULT_CLIENT_ID = "hyperhealth-ingest"


def parse_mqtt_url(url: str) -> tuple[str, int, str | None, str | None]:
    """``(host, port, user, password)`` from ``mqtt://[user:password@]host[:port]``."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
        raise ConfigError(f"cannot use MQTT broker URL {url!r}: expected mqtt://host:port "
                          "(HYPERHEALTH_MQTT_URL or --url); TLS (mqtts://) is not supported yet")
    try:
        port = parts.port or 1883
    except ValueError as exc:
        raise ConfigError(f"bad port in MQTT broker URL {url!r}") from exc
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return parts.hostname, port, user, password


def device_level(topic_filter: str) -> int | None:
    """Which topic level holds the device id: the ``+`` in the filter (``None`` if none)."""
    levels = topic_filter.split("/")
    if levels[0] == "$share":  # shared subscription: $share/<group>/<filter>
        levels = levels[2:]
    return levels.index("+") if "+" in levels else None


@dataclass(frozen=True, slots=True)
class Received:
    """One MQTT message as it arrived (not yet acknowledged)."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    received: float  # time.time() at arrival
    connection: int  # which connection delivered it (acks only go back on that one)


@dataclass
class ListenerStats:
    """What the listener did so far (``run`` returns it as a dict)."""

    messages: int = 0  # MQTT messages acknowledged
    batches: int = 0
    observations: int = 0  # readings newly stored
    duplicates: int = 0  # readings already stored before
    redelivered: int = 0  # device messages seen before (claimed message ids)
    rejects: int = 0  # readings, events, messages or payloads refused
    store_failures: int = 0  # transactions that failed and were retried
    store_s: float = 0.0  # seconds spent validating and storing (the rest is waiting and MQTT)
    elapsed_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in vars(self).items() if k != "extra"}
        return {**d, **self.extra}


BatchHook = Callable[[Sequence[Received], IngestReport], None]


class MqttListener:
    """Subscribe to device topics and store what arrives, acknowledging after commit.

    ``client_id`` names the persistent session: a listener restarted with the same id receives
    everything its predecessor did not acknowledge. Each batch (one transaction) is what has
    arrived while the previous one was stored, up to ``batch_max`` messages: small when traffic is
    light (low latency), full under load (high throughput). ``batch_wait_s`` > 0 also waits that
    long after the first message for more. ``on_batch`` (optional) is called after each committed
    and acknowledged batch. With ``process`` the MQTT connection runs in a child process (see
    :mod:`hyperhealth.ingest._mqtt_net`), so packet handling does not compete with storing for
    the interpreter: what ``hyperhealth mqtt-listen`` does.
    """

    def __init__(
        self,
        store: Store,
        url: str,
        *,
        topic: str = DEFAULT_TOPIC,
        client_id: str = DEFAULT_CLIENT_ID,
        batch_max: int = 256,
        batch_wait_s: float = 0.0,
        session_expiry_s: int = 7 * 24 * 3600,
        keepalive_s: int = 30,
        options: IngestOptions | None = None,
        on_batch: BatchHook | None = None,
        process: bool = False,
    ) -> None:
        self.store = store
        self.url = url
        self.host, self.port, self._user, self._password = parse_mqtt_url(url)
        self.topic = topic
        self.client_id = client_id
        self.batch_max = max(1, batch_max)
        self.batch_wait_s = batch_wait_s
        self.session_expiry_s = session_expiry_s
        self.keepalive_s = keepalive_s
        self.options = options
        self.on_batch = on_batch
        self.process = process
        self.stats = ListenerStats()
        #: set once the subscription is acknowledged by the broker
        self.subscribed = threading.Event()
        self._level = device_level(topic)
        self._inbox: queue.Queue[Received] = queue.Queue()
        # connection numbers never repeat across links: a message still queued from an ended
        # connection process must not be acknowledged on the next one's connection
        self._connections = itertools.count(1_000_000, 1_000_000)
        self._stop = threading.Event()
        self._link: _Link | None = None

    # -- running ---------------------------------------------------------------------------------
    def run(self, stop_event: threading.Event | None = None,
            max_messages: int | None = None) -> dict[str, Any]:
        """Listen until ``stop_event`` is set, :meth:`stop` is called or ``max_messages`` are
        stored; returns the statistics. Unacknowledged messages stay with the broker."""
        if stop_event is not None:
            self._stop = stop_event
        started = time.perf_counter()
        # a long-running loop: objects from start-up stay, so keep the collector from rescanning
        # them (full collections otherwise pause a loaded listener for tens of milliseconds)
        gc.freeze()
        link = self._connect()
        try:
            while not self._stop.is_set():
                room = self.batch_max if max_messages is None else \
                    min(self.batch_max, max_messages - self.stats.messages)
                if room <= 0:
                    break
                batch = self._collect(room)
                if batch and not self._store(link, batch):
                    break  # asked to stop while the store was failing
                if not link.alive():
                    log.error("the MQTT connection process ended; starting it again (what was "
                              "not acknowledged is delivered again)")
                    link.close()
                    link = self._connect()
        finally:
            link.close()
            self.stats.elapsed_s = time.perf_counter() - started
        return self.stats.to_dict()

    def stop(self) -> None:
        """Ask :meth:`run` to finish the batch in hand and return."""
        self._stop.set()

    def _connect(self) -> _Link:
        link: _Link = _ChildLink(self) if self.process else _ThreadLink(self)
        self._link = link
        link.start()  # only now may the subscription's confirmation arrive
        return link

    def _config(self) -> dict[str, Any]:
        """What a :class:`~hyperhealth.ingest._mqtt_net.Session` needs to connect."""
        return {"host": self.host, "port": self.port, "user": self._user,
                "password": self._password, "client_id": self.client_id, "topic": self.topic,
                "keepalive_s": self.keepalive_s, "session_expiry_s": self.session_expiry_s,
                "receive_maximum": 4 * self.batch_max,  # room for the next batch while one commits
                "connection_base": next(self._connections)}

    def _collect(self, room: int) -> list[Received]:
        """Up to ``room`` messages: the first within 0.2 s, the rest within ``batch_wait_s``."""
        try:
            batch = [self._inbox.get(timeout=0.2)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.batch_wait_s
        while len(batch) < room:
            try:
                batch.append(self._inbox.get_nowait())
                continue
            except queue.Empty:
                pass
            wait = deadline - time.monotonic()
            if wait <= 0:
                break
            try:
                batch.append(self._inbox.get(timeout=wait))
            except queue.Empty:
                break
        return batch

    def _store(self, link: _Link, batch: list[Received]) -> bool:
        """Store a batch, then acknowledge it; ``False`` if stopped before it could be stored."""
        payloads = [DevicePayload(r.payload, self._device_of(r.topic), r.topic) for r in batch]
        delay = 0.5
        while True:
            t0 = time.perf_counter()
            try:
                report = ingest_payloads(self.store, payloads, self.options)
                self.stats.store_s += time.perf_counter() - t0
                break
            except Exception as exc:  # store down or failing: keep the messages unacknowledged
                self.stats.store_failures += 1
                log.error("could not store %d MQTT messages (%s); they stay unacknowledged, "
                          "retrying in %.1f s", len(batch), exc, delay)
                if self._stop.wait(delay):
                    return False
                delay = min(2 * delay, 30.0)
        link.ack(batch)
        self._count(report, len(batch))
        if self.on_batch is not None:
            try:
                self.on_batch(batch, report)
            except Exception:  # a hook must not stop ingestion
                log.exception("on_batch hook failed")
        return True

    def _count(self, report: IngestReport, n: int) -> None:
        s = self.stats
        s.messages += n
        s.batches += 1
        s.observations += report.added["observations"]
        s.duplicates += report.duplicates["observations"]
        s.redelivered += report.skipped["redelivered messages"]
        s.rejects += report.read["rejected"]
        for rej in report.rejects:
            log.warning("not stored: %s", rej)

    def _device_of(self, topic: str) -> str | None:
        if self._level is None:
            return None
        levels = topic.split("/")
        return levels[self._level] if self._level < len(levels) else None


class _Link(Protocol):
    """Where the listener's MQTT connection runs: acknowledges, and can be closed."""

    def start(self) -> None: ...
    def ack(self, batch: Sequence[Received]) -> None: ...
    def alive(self) -> bool: ...
    def close(self) -> None: ...


class _LocalSession(Session):
    """The connection in this process: messages go straight to the listener's queue."""

    def __init__(self, listener: MqttListener) -> None:
        super().__init__(listener._config())
        self.listener = listener

    def log(self, level: int, text: str) -> None:
        log.log(level, "%s", text)

    def received(self, items: list[tuple[Any, ...]]) -> None:
        put = self.listener._inbox.put
        for item in items:
            put(Received(*item))

    def subscribed(self) -> None:
        self.listener.subscribed.set()


class _ThreadLink:
    """The connection's reading thread in this process."""

    def __init__(self, listener: MqttListener) -> None:
        self.session = _LocalSession(listener)
        try:
            self.session.connect()
        except OSError as exc:
            raise ConfigError(unreachable(self.session.cfg, exc)) from exc

    def start(self) -> None:
        self.session.run_reader()

    def ack(self, batch: Sequence[Received]) -> None:
        self.session.ack([(r.mid, r.qos, r.connection) for r in batch])

    def alive(self) -> bool:
        return True

    def close(self) -> None:
        self.session.stop()


class _ChildLink:
    """The connection in a child process (:mod:`hyperhealth.ingest._mqtt_net`)."""

    def __init__(self, listener: MqttListener) -> None:
        self.listener = listener
        ours, theirs = socket.socketpair()
        with theirs:
            self.proc = subprocess.Popen(
                [sys.executable, str(Path(_mqtt_net.__file__)), str(theirs.fileno())],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
        self.pipe = Connection(ours.detach())
        self.pipe.send(("config", listener._config()))
        first = self.pipe.recv() if self.pipe.poll(30) else ("error", "no answer in 30 s")
        if first[0] != "connected":
            self.close()
            raise ConfigError(f"the MQTT connection process failed: {first[1]}")
        self._reader = threading.Thread(target=self._read, name="hh-mqtt-child", daemon=True)

    def start(self) -> None:
        self._reader.start()

    def _read(self) -> None:
        inbox, lst = self.listener._inbox, self.listener
        while True:
            try:
                msg = self.pipe.recv()
            except (EOFError, OSError):
                return
            if msg[0] == "messages":
                for item in msg[1]:
                    inbox.put(Received(*item))
            elif msg[0] == "subscribed":
                lst.subscribed.set()
            elif msg[0] == "log":
                log.log(msg[1], "%s", msg[2])

    def ack(self, batch: Sequence[Received]) -> None:
        with contextlib.suppress(OSError):  # the process ended: the broker delivers them again
            self.pipe.send(("ack", [(r.mid, r.qos, r.connection) for r in batch]))

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.pipe.send(("stop",))
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        reader = getattr(self, "_reader", None)  # absent if the process never connected
        if reader is not None:
            reader.join(5)  # it reads to the end the process left
        self.pipe.close()


# -- publishing (tests, benchmarks, demo) ---------------------------------------------------------
def publish_readings(
    url: str,
    device_id: str,
    messages: Iterable[Mapping[str, Any] | Sequence[Any] | bytes],
    *,
    topic: str | None = None,
    qos: int = 1,
    client_id: str | None = None,
    timeout_s: float = 60.0,
) -> int:
    """Publish payloads (a message, an array of messages, or JSON bytes) for one device.

    Each item is one MQTT message on ``hyperhealth/<device_id>/readings``; returns how many were
    published (and, with QoS 1, acknowledged by the broker).
    """
    host, port, user, password = parse_mqtt_url(url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2,
                         client_id=client_id or f"hyperhealth-pub-{uuid.uuid4().hex[:10]}",
                         protocol=MQTTProtocolVersion.MQTTv5)
    if user is not None:
        client.username_pw_set(user, password)
    client.max_inflight_messages_set(200)
    try:
        client.connect(host, port, 30)
    except OSError as exc:
        raise ConfigError(f"cannot reach the MQTT broker at {host}:{port} ({exc})") from exc
    client.loop_start()
    try:
        where = topic or f"hyperhealth/{device_id}/readings"
        infos = [client.publish(where, m if isinstance(m, bytes) else orjson.dumps(m), qos=qos)
                 for m in messages]
        deadline = time.monotonic() + timeout_s
        for info in infos:
            info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            if not info.is_published():
                raise TimeoutError(f"the broker at {host}:{port} did not acknowledge all messages "
                                   f"within {timeout_s:g} s")
        return len(infos)
    finally:
        client.disconnect()
        client.loop_stop()
