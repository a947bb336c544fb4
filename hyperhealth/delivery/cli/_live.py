"""Monitoring beside an ingest command: the engine on every commit, the notification outbox."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hyperhealth.delivery.notify import Dispatcher
from hyperhealth.engine import LiveMonitor
from hyperhealth.store import Store


@contextmanager
def monitoring(store: Store, mqtt_url: str | None, *,
               save_every_s: float = 1.0,
               background: bool = False) -> Iterator[LiveMonitor]:
    """Run the detectors on what is stored and deliver the alerts they raise."""
    dispatcher = Dispatcher(store, mqtt_url=mqtt_url)
    dispatcher.start(interval_s=1.0)
    try:
        with LiveMonitor(store, save_every_s=save_every_s, background=background) as live:
            live.engine.on_notifications = dispatcher.wake
            yield live
    finally:
        dispatcher.stop()
