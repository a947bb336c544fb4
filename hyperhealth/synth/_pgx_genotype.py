"""Synthetic GRCh38 VCFs for a person with given star-allele diplotypes (demo, tests, benchmarks).

The genotypes are built from the project's allele definitions (``hyperhealth/insights/pgx/data``):
at every defining position of a gene, each chromosome copy carries the VCF allele its named allele
requires, or the reference allele where the definition leaves the position blank. A one-letter
IUPAC code (``R`` = A or G) is written as its non-reference base. Genes not named are written as
reference/reference, so the file covers every position the matcher reads (no missing positions).

>>> text = diplotype_vcf({"CYP2C19": ("*2", "*2")}, genes=["CYP2C19"])
>>> [l.split("\\t")[-1] for l in text.splitlines() if "\\t94781859\\t" in l]
['1/1']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from hyperhealth.errors import InputError
from hyperhealth.insights.pgx._tables import IUPAC, GeneDefinition, NamedAllele, is_wobble, tables


def _allele(d: GeneDefinition, name: str) -> NamedAllele:
    for a in d.alleles:
        if a.name == name or d.suballeles.get(a.name) == name:
            return a
    raise InputError(f"{d.gene} has no allele {name!r}", field="diplotype",
                     hint=f"alleles of {d.gene}: " + ", ".join(a.name for a in d.alleles[:30]))


def _base(allele: str | None, ref: str, alts: tuple[str, ...]) -> str:
    if allele is None:
        return ref
    if is_wobble(allele):
        choices = sorted(IUPAC[allele] - {ref})
        return next((c for c in choices if c in alts), choices[0] if choices else ref)
    return allele


def genotype_rows(d: GeneDefinition, a: str, b: str | None
                  ) -> list[tuple[int, str, str, tuple[str, ...], str]]:
    """``(pos, rsid, ref, alts, GT)`` rows for one gene and two alleles (``b`` None: haploid)."""
    na = _allele(d, a)
    nb = _allele(d, b) if b is not None else None
    ref = d.reference
    rows = []
    for i, p in enumerate(d.positions):
        refval = ref.alleles[i]
        ref_base = p.ref if refval is None or is_wobble(refval) else refval
        x = _base(na.alleles[i], ref_base, p.alts)
        y = _base(nb.alleles[i], ref_base, p.alts) if nb is not None else None
        alleles = [p.ref, *p.alts]
        for v in (x, y):
            if v is not None and v not in alleles:
                raise InputError(f"{d.gene} {p.label}: allele {v} is not REF or ALT",
                                 field="diplotype")
        gt = [str(alleles.index(x))] + ([str(alleles.index(y))] if y is not None else [])
        rows.append((p.pos, p.rsid or ".", p.ref, p.alts, "/".join(gt)))
    return rows


def diplotype_vcf(diplotypes: Mapping[str, tuple[str, str] | tuple[str] | str], *,
                  sample: str = "SAMPLE", genes: Iterable[str] | None = None,
                  phased: bool = False, male: bool = False) -> str:
    """VCF text for one sample: the given diplotypes, reference elsewhere.

    ``diplotypes`` maps a gene to ``(allele1, allele2)`` or ``"a/b"``. ``phased`` writes ``|``
    (allele1 on the first copy). ``male`` writes X-chromosome genes (G6PD) as haploid unless a
    pair is given for them.
    """
    t = tables()
    wanted = list(genes) if genes is not None else list(t.definitions)
    unknown = [g for g in [*wanted, *diplotypes] if g not in t.definitions]
    if unknown:
        raise InputError(f"no allele definitions for {', '.join(sorted(set(unknown)))}",
                         field="genes", hint="VCF genes: " + ", ".join(sorted(t.definitions)))
    for g in diplotypes:
        if g not in wanted:
            wanted.append(g)
    lines = ["##fileformat=VCFv4.2", "##source=hyperhealth.synth diplotype_vcf",
             "##reference=GRCh38"]
    chroms = sorted({t.definitions[g].chromosome for g in wanted},
                    key=lambda c: (len(c), c))
    lines += [f"##contig=<ID={c},assembly=GRCh38>" for c in chroms]
    lines += ['##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + sample]
    records: list[tuple[str, int, str]] = []
    for g in wanted:
        d = t.definitions[g]
        spec = diplotypes.get(g)
        if spec is None:
            pair: tuple[str, str | None] = (d.reference.name, d.reference.name)
            if male and d.chromosome == "chrX":
                pair = (d.reference.name, None)
        elif isinstance(spec, str):
            parts = spec.split("/")
            pair = (parts[0], parts[1] if len(parts) > 1 else None)
        else:
            pair = (spec[0], spec[1] if len(spec) > 1 else None)
        for pos, rsid, ref, alts, gt in genotype_rows(d, pair[0], pair[1]):
            if phased:
                gt = gt.replace("/", "|")
            alt = ",".join(alts) if alts else "."
            records.append((d.chromosome, pos,
                            f"{d.chromosome}\t{pos}\t{rsid}\t{ref}\t{alt}\t.\tPASS\t.\tGT\t{gt}"))
    records.sort(key=lambda r: (len(r[0]), r[0], r[1]))
    return "\n".join(lines + [r[2] for r in records]) + "\n"


def write_diplotype_vcf(path: str | Path, diplotypes: Mapping[str, tuple[str, str] | str],
                        **kwargs: object) -> Path:
    """Write :func:`diplotype_vcf` to ``path`` (``.gz`` suffix: gzip-compressed)."""
    p = Path(path)
    text = diplotype_vcf(diplotypes, **kwargs)  # type: ignore[arg-type]
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix == ".gz":
        import gzip

        p.write_bytes(gzip.compress(text.encode(), mtime=0))
    else:
        p.write_text(text, encoding="utf-8")
    return p
