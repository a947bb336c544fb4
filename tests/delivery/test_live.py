"""Live streams (server-sent events) through a real server: readings and alerts arrive once,
resume after a reconnect, follow consent at every poll, and end when access ends."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from hyperhealth.actions.alerts import AlertBook
from hyperhealth.actions.levels import Level
from hyperhealth.delivery.api._guard import SESSION_COOKIE
from hyperhealth.delivery.api._live import Cursor
from hyperhealth.model import Observation, Person
from hyperhealth.security._consent import ConsentBook
from hyperhealth.security._identity import Identity
from hyperhealth.security._model import ALL_CATEGORIES, SYSTEM, Category, Role
from hyperhealth.store import Store
from hyperhealth.store import _schema as t
from tests.conftest import ROOT
from tests.delivery.alert_rows import raise_alert
from tests.delivery.test_triage import app_for
from tests.signin import PASSWORD, login

PID = "p-live"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
INTERVAL = 0.1  # seconds between polls in these tests
WAIT = 10.0  # longest wait for an expected event


@dataclass
class Event:
    event: str
    data: Any
    id: str | None


@dataclass
class Stream:
    """Events of one open stream, read by a thread as they arrive."""

    response: httpx.Response
    events: list[Event] = field(default_factory=list)
    retry: int | None = None
    ended: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self) -> None:
        fields: dict[str, str] = {}
        try:
            for line in self.response.iter_lines():
                if line == "":
                    if "event" in fields or "data" in fields:
                        with self.lock:
                            self.events.append(Event(fields.get("event", "message"),
                                                     json.loads(fields.get("data", "null")),
                                                     fields.get("id")))
                    fields = {}
                elif line.startswith(":"):
                    continue
                else:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
                    if name == "retry":
                        self.retry = int(fields["retry"])
        except httpx.HTTPError:
            pass
        finally:
            self.ended = True

    def wait(self, n: int, kind: str | None = None, timeout: float = WAIT) -> list[Event]:
        """The first ``n`` events (of ``kind``), waiting for them to arrive."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = self.of(kind)
            if len(got) >= n or self.ended:
                break
            time.sleep(0.02)
        got = self.of(kind)
        assert len(got) >= n, f"expected {n} {kind or ''} events, got {got}"
        return got[:n]

    def of(self, kind: str | None = None) -> list[Event]:
        with self.lock:
            return [e for e in self.events if kind is None or e.event == kind]

    def wait_end(self, timeout: float = WAIT) -> None:
        end = time.monotonic() + timeout
        while not self.ended and time.monotonic() < end:
            time.sleep(0.02)
        assert self.ended, "the stream did not end"


class Server:
    """The app (with its web pages if ``web``) served by uvicorn in a thread."""

    def __init__(self, store: Store, *, port: int = 0, web: bool = False) -> None:
        import uvicorn

        if not port:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
        self.port = port
        app = app_for(store, web=web)
        app.state.live_interval = INTERVAL
        self.url = f"http://127.0.0.1:{port}"
        self.srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                                 log_level="warning",
                                                 timeout_graceful_shutdown=2))
        self.thread = threading.Thread(target=self.srv.run, daemon=True)
        self.thread.start()
        end = time.monotonic() + 10
        while not self.srv.started and time.monotonic() < end:
            time.sleep(0.02)
        assert self.srv.started
        self.client = httpx.Client(base_url=self.url, timeout=httpx.Timeout(30.0))

    @contextmanager
    def stream(self, path: str, token: str, last_id: str | None = None) -> Iterator[Stream]:
        headers = {"Authorization": f"Bearer {token}"}
        if last_id is not None:
            headers["Last-Event-ID"] = last_id
        with self.client.stream("GET", path, headers=headers) as r:
            assert r.status_code == 200, r.read()
            s = Stream(r)
            reader = threading.Thread(target=s.read, daemon=True)
            reader.start()
            try:
                yield s
            finally:
                # unblock the reader thread (closing the response alone waits for data)
                sock = r.extensions["network_stream"].get_extra_info("socket")
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                reader.join(5)
                assert not reader.is_alive()

    def close(self) -> None:
        self.client.close()
        self.srv.should_exit = True
        self.thread.join(10)


@dataclass
class World:
    store: Store
    server: Server
    tokens: dict[str, str]
    grants: dict[str, int]


@pytest.fixture
def world(sqlite_store: Store) -> Iterator[World]:
    yield from _world(sqlite_store)


