"""FHIR R4 ingest against the Synthea bundles and the official R4 examples (../shared/data/fhir)."""

from __future__ import annotations

import csv
import gzip
import importlib.util
import json
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from hyperhealth.ingest import IngestOptions, IngestReport, _driver, ingest_paths
from hyperhealth.ingest.fhir import ingest_bundle
from hyperhealth.store import Store


@pytest.fixture(autouse=True)
def _present_adapters(monkeypatch: pytest.MonkeyPatch) -> None:
    """Detect among the adapters present in this checkout (others are written in parallel)."""
    mods = tuple(m for m in _driver.ADAPTER_MODULES
                 if importlib.util.find_spec(f"hyperhealth.ingest.{m}") is not None)
    monkeypatch.setattr(_driver, "ADAPTER_MODULES", mods)


@pytest.fixture(scope="module")
def synthea(shared_data: Path) -> Path:
    return shared_data / "fhir" / "synthea"


@pytest.fixture(scope="module")
def counts(synthea: Path) -> dict[str, dict[str, str]]:
    with open(synthea / "counts.tsv", encoding="utf-8") as f:
        return {r["file"]: r for r in csv.DictReader(f, delimiter="\t")}


@pytest.fixture(scope="module")
def synthea_store(tmp_path_factory: pytest.TempPathFactory,
                  synthea: Path) -> Iterator[tuple[Store, list[IngestReport], float]]:
    """All 60 bundles imported once into one SQLite store (shared by the tests below)."""
    mp = pytest.MonkeyPatch()
    mp.setattr(_driver, "ADAPTER_MODULES", ("fhir",))
    s = Store(f"sqlite:///{tmp_path_factory.mktemp('synthea') / 'hh.sqlite'}")
    t0 = time.perf_counter()
    reports = ingest_paths(s, [synthea])
    took = time.perf_counter() - t0
    mp.undo()
    yield s, reports, took
    s.close()


def _expected(row: dict[str, str]) -> dict[str, int]:
    return {k: int(v) for k, v in row.items() if k not in ("file", "patient_id") and int(v)}


def test_all_synthea_bundles_import_with_exact_counts(
        synthea_store: tuple[Store, list[IngestReport], float],
        counts: dict[str, dict[str, str]]) -> None:
    store, reports, took = synthea_store
    assert len(reports) == 60 == len(counts)
    for rep in reports:
        name = Path(rep.path).name
        assert rep.ok and rep.format == "fhir", rep.error
        assert not rep.rejects, rep.rejects[:3]
        assert dict(rep.resources + rep.skipped) == _expected(counts[name]), name
        assert set(rep.skipped) <= {"Claim", "ExplanationOfBenefit", "CarePlan", "Goal",
                                    "ImagingStudy", "Immunization", "Procedure",
                                    "DiagnosticReport", "Organization", "Practitioner"}
        pid = store.find_person("fhir", counts[name]["patient_id"])
        assert rep.persons == [pid]
    assert len(store.persons()) == 60
    assert took < 60, f"60 bundles took {took:.1f} s"


def test_synthea_values_land_in_the_profile(
        synthea_store: tuple[Store, list[IngestReport], float],
        counts: dict[str, dict[str, str]]) -> None:
    store, _, _ = synthea_store
    row = counts["Alexia_Senger_a5f5a550-b13e-4f92-b194-6d118f67fcdb.json"]
    pid = store.find_person("fhir", row["patient_id"])
    assert pid is not None
    p = store.person(pid)
    assert (str(p.birth_date), p.sex_at_birth, p.race, p.ethnicity) == \
        ("1958-03-14", "female", "White", "Not Hispanic or Latino")
    assert p.home is not None and (p.home.lat, p.home.lon, p.home.label) == \
        (42.390566, -71.101324, "02138")
    assert p.identity["name"] == "Alexia Senger"
    assert p.identity["mrn"] == "a5f5a550-b13e-4f92-b194-6d118f67fcdb"
    height = store.observations(pid, "8302-2")[0]
    assert (height.value, height.unit, height.category, height.source) == \
        (pytest.approx(160.4692076211096), "cm", "vital-signs", "fhir")
    # a BP panel: one row per component, sharing the resource id
    sys_ = {o.record_id: o for o in store.observations(pid, "8480-6")}
    dia = {o.record_id: o for o in store.observations(pid, "8462-4")}
    assert sys_ and set(sys_) == set(dia)
    smoking = store.observations(pid, "72166-2")
    assert smoking and smoking[0].value is None and smoking[0].value_code.isdigit()
    meds = store.medications(pid)
    assert any(m.code == "849574" and m.kind == "request" for m in meds)
    assert any(c.code == "15777000" and c.display == "Prediabetes"
               for c in store.conditions(pid))
    assert len(store.encounters(pid)) == int(row["Encounter"])


