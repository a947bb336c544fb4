"""Deterministic test cases for polygenic scores: a VCF, a PGS Catalog-style scoring file, and
the truth (which VCF allele each row must count), written out for ``plink2 --score``.

The truth is decided here, from how each row was built (as written, strand-flipped, ambiguous,
absent ...), not by the code under test; plink2 then computes the reference sums from it.
Also used by ``benchmarks/bench_prs.py``.
"""

from __future__ import annotations

import shutil
import subprocess
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

COMP = {"A": "T", "T": "A", "C": "G", "G": "C"}


@dataclass(frozen=True)
class Site:
    chrom: str  # as written in the VCF (chr prefix or not)
    pos: int
    id: str
    ref: str
    alts: tuple[str, ...]

    @property
    def alleles(self) -> tuple[str, ...]:
        return (self.ref, *self.alts)

    @property
    def snp(self) -> bool:
        return all(len(a) == 1 for a in self.alleles)


@dataclass
class Case:
    vcf: Path
    scorefile: Path
    samples: list[str]
    # per scoring-file row (in file order): expected status and, if counted, (VCF id, allele)
    expected: list[tuple[str, tuple[str, str] | None, float]] = field(default_factory=list)

    def plink_score_file(self, path: Path, *, keep_ambiguous: bool) -> int:
        """Write the truth as a plink2 --score file (ID, allele, weight); returns its rows."""
        n = 0
        with open(path, "w") as f:
            f.write("ID\tA1\tW\n")
            for status, counted, w in self.expected:
                if counted is None:
                    continue
                if status == "ambiguous_kept" and not keep_ambiguous:
                    continue
                f.write(f"{counted[0]}\t{counted[1]}\t{w!r}\n")
                n += 1
        return n

    def statuses(self, *, keep_ambiguous: bool) -> list[str]:
        out = []
        for status, _, _ in self.expected:
            if status == "ambiguous_kept":
                status = "matched" if keep_ambiguous else "ambiguous"
            out.append(status)
        return out


def read_sites(path: Path) -> list[Site]:
    """Sites (CHROM, POS, ID, REF, ALT) of a sites-only VCF."""
    out = []
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            continue
        c = line.split("\t")
        alts = tuple(a for a in c[4].split(",") if a not in (".", ""))
        if alts:
            out.append(Site(c[0], int(c[1]), c[2], c[3].upper(), tuple(a.upper() for a in alts)))
    return out


def synthetic_sites(n: int, seed: int, *, chroms: Sequence[str] = ("chr1", "chr2", "chr22"),
                    multiallelic: float = 0.02, indel: float = 0.03) -> list[Site]:
    """``n`` sorted sites on a few chromosomes with random alleles."""
    rng = np.random.default_rng(seed)
    bases = np.array(list("ACGT"))
    per = np.array_split(np.arange(n), len(chroms))
    out = []
    for chrom, idx in zip(chroms, per, strict=True):
        pos = np.sort(rng.choice(np.arange(10_000, 10_000 + 40 * max(1, len(idx))),
                                 size=len(idx), replace=False))
        for p in pos.tolist():
            ref = str(bases[rng.integers(4)])
            others = [b for b in "ACGT" if b != ref]
            u = rng.random()
            if u < multiallelic:
                alts = tuple(str(x) for x in rng.choice(others, size=2, replace=False))
            elif u < multiallelic + indel:
                alts = (ref + "".join(rng.choice(bases, size=int(rng.integers(1, 4)))),)
            else:
                alts = (str(rng.choice(others)),)
            out.append(Site(chrom, p, f"v{len(out)}", ref, alts))
    return out


def _unique_ids(sites: list[Site]) -> list[Site]:
    seen: set[str] = set()
    out = []
    for i, s in enumerate(sites):
        ident = s.id if s.id not in (".", "") and s.id not in seen else f"site{i}"
        seen.add(ident)
        out.append(Site(s.chrom, s.pos, ident, s.ref, s.alts))
    return out


