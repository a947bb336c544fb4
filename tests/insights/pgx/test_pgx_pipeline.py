"""Stages and their files, recommendations (single and multi-gene, warfarin), the HTML report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import hyperhealth.insights.pgx as pgx
from hyperhealth.errors import InputError
from hyperhealth.insights.pgx import (
    PgxCaller,
    iwpc_weekly_dose,
    load_stage,
    parse_outside_calls,
    recommend_drug,
    resolve_drug,
    run_pgx,
)
from hyperhealth.synth._pgx_genotype import write_diplotype_vcf

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def pm_vcf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pgx")
    return write_diplotype_vcf(d / "person.vcf.gz", {
        "CYP2C19": ("*2", "*2"), "SLCO1B1": ("*5", "*5"), "ABCG2": (
            "rs2231142 reference (G)", "rs2231142 variant (T)"),
        "CYP2C9": ("*1", "*3"), "VKORC1": ("rs9923231 reference (C)", "rs9923231 variant (T)")},
        sample="P1")


def test_public_api() -> None:
    for name in pgx.__all__:
        assert hasattr(pgx, name), name


def test_stage_files_and_rerun(tmp_path: Path, pm_vcf: Path) -> None:
    run = run_pgx(pm_vcf, out_dir=tmp_path)
    assert set(run.files) == {"match", "phenotype", "report", "html"}
    assert run.files["match"].name == "person.match.json"
    match = load_stage(run.files["match"])
    assert isinstance(match, pgx.MatchResult)
    again = run_pgx(start=match)
    assert again.report.to_dict()["drugs"] == run.report.to_dict()["drugs"]
    phen = load_stage(run.files["phenotype"])
    assert isinstance(phen, pgx.PhenotypeResult)
    assert run_pgx(start=phen).report.to_dict()["drugs"] == run.report.to_dict()["drugs"]
    rep = load_stage(run.files["report"])
    assert isinstance(rep, pgx.PgxReport) and rep.drug("clopidogrel").action == "avoid"
    # outside calls enter midway: re-run from the match file with a CYP2D6 call
    outside = parse_outside_calls("CYP2D6\t*4/*4\n", "lab.tsv")
    withd6 = run_pgx(start=match, outside_calls=outside)
    assert withd6.report.genes["CYP2D6"].phenotype == "Poor Metabolizer"
    assert withd6.report.drug("codeine").action == "avoid"
    assert run.report.drug("codeine").action == "no_data"
    with pytest.raises(InputError):
        load_stage(tmp_path / "person.report.html")


def test_clopidogrel_poor_metabolizer(pm_vcf: Path) -> None:
    r = run_pgx(pm_vcf).report
    assert r.genes["CYP2C19"].phenotype == "Poor Metabolizer"
    d = r.drug("clopidogrel")
    assert d.action == "avoid" and "35034351" in d.pmids and d.cpic_level == "A"
    assert any(s["strength"] == "Strong" for s in d.strength)
    assert d.source_text and d.summary != d.source_text  # our words, source kept for audit


def test_statins_multi_gene(pm_vcf: Path) -> None:
    r = run_pgx(pm_vcf).report
    rosu = r.drug("rosuvastatin")
    assert set(rosu.phenotypes) == {"ABCG2", "SLCO1B1"}
    assert rosu.phenotypes == {"ABCG2": "Decreased Function", "SLCO1B1": "Poor Function"}
    assert rosu.action == "adjust_dose" and "20mg" in rosu.dose_note.replace(" ", "")
    fluva = r.drug("fluvastatin")
    assert fluva.phenotypes == {"CYP2C9": "Intermediate Metabolizer", "SLCO1B1": "Poor Function"}
    assert fluva.action == "consider_alternative"
    assert r.drug("simvastatin").action in ("consider_alternative", "avoid", "adjust_dose")


def test_tricyclics_and_ssris_use_outside_cyp2d6(pm_vcf: Path) -> None:
    base = run_pgx(pm_vcf).report
    ami = base.drug("amitriptyline")
    assert ami.phenotypes == {"CYP2C19": "Poor Metabolizer"} and "CYP2D6" in ami.missing_genes
    withd6 = run_pgx(pm_vcf, outside_calls=parse_outside_calls(
        "CYP2D6\t*1/*1\n", "lab.tsv")).report
    ami2 = withd6.drug("amitriptyline")
    assert ami2.phenotypes == {"CYP2C19": "Poor Metabolizer", "CYP2D6": "Normal Metabolizer"}
    assert ami2.missing_genes == ()
    assert withd6.drug("citalopram").phenotypes == {"CYP2C19": "Poor Metabolizer"}
    assert withd6.drug("paroxetine").phenotypes == {"CYP2D6": "Normal Metabolizer"}


def test_warfarin_iwpc(pm_vcf: Path) -> None:
    match = PgxCaller().match(pm_vcf)
    no_inputs = run_pgx(start=match).report.drug("warfarin")
    assert no_inputs.action == "see_guideline" and "age" in no_inputs.summary
    r = run_pgx(start=match, patient={"age": 65, "height_cm": 170, "weight_kg": 80,
                                      "race": "White"}).report.drug("warfarin")
    dose = iwpc_weekly_dose(age=65, height_cm=170, weight_kg=80, vkorc1="A/G",
                            cyp2c9="*1/*3", race="white")
    # hand calculation: 5.6044 - 0.2614*6 + 0.0087*170 + 0.0128*80 - 0.8677 - 0.9357 = 4.7356
    assert dose.weekly_dose_mg == pytest.approx(4.7356**2, abs=0.01)
    assert r.extra["iwpc"]["weekly_dose_mg"] == dose.weekly_dose_mg
    assert r.action == "adjust_dose" and "19228618" in r.pmids
    amio = iwpc_weekly_dose(age=65, height_cm=170, weight_kg=80, vkorc1="A/G", cyp2c9="*1/*3",
                            race="white", amiodarone=True)
    assert amio.weekly_dose_mg == pytest.approx((4.7356 - 0.5503) ** 2, abs=0.01)
    with pytest.raises(InputError):
        iwpc_weekly_dose(age=10, height_cm=140, weight_kg=30)


def test_warfarin_refuses_cyp2c9_alleles_outside_the_equation(tmp_path: Path) -> None:
    vcf = write_diplotype_vcf(tmp_path / "w.vcf", {"CYP2C9": ("*1", "*8")})
    r = run_pgx(vcf, patient={"age": 50, "height_cm": 180, "weight_kg": 90}).report
    w = r.drug("warfarin")
    assert w.action == "see_guideline" and "iwpc" not in w.extra


def test_drug_resolution() -> None:
    assert resolve_drug("32968") == "clopidogrel"
    assert resolve_drug("clopidogrel 75 MG Oral Tablet") == "clopidogrel"
    assert resolve_drug("Simvastatin") == "simvastatin"
    with pytest.raises(InputError):
        resolve_drug("paracetamol")
    with pytest.raises(InputError):
        resolve_drug("999999999")


def test_no_result_means_no_data(pm_vcf: Path) -> None:
    r = recommend_drug("codeine", {})
    assert r.action == "no_data" and r.missing_genes == ("CYP2D6",)


def test_html_report_is_readable_and_honest(tmp_path: Path, pm_vcf: Path) -> None:
    run = run_pgx(pm_vcf, out_dir=tmp_path)
    html = run.files["html"].read_text()
    assert "does not replace a clinician" in html
    assert "clopidogrel" in html and "Avoid if possible" in html
    assert "What could not be called" in html and "CYP2D6" in html
    assert "<script" not in html


def test_tables_are_up_to_date(shared_data: Path) -> None:
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "build_pgx_tables.py"),
                          "--shared", str(shared_data), "--check"],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr


def test_g6pd_hemizygous_male(tmp_path: Path) -> None:
    vcf = write_diplotype_vcf(tmp_path / "m.vcf", {"G6PD": ("A- 202A_376G",)}, genes=["G6PD"],
                              male=True)
    r = run_pgx(vcf).report
    g = r.genes["G6PD"]
    assert g.diplotype == "A- 202A_376G" and g.phenotype == "Deficient"
    # no structured CPIC row for G6PD-deficient in the tables: said, not guessed
    assert r.drug("rasburicase").action == "see_guideline"
