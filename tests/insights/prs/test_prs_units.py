"""Scoring-file parsing, the matching rule, reference placement and errors of the PRS package."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prs_synth import write_bgzf

from hyperhealth.errors import InputError
from hyperhealth.insights.prs import (
    AncestryStats,
    ReferenceStats,
    ReferenceVcf,
    ScoreOptions,
    parse_scoring_file,
    read_scoring_file,
    resolve,
    score_vcf,
)
from hyperhealth.insights.prs._match import STATUS_NAMES, _resolve_many
from hyperhealth.insights.prs._reference import empirical_percentile
from hyperhealth.insights.prs._scorefile import Coded
from hyperhealth.insights.prs._vcf import VcfSites

HEADER = ("#pgs_id=PGS_UNIT\n#HmPOS_build=GRCh38\n#citation=unit test\n"
          "rsID\teffect_allele\tother_allele\teffect_weight\thm_chr\thm_pos\n")
VCF_HEAD = ("##fileformat=VCFv4.2\n##reference=GRCh38\n"
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{samples}\n")


def _vcf(tmp: Path, rows: list[str], samples: list[str], name: str = "x.vcf") -> Path:
    p = tmp / name
    p.write_text(VCF_HEAD.format(samples="\t".join(samples)) + "\n".join(rows) + "\n")
    return p


def _scores(tmp: Path, rows: list[str], name: str = "s.txt") -> Path:
    p = tmp / name
    p.write_text(HEADER + "\n".join(rows) + "\n")
    return p


# -- scoring files --------------------------------------------------------------------------
def test_parse_harmonised_and_reasons() -> None:
    text = ("#pgs_id=X\n#genome_build=GRCh37\n#HmPOS_build=GRCh38\n"
            "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\t"
            "is_haplotype\thm_rsID\thm_chr\thm_pos\thm_inferOtherAllele\n"
            "rs1\t1\t900\ta\tg\t0.5\t\trs1\tchr1\t1000\t\n"
            "rs2\t1\t901\tT\t\t-0.1\t\trs2\t\t\tA/C\n"
            "rs3\t1\t902\tT\t\t0.2\t\trs3\t1\t1002\tC\n"
            "rs4\t1\t903\tHLA-A*01\tA\t1\t\trs4\t1\t1003\t\n"
            "x5\t1\t904\tC\tG\t1\tTrue\tx5\t1\t1004\t\n")
    sf = parse_scoring_file(io.StringIO(text))
    assert sf.build == "GRCh38" and sf.harmonised
    r = sf.rows
    assert (r[0].chrom, r[0].pos, r[0].effect, r[0].other) == ("1", 1000, "A", "G")
    assert r[1].pos is None and r[1].other == "" and r[1].scorable  # rsID only; A/C ambiguous
    assert r[2].other == "C"  # a single inferred other allele is used
    assert not r[3].scorable and "not a DNA sequence" in r[3].reason
    assert not r[4].scorable and "is_haplotype" in r[4].reason


def test_gzip_scoring_file(tmp_path: Path) -> None:
    p = tmp_path / "s.txt.gz"
    with gzip.open(p, "wt") as f:
        f.write(HEADER + "rs1\tA\tG\t0.5\t1\t100\n")
    assert read_scoring_file(p).row(0).pos == 100


@pytest.mark.parametrize(("body", "field"), [
    ("rs1\tA\tG\tabc\t1\t100\n", "effect_weight"),
    ("rs1\tA\tG\t0.1\t1\tnope\n", "hm_pos"),
])
def test_bad_numbers_name_the_line(body: str, field: str) -> None:
    with pytest.raises(InputError) as e:
        parse_scoring_file(io.StringIO(HEADER + "rs0\tA\tG\t0.1\t1\t99\n" + body), name="f")
    assert e.value.field == field and e.value.where == "f:6"


def test_missing_columns() -> None:
    with pytest.raises(InputError, match="effect_weight"):
        parse_scoring_file(io.StringIO("rsID\teffect_allele\nrs1\tA\n"))


# -- the matching rule ------------------------------------------------------------------------
@pytest.mark.parametrize(("eff", "oth", "alleles", "keep", "expected"), [
    ("A", "G", ("A", "G"), False, (0, "matched")),
    ("G", "A", ("A", "G"), False, (1, "matched")),
    ("T", "C", ("A", "G"), False, (0, "flipped")),
    ("A", "T", ("A", "T"), False, (None, "ambiguous")),
    ("A", "T", ("A", "T"), True, (0, "matched")),
    ("T", "A", ("A", "C"), True, (None, "allele_mismatch")),  # ambiguous pairs never flip
    ("C", "", ("A", "C"), False, (1, "matched")),
    ("C", "", ("G", "C"), False, (None, "ambiguous")),  # record pair decides without other
    ("G", "A", ("A", "C", "G"), False, (2, "matched")),  # second ALT
    ("AT", "A", ("A", "AT"), False, (1, "matched")),
    ("TA", "T", ("A", "AT"), False, (None, "allele_mismatch")),  # indels are not flipped
])
def test_resolve(eff: str, oth: str, alleles: tuple[str, ...], keep: bool,
                 expected: tuple[int | None, str]) -> None:
    assert resolve(eff, oth, alleles, keep_ambiguous=keep) == expected


_allele = st.sampled_from(["A", "C", "G", "T", "AT", "GC", "ACG"])


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.tuples(_allele, st.one_of(st.just(""), _allele),
                               st.lists(_allele, min_size=2, max_size=4, unique=True)),
                     min_size=1, max_size=30), keep=st.booleans())
def test_vectorised_rule_equals_scalar_rule(rows: list[tuple[str, str, list[str]]],
                                            keep: bool) -> None:
    """The array implementation used for speed gives the same answer as ``resolve``."""
    n = len(rows)
    sites = VcfSites("x", ("s",), "GRCh38", "", np.full(n, "1", dtype=object),
                     np.arange(n, dtype=np.int64), np.full(n, ".", dtype=object),
                     np.array([r[2][0] for r in rows], dtype=object),
                     np.array([",".join(r[2][1:]) for r in rows], dtype=object),
                     np.arange(n, dtype=np.int64), np.zeros((n, 1, 2), np.int8), None, n)
    status, idx = _resolve_many(Coded.of(np.array([r[0] for r in rows], dtype=object)),
                                Coded.of(np.array([r[1] for r in rows], dtype=object)), sites,
                                np.arange(n), keep_ambiguous=keep)
    for i, (eff, oth, alleles) in enumerate(rows):
        a, s = resolve(eff, oth, tuple(alleles), keep_ambiguous=keep)
        assert (STATUS_NAMES[status[i]], None if idx[i] < 0 else int(idx[i])) == (s, a), (
            eff, oth, alleles)


# -- scores by hand, missing calls, build check -------------------------------------------------
def test_score_by_hand_and_rules(tmp_path: Path) -> None:
    vcf = _vcf(tmp_path, [
        "chr1\t100\trs1\tA\tG\t.\tPASS\t.\tGT\t0/1\t1|1\t./.",
        "chr1\t200\trs2\tC\tT,G\t.\tPASS\t.\tGT\t0/2\t2/2\t1/2",
        "chr2\t300\trs3\tA\tT\t.\tPASS\t.\tGT\t1/1\t0/1\t0/0",
        "chrX\t400\trs4\tA\tC\t.\tPASS\t.\tGT\t1\t0/1\t1/1",
    ], ["a", "b", "c"])
    sf = _scores(tmp_path, ["rs1\tG\tA\t0.5\t1\t100", "rs2\tG\tT\t-1\t1\t200",
                            "rs3\tT\tA\t2\t2\t300", "rs4\tC\tA\t3\tX\t400",
                            "rs5\tC\tA\t3\t5\t500"])
    res = score_vcf(sf, vcf)
    assert res.matches.status == ["matched", "matched", "ambiguous", "non_autosomal",
                                  "not_in_vcf"]
    got = {s.sample: s.score for s in res.scores}
    assert got == {"a": 0.5 - 1, "b": 1.0 - 2, "c": -1.0}
    assert res.score_of("c").variants_missing == 1
    assert res.coverage.matched == 2 and res.coverage.fraction == pytest.approx(0.4)
    kept = score_vcf(sf, vcf, options=ScoreOptions(keep_ambiguous=True))
    assert {s.sample: s.score for s in kept.scores}["a"] == pytest.approx(0.5 - 1 + 4)
    d = res.to_dict(variants=True)
    assert d["coverage"]["by_status"]["ambiguous"] == 1 and len(d["variants"]) == 5
    assert "no-mean-imputation" in d["provenance"]["missing_rule"]


def test_bgzip_equals_plain(tmp_path: Path) -> None:
    rows = [f"chr1\t{100 + i}\tv{i}\tA\tG\t.\tPASS\t.\tGT\t{i % 3 // 2}/{i % 2}"
            for i in range(3000)]
    plain = _vcf(tmp_path, rows, ["s"])
    gz = tmp_path / "x.vcf.gz"
    write_bgzf(gz, plain.read_bytes())
    sf = _scores(tmp_path, [f"v{i}\tG\tA\t{(i % 7) / 10}\t1\t{100 + i}"
                            for i in range(0, 3000, 3)])
    a, b = score_vcf(sf, plain), score_vcf(sf, gz)
    assert a.scores == b.scores and a.scores[0].score > 0


def test_build_mismatch_is_an_error(tmp_path: Path) -> None:
    vcf = tmp_path / "b37.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n##contig=<ID=1,length=249250621>\n"
                   "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts\n"
                   "1\t100\trs1\tA\tG\t.\t.\t.\tGT\t0/1\n")
    sf = _scores(tmp_path, ["rs1\tG\tA\t0.5\t1\t100"])
    with pytest.raises(InputError, match="GRCh37"):
        score_vcf(sf, vcf)


def test_malformed_vcf_lines(tmp_path: Path) -> None:
    sf = _scores(tmp_path, ["rs1\tG\tA\t0.5\t1\t100"])
    short = _vcf(tmp_path, ["chr1\t100\trs1\tA\tG\t.\tPASS\t.\tGT\t0/1"], ["a", "b"], "s.vcf")
    with pytest.raises(InputError, match="tab-separated fields") as e:
        score_vcf(sf, short)
    assert e.value.where.endswith(":4")
    poly = _vcf(tmp_path, ["chr1\t100\trs1\tA\tG\t.\tPASS\t.\tGT\t0/1/1"], ["a"], "p.vcf")
    with pytest.raises(InputError, match="ploidy"):
        score_vcf(sf, poly)


def test_mean_imputation_needs_samples(tmp_path: Path) -> None:
    vcf = _vcf(tmp_path, ["chr1\t100\trs1\tA\tG\t.\tPASS\t.\tGT\t0/1"], ["a"])
    sf = _scores(tmp_path, ["rs1\tG\tA\t0.5\t1\t100"])
    with pytest.raises(InputError, match="50 samples"):
        score_vcf(sf, vcf, options=ScoreOptions(missing="mean"))


# -- reference placement -----------------------------------------------------------------------
def _panel(tmp: Path) -> tuple[Path, Path, ReferenceVcf]:
    rng = np.random.default_rng(3)
    n_ref = 200
    samples = [f"r{i}" for i in range(n_ref)]
    rows_ref, rows_t = [], []
    for i in range(40):
        g = rng.integers(0, 2, size=(n_ref, 2))
        rows_ref.append(f"chr1\t{1000 + i}\tv{i}\tA\tG\t.\tPASS\t.\tGT\t"
                        + "\t".join(f"{a}/{b}" for a, b in g))
        rows_t.append(f"chr1\t{1000 + i}\tv{i}\tA\tG\t.\tPASS\t.\tGT\t1/1")
    ref = _vcf(tmp, rows_ref, samples, "ref.vcf")
    target = _vcf(tmp, rows_t[:30], ["me"], "me.vcf")  # 10 sites missing in the person's file
    labels = {s: ("EUR" if i < 120 else "AFR") for i, s in enumerate(samples)}
    return ref, target, ReferenceVcf(str(ref), labels, source="synthetic panel")


def test_reference_vcf_placement(tmp_path: Path) -> None:
    ref, target, panel = _panel(tmp_path)
    sf = _scores(tmp_path, [f"v{i}\tG\tA\t0.1\t1\t{1000 + i}" for i in range(40)])
    res = score_vcf(sf, target, reference=panel, ancestry="EUR")
    p = res.placements[0]
    assert p.group == "EUR" and not p.cross_ancestry and p.n_reference == 120
    assert p.variants == 30 and p.score == pytest.approx(30 * 2 * 0.1)
    # the person is homozygous for every effect allele: top of the distribution
    assert p.percentile > 95 and p.ci_low is not None and p.ci_low < p.percentile
    # independent check of the percentile against the reference scores on the 30 shared sites
    ref_res = score_vcf(_scores(tmp_path, [f"v{i}\tG\tA\t0.1\t1\t{1000 + i}"
                                           for i in range(30)], "s30.txt"), ref)
    eur = np.array([s.score for s in ref_res.scores[:120]])
    assert p.percentile == pytest.approx(empirical_percentile(p.score, eur))


def test_no_percentile_without_group_and_pooling_is_labelled(tmp_path: Path) -> None:
    _, target, panel = _panel(tmp_path)
    sf = _scores(tmp_path, [f"v{i}\tG\tA\t0.1\t1\t{1000 + i}" for i in range(40)])
    res = score_vcf(sf, target, reference=panel)
    assert res.placements == () and any("ancestry group" in w for w in res.warnings)
    pooled = score_vcf(sf, target, reference=panel, across_ancestries=True)
    p = pooled.placements[0]
    assert p.cross_ancestry and p.n_reference == 200 and "POOLED ACROSS" in p.note
    with pytest.raises(InputError, match="choose one of"):
        score_vcf(sf, target, reference=panel, ancestry="EAS")


def test_reference_stats_normal(tmp_path: Path) -> None:
    _, target, _ = _panel(tmp_path)
    sf = _scores(tmp_path, [f"v{i}\tG\tA\t0.1\t1\t{1000 + i}" for i in range(40)])
    stats = ReferenceStats({"EUR": AncestryStats(mean=3.0, sd=1.5, n=500, source="test")})
    p = score_vcf(sf, target, reference=stats, ancestry="EUR").placements[0]
    # score 30 x 2 x 0.1 = 6.0, z = (6 - 3) / 1.5 = 2, Phi(2) = 0.97725 (normal table)
    assert p.method == "normal" and p.score == pytest.approx(6.0)
    assert p.percentile == pytest.approx(97.725, abs=1e-3)
    with pytest.raises(InputError):
        score_vcf(sf, target, reference=stats, across_ancestries=True)


def test_ds_only_records_use_dosage(tmp_path: Path) -> None:
    """A record without GT (FORMAT DS only) is scored from DS; its calls are not misread."""
    p = tmp_path / "ds.vcf"
    p.write_text("##fileformat=VCFv4.2\n##reference=GRCh38\n"
                 '##FORMAT=<ID=DS,Number=A,Type=Float,Description="ALT dosage">\n'
                 "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ta\tb\n"
                 "chr1\t100\trs1\tA\tG\t.\tPASS\t.\tDS\t1.5\t-0\n"
                 "chr1\t200\trs2\tC\tT\t.\tPASS\t.\tGT:DS\t0/1:0.25\t1/1:.\n")
    sf = _scores(tmp_path, ["rs1\tG\tA\t1\t1\t100", "rs2\tT\tC\t2\t1\t200"])
    got = {s.sample: s.score for s in score_vcf(sf, p).scores}
    assert got == pytest.approx({"a": 1.5 + 2 * 0.25, "b": 0.0 + 2 * 2})
    gt_only = score_vcf(sf, p, options=ScoreOptions(use_dosage=False))
    assert {s.sample: s.variants_missing for s in gt_only.scores} == {"a": 1, "b": 1}
