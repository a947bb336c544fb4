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

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hyperhealth.insights.prs._scorefile import Coded, ScoringFile
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


STATUS_NAMES: tuple[str, ...] = tuple(STATUSES)
_CODE = {name: i for i, name in enumerate(STATUS_NAMES)}


@dataclass(frozen=True, slots=True, eq=False)
class Matches:
    """Per scoring-file row: status code, matched record (-1 if none), counted allele index."""

    code: np.ndarray  # int8 index into STATUS_NAMES
    record: np.ndarray  # int64
    allele: np.ndarray  # int64

    @property
    def status(self) -> list[str]:
        out: list[str] = np.array(STATUS_NAMES, dtype=object)[self.code].tolist()
        return out

    @property
    def used(self) -> np.ndarray:
        """Indices of rows that take part in the score."""
        return np.flatnonzero(self.record >= 0)


def match_rows(sf: ScoringFile, sites: VcfSites, *, keep_ambiguous: bool,
               rows: np.ndarray | None = None) -> Matches:
    """Apply the matching rule to every row (or to ``rows``; the others get ``not_in_vcf``).

    Vectorised: rows with exactly one candidate record are resolved with array operations that
    implement :func:`resolve`; rows with several candidates go through :func:`resolve` itself.
    """
    n = len(sf)
    code = np.full(n, _CODE["not_in_vcf"], dtype=np.int8)
    record = np.full(n, -1, dtype=np.int64)
    allele = np.full(n, -1, dtype=np.int64)
    active = np.zeros(n, dtype=bool)
    if rows is None:
        active[:] = True
    else:
        active[rows] = True
    scorable = sf.scorable
    code[active & ~scorable] = _CODE["not_scorable"]
    todo = active & scorable
    has_pos = sf.pos >= 0
    sf_chrom = _coded(sf, "chrom")
    site_chrom = _coded(sites, "chrom")
    auto = _is_autosome(sf_chrom)
    code[todo & has_pos & ~auto] = _CODE["non_autosomal"]
    todo &= ~has_pos | auto
    nrec = len(sites)
    if nrec == 0 or not todo.any():
        return Matches(code, record, allele)
    # candidate records by (chromosome, position)
    shared: dict[str, int] = {}
    row_chrom = _shared_ids(sf_chrom, shared)
    rec_chrom = _shared_ids(site_chrom, shared)
    row_key = (row_chrom << 32) | np.maximum(sf.pos, 0)
    rec_key = (rec_chrom << 32) | sites.pos
    left, count, order = _lookup(rec_key, row_key)
    pos_rows = todo & has_pos
    # candidate records by rsID (rows without a position)
    rs_rows = todo & ~has_pos
    if rs_rows.any():
        rs_num = _rs_numbers(sf.rsid)
        rec_rs = _rs_numbers(sites.ids)
        l2, c2, o2 = _lookup(rec_rs, rs_num)
        c2[rs_num < 0] = 0
    else:
        l2 = c2 = o2 = np.zeros(0, dtype=np.int64)
    cand = np.full(n, -1, dtype=np.int64)
    cnt = np.zeros(n, dtype=np.int64)
    sel = np.flatnonzero(pos_rows)
    cnt[sel] = count[sel]
    one = sel[count[sel] == 1]
    cand[one] = order[left[one]]
    multi = [(i, order[left[i]:left[i] + count[i]]) for i in sel[count[sel] > 1].tolist()]
    if rs_rows.any():
        sel2 = np.flatnonzero(rs_rows)
        cnt[sel2] = c2[sel2]
        one2 = sel2[c2[sel2] == 1]
        cand[one2] = o2[l2[one2]]
        multi += [(i, o2[l2[i]:l2[i] + c2[i]]) for i in sel2[c2[sel2] > 1].tolist()]
        # rows found by rsID on a non-autosome
        nonauto = np.zeros(nrec, dtype=bool)
        nonauto[:] = ~_is_autosome(site_chrom)
        bad = one2[nonauto[cand[one2]]]
        code[bad] = _CODE["non_autosomal"]
        cand[bad] = -1
    # single candidates: vectorised resolve
    i1 = np.flatnonzero(cand >= 0)
    if len(i1):
        eff, oth = _coded(sf, "effect"), _coded(sf, "other")
        st, al = _resolve_many(Coded(eff.codes[i1], eff.table),
                               Coded(oth.codes[i1], oth.table), sites, cand[i1],
                               keep_ambiguous=keep_ambiguous)
        code[i1] = st
        ok = al >= 0
        record[i1[ok]] = cand[i1[ok]]
        allele[i1[ok]] = al[ok]
    for i, js in multi:
        if not has_pos[i] and any(sites.chrom[j] not in AUTOSOMES for j in js.tolist()):
            code[i] = _CODE["non_autosomal"]
            continue
        found: list[tuple[int, int, str]] = []
        reasons: list[str] = []
        for j in js.tolist():
            a, status = resolve(str(sf.effect[i]), str(sf.other[i]), sites.alleles(j),
                                keep_ambiguous=keep_ambiguous)
            if a is None:
                reasons.append(status)
            else:
                found.append((j, a, status))
        if len(found) == 1:
            j, a, status = found[0]
            record[i], allele[i], code[i] = j, a, _CODE[status]
        elif found:
            code[i] = _CODE["multiple"]
        else:
            code[i] = _CODE["ambiguous" if "ambiguous" in reasons else "allele_mismatch"]
    return Matches(code, record, allele)


