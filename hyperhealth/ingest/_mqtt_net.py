"""The MQTT connection of a listener: a lean MQTT 5 subscriber, in a process of its own
(``MqttListener(process=True)``) or in a thread of the listener's.

A listener only subscribes and acknowledges QoS 1 messages by hand after they are stored, so
it needs a small part of MQTT 5: CONNECT (session expiry, receive maximum), SUBSCRIBE with
maximum QoS 1 (the broker then never sends QoS 2), PUBLISH in, PUBACK out, PINGREQ, DISCONNECT.
This module speaks that part on a plain socket (OASIS MQTT Version 5.0, sections 3.1-3.14).
paho's client, which the listener used before, read each packet with three or more system
calls and sent each acknowledgement with its own write and wake-up: 80-120 µs of CPU a message
on the 2-core reference machine, 40 % of a core at 5,000 messages/s, which the database and the
detectors then did not have (an extra 40 % load raised the latency benchmark's p99 on
PostgreSQL from 108-133 to 193-235 ms). Here one ``recv`` takes whatever has arrived and
every complete packet in it is decoded in one pass, and a batch's acknowledgements leave in one
write. paho still publishes (alerts, tests), where it is not on a hot path.

In a child process the connection runs on the other core. The child only moves messages: it
passes each run of received messages to the parent and acknowledges what the parent reports
stored. It never touches the store, so "acknowledged only after commit" still holds. It exits
when the parent's end of the socket pair closes (the listener stopped, or was killed), so no
orphan keeps the session.

It runs as a script (``python _mqtt_net.py FD``) and imports nothing from the package, so it
starts in a fraction of a second. Messages over the socket pair (pickled tuples, trusted: both
ends are ours):

* parent -> child: ``("config", dict)`` first, then ``("ack", [(mid, qos, connection), ...])``
  and ``("stop",)``;
* child -> parent: ``("connected",)`` or ``("error", text)`` first, then ``("subscribed",)``,
  ``("messages", [(topic, payload, mid, qos, received, connection), ...])`` and
  ``("log", level, text)``.

>>> encode_length(321), _varint(b"\\xc1\\x02", 0)
(b'\\xc1\\x02', (321, 2))
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import sys
import threading
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

PACE_S = 0.002  # the child's shortest interval between two sends of messages to the parent
RECONNECT_S = (1.0, 10.0)  # first and longest wait before connecting again after a loss

# reason codes a broker answers CONNECT, SUBSCRIBE or DISCONNECT with (MQTT 5.0, 2.4)
_REASONS = {
    0x04: "disconnect with will message", 0x80: "unspecified error",
    0x81: "malformed packet", 0x82: "protocol error", 0x83: "implementation specific error",
    0x84: "unsupported protocol version", 0x85: "client identifier not valid",
    0x86: "bad user name or password", 0x87: "not authorized", 0x88: "server unavailable",
    0x89: "server busy", 0x8A: "banned", 0x8B: "server shutting down",
    0x8C: "bad authentication method", 0x8D: "keep alive timeout", 0x8E: "session taken over",
    0x8F: "topic filter invalid", 0x91: "packet identifier in use", 0x93: "receive maximum "
    "exceeded", 0x95: "packet too large", 0x97: "quota exceeded", 0x9C: "use another server",
    0x9D: "server moved", 0x9E: "shared subscriptions not supported",
    0x9F: "connection rate exceeded", 0xA1: "subscription identifiers not supported",
    0xA2: "wildcard subscriptions not supported"}
_PINGREQ, _DISCONNECT = b"\xc0\x00", b"\xe0\x00"


class Refused(OSError):
    """The broker answered CONNECT with a failure reason code."""


class ProtocolError(OSError):
    """The broker sent something this subscriber cannot read: the connection is dropped."""


def reason(code: int) -> str:
    return f"{_REASONS.get(code, 'reason')} (0x{code:02X})"


def encode_length(n: int) -> bytes:
    """MQTT's variable byte integer (the remaining length, property lengths)."""
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (128 if n else 0))
        if not n:
            return bytes(out)


