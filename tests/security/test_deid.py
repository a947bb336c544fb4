"""The de-identified research export on a synthetic cohort with planted identifiers.

Every person of the demo generator gets a full set of direct identifiers (name, street address,
ZIP, phone, fax, email, SSN, MRN, plan, account, licence, vehicle, URL, IP) in
``Person.identity``; most get a research consent. A scanner then reads every output file and
looks for each planted value, the store's ids, device ids, home places and the real dates.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hyperhealth.errors import InputError
from hyperhealth.model import HH, Observation, Person
from hyperhealth.model.time import age_on
from hyperhealth.security._deid import (
    HHS_2000_RESTRICTED_ZIP3,
    RESTRICTED_ZIP3,
    SAFE_HARBOR,
    ExportRefused,
    pseudonym,
    research_export,
    shift_days,
    zip3,
)
from hyperhealth.security._kanon import LADDER, anonymise, k_of
from hyperhealth.store import Store
from hyperhealth.store import _schema as S
from hyperhealth.synth import Cohort, generate_cohort
from tests.conftest import PG_ADMIN_URL, need_service

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
N = 40
ZIPS = ("95814", "03601", "82301-4410", "10001", "60601", "85004", "20301", "36912")
OLD = range(0, 6)  # persons made 90 or older (all female, so their class can reach k)
CODE_SYSTEMS = {"http://loinc.org", "http://snomed.info/sct", "urn:hyperhealth:metric",
                "http://www.nlm.nih.gov/research/umls/rxnorm", "http://unitsofmeasure.org"}
ALL = ["demographics", "vitals", "cgm", "activity", "sleep", "labs", "conditions",
       "medications", "location", "mental-health", "identity", "notes", "genomics"]


def identity(i: int) -> dict[str, str]:
    """Planted identifiers, one of each Safe Harbor kind (distinct per person)."""
    z = ZIPS[i % len(ZIPS)]
    return {"name": f"Zelda Quixotic{i:02d}", "given": "Zelda", "family": f"Quixotic{i:02d}",
            "address": f"{100 + i} Marigold Lane", "city": "Springhaven", "county": "Elmore",
            "postal_code": z, "state": "CA", "phone": f"+1-555-013-{4000 + i}",
            "fax": f"+1-555-019-{7000 + i}", "email": f"zelda{i:02d}@example.org",
            "ssn": f"123-45-{6700 + i}", "mrn": f"MRN{880000 + i}",
            "health_plan": f"HPB{770000 + i}", "account": f"ACCT{660000 + i}",
            "license": f"DL{550000 + i}", "vehicle": f"1HGCM82633A{400000 + i}",
            "url": f"https://zelda{i:02d}.example.org/me", "ip": f"198.51.100.{i + 1}"}


# -- the cohort, once per module, in each backend ------------------------------------------------
@pytest.fixture(scope="module")
def cohort() -> Cohort:
    return generate_cohort(persons=N, days=1, seed=11)


def _populate(store: Store, cohort: Cohort) -> dict[str, Any]:
    cohort.write(store)
    as_of = datetime.now(UTC)
    persons = sorted(store.persons(), key=lambda p: p.id)
    with store.transaction() as w:
        for i, p in enumerate(persons):
            q = replace(p, identity=identity(i))
            if i in OLD:  # aged 90-95 today
                q = replace(q, birth_date=date(as_of.year - 91 - i % 5, 3, 15),
                            sex_at_birth="female")
            w.upsert_person(q)
        # an environmental reading and a free-text answer: categories never exported
        t = cohort.start + timedelta(hours=3)
        w.add_observations([
            Observation(persons[5].id, "pm25", t, 12.5, "ug/m3", system=HH,
                        category="environment", source="test"),
            Observation(persons[5].id, "zz-diary", t, None, value_text="met Zelda at noon",
                        category="social-history", source="test")])
    persons = sorted(store.persons(), key=lambda p: p.id)
    now = time.time_ns() // 1000
    day = 86_400_000_000
    rows: list[dict[str, Any]] = []
    states: dict[str, str] = {}
    with store.engine.begin() as conn:
        pks = dict(conn.execute(sa.select(S.persons.c.id, S.persons.c.pk)).all())
        for i, p in enumerate(persons):
            base = dict(person_pk=pks[p.id], grantee_kind="team", grantee="research",
                        categories=ALL, purpose="research", start_us=now - day, end_us=None,
                        created_us=now - day, created_by="test", revoked_us=None,
                        revoked_by=None)  # every row names every column (one executemany)
            if i == N - 1:
                states[p.id] = "none"
                continue
            if i == N - 2:
                base.update(revoked_us=now - 1000, revoked_by="test")
                states[p.id] = "revoked"
            elif i == N - 3:
                base.update(end_us=now - 1000)
                states[p.id] = "expired"
            elif i == N - 4:
                base.update(purpose="treatment")
                states[p.id] = "treatment-only"
            elif i == N - 5:
                base.update(grantee_kind="user", grantee="dr-who")
                states[p.id] = "other grantee"
            elif i == N - 6:
                base.update(start_us=now + day)
                states[p.id] = "pending"
            elif i == N - 7:
                base.update(categories=["vitals"])
                states[p.id] = "vitals only"
            else:
                states[p.id] = "granted"
            rows.append(base)
        conn.execute(S.consents.insert(), rows)
        devices = [r[0] for r in conn.execute(sa.select(S.devices.c.device_id))]
        links = [r[0] for r in conn.execute(sa.select(S.person_links.c.external_id))]
    return {"persons": persons, "states": states, "devices": devices, "links": links}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres",
                                                                marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, cohort: Cohort,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A populated store and one export of it (k=5, suppression up to 20%)."""
    tmp = tmp_path_factory.mktemp(f"deid-{request.param}")
    admin = None
    name = ""
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp / 'hh.sqlite'}")
    else:
        need_service("PostgreSQL", "127.0.0.1", 5432)
        name = f"hh_test_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.exec_driver_sql(f'CREATE DATABASE "{name}"')
        store = Store(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    try:
        info = _populate(store, cohort)
        res = research_export(store, tmp / "out", key=KEY, k=5, suppress=True,
                              max_suppressed=0.2)
        yield {**info, "store": store, "result": res, "out": tmp / "out", "tmp": tmp}
    finally:
        store.close()
        if admin is not None:
            with admin.connect() as c:
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()


def read_csv(path: Path) -> list[dict[str, str]]:
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return list(csv.DictReader(io.StringIO(raw.decode())))


def all_text(out: Path) -> str:
    """Every distinct CSV field (and the manifest's text), one per line: a substring search of
    this finds what a search of the files would, in a fraction of the text."""
    fields: set[str] = set()
    for f in sorted(out.iterdir()):
        raw = (gzip.decompress(f.read_bytes()) if f.suffix == ".gz" else f.read_bytes()).decode()
        if f.suffix == ".json":
            fields.add(raw)
        else:
            fields.update(v for row in csv.reader(io.StringIO(raw)) for v in row)
    return "\n".join(sorted(fields))


def exported(out: Path) -> dict[str, list[dict[str, str]]]:
    return {n: read_csv(out / n) for n in ("persons.csv", "observations.csv.gz",
                                           "conditions.csv", "medications.csv")}


# -- the scanner ---------------------------------------------------------------------------------
def leaks(text: str, world: dict[str, Any]) -> list[str]:
    """Every planted identifier, store id, device id, source id, home place and birth date
    found in ``text``, and every email-, IPv4-, SSN- or full-ZIP-shaped string."""
    low = text.lower()
    found = []
    for p in world["persons"]:
        planted = [v for k, v in p.identity.items() if k not in ("state", "given")]
        planted += [p.id]
        if p.home is not None:
            planted += [p.home.label, f"{p.home.lat}", f"{p.home.lon}",
                        p.home.label.split(",")[0]]
        if p.birth_date is not None:
            planted.append(p.birth_date.isoformat())
        found += [v for v in planted if v.lower() in low]
        zip5 = p.identity["postal_code"][:5]
        found += [f"ZIP {zip5}"] if re.search(rf"\b{zip5}\b", text) else []
    found += [d for d in world["devices"] if d in text]
    found += [x for x in world["links"] if x in text]
    for what, pattern in (("email", r"[\w.+-]+@[\w-]+\.[\w.]+"),
                          ("IPv4", r"\b\d{1,3}(\.\d{1,3}){3}\b"),
                          ("SSN", r"\b\d{3}-\d{2}-\d{4}\b")):
        found += [f"{what}: {m.group(0)}" for m in re.finditer(pattern, text)]
    urls = set(re.findall(r"(?:https?://|urn:)[^\s,\"]+", text)) - CODE_SYSTEMS
    return found + sorted(urls)


def test_no_safe_harbor_identifier_in_any_file(world: dict[str, Any]) -> None:
    out: Path = world["out"]
    assert sorted(f.name for f in out.iterdir()) == [
        "conditions.csv", "manifest.json", "medications.csv", "observations.csv.gz",
        "persons.csv"]
    text = all_text(out)
    found = leaks(text, world)
    assert not found, f"identifiers found in the export: {found[:10]}"
    # the scanner finds each kind when it is there (so an empty result means something)
    p = world["persons"][3]
    for value in [*p.identity.values(), p.id, world["devices"][0], world["links"][0]]:
        if value not in ("CA", "Zelda"):
            assert leaks(f"x,{value},y", world), value
    # the store's device and source columns are gone, and so is free text
    obs_cols = read_csv(out / "observations.csv.gz")[0].keys()
    assert not {"device", "source", "record_id", "display", "value_text"} & set(obs_cols)
    meds_cols = read_csv(out / "medications.csv")[0].keys()
    assert not {"dosage", "reason", "display"} & set(meds_cols)
    assert "pm25" not in text and "zz-diary" not in text  # location and notes categories
    assert world["result"].manifest["counts"]["observations_withheld_by_consent"] >= 2


def test_no_real_date_of_a_person_is_released(world: dict[str, Any]) -> None:
    store: Store = world["store"]
    data = exported(world["out"])
    by_pseudo = {pseudonym(KEY, p.id): p for p in world["persons"]}
    out_days: dict[str, set[str]] = {}
    for rows in data.values():
        for r in rows:
            for col in ("t", "t_end", "onset", "abatement", "start", "end", "deceased"):
                if r.get(col):
                    out_days.setdefault(r["person"], set()).add(r[col][:10])
    checked = 0
    for pid_r, days in out_days.items():
        p = by_pseudo[pid_r]
        real = {o.t.date().isoformat() for o in store.observations(p.id)}
        real |= {o.t_end.date().isoformat() for o in store.observations(p.id) if o.t_end}
        real |= {str(c.onset)[:10] for c in store.conditions(p.id) if c.onset}
        real |= {str(m.start)[:10] for m in store.medications(p.id) if m.start}
        if p.birth_date:
            real.add(p.birth_date.isoformat())
        assert not days & real, f"{pid_r} has real dates {sorted(days & real)[:3]}"
        checked += 1
    assert checked >= 10


def test_ages_over_89_are_collapsed(world: dict[str, Any]) -> None:
    persons = {pseudonym(KEY, p.id): p for p in world["persons"]}
    rows = exported(world["out"])["persons.csv"]
    today = date.today()
    old_seen = 0
    for r in rows:
        p = persons[r["person"]]
        assert p.birth_date is not None
        if age_on(p.birth_date, today) >= 90:
            assert r["birth_year"] == "90+"
            old_seen += 1
        else:
            assert r["birth_year"] != "90+"
        if r["birth_year"].isdigit():
            assert today.year - int(r["birth_year"]) <= 90
    assert old_seen >= 5  # the six people over 89 are released, as one class of 90+


def test_manifest_k_equals_an_independent_recount(world: dict[str, Any]) -> None:
    m = json.loads((world["out"] / "manifest.json").read_text())
    ka = m["k_anonymity"]
    rows = read_csv(world["out"] / "persons.csv")
    classes = Counter(tuple(r[q] for q in ka["quasi_identifiers"]) for r in rows)
    assert min(classes.values()) == ka["k_achieved"] >= ka["k_required"] == 5
    assert {str(a): b for a, b in Counter(classes.values()).items()} == \
        ka["class_size_distribution"]
    consented = sum(1 for s in world["states"].values() if s in ("granted", "vitals only"))
    assert len(rows) + ka["suppressed_persons"] == consented
    assert m["counts"]["persons"] == len(rows)
    assert m["counts"]["observations"] == len(read_csv(world["out"] / "observations.csv.gz"))
    assert ka["generalisations_applied"] == [s.name for s in LADDER][
        :len(ka["generalisations_applied"])]
    assert [x["id"] for x in m["safe_harbor_identifiers"]] == list("ABCDEFGHIJKLMNOPQR")
    assert m["rule"]["safe_harbor"] is False and "expert determination" in m["rule"]["note"]
    assert m["consent"]["persons_with_research_consent"] == consented
    assert KEY.hex() not in json.dumps(m) and len(m["pseudonyms"]["key_id"]) == 12


def test_only_persons_with_research_consent_are_released(world: dict[str, Any]) -> None:
    data = exported(world["out"])
    released = {r["person"] for r in data["persons.csv"]}
    everywhere = released | {r["person"] for n, rows in data.items() for r in rows}
    assert everywhere == released  # no rows for persons absent from persons.csv
    for pid, state in world["states"].items():
        if state not in ("granted", "vitals only"):
            assert pseudonym(KEY, pid) not in everywhere, state
    assert len(released) >= 20


def test_categories_limit_what_is_released(world: dict[str, Any], tmp_path: Path) -> None:
    # the person who granted only vitals: no demographics, conditions, medications or CGM
    pid = next(p for p, s in world["states"].items() if s == "vitals only")
    res = research_export(world["store"], tmp_path / "o", key=KEY, k=1)
    data = exported(tmp_path / "o")
    me = pseudonym(KEY, pid)
    row = next(r for r in data["persons.csv"] if r["person"] == me)
    assert row["birth_year"] == row["sex"] == row["zip3"] == row["race"] == ""
    cats = {r["category"] for r in data["observations.csv.gz"] if r["person"] == me}
    assert cats == {"vitals"}
    assert not [r for r in data["conditions.csv"] + data["medications.csv"] if r["person"] == me]
    assert res.manifest["counts"]["observations_withheld_by_consent"] > 0


def test_zip3_rule_in_the_export(world: dict[str, Any], tmp_path: Path) -> None:
    # the person who granted no location data has an empty zip3 of their own: suppressed
    res = research_export(world["store"], tmp_path / "z", key=KEY, k=2,
                          quasi_identifiers=["zip3"], suppress=True)
    assert res.manifest["k_anonymity"]["suppressed_persons"] == 1
    persons = {pseudonym(KEY, p.id): p for p in world["persons"]}
    rows = read_csv(tmp_path / "z" / "persons.csv")
    assert list(rows[0]) == ["person", "zip3", "deceased"]
    seen = Counter(r["zip3"] for r in rows)
    for r in rows:
        z = persons[r["person"]].identity["postal_code"][:3]
        assert r["zip3"] == ("000" if z in RESTRICTED_ZIP3 else z)
    assert seen["000"] >= 3 and not {"036", "823", "203", "369"} & set(seen)
    assert {"958", "100", "606", "850"} <= set(seen)


def test_zip3_function() -> None:
    assert all(zip3(z + "42") == "000" for z in HHS_2000_RESTRICTED_ZIP3)
    assert len(HHS_2000_RESTRICTED_ZIP3) == 17
    assert zip3("95814") == "958" and zip3("82301-4410") == "000" and zip3("8230") == ""
    assert zip3("10115 Berlin") == "" and zip3("") == ""


def test_date_shift_keeps_intervals_and_depends_on_the_key(world: dict[str, Any],
                                                          tmp_path: Path) -> None:
    store: Store = world["store"]
    data = exported(world["out"])
    by_pseudo = {pseudonym(KEY, p.id): p for p in world["persons"]}
    obs = data["observations.csv.gz"]
    me = obs[0]["person"]
    p = by_pseudo[me]
    real = {(o.code, o.t.strftime("%Y-%m-%dT%H:%M:%SZ")): o for o in store.observations(p.id)}
    mine = [r for r in obs if r["person"] == me]
    deltas = set()
    reals = sorted(real.values(), key=lambda o: (o.code, o.t))
    for r, o in zip(mine, reals, strict=True):
        assert r["code"] == o.code
        deltas.add(datetime.fromisoformat(r["t"].replace("Z", "+00:00")) - o.t)
    assert len(deltas) == 1  # one offset for all of the person's times: intervals kept
    (delta,) = deltas
    days = shift_days(KEY, p.id)
    assert delta == timedelta(days=days) and days % 7 == 0 and 30 <= abs(days) <= 365
    assert datetime.fromisoformat(mine[0]["t"][:10]).weekday() == reals[0].t.weekday()
    # same key, same files; another key, other pseudonyms and other shifts
    research_export(store, tmp_path / "again", key=KEY, k=5, suppress=True, max_suppressed=0.2)
    assert exported(tmp_path / "again") == data
    research_export(store, tmp_path / "other", key=OTHER_KEY, k=5, suppress=True,
                    max_suppressed=0.2)
    other = exported(tmp_path / "other")
    assert not {r["person"] for r in other["persons.csv"]} & {r["person"]
                                                              for r in data["persons.csv"]}
    shifts = [shift_days(KEY, q.id) for q in world["persons"]]
    other_shifts = [shift_days(OTHER_KEY, q.id) for q in world["persons"]]
    assert sum(a != b for a, b in zip(shifts, other_shifts, strict=True)) > N // 2
    assert len(set(shifts)) > 10  # offsets differ between persons


def test_year_mode_is_safe_harbor(world: dict[str, Any], tmp_path: Path) -> None:
    res = research_export(world["store"], tmp_path / "y", key=KEY, k=5, suppress=True,
                          max_suppressed=0.2, dates="year")
    data = exported(tmp_path / "y")
    for rows in data.values():
        for r in rows:
            for col in ("t", "t_end", "onset", "abatement", "start", "end", "deceased"):
                assert not r.get(col) or re.fullmatch(r"\d{4}", r[col]), (col, r[col])
    assert res.manifest["rule"]["safe_harbor"] is True
    assert "shift" not in res.manifest["dates"]


def test_refuses_below_k_and_writes_nothing(world: dict[str, Any], tmp_path: Path) -> None:
    store: Store = world["store"]
    consented = sum(1 for s in world["states"].values() if s in ("granted", "vitals only"))
    with pytest.raises(ExportRefused, match=rf"k={consented + 1} is required") as err:
        research_export(store, tmp_path / "r", key=KEY, k=consented + 1)
    assert not (tmp_path / "r").exists()
    assert list(tmp_path.iterdir()) == []  # no partial folder left either
    rep = err.value.report
    assert rep["k_best"] == max(a["k"] for a in rep["attempts"]) <= consented
    assert len(rep["attempts"]) == len(LADDER) + 1
    # an empty folder given beforehand stays empty
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExportRefused):
        research_export(store, tmp_path / "empty", key=KEY, k=consented + 1)
    assert list((tmp_path / "empty").iterdir()) == []
    # without suppression the default k=5 is out of reach for this small cohort
    with pytest.raises(ExportRefused, match="--suppress"):
        research_export(store, tmp_path / "s", key=KEY, k=5)
    assert not (tmp_path / "s").exists()


