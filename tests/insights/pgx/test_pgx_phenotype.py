"""Diplotype -> phenotype, checked exhaustively against the CPIC/ClinPGx phenotype tables."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from hyperhealth.errors import InputError
from hyperhealth.insights.pgx import (
    Diplotype,
    MatchResult,
    parse_outside_calls,
    phenotype,
    phenotype_diplotype,
)
from hyperhealth.insights.pgx._outside import hla_phenotypes
from hyperhealth.insights.pgx._phenotype import lowest_two


def _tables(shared_data: Path) -> list[tuple[str, dict]]:
    pdir = shared_data / "pgx" / "pharmcat" / "phenotype"
    if not pdir.is_dir():
        pytest.skip(f"{pdir} is absent")
    out = []
    for p in sorted(pdir.glob("*.json")):
        out.append((p.name, json.loads(p.read_text())))
    for p in sorted((pdir / "_older_versions").glob("*.json.gz")):
        with gzip.open(p, "rt") as f:
            out.append((p.name, json.load(f)))
    return out


def test_every_diplotype_in_the_phenotype_tables(shared_data: Path) -> None:
    n = 0
    for name, d in _tables(shared_data):
        gene = d["gene"]
        for row in d["diplotypes"]:
            alleles = [a for a, c in row["diplotypekey"].items() for _ in range(int(c))]
            dip = Diplotype(alleles[0], alleles[1] if len(alleles) > 1 else None)
            p = phenotype_diplotype(gene, dip)
            assert p.phenotype == row["generesult"], (name, row["diplotype"])
            if row.get("activityScore") not in (None, "n/a"):
                assert p.activity_score == row["activityScore"], (name, row["diplotype"])
            n += 1
    assert n > 50_000  # every row of every table (CYP2D6 and G6PD alone have over 30,000)


def test_ifnl3_rule_from_cpic() -> None:
    ref, var = "rs12979860 reference (C)", "rs12979860 variant (T)"
    assert phenotype_diplotype("IFNL3", Diplotype(ref, ref)).phenotype == "Favorable Response"
    assert phenotype_diplotype("IFNL3", Diplotype(ref, var)).phenotype == "Unfavorable Response"
    assert phenotype_diplotype("IFNL3", Diplotype(var, var)).phenotype == "Unfavorable Response"


def test_unknown_allele_gives_no_phenotype_and_says_why() -> None:
    p = phenotype_diplotype("CYP2C19", Diplotype("*1", "*999"))
    assert p.phenotype is None and p.status == "no_phenotype"
    assert any("*999" in n for n in p.notes)


def test_dpyd_lowest_two_by_activity() -> None:
    # c.1905+1G>A (*2A) has activity 0, c.2846A>T 0.5, Reference 1
    assert lowest_two("DPYD", ["Reference", "c.2846A>T", "c.1905+1G>A (*2A)"]) == (
        "c.1905+1G>A (*2A)", "c.2846A>T")


def test_outside_calls_parse_and_errors() -> None:
    calls = parse_outside_calls("# lab X\nCYP2D6\t*1/*4\nHLA-B\t*57:01/*08:01\n"
                                "MT-RNR1\t1555A>G\nCYP2C19\t\tPoor Metabolizer\n", "o.tsv")
    assert [c.gene for c in calls] == ["CYP2D6", "HLA-B", "MT-RNR1", "CYP2C19"]
    for bad, field in (("CYP2D6\t*1*4\n", "diplotype"), ("CYP2D6\t*1/*4\nCYP2D6\t*1/*1\n", "gene"),
                       ("HLA-B\tA/B\n", "diplotype"), ("MT-RNR1\ta/b\n", "diplotype"),
                       ("CYP2D6\t*1/*4\t\tone\n", "activity score")):
        with pytest.raises(InputError) as e:
            parse_outside_calls(bad, "o.tsv")
        assert e.value.field == field and e.value.where.startswith("o.tsv:")


def test_hla_presence() -> None:
    assert hla_phenotypes("HLA-A", ("*31:01:02", "*02:01")) == ["*31:01 positive"]
    assert hla_phenotypes("HLA-B", ("*07:02", "*08:01")) == [
        "*15:02 negative", "*57:01 negative", "*58:01 negative"]


def test_outside_call_enters_at_the_phenotype_stage_and_overrides() -> None:
    empty = MatchResult("S", "", "GRCh38", {})
    calls = parse_outside_calls("CYP2D6\t*1/*4\nCYP2C19\t*2/*2\t\t\n", "o.tsv")
    r = phenotype(empty, calls)
    assert r.genes["CYP2D6"].phenotype == "Intermediate Metabolizer"
    assert r.genes["CYP2D6"].activity_score == "1.0"
    assert r.genes["CYP2C19"].phenotype == "Poor Metabolizer"
    assert r.match.genes["CYP2D6"].status == "outside"
    given = phenotype(empty, parse_outside_calls("CYP2D6\t*1/*4\tPoor Metabolizer\n", "o"))
    assert given.genes["CYP2D6"].phenotype == "Poor Metabolizer"
    assert any("differs" in n for n in given.genes["CYP2D6"].notes)
