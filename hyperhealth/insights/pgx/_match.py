"""Named-allele matching: a sample's genotypes at the defining positions -> diplotypes.

The method follows the published description of PharmCAT's Named Allele Matcher (Sangkuhl et al.,
Clin Pharmacol Ther 2020;107:203-210, doi:10.1002/cpt.1568, and the PharmCAT documentation
"Named Allele Matcher 101/201"); the code is our own:

* a named allele leaves most positions blank; a blank means "the reference allele" (the
  reference named allele defines every position);
* a position missing from the file is dropped from every definition; an allele left with no
  defining position cannot be called; the score of an allele is the number of positions that
  define it among those present, and one-letter IUPAC codes (``R`` = A or G) count only when
  the sample carries the non-reference base;
* a diplotype is a pair of alleles that explains the genotype at every present position: on
  phased data each phase set is read as two fixed strands, on unphased data every heterozygous
  position may go either way;
* its score is the sum of the two alleles' scores; the best-scoring diplotypes are reported
  (several when tied), so the most specific alleles win.

DPYD and RYR1 use the "lowest function" rule when the data are not effectively phased: every
named allele found is listed and the phenotype uses the two lowest-function ones (CPIC DPYD
guideline, Amstutz et al. 2018, PMID 29152729).

>>> from hyperhealth.insights.pgx._tables import tables
>>> sorted(["*10", "*2", "*1", "*80+*28"], key=name_key)
['*1', '*2', '*10', '*80+*28']
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hyperhealth.insights.pgx._model import Diplotype, GeneMatch, VariantCall
from hyperhealth.insights.pgx._tables import IUPAC, GeneDefinition, is_wobble
from hyperhealth.insights.pgx._vcf import SiteCall, bare

#: genes whose undocumented ALT alleles are read as reference (with a warning), as PharmCAT
#: documents for its matcher; elsewhere an undocumented allele prevents a call
UNDOCUMENTED_AS_REFERENCE = frozenset({"CACNA1S", "DPYD", "G6PD", "NUDT15", "RYR1", "TPMT"})
#: genes called with the lowest-function rule on unphased data
LOWEST_FUNCTION = frozenset({"DPYD", "RYR1"})
#: DPYD HapB3 is called from its causal intronic variant c.1129-5923C>G (rs75017182); the exonic
#: c.1236G>A (rs56038477) is a proxy in linkage disequilibrium (CPIC DPYD, PMID 29152729)
HAPB3 = "c.1129-5923C>G, c.1236G>A (HapB3)"
HAPB3_INTRONIC_RSID = "rs75017182"
HAPB3_INTRONIC_ALLELE = "c.1129-5923C>G"
HAPB3_EXONIC_RSID = "rs56038477"

_NUM = re.compile(r"(\d+)")
#: at most this many lower-ranked diplotypes are kept as alternatives
MAX_ALTERNATIVES = 20


def name_key(name: str) -> tuple[object, ...]:
    """Natural sort key for allele names (``*2`` before ``*10``)."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p)
                 for p in _NUM.split(name) if p != "")


@dataclass(frozen=True, slots=True)
class _Hap:
    """A named allele restricted to the present positions (sparse: index -> allowed bases)."""

    name: str
    reference: bool
    score: int
    defs: Mapping[int, frozenset[str]]
    wobbles: frozenset[int]
    order: int


def _allowed(allele: str) -> frozenset[str]:
    return IUPAC[allele] if is_wobble(allele) else frozenset((allele,))


