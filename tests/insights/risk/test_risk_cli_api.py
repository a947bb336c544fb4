"""The risk CLI (``risk PERSON``, ``risk calc``) and API routes against a real store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from fastapi import FastAPI
from fastapi.testclient import TestClient
from risk_records import AS_OF, PID, fill
from typer.testing import CliRunner

from hyperhealth.config import Settings
from hyperhealth.delivery.api._errors import install_error_handlers
from hyperhealth.delivery.api._risk import router
from hyperhealth.delivery.cli import _app
from hyperhealth.delivery.cli._risk import app as risk_app
from hyperhealth.store import Store

PCE_INPUTS = {"age": 55, "sex": "male", "race": "white", "total_c": 213, "hdl_c": 50,
              "sbp": 120, "bp_treated": False, "smoker": False, "diabetes": False}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    store = Store(f"sqlite:///{tmp_path / 'hyperhealth.sqlite'}")
    fill(store)
    store.close()
    return tmp_path


def cli(args: list[str], data_dir: Path, width: int | None = None) -> object:
    root = typer.Typer()

    @root.callback()
    def _root() -> None:
        _app._state.settings = Settings.load(data_dir=data_dir)

    root.add_typer(risk_app, name="risk")
    before = _app.out.width
    if width is not None:
        _app.out.width = width
    try:
        return CliRunner().invoke(root, ["risk", *args])
    finally:
        _app.out.width = before


def test_cli_risk_person_json_and_human(data_dir: Path) -> None:
    r = cli([PID, "--as-of", AS_OF.date().isoformat(), "--json"], data_dir)
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    d = json.loads(r.stdout)  # type: ignore[attr-defined]
    runs = {x["equation"]: x for x in d["runs"]}
    assert runs["pce"]["status"] == "computed"
    assert runs["pce"]["result"]["estimates"][0]["unit"] == "proportion"
    assert runs["qrisk3"]["result"]["disclaimer"].startswith("The initial version")
    assert runs["pce"]["inputs"]["used"][0]["detail"]
    human = cli(["show", PID, "--as-of", "2024-06-01", "--set", "daily_vegetables=true"],
                data_dir)
    assert human.exit_code == 0, human.output  # type: ignore[attr-defined]
    text = human.stdout  # type: ignore[attr-defined]
    assert "Pooled Cohort Equations" in text and "What if" in text
    assert "ClinRisk" in text and "does not replace" in text


def test_cli_risk_person_lists_optional_inputs_not_available(data_dir: Path) -> None:
    """p-risk has an HbA1c but no UACR or SDI decile: the text names PREVENT's model and lists
    the two apart from the inputs table, with the assembly's reasons and its note; --json
    carries the same."""
    args = [PID, "--as-of", AS_OF.date().isoformat(), "--no-what-if"]
    r = cli([*args, "--json"], data_dir)
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    run = next(x for x in json.loads(r.stdout)["runs"]  # type: ignore[attr-defined]
               if x["equation"] == "prevent")
    optional = run["inputs"]["optional_missing"]
    assert [m["name"] for m in optional] == ["uacr", "sdi_decile"]
    assert any("SDI decile not available" in n for n in run["inputs"]["notes"])
    assert run["result"]["model"] == {"id": "hba1c", "label": "base model adding HbA1c",
                                      "optional_used": ["hba1c"]}

    human = cli(args, data_dir, width=400)  # wide: rich does not wrap a reason over lines
    assert human.exit_code == 0, human.output  # type: ignore[attr-defined]
    text = human.stdout  # type: ignore[attr-defined]
    section = text[text.index("─ AHA PREVENT ─"):]
    section = section[:section.index("AHA PREVENT", section.index("\n"))]  # up to its estimates
    assert "\nmodel: base model adding HbA1c\n" in section
    head, _, rest = section.partition("Optional, not available (computed without them)")
    assert rest, section
    for m in optional:
        row = next(line for line in rest.splitlines() if f" {m['name']} " in line)
        assert m["reason"] in row and m["hint"] in row, row
        assert not any(f" {m['name']} " in line for line in head.splitlines())  # not as used
    assert " hba1c " in head and " hba1c " not in rest  # used, so in the inputs table
    assert "inputs note: PREVENT's optional inputs choose its model" in rest
    assert "SDI decile not available" in rest
    # an equation without optional inputs has no such table
    pce = text[text.index("─ Pooled Cohort Equations"):text.index("─ Revised Pooled")]
    assert "Optional, not available" not in pce and "\nmodel:" not in pce


def test_cli_unknown_person_is_a_clear_error(data_dir: Path) -> None:
    r = cli(["p-nobody"], data_dir)
    assert r.exit_code == 1
    assert "no person 'p-nobody'" in r.output  # type: ignore[attr-defined]


def test_cli_calc(tmp_path: Path) -> None:
    f = tmp_path / "in.json"
    f.write_text(json.dumps(PCE_INPUTS))
    r = cli(["calc", "pce", "--input", str(f), "--json"], tmp_path)
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    d = json.loads(r.stdout)  # type: ignore[attr-defined]
    assert abs(100 * d["result"]["estimates"][0]["value"] - 5.38) < 0.01
    assert d["what_if"]["scenarios"][1]["change"] == "sbp_minus_10"
    f.write_text(json.dumps(dict(PCE_INPUTS, age=85)))
    bad = cli(["calc", "pce", "--input", str(f)], tmp_path)
    assert bad.exit_code == 1
    assert "85 years is outside 40-79" in bad.output  # type: ignore[attr-defined]
    ok = cli(["calc", "pce", "--input", str(f), "--extrapolate"], tmp_path)
    assert ok.exit_code == 0 and "extrapolated" in ok.stdout  # type: ignore[attr-defined]
    f.write_text("{not json")
    assert "not valid JSON" in cli(["calc", "pce", "-i", str(f)], tmp_path).output  # type: ignore[attr-defined]
    eqs = cli(["equations", "--json"], tmp_path)
    assert {e["id"] for e in json.loads(eqs.stdout)} >= {"pce", "prevent", "qrisk3"}  # type: ignore[attr-defined]


@pytest.fixture
def client(sqlite_store: Store) -> Iterator[TestClient]:
    fill(sqlite_store)
    app = FastAPI()
    app.state.store = sqlite_store
    install_error_handlers(app)
    app.include_router(router)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_api_person_risk(client: TestClient) -> None:
    r = client.get(f"/api/persons/{PID}/risk", params={"as_of": "2024-06-01T00:00:00Z",
                                                       "prs_percentile": 95})
    assert r.status_code == 200, r.text
    runs = {x["equation"]: x for x in r.json()["runs"]}
    assert runs["prevent"]["status"] == "computed"
    assert [m["name"] for m in runs["prevent"]["inputs"]["optional_missing"]] == [
        "uacr", "sdi_decile"]
    assert runs["prevent"]["result"]["model"]["id"] == "hba1c"
    assert "model" not in runs["pce"]["result"]
    assert runs["pce"]["enhancer"]["present"] is True
    assert runs["findrisc"]["status"] == "not applicable"
    nf = client.get("/api/persons/p-nobody/risk")
    assert nf.status_code == 404 and nf.json()["fix"]
    bad = client.get(f"/api/persons/{PID}/risk", params={"as_of": "2024-06-01"})
    assert bad.status_code == 422 and "time zone" in bad.json()["what"]


def test_api_calc(client: TestClient) -> None:
    r = client.post("/api/risk/pce", json=PCE_INPUTS)
    assert r.status_code == 200, r.text
    assert r.json()["result"]["citations"][0]["doi"] == "10.1161/01.cir.0000437741.48606.98"
    r = client.post("/api/risk/prevent", json={**PCE_INPUTS, "statin": False, "egfr": 90,
                                                 "bmi": 27, "race": None,
                                                 "context": {"ldl_c": 130}})
    assert r.status_code == 422 and r.json()["where"].endswith("[race]")
    body = {k: v for k, v in PCE_INPUTS.items() if k != "race"}
    r = client.post("/api/risk/prevent", json={**body, "statin": False, "egfr": 90,
                                                 "bmi": 27, "context": {"ldl_c": 130}})
    assert r.status_code == 200, r.text
    assert r.json()["result"]["model"] == {"id": "base", "label": "base model",
                                            "optional_used": []}
    statin = next(s for s in r.json()["what_if"]["scenarios"] if s["change"] == "statin")
    assert statin["applicable"] and statin["estimates"][0]["if"] < statin["estimates"][0]["now"]
    r = client.post("/api/risk/pce", json={**PCE_INPUTS, "sbp": 250})
    body422 = r.json()
    assert r.status_code == 422 and "sbp" in body422["where"] and body422["fix"]
    assert client.post("/api/risk/framingham", json={}).status_code == 404
    assert client.post("/api/risk/pce", content=b"[1]").status_code == 422
    eqs = client.get("/api/risk").json()
    assert any(e["id"] == "qrisk3" and "ClinRisk" in e["disclaimer"] for e in eqs)
