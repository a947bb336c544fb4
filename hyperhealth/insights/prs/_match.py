"""Match scoring-file rows to VCF records: position (or rsID), alleles, strand.

The rule, applied to each scorable row (documented in ``docs/methods.md``, "Polygenic scores"):

1. **Where.** Rows with a position are looked up by chromosome and position (``chr`` prefixes
   ignored); rows with only an rsID by the VCF ``ID``. Only autosomes (1-22) are scored: rows on
   X, Y or MT are reported as ``non_autosomal`` (their dosage depends on ploidy and sex coding).
2. **Alleles, as written.** A record matches when it carries the effect allele and, if the row
   names one, the other allele (either may be REF or any ALT of a multi-allelic record). The
   counted allele is the effect allele.
3. **Strand flip.** Otherwise, for single-base alleles, the complements are tried (A<->T,
   C<->G); if the record carries them the row matches ``flipped`` and the complement of the
   effect allele is counted. Indels are never flipped.
4. **Strand-ambiguous pairs** (A/T, C/G: the other allele is the complement of the effect allele;
   with no other allele given, a biallelic record whose REF/ALT are complements) cannot be
   oriented from alleles alone. By default they are left out (``ambiguous``), as the PGS
   Catalog's own calculator does by default; ``keep_ambiguous=True`` keeps them as written
   (assuming the scoring file is on the forward strand, as harmonised files are) and never flips
   them.
5. **More than one record** matching (duplicated sites, or a row without an other allele at a
   site split into several biallelic records) is ``multiple`` and left out: the dosage would be
   ambiguous.

>>> resolve("G", "A", ("C", "T"), keep_ambiguous=False)
(0, 'flipped')
>>> resolve("T", "A", ("A", "T"), keep_ambiguous=False)
(None, 'ambiguous')
>>> resolve("G", "", ("A", "C", "G"), keep_ambiguous=False)
(2, 'matched')
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hyperhealth.insights.prs._scorefile import ScoreRow
from hyperhealth.insights.prs._vcf import VcfSites

_COMP = {"A": "T", "T": "A", "C": "G", "G": "C"}
AUTOSOMES = frozenset(str(i) for i in range(1, 23))

#: every status a row can end with, and what it means
STATUSES: dict[str, str] = {
    "matched": "found with the effect allele as written",
    "flipped": "found on the opposite strand; the complement of the effect allele was counted",
    "ambiguous": "strand-ambiguous (A/T or C/G) pair left out",
    "not_in_vcf": "no VCF record at this position or rsID",
    "allele_mismatch": "a VCF record is there but carries neither the alleles nor their "
                       "complements",
    "multiple": "more than one VCF record matches; the dosage would be ambiguous",
    "non_autosomal": "on X, Y or MT; only autosomes are scored",
    "not_scorable": "the row is not an additive single-allele effect (see its reason)",
}


def is_ambiguous(a: str, b: str) -> bool:
    """A strand-ambiguous SNP pair: one allele is the complement of the other.

    >>> is_ambiguous("A", "T"), is_ambiguous("C", "G"), is_ambiguous("A", "G")
    (True, True, False)
    """
    return len(a) == 1 and len(b) == 1 and _COMP.get(a) == b


def resolve(effect: str, other: str, alleles: Sequence[str], *,
            keep_ambiguous: bool) -> tuple[int | None, str]:
    """Which allele of a record (index into ``(REF, ALT...)``) to count, and the status."""
    if other:
        ambiguous = is_ambiguous(effect, other)
    else:
        ambiguous = len(alleles) == 2 and is_ambiguous(alleles[0], alleles[1])
    if effect in alleles and (not other or (other in alleles and other != effect)):
        if ambiguous and not keep_ambiguous:
            return None, "ambiguous"
        return alleles.index(effect), "matched"
    if ambiguous:  # never flipped
        return None, "allele_mismatch"
    if len(effect) == 1 and effect in _COMP and (not other or (len(other) == 1
                                                               and other in _COMP)):
        ce = _COMP[effect]
        co = _COMP[other] if other else ""
        if ce in alleles and (not co or co in alleles):
            return alleles.index(ce), "flipped"
    return None, "allele_mismatch"


@dataclass(frozen=True, slots=True)
class Matches:
    """Per scoring-file row: status, matched record (-1 if none) and counted allele index."""

    status: tuple[str, ...]
    record: np.ndarray  # int64
    allele: np.ndarray  # int64

    @property
    def used(self) -> np.ndarray:
        """Indices of rows that take part in the score."""
        return np.flatnonzero(self.record >= 0)


def match_rows(rows: Sequence[ScoreRow], sites: VcfSites, *, keep_ambiguous: bool) -> Matches:
    """Apply the matching rule to every row (scorable or not)."""
    by_pos: dict[tuple[str, int], list[int]] = defaultdict(list)
    by_id: dict[str, list[int]] = defaultdict(list)
    for j, (c, p) in enumerate(zip(sites.chrom, sites.pos.tolist(), strict=True)):
        by_pos[(c, p)].append(j)
    for j, ident in enumerate(sites.ids):
        for part in ident.split(";"):
            if part and part != ".":
                by_id[part.lower()].append(j)
    n = len(rows)
    status: list[str] = [""] * n
    record = np.full(n, -1, dtype=np.int64)
    allele = np.full(n, -1, dtype=np.int64)
    for i, r in enumerate(rows):
        if not r.scorable:
            status[i] = "not_scorable"
            continue
        if r.pos is not None:
            if r.chrom not in AUTOSOMES:
                status[i] = "non_autosomal"
                continue
            cands = by_pos.get((r.chrom, r.pos), [])
        else:
            cands = by_id.get(r.rsid.lower(), [])
        if not cands:
            status[i] = "not_in_vcf"
            continue
        if r.pos is None and any(sites.chrom[j] not in AUTOSOMES for j in cands):
            status[i] = "non_autosomal"
            continue
        found: list[tuple[int, int, str]] = []
        reasons: list[str] = []
        for j in cands:
            a, st = resolve(r.effect, r.other, sites.alleles[j], keep_ambiguous=keep_ambiguous)
            if a is None:
                reasons.append(st)
            else:
                found.append((j, a, st))
        if len(found) == 1:
            j, a, st = found[0]
            record[i], allele[i], status[i] = j, a, st
        elif found:
            status[i] = "multiple"
        else:
            status[i] = "ambiguous" if "ambiguous" in reasons else "allele_mismatch"
    return Matches(tuple(status), record, allele)
