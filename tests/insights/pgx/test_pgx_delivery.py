"""PGx for stored persons: results from the genotype upload, medication alerts, the API router,
the CLI command and the FHIR export."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import orjson
import pytest
import typer
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from hyperhealth.actions.alerts import AlertRequest
from hyperhealth.actions.levels import Level
from hyperhealth.delivery.api._errors import install_error_handlers
from hyperhealth.delivery.api._pgx import router
from hyperhealth.delivery.cli._pgx import pgx as pgx_command
from hyperhealth.ingest import IngestOptions, ingest_paths
from hyperhealth.insights.pgx import (
    medication_alerts,
    person_pgx,
    report_bundle,
    run_pgx,
)
from hyperhealth.insights.pgx._person import clear_cache, patient_inputs
from hyperhealth.model import RXNORM, Medication, Person
from hyperhealth.store import Store
from hyperhealth.synth._pgx_genotype import write_diplotype_vcf

CLOPIDOGREL = Medication("p-pm", "309362", "clopidogrel 75 MG Oral Tablet", RXNORM,
                         status="active", source="test", record_id="m1")
SIMVASTATIN = Medication("p-pm", "312961", "simvastatin 20 MG Oral Tablet", RXNORM,
                         status="stopped", source="test", record_id="m2")


@pytest.fixture
def pm_store(tmp_path: Path, sqlite_store: Store) -> Store:
    clear_cache()
    vcf = write_diplotype_vcf(tmp_path / "pm.vcf.gz", {"CYP2C19": ("*2", "*2"),
                                                        "SLCO1B1": ("*5", "*5")}, sample="PM1")
    with sqlite_store.transaction() as w:
        w.upsert_person(Person("p-pm", birth_date=date(1960, 5, 1), sex_at_birth="male"))
        w.add_medications([CLOPIDOGREL, SIMVASTATIN])
    reps = ingest_paths(sqlite_store, [vcf], IngestOptions(person="p-pm"))
    assert all(r.ok for r in reps), [r.to_dict() for r in reps]
    return sqlite_store


def test_person_results_and_medication_alert(pm_store: Store) -> None:
    report = person_pgx(pm_store, "p-pm")
    assert report is not None and report.genes["CYP2C19"].phenotype == "Poor Metabolizer"
    alerts = medication_alerts(pm_store, "p-pm", report)
    assert [a.key for a in alerts] == ["clopidogrel"]  # simvastatin is no longer active
    a = alerts[0]
    assert isinstance(a, AlertRequest) and a.level == Level.WARN and a.rule == "pgx.medication"
    assert "PMID 35034351" in a.citation
    assert a.evidence["diplotypes"] == {"CYP2C19": "*2/*2"}
    assert a.evidence["medication"]["code"] == "309362"
    assert "does not replace" in a.explanation
    assert person_pgx(pm_store, "p-pm") is report  # cached by file hash, sample and inputs


def test_no_upload_no_alerts(sqlite_store: Store) -> None:
    with sqlite_store.transaction() as w:
        w.upsert_person(Person("p-none"))
    assert person_pgx(sqlite_store, "p-none") is None
    assert medication_alerts(sqlite_store, "p-none", None) == []


def test_patient_inputs_for_warfarin(pm_store: Store) -> None:
    inputs = patient_inputs(pm_store, "p-pm", at=date(2024, 5, 2))
    assert inputs["age"] == 64 and inputs["amiodarone"] is False


def _client(store: Store) -> TestClient:
    app = FastAPI()
    app.state.store = store
    install_error_handlers(app)
    app.include_router(router)
    return TestClient(app)


def test_api_get_and_check_prescription(pm_store: Store) -> None:
    c = _client(pm_store)
    r = c.get("/api/persons/p-pm/pgx")
    assert r.status_code == 200
    body = r.json()
    assert body["phenotypes"]["genes"]["CYP2C19"]["phenotype"] == "Poor Metabolizer"
    r = c.post("/api/persons/p-pm/pgx/check-prescription", json={"drug": "clopidogrel"})
    assert r.status_code == 200 and r.json()["action"] == "avoid"
    assert r.json()["actionable"] and "35034351" in r.json()["pmids"]
    r = c.post("/api/persons/p-pm/pgx/check-prescription", json={"rxnorm": "36567"})
    assert r.json()["drug"] == "simvastatin" and r.json()["phenotypes"] == {
        "SLCO1B1": "Poor Function"}
    r = c.post("/api/persons/p-pm/pgx/check-prescription", json={"drug": "paracetamol"})
    assert r.status_code == 422 and r.json()["where"] == "body.drug"
    r = c.post("/api/persons/p-pm/pgx/check-prescription", json={})
    assert r.status_code == 422
    assert c.get("/api/persons/nobody/pgx").status_code == 404


def test_api_person_without_genotype(sqlite_store: Store) -> None:
    with sqlite_store.transaction() as w:
        w.upsert_person(Person("p-none"))
    c = _client(sqlite_store)
    assert c.get("/api/persons/p-none/pgx").status_code == 404
    r = c.post("/api/persons/p-none/pgx/check-prescription", json={"drug": "codeine"})
    assert r.status_code == 200 and r.json()["has_pgx_results"] is False
    assert r.json()["action"] == "no_data"


def test_cli_command(tmp_path: Path) -> None:
    vcf = write_diplotype_vcf(tmp_path / "s.vcf", {"CYP2C19": ("*2", "*2")})
    app = typer.Typer()
    app.command("pgx")(pgx_command)

    @app.callback()
    def _root() -> None: ...

    run = CliRunner().invoke(app, ["pgx", str(vcf), "--json", "-o", str(tmp_path / "out")])
    assert run.exit_code == 0, run.output
    d = orjson.loads(run.output)
    assert d["phenotypes"]["genes"]["CYP2C19"]["phenotype"] == "Poor Metabolizer"
    assert set(d["files"]) == {"match", "phenotype", "report", "html"}
    again = CliRunner().invoke(app, ["pgx", d["files"]["match"]])
    assert again.exit_code == 0 and "clopidogrel" in again.output
    bad = CliRunner().invoke(app, ["pgx", str(tmp_path / "missing.vcf")])
    assert bad.exit_code == 2


def test_fhir_export_validates(tmp_path: Path) -> None:
    vcf = write_diplotype_vcf(tmp_path / "s.vcf", {"CYP2C19": ("*2", "*2")})
    report = run_pgx(vcf).report
    b = report_bundle(report, "Patient/p-1")
    types = [e.resource.__resource_type__ for e in b.entry]
    assert types[-1] == "DiagnosticReport" and types.count("Observation") == len(types) - 1
    d = orjson.loads(b.model_dump_json())
    geno = [e["resource"] for e in d["entry"]
            if e["resource"]["code"]["coding"][0]["code"] == "84413-4"]
    assert any(g["valueCodeableConcept"]["text"] == "CYP2C19 *2/*2" for g in geno)
    drugs = [e["resource"] for e in d["entry"]
             if e["resource"]["code"]["coding"][0]["code"] == "51961-1"]
    assert any(x["component"][0]["valueCodeableConcept"]["text"] == "clopidogrel" for x in drugs)
