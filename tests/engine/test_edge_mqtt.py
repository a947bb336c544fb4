"""Device messages from a local Mosquitto broker into the edge, acknowledged once kept."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from hyperhealth.engine.edge import EdgeService, ForwardConfig, parse_map
from hyperhealth.ingest.mqtt import publish_readings
from hyperhealth.store import Store
from tests.engine.edge_helpers import LOW, MAP, LiveServer, add_persons, cgm, wait_for

URL = "mqtt://127.0.0.1:1883"
pytestmark = pytest.mark.mqtt


@pytest.fixture(autouse=True)
def _broker(caplog: pytest.LogCaptureFixture) -> None:
    from tests.conftest import need_service

    need_service("Mosquitto", "127.0.0.1", 1883)
    caplog.set_level("ERROR", logger="hyperhealth.edge")


def test_mqtt_to_edge_to_server(sqlite_store: Store, tmp_path: Path) -> None:
    add_persons(sqlite_store)
    prefix = f"hhtest/{uuid.uuid4().hex[:10]}"
    server = LiveServer(sqlite_store).start()
    folder = tmp_path / "edge"

    def service() -> EdgeService:
        return EdgeService(folder, server.url, edge_map=parse_map(MAP), port=None,
                           mqtt_url=URL, mqtt_topic=f"{prefix}/+/readings",
                           mqtt_client_id=f"hh-edge-test-{prefix[-10:]}", mqtt_session_expiry_s=60,
                           forward=ForwardConfig(initial_s=0.05, max_s=0.5, idle_s=0.2))

    svc = service().start()
    try:
        assert svc._mqtt.subscribed.wait(10)
        msgs = cgm(LOW)
        # the first half while the edge runs; a spoofed message (another device's topic)
        publish_readings(URL, "cgm-a", msgs[:12], topic=f"{prefix}/cgm-a/readings")
        publish_readings(URL, "cgm-b", [msgs[12]], topic=f"{prefix}/cgm-b/readings")
        wait_for(lambda: svc._mqtt.received == 13, 30, "the edge to take 13 MQTT messages")
        svc.stop()
        # the rest while the edge is down: the broker keeps them for the edge's session
        publish_readings(URL, "cgm-a", msgs[12:], topic=f"{prefix}/cgm-a/readings")
        svc = service().start()
        wait_for(lambda: len(sqlite_store.series("p-edge-a", "99504-3")) == len(LOW), 60,
                 "all readings to reach the server")
        wait_for(lambda: svc.agent.queue.counts()["alerts"] == {"sent": 2}, 30,
                 "the edge's alerts to reach the server")
        states = svc.agent.queue.message_states()
    finally:
        svc.stop()
        server.stop()
    assert len(states) == len(LOW)  # the spoofed message was not kept
    assert ("cgm-b", msgs[12]["message_id"]) not in states