def _varint(buf: bytes | bytearray, i: int) -> tuple[int, int] | None:
    """``(value, index after it)`` of the variable byte integer at ``i``; ``None`` if the
    buffer ends inside it."""
    value, shift = 0, 0
    while i < len(buf):
        b = buf[i]
        value |= (b & 127) << shift
        i += 1
        if b < 128:
            return value, i
        shift += 7
        if shift > 21:
            raise ProtocolError("a length of more than four bytes")
    return None


def _text(s: str) -> bytes:
    b = s.encode()
    return struct.pack("!H", len(b)) + b


def _connect_packet(c: dict[str, Any]) -> bytes:
    flags = 0  # clean start off: resume the session the client id names
    tail = _text(c["client_id"])
    if c["user"] is not None:
        flags |= 0x80
        tail += _text(c["user"])
        if c["password"] is not None:
            flags |= 0x40
            tail += _text(c["password"])
    props = (b"\x11" + struct.pack("!I", c["session_expiry_s"])  # keep it across restarts
             + b"\x21" + struct.pack("!H", min(65535, c["receive_maximum"])))  # room for a batch
    body = (b"\x00\x04MQTT\x05" + bytes([flags]) + struct.pack("!H", c["keepalive_s"])
            + encode_length(len(props)) + props + tail)
    return b"\x10" + encode_length(len(body)) + body


def _subscribe_packet(topic: str) -> bytes:
    body = b"\x00\x01\x00" + _text(topic) + b"\x01"  # packet id 1, no properties, max QoS 1
    return b"\x82" + encode_length(len(body)) + body


