"""The PGx VCF reader: names, builds, gVCF blocks, normalisation, phasing, missing positions."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperhealth.errors import InputError
from hyperhealth.insights.pgx import PgxCaller, tables
from hyperhealth.insights.pgx._vcf import left_align, trim
from hyperhealth.synth._pgx_genotype import diplotype_vcf

HEAD = ("##fileformat=VCFv4.2\n##contig=<ID={c},length={n}>\n"
        "##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{s}\n")
GRCH38_CHR10 = 133797422
GRCH37_CHR10 = 135534747


@pytest.fixture(scope="module")
def c19() -> PgxCaller:
    return PgxCaller(genes=["CYP2C19"])


def _vcf(body: str, chrom: str = "chr10", length: int = GRCH38_CHR10, sample: str = "S") -> str:
    return HEAD.format(c=chrom, n=length, s=sample) + body


def test_chr_prefix_or_not_gives_the_same_calls(c19: PgxCaller) -> None:
    text = diplotype_vcf({"CYP2C19": ("*1", "*2")}, genes=["CYP2C19"])
    bare = "\n".join(line if line.startswith("#") else line[3:]
                     for line in text.splitlines()) + "\n"
    a = c19.match_calls(c19.read("a.vcf", text=text), "SAMPLE").genes["CYP2C19"]
    b = c19.match_calls(c19.read("b.vcf", text=bare), "SAMPLE").genes["CYP2C19"]
    assert a.diplotypes == b.diplotypes and a.diplotypes[0].name == "*1/*2"


def test_grch37_is_refused_with_a_fix(c19: PgxCaller) -> None:
    with pytest.raises(InputError) as e:
        c19.read("x.vcf", text=_vcf("", length=GRCH37_CHR10))
    assert "GRCh37" in e.value.message and "lift" in e.value.hint


def test_absent_position_is_a_no_call_not_reference(c19: PgxCaller) -> None:
    # only rs4244285 (*2, 94781859) is given
    m = c19.match_calls(c19.read("x.vcf", text=_vcf(
        "chr10\t94781859\trs4244285\tG\tA\t.\tPASS\t.\tGT\t0/1\n")), "S").genes["CYP2C19"]
    assert len(m.missing_positions) == len(tables().definitions["CYP2C19"].positions) - 1
    assert any("94842866" in p for p in m.missing_positions)
    assert m.untestable_alleles  # alleles defined only by absent positions are named


def test_gvcf_reference_block_counts_as_reference(c19: PgxCaller) -> None:
    d = tables().definitions["CYP2C19"]
    first, last = d.positions[0].pos, d.positions[-1].pos
    body = (f"chr10\t{first - 10}\t.\tC\t<NON_REF>\t.\t.\tEND=94842865\tGT\t0/0\n"
            "chr10\t94842866\t.\tA\tG,<NON_REF>\t.\t.\t.\tGT\t1/1\n"
            f"chr10\t94842867\t.\tC\t<NON_REF>\t.\t.\tEND={last + 5}\tGT\t0/0\n")
    m = c19.match_calls(c19.read("g.vcf", text=_vcf(body)), "S").genes["CYP2C19"]
    assert m.missing_positions == () and m.diplotypes[0].name == "*1/*1"
    assert sum(v.from_block for v in m.variants) == len(d.positions) - 1


def test_nocall_block_is_missing(c19: PgxCaller) -> None:
    body = "chr10\t94700000\t.\tC\t<NON_REF>\t.\t.\tEND=94900000\tGT\t./.\n"
    m = c19.match_calls(c19.read("g.vcf", text=_vcf(body)), "S").genes["CYP2C19"]
    assert m.status == "no_data"


def test_padded_and_multiallelic_indels_are_normalised() -> None:
    c = PgxCaller(genes=["UGT1A1"])
    # UGT1A1 TA repeat: definition REF CAT at 233760233, *28 = CATAT; here written with extra
    # right padding and as the second ALT of a multi-allelic record
    body = ("chr2\t233760233\t.\tCATATAT\tCATAT,CATATATAT\t.\tPASS\t.\tGT\t0/2\n")
    text = diplotype_vcf({}, genes=["UGT1A1"])
    text = "\n".join(x for x in text.splitlines() if "\t233760233\t" not in x) + "\n" + body
    calls = c.read("u.vcf", text=text)
    assert calls.calls["SAMPLE"][("2", 233760233)].alleles == ("CAT", "CATAT")
    assert c.match_calls(calls, "SAMPLE").genes["UGT1A1"].diplotypes[0].name == "*1/*28"


def test_undocumented_allele_blocks_a_call_where_it_should(c19: PgxCaller) -> None:
    text = diplotype_vcf({}, genes=["CYP2C19"]).replace(
        "\t94781859\trs4244285\tG\tA\t.\tPASS\t.\tGT\t0/0",
        "\t94781859\trs4244285\tG\tC\t.\tPASS\t.\tGT\t0/1")
    m = c19.match_calls(c19.read("x.vcf", text=text), "SAMPLE").genes["CYP2C19"]
    assert m.status == "no_call" and any("not in the allele definitions" in w for w in m.warnings)


def test_phase_sets_decide_cis_and_trans() -> None:
    c = PgxCaller(genes=["TPMT"])
    # *3A = *3B + *3C on one chromosome; the same two het variants in trans are *3B/*3C
    base = diplotype_vcf({"TPMT": ("*1", "*3A")}, genes=["TPMT"], phased=True)
    cis = c.match_calls(c.read("c.vcf", text=base), "SAMPLE").genes["TPMT"]
    assert [d.name for d in cis.diplotypes] == ["*1/*3A"] and cis.effectively_phased
    d = tables().definitions["TPMT"]
    pos3c = next(p.pos for p in d.positions if p.rsid == "rs1142345")
    trans = "\n".join(x.replace("\t0|1", "\t1|0") if f"\t{pos3c}\t" in x else x
                      for x in base.splitlines()) + "\n"
    m = c.match_calls(c.read("t.vcf", text=trans), "SAMPLE").genes["TPMT"]
    assert [x.name for x in m.diplotypes] == ["*3B/*3C"]
    unphased = base.replace("|", "/")
    u = c.match_calls(c.read("u.vcf", text=unphased), "SAMPLE").genes["TPMT"]
    assert [x.name for x in u.diplotypes] == ["*1/*3A"]
    assert "*3B/*3C" in [x.name for x in u.alternatives]  # flagged, not hidden


def test_het_gt_with_one_sided_ad_is_discarded(c19: PgxCaller) -> None:
    body = ("chr10\t94781859\trs4244285\tG\tA\t.\tPASS\t.\tGT:AD\t0/1:30,0\n")
    calls = c19.read("x.vcf", text=HEAD.format(c="chr10", n=GRCH38_CHR10, s="S").replace(
        "##FORMAT", '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="depth">\n##FORMAT')
        + body)
    assert ("10", 94781859) not in calls.calls["S"]
    assert any("AD" in m for m in calls.warnings[("10", 94781859)])


def test_multisample_and_unknown_sample(tmp_path: Path, c19: PgxCaller) -> None:
    a = diplotype_vcf({"CYP2C19": ("*1", "*2")}, genes=["CYP2C19"], sample="A").splitlines()
    b = diplotype_vcf({"CYP2C19": ("*17", "*17")}, genes=["CYP2C19"], sample="B").splitlines()
    merged = [x + "\t" + y.split("\t")[-1] if not x.startswith("##") else x
              for x, y in zip(a, b, strict=True)]
    path = tmp_path / "two.vcf.gz"
    path.write_bytes(gzip.compress(("\n".join(merged) + "\n").encode()))
    res = c19.match_all(path)
    assert [(r.sample, r.genes["CYP2C19"].diplotypes[0].name) for r in res] == [
        ("A", "*1/*2"), ("B", "*17/*17")]
    with pytest.raises(InputError) as e:
        c19.match(path)
    assert e.value.field == "sample"
    with pytest.raises(InputError):
        c19.match(path, "C")


def test_unsorted_file_is_read_line_by_line(c19: PgxCaller) -> None:
    text = diplotype_vcf({"CYP2C19": ("*2", "*17")}, genes=["CYP2C19"])
    head = [x for x in text.splitlines() if x.startswith("#")]
    body = [x for x in text.splitlines() if not x.startswith("#")][::-1]
    calls = c19.read("r.vcf", text="\n".join(head + body) + "\n")
    assert "VCF" in calls.warnings
    assert c19.match_calls(calls, "SAMPLE").genes["CYP2C19"].diplotypes[0].name == "*2/*17"


def test_not_a_vcf() -> None:
    with pytest.raises(InputError):
        PgxCaller(genes=["CYP2C19"]).read("x.vcf", text="hello\tworld\n")


@settings(max_examples=200, deadline=None)
@given(st.text("ACGT", min_size=1, max_size=6), st.text("ACGT", min_size=0, max_size=4),
       st.integers(0, 5))
def test_left_align_shifts_within_a_repeat(unit: str, flank: str, shift: int) -> None:
    """An insertion of one repeat unit anywhere in a tandem repeat aligns to one position."""
    repeat = unit * 4
    ref = flank + repeat
    known = {100 + i: b for i, b in enumerate(ref)}
    starts = set()
    for k in range(0, 4 * len(unit) + 1, len(unit)):
        pos = 100 + len(flank) + min(k, shift * len(unit))
        alt_seq = ref[: pos - 100] + unit + ref[pos - 100:]
        e = left_align(trim(100, ref, alt_seq), known)
        starts.add(e)
    assert len(starts) == 1
