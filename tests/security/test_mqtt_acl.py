"""``hyperhealth mqtt-acl``: Mosquitto's password and ACL files, proved on a real broker.

The broker tests start their own ``mosquitto`` on a free port with the generated files, so they
need the binary but not the shared broker; they skip without it unless
HYPERHEALTH_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import base64
import os
import queue
import shutil
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
import typer
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode
from typer.testing import CliRunner

from hyperhealth.errors import InputError, NotFound
from hyperhealth.model import Person
from hyperhealth.security._broker import (
    BrokerKind,
    alert_readers,
    broker_pid,
    build_broker_files,
    issue_credentials,
    mosquitto_hash,
    mosquitto_verify,
    reload_broker,
    revoke_credentials,
    watch,
    write_broker_files,
)
from hyperhealth.security._consent import ConsentBook
from hyperhealth.security._model import Actor, Category, Role
from hyperhealth.store import Store
from hyperhealth.store import _schema as S
from tests.conftest import services_required

NOW = time.time_ns() // 1000

# Written by Mosquitto 2.0.11's own tool: `mosquitto_passwd -c -b pw alice s3cret`.
MOSQUITTO_PASSWD_LINE = ("alice:$7$101$v/QAc+uncOjeIq0r$hgWKj8WMFX3us6QHEPuGPdkvwgQT4H455dB7NVS/5s"
                         "/O+92vg2W7OF4hCw330ulePnqeX/D0v3YucV5Zeu6WLg==")


# -- the store scenario -------------------------------------------------------------------------
@dataclass
class World:
    store: Store
    secrets: dict[str, str] = field(default_factory=dict)
    grant_pk: int = 0


def _user(store: Store, username: str, role: Role, person_id: str | None = None,
          disabled: bool = False) -> int:
    u = S.users
    with store.engine.begin() as conn:
        ppk = store.person_pk(person_id) if person_id else None
        return int(conn.execute(u.insert().values(
            username=username, role=role.value, person_pk=ppk, display_name=username,
            password_hash="-", preferences={}, failed_logins=0, disabled=disabled,
            created_us=NOW).returning(u.c.pk)).scalar_one())


def _actor(store: Store, username: str) -> Actor:
    u, p = S.users, S.persons
    with store.engine.connect() as conn:
        r = conn.execute(sa.select(u.c.pk, u.c.role, p.c.id).outerjoin(p, u.c.person_pk == p.c.pk)
                         .where(u.c.username == username)).one()
    return Actor(username=username, role=Role(r.role), person_id=r.id, user_pk=r.pk)


def make_world(store: Store) -> World:
    """Persons A and B with a device each; patient of A; a clinician with an alerts consent
    for A only; a clinician without consent; a service account."""
    with store.transaction() as w:
        for pid in ("p-a", "p-b"):
            w.upsert_person(Person(id=pid))
        w.register_device("dev-a", "p-a")
        w.register_device("dev-b", "p-b")
    _user(store, "pat-a", Role.PATIENT, "p-a")
    _user(store, "clin-yes", Role.CLINICIAN)
    _user(store, "clin-no", Role.CLINICIAN)
    book = ConsentBook(store)
    g = book.grant("p-a", "clin-yes", [Category.ALERTS, Category.VITALS],
                   by=_actor(store, "pat-a"))
    world = World(store, grant_pk=g.pk)
    for name, kind in (("svc", BrokerKind.SERVICE), ("dev-a", BrokerKind.DEVICE),
                       ("dev-b", BrokerKind.DEVICE), ("pat-a", BrokerKind.USER),
                       ("clin-yes", BrokerKind.USER), ("clin-no", BrokerKind.USER)):
        world.secrets[name] = issue_credentials(store, name, kind)
    return world


# -- hashing ------------------------------------------------------------------------------------
def test_hash_reproduces_mosquitto_passwd_output_byte_for_byte() -> None:
    encoded = MOSQUITTO_PASSWD_LINE.split(":", 1)[1]
    salt = base64.b64decode(encoded.split("$")[3])
    assert mosquitto_hash("s3cret", salt=salt, iterations=101) == encoded
    assert mosquitto_verify(encoded, "s3cret")
    assert not mosquitto_verify(encoded, "s3cret ")


def test_hash_verifies_what_the_installed_mosquitto_passwd_writes(tmp_path: Path) -> None:
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        _absent("mosquitto_passwd")
        return
    pw = tmp_path / "pw"
    subprocess.run([tool, "-c", "-b", str(pw), "bob", "correct horse"], check=True,
                   capture_output=True)
    encoded = pw.read_text().strip().split(":", 1)[1]
    assert encoded.startswith("$7$")
    assert mosquitto_verify(encoded, "correct horse")
    assert not mosquitto_verify(encoded, "correct hors")


def test_hash_rejects_what_mosquitto_would_reject() -> None:
    with pytest.raises(ValueError, match="12-byte salt"):
        mosquitto_hash("x", salt=bytes(16))
    with pytest.raises(ValueError, match="at least 1"):
        mosquitto_hash("x", iterations=0)
    with pytest.raises(ValueError, match=r"\$7\$"):
        mosquitto_verify("$6$abc$def", "x")


# -- credentials --------------------------------------------------------------------------------
def test_credentials_are_random_shown_once_and_stored_only_hashed(store: Store) -> None:
    world = make_world(store)
    bc = S.broker_credentials
    with store.engine.connect() as conn:
        rows = dict(conn.execute(sa.select(bc.c.username, bc.c.password_hash)).all())
    assert set(rows) == set(world.secrets)
    for name, secret in world.secrets.items():
        assert len(secret) >= 43  # 32 random bytes, base64url
        assert secret not in rows[name]
        assert mosquitto_verify(rows[name], secret)
    assert len(set(world.secrets.values())) == len(world.secrets)


def test_issuing_checks_names_kinds_and_duplicates(store: Store) -> None:
    make_world(store)
    with pytest.raises(NotFound, match="no registered device 'dev-x'"):
        issue_credentials(store, "dev-x", "device")
    with pytest.raises(NotFound, match="no user 'nobody'"):
        issue_credentials(store, "nobody", "user")
    with pytest.raises(InputError, match="exist already"):
        issue_credentials(store, "dev-a", "device")
    with pytest.raises(InputError, match="belongs to a device"):
        issue_credentials(store, "dev-a", "service", replace=True)
    with pytest.raises(InputError, match="cannot be used with the MQTT broker"):
        issue_credentials(store, "svc/#", "service")
    with pytest.raises(ValueError):
        issue_credentials(store, "svc2", "robot")
    new = issue_credentials(store, "dev-a", "device", replace=True)
    assert revoke_credentials(store, "dev-a") and not revoke_credentials(store, "dev-a")
    again = issue_credentials(store, "dev-a", "device")  # a revoked name can be issued anew
    assert again != new


# -- the files ----------------------------------------------------------------------------------
def _sections(acl: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    user = None
    for line in acl.splitlines():
        if line.startswith("user "):
            user = line[5:]
            out[user] = []
        elif line.startswith("topic ") or line.startswith("pattern "):
            assert user is not None, f"{line!r} outside a user section applies to anonymous"
            out[user].append(line)
    return out


def test_acl_gives_each_account_exactly_its_topics(store: Store) -> None:
    make_world(store)
    files = build_broker_files(store)
    assert _sections(files.acl_text) == {
        "svc": ["topic read hyperhealth/+/readings", "topic write hyperhealth/+/alerts"],
        "dev-a": ["topic write hyperhealth/dev-a/readings"],
        "dev-b": ["topic write hyperhealth/dev-b/readings"],
        "clin-no": [],
        "clin-yes": ["topic read hyperhealth/p-a/alerts"],
        "pat-a": ["topic read hyperhealth/p-a/alerts"],
    }
    assert "pattern" not in files.acl_text
    assert (files.devices, files.users, files.services, files.person_topics, files.grants) == \
        (2, 3, 1, 1, 2)
    names = [line.split(":", 1)[0] for line in files.password_text.splitlines()]
    assert names == sorted(["svc", "dev-a", "dev-b", "pat-a", "clin-yes", "clin-no"])
    assert files.skipped == []


def test_team_consent_break_glass_expiry_and_disabled_users(store: Store) -> None:
    world = make_world(store)
    book = ConsentBook(store)
    # a care team member reads B's alerts through the team; a consent without 'alerts' gives
    # no topic; an expired consent gives none; an active break-glass does until it ends
    nurse = _user(store, "nurse", Role.CARE_COORDINATOR)
    _user(store, "pat-b", Role.PATIENT, "p-b")
    with store.engine.begin() as conn:
        team = conn.execute(S.care_teams.insert().values(name="ward-3")
                            .returning(S.care_teams.c.pk)).scalar_one()
        conn.execute(S.care_team_members.insert().values(team_pk=team, user_pk=nurse))
    pat_b = _actor(store, "pat-b")
    book.grant("p-b", "ward-3", [Category.ALERTS], grantee_kind="team", by=pat_b)
    book.grant("p-b", "clin-yes", [Category.VITALS], by=pat_b)  # not alerts
    book.grant("p-b", "clin-no", [Category.ALERTS], by=pat_b, start_us=NOW - 10_000_000,
               end_us=NOW - 1)
    glass = book.break_glass(_actor(store, "clin-no"), "p-a", "unconscious in ED, no consent",
                             minutes=5)
    issue_credentials(store, "nurse", "user")
    issue_credentials(store, "pat-b", "user")
    files = build_broker_files(store)
    acl = _sections(files.acl_text)
    assert acl["nurse"] == ["topic read hyperhealth/p-b/alerts"]
    assert acl["clin-yes"] == ["topic read hyperhealth/p-a/alerts"]
    assert acl["clin-no"] == ["topic read hyperhealth/p-a/alerts"]  # break-glass
    assert acl["pat-b"] == ["topic read hyperhealth/p-b/alerts"]
    assert files.next_change_us == glass.end_us
    later = build_broker_files(store, now_us=glass.end_us)
    assert _sections(later.acl_text)["clin-no"] == []

    # the bulk rule is the consent book's rule, person by person
    now = time.time_ns() // 1000
    with store.engine.connect() as conn:
        readers = alert_readers(conn, now)
    for pid in ("p-a", "p-b"):
        expected = book.grantees(pid, Category.ALERTS, now_us=now)
        assert {u for u, ps in readers.items() if pid in ps} == expected, pid

    # disabled users, unregistered devices and revoked credentials are left out, with a reason
    with store.engine.begin() as conn:
        conn.execute(S.users.update().where(S.users.c.username == "nurse").values(disabled=True))
        conn.execute(S.broker_credentials.insert().values(
            username="ghost", kind="device", password_hash=mosquitto_hash("x"), created_us=NOW))
    revoke_credentials(store, "dev-b")
    files = build_broker_files(store)
    acl = _sections(files.acl_text)
    assert "nurse" not in acl and "ghost" not in acl and "dev-b" not in acl
    assert not any(line.startswith(("nurse:", "ghost:", "dev-b:"))
                   for line in files.password_text.splitlines())
    assert sorted(files.skipped) == ["device 'ghost': no registered device with this id",
                                     "user 'nurse': no enabled user with this name"]
    assert world.secrets  # the world's other accounts are still there
    assert "dev-a" in acl


def test_files_are_written_atomically_with_tight_modes_and_only_on_change(
        sqlite_store: Store, tmp_path: Path) -> None:
    world = make_world(sqlite_store)
    pw, acl = tmp_path / "mq" / "passwd", tmp_path / "mq" / "acl"
    files = build_broker_files(sqlite_store)
    assert write_broker_files(files, pw, acl)
    assert stat.S_IMODE(pw.stat().st_mode) == 0o600
    assert stat.S_IMODE(acl.stat().st_mode) == 0o640
    assert pw.read_text() == files.password_text and acl.read_text() == files.acl_text
    before = (pw.stat().st_mtime_ns, acl.stat().st_mtime_ns)
    assert not write_broker_files(build_broker_files(sqlite_store), pw, acl)
    assert (pw.stat().st_mtime_ns, acl.stat().st_mtime_ns) == before
    assert sorted(p.name for p in pw.parent.iterdir()) == ["acl", "passwd"]  # no temp files
    ConsentBook(sqlite_store).revoke("p-a", world.grant_pk, by=_actor(sqlite_store, "pat-a"))
    assert write_broker_files(build_broker_files(sqlite_store), pw, acl)
    assert _sections(acl.read_text())["clin-yes"] == []


def test_watch_rewrites_when_a_consent_expires_and_asks_for_a_reload(
        sqlite_store: Store, tmp_path: Path) -> None:
    make_world(sqlite_store)
    soon = time.time_ns() // 1000 + 1_500_000
    ConsentBook(sqlite_store).grant("p-b", "clin-no", [Category.ALERTS],
                                    by=Actor(username="admin", role=Role.ADMIN), end_us=soon)
    pw, acl = tmp_path / "passwd", tmp_path / "acl"
    reloads: list[float] = []
    rounds: list[tuple[int, bool]] = []
    stop = threading.Event()

    def reload() -> None:
        reloads.append(time.monotonic())

    def on_round(files: Any, changed: bool) -> None:
        rounds.append((files.grants, changed))
        if len(reloads) >= 2:
            stop.set()

    t = threading.Thread(target=watch, args=(sqlite_store, pw, acl),
                         kwargs={"interval_s": 30.0, "reload": reload, "stop": stop,
                                 "on_round": on_round}, daemon=True)
    t0 = time.monotonic()
    t.start()
    t.join(timeout=10)
    stop.set()
    assert not t.is_alive()
    # first round writes (reload 1); the next wakes at the consent's end, not after 30 s
    assert len(reloads) == 2 and reloads[1] - t0 < 5
    assert rounds[0] == (3, True) and rounds[-1] == (2, True)
    assert "hyperhealth/p-b/alerts" not in acl.read_text()


def test_broker_pid_refuses_a_process_that_is_not_mosquitto(tmp_path: Path) -> None:
    from hyperhealth.errors import ConfigError

    with pytest.raises(ConfigError, match="not mosquitto"):
        broker_pid(os.getpid())
    (tmp_path / "pid").write_text("not a pid")
    with pytest.raises(ConfigError, match="cannot read a pid"):
        broker_pid(pid_file=tmp_path / "pid")


def test_cli_writes_the_files_and_reports_counts(sqlite_url: str, tmp_path: Path) -> None:
    from hyperhealth.config import Settings
    from hyperhealth.delivery.cli import _app
    from hyperhealth.delivery.cli._mqtt_acl_cmd import credentials_app, mqtt_acl

    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        _app._state.settings = Settings.load(data_dir=tmp_path, database_url=sqlite_url)

    app.command("mqtt-acl")(mqtt_acl)
    app.add_typer(credentials_app, name="mqtt-credentials")
    store = Store(sqlite_url)
    make_world(store)
    runner = CliRunner()
    r = runner.invoke(app, ["mqtt-credentials", "issue", "svc-2", "--kind", "service", "--json"])
    assert r.exit_code == 0, r.output
    import json

    secret = json.loads(r.stdout)["secret"]
    r = runner.invoke(app, ["mqtt-acl", "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert (report["devices"], report["users"], report["services"], report["person_topics"],
            report["changed"], report["reloaded"]) == (2, 3, 2, 1, True, False)
    line = next(x for x in (tmp_path / "mosquitto" / "passwd").read_text().splitlines()
                if x.startswith("svc-2:"))
    assert mosquitto_verify(line.split(":", 1)[1], secret)
    r = runner.invoke(app, ["mqtt-acl", "--reload-pid", str(os.getpid())])
    assert r.exit_code == 2 and "not mosquitto" in r.output
    r = runner.invoke(app, ["mqtt-credentials", "issue", "x", "--kind", "robot"])
    assert r.exit_code == 2 and "use device, user or service" in r.output
    store.close()


# -- the real broker ----------------------------------------------------------------------------
def _absent(what: str) -> None:
    msg = f"{what} is not installed (apt-get install mosquitto)"
    if services_required():
        pytest.fail(msg + " and HYPERHEALTH_REQUIRE_SERVICES=1")
    pytest.skip(msg)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Broker:
    port: int
    proc: subprocess.Popen[bytes]
    password_file: Path
    acl_file: Path
    log: Path


@pytest.fixture
def broker_dir(tmp_path: Path) -> Path:
    d = tmp_path / "broker"
    d.mkdir()
    return d


@contextmanager
def start_broker(folder: Path) -> Iterator[Broker]:
    binary = shutil.which("mosquitto") or ("/usr/sbin/mosquitto"
                                           if Path("/usr/sbin/mosquitto").exists() else None)
    if binary is None:
        _absent("the mosquitto broker")
        raise AssertionError("unreachable")
    port = _free_port()
    pw, acl, log = folder / "passwd", folder / "acl", folder / "mosquitto.log"
    conf = folder / "mosquitto.conf"
    import getpass

    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {pw}\n"
                    f"acl_file {acl}\npersistence false\nlog_dest file {log}\nlog_type all\n"
                    # started as root it would switch to 'mosquitto', who cannot read 0600 files
                    f"user {getpass.getuser()}\n")
    with log.open("ab") as out:
        proc = subprocess.Popen([binary, "-c", str(conf)], stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"mosquitto did not start: {log.read_text()[-2000:]}")
                time.sleep(0.05)
        yield Broker(port, proc, pw, acl, log)
    finally:
        proc.kill()
        proc.wait(timeout=10)


class Client:
    """A paho MQTT v5 client that records what the broker answered and delivered."""

    def __init__(self, port: int, username: str | None, password: str | None, *,
                 will: str | None = None) -> None:
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.connack: queue.Queue[int] = queue.Queue()
        self.subacks: dict[int, list[int]] = {}
        self.pubacks: dict[int, int] = {}
        self.disconnected = threading.Event()
        self._acked = threading.Condition()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{username}-{time.time_ns()}",
                        protocol=mqtt.MQTTv5)
        if username is not None:
            c.username_pw_set(username, password)
        if will:
            c.will_set(will, b"will", qos=1)
        c.on_connect = lambda _c, _u, _f, rc, _p: self.connack.put(int(rc.value))
        c.on_message = lambda _c, _u, m: self.messages.put((m.topic, bytes(m.payload)))
        c.on_subscribe = self._on_suback
        c.on_publish = self._on_puback
        c.on_disconnect = lambda *_a: self.disconnected.set()
        self.c = c
        c.connect("127.0.0.1", port)
        c.loop_start()
        self.rc = self.connack.get(timeout=5)

    def _on_suback(self, _c: Any, _u: Any, mid: int, codes: list[ReasonCode], _p: Any) -> None:
        with self._acked:
            self.subacks[mid] = [int(x.value) for x in codes]
            self._acked.notify_all()

    def _on_puback(self, _c: Any, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        with self._acked:
            self.pubacks[mid] = int(rc.value)
            self._acked.notify_all()

    def _wait(self, table: dict[int, Any], mid: int) -> Any:
        with self._acked:
            assert self._acked.wait_for(lambda: mid in table, timeout=5), "no answer from broker"
            return table[mid]

    def subscribe(self, topic: str) -> int:
        """The SUBACK reason code (0-2: granted QoS; >= 0x80: refused)."""
        rc, mid = self.c.subscribe(topic, qos=1)
        assert rc == mqtt.MQTT_ERR_SUCCESS and mid is not None, f"cannot send SUBSCRIBE: {rc}"
        return int(self._wait(self.subacks, mid)[0])

    def publish(self, topic: str, payload: bytes) -> int:
        """The PUBACK reason code (0: accepted; 0x87 = 135: not authorised)."""
        info = self.c.publish(topic, payload, qos=1)
        return int(self._wait(self.pubacks, info.mid))

    def received(self, settle: float = 0.0) -> list[tuple[str, bytes]]:
        time.sleep(settle)
        out = []
        while True:
            try:
                out.append(self.messages.get_nowait())
            except queue.Empty:
                return out

    def wait_for(self, n: int, timeout: float = 5.0) -> list[tuple[str, bytes]]:
        got: list[tuple[str, bytes]] = []
        deadline = time.monotonic() + timeout
        while len(got) < n and time.monotonic() < deadline:
            try:
                got.append(self.messages.get(timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                break
        return got

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


SETTLE = 0.5  # after the positive controls arrived, time for a wrong delivery to show up
NOT_AUTHORISED = 0x87  # MQTT v5 reason code 135
REFUSED = {0x86, 0x87}  # bad user name or password / not authorised


@pytest.mark.mqtt
def test_real_mosquitto_enforces_the_generated_files(store: Store, broker_dir: Path) -> None:
    world = make_world(store)
    files = build_broker_files(store)
    assert write_broker_files(files, broker_dir / "passwd", broker_dir / "acl")
    clients: list[Client] = []

    def connect(name: str | None, password: str | None = None, **kw: Any) -> Client:
        c = Client(broker.port, name, password if password is not None
                   else world.secrets.get(name or "", ""), **kw)
        clients.append(c)
        return c

    with start_broker(broker_dir) as broker:
        try:
            _scenario(world, store, broker, connect)
        finally:
            for c in clients:
                c.close()
    assert broker.proc.poll() is not None  # the broker is gone, whatever happened


def _scenario(world: World, store: Store, broker: Broker,
              connect: Callable[..., Client]) -> None:
    # -- authentication: wrong password, unknown name and anonymous are refused ----------
    assert connect("clin-yes", "wrong-" + world.secrets["clin-yes"]).rc in REFUSED
    assert connect("nobody", "whatever").rc in REFUSED
    assert connect(None).rc in REFUSED
    svc, dev_a, dev_b = connect("svc"), connect("dev-a"), connect("dev-b")
    pat_a, clin_yes, clin_no = connect("pat-a"), connect("clin-yes"), connect("clin-no")
    for c in (svc, dev_a, dev_b, pat_a, clin_yes, clin_no):
        assert c.rc == 0

    # -- devices publish only their own readings topic -------------------------------------
    assert svc.subscribe("hyperhealth/+/readings") == 1
    dev_b.subscribe("hyperhealth/#")  # a device reads nothing, not even with a wildcard
    assert dev_a.publish("hyperhealth/dev-b/readings", b"forged") == NOT_AUTHORISED
    assert dev_a.publish("hyperhealth/p-a/alerts", b"fake alert") == NOT_AUTHORISED
    assert dev_a.publish("hyperhealth/dev-a/readings", b"own") == 0
    assert svc.wait_for(1) == [("hyperhealth/dev-a/readings", b"own")]
    assert svc.received(SETTLE) == []
    assert dev_b.received() == []
    # a will message is a publish too: one on another device's topic is never delivered,
    # while the same device's will on its own topic is (so the will path really ran)
    with_will = ReasonCode(PacketTypes.DISCONNECT, identifier=0x04)  # disconnect, send will
    connect("dev-a", will="hyperhealth/dev-b/readings").c.disconnect(reasoncode=with_will)
    connect("dev-a", will="hyperhealth/dev-a/readings").c.disconnect(reasoncode=with_will)
    assert svc.wait_for(1) == [("hyperhealth/dev-a/readings", b"will")]
    assert svc.received(SETTLE) == []
    assert dev_b.publish("hyperhealth/dev-b/readings", b"own-b") == 0
    assert svc.wait_for(1) == [("hyperhealth/dev-b/readings", b"own-b")]

    # -- alerts reach only those with access -----------------------------------------------
    codes = {c: c.subscribe("hyperhealth/p-a/alerts") for c in (pat_a, clin_yes, clin_no)}
    # Mosquitto 2.0's acl_file grants every SUBSCRIBE and checks read access for each
    # message it would deliver, so the proof is what arrives, whatever the SUBACK says
    assert codes[pat_a] == 1 and codes[clin_yes] == 1
    assert codes[clin_no] in (1, 0x80, NOT_AUTHORISED)
    print(f"\nSUBACK to a subscriber without access: {codes[clin_no]:#x}")
    clin_yes.subscribe("hyperhealth/+/alerts")  # a wildcard does not widen access
    pat_a.subscribe("hyperhealth/p-b/alerts")
    dev_a.subscribe("hyperhealth/p-a/alerts")
    assert clin_yes.publish("hyperhealth/p-a/alerts", b"forged alert") == NOT_AUTHORISED
    assert svc.publish("hyperhealth/p-b/alerts", b"alert-b") == 0
    assert svc.publish("hyperhealth/p-a/alerts", b"alert-a1") == 0
    assert pat_a.wait_for(1) == [("hyperhealth/p-a/alerts", b"alert-a1")]
    got = clin_yes.wait_for(2)  # once per matching subscription
    assert got == [("hyperhealth/p-a/alerts", b"alert-a1")] * 2
    assert clin_no.received(SETTLE) == []
    assert pat_a.received() == [] and clin_yes.received() == [] and dev_a.received() == []

    # -- revoking the consent, regenerating and SIGHUP cut the clinician off --------------
    ConsentBook(store).revoke("p-a", world.grant_pk, by=_actor(store, "pat-a"))
    revoke_credentials(store, "dev-b")
    files = build_broker_files(store)
    assert write_broker_files(files, broker.password_file, broker.acl_file)
    reload_broker(broker_pid(broker.proc.pid))
    assert dev_b.disconnected.wait(5), "a revoked credential keeps its connection"
    assert svc.publish("hyperhealth/p-a/alerts", b"alert-a2") == 0
    assert pat_a.wait_for(1) == [("hyperhealth/p-a/alerts", b"alert-a2")]
    assert clin_yes.received(SETTLE) == []  # still subscribed, no longer delivered
    assert connect("dev-b").rc in REFUSED
    assert connect("clin-yes").rc == 0  # the clinician may connect, just not read A


def test_generation_time_for_ten_thousand_devices_and_users(store: Store) -> None:
    """Scale check (printed, not timed): 10k devices and 10k users with a consent each."""
    n = 10_000
    with store.engine.begin() as conn:
        conn.execute(S.persons.insert(), [{"id": f"p{i:05d}", "identity": {}, "created_us": NOW}
                                          for i in range(n)])
        pks = dict(conn.execute(sa.select(S.persons.c.id, S.persons.c.pk)).all())
        conn.execute(S.devices.insert(), [
            {"device_id": f"d{i:05d}", "person_pk": pks[f"p{i:05d}"], "kind": "",
             "registered_us": NOW} for i in range(n)])
        conn.execute(S.users.insert(), [
            {"username": f"u{i:05d}", "role": "clinician", "person_pk": None,
             "display_name": "", "password_hash": "-", "preferences": {}, "failed_logins": 0,
             "disabled": False, "created_us": NOW} for i in range(n)])
        conn.execute(S.consents.insert(), [
            {"person_pk": pks[f"p{i:05d}"], "grantee_kind": "user", "grantee": f"u{i:05d}",
             "categories": ["alerts"], "purpose": "treatment", "start_us": NOW - 1,
             "created_us": NOW, "created_by": "t"} for i in range(n)])
        h = mosquitto_hash("same-secret-for-speed")
        conn.execute(S.broker_credentials.insert(), [
            {"username": name, "kind": kind, "password_hash": h, "created_us": NOW}
            for i in range(n) for name, kind in ((f"d{i:05d}", "device"),
                                                 (f"u{i:05d}", "user"))])
    t0 = time.perf_counter()
    files = build_broker_files(store)
    seconds = time.perf_counter() - t0
    assert (files.devices, files.users, files.grants) == (n, n, n)
    print(f"\nmqtt-acl on {store.dialect}: {n} devices + {n} users with {n} grants built in "
          f"{seconds:.2f} s; "
          f"password file {len(files.password_text) / 1e6:.1f} MB, "
          f"ACL {len(files.acl_text) / 1e6:.1f} MB")
