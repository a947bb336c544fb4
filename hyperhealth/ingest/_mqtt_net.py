"""The MQTT connection of a listener, in a process of its own (``MqttListener(process=True)``).

paho's client reads, decodes and acknowledges every packet in Python: about 80 µs a message on
the 2-core reference machine, a third of what the listener spends per message, all of it
holding the interpreter lock that validation, storing and the detectors need too. In a child
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
from multiprocessing.connection import Connection
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions


class _Link:
    """The child's side: a paho client whose callbacks write to the parent."""

    def __init__(self, pipe: Connection, cfg: dict[str, Any]) -> None:
        self.pipe, self.cfg = pipe, cfg
        # which connection delivered a message (acks only go back on it)
        self.connection: int = cfg["connection_base"]
        self.closing = False
        self._send_lock = threading.Lock()
        self._ready = threading.Condition()
        self._inbox: list[tuple[Any, ...]] = []

    def send(self, msg: tuple[Any, ...]) -> None:
        with self._send_lock:
            self.pipe.send(msg)

    def log(self, level: int, text: str) -> None:
        self.send(("log", level, text))

    # -- paho callbacks (its network thread) -----------------------------------------------
    def on_connect(self, client: mqtt.Client, _u: Any, flags: Any, rc: ReasonCode,
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

    def on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, codes: list[ReasonCode],
                     _p: Any) -> None:
        if any(code.is_failure for code in codes):
            self.log(logging.ERROR, f"the broker refused the subscription to "
                                    f"{self.cfg['topic']}: {codes}")
            return
        self.send(("subscribed",))

    def on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._ready:
            self._inbox.append((msg.topic, bytes(msg.payload), msg.mid, msg.qos, time.time(),
                                self.connection))
            self._ready.notify()

    def on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        if not self.closing:
            self.log(logging.WARNING, f"lost the MQTT broker ({rc}); reconnecting")

    # -- the child's own threads -----------------------------------------------------------
    def forward(self) -> None:
        """Pass what arrived to the parent, all that is waiting at once."""
        while True:
            with self._ready:
                while not self._inbox and not self.closing:
                    self._ready.wait()
                if self.closing:
                    return
                items, self._inbox = self._inbox, []
            self.send(("messages", items))

    def stop_forwarding(self) -> None:
        with self._ready:
            self.closing = True
            self._ready.notify()


def _client(link: _Link) -> mqtt.Client:
    c = link.cfg
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=c["client_id"],
                         protocol=MQTTProtocolVersion.MQTTv5, manual_ack=True)
    if c["user"] is not None:
        client.username_pw_set(c["user"], c["password"])
    client.on_connect = link.on_connect
    client.on_subscribe = link.on_subscribe
    client.on_message = link.on_message
    client.on_disconnect = link.on_disconnect
    client.reconnect_delay_set(1, 10)
    return client


def connect_properties(session_expiry_s: int, receive_maximum: int) -> Properties:
    """CONNECT properties: keep the session across restarts; room for the next batch."""
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = session_expiry_s
    props.ReceiveMaximum = min(65535, receive_maximum)
    return props


def serve(pipe: Connection) -> None:
    """Run the connection until the parent says stop or goes away."""
    kind, cfg = pipe.recv()
    assert kind == "config"
    link = _Link(pipe, cfg)
    client = _client(link)
    try:
        client.connect(cfg["host"], cfg["port"], cfg["keepalive_s"], clean_start=False,
                       properties=connect_properties(cfg["session_expiry_s"],
                                                     cfg["receive_maximum"]))
    except OSError as exc:
        link.send(("error", f"cannot reach the MQTT broker at {cfg['host']}:{cfg['port']} "
                            f"({exc}); start it or set HYPERHEALTH_MQTT_URL"))
        return
    link.send(("connected",))
    forwarder = threading.Thread(target=link.forward, name="hh-mqtt-forward", daemon=True)
    forwarder.start()
    client.loop_start()
    try:
        while True:
            try:
                msg = pipe.recv()
            except (EOFError, OSError):
                break  # the parent is gone: leave unacknowledged messages with the broker
            if msg[0] == "stop":
                break
            current = link.connection
            for mid, qos, connection in msg[1]:
                # an ack on a later connection could hit another message that reuses the
                # packet id; the broker redelivers these and the message-id claim skips them
                if connection == current:
                    client.ack(mid, qos)
    finally:
        link.stop_forwarding()
        client.disconnect()
        client.loop_stop()
        forwarder.join(5)


if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])))
