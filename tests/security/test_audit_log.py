"""The audit trail on both backends: a clean chain verifies; editing, deleting, reordering or
cutting entries with raw SQL is found at the right entry; PostgreSQL refuses changes; concurrent
writers in separate processes do not fork the chain; FHIR AuditEvent export validates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import pytest
import sqlalchemy as sa
from fhir.resources.R4B.auditevent import AuditEvent
from typer.testing import CliRunner

from hyperhealth.delivery.cli import _audit_log as cli
from hyperhealth.security._audit import (
    GENESIS,
    AuditEntry,
    AuditLog,
    Head,
    ensure_append_only,
)
from hyperhealth.security._model import SYSTEM
from hyperhealth.store import Store

KEY = bytes(range(32))
N = 200
ROLES = ["clinician", "patient", "care-coordinator", "admin", "device"]
ACTIONS = ["read", "create", "update", "search", "export"]
OUTCOMES = ["permit", "permit", "permit", "deny", "break-glass"]


def entry(i: int) -> AuditEntry:
    return AuditEntry(
        actor=f"user-{i % 7}", role=ROLES[i % 5], action=ACTIONS[i % 5],
        resource=f"GET /api/persons/p-{i % 3}/observations", person_id=f"p-{i % 3}",
        purpose="treatment" if i % 4 else "emergency", outcome=OUTCOMES[i % 5],
        source=f"10.0.0.{i % 250}", detail={"i": i, "codes": ["8867-4"], "ratio": i / 7},
        t_us=1_700_000_000_000_000 + i * 1_000_000)


@pytest.fixture
def log(store: Store, tmp_path: Path) -> AuditLog:
    audit = AuditLog(store, KEY, checkpoint=tmp_path / "audit-head.json")
    for start in range(0, N, 50):  # several transactions, each a batch
        audit.record([entry(i) for i in range(start, start + 50)])
    return audit


@pytest.fixture
def sqlite_log(sqlite_store: Store, tmp_path: Path) -> AuditLog:
    audit = AuditLog(sqlite_store, KEY, checkpoint=tmp_path / "audit-head.json")
    audit.record([entry(i) for i in range(N)])
    return audit


def tamper(store: Store, *sql: str) -> None:
    """Run raw SQL as the database owner would, with the append-only guard out of the way."""
    with store.engine.begin() as conn:
        if store.dialect == "postgresql":
            conn.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_log_no_update")
            conn.exec_driver_sql("DROP TRIGGER audit_log_no_delete")
        for s in sql:
            conn.exec_driver_sql(s)
        if store.dialect == "postgresql":
            conn.exec_driver_sql("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")


def problem(audit: AuditLog) -> tuple[int, str]:
    report = audit.verify(batch=37)  # a batch size that does not divide N
    assert not report.ok and report.problem is not None
    return report.problem.seq, report.problem.kind


# -- a clean chain -----------------------------------------------------------------------------
def test_clean_chain_verifies(log: AuditLog, tmp_path: Path) -> None:
    report = log.verify(batch=37)
    assert report.ok, report.problem
    assert report.checked == N and report.head.seq == N
    assert report.checkpoint == report.head  # every record() moved the checkpoint
    lines = (tmp_path / "audit-head.json").read_text().splitlines()
    assert len(lines) == N // 50 and json.loads(lines[-1])["seq"] == N  # one line per seal
    first = next(log.records())
    assert first.seq == 1 and first.prev_hash == GENESIS
    assert first.detail == {"i": 0, "codes": ["8867-4"], "ratio": 0.0}


def test_progress_is_reported(log: AuditLog) -> None:
    seen: list[int] = []
    assert log.verify(batch=50, progress=seen.append).ok
    assert seen == [50, 100, 150, 200]


# -- tampering, found at the entry where it happened -------------------------------------------
def test_edited_content_is_found(log: AuditLog) -> None:
    tamper(log.store, "UPDATE audit_log SET actor = 'someone-else' WHERE seq = 77")
    assert problem(log) == (77, "edited")


def test_edited_detail_is_found(log: AuditLog) -> None:
    tamper(log.store, "UPDATE audit_log SET detail = '{\"i\": 1}' WHERE seq = 150")
    assert problem(log) == (150, "edited")


def test_edited_time_is_found(log: AuditLog) -> None:
    tamper(log.store, "UPDATE audit_log SET t_us = t_us + 1 WHERE seq = 3")
    assert problem(log) == (3, "edited")


def test_recomputed_plain_hash_is_found(log: AuditLog) -> None:
    """Someone without the key cannot make an edit consistent by rewriting the hash too."""
    import hashlib

    tamper(log.store, "UPDATE audit_log SET outcome = 'permit', "
                      f"hash = '{hashlib.sha256(b'forged').hexdigest()}' WHERE seq = 5")
    assert problem(log) == (5, "edited")


def test_deleted_middle_entry_is_found(log: AuditLog) -> None:
    tamper(log.store, "DELETE FROM audit_log WHERE seq = 100")
    assert problem(log) == (100, "deleted")


def test_deleted_and_renumbered_is_found(log: AuditLog) -> None:
    tamper(log.store, "DELETE FROM audit_log WHERE seq = 100",
           "UPDATE audit_log SET seq = -(seq - 1) WHERE seq > 100",
           "UPDATE audit_log SET seq = -seq WHERE seq < 0")
    assert problem(log) == (100, "deleted")


def test_swapped_entries_are_found(log: AuditLog) -> None:
    tamper(log.store, "UPDATE audit_log SET seq = -1 WHERE seq = 50",
           "UPDATE audit_log SET seq = 50 WHERE seq = 150",
           "UPDATE audit_log SET seq = 150 WHERE seq = -1")
    seq, kind = problem(log)
    assert (seq, kind) == (50, "reordered")
    found = log.verify().problem
    assert found is not None and "right after the entry now at 149" in found.message


def test_adjacent_swap_is_found(log: AuditLog) -> None:
    tamper(log.store, "UPDATE audit_log SET seq = -1 WHERE seq = 1",
           "UPDATE audit_log SET seq = 1 WHERE seq = 2",
           "UPDATE audit_log SET seq = 2 WHERE seq = -1")
    assert problem(log) == (1, "reordered")


def test_deleted_newest_entry_is_found_by_the_checkpoint(log: AuditLog) -> None:
    tamper(log.store, f"DELETE FROM audit_log WHERE seq = {N}")
    assert problem(log) == (N, "truncated")


def test_without_checkpoint_a_cut_tail_goes_unseen(log: AuditLog) -> None:
    """The limit of a chain alone, and why the checkpoint exists."""
    tamper(log.store, f"DELETE FROM audit_log WHERE seq > {N - 10}")
    bare = AuditLog(log.store, KEY, checkpoint=None)
    report = bare.verify()
    assert report.ok and report.checked == N - 10
    assert "cannot be detected" in report.warnings[0]
    assert problem(log) == (N - 9, "truncated")


def test_cut_and_regrown_tail_is_found(log: AuditLog) -> None:
    tamper(log.store, f"DELETE FROM audit_log WHERE seq > {N - 2}")
    log.record([entry(i) for i in range(5)])  # the application goes on writing
    assert log.head().seq == N + 3
    assert log.read_checkpoint() is not None
    assert log.read_checkpoint().seq == N  # type: ignore[union-attr]  # not moved past the cut
    assert problem(log) == (N, "checkpoint-mismatch")


def test_checkpoint_edited_or_removed_is_found(log: AuditLog) -> None:
    path = log.checkpoint
    assert path is not None
    d = json.loads(path.read_text().splitlines()[-1])
    with open(path, "a") as f:
        f.write(json.dumps({**d, "seq": d["seq"] + 5}) + "\n")
    assert problem(log) == (0, "bad-checkpoint")
    path.unlink()
    assert problem(log) == (0, "checkpoint-missing")
    assert log.seal() == log.head()  # trust on first use, as `hyperhealth audit seal` does
    assert log.verify().ok


def test_unfinished_checkpoint_line_falls_back_to_the_one_before(log: AuditLog) -> None:
    """A crash in the middle of writing a checkpoint leaves an older, still genuine one."""
    path = log.checkpoint
    assert path is not None
    with open(path, "a") as f:
        f.write('{"seq": 99999, "hash": "')
    assert log.read_checkpoint() == log.head()
    assert log.verify().ok
    log.record_one(entry(N))  # the next seal starts a fresh line after the fragment
    assert log.verify().checkpoint == Head(N + 1, log.head().hash)


def test_checkpoint_file_is_compacted(sqlite_store: Store, tmp_path: Path) -> None:
    audit = AuditLog(sqlite_store, KEY, checkpoint=tmp_path / "cp")
    for i in range(600):  # ~190 bytes a line: passes 64 KiB once
        audit.record_one(entry(i))
    assert (tmp_path / "cp").stat().st_size < 64 * 1024
    assert audit.verify().checkpoint == audit.head()


def test_wrong_key_fails_at_the_first_entry(log: AuditLog) -> None:
    other = AuditLog(log.store, bytes(32), checkpoint=None)
    report = other.verify()
    assert report.problem is not None and (report.problem.seq, report.problem.kind) == (
        1, "edited")
    assert "key" in report.problem.message


# -- append-only guard -------------------------------------------------------------------------
@pytest.mark.parametrize("sql", ["UPDATE audit_log SET actor = 'x' WHERE seq = 1",
                                 "DELETE FROM audit_log WHERE seq = 200",
                                 "TRUNCATE audit_log"])
def test_postgres_refuses_changes(log: AuditLog, sql: str) -> None:
    if log.store.dialect != "postgresql":
        pytest.skip("TRUNCATE and the owner's trigger are PostgreSQL's")
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), log.store.engine.begin() as c:
        c.exec_driver_sql(sql)
    assert log.verify().ok


def test_postgres_owner_disabling_the_trigger_is_still_caught(log: AuditLog) -> None:
    if log.store.dialect != "postgresql":
        pytest.skip("PostgreSQL trigger")
    with log.store.engine.begin() as c:
        c.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        c.exec_driver_sql("UPDATE audit_log SET purpose = 'research' WHERE seq = 42")
    assert problem(log) == (42, "edited")


def test_sqlite_triggers_refuse_changes(sqlite_log: AuditLog) -> None:
    for sql in ("UPDATE audit_log SET actor = 'x' WHERE seq = 1", "DELETE FROM audit_log"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), \
                sqlite_log.store.engine.begin() as c:
            c.exec_driver_sql(sql)
    assert sqlite_log.verify().ok


def test_guard_installation_is_idempotent(store: Store) -> None:
    with store.engine.begin() as c:
        assert ensure_append_only(c) is True
    with store.engine.begin() as c:
        assert ensure_append_only(c) is False


# -- writing -----------------------------------------------------------------------------------
def test_record_in_commits_or_rolls_back_with_the_callers_transaction(
        store: Store, tmp_path: Path) -> None:
    audit = AuditLog(store, KEY, checkpoint=tmp_path / "head.json")
    with pytest.raises(RuntimeError), store.engine.begin() as conn:
        audit.record_in(conn, [entry(1)])
        raise RuntimeError("the data write failed")
    assert audit.head() == Head(0, GENESIS)
    with store.engine.begin() as conn:
        head = audit.record_in(conn, [entry(1), entry(2)])
    assert audit.seal(head) == head
    one = audit.record_one(AuditEntry.by(SYSTEM, "login", "cli", source="cli"))
    assert one.seq == 3 and audit.verify().ok


def test_bad_entries_are_refused_with_the_field(sqlite_store: Store) -> None:
    audit = AuditLog(sqlite_store, KEY)
    with pytest.raises(ValueError, match="'nurse' is not a valid role; use one of admin, care-"):
        audit.record_one(AuditEntry("a", "nurse", "read", "/x"))
    with pytest.raises(ValueError, match="actor is 121 characters"):
        audit.record_one(AuditEntry("a" * 121, "admin", "read", "/x"))
    with pytest.raises(ValueError, match="Out of range float"):
        audit.record_one(AuditEntry("a", "admin", "read", "/x", detail={"v": float("nan")}))
    with pytest.raises(ValueError, match="needs 32 random bytes"):
        AuditLog(sqlite_store, b"short")
    assert audit.head().seq == 0  # nothing half-written


_WRITER = """
import sys
from pathlib import Path
from hyperhealth.security._audit import AuditEntry, AuditLog
from hyperhealth.store import Store
store = Store(sys.argv[1], migrate=False)
log = AuditLog(store, bytes(range(32)), checkpoint=Path(sys.argv[2]))
for i in range(100):
    log.record_one(AuditEntry(sys.argv[3], "clinician", "read", f"/obs/{i}", person_id="p-1",
                              purpose="treatment", detail={"i": i}))
