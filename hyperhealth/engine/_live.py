"""Live monitoring beside an ingest process: the engine on every commit, a clock for ticks."""

from __future__ import annotations

import logging
import threading
from contextlib import ExitStack

from hyperhealth.actions.alerts import RuleConfig
from hyperhealth.engine._engine import Engine
from hyperhealth.store import Store

log = logging.getLogger("hyperhealth.engine")


class LiveMonitor:
    """Catch up on stored readings, then process each committed batch and tick every
    ``tick_s`` seconds (silence rules, escalation); on SQLite, checkpoint the write-ahead log
    in the background meanwhile (:meth:`Store.checkpointing`). Use as a context manager."""

    def __init__(self, store: Store, config: RuleConfig | None = None, *,
                 tick_s: float = 60.0, save_every_s: float = 1.0,
                 background: bool = False) -> None:
        self.engine = Engine(store, config, save_every_s=save_every_s)
        self.background = background  # see Engine.attach
        self.tick_s = tick_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LiveMonitor:
        self._stack = ExitStack()
        self._stack.enter_context(self.engine.store.checkpointing())
        try:
            self.engine.attach(background=self.background)
        except BaseException:
            self._stack.close()
            raise
        self._thread = threading.Thread(target=self._ticks, name="hh-engine-tick", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.engine.detach()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._stack.close()

    def _ticks(self) -> None:
        while not self._stop.wait(self.tick_s):
            try:
                self.engine.tick()
            except Exception:  # keep ticking; the next tick retries
                log.exception("engine tick failed")
