"""The stream engine: per-person state, detectors run on new readings, live and replay alike.

Live, the engine listens to the store: after each committed ingest transaction it receives the
new rows. In replay it reads stored history in time windows. Both paths call :meth:`process`
with per-person, per-code arrays, so replaying history gives the alerts living through it gave.

Ordering policy (docs/methods.md): readings of one person and code are processed in time order.
A reading no newer than the newest already processed for that person and code (its watermark)
is *late*: it is stored and shown, but does not drive detectors, because detector state has
moved past it. Duplicates fall under the same rule. Late readings are counted.

Durability: the state of every person with findings in a batch is saved in the transaction
that applies the findings. The state of persons without findings is saved at most every
``save_every_s`` seconds (and on :meth:`flush`, :meth:`detach` and each tick): a saved state
is always a point at which every finding up to it has been applied, and the rules are
deterministic, so replaying from it after a crash re-derives nothing that was not already
applied. Under load this saves most states once a second instead of once per batch. On
start, :meth:`catch_up` processes whatever the store holds beyond each person's watermarks,
so readings stored while the engine was down (or between an ingest commit and a crash) are
processed exactly once; a finding re-derived after a crash meets its existing alert and is
de-duplicated. A transaction the database refuses loses its findings but not the readings: the
persons involved are replayed from their saved state before the next batch, tick or flush.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import orjson
import sqlalchemy as sa
from isal import isal_zlib

from hyperhealth.actions.alerts._lifecycle import AlertBook, ApplyStats
from hyperhealth.actions.alerts._registry import RuleConfig
from hyperhealth.actions.alerts._request import AlertRequest
from hyperhealth.actions.alerts._rule import (
    DAY_US,
    RESTING_HR,
    SLEEP_MINUTES,
    Chunk,
    Clear,
    RuleContext,
    Subject,
)
from hyperhealth.engine._resting import resting
from hyperhealth.model import LifestyleEvent, LifestyleKind
from hyperhealth.model.codes import HEART_RATE, STEPS
from hyperhealth.model.time import from_us, to_us
from hyperhealth.store import Committed, Store
from hyperhealth.store import _bulk as bulk
from hyperhealth.store import _schema as S

log = logging.getLogger("hyperhealth.engine")

Finding = AlertRequest | Clear
SAVE_MAX = 64  # deferred state saves per batch (those with findings are always saved)
_SMALL = 16  # streams with at most this many new readings are checked in plain Python
Batch = Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]]  # person -> code -> (t, v)


@dataclass(slots=True)
class EngineStats:
    readings: int = 0
    late: int = 0
    batches: int = 0
    findings: int = 0
    rule_failures: Counter[str] = field(default_factory=Counter)
    alerts: ApplyStats = field(default_factory=ApplyStats)

    def to_dict(self) -> dict[str, Any]:
        return {
            "readings": self.readings,
            "late": self.late,
            "batches": self.batches,
            "findings": self.findings,
            "rule_failures": dict(self.rule_failures),
            "alerts": {
                k: getattr(self.alerts, k)
                for k in ("opened", "updated", "suppressed", "resolved", "notifications")
            },
        }


class Engine:
    """Runs the enabled rules over each person's readings and keeps their state."""

    def __init__(
        self,
        store: Store,
        config: RuleConfig | None = None,
        *,
        book: AlertBook | None = None,
        rest_minutes: int = 10,
        clock: Callable[[], int] | None = None,
        save_every_s: float = 1.0,
    ) -> None:
        self.store = store
        self.save_every_s = save_every_s
        self.config = config or RuleConfig()
        self.rules = self.config.rules()
        self.book = book or AlertBook(store)
        self.rest_minutes = rest_minutes
        self.clock = clock or (lambda: time.time_ns() // 1000)
        self.stats = EngineStats()
        self._states: dict[str, dict[str, Any]] = {}
        self._subjects: dict[str, Subject] = {}
        #: persons whose state is newer than the stored one -> since when (oldest first)
        self._unsaved: dict[str, float] = {}
        #: persons whose findings were lost with a failed transaction: replayed from their
        #: saved state before the engine goes on (see :meth:`_commit`)
        self._behind: set[str] = set()
        #: the same for a batch whose persons are known only by their store keys (the lookup
        #: of their ids failed)
        self._behind_pks: set[int] = set()
        self._rules_by_codes: dict[frozenset[str], list[Any]] = {}
        self._queue: queue.SimpleQueue[Committed | None] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._lock = threading.RLock()  # live batches may come from several ingest threads
        self._inputs = {c for r in self.rules for c in r.codes} | {HEART_RATE, STEPS}
        #: called after a commit that queued notifications (a dispatcher's ``wake``)
        self.on_notifications: Callable[[], None] | None = None
        self._load_overrides()

    # -- live ----------------------------------------------------------------------------------
    def attach(self, *, background: bool = False) -> None:
        """Process every committed ingest transaction from now on (after catching up).

        By default in the committing thread, before the ingest call returns. With
        ``background`` a worker thread takes the commits, several at a time when it falls
        behind, so ingest and detection overlap (the ingest thread is free while the engine
        writes alerts, and the other way round). Readings are stored before the engine sees
        them either way: commits still queued at a crash are processed by the next catch-up.
        """
        self.catch_up()
        if not background:
            self.store.add_commit_listener(self.on_commit)
            return
        self._queue = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._work, name="hh-engine", daemon=True)
        self._worker.start()
        self.store.add_commit_listener(self._queue.put)

    def detach(self) -> None:
        """Stop listening (processing what the worker holds), then save every state."""
        if self._worker is None:
            self.store.remove_commit_listener(self.on_commit)
        else:
            self.store.remove_commit_listener(self._queue.put)
            self._queue.put(None)
            self._worker.join()
            self._worker = None
        self.flush()

    def _work(self) -> None:
        stop = False
        while not stop:
            done = [self._queue.get()]
            while True:  # take everything committed meanwhile as one batch
                try:
                    done.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = None in done
            parts = [d for d in done if d is not None]
            if not parts:
                continue
            try:
                self.on_commit(Committed([r for d in parts for r in d.rows],
                                         [e for d in parts for e in d.events]))
            except Exception:  # the readings are stored: the next catch-up processes them
                log.exception("engine failed on %d committed transaction(s)", len(parts))

    def flush(self) -> None:
        """Save every state not yet saved (see the module's note on durability)."""
        self._replay_behind()
        with self._lock:
            self._commit([], [], self.clock(), flush=True)

    def on_commit(self, done: Committed) -> None:
        """Process a committed batch. Whatever fails (the database gone, say), its readings
        are stored: their persons are replayed from the store before the next batch, tick or
        flush, so nothing is lost to the detectors or applied twice."""
        try:
            batch = self._batch_from_rows(done.rows)
        except Exception:
            self._behind_pks.update(r[0] for r in done.rows)
            self._behind.update(e.person_id for e in done.events)
            raise
        for pid, chunk in _sleep_chunks(done.events).items():
            batch.setdefault(pid, {})[SLEEP_MINUTES] = chunk
        try:
            self._replay_behind()
            if batch:
                self.process(batch, now_us=self.clock())
        except Exception:
            with self._lock:  # their states may have moved past the readings' findings
                self._forget(batch)
            raise

    def tick(self, now_us: int | None = None) -> list[Finding]:
        """Clock-driven rules (no data for too long) and escalation of unacknowledged alerts."""
        now = self.clock() if now_us is None else now_us
        self._replay_behind()
        ticking = [r for r in self.rules if r.on_tick]
        with self._lock:
            self._load_states(self._known_persons())
            findings: list[Finding] = []
            touched = []
            for pid, st in self._states.items():
                before = len(findings)
                self._run(pid, st, {}, ticking, now, findings)
                if len(findings) > before:
                    touched.append(pid)
            self._commit(touched, findings, now, flush=True)
        self.book.escalate(now)
        return findings

    # -- the one path ------------------------------------------------------------------------
    def process(
        self, batch: Batch, *, now_us: int | None = None, save: bool = True
    ) -> list[Finding]:
        """Run the rules over new readings (per person, per code, any order within a code)."""
        now = self.clock() if now_us is None else now_us
        findings: list[Finding] = []
        with self._lock:
            self._load_states(list(batch))
            self._load_subjects(list(batch))
            for pid, streams in batch.items():
                st = self._states[pid]
                wm = st.setdefault("wm", {})
                data: dict[str, Chunk] = {}
                for code, (t, v) in streams.items():
                    chunk = self._fresh(t, v, wm.get(code))
                    if len(chunk):
                        wm[code] = chunk.last_t()
                        data[code] = chunk
                if HEART_RATE in data or STEPS in data:
                    rest = resting(
                        data.get(HEART_RATE, Chunk.empty()),
                        data.get(STEPS, Chunk.empty()),
                        st.setdefault("resting", {}),
                        self.rest_minutes,
                    )
                    if len(rest):
                        data[RESTING_HR] = rest
                if data:
                    self._run(pid, st, data, self._rules_for(data), now, findings)
            self.stats.batches += 1
            if save:
                self._commit(list(batch), findings, now)
        return findings

    def _rules_for(self, data: Mapping[str, Chunk]) -> list[Any]:
        """The rules that read any of these streams, in registry order (cached per set)."""
        codes = frozenset(data)
        rules = self._rules_by_codes.get(codes)
        if rules is None:
            rules = [r for r in self.rules if any(c in codes for c in r.codes)]
            self._rules_by_codes[codes] = rules
        return rules

    def _fresh(self, t: np.ndarray | list[int], v: np.ndarray | list[float],
               wm: int | None) -> Chunk:
        n = len(t)
        self.stats.readings += n
        if n <= _SMALL:
            return self._fresh_small(t if isinstance(t, list) else t.tolist(),
                                     v if isinstance(v, list) else v.tolist(), wm)
        ta, va = np.asarray(t, np.int64), np.asarray(v, np.float64)
        if not bool(np.all(ta[1:] >= ta[:-1])):
            order = np.argsort(ta, kind="stable")
            ta, va = ta[order], va[order]
        keep = ~np.isnan(va)
        if wm is not None:
            keep &= ta > wm
        if n > 1:
            keep[1:] &= ta[1:] != ta[:-1]  # one reading per instant: the first that arrived
        if not keep.all():
            self.stats.late += int(n - keep.sum())
            ta, va = ta[keep], va[keep]
        return Chunk(ta, va)

    def _fresh_small(self, ts: list[int], vs: list[float], wm: int | None) -> Chunk:
        """:meth:`_fresh` for the few readings per stream of a live batch, in plain Python
        (numpy's cost per call is most of the time on arrays this short)."""
        if any(a > b for a, b in itertools.pairwise(ts)):
            order = sorted(range(len(ts)), key=ts.__getitem__)  # stable, as numpy's
            ts, vs = [ts[i] for i in order], [vs[i] for i in order]
        keep = [i for i, (ti, vi) in enumerate(zip(ts, vs, strict=True))
                if vi == vi and (wm is None or ti > wm) and (i == 0 or ti != ts[i - 1])]
        if len(keep) < len(ts):
            self.stats.late += len(ts) - len(keep)
            ts, vs = [ts[i] for i in keep], [vs[i] for i in keep]
        return Chunk(ts, vs)  # lists: arrays only if a rule asks for them

    def _run(
        self,
        pid: str,
        st: dict[str, Any],
        data: Mapping[str, Chunk],
        rules: Iterable[Any],
        now: int,
        findings: list[Finding],
    ) -> None:
        subject = self._subject(pid)
        rule_states = st.setdefault("rules", {})
        before = len(findings)  # ``findings`` collects the whole batch
        for rule in rules:
            params = self.config.params(rule.name, pid)
            if not params.get("enabled", True):
                continue
            ctx = RuleContext(subject, data, rule_states.setdefault(rule.name, {}), params, now)
            try:
                rule.evaluate(ctx)
            except Exception:  # one faulty rule must not stop the others or the ingest
                self.stats.rule_failures[rule.name] += 1
                log.exception("rule %s failed for person %s; other rules go on", rule.name, pid)
                continue
            findings.extend(ctx.findings)
        self.stats.findings += len(findings) - before

    def _commit(self, persons: Sequence[str], findings: list[Finding], now: int, *,
                flush: bool = False) -> None:
        """Apply the findings and save the state of their persons in one transaction; save
        other persons' state too once it is ``save_every_s`` old (at most ``SAVE_MAX`` per
        batch, the oldest first, so the saves spread over batches), or all with ``flush``."""
        clock = time.monotonic()
        for pid in persons:
            self._unsaved.setdefault(pid, clock)
        if flush:
            save = list(self._unsaved)
        else:
            due = clock - self.save_every_s
            save = list(itertools.islice(
                itertools.takewhile(lambda p: self._unsaved[p] <= due, self._unsaved), SAVE_MAX))
            save += sorted({f.person_id for f in findings}.difference(save))
        if not save and not findings:
            return
        tz_of = {pid: self._subject(pid).tz for pid in {f.person_id for f in findings}}
        try:
            with self.store.transaction() as w:
                self._save(w.conn, save, now)
                applied = self.book.apply(w.conn, findings, tz_of, now)
        except Exception:
            # the findings are lost and the states in memory are past the stored ones
            self._forget([*self._unsaved, *persons])
            raise
        for pid in save:
            self._unsaved.pop(pid, None)
        self.stats.alerts.add(applied)
        if applied.notifications and self.on_notifications is not None:
            self.on_notifications()

    # -- replay --------------------------------------------------------------------------------
    def replay(
        self,
        person_ids: Sequence[str] | None = None,
        *,
        window_days: int = 7,
        progress: Callable[[str, int], None] | None = None,
    ) -> EngineStats:
        """Process stored readings beyond each person's watermarks, window by window."""
        ids = [p.id for p in self.store.persons()] if person_ids is None else list(person_ids)
        for pid in ids:
            with self._lock:
                self._load_states([pid])
                wm = dict(self._states[pid].get("wm", {}))
            streams = self._present(pid)
            if not streams:
                continue
            # from the oldest reading not yet processed in any stream
            t0 = min(wm[c] + 1 if c in wm else first for c, (first, _) in streams.items())
            t_end = max(s[1] for s in streams.values()) + 1
            n = 0
            while t0 < t_end:
                t1 = min(t_end, t0 + window_days * DAY_US)
                batch = {}
                for code in streams:
                    s = self.store.series(pid, code, from_us(t0), from_us(t1))
                    if len(s):
                        batch[code] = (s.t_us, s.value)
                        n += len(s)
                sleep = _sleep_chunks(
                    self.store.lifestyle_events(pid, from_us(t0 - DAY_US), from_us(t1))
                )
                if pid in sleep:
                    c = sleep[pid]
                    m = (c.t >= t0) & (c.t < t1)
                    batch[SLEEP_MINUTES] = (c.t[m], c.v[m])
                if batch:
                    self.process({pid: batch}, now_us=t1 - 1)
                t0 = t1
            if progress is not None:
                progress(pid, n)
        self.flush()
        return self.stats

    def _forget(self, persons: Iterable[str]) -> None:
        """Drop the persons' states in memory and replay them from their saved ones (which
        every applied finding saved with it) before going on."""
        for pid in persons:
            self._states.pop(pid, None)
            self._unsaved.pop(pid, None)
            self._behind.add(pid)

    def _replay_behind(self) -> None:
        """Replay the persons of a failed batch or transaction (from the store, which holds
        their readings); if that fails too, the next batch, tick or flush tries again."""
        if not self._behind and not self._behind_pks:
            return
        with self._lock:
            if self._behind_pks:
                pks = list(self._behind_pks)
                self._behind.update(self.store.person_ids(pks).values())
                self._behind_pks.difference_update(pks)
            behind, self._behind = sorted(self._behind), set()
            try:
                self.replay(behind)
            except Exception:
                self._behind.update(behind)
                raise

    def catch_up(self) -> EngineStats:
        """Process whatever is stored beyond each person's watermark (after a restart)."""
        return self.replay()

    def reset(self, person_ids: Sequence[str] | None = None) -> None:
        """Forget saved state and alerts (for a replay from scratch)."""
        with self._lock, self.store.transaction() as w:
            pks = None if person_ids is None else [self.store._pk(w.conn, p) for p in person_ids]
            for table in (S.engine_state, S.alerts, S.alert_snoozes):
                q = sa.delete(table)
                if pks is not None:
                    q = q.where(table.c.person_pk.in_(pks))
                w.conn.execute(q)
            if person_ids is None:
                self._states.clear()
                self._unsaved.clear()
            else:
                for p in person_ids:
                    self._states.pop(p, None)
                    self._unsaved.pop(p, None)

    def _present(self, pid: str) -> dict[str, tuple[int, int]]:
        return {
            s.code: (to_us(s.first), to_us(s.last))
            for s in self.store.streams(pid)
            if s.code in self._inputs
        }

    # -- state ---------------------------------------------------------------------------------
    def state_of(self, person_id: str) -> dict[str, Any]:
        """A copy of the person's saved detector state (for inspection and tests)."""
        with self._lock:
            self._load_states([person_id])
            return orjson.loads(orjson.dumps(self._states[person_id]))

    def _load_states(self, person_ids: Sequence[str]) -> None:
        missing = [p for p in person_ids if p not in self._states]
        if not missing:
            return
        es, p = S.engine_state, S.persons
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(p.c.id, es.c.state)
                .join(es, es.c.person_pk == p.c.pk)
                .where(p.c.id.in_(missing))
            ).all()
        for pid, blob in rows:
            self._states[pid] = orjson.loads(isal_zlib.decompress(blob))
        for pid in missing:
            self._states.setdefault(pid, {})

    def _save(self, conn: sa.Connection, person_ids: Sequence[str], now: int) -> None:
        """Write the persons' state: one upsert for all of them."""
        bulk.upsert(conn, S.engine_state, [
            {"person_pk": self.store._pk(conn, pid), "updated_us": now,
             # zlib format from ISA-L's fastest level: a tenth of zlib's level 1 time for
             # windows of readings (measured), and half of their size is still saved
             "state": isal_zlib.compress(
                 orjson.dumps(self._states[pid], option=orjson.OPT_SERIALIZE_NUMPY), 0)}
            for pid in person_ids], key="person_pk")

    def _known_persons(self) -> list[str]:
        es, p = S.engine_state, S.persons
        with self.store.engine.connect() as conn:
            return [
                r[0] for r in conn.execute(sa.select(p.c.id).join(es, es.c.person_pk == p.c.pk))
            ]

    def _load_subjects(self, person_ids: Sequence[str]) -> None:
        """Read the persons not yet known in one query (a live batch has hundreds)."""
        missing = [p for p in person_ids if p not in self._subjects]
        if len(missing) > 1:
            for person in self.store.persons(missing):
                self._subjects[person.id] = Subject(person.id, person.tz, person.birth_date,
                                                    person.sex_at_birth)

    def _subject(self, pid: str) -> Subject:
        s = self._subjects.get(pid)
        if s is None:
            person = self.store.person(pid)
            s = Subject(pid, person.tz, person.birth_date, person.sex_at_birth)
            self._subjects[pid] = s
        return s

    def _load_overrides(self) -> None:
        rs, p = S.rule_settings, S.persons
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(p.c.id, rs.c.rule, rs.c.params).select_from(
                    rs.outerjoin(p, p.c.pk == rs.c.person_pk)
                )
            ).all()
        self.config.overrides.clear()
        for pid, rule, params in rows:
            self.config.overrides.setdefault(pid, {})[rule] = dict(params)

    def set_rule_params(
        self, rule: str, params: Mapping[str, Any], *, by: str, person_id: str | None = None
    ) -> None:
        """A clinician's adjustment of a rule for one person (or everyone, ``person_id=None``)."""
        from hyperhealth.actions.alerts._registry import check_params

        check_params(rule, params)
        rs = S.rule_settings
        with self.store.transaction() as w:
            pk = None if person_id is None else self.store._pk(w.conn, person_id)
            w.conn.execute(
                sa.delete(rs).where(
                    rs.c.rule == rule,
                    rs.c.person_pk.is_(None) if pk is None else rs.c.person_pk == pk,
                )
            )
            w.conn.execute(
                sa.insert(rs).values(
                    person_pk=pk,
                    rule=rule,
                    params=dict(params),
                    updated_by=by,
                    updated_us=self.clock(),
                )
            )
        with self._lock:
            self._load_overrides()

    # -- input conversion ------------------------------------------------------------------------
    def _batch_from_rows(self, rows: Sequence[tuple[Any, ...]]) -> dict[str, dict[str, Any]]:
        """Committed rows as ``person -> code -> (times, values)``, in lists: a live batch has
        a reading or two per stream, which :meth:`_fresh` takes as they are."""
        groups: dict[tuple[int, str], tuple[list[int], list[float]]] = {}
        inputs = self._inputs
        for r in rows:
            if r[1] in inputs and r[8] is not None:
                g = groups.get((r[0], r[1]))
                if g is None:
                    g = groups[(r[0], r[1])] = ([], [])
                g[0].append(r[2])
                g[1].append(r[8])
        ids = self.store.person_ids([pk for pk, _ in groups])
        batch: dict[str, dict[str, Any]] = {}
        for (pk, code), tv in groups.items():
            batch.setdefault(ids[pk], {})[code] = tv
        return batch


def _sleep_chunks(events: Iterable[LifestyleEvent]) -> dict[str, Chunk]:
    """Minutes of each sleep period, at its end time, per person."""
    per: dict[str, list[tuple[int, float]]] = {}
    for e in events:
        if e.kind == LifestyleKind.SLEEP and e.end is not None and e.end > e.start:
            per.setdefault(e.person_id, []).append(
                (to_us(e.end), (e.end - e.start) / timedelta(minutes=1))
            )
    out = {}
    for pid, items in per.items():
        items.sort()
        out[pid] = Chunk(
            np.array([t for t, _ in items], np.int64), np.array([m for _, m in items], np.float64)
        )
    return out
