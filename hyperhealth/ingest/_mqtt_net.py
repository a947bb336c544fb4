"""The MQTT connection of a listener, in a process of its own (``MqttListener(process=True)``).

paho's client reads, decodes and acknowledges every packet in Python: 80-120 µs a message on
the 2-core reference machine, about a third of what the listener spends per message, all of
it holding the interpreter lock that validation, storing and the detectors need too. In a child
process it runs on another core. The child only moves messages: it passes each run of received
messages to the parent and acknowledges what the parent reports stored. It never touches the
store, so "acknowledged only after commit" still holds. It exits when the parent's end of the
socket pair closes (the listener stopped, or was killed), so no orphan keeps the session.

It runs as a script (``python _mqtt_net.py FD``) and imports nothing from the package, so it
starts in a fraction of a second. Messages over the socket pair (pickled tuples, trusted: both
ends are ours):

* parent -> child: ``("config", dict)`` first, then ``("ack", [(mid, qos, connection), ...])``
  and ``("stop",)``;
* child -> parent: ``("connected",)`` or ``("error", text)`` first, then ``("subscribed",)``,
  ``("messages", [(topic, payload, mid, qos, received, connection), ...])`` and
  ``("log", level, text)``.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

PACE_S = 0.002  # the child's shortest interval between two sends of messages to the parent


class Session:
    """A listener's MQTT connection: paho's client and its callbacks (on paho's network thread).

    Subclasses say where received messages, log lines and the subscription's confirmation go:
    to the listener's queue in the same process, or over the socket pair to the parent.
    """

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        # which connection delivered a message (acks only go back on it)
        self.connection: int = cfg["connection_base"]
        self.closing = False
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cfg["client_id"],
                                  protocol=MQTTProtocolVersion.MQTTv5, manual_ack=True)
        if cfg["user"] is not None:
            self.client.username_pw_set(cfg["user"], cfg["password"])
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.client.reconnect_delay_set(1, 10)

    # -- where things go (subclasses) ------------------------------------------------------
    def log(self, level: int, text: str) -> None:
        raise NotImplementedError

    def received(self, item: tuple[Any, ...]) -> None:
        """``(topic, payload, mid, qos, received, connection)`` of one message."""
        raise NotImplementedError

    def subscribed(self) -> None:
        raise NotImplementedError

    # -- the connection --------------------------------------------------------------------
    def start(self) -> None:
        """Connect (``OSError`` if the broker cannot be reached) and run paho's loop thread."""
        self.connect()
        self.client.loop_start()

    def connect(self) -> None:
        """Open the connection; callbacks only run once paho's loop thread runs."""
        c = self.cfg
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = c["session_expiry_s"]  # keep the session across restarts
        props.ReceiveMaximum = min(65535, c["receive_maximum"])  # room for the next batch
        self.client.connect(c["host"], c["port"], c["keepalive_s"], clean_start=False,
                            properties=props)

    def ack(self, items: Sequence[tuple[int, int, int]]) -> None:
        """Acknowledge ``(mid, qos, connection)`` of stored messages."""
        current = self.connection
        for mid, qos, connection in items:
            # an ack on a later connection could hit another message that reuses the packet id;
            # the broker redelivers these and the message-id claim turns them into no-ops
            if connection == current:
                self.client.ack(mid, qos)

    def stop(self) -> None:
        self.closing = True
        self.client.disconnect()
        self.client.loop_stop()

    # -- paho callbacks --------------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, rc: ReasonCode,
                    _p: Any) -> None:
        c = self.cfg
        if rc.is_failure:
            self.log(logging.ERROR, f"MQTT broker {c['host']}:{c['port']} refused the "
                                    f"connection: {rc}")
            return
        self.connection += 1
        self.log(logging.INFO, f"connected to {c['host']}:{c['port']} as {c['client_id']} "
                               f"(session {'resumed' if flags.session_present else 'new'})")
        client.subscribe(c["topic"], options=SubscribeOptions(qos=1))

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, codes: list[ReasonCode],
                      _p: Any) -> None:
        if any(code.is_failure for code in codes):
            self.log(logging.ERROR, f"the broker refused the subscription to "
                                    f"{self.cfg['topic']}: {codes}")
            return
        self.subscribed()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self.received((msg.topic, bytes(msg.payload), msg.mid, msg.qos, time.time(),
                       self.connection))

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        if not self.closing:
            self.log(logging.WARNING, f"lost the MQTT broker ({rc}); reconnecting")


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
        self.send(("connected",))  # before any callback can write to the parent
        self.client.loop_start()

    def send(self, msg: tuple[Any, ...]) -> None:
        with self._send_lock:
            self.pipe.send(msg)

    def log(self, level: int, text: str) -> None:
        self.send(("log", level, text))

    def subscribed(self) -> None:
        self.send(("subscribed",))

    def received(self, item: tuple[Any, ...]) -> None:
        with self._ready:
            self._inbox.append(item)
            if len(self._inbox) == 1:  # the forwarder only waits while the inbox is empty
                self._ready.notify()

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
    return (f"cannot reach the MQTT broker at {cfg['host']}:{cfg['port']} ({exc}); start it "
            "or set HYPERHEALTH_MQTT_URL")


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
