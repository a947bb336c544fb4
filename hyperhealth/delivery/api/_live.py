"""Live updates as server-sent events: a person's new readings and alert changes, and the alert
changes of a clinician's panel.

Both streams poll the store every ``app.state.live_interval`` seconds (default
:data:`DEFAULT_INTERVAL_S`), so they see what any process writes — an ingest worker, the CLI,
another API server — on SQLite and PostgreSQL alike. Every poll checks again that the session
is still signed in and what the caller's consent covers now: a revoked grant, an expired
break-glass session or a logout ends the stream with a ``revoked`` event at the next poll.

Event ids are cursors (:class:`Cursor`). A client that reconnects with ``Last-Event-ID`` (the
browser's ``EventSource`` sends it by itself) or ``?last_event_id=`` receives what it missed:

- readings are sent in data-time order, each once, also across reconnects;
- a reading stored late (its data time earlier than readings already sent, e.g. a device that
  uploads in batches) is sent while the stream is connected if it is at most
  :data:`LATE_WINDOW_US` older than the newest sent; one stored while the client was away and
  older than the cursor is not replayed (the page's chart reload shows it);
- an ``alert`` event carries the alert's state at the time of sending (several changes between
  two polls arrive as one event); clients update the alert by its id.

The work of one poll is bounded (:data:`MAX_READINGS_PER_TICK`, :data:`MAX_CHANGES_PER_TICK`,
:data:`FETCH_CAP`); what does not fit is sent at the next poll.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import anyio
import sqlalchemy as sa
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from hyperhealth.actions.levels import Level
from hyperhealth.delivery.api._deps import StoreDep
from hyperhealth.delivery.api._guard import AccessDep, Rule, bearer_token, rule
from hyperhealth.delivery.api._triage import visible_categories
from hyperhealth.errors import HyperhealthError
from hyperhealth.model import Observation
from hyperhealth.model.time import from_us, to_us
from hyperhealth.security._consent import ConsentBook
from hyperhealth.security._identity import _check_live, _digest, _user, _user_query
from hyperhealth.security._model import CARE_ROLES, Actor, Category, category_of
from hyperhealth.store import Store
from hyperhealth.store import _schema as t
from hyperhealth.store._store import AlertChange

router = APIRouter(tags=["live"])
log = logging.getLogger("hyperhealth.api")

DEFAULT_INTERVAL_S = 2.0
#: a comment line after this long without an event keeps proxies from closing the stream
HEARTBEAT_S = 15.0
#: the browser's reconnect delay after a dropped connection (the ``retry:`` field)
RETRY_MS = 3000
LATE_WINDOW_US = 2 * 3600 * 1_000_000
MAX_READINGS_PER_TICK = 500
MAX_CHANGES_PER_TICK = 500
#: readings read at most per poll to find the unsent ones
FETCH_CAP = 5000
#: how long a skipped change key (a transaction not yet committed) is looked for again
GAP_TTL_S = 60.0
MAX_GAPS = 32

_STREAM: dict[int | str, dict[str, Any]] = {200: {
    "description": "a text/event-stream that stays open",
    "content": {"text/event-stream": {"schema": {"type": "string"}}}}}
# code, data time, system, source, device, record id: the natural key of an observation
Key = tuple[str, int, str, str, str, str]


# -- cursors ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cursor:
    """Where a stream is; its text is the SSE event id.

    ``t_us`` and ``k``: every reading with an earlier data time was sent, and the first ``k``
    (by code, system, source, device, record id) at ``t_us``. ``event`` and ``notice``: the
    newest alert-event and notification keys passed; ``gaps``: keys below them not seen yet
    (``e12`` an event, ``n40`` a notification).

    >>> c = Cursor(1714550400000000, 2, 17, 40, ("e15", "n38"))
    >>> c.text()
    '1714550400000000.2.17.40.e15.n38'
    >>> Cursor.parse(c.text()) == c
    True
    >>> Cursor.parse("1.2.x") is None
    True
    """

    t_us: int = 0
    k: int = 0
    event: int = 0
    notice: int = 0
    gaps: tuple[str, ...] = ()

    def text(self) -> str:
        return ".".join([str(self.t_us), str(self.k), str(self.event), str(self.notice),
                         *self.gaps[:MAX_GAPS]])

    @classmethod
    def parse(cls, text: str | None) -> Cursor | None:
        """The cursor of an event id; ``None`` for anything else (the stream starts afresh)."""
        if not text or len(text) > 1000:
            return None
        parts = text.strip().split(".")
        try:
            t_us, k, event, notice = (int(p) for p in parts[:4])
        except ValueError:
            return None
        gaps = tuple(parts[4:])
        if min(t_us, k, event, notice) < 0 or max(event, notice) >= 2**63 or not all(
                len(g) > 1 and g[0] in "en" and g[1:].isdigit() and len(g) < 20 for g in gaps):
            return None
        return cls(t_us, k, event, notice, gaps)


# -- alert changes ----------------------------------------------------------------------------
class AlertFeed:
    """New alert changes from the store, each once, for all persons (callers filter).

    Keys come from database sequences; a transaction can commit after a later one (PostgreSQL
    with several writers), so keys skipped over are asked for again for :data:`GAP_TTL_S`.
    """

    def __init__(self, store: Store, cursor: Cursor | None) -> None:
        self.store = store
        if cursor is None:
            self.event, self.notice = store.alert_change_heads()
            gaps: tuple[str, ...] = ()
        else:
            self.event, self.notice, gaps = cursor.event, cursor.notice, cursor.gaps
        now = time.monotonic()
        self._gaps: dict[str, float] = dict.fromkeys(gaps, now)

    @property
    def gaps(self) -> tuple[str, ...]:
        return tuple(sorted(self._gaps, key=lambda g: (g[0], int(g[1:]))))

    def poll(self) -> list[AlertChange]:
        now = time.monotonic()
        self._gaps = {g: t0 for g, t0 in self._gaps.items() if now - t0 < GAP_TTL_S}
        changes = self.store.alert_changes(
            self.event, self.notice, events=[int(g[1:]) for g in self._gaps if g[0] == "e"],
            raises=[int(g[1:]) for g in self._gaps if g[0] == "n"], limit=MAX_CHANGES_PER_TICK)
        for prefix, attr in (("e", "event"), ("n", "notice")):
            seqs = {c.seq for c in changes if (c.kind == "event") == (prefix == "e")}
            for s in seqs:
                self._gaps.pop(f"{prefix}{s}", None)
            old: int = getattr(self, attr)
            new = max([old, *seqs])
            for s in range(max(old + 1, new - MAX_GAPS), new):
                if s not in seqs:
                    self._gaps[f"{prefix}{s}"] = now
            setattr(self, attr, new)
        if len(self._gaps) > MAX_GAPS:  # keep the newest keys
            keep = sorted(self._gaps, key=lambda g: int(g[1:]))[-MAX_GAPS:]
            self._gaps = {g: self._gaps[g] for g in keep}
        return [c for c in changes if c.kind != "notice"]


def _alert_events(changes: Iterable[AlertChange]) -> list[dict[str, Any]]:
    """One event per alert (its newest change), leaving out suppressed alerts."""
    newest: dict[int, AlertChange] = {}
    for c in changes:
        was = newest.get(c.alert_id)
        newest[c.alert_id] = c if was is None or c.at >= was.at else was
    return [{"id": c.alert_id, "person_id": c.person_id, "rule": c.rule,
             "level": Level(c.level).label, "status": c.status, "title": c.title,
             "changed": c.at.isoformat()}
            for c in sorted(newest.values(), key=lambda c: (c.at, c.alert_id))
            if c.status != "suppressed"]


# -- readings ---------------------------------------------------------------------------------
def _key(o: Observation) -> Key:
    return (o.code, to_us(o.t), o.system, o.source, o.device, o.record_id)


def _order(o: Observation) -> tuple[int, str, str, str, str, str]:
    return (to_us(o.t), o.code, o.system, o.source, o.device, o.record_id)


class ReadingFeed:
    """A person's readings not sent yet, oldest first.

    Keeps the keys of readings at most :data:`LATE_WINDOW_US` older than the cursor (sent, or
    there when the stream started); each poll compares per-code counts in that window with the
    keys it knows and reads rows only for the codes that gained some.
    """

    def __init__(self, store: Store, person_id: str, cursor: Cursor | None,
                 now_us: int) -> None:
        self.store, self.person_id = store, person_id
        self.known: set[Key] = set()
        self._at: Counter[int] = Counter()  # known keys per data time
        latest = store.latest_times([person_id]).get(person_id, {})
        if cursor is None:  # everything stored so far counts as seen (the page has it)
            self.t_us = max((to_us(ts) for ts in latest.values()), default=0)
            self.k = 0
        else:
            self.t_us, self.k = cursor.t_us, cursor.k
        rows = store.recent_observations(person_id, list(latest), self._low(now_us),
                                         limit=FETCH_CAP)
        at_cursor = 0
        for o in sorted(rows, key=_order):
            ts = to_us(o.t)
            if cursor is None and ts == self.t_us:
                self.k += 1
            elif cursor is not None and (ts > self.t_us or (ts == self.t_us
                                                            and at_cursor >= self.k)):
                continue
            elif ts == self.t_us:
                at_cursor += 1
            self._add(o)

    def _low(self, now_us: int) -> datetime:
        return from_us(max(0, min(self.t_us, now_us) - LATE_WINDOW_US))

    def _add(self, o: Observation) -> None:
        self.known.add(_key(o))
        self._at[_key(o)[1]] += 1

    def poll(self, allowed: Callable[[str], bool], now_us: int
             ) -> list[tuple[Observation, int, int]]:
        """New readings of the codes ``allowed`` says yes to, each with the cursor
        (``t_us``, ``k``) after it."""
        low = self._low(now_us)
        low_us = to_us(low)
        if self.known and min(self._at) < low_us:
            self.known = {key for key in self.known if key[1] >= low_us}
            self._at = Counter({ts: n for ts, n in self._at.items() if ts >= low_us})
        latest = self.store.latest_times([self.person_id]).get(self.person_id, {})
        codes = [c for c, ts in latest.items() if allowed(c) and to_us(ts) >= low_us]
        counts = self.store.observation_counts(self.person_id, codes, low)
        have = Counter(key[0] for key in self.known)
        changed = [c for c in codes if counts.get(c, 0) > have[c]]
        if not changed:
            return []
        rows = self.store.recent_observations(self.person_id, changed, low, limit=FETCH_CAP)
        fresh = sorted((o for o in rows if _key(o) not in self.known), key=_order)
        out = []
        for o in fresh[:MAX_READINGS_PER_TICK]:
            self._add(o)
            ts = to_us(o.t)
            if ts >= self.t_us:
                self.t_us, self.k = ts, self._at[ts]
            out.append((o, self.t_us, self.k))
        return out


# -- sessions ---------------------------------------------------------------------------------
def session_actor(store: Store, token: str | None, now_us: int | None = None) -> Actor | None:
    """The actor signed in with ``token`` now, or ``None`` once the session has ended (logged
    out, expired, idle, account disabled).

    Unlike :meth:`Identity.authenticate` this writes nothing: an open stream is not activity,
    so a page left open still logs off after the idle time.
    """
    if not token or token.startswith("hhd_"):  # devices write; they have no live view
        return None
    now = time.time_ns() // 1000 if now_us is None else now_us
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(t.auth_tokens).where(
            t.auth_tokens.c.token_hash == _digest(token),
            t.auth_tokens.c.kind == "access")).first()
        if row is None:
            return None
        try:
            _check_live(row, now, "access token")
        except HyperhealthError:
            return None
        urow = conn.execute(_user_query().where(t.users.c.pk == row.user_pk)).first()
        if urow is None or urow.disabled:
            return None
        return _user(conn, urow).actor()


# -- the wire format --------------------------------------------------------------------------
def sse(event: str, data: Any, event_id: str | None = None) -> str:
    """One server-sent event (JSON data on one line).

    >>> sse("alert", {"id": 3}, "0.0.5.0")
    'event: alert\\ndata: {"id":3}\\nid: 0.0.5.0\\n\\n'
    """
    out = f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n"
    return out + (f"id: {event_id}\n\n" if event_id is not None else "\n")


def _reading(o: Observation) -> dict[str, Any]:
    return {"code": o.code, "t": o.t.isoformat(), "value": o.value, "unit": o.unit}


async def _run(request: Request, tick: Callable[[], tuple[str, bool]],
               once: bool) -> AsyncIterator[str]:
    """Poll with ``tick`` (in a worker thread: it reads the database) until it says done, the
    client goes away (the server cancels this generator) or, with ``once``, after one poll.

    ``app.state.live_streams`` counts the streams open now."""
    state = request.app.state
    value = getattr(state, "live_interval", None)
    interval = float(value) if value is not None else DEFAULT_INTERVAL_S
    state.live_streams = getattr(state, "live_streams", 0) + 1
    try:
        yield f"retry: {RETRY_MS}\n: connected\n\n"
        quiet_since = time.monotonic()
        while True:
            try:
                text, done = await anyio.to_thread.run_sync(tick)
            except Exception:  # the client reconnects and resumes from its last event id
                log.exception("live stream poll failed")
                return
            now = time.monotonic()
            if text:
                yield text
                quiet_since = now
            elif now - quiet_since >= HEARTBEAT_S:
                yield ": keep-alive\n\n"
                quiet_since = now
            if done or once:
                return
            await anyio.sleep(interval)
    finally:
        state.live_streams -= 1


def _response(body: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(body, media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


LastIdQ = Annotated[str | None, Query(
    max_length=1000, description="resume after this event id (for clients that cannot send "
                                 "the Last-Event-ID header)")]
LastIdH = Annotated[str | None, Header(alias="Last-Event-ID", max_length=1000,
                                       description="resume after this event id")]
OnceQ = Annotated[bool, Query(description="end the stream after its first poll (checks and "
                                          "tests)")]


# -- routes -----------------------------------------------------------------------------------
@router.get("/api/persons/{person_id}/live", response_class=StreamingResponse,
            responses=_STREAM, summary="A person's new readings and alert changes, live")
@rule(Rule("person"))
async def person_live(person_id: str, request: Request, store: StoreDep, access: AccessDep,
                      last_event_id: LastIdQ = None, last_event_id_header: LastIdH = None,
                      once: OnceQ = False) -> StreamingResponse:
    """Server-sent events:

    - ``reading``: ``{code, t, value, unit}``, only of codes whose category the caller may see;
    - ``alert``: ``{id, person_id, rule, level, status, title, changed}`` when an alert is
      opened or changes (needs the ``alerts`` category);
    - ``revoked``: ``{reason}`` (``consent`` or ``signed-out``), then the stream ends;
    - comment lines as a heartbeat every 15 s without events.

    Consent and the session are checked again at every poll. Send ``Last-Event-ID`` (or
    ``last_event_id``) to resume after the last event received.
    """
    token = bearer_token(request)
    cursor = Cursor.parse(last_event_id_header or last_event_id)
    consents: ConsentBook = request.app.state.consents

    def start() -> tuple[ReadingFeed, AlertFeed]:
        return (ReadingFeed(store, person_id, cursor, time.time_ns() // 1000),
                AlertFeed(store, cursor))

    readings, alerts = await anyio.to_thread.run_sync(start)

    def tick() -> tuple[str, bool]:
        actor = session_actor(store, token)
        if actor is None:
            return sse("revoked", {"reason": "signed-out"}), True
        decision = consents.decide(actor, person_id)
        if not decision.any:
            return sse("revoked", {"reason": "consent"}), True
        before = (alerts.event, alerts.notice, alerts.gaps)
        changes = alerts.poll()
        events = _alert_events(c for c in changes if c.person_id == person_id) \
            if decision.allows(Category.ALERTS) else []
        new = readings.poll(lambda code: decision.allows(category_of(code)),
                            time.time_ns() // 1000)
        after = (alerts.event, alerts.notice, alerts.gaps)
        out = []
        for i, (o, t_us, k) in enumerate(new):
            last = i == len(new) - 1 and not events
            out.append(sse("reading", _reading(o), Cursor(t_us, k, *(after if last
                                                                      else before)).text()))
        for i, e in enumerate(events):
            last = i == len(events) - 1
            out.append(sse("alert", e, Cursor(readings.t_us, readings.k, *after).text()
                           if last else None))
        return "".join(out), False

    return _response(_run(request, tick, once))


@router.get("/api/triage/live", response_class=StreamingResponse, responses=_STREAM,
            summary="Alert changes of the caller's patients, live")
@rule(Rule("staff"))
async def triage_live(request: Request, store: StoreDep, access: AccessDep,
                      last_event_id: LastIdQ = None, last_event_id_header: LastIdH = None,
                      once: OnceQ = False) -> StreamingResponse:
    """Server-sent ``alert`` events (``{id, person_id, rule, level, status, title,
    changed}``) for every patient whose alerts the caller may see at that moment (consent is
    evaluated again at every poll), ``revoked`` (``{reason: "signed-out"}``) when the session
    ends, and heartbeat comments. Resumes after ``Last-Event-ID`` / ``last_event_id``."""
    token = bearer_token(request)
    cursor = Cursor.parse(last_event_id_header or last_event_id)
    alerts = await anyio.to_thread.run_sync(AlertFeed, store, cursor)

    def tick() -> tuple[str, bool]:
        actor = session_actor(store, token)
        if actor is None or actor.role not in CARE_ROLES:
            return sse("revoked", {"reason": "signed-out"}), True
        changes = alerts.poll()
        if not changes:
            return "", False
        visible = visible_categories(store, actor)
        events = _alert_events(c for c in changes
                               if Category.ALERTS in visible.get(c.person_id, ()))
        end = Cursor(0, 0, alerts.event, alerts.notice, alerts.gaps).text()
        return "".join(sse("alert", e, end if i == len(events) - 1 else None)
                       for i, e in enumerate(events)), False

    return _response(_run(request, tick, once))
