"""Forwarding the edge's queue to the server: alerts first, then urgent messages, then the rest.

Each step sends one gzip-compressed batch:

1. alerts raised at the edge, to ``POST /api/edge/alerts`` (each with its idempotency key);
2. else messages that carry readings an urgent rule reads (glucose, blood pressure, SpO2), in
   arrival order, to ``POST /api/ingest/device``;
3. else the other messages, in arrival order.

Messages are sent exactly as kept; their ``(device, message_id)`` is the idempotency key the
server claims in the same transaction that stores the readings, so a batch sent again after a
timeout or a lost answer adds nothing. A batch is marked sent only after the server's answer.

The server unreachable (connection refused, timeout, 5xx, 408, 429): the batch stays queued and
the forwarder waits with exponential back-off (``initial_s`` doubling up to ``max_s``, with
jitter so many edges do not return in step), resetting after a success. 413 halves the batch;
415, or 400 to a compressed body, turns compression off for that server; any other 4xx refuses
the batch for good (kept with the server's answer, logged). An alert endpoint that is missing or
failing (404, 5xx) holds back only the alerts, with its own back-off: messages keep flowing and
the server merges the alert when it comes.
"""

from __future__ import annotations

import gzip
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from hyperhealth.engine.edge._queue import EdgeQueue, Queued, QueuedAlert, now_us

log = logging.getLogger("hyperhealth.edge")

DEVICE_PATH = "/api/ingest/device"
ALERTS_PATH = "/api/edge/alerts"


@dataclass(frozen=True, slots=True)
class ForwardConfig:
    """How the forwarder batches, compresses and backs off. Product settings."""

    batch_messages: int = 500
    batch_bytes: int = 4 * 1024 * 1024  # uncompressed; the server's default limit is 10 MB
    gzip_level: int = 6
    timeout_s: float = 30.0
    initial_s: float = 1.0  # first wait after a failure
    max_s: float = 300.0  # longest wait between attempts
    jitter: float = 0.2  # waits are stretched by up to this fraction, at random
    idle_s: float = 5.0  # nothing to send: look again after this (or when woken)
    retain_s: float = 7 * 24 * 3600.0  # sent messages and alerts are kept this long


#: environment variable holding the bearer token the edge presents to the server
TOKEN_ENV = "HYPERHEALTH_EDGE_TOKEN"

class Unreachable(Exception):
    """The server did not take a batch and may later (down, timing out, overloaded)."""


@dataclass
class ForwardStats:
    batches: int = 0
    messages: int = 0  # messages the server confirmed
    redelivered: int = 0  # of those, ones it had already (a replay after a lost answer)
    alerts: int = 0
    refused_messages: int = 0
    refused_alerts: int = 0
    failures: int = 0  # attempts that failed and will be retried
    consecutive_failures: int = 0
    raw_bytes: int = 0
    sent_bytes: int = 0
    last_error: str = ""
    last_success_us: int | None = None
    outcomes: dict[str, int] = field(default_factory=dict)  # alert outcomes on the server

    def to_dict(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in vars(self).items()}


