"""PGx: one sample, all genes, in-process; and throughput on a multi-sample VCF.

Target (DESIGN.md): one sample, all 19 VCF genes, no JVM, <= 0.1 s on this 2-core machine, against
PharmCAT's published ~5.9 s per sample per core (UK Biobank runtime note) - i.e. >= 50x.

Baselines measured in the same run:

* **naive**: the textbook form of the same algorithm in Python - every VCF line split into all
  its fields, every definition position kept as a full allele vector (blanks filled with the
  reference), every phase permutation of the heterozygous positions enumerated and compared with
  every named allele at every position, then complementary permutations paired (the way the
  PharmCAT documentation describes its matcher). It gives the same top diplotypes (checked).
* **published PharmCAT**: 5.9 s per sample per core, quoted, not measured (no JVM here).

Inputs: PharmCAT's example VCF (the 1,202 positions PharmCAT reads; Sample_2 has CYP2C19 *2/*2
and CYP2B6 *1/*6), a GeT-RM gVCF (NA12878, 29,386 lines with reference blocks) from
../shared/data/pgx, and a synthetic multi-sample VCF (random diplotypes of every gene).

    python benchmarks/bench_pgx.py [--quick] [--samples 200] [--json out.json]
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, latencies_ms, percentile, print_table, write_json

from hyperhealth.insights.pgx import PgxCaller, build_report, phenotype, tables
from hyperhealth.insights.pgx._tables import IUPAC, is_wobble
from hyperhealth.synth._pgx_genotype import genotype_rows

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "pgx"
PHARMCAT_PUBLISHED_S = 5.9
TARGET_S = 0.1


# -- naive baseline ----------------------------------------------------------------------------
def naive_call(path: Path) -> dict[str, list[str]]:
    """The same matching, written the straightforward way (see the module docstring)."""
    t = tables()
    opener = gzip.open if path.suffix == ".gz" else open
    records: dict[tuple[str, int], tuple[str, list[str], str]] = {}
    blocks: list[tuple[str, int, int, str]] = []
    with opener(path, "rt") as f:  # type: ignore[operator]
        for line in f:
            if line.startswith("#"):
                continue
            cols = line.rstrip("\n").split("\t")
            chrom = cols[0].removeprefix("chr")
            info = dict(x.split("=", 1) for x in cols[7].split(";") if "=" in x)
            fmt = cols[8].split(":")
            sample = dict(zip(fmt, cols[9].split(":"), strict=False))
            alts = [a for a in cols[4].split(",")]
            if all(a.startswith("<") for a in alts) and "END" in info:
                blocks.append((chrom, int(cols[1]), int(info["END"]), sample.get("GT", ".")))
            records.setdefault((chrom, int(cols[1])), (cols[3], alts, sample.get("GT", ".")))
    out: dict[str, list[str]] = {}
    for gene, d in t.definitions.items():
        chrom = d.chromosome.removeprefix("chr")
        gts: list[tuple[str, str] | None] = []
        for p in d.positions:
            rec = records.get((chrom, p.pos))
            gt: tuple[str, str] | None = None
            if rec is not None and rec[0] == p.ref and "." not in rec[2]:
                alleles = [rec[0], *rec[1]]
                idx = rec[2].replace("|", "/").split("/")
                if len(idx) == 2:
                    gt = (alleles[int(idx[0])], alleles[int(idx[1])])
            elif rec is None:
                for c, s, e, g in blocks:
                    if c == chrom and s <= p.pos <= e and g in ("0/0", "0|0"):
                        gt = (p.ref, p.ref)
            gts.append(gt)
        present = [i for i, g in enumerate(gts) if g is not None]
        if not present:
            out[gene] = []
            continue
        ref = d.reference
        haps = []
        for a in d.alleles:
            vec = []
            score = 0
            for i in present:
                v = a.alleles[i]
                if v is not None:
                    score += 1
                else:
                    v = ref.alleles[i] or d.positions[i].ref
                    if is_wobble(v):
                        v = d.positions[i].ref
                vec.append(IUPAC[v] if is_wobble(v) else {v})
            if score:
                haps.append((a.name, vec, score))
        het = [k for k, i in enumerate(present) if gts[i][0] != gts[i][1]]  # type: ignore[index]
        perms = []
        for flips in itertools.product((0, 1), repeat=len(het)):
            s1 = [gts[i][0] for i in present]  # type: ignore[index]
            s2 = [gts[i][1] for i in present]  # type: ignore[index]
            for k, f in zip(het, flips, strict=True):
                if f:
                    s1[k], s2[k] = s2[k], s1[k]
            perms.append((tuple(s1), tuple(s2)))
        matches: dict[tuple[str, ...], list[tuple[str, int]]] = {}
        for name, vec, score in haps:
            for s1, _ in perms:
                if all(s1[k] in vec[k] for k in range(len(present))):
                    matches.setdefault(s1, []).append((name, score))
        dips: dict[str, int] = {}
        for s1, s2 in perms:
            for n1, sc1 in matches.get(s1, []):
                for n2, sc2 in matches.get(s2, []):
                    key = "/".join(sorted((n1, n2)))
                    dips[key] = max(dips.get(key, 0), sc1 + sc2)
        best = max(dips.values(), default=0)
        out[gene] = sorted(k for k, v in dips.items() if v == best)
    return out


# -- inputs --------------------------------------------------------------------------------------
def multi_sample_vcf(path: Path, n: int, seed: int = 7) -> Path:
    """``n`` samples with random diplotypes of every VCF gene (unphased)."""
    rng = random.Random(seed)
    t = tables()
    rows: dict[tuple[str, int], list[Any]] = {}
    for d in t.definitions.values():
        names = [a.name for a in d.alleles]
        for _ in range(n):
            a, b = rng.choice(names), rng.choice(names)
            for pos, rsid, ref, alts, gt in genotype_rows(d, a, b):
                r = rows.setdefault((d.chromosome, pos), [d.chromosome, pos, rsid, ref, alts, []])
                r[5].append(gt)
    head = ["##fileformat=VCFv4.2", "##reference=GRCh38",
            '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" +
            "\t".join(f"S{i:04d}" for i in range(n))]
    body = []
    for (_c, _p), (c, p, rsid, ref, alts, gts) in sorted(
            rows.items(), key=lambda kv: (len(kv[0][0]), kv[0][0], kv[0][1])):
        body.append(f"{c}\t{p}\t{rsid}\t{ref}\t{','.join(alts)}\t.\tPASS\t.\tGT\t" +
                    "\t".join(gts))
    path.write_bytes(gzip.compress(("\n".join(head + body) + "\n").encode(), 6))
    return path


def cold_start_seconds(vcf: Path) -> float:
    """A fresh interpreter: import, load tables, call one sample (what a CLI run pays)."""
    code = ("import time;t=time.perf_counter();from hyperhealth.insights.pgx import run_pgx;"
            f"run_pgx({str(vcf)!r});print(time.perf_counter()-t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats and samples")
    ap.add_argument("--samples", type=int, default=None, help="samples in the multi-sample VCF")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    repeats = args.repeats or (10 if args.quick else 40)
    n_samples = args.samples or (50 if args.quick else 200)
    if not SHARED.is_dir():
        raise SystemExit(f"{SHARED} is absent (the reference data folder)")
    example = SHARED / "pharmcat" / "examples" / "pharmcat.example2.vcf"
    gvcf = SHARED / "getrm" / "vcf" / "NA12878.pgx.vcf.gz"
    caller = PgxCaller()
    rows: list[Row] = []

    def one(path: Path) -> Any:
        m = caller.match(path)
        return build_report(phenotype(m))

    for label, path in (("PharmCAT example VCF (1,202 positions)", example),
                        ("GeT-RM gVCF NA12878 (29,386 lines)", gvcf)):
        ours = [x / 1000 for x in latencies_ms(lambda p=path: one(p), repeats)]
        naive = [x / 1000 for x in latencies_ms(lambda p=path: naive_call(p),
                                                max(3, repeats // 5))]
        ref = naive_call(path)
        got = {g: sorted(d.name for d in m.diplotypes)
               for g, m in caller.match(path).genes.items()}
        same = sum(1 for g in ref if ref[g] == got[g] or not ref[g])
        p50 = percentile(ours, 50)
        rows.append(Row(label, "all genes, match+phenotype+report p50", p50, "s",
                        percentile(naive, 50), "naive Python matcher (same run)",
                        higher_is_better=False,
                        extra={"p95_s": percentile(ours, 95), "naive_agrees_genes": same,
                               "genes": len(ref)}))
        rows.append(Row(label, "vs PharmCAT published per sample per core", p50, "s",
                        PHARMCAT_PUBLISHED_S, "PharmCAT 5.9 s (published, not run)",
                        higher_is_better=False,
                        extra={"target_s": TARGET_S, "meets_target": p50 <= TARGET_S}))
    cold = cold_start_seconds(example)
    rows.append(Row("cold start", "new process: import + tables + one sample", cold, "s",
                    PHARMCAT_PUBLISHED_S, "PharmCAT 5.9 s (published, not run)",
                    higher_is_better=False))
    with tempfile.TemporaryDirectory() as tmp:
        multi = multi_sample_vcf(Path(tmp) / "multi.vcf.gz", n_samples)
        t0 = time.perf_counter()
        results = caller.match_all(multi)
        for m in results:
            build_report(phenotype(m))
        dt = time.perf_counter() - t0
        single = []
        for i in range(min(10, n_samples)):
            t1 = time.perf_counter()
            one_sample = caller.match(multi, f"S{i:04d}")
            build_report(phenotype(one_sample))
            single.append(time.perf_counter() - t1)
        per_file = sum(single) / len(single)
        rows.append(Row(f"multi-sample VCF ({n_samples} samples)", "throughput",
                        n_samples / dt, "samples/s", 1 / per_file,
                        "the same file read once per sample", extra={"seconds": dt}))
        rows.append(Row(f"multi-sample VCF ({n_samples} samples)", "vs PharmCAT published",
                        n_samples / dt, "samples/s", 1 / PHARMCAT_PUBLISHED_S,
                        "PharmCAT 1 sample / 5.9 s / core (published)"))
    print_table(rows)
    meta = {"python": platform.python_version(), "machine": platform.machine(),
            "repeats": repeats, "samples": n_samples,
            "definitions_version": tables().version}
    if args.json:
        write_json(args.json, rows, meta)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