"""


def test_concurrent_writers_do_not_fork_the_chain(store: Store, tmp_path: Path) -> None:
    """Two processes append 100 entries each, one transaction per entry, at the same time."""
    AuditLog(store, KEY)  # guard installed once, before the race
    cp = tmp_path / "head.json"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, store.url, str(cp), who],
                              env=env, stderr=subprocess.PIPE, text=True)
             for who in ("writer-a", "writer-b")]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    audit = AuditLog(store, KEY, checkpoint=cp)
    report = audit.verify()
    assert report.ok, report.problem
    assert report.checked == 200 and report.checkpoint == report.head
    actors = [r.actor for r in audit.records()]
    assert actors.count("writer-a") == actors.count("writer-b") == 100


# -- reading -----------------------------------------------------------------------------------
def test_accesses_lists_one_persons_data_newest_first(log: AuditLog) -> None:
    rows = log.accesses("p-1")
    assert len(rows) == len([i for i in range(N) if i % 3 == 1])
    assert {r.person_id for r in rows} == {"p-1"}
    assert [r.t_us for r in rows] == sorted((r.t_us for r in rows), reverse=True)
    assert rows[0].detail["i"] == 199 and rows[0].actor == "user-3"
    since = 1_700_000_000_000_000 + 190 * 1_000_000
    assert [r.detail["i"] for r in log.accesses("p-1", since_us=since)] == [199, 196, 193, 190]
    assert log.accesses("p-nobody") == []


def test_fhir_export_validates_and_names_the_patient(log: AuditLog) -> None:
    resources = log.to_fhir(log.accesses("p-2", limit=10))
    assert len(resources) == 10
    for res in resources:
        AuditEvent.model_validate(res)  # round-trips through the R4B model
        refs = [e["what"].get("reference") for e in res["entity"]]
        assert "Patient/p-2" in refs
        assert res["agent"][0]["requestor"] is True
    emergency = [r for r in resources if r["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT"]
    assert len(emergency) == 2  # i = 188 and 176 (i % 4 == 0)


def test_fhir_codes_of_export_break_glass_and_deny(log: AuditLog) -> None:
    everything = log.to_fhir(list(log.records()))
    assert len(everything) == N
    last = everything[-1]  # i = 199: a device's export, permitted through break-glass
    assert last["id"] == "hh-audit-200"
    assert (last["action"], last["type"]["code"]) == ("R", "110106")
    assert (last["outcome"], last["outcomeDesc"]) == ("0", "break-glass")
    assert last["agent"][0]["type"]["coding"][0]["code"] == "datacollector"
    assert last["agent"][0]["network"] == {"address": "10.0.0.199", "type": "2"}
    details = {d["type"]: d["valueString"] for d in last["entity"][-1]["detail"]}
    assert details["seq"] == "200" and details["hash"] == log.head().hash
    denied = [r for r in everything if r.get("outcomeDesc") == "deny"]
    assert len(denied) == N // 5 and {r["outcome"] for r in denied} == {"4"}
    update = everything[2]  # i = 2
    assert (update["action"], update["subtype"][0]["code"]) == ("U", "update")


def test_fhir_login_event(sqlite_store: Store) -> None:
    audit = AuditLog(sqlite_store, KEY)
    audit.record_one(AuditEntry.by(SYSTEM, "login", "POST /api/auth/token", source="cli"))
    (res,) = audit.to_fhir(list(audit.records()))
    assert (res["type"]["code"], res["subtype"][0]["code"], res["action"]) == ("110114",
                                                                              "110122", "E")
    assert "entity" in res and "purposeOfEvent" not in res
    assert res["source"]["observer"]["display"] == "hyperhealth (cli)"


# -- command line ------------------------------------------------------------------------------
@pytest.fixture
def runner(log: AuditLog) -> Iterator[CliRunner]:
    cli.set_opener(lambda: nullcontext((log.store, KEY, log.checkpoint)))
    yield CliRunner()
    cli.set_opener(None)


def test_cli_verify_exit_codes(log: AuditLog, runner: CliRunner) -> None:
    ok = runner.invoke(cli.app, ["verify", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["checked"] == N
    human = runner.invoke(cli.app, ["verify"])
    assert human.exit_code == 0 and "intact" in human.stdout
    tamper(log.store, "DELETE FROM audit_log WHERE seq = 120")
    bad = runner.invoke(cli.app, ["verify", "--json"])
    assert bad.exit_code == 1
    assert json.loads(bad.stdout)["problem"]["seq"] == 120
    human = runner.invoke(cli.app, ["verify"])
    assert human.exit_code == 1 and "TAMPERED at entry 120 (deleted)" in human.stdout
    refused = runner.invoke(cli.app, ["seal", "--json"])
    assert refused.exit_code == 1 and json.loads(refused.stdout)["sealed"] is None


def test_cli_accesses_and_export(log: AuditLog, runner: CliRunner, tmp_path: Path) -> None:
    got = runner.invoke(cli.app, ["accesses", "p-0", "--limit", "5", "--json"])
    assert got.exit_code == 0, got.output
    rows = json.loads(got.stdout)
    assert [r["detail"]["i"] for r in rows] == [198, 195, 192, 189, 186]
    table = runner.invoke(cli.app, ["accesses", "p-0", "--since", "2023-11-14T22:16:00"])
    assert table.exit_code == 0 and "user-2" in table.stdout
    out = tmp_path / "out" / "audit.ndjson"
    exp = runner.invoke(cli.app, ["export", "--fhir", str(out), "--json"])
    assert exp.exit_code == 0, exp.output
    lines = out.read_text().splitlines()
    assert len(lines) == N == json.loads(exp.stdout)["resources"]
    assert all(AuditEvent.model_validate_json(line).get_resource_type() == "AuditEvent"
               for line in lines)


def test_cli_without_key_is_a_clear_error(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from hyperhealth.config import Settings
    from hyperhealth.delivery.cli._app import _state

    cli.set_opener(None)
    monkeypatch.delenv("HYPERHEALTH_MASTER_KEYS", raising=False)
    monkeypatch.setattr(_state, "settings", Settings.load(data_dir=tmp_path, environ={}),
                        raising=False)
    got = CliRunner().invoke(cli.app, ["verify"])
    assert got.exit_code == 2
    assert "no audit key" in got.output and "keys.json does not exist" in got.output