def _lookup(keys: np.ndarray, queries: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each query: first index into the sorted order of ``keys``, how many equal it, and
    the sort order."""
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    left = np.searchsorted(sk, queries, "left")
    right = np.searchsorted(sk, queries, "right")
    return left, right - left, order


def _rs_numbers(ids: np.ndarray) -> np.ndarray:
    """``rs123`` -> 123; anything else -> -1 (the first id of ``;``-joined lists)."""
    s = pd.Series(ids, dtype=object).str.split(";").str[0].str.lower()
    num = s.str.extract(r"^rs(\d{1,18})$", expand=False)
    return pd.to_numeric(num, errors="coerce").fillna(-1).to_numpy(dtype=np.int64)


class _Alleles:
    """Allele strings as integer ids in one shared table (ids of complements precomputed)."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {"": 0}
        for b in "ACGT":
            self.ids[b] = len(self.ids)

    def encode(self, c: Coded) -> np.ndarray:
        """Ids of a coded column (one lookup per table entry)."""
        table = np.array([self.id(str(u)) for u in c.table], dtype=np.int64)
        return table[c.codes]

    def id(self, u: str) -> int:
        i = self.ids.get(u)
        if i is None:
            i = self.ids[u] = len(self.ids)
        return i

    def complement(self, ids: np.ndarray) -> np.ndarray:
        """Id of the complement of single-base alleles; 0 ("") for anything else."""
        comp = np.zeros(len(self.ids), dtype=np.int64)
        for b, c in _COMP.items():
            comp[self.ids[b]] = self.ids[c]
        return comp[ids]


def _resolve_many(effect: Coded, other: Coded, sites: VcfSites, rec: np.ndarray, *,
                  keep_ambiguous: bool) -> tuple[np.ndarray, np.ndarray]:
    """:func:`resolve` for many (row, record) pairs at once: status codes and allele indices."""
    m = len(rec)
    tab = _Alleles()
    empty = 0
    e, o = tab.encode(effect), tab.encode(other)
    ref_c = _coded(sites, "ref")
    alt_c = _coded(sites, "alt")
    ref = tab.encode(Coded(ref_c.codes[rec], ref_c.table))
    # ALT: one id per allele of a multi-allelic record, split once per ALT table entry
    parts = [[p for p in str(u).split(",") if p and p != "."] for u in alt_c.table]
    k = 1 + max([len(x) for x in parts] + [1])
    alt_table = np.zeros((len(parts), k - 1), dtype=np.int64)
    for j, x in enumerate(parts):
        alt_table[j, :len(x)] = [tab.id(p) for p in x]
    alt_codes = alt_c.codes[rec]
    a = np.empty((m, k), dtype=np.int64)
    a[:, 0] = ref
    a[:, 1:] = alt_table[alt_codes]
    a = np.where(a == empty, -5, a)  # empty slots never match
    ce, co, cref = tab.complement(e), tab.complement(o), tab.complement(ref)
    no_other = o == empty
    single_e = ce != empty  # complements exist for single bases only

    def find(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Whether each record carries allele ``c`` and at which index (the first)."""
        at = np.full(m, -1, dtype=np.int64)
        for j in range(k - 1, -1, -1):  # descending, so the lowest index wins
            at[a[:, j] == c] = j
        return at >= 0, at

    has_e, idx_e = find(e)
    has_o, _ = find(o)
    has_ce, idx_ce = find(ce)
    has_co, _ = find(co)
    biallelic = (a[:, 1] >= 0) & ((a[:, 2] < 0) if k > 2 else True)
    amb = np.where(no_other, biallelic & (cref == a[:, 1]) & (cref != empty),
                   (ce == o) & single_e)
    direct = has_e & (no_other | (has_o & (e != o)))
    flip_ok = single_e & (no_other | (co != empty))
    flipped = ~direct & ~amb & flip_ok & has_ce & (no_other | has_co)
    status = np.full(m, _CODE["allele_mismatch"], dtype=np.int8)
    idx = np.full(m, -1, dtype=np.int64)
    keep = direct & (~amb | keep_ambiguous)
    if not keep_ambiguous:
        status[direct & amb] = _CODE["ambiguous"]
    status[keep] = _CODE["matched"]
    idx[keep] = idx_e[keep]
    status[flipped] = _CODE["flipped"]
    idx[flipped] = idx_ce[flipped]
    return status, idx


def _is_autosome(chrom: Coded) -> np.ndarray:
    return np.array([u in AUTOSOMES for u in chrom.table], dtype=bool)[chrom.codes]


def _coded(obj: ScoringFile | VcfSites, key: str) -> Coded:
    """The coded form of a column (computed here if the reader did not keep it)."""
    c = obj.codes.get(key)
    return c if c is not None else Coded.of(getattr(obj, key))


def _shared_ids(c: Coded, ids: dict[str, int]) -> np.ndarray:
    """Codes of ``c`` in a table shared with other columns (``ids`` grows as needed)."""
    table = np.array([ids.setdefault(str(u), len(ids)) for u in c.table], dtype=np.int64)
    return table[c.codes]