@pytest.fixture
def both(store: Store) -> Iterator[World]:
    """:func:`world` on SQLite and on PostgreSQL."""
    yield from _world(store)


def _world(store: Store) -> Iterator[World]:
    with store.transaction() as w:
        w.upsert_person(Person(PID))
        w.upsert_person(Person("p-other"))
        w.add_observations([hr(T0 - timedelta(minutes=i), 60.0 + i) for i in range(1, 30)])
    identity, consents = Identity(store), ConsentBook(store)
    identity.create_user("dr-full", Role.CLINICIAN, PASSWORD)
    identity.create_user("dr-vitals", Role.CLINICIAN, PASSWORD)
    identity.create_user("pat", Role.PATIENT, PASSWORD, person_id=PID)
    grants = {"full": consents.grant(PID, "dr-full", ALL_CATEGORIES, by=SYSTEM).pk,
              "vitals": consents.grant(PID, "dr-vitals", [Category.VITALS], by=SYSTEM).pk}
    consents.grant("p-other", "dr-full", [Category.VITALS], by=SYSTEM)
    tokens = {u: login(store, u) for u in ("dr-full", "dr-vitals", "pat")}
    server = Server(store)
    try:
        yield World(store, server, tokens, grants)
    finally:
        server.close()


def hr(t: datetime, value: float, pid: str = PID) -> Observation:
    return Observation(pid, "8867-4", t, value, "/min", source="test", device="watch")


def glucose(t: datetime, value: float) -> Observation:
    return Observation(PID, "2339-0", t, value, "mg/dL", source="test", device="cgm")


def add(store: Store, *obs: Observation) -> None:
    with store.transaction() as w:
        w.add_observations(list(obs))


def seen(events: list[Event]) -> list[tuple[str, float]]:
    return [(e.data["code"], e.data["value"]) for e in events]


def test_readings_arrive_once_and_resume_after_a_reconnect(both: World) -> None:
    world = both
    s, path = world.store, f"/api/persons/{PID}/live"
    with world.server.stream(path, world.tokens["dr-full"]) as live:
        add(s, hr(T0 + timedelta(minutes=1), 101))
        add(s, hr(T0 + timedelta(minutes=2), 102), glucose(T0 + timedelta(minutes=2), 202))
        first = live.wait(3, "reading")
        add(s, hr(T0 + timedelta(minutes=3), 103))
        live.wait(4, "reading")
        # a late reading (a device uploading a batch): sent while connected
        add(s, glucose(T0 - timedelta(minutes=20), 180))
        live.wait(5, "reading")
        add(s, hr(T0 + timedelta(minutes=4), 104))  # the marker: nothing repeats before it
        got = live.wait(6, "reading")
        time.sleep(10 * INTERVAL)
        assert len(live.of("reading")) == 6
    assert live.retry is not None and live.retry > 0
    # each once, in data-time order, the late reading when it was stored; the two readings of
    # minute 2 may come in either order (a poll can run while their transaction commits: it
    # counts new rows per code in one statement and reads them in the next)
    assert seen(got)[0] == ("8867-4", 101)
    assert sorted(seen(got)[1:3]) == [("2339-0", 202), ("8867-4", 102)]
    assert seen(got)[3:] == [("8867-4", 103), ("2339-0", 180), ("8867-4", 104)]
    assert got[0].data == {"code": "8867-4", "t": (T0 + timedelta(minutes=1)).isoformat(),
                           "value": 101.0, "unit": "/min"}
    assert first[1].id is not None and all(e.id for e in got)
    # away: one more reading; resume after the first reading: everything after it, once (the
    # late glucose of minute -20 is older than the cursor and is not replayed)
    add(s, hr(T0 + timedelta(minutes=5), 105))
    with world.server.stream(path, world.tokens["dr-full"], last_id=got[0].id) as again:
        resumed = again.wait(5, "reading")
        add(s, hr(T0 + timedelta(minutes=6), 106))
        marker = again.wait(6, "reading")[-1]
        time.sleep(10 * INTERVAL)
        assert len(again.of("reading")) == 6
    assert sorted(seen(resumed)[:2]) == [("2339-0", 202), ("8867-4", 102)]
    assert seen(resumed)[2:] == [("8867-4", 103), ("8867-4", 104), ("8867-4", 105)]
    assert seen([marker]) == [("8867-4", 106)]
    # resuming from the newest id sends nothing old; the query parameter works the same
    last = marker.id
    assert last is not None
    with world.server.stream(f"{path}?last_event_id={last}", world.tokens["dr-full"]) as more:
        add(s, hr(T0 + timedelta(minutes=7), 107))
        assert seen(more.wait(1, "reading")) == [("8867-4", 107)]
        time.sleep(5 * INTERVAL)
        assert len(more.of("reading")) == 1