def write_bgzf(path: Path, text: bytes) -> None:
    """Write ``text`` as bgzip (BGZF) blocks, as htslib's bgzip does, with the EOF block."""
    with open(path, "wb") as f:
        for i in range(0, len(text), 65280):
            raw = text[i:i + 65280]
            co = zlib.compressobj(6, zlib.DEFLATED, -15)
            data = co.compress(raw) + co.flush()
            bsize = len(data) + 25
            f.write(b"\x1f\x8b\x08\x04\x00\x00\x00\x00\x00\xff\x06\x00BC\x02\x00"
                    + bsize.to_bytes(2, "little") + data
                    + zlib.crc32(raw).to_bytes(4, "little") + len(raw).to_bytes(4, "little"))
        f.write(bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000"))


def make_case(folder: Path, sites: list[Site], *, n_samples: int, seed: int,
              dosage: bool = False, missing_rate: float = 0.05, bgzip: bool = True,
              x_sites: bool = True, rs_only: int = 20) -> Case:
    """Genotypes for ``n_samples`` at ``sites`` and a scoring file with one row per site built
    in one of several ways (see ``kind`` below); ``expected`` holds the truth per row."""
    rng = np.random.default_rng(seed)
    sites = _unique_ids(sites)
    samples = [f"S{i:04d}" for i in range(n_samples)]
    fmt = "GT:DS" if dosage else "GT"
    lines = ["##fileformat=VCFv4.2", "##reference=GRCh38",
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">']
    if dosage:
        lines.append('##FORMAT=<ID=DS,Number=A,Type=Float,Description="ALT dosage">')
    lines.append("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO",
                            "FORMAT", *samples]))
    for s in sites:
        k = len(s.alleles)
        freq = rng.dirichlet(np.ones(k))
        g = rng.choice(k, size=(n_samples, 2), p=freq)
        miss = rng.random(n_samples) < missing_rate
        half = rng.random(n_samples) < missing_rate / 3
        phased = rng.random() < 0.5
        sep = "|" if phased else "/"
        if dosage:
            calls = _calls_with_ds(g, miss, half, sep, k, s, rng)
        else:  # vectorised: a table of every call string, indexed by the two alleles
            table = np.array([f"{a}{sep}{b}" for a in range(k) for b in range(k)]
                             + [f".{sep}." ] + [f".{sep}{b}" for b in range(k)], dtype=object)
            idx = g[:, 0] * k + g[:, 1]
            idx = np.where(half, k * k + 1 + g[:, 1], idx)
            idx = np.where(miss, k * k, idx)
            calls = table[idx].tolist()
        lines.append("\t".join([s.chrom, str(s.pos), s.id, s.ref, ",".join(s.alts), ".", "PASS",
                                ".", fmt, *calls]))
    text = ("\n".join(lines) + "\n").encode()
    vcf = folder / ("case.vcf.gz" if bgzip else "case.vcf")
    if bgzip:
        write_bgzf(vcf, text)
    else:
        vcf.write_bytes(text)
    case = Case(vcf, folder / "case_scores.txt", samples)
    rows = _score_rows(sites, rng, case, x_sites=x_sites, rs_only=rs_only)
    header = ["###PGS CATALOG SCORING FILE - test file written by the hyperhealth test suite",
              "#format_version=2.0", "#pgs_id=PGS_TEST", "#pgs_name=synthetic",
              "#trait_reported=none (synthetic)", "#genome_build=GRCh37",
              "#variants_number=" + str(len(rows)), "##HARMONIZATION DETAILS",
              "#HmPOS_build=GRCh38"]
    cols = ["rsID", "chr_name", "chr_position", "effect_allele", "other_allele",
            "effect_weight", "is_haplotype", "hm_source", "hm_rsID", "hm_chr", "hm_pos",
            "hm_inferOtherAllele"]
    body = ["\t".join(cols)] + ["\t".join(r) for r in rows]
    case.scorefile.write_text("\n".join(header + body) + "\n")
    return case


def _calls_with_ds(g: np.ndarray, miss: np.ndarray, half: np.ndarray, sep: str, k: int,
                   s: Site, rng: np.random.Generator) -> list[str]:
    calls = []
    for j in range(len(g)):
        if miss[j]:
            gt = f".{sep}."
        elif half[j]:
            gt = f".{sep}{g[j, 1]}"
        else:
            gt = f"{g[j, 0]}{sep}{g[j, 1]}"
        if k == 2 and not miss[j] and not half[j]:
            alt = int((g[j] == 1).sum())
            # dyadic values (k/16) are exact in plink2's 1/16384 dosage grid
            val = float(np.clip(alt + rng.integers(-3, 4) / 16, 0, 2))
            ds = "." if rng.random() < 0.1 else f"{val:g}"
        elif k == 2 and miss[j] and rng.random() < 0.5:
            ds = f"{rng.integers(0, 33) / 16:g}"  # DS given where GT is missing
        else:
            ds = "." if k == 2 else ",".join("." for _ in s.alts)
        calls.append(f"{gt}:{ds}")
    return calls


