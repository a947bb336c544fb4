"""The running edge: agent, local HTTP endpoint, optional MQTT subscriber and the forwarder."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from hyperhealth.actions.alerts._registry import RuleConfig
from hyperhealth.engine.edge._agent import AlertHook, EdgeAgent
from hyperhealth.engine.edge._forward import ForwardConfig, Forwarder
from hyperhealth.engine.edge._map import EdgeMap
from hyperhealth.errors import ConfigError

log = logging.getLogger("hyperhealth.edge")


class EdgeService:
    """Start everything with :meth:`start`, stop with :meth:`stop` (also a context manager).

    ``port`` 0 picks a free port (read :attr:`port` after start); ``port=None`` serves no HTTP
    (MQTT only). ``server`` is the hyperhealth server's base URL. The MQTT session (client id
    ``hyperhealth-edge-<edge id>`` unless given) outlives a stop for ``mqtt_session_expiry_s``:
    messages published meanwhile are delivered when the edge is back.
    """

    def __init__(
        self,
        data_dir: Path,
        server: str,
        *,
        edge_map: EdgeMap | None = None,
        edge_id: str | None = None,
        host: str = "127.0.0.1",
        port: int | None = 8787,
        mqtt_url: str | None = None,
        mqtt_topic: str | None = None,
        mqtt_client_id: str | None = None,
        mqtt_session_expiry_s: int = 7 * 24 * 3600,
        forward: ForwardConfig | None = None,
        rules: RuleConfig | None = None,
        on_alert: AlertHook | None = None,
    ) -> None:
        self.agent = EdgeAgent(data_dir, edge_map=edge_map, edge_id=edge_id, rules=rules,
                               on_alert=on_alert)
        self.forwarder = Forwarder(self.agent.queue, self.agent.edge_id, server,
                                   config=forward, wake=self.agent.changed,
                                   housekeeping=self.agent.prune)
        self.host, self.port = host, port
        self.mqtt_url, self.mqtt_topic = mqtt_url, mqtt_topic
        self.mqtt_client_id, self.mqtt_session_expiry_s = mqtt_client_id, mqtt_session_expiry_s
        self._threads: list[threading.Thread] = []
        self._server: Any = None
        self._mqtt: Any = None

    def start(self) -> EdgeService:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self._spawn("edge-forwarder", self.forwarder.run)
        if self.mqtt_url:
            from hyperhealth.engine.edge._mqtt import EdgeMqtt
            from hyperhealth.ingest.mqtt import DEFAULT_TOPIC

            self._mqtt = EdgeMqtt(self.agent, self.mqtt_url, topic=self.mqtt_topic or DEFAULT_TOPIC,
                                  client_id=self.mqtt_client_id,
                                  session_expiry_s=self.mqtt_session_expiry_s)
            self._mqtt.start()
            self._spawn("edge-mqtt", self._mqtt.run)
        if self.port is not None:
            import uvicorn

            from hyperhealth.engine.edge._http import create_edge_app

            config = uvicorn.Config(create_edge_app(self.agent, self.forwarder), host=self.host,
                                    port=self.port, log_level="warning", lifespan="off")
            self._server = uvicorn.Server(config)
            self._spawn("edge-http", self._server.run)
            deadline = time.monotonic() + 20
            while not self._server.started:
                if time.monotonic() > deadline or not self._threads[-1].is_alive():
                    raise ConfigError(f"the edge could not listen on {self.host}:{self.port} "
                                      "(port in use?); choose another with --port")
                time.sleep(0.02)
            if self.port == 0:
                self.port = self._server.servers[0].sockets[0].getsockname()[1]

    def _spawn(self, name: str, fn: Any) -> None:
        th = threading.Thread(target=fn, name=name, daemon=True)
        th.start()
        self._threads.append(th)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        """Stop taking messages, then stop forwarding; everything kept stays on disk."""
        if self._server is not None:
            self._server.should_exit = True
        if self._mqtt is not None:
            self._mqtt.stop()
        self.forwarder.stop()
        for th in self._threads:
            th.join(timeout=30)
        self._threads.clear()
        self.forwarder.close()
        self.agent.close()

    def __enter__(self) -> EdgeService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