def test_a_write_from_another_process_shows_up(both: World) -> None:
    world, store = both, both.store
    code = (
        "import sys; from datetime import datetime\n"
        "from hyperhealth.store import Store\n"
        "from hyperhealth.model import Observation\n"
        "s = Store(sys.argv[1])\n"
        "with s.transaction() as w:\n"
        "    w.add_observations([Observation('p-live', '8867-4',\n"
        "        datetime.fromisoformat(sys.argv[2]), 99.0, '/min', source='other')])\n")
    with world.server.stream(f"/api/persons/{PID}/live", world.tokens["dr-full"]) as live:
        t = T0 + timedelta(minutes=9)
        subprocess.run([sys.executable, "-c", code, store.url, t.isoformat()], check=True,
                       cwd=ROOT, timeout=120)
        (got,) = live.wait(1, "reading")
    assert got.data["value"] == 99.0 and got.data["t"] == t.isoformat()


def test_categories_the_caller_may_not_see_are_left_out(world: World) -> None:
    s = world.store
    with world.server.stream(f"/api/persons/{PID}/live", world.tokens["dr-vitals"]) as live:
        add(s, glucose(T0 + timedelta(minutes=1), 250), hr(T0 + timedelta(minutes=1), 88))
        raise_alert(s, PID)  # alerts are not granted either
        add(s, glucose(T0 + timedelta(minutes=2), 260))
        add(s, hr(T0 + timedelta(minutes=3), 89))
        live.wait(2, "reading")
        time.sleep(5 * INTERVAL)
        assert seen(live.of()) == [("8867-4", 88), ("8867-4", 89)]  # no glucose, no alert
        # granted later: glucose from then on (the alerts category still missing)
        ConsentBook(s).grant(PID, "dr-vitals", [Category.CGM], by=SYSTEM)
        time.sleep(5 * INTERVAL)
        add(s, glucose(T0 + timedelta(minutes=4), 270))
        live.wait(5, "reading")
        time.sleep(5 * INTERVAL)
    # the glucose stored while it was not granted is within the late window, so it comes
    # with the grant, in time order
    assert seen(live.of()) == [("8867-4", 88), ("8867-4", 89), ("2339-0", 250),
                               ("2339-0", 260), ("2339-0", 270)]


def test_alerts_arrive_and_change(world: World) -> None:
    s, book = world.store, AlertBook(world.store)
    with world.server.stream(f"/api/persons/{PID}/live", world.tokens["dr-full"]) as live:
        aid = raise_alert(s, PID)
        raise_alert(s, "p-other")  # someone else's alert is not in this stream
        (opened,) = live.wait(1, "alert")
        book.acknowledge(aid, "dr-full")
        acked = live.wait(2, "alert")[1]
        raise_alert(s, PID, level=Level.WARN, rule="glucose", key="high", title="High glucose")
        third = live.wait(3, "alert")[2]
        time.sleep(5 * INTERVAL)
        assert len(live.of("alert")) == 3
    assert opened.data["id"] == aid and opened.data["status"] == "open"
    assert opened.data["level"] == "urgent" and opened.data["title"] == "Low blood oxygen"
    assert opened.data["person_id"] == PID and opened.id
    assert acked.data["id"] == aid and acked.data["status"] == "acknowledged"
    assert third.data["level"] == "warn"
    # resuming after the acknowledgement sends only the newer alert
    with world.server.stream(f"/api/persons/{PID}/live", world.tokens["dr-full"],
                             last_id=acked.id) as again:
        got = again.wait(1, "alert")
        time.sleep(5 * INTERVAL)
        assert len(again.of("alert")) == 1
    assert got[0].data["title"] == "High glucose"


def test_revoking_consent_cuts_the_stream(both: World) -> None:
    world = both
    with world.server.stream(f"/api/persons/{PID}/live", world.tokens["dr-full"]) as live:
        add(world.store, hr(T0 + timedelta(minutes=1), 77))
        live.wait(1, "reading")
        ConsentBook(world.store).revoke(PID, world.grants["full"], by=SYSTEM)
        start = time.monotonic()
        (ev,) = live.wait(1, "revoked")
        live.wait_end()
        took = time.monotonic() - start
    assert ev.data == {"reason": "consent"}
    assert took < 2.0, f"revoking took {took:.2f} s to cut the stream"
    assert live.of()[-1].event == "revoked"
    # and a new stream is refused
    r = world.server.client.get(f"/api/persons/{PID}/live", headers={
        "Authorization": f"Bearer {world.tokens['dr-full']}"})
    assert r.status_code == 403