def _score_rows(sites: list[Site], rng: np.random.Generator, case: Case, *, x_sites: bool,
                rs_only: int) -> list[list[str]]:
    rows: list[list[str]] = []
    present = {(s.chrom, s.pos) for s in sites}
    rs_left = rs_only

    def add(s: Site, eff: str, oth: str, kind: str, counted: tuple[str, str] | None,
            *, hm_pos: int | None = None, rsid_only: bool = False, haplotype: bool = False,
            infer: str = "") -> None:
        # realistic log-odds sizes; keeps sums below 1 in magnitude, so that plink2's output,
        # which has 6 significant digits, resolves them to 5e-7 or better
        w = float(np.round(rng.normal(0, 0.004), 8)) or 0.001
        chrom = s.chrom.removeprefix("chr")
        pos = s.pos if hm_pos is None else hm_pos
        rs = s.id if s.id.startswith("rs") else ""
        rows.append([rs, chrom, str(pos - 1000), eff, oth, repr(w),
                     "True" if haplotype else "", "ENSEMBL", rs,
                     "" if rsid_only else chrom, "" if rsid_only else str(pos), infer])
        case.expected.append((kind, counted, w))

    for s in sites:
        bare = s.chrom.removeprefix("chr")
        nonauto = bare in ("X", "Y", "MT", "M")
        if nonauto and not x_sites:
            continue
        al = s.alleles
        i_eff = int(rng.integers(len(al)))
        i_oth = int(rng.choice([i for i in range(len(al)) if i != i_eff]))
        eff, oth = al[i_eff], al[i_oth]
        if nonauto:
            add(s, eff, oth, "non_autosomal", None)
            continue
        amb = len(eff) == 1 and len(oth) == 1 and COMP[eff] == oth
        u = rng.random()
        if amb:
            add(s, eff, oth, "ambiguous_kept", (s.id, eff))
        elif u < 0.15 and s.snp and not any(COMP[a] in al for a in (eff, oth)):
            add(s, COMP[eff], COMP[oth], "flipped", (s.id, eff))
        elif u < 0.22 and len(al) == 2 and not (len(al[0]) == 1 and len(al[1]) == 1
                                                 and COMP.get(al[0]) == al[1]):
            add(s, eff, "", "matched", (s.id, eff), infer=f"{oth}/N" if u < 0.18 else "")
        elif u < 0.25 and s.snp:
            # an insertion allele the record does not carry (indels are never flipped)
            add(s, s.ref + "TT", oth, "allele_mismatch", None)
        elif u < 0.28 and (s.chrom, s.pos + 1) not in present:
            add(s, eff, oth, "not_in_vcf", None, hm_pos=s.pos + 1)
        elif u < 0.30:
            add(s, eff, oth, "not_scorable", None, haplotype=True)
        elif u < 0.40 and rs_left > 0 and s.id.startswith("rs"):
            rs_left -= 1
            add(s, eff, oth, "matched", (s.id, eff), rsid_only=True)
        else:
            add(s, eff, oth, "matched", (s.id, eff))
    return rows


def plink2() -> str | None:
    return shutil.which("plink2")


def run_plink2(case: Case, out: Path, *, keep_ambiguous: bool, mean_impute: bool,
               dosage: bool, threads: int | None = None) -> dict[str, float]:
    """Sums per sample from ``plink2 --score`` on the truth."""
    score = out.with_suffix(".plink_scores.tsv")
    case.plink_score_file(score, keep_ambiguous=keep_ambiguous)
    vcf_args = ["--vcf", str(case.vcf)] + (["dosage=DS"] if dosage else [])
    mods = ["1", "2", "3", "header", "cols=+scoresums"]
    if not mean_impute:
        mods.insert(4, "no-mean-imputation")
    cmd = ["plink2", *vcf_args, "--vcf-half-call", "m", "--score", str(score), *mods,
           "--out", str(out)]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    subprocess.run(cmd, check=True, capture_output=True)
    return read_sscore(out.with_suffix(".sscore"))


def read_sscore(path: Path) -> dict[str, float]:
    lines = path.read_text().splitlines()
    head = lines[0].lstrip("#").split("\t")
    i_id, i_sum = head.index("IID"), head.index("SCORE1_SUM")
    return {c[i_id]: float(c[i_sum]) for c in (x.split("\t") for x in lines[1:])}
