"""``hyperhealth prs`` through typer (the command function on a throwaway app)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from hyperhealth.delivery.cli._prs import prs

SCORES = ("#pgs_id=PGS_CLI\n#HmPOS_build=GRCh38\n"
          "rsID\teffect_allele\tother_allele\teffect_weight\thm_chr\thm_pos\n"
          "rs1\tG\tA\t0.5\t1\t100\nrs2\tT\tC\t-0.25\t1\t200\nrs3\tC\tG\t1\t1\t300\n")
VCF = ("##fileformat=VCFv4.2\n##reference=GRCh38\n"
       "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ta\tb\n"
       "chr1\t100\trs1\tA\tG\t.\tPASS\t.\tGT\t0/1\t1/1\n"
       "chr1\t200\trs2\tC\tT\t.\tPASS\t.\tGT\t1/1\t./.\n"
       "chr1\t300\trs3\tC\tG\t.\tPASS\t.\tGT\t0/1\t0/1\n")


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("prs")(prs)

    @app.command("other")
    def other() -> None:  # a second command keeps "prs" as a named sub-command
        """unused"""

    return app


def test_prs_json_and_table(tmp_path: Path) -> None:
    sf, vcf = tmp_path / "s.txt", tmp_path / "x.vcf"
    sf.write_text(SCORES)
    vcf.write_text(VCF)
    r = CliRunner().invoke(_app(), ["prs", str(sf), str(vcf), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert {s["sample"]: s["score"] for s in doc["scores"]} == {"a": 0.0, "b": 1.0}
    assert doc["coverage"]["by_status"] == {"matched": 2, "ambiguous": 1}
    assert "does not replace" in doc["note"]
    r = CliRunner().invoke(_app(), ["prs", str(sf), str(vcf), "--sample", "b",
                                    "--ancestry", "EUR", "--ref-mean", "0.5", "--ref-sd", "0.5"])
    assert r.exit_code == 0, r.output
    assert "percentile 84" in r.stdout and "variants used: 2 of 3" in r.stdout


def test_prs_errors(tmp_path: Path) -> None:
    sf = tmp_path / "s.txt"
    sf.write_text(SCORES)
    r = CliRunner().invoke(_app(), ["prs", str(sf), str(tmp_path / "missing.vcf")])
    assert r.exit_code == 2 and "no such file" in r.output
    r = CliRunner().invoke(_app(), ["prs", str(sf), str(sf), "--ref-mean", "1"])
    assert r.exit_code == 2


def test_prs_reference_panel_from_the_command_line(tmp_path: Path) -> None:
    sf, vcf, ref, labels = (tmp_path / n for n in ("s.txt", "x.vcf", "ref.vcf", "labels.tsv"))
    sf.write_text(SCORES)
    vcf.write_text(VCF)
    head = VCF.splitlines()[:2]
    samples = [f"r{i}" for i in range(20)]
    rows = ["\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT",
                        *samples])]
    for pos, ref_a, alt_a in ((100, "A", "G"), (200, "C", "T"), (300, "C", "G")):
        calls = [("0/0", "0/1", "1/1")[i % 3] for i in range(20)]
        rows.append("\t".join(["chr1", str(pos), f"rs{pos // 100}", ref_a, alt_a, ".", "PASS",
                                ".", "GT", *calls]))
    ref.write_text("\n".join([*head, *rows]) + "\n")
    labels.write_text("".join(f"r{i}\t{'EUR' if i < 12 else 'AFR'}\n" for i in range(20)))
    args = ["prs", str(sf), str(vcf), "--reference", str(ref), "--labels", str(labels), "--json"]
    r = CliRunner().invoke(_app(), [*args, "--ancestry", "EUR"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert [p["group"] for p in doc["placements"]] == ["EUR", "EUR"]
    assert all(p["n_reference"] == 12 and not p["cross_ancestry"] for p in doc["placements"])
    r = CliRunner().invoke(_app(), args)  # no group named: no percentile, and it says why
    doc = json.loads(r.stdout)
    assert doc["placements"] == [] and any("ancestry" in w for w in doc["warnings"])
    r = CliRunner().invoke(_app(), ["prs", str(sf), str(vcf), "--reference", str(ref)])
    assert r.exit_code == 2 and "--labels" in r.output
