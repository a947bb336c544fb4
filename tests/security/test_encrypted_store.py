"""The Store with a keyring, on SQLite and PostgreSQL: nothing identifying in the raw tables,
everything back through the Store, old plaintext stores, rotation while reading, the CLI."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner

from hyperhealth.model import (
    GenotypeUpload,
    LifestyleEvent,
    LifestyleKind,
    Location,
    Observation,
    Person,
)
from hyperhealth.security._crypto import (
    DecryptError,
    encrypt_existing,
    key_status,
    retire,
    rotate,
)
from hyperhealth.security._keys import Keyring, KeyringError
from hyperhealth.store import Store
from hyperhealth.store import _schema as S

T0 = datetime(2024, 3, 1, 8, tzinfo=UTC)
NAME, STREET, ZIP = "Grace Brewster Hopper", "17 Vassar Road", "12604"
NOTE = "skipped insulin before the wedding"
VCF, SAMPLE = "/uploads/grace_hopper_exome.vcf.gz", "HOPPER-G-1906"
SECRETS = (NAME, "Hopper", STREET, ZIP, NOTE, "wedding", VCF, "grace_hopper", SAMPLE, "41.68",
           "-73.89")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hh.sqlite'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return Keyring.create(tmp_path / "keys.json")


@pytest.fixture
def enc(db_url: str, keyring: Keyring) -> Iterator[Store]:
    s = Store(db_url, keyring=keyring)
    yield s
    s.close()


def grace(pid: str = "p-grace") -> Person:
    return Person(id=pid, birth_date=datetime(1906, 12, 9).date(), sex_at_birth="female",
                  tz="America/New_York", home=Location(41.6868, -73.8975, ZIP),
                  identity={"name": NAME, "family": "Hopper", "address": STREET, "mrn": "MRN-7"})


def write_everything(s: Store, pid: str = "p-grace", record: str = "r1") -> None:
    with s.transaction() as w:
        w.upsert_person(grace(pid))
        w.add_lifestyle_events([
            LifestyleEvent(pid, LifestyleKind.MEAL, T0, T0 + timedelta(minutes=20),
                           {"carbs_g": 45.0, "description": NOTE}, "app", record),
            LifestyleEvent(pid, LifestyleKind.EXERCISE, T0 + timedelta(hours=2), None,
                           {"activity": "walking", "setting": "outdoor"}, "app", record)])
        w.register_genotype(GenotypeUpload(pid, VCF, "c0ffee" * 10 + "beef", (SAMPLE,),
                                           "GRCh38", True, 24))
        w.add_observations([Observation(pid, "8867-4", T0, 61.0, "/min")])


def raw_dump(s: Store) -> str:
    """Every row of every table as the database holds it."""
    parts = []
    with s.engine.connect() as c:
        for name in S.metadata.tables:
            parts.append(f"{name}: {c.exec_driver_sql(f'SELECT * FROM {name}').all()!r}")
    return "\n".join(parts)


def check_reads(s: Store, pid: str = "p-grace") -> None:
    p = s.person(pid)
    assert p.identity["name"] == NAME and p.identity["address"] == STREET
    assert p.home == Location(41.6868, -73.8975, ZIP)
    assert p.tz == "America/New_York" and p.sex_at_birth == "female"
    ev = s.lifestyle_events(pid)
    assert [e.details.get("description") for e in ev] == [NOTE, None]
    assert ev[1].details == {"activity": "walking", "setting": "outdoor"}
    g = [u for u in s.genotype_uploads(pid)]
    assert [(u.path, u.samples) for u in g] == [(VCF, (SAMPLE,))]


# -- what lands in the database ------------------------------------------------------------------
def test_raw_tables_hold_no_identifying_plaintext(enc: Store) -> None:
    write_everything(enc)
    dump = raw_dump(enc)
    for secret in SECRETS:
        assert secret not in dump, secret
    assert dump.count("hh1:") == 5  # identity+home, two details, path, samples
    check_reads(enc)
    assert [p.identity["name"] for p in enc.persons()] == [NAME]
    # the hot path is untouched: readings are stored and read as before
    assert [o.value for o in enc.observations("p-grace")] == [61.0]
    assert "61.0" in dump


def test_upsert_replaces_the_blob_and_reads_back(enc: Store) -> None:
    write_everything(enc)
    with enc.transaction() as w:
        w.upsert_person(Person(id="p-grace", identity={"name": "G. Hopper"}))
    p = enc.person("p-grace")
    assert p.identity == {"name": "G. Hopper"} and p.home is None
    assert "G. Hopper" not in raw_dump(enc)


def test_blob_copied_to_another_person_does_not_open(enc: Store) -> None:
    write_everything(enc)
    with enc.transaction() as w:
        w.upsert_person(Person(id="p-other", identity={"name": "Someone Else"}))
    p = S.persons
    with enc.engine.begin() as c:
        blob = c.execute(sa.select(p.c.identity).where(p.c.id == "p-grace")).scalar_one()
        c.execute(p.update().where(p.c.id == "p-other").values(identity=blob))
    with pytest.raises(DecryptError, match=r"persons\.identity of row p-other failed auth"):
        enc.person("p-other")
    assert enc.person("p-grace").identity["name"] == NAME


def test_encrypted_store_without_keys_says_how_to_open_it(enc: Store, db_url: str) -> None:
    write_everything(enc)
    with Store(db_url) as plain, pytest.raises(DecryptError, match="HYPERHEALTH_KEY_FILE"):
        plain.person("p-grace")


def test_tampered_value_in_the_database_is_detected(enc: Store) -> None:
    write_everything(enc)
    e = S.lifestyle_events
    with enc.engine.begin() as c:
        pk, blob = c.execute(sa.select(e.c.pk, e.c.details).where(e.c.kind == "meal")).one()
        head, ct = blob.rsplit(":", 1)
        c.execute(e.update().where(e.c.pk == pk).values(
            details=f"{head}:{ct[:10]}{'A' if ct[10] != 'A' else 'B'}{ct[11:]}"))
    with pytest.raises(DecryptError,
                       match=r"lifestyle_events\.details of row p-grace, meal") as err:
        enc.lifestyle_events("p-grace")
    assert NOTE not in str(err.value)


# -- stores written before encryption --------------------------------------------------------------
def test_plaintext_store_opens_with_keys_and_is_converted(db_url: str,
                                                          keyring: Keyring) -> None:
    with Store(db_url) as old:
        write_everything(old)
        assert NAME in raw_dump(old)
    with Store(db_url, keyring=keyring) as s:
        check_reads(s)  # old rows read as they are
        write_everything(s, "p-new", "r2")  # new rows are encrypted next to them
        before = key_status(s, keyring)
        assert before["persons.identity"] == {"plaintext": 1, keyring.active_id: 1,
                                              "unknown": 0}
        done = encrypt_existing(s, keyring, batch=1)
        assert done == {"persons.identity": 1, "lifestyle_events.details": 2,
                        "genotype_uploads.path": 1, "genotype_uploads.samples": 1,
                        "users.totp_secret": 0}
        dump = raw_dump(s)
        for secret in SECRETS:
            assert secret not in dump, secret
        check_reads(s)
        check_reads(s, "p-new")
        assert all(c["plaintext"] == 0 for c in key_status(s, keyring).values())
        assert sum(encrypt_existing(s, keyring).values()) == 0  # idempotent


def test_encrypt_existing_names_unknown_columns(enc: Store, keyring: Keyring) -> None:
    with pytest.raises(ValueError, match=r"not an encrypted column: persons\.name"):
        encrypt_existing(enc, keyring, columns=["persons.name"])


def test_columns_written_by_other_modules(enc: Store, keyring: Keyring) -> None:
    """alert_events.detail and users.totp_secret go through Store.seal_json/seal_text."""
    place = ("users", "totp_secret", "dr.who")
    blob = enc.seal_text(place, "JBSWY3DPEHPK3PXP")
    assert blob is not None and blob.startswith("hh1:")
    assert enc.open_text(place, blob) == "JBSWY3DPEHPK3PXP"
    assert enc.open_text(place, "PLAINOLD") == "PLAINOLD" and enc.open_text(place, None) is None
    aplace = ("alert_events", "detail", 7, 1700000000000000, "dr.who", "annotated")
    sealed = enc.seal_json(aplace, {"note": NOTE})
    assert NOTE not in sealed and enc.open_json(aplace, sealed) == {"note": NOTE}
    with pytest.raises(DecryptError, match=r"alert_events\.detail of row 8"):
        enc.open_json(("alert_events", "detail", 8, *aplace[3:]), sealed)


# -- rotation ------------------------------------------------------------------------------------
def test_rotation_while_reading_and_writing(enc: Store, db_url: str, tmp_path: Path,
                                           keyring: Keyring) -> None:
    n = 12
    for i in range(n):
        write_everything(enc, f"p-{i:02d}", f"r{i}")
    old = keyring.active_id
    # another process: reads and writes through its own keyring, loaded before the rotation
    other = Store(db_url, keyring=Keyring.load(tmp_path / "keys.json"))
    seen: list[tuple[str, int]] = []
    late: list[str] = []

    def during(column: str, batch: int) -> None:
        seen.append((column, batch))
        for i in range(n):  # every value readable after every committed batch
            check_reads(other, f"p-{i:02d}")
        if column == "lifestyle_events.details" and not late:
            # a person written mid-rotation, after the persons were re-wrapped, by a process
            # whose keyring still wraps with the old key
            stale = Store(db_url, keyring=Keyring.from_json(json.dumps(
                {**json.loads(keyring.to_json()), "active": old})))
            write_everything(stale, "p-late", "r-late")
            stale.close()
            late.append("p-late")

    rep = rotate(enc, keyring, batch=5, progress=during)
    new = keyring.active_id
    assert new != old
    assert ("persons.identity", 5) in seen and len(seen) >= 6  # several committed batches
    assert rep.rewrapped["persons.identity"] == n
    assert rep.remaining == {old: 1}  # p-late's identity, written after its column was done
    with pytest.raises(KeyringError, match=f"1 stored values still use master key '{old}'"):
        retire(enc, keyring, old)
    check_reads(other, "p-late")

    again = rotate(enc, keyring, new_key=False)  # resume
    assert again.rewrapped["persons.identity"] == 1 and again.remaining == {}
    assert sum(rotate(enc, keyring, new_key=False).rewrapped.values()) == 0  # idempotent
    status = key_status(enc, keyring)
    assert all(c[old] == 0 and c["unknown"] == 0 for c in status.values())
    assert status["persons.identity"][new] == n + 1

    retire(enc, keyring, old)
    fresh = Keyring.load(tmp_path / "keys.json")
    assert fresh.master_ids == [new]
    assert (fresh.audit_key, fresh.pseudonym_key) == (keyring.audit_key, keyring.pseudonym_key)
    with Store(db_url, keyring=fresh) as s:
        for pid in [*(f"p-{i:02d}" for i in range(n)), "p-late"]:
            check_reads(s, pid)
    other.close()


def test_rotation_resumes_after_an_interruption(enc: Store, keyring: Keyring) -> None:
    for i in range(6):
        write_everything(enc, f"p-{i}", f"r{i}")
    old = keyring.active_id

    def crash(column: str, batch: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rotate(enc, keyring, batch=4, progress=crash)
    half = key_status(enc, keyring)["persons.identity"]
    assert half[old] == 2 and half[keyring.active_id] == 4  # the first batch committed
    for i in range(6):
        check_reads(enc, f"p-{i}")
    rotate(enc, keyring, new_key=False)
    assert key_status(enc, keyring)["persons.identity"][old] == 0


# -- CLI -------------------------------------------------------------------------------------------
def _cli_app() -> typer.Typer:
    from hyperhealth.delivery.cli import _app
    from hyperhealth.delivery.cli._keys_cmd import keys_app

    root = typer.Typer()
    root.callback()(_app._root)
    root.add_typer(keys_app, name="keys")
    return root


def test_keys_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HYPERHEALTH_DATABASE_URL", "HYPERHEALTH_KEY_FILE", "HYPERHEALTH_MASTER_KEYS"):
        monkeypatch.delenv(var, raising=False)
    app, run = _cli_app(), CliRunner()
    base = ["--data-dir", str(tmp_path)]

    def keys(*args: str, code: int = 0) -> str:
        res = run.invoke(app, [*base, "keys", *args])
        assert res.exit_code == code, res.output
        return res.output

    assert "hyperhealth keys init" in keys("status", code=2)
    made = json.loads(keys("init", "--json"))
    key_file = tmp_path / "keys.json"
    assert made["key_file"] == str(key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "never overwritten" in keys("init", code=2)

    with Store(f"sqlite:///{tmp_path / 'hyperhealth.sqlite'}") as plain:
        write_everything(plain)
    st = json.loads(keys("status", "--json"))
    assert st["active"] == made["active"] and st["plaintext"] == 5
    enc = json.loads(keys("encrypt-existing", "--json"))["encrypted"]
    assert sum(enc.values()) == 5
    rot = json.loads(keys("rotate", "--json"))
    assert rot["active"] != made["active"] and sum(rot["rewrapped"].values()) == 5
    st = json.loads(keys("status", "--json"))
    assert {m["id"]: m["values"] for m in st["masters"]} == {made["active"]: 0,
                                                             rot["active"]: 5}
    assert "active key" in keys("retire", rot["active"], code=2)
    assert json.loads(keys("retire", made["active"], "--json"))["masters"] == [rot["active"]]
    assert "keys.json" in keys("status")
    key_file.chmod(0o644)
    assert "chmod 600" in keys("status", code=2)
