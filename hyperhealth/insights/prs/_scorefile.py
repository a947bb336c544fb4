"""Read PGS Catalog scoring files (format 2.0, original or harmonised; plain or gzip).

A scoring file is a block of ``#key=value`` header lines followed by a tab-separated table with
one row per variant: the variant (``rsID`` and/or ``chr_name``/``chr_position``; harmonised
files add ``hm_rsID``, ``hm_chr``, ``hm_pos`` on the build named by ``#HmPOS_build``), the
``effect_allele``, usually the ``other_allele`` (harmonised files may infer it in
``hm_inferOtherAllele``) and the additive ``effect_weight`` (Lambert SA et al., The Polygenic
Score Catalog as an open database for reproducibility and systematic evaluation, Nat Genet
2021;53:420-425, doi:10.1038/s41588-021-00783-5).

Positions come from the harmonised columns when present (rows the harmonisation could not place
keep only their rsID) and from ``chr_name``/``chr_position`` otherwise. Rows that are not a single
additive allele (haplotypes, diplotypes, interactions, dominant/recessive or per-dosage weights,
HLA-style alleles) cannot be scored by summing dosage x weight; they are kept, marked
``scorable=False`` with the reason, and reported, never silently dropped.

>>> import io
>>> text = ("#pgs_id=PGS_TEST\\n#HmPOS_build=GRCh38\\n"
...         "rsID\\teffect_allele\\tother_allele\\teffect_weight\\thm_chr\\thm_pos\\n"
...         "rs1\\tA\\tG\\t0.5\\t1\\t100\\n")
>>> sf = parse_scoring_file(io.StringIO(text), name="test")
>>> sf.pgs_id, sf.build, sf.rows[0].chrom, sf.rows[0].pos, sf.rows[0].weight
('PGS_TEST', 'GRCh38', '1', 100, 0.5)
"""

from __future__ import annotations

import gzip
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from hyperhealth.errors import InputError

#: columns whose "True" makes a row non-additive
_FLAG_COLUMNS = ("is_haplotype", "is_diplotype", "is_interaction", "is_dominant", "is_recessive")
_DOSAGE_COLUMNS = ("dosage_0_weight", "dosage_1_weight", "dosage_2_weight")
_ALLELE = re.compile(r"^[ACGT]+$")
_BUILDS = {"grch38": "GRCh38", "hg38": "GRCh38", "grch37": "GRCh37", "hg19": "GRCh37",
           "ncbi36": "NCBI36", "hg18": "NCBI36"}


@dataclass(frozen=True, slots=True)
class ScoreRow:
    """One row of a scoring file, after choosing harmonised or original coordinates.

    ``chrom`` has no ``chr`` prefix (``"1"``, ``"X"``); ``pos`` is 1-based; ``other`` is ``""``
    when the file gives no single other allele. ``line`` is the 1-based line in the file.
    """

    line: int
    rsid: str
    chrom: str
    pos: int | None
    effect: str
    other: str
    weight: float
    scorable: bool = True
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ScoringFile:
    """A parsed scoring file: header metadata, the build of its positions, and its rows."""

    name: str
    meta: Mapping[str, str]
    build: str  # build of the positions used: GRCh38, GRCh37, NCBI36 or unknown
    harmonised: bool
    rows: tuple[ScoreRow, ...]
    columns: tuple[str, ...] = field(default=())

    @property
    def pgs_id(self) -> str:
        return self.meta.get("pgs_id", "")

    @property
    def citation(self) -> str:
        return self.meta.get("citation", "")

    @property
    def trait(self) -> str:
        return self.meta.get("trait_reported", "") or self.meta.get("trait_mapped", "")

    def scorable_rows(self) -> list[ScoreRow]:
        return [r for r in self.rows if r.scorable]


def normalise_build(text: str) -> str:
    """``'hg38'`` -> ``'GRCh38'``; unknown or empty -> ``'unknown'``.

    >>> normalise_build("GRCh38"), normalise_build("hg19"), normalise_build("NR")
    ('GRCh38', 'GRCh37', 'unknown')
    """
    return _BUILDS.get(text.strip().lower(), "unknown")


def bare_chrom(chrom: str) -> str:
    """Chromosome name without a ``chr`` prefix, with X/Y/MT spelled the usual way.

    >>> bare_chrom("chr7"), bare_chrom("chrx"), bare_chrom("M"), bare_chrom("23")
    ('7', 'X', 'MT', 'X')
    """
    c = chrom.strip()
    if c.lower().startswith("chr"):
        c = c[3:]
    u = c.upper()
    if u in ("M", "MT"):
        return "MT"
    return {"23": "X", "24": "Y", "X": "X", "Y": "Y"}.get(u, c)


