"""VCF registration of the real reference VCFs in ../shared/data/pgx and of written headers."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from hyperhealth.ingest import IngestOptions, detect, ingest_file
from hyperhealth.ingest.vcf import build_from_lengths, build_from_text, read_header
from hyperhealth.model import Person
from hyperhealth.store import Store

# GRCh37 primary-assembly lengths (GRC assembly report GCF_000001405.13), written out here
GRCH37_HEADER = """\
##fileformat=VCFv4.2
##contig=<ID=1,length=249250621>
##contig=<ID=2,length=243199373>
##contig=<ID=10,length=135534747>
##contig=<ID=22,length=51304566>
##contig=<ID=X,length=155270560>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tNA99999
1\t1000\t.\tA\tG\t.\tPASS\t.\tGT\t0/1
"""


@pytest.fixture
def pgx(shared_data: Path) -> Path:
    d = shared_data / "pgx"
    if not d.is_dir():
        pytest.skip(f"{d} is absent")
    return d


def test_pharmcat_example(store: Store, pgx: Path) -> None:
    path = pgx / "pharmcat" / "examples" / "pharmcat.example.vcf"
    assert detect(path).name == "vcf"
    rep = ingest_file(store, path)
    assert rep.ok, rep.error
    assert rep.added["genotype_uploads"] == 1
    pid = store.find_person("vcf", "Sample_1")
    assert pid is not None and rep.persons == [pid]
    (g,) = store.genotype_uploads(pid)
    assert (g.samples, g.build, g.chr_prefix, g.contigs) == (("Sample_1",), "GRCh38", True, 13)
    assert len(g.sha256) == 64 and g.path == str(path.resolve())
    assert g.registered_at is not None


def test_getrm_vcf_build_from_contig_lengths(sqlite_store: Store, pgx: Path) -> None:
    path = pgx / "getrm" / "vcf" / "NA12878.pgx.vcf.gz"
    h = read_header(path)
    assert h.build == "GRCh38" and "length" in h.build_evidence  # chr1 = 248,956,422
    assert h.samples == ("NA12878",) and len(h.contigs) == 3366
    # HLA allele contigs (HLA-A*01:01...) have no chr prefix: the file is mixed, so "no"
    assert h.chr_prefix is False
    rep = ingest_file(sqlite_store, path)
    assert rep.ok, rep.error
    (g,) = sqlite_store.genotype_uploads()
    assert g.build == "GRCh38" and g.contigs == 3366


def test_multisample_file_registers_each_sample(sqlite_store: Store, pgx: Path) -> None:
    path = pgx / "pharmcat" / "test-vcfs" / "_vcf_reader" / "VcfSampleReaderTest-multisample.vcf"
    rep = ingest_file(sqlite_store, path)
    assert rep.ok, rep.error
    assert rep.added["genotype_uploads"] == 2 and rep.created_persons == 2
    ups = sqlite_store.genotype_uploads()
    assert {g.person_id for g in ups} == {sqlite_store.find_person("vcf", "Sample_1"),
                                         sqlite_store.find_person("vcf", "Sample_2")}
    assert all(g.samples == ("Sample_1", "Sample_2") and g.build == "GRCh38" for g in ups)


def test_every_reference_vcf_is_grch38(pgx: Path) -> None:
    files = sorted(pgx.rglob("*.vcf")) + sorted(pgx.rglob("*.vcf.gz"))
    assert len(files) > 100
    builds = {f.name: read_header(f).build for f in files}
    assert set(builds.values()) == {"GRCh38"}, {k: v for k, v in builds.items() if v != "GRCh38"}


@pytest.mark.parametrize("gz", [False, True])
def test_grch37_header_detected(sqlite_store: Store, tmp_path: Path, gz: bool) -> None:
    path = tmp_path / ("b37.vcf.gz" if gz else "b37.vcf")
    if gz:
        with gzip.open(path, "wt") as f:
            f.write(GRCH37_HEADER)
    else:
        path.write_text(GRCH37_HEADER)
    assert detect(path).name == "vcf"
    rep = ingest_file(sqlite_store, path)
    assert rep.ok, rep.error
    (g,) = sqlite_store.genotype_uploads()
    assert (g.build, g.chr_prefix, g.contigs, g.samples) == ("GRCh37", False, 5, ("NA99999",))


def test_reregistration_is_idempotent(sqlite_store: Store, tmp_path: Path) -> None:
    path = tmp_path / "b37.vcf"
    path.write_text(GRCH37_HEADER)
    assert ingest_file(sqlite_store, path).added["genotype_uploads"] == 1
    assert ingest_file(sqlite_store, path).already_imported
    again = ingest_file(sqlite_store, path, IngestOptions(force=True))
    assert again.ok and again.read["genotype_uploads"] == 1 and not again.added
    assert len(sqlite_store.genotype_uploads()) == 1


def test_person_option(sqlite_store: Store, tmp_path: Path) -> None:
    with sqlite_store.transaction() as w:
        w.upsert_person(Person("p-me"))
    path = tmp_path / "b37.vcf"
    path.write_text(GRCH37_HEADER)
    rep = ingest_file(sqlite_store, path, IngestOptions(person="p-me"))
    assert rep.ok, rep.error
    assert [g.person_id for g in sqlite_store.genotype_uploads()] == ["p-me"]
    assert sqlite_store.find_person("vcf", "NA99999") == "p-me"


def test_build_from_reference_names_and_unknown(sqlite_store: Store, tmp_path: Path) -> None:
    body = ("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS\n"
            "chr1\t5\t.\tA\tG\t.\t.\t.\tGT\t0/1\n")
    fmt = '##fileformat=VCFv4.2\n##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    named = tmp_path / "named.vcf"
    named.write_text(fmt + "##reference=file:///refs/hs37d5.fa\n" + body)
    h = read_header(named)
    assert (h.build, h.chr_prefix, h.contigs) == ("GRCh37", True, ("chr1",))
    plain = tmp_path / "plain.vcf"
    plain.write_text(fmt + body)
    assert read_header(plain).build == "unknown"
    rep = ingest_file(sqlite_store, plain)
    assert rep.ok and any("unknown" in w for w in rep.warnings)


def test_lengths_win_over_names() -> None:
    assert build_from_lengths({"chr1": 249250621}) == ("GRCh37", 1)
    assert build_from_lengths({"chr1": 249250621, "chr2": 242193529}) is None  # mixed
    assert build_from_lengths({"chrUn_x": 1000}) is None
    assert build_from_text("GRCh38_full_analysis_set_plus_decoy_hla") == "GRCh38"
    assert build_from_text("Homo_sapiens_assembly19.fasta") == "GRCh37"
    assert build_from_text("mm10") is None


def test_invalid_vcf_is_an_error_with_its_location(sqlite_store: Store, tmp_path: Path) -> None:
    not_vcf = tmp_path / "notes.vcf"
    not_vcf.write_text("this is not a VCF\n")
    rep = ingest_file(sqlite_store, not_vcf)
    assert not rep.ok and f"{not_vcf}:1" in rep.error
    broken = tmp_path / "broken.vcf"
    broken.write_text(GRCH37_HEADER + "1\tnot-a-position\t.\tA\n")
    rep = ingest_file(sqlite_store, broken)
    assert not rep.ok and f"{broken}:10" in rep.error and "record 2" in rep.error
    assert sqlite_store.genotype_uploads() == []
