"""The CLI end to end, as a person runs it (subprocess, real SQLite store in a temp folder)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HH = [sys.executable, "-m", "hyperhealth.delivery.cli"]


def run(args: list[str], data_dir: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HYPERHEALTH_DATA_DIR": str(data_dir)}
    env.pop("HYPERHEALTH_DATABASE_URL", None)
    proc = subprocess.run(HH + args, capture_output=True, text=True, env=env, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:{proc.stdout}\nstderr:{proc.stderr}")
    return proc


def test_persons_on_an_empty_store(tmp_path: Path) -> None:
    assert json.loads(run(["persons", "--json"], tmp_path).stdout) == []
    assert (tmp_path / "hyperhealth.sqlite").exists()


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    proc = run(["ingest", str(tmp_path / "nope.csv")], tmp_path, check=False)
    assert proc.returncode == 1
    assert "nope.csv: no such file or folder" in proc.stderr


def test_bad_time_zone_is_a_usage_error(tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_text("time,metric,value,unit\n")
    proc = run(["ingest", str(f), "--tz", "Mars/Olympus"], tmp_path, check=False)
    assert proc.returncode == 2 and "IANA" in proc.stderr


def test_unknown_person_profile_is_a_clear_error(tmp_path: Path) -> None:
    proc = run(["profile", "p-nobody"], tmp_path, check=False)
    assert proc.returncode == 1 and "no person 'p-nobody'" in proc.stderr


def test_ingest_fhir_profile_and_export(tmp_path: Path, shared_data: Path) -> None:
    bundles = sorted((shared_data / "fhir" / "synthea").glob("*.json"))[:2]
    rep = json.loads(run(["ingest", *map(str, bundles), "--json"], tmp_path).stdout)
    assert [r["error"] for r in rep] == ["", ""]
    assert all(r["added"]["observations"] > 0 for r in rep)
    again = json.loads(run(["ingest", *map(str, bundles), "--json"], tmp_path).stdout)
    assert all(r["already_imported"] for r in again)
    people = json.loads(run(["persons", "--json"], tmp_path).stdout)
    assert len(people) == 2
    prof = json.loads(run(["profile", people[0]["id"], "--json"], tmp_path).stdout)
    assert prof["person"]["id"] == people[0]["id"] and prof["person"]["birth_date"]
    assert prof["coverage"], "a Synthea person has observation streams"
    out = tmp_path / "b.json"
    run(["export", "fhir", people[0]["id"], "-o", str(out)], tmp_path)
    bundle = json.loads(out.read_text())
    assert bundle["resourceType"] == "Bundle"
    assert bundle["entry"][0]["resource"]["resourceType"] == "Patient"


def test_ingest_rejects_are_written_and_good_rows_kept(tmp_path: Path) -> None:
    f = tmp_path / "readings.csv"
    f.write_text("time,metric,value,unit\n"
                 "2024-03-01T08:00:00Z,heart_rate,61,/min\n"
                 "2024-03-01T08:01:00Z,heart_rate,400,/min\n"
                 "2024-03-01T08:02:00Z,heart_rate,63,/min\n")
    pid_rep = run(["ingest", str(f), "--json", "--rejects", str(tmp_path / "rej.csv")], tmp_path)
    rep = json.loads(pid_rep.stdout)[0]
    assert rep["added"]["observations"] == 2 and rep["read"]["rejected"] == 1
    rej = (tmp_path / "rej.csv").read_text()
    assert "readings.csv:3" in rej and "impossible" in rej


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    proc = run(["demo", "--no-serve", "--persons", "2", "--days", "2", "--json"], tmp_path)
    summary = json.loads(proc.stdout)
    assert [s["step"] for s in summary["steps"]][:2] == ["generate synthetic cohort",
                                                          "ingest into the store"]
    assert len(summary["persons"]) == 2
    assert all(p["readings"] > 1000 for p in summary["persons"])
    exported = list((tmp_path / "exports").glob("*.fhir.json"))
    assert [f.name for f in exported] == [f"{summary['persons'][0]['person']}.fhir.json"]
    bundle = json.loads(exported[0].read_text())
    assert len(bundle["entry"]) > 1000  # the person's minute-level readings are in it


def test_unrecognised_files_in_a_folder_are_left_alone_but_named_ones_fail(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "notes.csv").write_text("a,b\n1,2\n")
    (folder / "hr.csv").write_text("time,metric,value,unit\n"
                                   "2024-03-01T08:00:00Z,heart_rate,61,/min\n")
    rep = json.loads(run(["ingest", str(folder), "--json"], tmp_path).stdout)
    by_name = {Path(r["path"]).name: r for r in rep}
    assert by_name["notes.csv"]["unrecognised"] and not by_name["notes.csv"]["error"]
    assert by_name["hr.csv"]["added"] == {"observations": 1}
    proc = run(["ingest", str(folder / "notes.csv")], tmp_path, check=False)
    assert proc.returncode == 1 and "no importer recognises this file" in proc.stdout