def read_scoring_file(path: str | Path) -> ScoringFile:
    """Read a scoring file from disk (``.txt`` or ``.txt.gz``)."""
    p = Path(path)
    try:
        with open(p, "rb") as raw:
            magic = raw.read(2)
        opener = gzip.open if magic == b"\x1f\x8b" else open
        with opener(p, "rt", encoding="utf-8", newline="") as f:
            return parse_scoring_file(f, name=str(p))
    except OSError as exc:
        raise InputError(f"cannot read the scoring file ({exc})", where=str(p),
                         hint="give a PGS Catalog scoring file (.txt or .txt.gz)") from exc
    except UnicodeDecodeError as exc:
        raise InputError("the scoring file is not UTF-8 text", where=str(p),
                         hint="give a PGS Catalog scoring file (.txt or .txt.gz)") from exc


def parse_scoring_file(f: IO[str] | Iterable[str], *, name: str = "<scoring file>") -> ScoringFile:
    """Parse an open scoring file (text)."""
    meta: dict[str, str] = {}
    header: list[str] | None = None
    rows: list[ScoreRow] = []
    idx: dict[str, int] = {}
    lineno = 0
    for lineno, raw in enumerate(f, start=1):
        line = raw.rstrip("\r\n")
        if header is None:
            if line.startswith("#"):
                key, eq, value = line.lstrip("#").partition("=")
                if eq:
                    meta[key.strip()] = value.strip()
                continue
            if not line.strip():
                continue
            header = line.split("\t")
            idx = {c.strip(): i for i, c in enumerate(header)}
            _check_columns(idx, name, lineno)
            continue
        if not line.strip():
            continue
        rows.append(_row(line.split("\t"), idx, lineno, name))
    if header is None:
        raise InputError("no column header line found", where=name,
                         hint="a scoring file has '#' header lines, then a line of column names")
    harmonised = "hm_chr" in idx and "hm_pos" in idx
    build = normalise_build(meta.get("HmPOS_build", "") if harmonised
                            else meta.get("genome_build", ""))
    if not rows:
        raise InputError("the scoring file has no variant rows", where=f"{name}:{lineno}",
                         hint="check the file is complete")
    return ScoringFile(name, meta, build, harmonised, tuple(rows), tuple(idx))


def _check_columns(idx: Mapping[str, int], name: str, lineno: int) -> None:
    missing = [c for c in ("effect_allele", "effect_weight") if c not in idx]
    has_pos = ("hm_chr" in idx and "hm_pos" in idx) or ("chr_name" in idx
                                                        and "chr_position" in idx)
    has_id = "rsID" in idx or "hm_rsID" in idx
    if not (has_pos or has_id):
        missing.append("rsID or chr_name/chr_position or hm_chr/hm_pos")
    if missing:
        raise InputError(f"required column(s) missing: {', '.join(missing)}",
                         where=f"{name}:{lineno}",
                         hint="use a PGS Catalog scoring file (format 2.0); only additive "
                              "effect_weight scores are supported")


def _row(cells: list[str], idx: Mapping[str, int], lineno: int, name: str) -> ScoreRow:
    def get(col: str) -> str:
        i = idx.get(col)
        return cells[i].strip() if i is not None and i < len(cells) else ""

    rsid = get("hm_rsID") or get("rsID")
    chrom, pos_text = get("hm_chr"), get("hm_pos")
    if "hm_chr" not in idx:
        chrom, pos_text = get("chr_name"), get("chr_position")
    pos: int | None = None
    if chrom and pos_text:
        try:
            pos = int(float(pos_text)) if "." in pos_text else int(pos_text)
        except ValueError:
            raise InputError(f"position {pos_text!r} is not a number", where=f"{name}:{lineno}",
                             field="hm_pos" if "hm_pos" in idx else "chr_position",
                             hint="positions are whole 1-based base-pair numbers") from None
    if pos is None:
        chrom = ""
    effect = get("effect_allele").upper()
    other = get("other_allele").upper()
    if not other:
        inferred = get("hm_inferOtherAllele").upper()
        other = inferred if inferred and "/" not in inferred else ""
    if other and not _ALLELE.match(other):
        other = ""  # e.g. '-' or a description: treat as not given
    text_w = get("effect_weight")
    try:
        weight = float(text_w)
    except ValueError:
        raise InputError(f"effect_weight {text_w!r} is not a number", where=f"{name}:{lineno}",
                         field="effect_weight", hint="every row needs a numeric weight") from None
    reason = ""
    flags = [c for c in _FLAG_COLUMNS if get(c).lower() == "true"]
    if flags:
        reason = f"non-additive row ({', '.join(flags)})"
    elif any(get(c) for c in _DOSAGE_COLUMNS):
        reason = "per-dosage weights (dosage_k_weight) are not supported"
    elif not math.isfinite(weight):
        reason = "effect_weight is not finite"
    elif not _ALLELE.match(effect):
        reason = f"effect allele {effect!r} is not a DNA sequence"
    elif pos is None and not rsid.lower().startswith("rs"):
        reason = "neither a position nor an rsID"
    return ScoreRow(lineno, rsid, bare_chrom(chrom) if chrom else "", pos, effect, other,
                    weight, scorable=not reason, reason=reason)
