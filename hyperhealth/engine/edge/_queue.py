"""The edge agent's durable queue: device messages and locally raised alerts, on disk.

One SQLite file (``queue.sqlite`` in the edge's data dir), written with ``synchronous=FULL`` so
that a message is on disk when :meth:`EdgeQueue.put` returns — the agent answers the device only
after that. Each message is kept once per ``(device, message_id)``: a device that repeats a
message (it did not get our answer) adds nothing.

A message goes ``queued -> sent`` (the server stored it, or had it already) or ``queued ->
refused`` (the server will never take it: kept with the server's answer for a person to read).
Its local evaluation goes ``pending -> evaluated`` (or ``skipped: <why>`` / ``failed: <why>``);
only messages whose evaluation is finished are forwarded, so an alert they raise is always queued
before them (see :meth:`EdgeQueue.next_batch`).

>>> q = EdgeQueue(":memory:")
>>> q.put([Incoming("cgm-1", "m-1", b'{"message_id": "m-1"}', 1, True)])
[True]
>>> q.put([Incoming("cgm-1", "m-1", b'{"message_id": "m-1"}', 1, True)])  # a repeat
[False]
>>> q.next_batch(100, 1 << 20)  # not evaluated locally yet
[]
>>> q.finish_evaluation([("cgm-1", "m-1", "evaluated")], [])
>>> [m.message_id for m in q.next_batch(100, 1 << 20)]
['m-1']
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    device TEXT NOT NULL,
    message_id TEXT NOT NULL,
    body BLOB NOT NULL,
    readings INTEGER NOT NULL,
    urgent INTEGER NOT NULL,
    received_us INTEGER NOT NULL,
    local TEXT NOT NULL DEFAULT 'pending',
    state TEXT NOT NULL DEFAULT 'queued',
    attempts INTEGER NOT NULL DEFAULT 0,
    sent_us INTEGER,
    answer TEXT NOT NULL DEFAULT '',
    UNIQUE (device, message_id)
);
CREATE INDEX IF NOT EXISTS messages_due ON messages (state, urgent, seq);
CREATE TABLE IF NOT EXISTS alerts (
    idem_key TEXT PRIMARY KEY,
    person TEXT NOT NULL,
    rule TEXT NOT NULL,
    key TEXT NOT NULL,
    level INTEGER NOT NULL,
    time_us INTEGER NOT NULL,
    body BLOB NOT NULL,
    raised_us INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued',
    attempts INTEGER NOT NULL DEFAULT 0,
    sent_us INTEGER,
    answer TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS alerts_due ON alerts (state, raised_us);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
"""


def now_us() -> int:
    return time.time_ns() // 1000


@dataclass(frozen=True, slots=True)
class Incoming:
    """A device message to keep: its ids, its JSON as it will be forwarded, and its class."""

    device: str
    message_id: str
    body: bytes
    readings: int
    urgent: bool  # carries a reading an urgent rule reads: forwarded before the others


@dataclass(frozen=True, slots=True)
class Queued:
    seq: int
    device: str
    message_id: str
    body: bytes
    urgent: bool
    attempts: int


@dataclass(frozen=True, slots=True)
class QueuedAlert:
    idem_key: str
    person: str
    rule: str
    key: str
    level: int
    time_us: int
    body: bytes  # the alert request as sent (JSON)
    raised_us: int
    attempts: int