def test_importing_the_folder_twice_adds_nothing(
        synthea_store: tuple[Store, list[IngestReport], float], synthea: Path) -> None:
    store, _, _ = synthea_store
    again = ingest_paths(store, [synthea])
    assert all(r.already_imported for r in again)
    assert len(store.persons()) == 60


def test_idempotent_on_both_backends(store: Store, synthea: Path) -> None:
    files = sorted(synthea.glob("*.json"))[:4]
    first = ingest_paths(store, files)
    assert all(r.ok and not r.rejects for r in first)
    assert sum(sum(r.added.values()) for r in first) > 0
    assert all(r.already_imported for r in ingest_paths(store, files))
    forced = ingest_paths(store, files, IngestOptions(force=True))
    assert all(r.ok and not r.already_imported for r in forced)
    assert sum(sum(r.added.values()) for r in forced) == 0
    assert sum(sum(r.read.values()) for r in forced) == sum(sum(r.read.values()) for r in first)
    assert len(store.persons()) == 4


def test_truncated_and_malformed_files_are_located_while_a_good_file_imports(
        sqlite_store: Store, synthea: Path, tmp_path: Path) -> None:
    src = sorted(synthea.glob("*.json"))[0]
    text = src.read_text(encoding="utf-8")
    good = tmp_path / "a_good.json"
    shutil.copy(src, good)
    truncated = tmp_path / "b_truncated.json"
    truncated.write_text(text[: len(text) // 2], encoding="utf-8")
    lines = text.splitlines(keepends=True)
    lines[99] = lines[99].rstrip("\n").rstrip(",") + " oops,\n"  # garbage on line 100
    malformed = tmp_path / "c_malformed.json"
    malformed.write_text("".join(lines), encoding="utf-8")
    gz = tmp_path / "d_truncated.ndjson.gz"
    entries = json.loads(text)["entry"]
    blob = gzip.compress("".join(json.dumps(e["resource"]) + "\n" for e in entries).encode())
    gz.write_bytes(blob[: len(blob) // 2])

    reps = {Path(r.path).name: r for r in ingest_paths(sqlite_store, [tmp_path])}
    assert reps["a_good.json"].ok and reps["a_good.json"].resources["Patient"] == 1
    half_line = text[: len(text) // 2].count("\n") + 1
    assert f"b_truncated.json:{half_line}:" in reps["b_truncated.json"].error
    assert "truncated" in reps["b_truncated.json"].error
    assert "c_malformed.json:100:" in reps["c_malformed.json"].error
    assert "malformed JSON" in reps["c_malformed.json"].error
    assert "d_truncated.ndjson.gz:" in reps["d_truncated.ndjson.gz"].error
    for bad in ("b_truncated.json", "c_malformed.json", "d_truncated.ndjson.gz"):
        assert not reps[bad].added and "nothing from this file was stored" in reps[bad].error
    assert len(sqlite_store.persons()) == 1


def test_an_invalid_resource_is_rejected_with_its_place(sqlite_store: Store, synthea: Path,
                                                        tmp_path: Path) -> None:
    src = sorted(synthea.glob("*.json"))[0]
    bundle = json.loads(src.read_text(encoding="utf-8"))
    idx = next(i for i, e in enumerate(bundle["entry"])
               if e["resource"]["resourceType"] == "Observation"
               and "valueQuantity" in e["resource"])
    bad = bundle["entry"][idx]["resource"]
    bad["valueQuantity"]["value"] = "a lot"
    path = tmp_path / "one_bad.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    rep = ingest_paths(sqlite_store, [path])[0]
    assert rep.ok
    assert len(rep.rejects) == 1
    r = rep.rejects[0]
    assert f"one_bad.json entry {idx} (Observation/{bad['id']})" in r.where
    assert r.field == "valueQuantity.value" and "not valid FHIR" in r.reason
    n_obs = sum(e["resource"]["resourceType"] == "Observation" for e in bundle["entry"])
    assert rep.resources["Observation"] == n_obs - 1
    assert rep.resources["Patient"] == 1 and rep.resources["Encounter"] > 0

    # the same in bulk NDJSON (references as Patient/<id>): the line number
    obs = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    for o in obs:
        o["subject"]["reference"] = o["subject"]["reference"].replace("urn:uuid:", "Patient/")
    nd = tmp_path / "Observation.ndjson"
    nd.write_text("".join(json.dumps(o) + "\n" for o in obs), encoding="utf-8")
    rep = ingest_paths(sqlite_store, [nd])[0]
    bad_line = [json.loads(x)["id"] for x in nd.read_text().splitlines()].index(bad["id"]) + 1
    assert [x.where for x in rep.rejects] == [f"{nd}:{bad_line} (Observation/{bad['id']})"]


def test_official_r4_examples(sqlite_store: Store, shared_data: Path) -> None:
    ex = shared_data / "fhir" / "r4-examples"
    files = [*sorted(ex.glob("Observation-*.json")), ex / "Patient-example.json"]
    reps = {Path(r.path).name: r for r in ingest_paths(sqlite_store, files)}
    # every file is read; each resource is either imported or rejected with a reason
    for name, rep in reps.items():
        assert rep.ok, rep.error
        assert sum(rep.resources.values()) == 1 or rep.rejects, name
        assert all(x.reason for x in rep.rejects)
    pid = sqlite_store.find_person("fhir", "example")
    assert pid is not None
    p = sqlite_store.person(pid)
    assert (str(p.birth_date), p.sex_at_birth) == ("1974-12-25", "male")
    assert p.identity["family"] == "Chalmers"
    hr = sqlite_store.observations(pid, "8867-4")
    assert [(o.value, o.unit, o.t.isoformat(), o.record_id) for o in hr] == \
        [(44.0, "/min", "1999-07-02T00:00:00+00:00", "heart-rate")]
    bp = {o.code: o for o in sqlite_store.observations(pid) if o.record_id == "blood-pressure"}
    assert {c: o.value for c, o in bp.items()} == {"8480-6": 107.0, "8462-4": 60.0}
    weight = sqlite_store.observations(pid, "29463-7")[0]  # 185 [lb_av] -> kg
    assert weight.value == pytest.approx(185 * 0.45359237) and weight.unit == "kg"
    f001 = sqlite_store.find_person("fhir", "f001")
    assert f001 is not None
    glucose = sqlite_store.observations(f001, "2339-0")[0]  # 6.3 mmol/L -> mg/dL
    assert glucose.value == pytest.approx(6.3 * 18.0156) and glucose.unit == "mg/dL"
    cancelled = reps["Observation-blood-pressure-cancel.json"].rejects[0]
    assert cancelled.field == "status" and "cancelled" in cancelled.reason
    ekg = reps["Observation-ekg.json"].rejects
    assert ekg and all(x.field == "valueSampledData" for x in ekg)


def test_ingest_bundle_from_a_dict(sqlite_store: Store, synthea: Path) -> None:
    src = sorted(synthea.glob("*.json"))[1]
    bundle = json.loads(src.read_text(encoding="utf-8"))
    rep = ingest_bundle(sqlite_store, bundle)
    want = Counter(e["resource"]["resourceType"] for e in bundle["entry"])
    assert rep.ok and rep.resources + rep.skipped == want
    assert ingest_bundle(sqlite_store, bundle).already_imported
    again = ingest_bundle(sqlite_store, bundle, IngestOptions(force=True))
    assert not again.added
    broken = ingest_bundle(sqlite_store, {"entry": []})
    assert "resourceType" in broken.error