def test_refuses_without_any_research_consent(tmp_path: Path) -> None:
    s = Store(f"sqlite:///{tmp_path / 'e.sqlite'}")
    try:
        with s.transaction() as w:
            w.upsert_person(Person(id="p-x", birth_date=date(1980, 1, 2)))
        with pytest.raises(ExportRefused, match=r"no person .* has an active research consent"):
            research_export(s, tmp_path / "o", key=KEY)
        assert not (tmp_path / "o").exists()
    finally:
        s.close()


def test_bad_arguments_are_clear(world: dict[str, Any], tmp_path: Path) -> None:
    store: Store = world["store"]
    with pytest.raises(InputError, match="at least 16 bytes"):
        research_export(store, tmp_path / "a", key=b"short")
    with pytest.raises(InputError, match=r"unknown quasi-identifier.*postcode"):
        research_export(store, tmp_path / "a", key=KEY, quasi_identifiers=["postcode"])
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep me")
    with pytest.raises(InputError, match="not an empty folder"):
        research_export(store, tmp_path / "full", key=KEY)
    assert (tmp_path / "full" / "x").read_text() == "keep me"


# -- k-anonymity on its own ----------------------------------------------------------------------
def test_ladder_and_suppression() -> None:
    rows = [{"birth_year": str(1950 + i), "sex": "female" if i % 2 else "male", "zip3": "958",
             "race": "", "ethnicity": ""} for i in range(20)]
    qis = ["birth_year", "sex", "zip3"]
    assert k_of(rows, qis) == 1
    plan = anonymise(rows, qis, k=5)
    assert plan.ok and plan.k == k_of(plan.rows, qis) >= 5
    assert plan.steps == ["birth_year: 5-year bands", "birth_year: 10-year bands"]
    assert "race and ethnicity withheld" not in plan.steps  # not a quasi-identifier here
    rows.append({"birth_year": "1890", "sex": "male", "zip3": "958", "race": "", "ethnicity": ""})
    assert not anonymise(rows, qis, k=5).ok  # the lone 1890 stays alone on every rung
    sup = anonymise(rows, qis, k=5, suppress=True, max_suppressed=0.1)
    assert sup.ok and len(sup.suppressed) == 1 and sup.suppressed == [20]
    assert len(sup.rows) == 20
    with pytest.raises(ValueError, match="k must be at least 1"):
        anonymise(rows, qis, k=0)