class Forwarder:
    """Sends what the queue holds to ``server`` (e.g. ``http://10.0.0.5:8000``)."""

    def __init__(self, queue: EdgeQueue, edge_id: str, server: str, *,
                 config: ForwardConfig | None = None, client: httpx.Client | None = None,
                 wake: threading.Event | None = None,
                 housekeeping: Callable[[float], Any] | None = None,
                 token: str | None = None) -> None:
        self.queue = queue
        # the server's credential for this edge (a device or integration account's bearer token)
        self.token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        self.edge_id = edge_id
        self.server = server.rstrip("/")
        self.config = config or ForwardConfig()
        self.client = client or httpx.Client(timeout=self.config.timeout_s)
        self.wake = wake or threading.Event()
        self.stats = ForwardStats()
        self.compress = True
        self._limit = self.config.batch_messages  # lowered after a 413
        self._alerts_after = 0.0  # monotonic time before which alerts are held back
        self._alert_failures = 0
        self._stop = threading.Event()
        self._housekeeping_fn = housekeeping
        self._pruned = time.monotonic()  # first clean-up after an hour

    # -- one step -----------------------------------------------------------------------------
    def step(self) -> str:
        """Send one batch; returns ``"alerts"``, ``"messages"`` or ``"idle"``.

        Raises :class:`Unreachable` when the server did not take it (it stays queued).
        """
        if time.monotonic() >= self._alerts_after:
            alerts = self.queue.due_alerts()
            if alerts and self._send_alerts(alerts):
                return "alerts"
        batch = self.queue.next_batch(self._limit, self.config.batch_bytes)
        if not batch:
            return "idle"
        self._send_messages(batch)
        return "messages"

    def drain(self, timeout_s: float = 60.0) -> bool:
        """Step until nothing is left to send (``True``) or ``timeout_s`` passed (``False``).

        Raises :class:`Unreachable` at the first failure.
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.step() == "idle":
                return True
        return False

    # -- running --------------------------------------------------------------------------------
    def run(self) -> None:
        """Forward until :meth:`stop`, backing off while the server cannot be reached."""
        while not self._stop.is_set():
            try:
                did = self.step()
            except Unreachable as exc:
                delay = self._backoff(self.stats.consecutive_failures)
                log.log(logging.WARNING if self.stats.consecutive_failures == 1 else
                        logging.INFO, "server %s not reachable (%s); %d message(s) wait, next "
                        "try in %.1f s", self.server, exc, self._waiting(), delay)
                self._stop.wait(delay)
                continue
            except Exception:  # never let the forwarder die: the queue is safe on disk
                log.exception("forwarding failed unexpectedly; retrying")
                self._stop.wait(self.config.max_s)
                continue
            if did == "idle":
                self._housekeeping()
                self.wake.wait(self.config.idle_s)
                self.wake.clear()

    def stop(self) -> None:
        self._stop.set()
        self.wake.set()

    def close(self) -> None:
        self.client.close()

    def _backoff(self, failures: int) -> float:
        base = min(self.config.max_s, self.config.initial_s * 2 ** max(0, failures - 1))
        return base * (1.0 + self.config.jitter * random.random())

    def _waiting(self) -> int:
        m = self.queue.counts()["messages"]
        return int(m.get("queued", 0))

    def _housekeeping(self) -> None:
        """Hourly, when idle: forget what the server has had for ``retain_s``."""
        if time.monotonic() - self._pruned < 3600:
            return
        self._pruned = time.monotonic()
        try:
            if self._housekeeping_fn is not None:
                done = self._housekeeping_fn(self.config.retain_s)
            else:
                done = self.queue.prune(now_us() - int(self.config.retain_s * 1e6))
            log.info("housekeeping: forgot %s", done)
        except Exception:  # clean-up must never stop forwarding
            log.exception("housekeeping failed")

    # -- HTTP -----------------------------------------------------------------------------------
    def _post(self, path: str, body: bytes) -> httpx.Response:
        headers = {"Content-Type": "application/json", "X-Hyperhealth-Edge": self.edge_id}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = body
        if self.compress:
            data = gzip.compress(body, self.config.gzip_level)
            headers["Content-Encoding"] = "gzip"
        try:
            r = self.client.post(self.server + path, content=data, headers=headers)
        except httpx.HTTPError as exc:  # refused, reset, timed out: the batch stays queued
            self._failed(f"{type(exc).__name__}: {exc}")
            raise Unreachable(f"{type(exc).__name__}: {exc}") from None
        self.stats.raw_bytes += len(body)
        self.stats.sent_bytes += len(data)
        return r

    def _failed(self, why: str) -> None:
        self.stats.failures += 1
        self.stats.consecutive_failures += 1
        self.stats.last_error = why

    def _succeeded(self) -> None:
        self.stats.consecutive_failures = 0
        self.stats.batches += 1
        self.stats.last_success_us = now_us()

    def _encoding_refused(self, r: httpx.Response) -> bool:
        """The server cannot read our compressed bodies: send them plain from now on."""
        if self.compress and (r.status_code == 415 or r.status_code == 400):
            log.warning("server %s refused a gzip body (%d); sending uncompressed", self.server,
                        r.status_code)
            self.compress = False
            return True
        return False

    def _send_messages(self, batch: list[Queued]) -> None:
        body = b"[" + b",".join(m.body for m in batch) + b"]"
        seqs = [m.seq for m in batch]
        r = self._post(DEVICE_PATH, body)
        code = r.status_code
        if code in (200, 207):
            answer = _json(r)
            self.queue.mark_messages(seqs, "sent", _answers(batch, answer, code))
            self._succeeded()
            self.stats.messages += len(batch)
            self.stats.redelivered += int((answer.get("skipped") or {}).get(
                "redelivered messages", 0))
            for rej in (answer.get("rejects") or [])[:20]:
                log.warning("the server rejected %s [%s]: %s", rej.get("where"),
                            rej.get("field"), rej.get("reason"))
            if self._limit < self.config.batch_messages:
                self._limit = min(self.config.batch_messages, self._limit * 2)
            return
        if code == 413 and len(batch) > 1:
            self._limit = max(1, len(batch) // 2)
            log.info("server %s found a batch too large; sending %d message(s) at a time",
                     self.server, self._limit)
            return
        if self._encoding_refused(r):
            return
        if _retry(code):
            self.queue.mark_messages(seqs, "queued")
            self._failed(f"HTTP {code}: {r.text[:300]}")
            raise Unreachable(f"HTTP {code}")
        answer = _json(r)
        self.queue.mark_messages(seqs, "refused", _answers(batch, answer, code))
        self._succeeded()  # the server answered: it is reachable
        self.stats.refused_messages += len(batch)
        log.error("server %s refused %d message(s) for good (HTTP %d: %s); they are kept in "
                  "the edge queue as refused", self.server, len(batch), code,
                  answer.get("summary") or answer.get("what") or r.text[:300])

    def _send_alerts(self, alerts: list[QueuedAlert]) -> bool:
        """Send alerts; ``False`` when the alert endpoint failed (alerts wait, messages go)."""
        body = orjson.dumps({"edge": self.edge_id,
                             "alerts": [orjson.Fragment(a.body) for a in alerts]})
        r = self._post(ALERTS_PATH, body)
        code = r.status_code
        if code in (200, 207, 422) and isinstance(_json(r).get("results"), list):
            results = {x.get("id"): x for x in _json(r)["results"]}
            marks = []
            for a in alerts:
                res = results.get(a.idem_key, {})
                outcome = res.get("outcome", "")
                if outcome in ("applied", "merged", "duplicate"):
                    marks.append((a.idem_key, "sent", res))
                    self.stats.alerts += 1
                elif outcome == "refused":
                    marks.append((a.idem_key, "refused", res))
                    self.stats.refused_alerts += 1
                    log.error("server %s refused alert %s: %s", self.server, a.idem_key,
                              res.get("reason"))
                else:
                    marks.append((a.idem_key, "queued", res))
                self.stats.outcomes[outcome] = self.stats.outcomes.get(outcome, 0) + 1
            self.queue.mark_alerts(marks)
            self._succeeded()
            self._alert_failures = 0
            return True
        if self._encoding_refused(r):
            return True
        if _retry(code):
            # the server answers but cannot take alerts now (or has no edge endpoint): hold
            # the alerts back, let the messages through; the server merges the alert later
            self._alert_failures += 1
            delay = self._backoff(self._alert_failures)
            self._alerts_after = time.monotonic() + delay
            self.queue.mark_alerts([(a.idem_key, "queued", "") for a in alerts])
            self.stats.last_error = f"alerts: HTTP {code}"
            log.warning("server %s did not take %d alert(s) (HTTP %d); they wait %.1f s, "
                        "messages go on", self.server, len(alerts), code, delay)
            return False
        answer = _json(r)
        self.queue.mark_alerts([(a.idem_key, "refused", answer) for a in alerts])
        self.stats.refused_alerts += len(alerts)
        log.error("server %s refused %d alert(s) for good (HTTP %d: %s)", self.server,
                  len(alerts), code, answer.get("what") or r.text[:300])
        return True


def _retry(code: int) -> bool:
    """Statuses after which the same batch may succeed later."""
    return code in (401, 403, 404, 405, 408, 425, 429) or code >= 500


def _json(r: httpx.Response) -> dict[str, Any]:
    try:
        doc = r.json()
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _answers(batch: list[Queued], answer: dict[str, Any], code: int) -> list[dict[str, Any]]:
    """What to keep of the server's answer with each message: the status and its rejects."""
    mine: dict[str, list[Any]] = {}
    for rej in answer.get("rejects") or []:
        where = str(rej.get("where", "")) if isinstance(rej, dict) else ""
        if where.startswith("message "):
            mid = where.removeprefix("message ").split(" reading ")[0].split(" event ")[0]
            mine.setdefault(mid, []).append(rej)
    head = {"status": code, "outcome": answer.get("outcome")}
    if code not in (200, 207):
        head["summary"] = answer.get("summary") or answer.get("what")
    return [{**head, "rejects": mine.get(m.message_id, [])} for m in batch]
