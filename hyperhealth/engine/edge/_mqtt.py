"""Device messages from a local MQTT broker into the edge agent, acknowledged once kept.

The same topics and payloads as the server's listener (:mod:`hyperhealth.ingest.mqtt`): devices
publish with QoS 1 to ``hyperhealth/<device-id>/readings``; the ``+`` level is the device id the
broker vouches for. Each message is acknowledged by hand only after the edge queue holds it on
disk, on an MQTT 5 persistent session, so a message the edge did not keep is delivered again.
A payload that can never be kept (not JSON) is logged and acknowledged.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from hyperhealth.errors import ConfigError, InputError
from hyperhealth.ingest.mqtt import DEFAULT_TOPIC, device_level, parse_mqtt_url

if TYPE_CHECKING:
    from hyperhealth.engine.edge._agent import EdgeAgent

log = logging.getLogger("hyperhealth.edge")


class EdgeMqtt:
    """Subscribe to device topics on a local broker and hand payloads to the agent."""

    def __init__(self, agent: EdgeAgent, url: str, *, topic: str = DEFAULT_TOPIC,
                 client_id: str | None = None, session_expiry_s: int = 7 * 24 * 3600) -> None:
        self.agent = agent
        self.url = url
        self.host, self.port, self._user, self._password = parse_mqtt_url(url)
        self.topic = topic
        self.client_id = client_id or f"hyperhealth-edge-{agent.edge_id}"
        self.session_expiry_s = session_expiry_s
        self.subscribed = threading.Event()
        self.received = 0
        self._level = device_level(topic)
        self._inbox: queue.Queue[tuple[mqtt.MQTTMessage, int]] = queue.Queue()
        self._connection = 0
        self._stop = threading.Event()
        self._client: mqtt.Client | None = None

    def start(self) -> None:
        """Connect (raises :class:`ConfigError` when the broker cannot be reached)."""
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                        protocol=MQTTProtocolVersion.MQTTv5, manual_ack=True)
        if self._user is not None:
            c.username_pw_set(self._user, self._password)
        c.on_connect = self._on_connect
        c.on_subscribe = self._on_subscribe
        c.on_message = self._on_message
        c.reconnect_delay_set(1, 30)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        try:
            c.connect(self.host, self.port, 30, clean_start=False, properties=props)
        except OSError as exc:
            raise ConfigError(f"cannot reach the local MQTT broker at {self.host}:{self.port} "
                              f"({exc})") from exc
        self._client = c
        c.loop_start()

    def run(self) -> None:
        """Hand received payloads to the agent until :meth:`stop` (call after :meth:`start`)."""
        while not self._stop.is_set():
            try:
                msg, conn = self._inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            device = self._device_of(msg.topic)
            while not self._stop.is_set():
                try:
                    answer = self.agent.accept(bytes(msg.payload), device_id=device,
                                               where=msg.topic)
                    for r in answer.rejects:
                        log.warning("not kept or rejected: %s", r)
                    break
                except InputError as exc:  # never storable: acknowledge, do not loop on it
                    log.warning("%s: %s", msg.topic, exc)
                    break
                except Exception:  # disk trouble: not acknowledged, retried
                    log.exception("could not keep an MQTT message from %s; retrying", msg.topic)
                    self._stop.wait(1.0)
            else:
                return  # stopped before it was kept: the broker delivers it again
            self.received += 1
            if self._client is not None and conn == self._connection:
                self._client.ack(msg.mid, msg.qos)

    def stop(self) -> None:
        self._stop.set()
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: ReasonCode,
                    _p: Any) -> None:
        if rc.is_failure:
            log.error("MQTT broker %s:%s refused the edge: %s", self.host, self.port, rc)
            return
        self._connection += 1
        client.subscribe(self.topic, options=SubscribeOptions(qos=1))

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _m: int, codes: list[ReasonCode],
                      _p: Any) -> None:
        if not any(c.is_failure for c in codes):
            self.subscribed.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self._inbox.put((msg, self._connection))

    def _device_of(self, topic: str) -> str | None:
        if self._level is None:
            return None
        levels = topic.split("/")
        return levels[self._level] if self._level < len(levels) else None