def test_safe_harbor_table_is_complete() -> None:
    assert [x[0] for x in SAFE_HARBOR] == list("ABCDEFGHIJKLMNOPQR")
    assert all(how for _, _, how in SAFE_HARBOR)


def test_shift_is_never_zero() -> None:
    shifts = [shift_days(KEY, f"p-{i}", min_days=1, max_days=10, keep_weekday=False)
              for i in range(500)]
    assert 0 not in shifts and min(shifts) == -10 and max(shifts) == 10


# -- the command ---------------------------------------------------------------------------------
def test_cli_export_research(world: dict[str, Any], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hyperhealth.delivery.cli import _app
    from hyperhealth.delivery.cli._research_cmd import research

    if not any(c.name == "research" for c in _app.export_app.registered_commands):
        _app.export_app.command("research")(research)
    store: Store = world["store"]
    keyfile = tmp_path / "research.key"
    keyfile.write_text(KEY.hex() + "\n")
    base = ["--database-url", store.url, "export", "research"]
    run = CliRunner().invoke
    r = run(_app.app, [*base, str(tmp_path / "c"), "--key-file", str(keyfile), "--k", "5",
                       "--suppress", "--max-suppressed", "0.2", "--json"])
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)
    assert m["k_anonymity"]["k_achieved"] >= 5
    assert exported(tmp_path / "c") == exported(world["out"])  # hex key file = same key
    r = run(_app.app, [*base, str(tmp_path / "d"), "--key-file", str(keyfile), "--k", "99"])
    assert r.exit_code == 3 and "k=99 is required" in r.output
    assert not (tmp_path / "d").exists()
    r = run(_app.app, [*base, str(tmp_path / "e"), "--key-file", str(tmp_path / "nokey")])
    assert r.exit_code == 2 and "nokey" in r.output
    # no key given: the keyring's pseudonym key, the same one each time
    from hyperhealth.config import Settings
    from hyperhealth.security._deid import key_id
    from hyperhealth.security._keys import load_keyring

    ring = ["--data-dir", str(tmp_path / "dd"), *base]
    env = {"HYPERHEALTH_RESEARCH_KEY": "", "HYPERHEALTH_MASTER_KEYS": "",
           "HYPERHEALTH_KEY_FILE": ""}
    r = run(_app.app, [*ring, str(tmp_path / "f"), "--suppress", "--max-suppressed", "0.2",
                       "--json"], env=env)
    settings = Settings.load(data_dir=tmp_path / "dd", database_url=store.url)
    keyring = load_keyring(settings.key_file, embedded=settings.embedded, environ={})
    if keyring is None:  # a server store without keys: the key must be given
        assert r.exit_code == 2 and "no export key" in r.output
    else:  # the embedded store made its key file
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["pseudonyms"]["key_id"] == key_id(keyring.pseudonym_key)