class Session:
    """A listener's MQTT connection and its reading thread, which reconnects after a loss.

    Subclasses say where received messages, log lines and the subscription's confirmation go:
    to the listener's queue in the same process, or over the socket pair to the parent.
    """

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        # which connection delivered a message (acks only go back on it)
        self.connection: int = cfg["connection_base"]
        self.closing = False
        self._stopped = threading.Event()  # wakes the reader waiting to reconnect
        self._sock: socket.socket | None = None
        self._buf = bytearray()
        self._write_lock = threading.Lock()
        self._last_write = 0.0
        self._thread: threading.Thread | None = None
        self._last_read = 0.0
        self._resumed = False

    # -- where things go (subclasses) ------------------------------------------------------
    def log(self, level: int, text: str) -> None:
        raise NotImplementedError

    def received(self, items: list[tuple[Any, ...]]) -> None:
        """``(topic, payload, mid, qos, received, connection)`` of each message that arrived."""
        raise NotImplementedError

    def subscribed(self) -> None:
        raise NotImplementedError

    # -- the connection --------------------------------------------------------------------
    def run_reader(self) -> None:
        self._thread = threading.Thread(target=self._read_loop, name="hh-mqtt-read",
                                        daemon=True)
        self._thread.start()

    def connect(self) -> None:
        """Open the connection, resume the session and subscribe (confirmed on the reader)."""
        c = self.cfg
        sock = socket.create_connection((c["host"], c["port"]), timeout=10)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(_connect_packet(c))
            self._buf = bytearray()
            while True:  # the CONNACK; messages of a resumed session may follow in the same read
                packet = self._next_packet()
                if packet is not None:
                    break
                chunk = sock.recv(65536)
                if not chunk:
                    raise ProtocolError("the broker closed the connection before answering")
                self._buf += chunk
            head, body = packet
            if head >> 4 != 2 or len(body) < 2:
                raise ProtocolError(f"expected CONNACK, got packet type {head >> 4}")
            if body[1] >= 0x80:
                raise Refused(f"the broker refused the connection: {reason(body[1])}")
            sock.settimeout(max(0.5, c["keepalive_s"] / 2))
            self._sock, self._last_write, self._last_read = sock, time.monotonic(), \
                time.monotonic()
            self.connection += 1
            self._resumed = bool(body[0] & 1)  # logged by the reader (the child's parent
            self._write(_subscribe_packet(c["topic"]))  # must hear "connected" first)
        except BaseException:
            sock.close()
            raise

    def ack(self, items: Sequence[tuple[int, int, int]]) -> None:
        """Acknowledge ``(mid, qos, connection)`` of stored messages, in one write."""
        current = self.connection
        # an ack on a later connection could hit another message that reuses the packet id;
        # the broker redelivers these and the message-id claim turns them into no-ops
        out = b"".join(b"\x40\x02" + mid.to_bytes(2, "big")
                       for mid, qos, connection in items if connection == current and qos == 1)
        if out:  # if the connection is lost, the reader reconnects and they come again
            with contextlib.suppress(OSError):
                self._write(out)

    def stop(self) -> None:
        self.closing = True
        self._stopped.set()
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                self._write(_DISCONNECT)  # normal disconnection: the session stays
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        if sock is not None:
            sock.close()

    # -- inside ----------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        sock = self._sock
        if sock is None:
            raise OSError("not connected")
        with self._write_lock:
            sock.sendall(data)
            self._last_write = time.monotonic()

    def _next_packet(self) -> tuple[int, bytes] | None:
        """The first complete packet in the buffer, removed from it (``None``: incomplete)."""
        buf = self._buf
        if len(buf) < 2:
            return None
        got = _varint(buf, 1)
        if got is None or got[1] + got[0] > len(buf):
            return None
        n, i = got
        packet = (buf[0], bytes(buf[i:i + n]))
        del buf[:i + n]
        return packet

    def _read_loop(self) -> None:
        wait = RECONNECT_S[0]
        while not self.closing:
            try:
                self._serve()
            except OSError as exc:
                if self.closing:
                    return
                self.log(logging.WARNING, f"lost the MQTT broker ({exc or type(exc).__name__});"
                                          f" reconnecting")
            if self._sock is not None:
                self._sock.close()
                self._sock = None
            while not self.closing:  # again, waiting longer after each failure
                if self._stopped.wait(wait):
                    return
                try:
                    self.connect()
                    wait = RECONNECT_S[0]
                    break
                except OSError as exc:
                    wait = min(2 * wait, RECONNECT_S[1])
                    self.log(logging.WARNING, f"cannot reconnect to the MQTT broker ({exc}); "
                                              f"trying again in {wait:g} s")

    def _serve(self) -> None:
        """Read and decode packets until the connection fails (``OSError``) or closes."""
        c = self.cfg
        sock, keepalive = self._sock, c["keepalive_s"]
        assert sock is not None
        self.log(logging.INFO, f"connected to {c['host']}:{c['port']} as {c['client_id']} "
                               f"(session {'resumed' if self._resumed else 'new'})")
        buf = self._buf
        while not self.closing:
            try:
                chunk = sock.recv(262144)
                if not chunk:
                    raise ProtocolError("the broker closed the connection")
                buf += chunk
                now = time.monotonic()
                self._last_read = now
            except TimeoutError as exc:
                now = time.monotonic()
                if now - self._last_read > 1.5 * keepalive:  # not even a PINGRESP
                    raise ProtocolError(f"no answer from the broker in {1.5 * keepalive:g} s"
                                        ) from exc
            if now - self._last_write >= keepalive / 2:
                self._write(_PINGREQ)
            if buf:
                self._decode(buf)

    def _decode(self, buf: bytearray) -> None:
        """Hand on every complete packet at the start of ``buf`` and remove them."""
        messages: list[tuple[Any, ...]] = []
        arrived, connection = time.time(), self.connection
        pos, end_buf = 0, len(buf)
        try:
            while pos + 2 <= end_buf:
                head = buf[pos]
                got = _varint(buf, pos + 1)
                if got is None:
                    break
                n, i = got
                end = i + n
                if end > end_buf:
                    break
                kind = head >> 4
                if kind == 3:  # PUBLISH
                    qos = (head >> 1) & 3
                    tl = (buf[i] << 8) | buf[i + 1]
                    topic = buf[i + 2:i + 2 + tl].decode()
                    j = i + 2 + tl
                    mid = 0
                    if qos:
                        mid = (buf[j] << 8) | buf[j + 1]
                        j += 2
                    props = _varint(buf, j)
                    if props is None or props[1] + props[0] > end:
                        raise ProtocolError("a PUBLISH with a malformed properties length")
                    messages.append((topic, bytes(buf[props[1] + props[0]:end]), mid, qos,
                                     arrived, connection))
                else:
                    self._control(kind, bytes(buf[i:end]))
                pos = end
        finally:
            del buf[:pos]
            if messages:
                self.received(messages)

    def _control(self, kind: int, body: bytes) -> None:
        if kind == 9:  # SUBACK: packet id, properties, one reason code per filter
            props = _varint(body, 2)
            codes = body[props[0] + props[1]:] if props else b"\x80"
            if not codes or any(code >= 0x80 for code in codes):
                self.log(logging.ERROR, f"the broker refused the subscription to "
                                        f"{self.cfg['topic']}: "
                                        f"{reason(codes[0] if codes else 0x80)}")
            else:
                self.subscribed()
        elif kind == 14:  # DISCONNECT from the broker
            raise ProtocolError(f"the broker disconnected: {reason(body[0] if body else 0)}")
        elif kind != 13:  # PINGRESP needs nothing; anything else is not for a subscriber
            raise ProtocolError(f"unexpected packet type {kind}")