class EdgeQueue:
    """Messages and alerts waiting for the server, in one SQLite file (thread-safe)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=30)
        self._lock = threading.RLock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk before put() returns, so the device may forget it
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- meta ---------------------------------------------------------------------------------
    def meta(self, key: str, default: str | None = None) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
        return default if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT INTO meta (k, v) VALUES (?, ?) "
                             "ON CONFLICT (k) DO UPDATE SET v = excluded.v", (key, value))

    # -- writing ------------------------------------------------------------------------------
    def put(self, items: Sequence[Incoming]) -> list[bool]:
        """Keep messages durably; ``True`` for each that is new (one transaction, fsynced)."""
        out = []
        t = now_us()
        with self._lock, self._tx():
            for m in items:
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO messages (device, message_id, body, readings, urgent, "
                    "received_us) VALUES (?, ?, ?, ?, ?, ?)",
                    (m.device, m.message_id, m.body, m.readings, int(m.urgent), t))
                out.append(cur.rowcount == 1)
        return out

    def finish_evaluation(self, outcomes: Iterable[tuple[str, str, str]],
                          alerts: Sequence[QueuedAlert],
                          meta: Mapping[str, str] | None = None) -> None:
        """Record ``(device, message_id, outcome)`` of local evaluations and queue the alerts
        they raised (and ``meta`` values), in one transaction: a message never becomes due
        before its alerts."""
        with self._lock, self._tx():
            self._add_alerts(alerts)
            for k, v in (meta or {}).items():
                self._db.execute("INSERT INTO meta (k, v) VALUES (?, ?) "
                                 "ON CONFLICT (k) DO UPDATE SET v = excluded.v", (k, v))
            self._db.executemany(
                "UPDATE messages SET local = ? WHERE device = ? AND message_id = ?",
                [(o, d, m) for d, m, o in outcomes])

    def add_alerts(self, alerts: Sequence[QueuedAlert]) -> int:
        """Queue alerts (each once per idempotency key); returns how many were new."""
        with self._lock, self._tx():
            return self._add_alerts(alerts)

    def _add_alerts(self, alerts: Sequence[QueuedAlert]) -> int:
        n = 0
        for a in alerts:
            n += self._db.execute(
                "INSERT OR IGNORE INTO alerts (idem_key, person, rule, key, level, time_us, "
                "body, raised_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (a.idem_key, a.person, a.rule, a.key, a.level, a.time_us, a.body,
                 a.raised_us)).rowcount
        return n

    def pending_evaluation(self) -> list[Queued]:
        """Messages kept but not evaluated (the agent stopped in between), in arrival order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, device, message_id, body, urgent, attempts FROM messages "
                "WHERE local = 'pending' ORDER BY seq").fetchall()
        return [Queued(r[0], r[1], r[2], r[3], bool(r[4]), r[5]) for r in rows]

    # -- forwarding ---------------------------------------------------------------------------
    def next_batch(self, max_messages: int, max_bytes: int) -> list[Queued]:
        """The next messages to forward: urgent ones first, each class in arrival order.

        Stops before the first message whose local evaluation has not finished, and takes the
        other class only when no urgent message is queued at all, so per device and code the
        server receives readings in the order they arrived here.
        """
        with self._lock:
            urgent = self._db.execute(
                "SELECT EXISTS (SELECT 1 FROM messages WHERE state = 'queued' AND urgent = 1)"
            ).fetchone()[0]
            cur = self._db.execute(
                "SELECT seq, device, message_id, body, urgent, attempts, local FROM messages "
                "WHERE state = 'queued' AND urgent = ? ORDER BY seq", (1 if urgent else 0,))
            out: list[Queued] = []
            size = 0
            for seq, dev, mid, body, urg, attempts, local in cur:
                if local == "pending":
                    break
                if out and (len(out) >= max_messages or size + len(body) > max_bytes):
                    break
                out.append(Queued(seq, dev, mid, bytes(body), bool(urg), attempts))
                size += len(body) + 1
            cur.close()
        return out

    def due_alerts(self, limit: int = 100) -> list[QueuedAlert]:
        with self._lock:
            rows = self._db.execute(
                "SELECT idem_key, person, rule, key, level, time_us, body, raised_us, attempts "
                "FROM alerts WHERE state = 'queued' ORDER BY raised_us, idem_key LIMIT ?",
                (limit,)).fetchall()
        return [QueuedAlert(r[0], r[1], r[2], r[3], r[4], r[5], bytes(r[6]), r[7], r[8])
                for r in rows]

    def mark_messages(self, seqs: Sequence[int], state: str,
                      answers: Sequence[Any] | None = None) -> None:
        """``sent`` or ``refused``, each with the server's answer about it; ``queued`` only
        counts an attempt."""
        with self._lock, self._tx():
            if state == "queued":
                self._db.executemany("UPDATE messages SET attempts = attempts + 1 WHERE seq = ?",
                                     [(s,) for s in seqs])
                return
            t = now_us()
            texts = [a if isinstance(a, str) else orjson.dumps(a).decode()
                     for a in (answers or [""] * len(seqs))]
            self._db.executemany(
                "UPDATE messages SET state = ?, sent_us = ?, answer = ?, "
                "attempts = attempts + 1 WHERE seq = ?",
                [(state, t, a, s) for s, a in zip(seqs, texts, strict=True)])

    def mark_alerts(self, outcomes: Sequence[tuple[str, str, Any]]) -> None:
        """``(idem_key, state, answer)`` for alerts; state ``queued`` counts an attempt."""
        t = now_us()
        with self._lock, self._tx():
            for key, state, answer in outcomes:
                text = answer if isinstance(answer, str) else orjson.dumps(answer).decode()
                self._db.execute(
                    "UPDATE alerts SET state = ?, sent_us = CASE WHEN ? = 'queued' THEN sent_us "
                    "ELSE ? END, answer = ?, attempts = attempts + 1 WHERE idem_key = ?",
                    (state, state, t, text, key))

    # -- housekeeping and inspection ------------------------------------------------------------
    def prune(self, older_than_us: int) -> int:
        """Forget messages and alerts the server has (``sent``) from before a time."""
        with self._lock, self._tx():
            n = self._db.execute("DELETE FROM messages WHERE state = 'sent' AND sent_us < ?",
                                 (older_than_us,)).rowcount
            n += self._db.execute("DELETE FROM alerts WHERE state = 'sent' AND sent_us < ?",
                                  (older_than_us,)).rowcount
        return int(n)

    def counts(self) -> dict[str, dict[str, int]]:
        """Messages by state and class, and alerts by state."""
        with self._lock:
            msgs = self._db.execute(
                "SELECT state, urgent, count(*) FROM messages GROUP BY state, urgent").fetchall()
            alerts = self._db.execute("SELECT state, count(*) FROM alerts GROUP BY state"
                                      ).fetchall()
        m: dict[str, int] = {}
        for state, urgent, n in msgs:
            m[state] = m.get(state, 0) + n
            if state == "queued":
                m["queued_urgent" if urgent else "queued_other"] = n
        return {"messages": m, "alerts": {s: n for s, n in alerts}}

    def alerts(self, state: str | None = None) -> list[dict[str, Any]]:
        """Alerts raised here, oldest first (with their state and the server's answer)."""
        q = ("SELECT idem_key, person, rule, key, level, time_us, body, raised_us, state, "
             "attempts, sent_us, answer FROM alerts")
        args: tuple[Any, ...] = ()
        if state is not None:
            q, args = q + " WHERE state = ?", (state,)
        with self._lock:
            rows = self._db.execute(q + " ORDER BY raised_us, idem_key", args).fetchall()
        keys = ("idem_key", "person", "rule", "key", "level", "time_us", "body", "raised_us",
                "state", "attempts", "sent_us", "answer")
        out = []
        for r in rows:
            d = dict(zip(keys, r, strict=True))
            d["body"] = orjson.loads(d["body"])
            out.append(d)
        return out

    def message_states(self) -> dict[tuple[str, str], tuple[str, str]]:
        """``(device, message_id) -> (state, local evaluation)`` of every kept message."""
        with self._lock:
            rows = self._db.execute("SELECT device, message_id, state, local FROM messages"
                                    ).fetchall()
        return {(r[0], r[1]): (r[2], r[3]) for r in rows}

    # -- helpers ------------------------------------------------------------------------------
    def _tx(self) -> _Tx:
        return _Tx(self._db)


class _Tx:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if exc_type is not None else "COMMIT")