class GeneMatcher:
    """Matches one gene; build once per gene and reuse for every sample."""

    def __init__(self, definition: GeneDefinition) -> None:
        self.d = definition
        self.chrom = bare(definition.chromosome)
        self.ref_alleles = tuple(p.ref for p in definition.positions)
        self.lowest = definition.gene in LOWEST_FUNCTION
        self.hapb3_exonic = next((i for i, p in enumerate(definition.positions)
                                  if p.rsid == HAPB3_EXONIC_RSID), None)
        self.hapb3_intronic = next((i for i, p in enumerate(definition.positions)
                                    if p.rsid == HAPB3_INTRONIC_RSID), None)
        # the alleles restricted to the positions present, per set of present positions
        # (samples of one file nearly always share it)
        self._hap_cache: dict[tuple[int, ...], tuple[list[_Hap], list[str], list[str]]] = {}

    # -- public ----------------------------------------------------------------------------
    def match(self, calls: Mapping[tuple[str, int], SiteCall], *,
              top_only: bool = True) -> GeneMatch:
        d = self.d
        warnings: list[str] = []
        present: list[int] = []
        gts: list[tuple[str | None, ...]] = []
        variants: list[VariantCall] = []
        missing: list[str] = []
        phased_all = True
        for i, p in enumerate(d.positions):
            c = calls.get((self.chrom, p.pos))
            if c is None:
                missing.append(f"{d.chromosome}:{p.pos} ({p.label})")
                variants.append(VariantCall(p.pos, p.rsid, None))
                continue
            alleles = c.alleles
            if c.undocumented:
                if d.gene in UNDOCUMENTED_AS_REFERENCE:
                    alleles = tuple(p.ref if a in c.undocumented else a for a in alleles)
                    warnings.append(f"{p.label}: allele(s) {', '.join(c.undocumented)} are not in "
                                    "the allele definitions and were read as reference")
                else:
                    warnings.append(f"{p.label}: allele(s) {', '.join(c.undocumented)} are not in "
                                    "the allele definitions")
            variants.append(VariantCall(p.pos, p.rsid, c.text, c.phased, c.from_block,
                                        c.undocumented))
            present.append(i)
            gts.append(alleles)
            if len(alleles) == 2 and alleles[0] != alleles[1] and not c.phased:
                phased_all = False
        common: dict[str, Any] = {"chromosome": d.chromosome,
                                  "missing_positions": tuple(missing),
                                  "variants": tuple(variants)}
        if not present:
            return GeneMatch(d.gene, "no_data", reasons=(
                f"none of the {len(d.positions)} positions that define {d.gene} alleles is in "
                "the file",), **common)
        req = [p for p in d.positions if p.pos in d.required_positions
               and (self.chrom, p.pos) not in calls]
        if req:
            return GeneMatch(d.gene, "no_call", reasons=(
                "required position(s) missing: " + ", ".join(p.label for p in req),),
                warnings=tuple(warnings), **common)
        half = [d.positions[i].label for i, g in zip(present, gts, strict=True) if None in g]
        if half:
            return GeneMatch(d.gene, "no_call", reasons=(
                "only one allele is called at " + ", ".join(half),), warnings=tuple(warnings),
                **common)
        ploidy = {len(g) for g in gts}
        if len(ploidy) > 1:
            return GeneMatch(d.gene, "no_call", reasons=(
                "haploid and diploid genotypes are mixed",), warnings=tuple(warnings),
                **common)
        haploid = ploidy == {1}
        refs = [self.ref_alleles[i] for i in present]
        if self.hapb3_exonic is not None:
            warnings += self._hapb3_warning(present, gts)
            if self.hapb3_exonic in present and self.hapb3_intronic in present:
                # the causal intronic variant decides HapB3; the exonic proxy is then not used
                li = present.index(self.hapb3_exonic)
                gts[li] = tuple(self.ref_alleles[self.hapb3_exonic] for _ in gts[li])
        key = tuple(present)
        cached = self._hap_cache.get(key)
        if cached is None:
            cached = self._haplotypes(present)
            if len(self._hap_cache) < 64:
                self._hap_cache[key] = cached
        haps, untestable, partial = cached
        blocks, het = self._blocks(present, gts, calls)
        eff_phased = len(set(blocks.values())) <= 1
        common.update(untestable_alleles=tuple(untestable), partly_tested_alleles=tuple(partial),
                      phased=phased_all, effectively_phased=eff_phased)
        cand = self._compatible(haps, gts, refs)
        if haploid:
            dips = [Diplotype(h.name, None, h.score - self._penalty1(h, gts, refs))
                    for h in cand if self._fits1(h, gts, refs)]
        else:
            dips = self._pairs(cand, gts, blocks, het, refs)
        dips = _dedupe(dips)
        if self.lowest and (not eff_phased or not dips):
            return self._lowest(haps, gts, refs, warnings, common)
        dips.sort(key=lambda x: (-x.score, name_key(x.allele1), name_key(x.allele2 or "")))
        priority_mode = bool(d.unphased_priorities) and not eff_phased
        priority_pick: str | None = None
        priority_all = list(dips)
        if priority_mode and len(dips) > 1:
            names = {x.name for x in dips}
            for cands, pick in d.unphased_priorities:
                if cands <= names:
                    dips = [x for x in dips if x.name == pick]
                    priority_pick = pick
                    warnings.append("unphased data gave several diplotypes; the one listed by "
                                    "the definition's priority table (frequency-based) is used")
                    break
        alternatives: list[Diplotype] = []
        if top_only and dips:
            best = dips[0].score
            kept = [x for x in dips if x.score == best]
            if not eff_phased:
                alternatives = [x for x in dips if x.score != best][:MAX_ALTERNATIVES]
            dips = kept
        if priority_pick is not None:
            alternatives = [x for x in priority_all if x.name != priority_pick][:MAX_ALTERNATIVES]
        common["alternatives"] = tuple(alternatives)
        if not dips:
            reasons = ["no pair of named alleles explains the genotypes at the "
                       f"{len(present)} positions read"]
            if any(v.undocumented for v in variants) and d.gene not in UNDOCUMENTED_AS_REFERENCE:
                reasons.append("the file has alleles the definitions do not list (see warnings)")
            return GeneMatch(d.gene, "no_call", reasons=tuple(reasons), warnings=tuple(warnings),
                             **common)
        status = "called" if len(dips) == 1 else "ambiguous"
        reasons_out: tuple[str, ...] = () if status == "called" else (
            f"{len(dips)} diplotypes fit the genotypes equally well",)
        return GeneMatch(d.gene, status, diplotypes=tuple(dips), reasons=reasons_out,
                         warnings=tuple(warnings), **common)

    # -- building blocks ------------------------------------------------------------------------
    def _haplotypes(self, present: list[int]) -> tuple[list[_Hap], list[str], list[str]]:
        d = self.d
        out: list[_Hap] = []
        untestable: list[str] = []
        partial: list[str] = []
        local = {gi: li for li, gi in enumerate(present)}
        for order, a in enumerate(d.alleles):
            name = d.suballeles.get(a.name, a.name)
            if d.gene == "DPYD" and name == HAPB3_INTRONIC_ALLELE:
                continue  # reported as HapB3, which is called from this variant
            if a.reference:
                out.append(_Hap(name, True, len(present), {}, frozenset(), order))
                continue
            defs: dict[int, frozenset[str]] = {}
            wob: set[int] = set()
            n_def = 0
            n_missing = 0
            for gi, allele in enumerate(a.alleles):
                if allele is None:
                    continue
                n_def += 1
                li = local.get(gi)
                if li is None:
                    n_missing += 1
                    continue
                if allele == self.ref_alleles[gi]:
                    defs[li] = frozenset((allele,))
                else:
                    defs[li] = _allowed(allele)
                    if is_wobble(allele):
                        wob.add(li)
            if not defs:
                untestable.append(name)
                continue
            if n_missing:
                partial.append(name)
            out.append(_Hap(name, False, len(defs), defs, frozenset(wob), order))
        if self.d.gene == "DPYD":
            out = [self._hapb3(h, present) if h.name == HAPB3 else h for h in out]
        return out, list(dict.fromkeys(untestable)), list(dict.fromkeys(partial))

    def _hapb3(self, h: _Hap, present: list[int]) -> _Hap:
        """HapB3 is defined by its intronic variant only (the exonic one is a proxy)."""
        if self.hapb3_exonic is None or self.hapb3_exonic not in present or \
                self.hapb3_intronic not in present:
            return h
        li = present.index(self.hapb3_exonic)
        defs = {k: v for k, v in h.defs.items() if k != li}
        if not defs:
            return h
        return _Hap(h.name, h.reference, h.score, defs, h.wobbles - {li}, h.order)

    def _hapb3_warning(self, present: list[int], gts: list[tuple[str | None, ...]]) -> list[str]:
        intr = next((i for i, p in enumerate(self.d.positions) if p.rsid == HAPB3_INTRONIC_RSID),
                    None)
        ex = self.hapb3_exonic
        if ex is None or ex not in present:
            return []
        p_ex = self.d.positions[ex]
        g_ex = gts[present.index(ex)]
        n_ex = sum(a != p_ex.ref for a in g_ex if a is not None)
        if intr is None or intr not in present:
            return (["HapB3: the intronic variant c.1129-5923C>G (rs75017182) is missing from the "
                     "file; HapB3 cannot be called"] if n_ex else [])
        p_in = self.d.positions[intr]
        n_in = sum(a != p_in.ref for a in gts[present.index(intr)] if a is not None)
        if n_ex != n_in:
            return [f"HapB3: the exonic proxy c.1236G>A is seen on {n_ex} and the causal intronic "
                    f"c.1129-5923C>G on {n_in} chromosome(s); HapB3 is called from the intronic "
                    "variant"]
        return []

    def _blocks(self, present: list[int], gts: list[tuple[str | None, ...]],
                calls: Mapping[tuple[str, int], SiteCall]
                ) -> tuple[dict[int, object], list[int]]:
        """Heterozygous positions and their phase block (a PS value, or their own index)."""
        blocks: dict[int, object] = {}
        het: list[int] = []
        for li, (gi, g) in enumerate(zip(present, gts, strict=True)):
            if len(g) == 2 and g[0] != g[1]:
                het.append(li)
                c = calls[(self.chrom, self.d.positions[gi].pos)]
                blocks[li] = ("ps", c.phase_set) if c.phased else ("u", li)
        return blocks, het

    def _compatible(self, haps: list[_Hap], gts: list[tuple[str | None, ...]],
                    refs: list[str]) -> list[_Hap]:
        gsets = [frozenset(g) for g in gts]
        # positions where the sample carries no reference allele: a haplotype must define them
        nonref = [li for li, g in enumerate(gsets) if refs[li] not in g]
        out = []
        for h in haps:
            if h.reference:
                if not nonref:
                    out.append(h)
                continue
            if all(h.defs[li] & gsets[li] for li in h.defs) and all(li in h.defs for li in nonref):
                out.append(h)
        return out

    @staticmethod
    def _fits1(h: _Hap, gts: list[tuple[str | None, ...]], refs: list[str]) -> bool:
        return all(g[0] in h.defs.get(li, frozenset((refs[li],))) for li, g in enumerate(gts))

    @staticmethod
    def _penalty1(h: _Hap, gts: list[tuple[str | None, ...]], refs: list[str]) -> int:
        return sum(1 for li in h.wobbles if gts[li][0] == refs[li])

    @staticmethod
    def _pairs(cand: list[_Hap], gts: list[tuple[str | None, ...]],
               blocks: Mapping[int, object], het: list[int], refs: list[str]) -> list[Diplotype]:
        het_set = set(het)
        out: list[Diplotype] = []
        for i, h1 in enumerate(cand):
            for h2 in cand[i:]:
                positions = het_set | h1.defs.keys() | h2.defs.keys()
                if h1.reference and h2.reference:
                    positions = het_set
                total = 0
                per_block: dict[object, list[int]] = {}
                ok = True
                for li in positions:
                    g = gts[li]
                    a1 = h1.defs.get(li) or frozenset((refs[li],))
                    a2 = h2.defs.get(li) or frozenset((refs[li],))
                    if li not in het_set:
                        if g[0] not in a1 or g[0] not in a2:
                            ok = False
                            break
                        if g[0] == refs[li]:
                            total += (li in h1.wobbles) + (li in h2.wobbles)
                        continue
                    per_block.setdefault(blocks[li], []).append(li)
                if not ok:
                    continue
                for members in per_block.values():
                    best: int | None = None
                    for o in (0, 1):
                        pen = 0
                        for li in members:
                            g = gts[li]
                            x, y = g[o], g[1 - o]
                            a1 = h1.defs.get(li) or frozenset((refs[li],))
                            a2 = h2.defs.get(li) or frozenset((refs[li],))
                            if x not in a1 or y not in a2:
                                pen = -1
                                break
                            pen += (li in h1.wobbles and x == refs[li]) + \
                                (li in h2.wobbles and y == refs[li])
                        if pen >= 0 and (best is None or pen < best):
                            best = pen
                    if best is None:
                        ok = False
                        break
                    total += best
                if not ok:
                    continue
                n1, n2 = sorted((h1, h2), key=lambda h: (not h.reference, name_key(h.name)))
                out.append(Diplotype(n1.name, n2.name, h1.score + h2.score - total))
        return out

    def _lowest(self, cand: list[_Hap], gts: list[tuple[str | None, ...]], refs: list[str],
                warnings: list[str], common: dict[str, Any]) -> GeneMatch:
        """Alleles present on unphased data (lowest-function genes)."""
        found: list[tuple[_Hap, int]] = []
        for h in cand:
            if h.reference:
                continue
            copies = 2
            for li, allowed in h.defs.items():
                n = sum(1 for a in gts[li] if a in allowed and a != refs[li])
                if allowed == frozenset((refs[li],)):
                    n = sum(1 for a in gts[li] if a == refs[li])
                copies = min(copies, n)
            if copies > 0:
                found.append((h, copies))
        # an allele whose defining variants are all part of another allele found is counted once
        keep: list[tuple[_Hap, int]] = []
        for h, c in found:
            for o, oc in found:
                if o is not h and set(h.defs) < set(o.defs):
                    c -= oc
            if c > 0:
                keep.append((h, c))
        names: list[str] = []
        for h, c in sorted(keep, key=lambda x: name_key(x[0].name)):
            names += [h.name] * c
        if not names:
            ref = next(h for h in cand if h.reference) if any(h.reference for h in cand) else None
            if ref is None:
                return GeneMatch(self.d.gene, "no_call", reasons=(
                    "no named allele explains the genotypes",), warnings=tuple(warnings),
                    **common)
            names = []
        refname = self.d.reference.name
        shown = names if len(names) >= 2 else names + [refname] * (2 - len(names))
        return GeneMatch(self.d.gene, "called", diplotypes=(), haplotypes=tuple(shown),
                         inferred=True, warnings=tuple(warnings), reasons=(
                             "unphased data with several variants: every allele found is listed "
                             "and the two lowest-function ones are used for the phenotype",),
                         **common)


def _dedupe(dips: Sequence[Diplotype]) -> list[Diplotype]:
    best: dict[tuple[str, str | None], Diplotype] = {}
    for x in dips:
        k = (x.allele1, x.allele2)
        if k not in best or x.score > best[k].score:
            best[k] = x
    return list(best.values())


def match_gene(definition: GeneDefinition, calls: Mapping[tuple[str, int], SiteCall], *,
               top_only: bool = True, matcher: GeneMatcher | None = None) -> GeneMatch:
    """Match one gene (a :class:`GeneMatcher` may be passed to reuse its set-up)."""
    return (matcher or GeneMatcher(definition)).match(calls, top_only=top_only)