class _ChildSession(Session):
    """The child's side: what arrives goes to the parent, all that is waiting at once."""

    def __init__(self, pipe: Connection, cfg: dict[str, Any]) -> None:
        super().__init__(cfg)
        self.pipe = pipe
        self._send_lock = threading.Lock()
        self._ready = threading.Condition()
        self._inbox: list[tuple[Any, ...]] = []

    def start(self) -> None:
        self.connect()
        self.send(("connected",))  # before the reader can write to the parent
        self.run_reader()

    def send(self, msg: tuple[Any, ...]) -> None:
        with self._send_lock:
            self.pipe.send(msg)

    def log(self, level: int, text: str) -> None:
        self.send(("log", level, text))

    def subscribed(self) -> None:
        self.send(("subscribed",))

    def received(self, items: list[tuple[Any, ...]]) -> None:
        with self._ready:
            if not self._inbox:  # the forwarder only waits while the inbox is empty
                self._ready.notify()
            self._inbox += items

    def forward(self) -> None:
        """Pass what arrived to the parent (the child's own thread), at most one send per
        ``PACE_S``: each send wakes a thread in the parent that needs the interpreter lock the
        listener stores with. Unpaced, a loaded run sent 21,000 times for 40,000 messages; a
        message after a quiet spell still goes at once."""
        last = 0.0
        while True:
            with self._ready:
                while not self._inbox and not self.closing:
                    self._ready.wait()
                if self.closing:
                    return
            pause = last + PACE_S - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            with self._ready:
                items, self._inbox = self._inbox, []
            last = time.monotonic()
            self.send(("messages", items))

    def stop(self) -> None:
        with self._ready:
            self.closing = True
            self._ready.notify()
        super().stop()


def unreachable(cfg: dict[str, Any], exc: OSError) -> str:
    """What to tell the user when the first connection fails."""
    where = f"{cfg['host']}:{cfg['port']}"
    if isinstance(exc, Refused):
        return (f"the MQTT broker at {where} refused the connection as {cfg['client_id']!r}: "
                f"{str(exc).rpartition(': ')[2]}; check the client id, user name and password")
    return f"cannot reach the MQTT broker at {where} ({exc}); start it or set HYPERHEALTH_MQTT_URL"



def serve(pipe: Connection) -> None:
    """Run the connection until the parent says stop or goes away."""
    kind, cfg = pipe.recv()
    assert kind == "config"
    session = _ChildSession(pipe, cfg)
    try:
        session.start()
    except OSError as exc:
        session.send(("error", unreachable(cfg, exc)))
        return
    forwarder = threading.Thread(target=session.forward, name="hh-mqtt-forward", daemon=True)
    forwarder.start()
    try:
        while True:
            try:
                msg = pipe.recv()
            except (EOFError, OSError):
                break  # the parent is gone: leave unacknowledged messages with the broker
            if msg[0] == "stop":
                break
            session.ack(msg[1])
    finally:
        session.stop()
        forwarder.join(5)


if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])))