def test_signing_out_ends_the_stream(world: World) -> None:
    with world.server.stream(f"/api/persons/{PID}/live", world.tokens["pat"]) as live:
        add(world.store, glucose(T0 + timedelta(minutes=1), 140))
        live.wait(1, "reading")  # the patient sees their own glucose
        Identity(world.store).revoke(world.tokens["pat"])
        (ev,) = live.wait(1, "revoked")
        live.wait_end()
    assert ev.data == {"reason": "signed-out"}


def test_triage_stream_follows_visibility(both: World) -> None:
    world = both
    s, consents = world.store, ConsentBook(world.store)
    with world.server.stream("/api/triage/live", world.tokens["dr-full"]) as live:
        other = raise_alert(s, "p-other")  # dr-full sees p-other's vitals, not its alerts
        mine = raise_alert(s, PID)
        (first,) = live.wait(1, "alert")
        grant = consents.grant("p-other", "dr-full", [Category.ALERTS], by=SYSTEM)
        AlertBook(s).acknowledge(other, "someone")
        second = live.wait(2, "alert")[1]
        consents.revoke("p-other", grant.pk, by=SYSTEM)
        AlertBook(s).resolve(other, "someone")
        AlertBook(s).acknowledge(mine, "someone")
        third = live.wait(3, "alert")[2]
        time.sleep(5 * INTERVAL)
        assert len(live.of("alert")) == 3
    assert (first.data["id"], first.data["person_id"]) == (mine, PID)
    assert (second.data["id"], second.data["status"]) == (other, "acknowledged")
    assert (third.data["id"], third.data["status"]) == (mine, "acknowledged")


def test_the_server_stops_polling_when_the_client_goes(world: World) -> None:
    state = world.server.srv.config.app.state  # type: ignore[attr-defined]
    with world.server.stream(f"/api/persons/{PID}/live", world.tokens["dr-full"]), \
            world.server.stream("/api/triage/live", world.tokens["dr-full"]):
        # a stream counts itself once its generator runs, which can be just after the client
        # has the response headers (a loaded CI machine showed 1 of 2)
        end = time.monotonic() + WAIT
        while state.live_streams < 2 and time.monotonic() < end:
            time.sleep(0.02)
        assert state.live_streams == 2
    end = time.monotonic() + WAIT
    while state.live_streams and time.monotonic() < end:
        time.sleep(0.02)
    assert state.live_streams == 0


def test_streams_refuse_callers_without_access(world: World) -> None:
    c = world.server.client
    pat = {"Authorization": f"Bearer {world.tokens['pat']}"}
    assert c.get("/api/triage/live", headers=pat).status_code == 403
    assert c.get("/api/persons/p-other/live", headers=pat).status_code == 403
    assert c.get(f"/api/persons/{PID}/live").status_code == 401


def test_once_ends_after_one_poll_with_security_headers(world: World) -> None:
    """The form the authorisation matrix calls (in-process, so a stream must end)."""
    with TestClient(world.server.srv.config.app) as client:
        h = {"Authorization": f"Bearer {world.tokens['dr-full']}"}
        r = client.get(f"/api/persons/{PID}/live", params={"once": "true"}, headers=h)
        assert r.status_code == 200 and r.text.startswith("retry: ")
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["cache-control"] == "no-store"
        r = client.get("/api/triage/live?once=1", headers=h)
        assert r.status_code == 200 and "retry:" in r.text


def test_cursor_round_trip_and_bad_ids() -> None:
    c = Cursor(123, 2, 5, 9, ("e3", "n7"))
    assert Cursor.parse(c.text()) == c
    for bad in ("", "x", "1.2.3", "1.2.3.4.z9", "-1.0.0.0", "1.0.0.0.e", "9" * 2000):
        assert Cursor.parse(bad) is None, bad


# -- the client module in a real browser ---------------------------------------------------------
def _denied(store: Store, person_id: str) -> int:
    """Refused calls of the person stream recorded in the audit log."""
    a = t.audit_log
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).where(
            a.c.resource == "GET /api/persons/{person_id}/live", a.c.outcome == "deny",
            a.c.person_id == person_id)).scalar_one())


def until(page: Any, expression: str, timeout: float = WAIT) -> None:
    """Wait until ``expression`` is true in the page (polled from here: the pages' content
    security policy forbids the in-page evaluation Playwright's waits use)."""
    end = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < end, f"{expression} stayed false"
        time.sleep(0.05)


def test_live_js_in_a_browser(world: World) -> None:
    """static/live.js: readings reach the handlers, a server restart is resumed without loss
    or repeats, a refused stream is tried again with back-off, ``revoked`` closes it."""
    from tests.browser import chromium

    s = world.store
    srv = Server(s, web=True)
    try:
        with chromium() as browser:
            ctx = browser.new_context()
            ctx.add_cookies([{"name": SESSION_COOKIE, "value": world.tokens["dr-full"],
                              "url": srv.url}])
            page = ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(srv.url + "/healthz")
            page.add_script_tag(url="/static/live.js")
            page.evaluate("""(url) => {
                window.got = []; window.states = [];
                window.live = hhLive.connect(url, {
                    reading: (d) => got.push("reading " + d.value),
                    alert: (d) => got.push("alert " + d.status),
                    revoked: (d) => got.push("revoked " + d.reason),
                    state: (st) => states.push(st)});
            }""", f"/api/persons/{PID}/live")
            until(page, "states.includes('open')")
            add(s, hr(T0 + timedelta(minutes=1), 101))
            until(page, "got.length >= 1")
            # the server goes away; a reading arrives meanwhile; a new server takes over
            srv.close()
            add(s, hr(T0 + timedelta(minutes=2), 102))
            srv = Server(s, port=srv.port, web=True)
            until(page, "got.length >= 2", 30)
            raise_alert(s, PID)
            until(page, "got.length >= 3")
            ConsentBook(s).revoke(PID, world.grants["full"], by=SYSTEM)
            until(page, "got.length >= 4")
            time.sleep(20 * INTERVAL)
            assert page.evaluate("got") == ["reading 101", "reading 102", "alert open",
                                            "revoked consent"]
            states = page.evaluate("states")
            assert states[0] == "open" and "retrying" in states and states[-1] == "closed"
            assert page.evaluate("live.lastEventId")
            # refused (no consent for this person): tried again, later each time, until closed
            with s.transaction() as w:
                w.upsert_person(Person("p-none"))
            page.evaluate("""() => { window.states2 = [];
                window.live2 = hhLive.connect("/api/persons/p-none/live",
                                              {state: (st) => states2.push(st)}); }""")
            deadline = time.monotonic() + 20
            while _denied(s, "p-none") < 3 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert _denied(s, "p-none") >= 3  # 1 s, then 2 s later
            page.evaluate("live2.close()")
            assert page.evaluate("states2").count("open") == 0
            assert page.evaluate("states2")[-1] == "closed"
            stopped = _denied(s, "p-none")
            time.sleep(3)
            assert _denied(s, "p-none") == stopped  # closed means no more attempts
            assert not errors, errors
    finally:
        srv.close()


@pytest.mark.postgres
def test_an_alert_committed_after_a_later_one_is_not_skipped(pg_url: str) -> None:
    """Two writers on PostgreSQL: keys are taken in one order and committed in the other; the
    feed passes the newer key and still delivers the older one when it commits."""
    from hyperhealth.actions.alerts import AlertRequest
    from hyperhealth.delivery.api._live import AlertFeed
    from tests.delivery.alert_rows import T0 as ALERT_T0

    store = Store(pg_url)
    try:
        with store.transaction() as w:
            w.upsert_person(Person("p-slow"))
            w.upsert_person(Person("p-fast"))
        feed = AlertFeed(store, None)
        slow = AlertRequest(person_id="p-slow", rule="spo2", rule_version="1",
                            level=Level.URGENT, time=ALERT_T0, title="Low blood oxygen",
                            explanation="x", key="low", evidence={}, citation="c")
        with store.transaction() as w:
            AlertBook(store).apply(w.conn, [slow], {}, time.time_ns() // 1000)
            fast = raise_alert(store, "p-fast")  # its own transaction, committed first
            first = feed.poll()
            assert [c.alert_id for c in first] == [fast]
            assert feed.gaps  # the slow transaction's keys, looked for again
        second = feed.poll()
        assert [(c.person_id, c.status) for c in second] == [("p-slow", "open")]
        assert feed.poll() == [] and not feed.gaps
    finally:
        store.close()
