"""Phenotyper: diplotype -> allele function, activity score and phenotype, as CPIC defines them.

The rules are the project's ``phenotypes.json`` (built from the ClinPGx/CPIC gene phenotype
tables): the unordered pair of allele functions decides the phenotype; for activity-score genes
(CYP2C9, CYP2D6, DPYD) the score is the sum of the two activity values. Outside calls enter here
and replace the VCF result for their gene.

>>> from hyperhealth.insights.pgx._model import Diplotype
>>> p = phenotype_diplotype("CYP2C19", Diplotype("*2", "*2"))
>>> p.phenotype, p.functions
('Poor Metabolizer', ('No function', 'No function'))
>>> phenotype_diplotype("CYP2C9", Diplotype("*1", "*3")).activity_score
'1.0'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from hyperhealth.insights.pgx._model import (
    METHOD_VERSION,
    Diplotype,
    GeneMatch,
    GenePhenotype,
    MatchResult,
    PhenotypeResult,
)
from hyperhealth.insights.pgx._outside import HLA_ALLELES, OutsideCall, hla_phenotypes
from hyperhealth.insights.pgx._tables import PhenotypeRules, tables

#: CPIC IFNL3 guideline (Muir et al. 2014, PMID 24096968): rs12979860 CC is the favourable
#: response genotype, CT and TT unfavourable; the source table has no diplotype rows for it.
IFNL3_CITATION = "PMID 24096968"
_FAVOURABLE = "Favorable response allele"


def _fmt_score(x: float) -> str:
    return f"{x:.1f}" if abs(x * 10 - round(x * 10)) < 1e-9 else f"{x:g}"


def _rank(rules: PhenotypeRules, allele: str) -> tuple[float, str]:
    """Lower = less function (used to pick the two lowest-function alleles)."""
    av = rules.activity.get(allele)
    try:
        if av is not None:
            return float(av.lstrip("≥")), allele
    except ValueError:
        pass
    f = (rules.function.get(allele) or "").lower()
    for rank, words in enumerate((("no function", "associated", "deficient"),
                                  ("decreased",), ("uncertain", "unknown"), ("normal",),
                                  ("increased",))):
        if any(w in f for w in words):
            return float(rank), allele
    return 2.0, allele


def lowest_two(gene: str, alleles: Sequence[str]) -> tuple[str, str]:
    """The two lowest-function alleles of a list (CPIC DPYD rule, PMID 29152729)."""
    rules = tables().phenotypes[gene]
    ranked = sorted(alleles, key=lambda a: _rank(rules, a))
    return ranked[0], ranked[1]


def phenotype_diplotype(gene: str, dip: Diplotype, *, source: str = "vcf") -> GenePhenotype:
    """Function, activity score and phenotype of one diplotype of ``gene``."""
    t = tables()
    rules = t.phenotypes.get(gene.replace("_", "-"))
    alleles = dip.alleles
    if rules is None:
        return GenePhenotype(gene, "called", dip.name, alleles, source=source,
                             notes=(f"CPIC assigns no phenotype to {gene}; the diplotype itself "
                                    "is what guidelines use",))
    funcs = tuple(rules.function.get(a) for a in alleles)
    avs = tuple(rules.activity.get(a) for a in alleles) if rules.activity else ()
    notes: list[str] = []
    score: str | None = None
    if rules.activity and avs and all(v is not None for v in avs):
        try:
            total = _fmt_score(sum(float(str(v).lstrip("≥")) for v in avs))
            # '≥3.0' (three or more gene copies) makes the sum a lower bound
            score = ("≥" + total) if any(str(v).startswith("≥") for v in avs) else total
        except ValueError:
            score = None  # 'n/a': no numeric score
    unknown = [a for a, f in zip(alleles, funcs, strict=True) if f is None]
    phen: str | None = None
    if unknown:
        notes.append("no function is recorded for " + ", ".join(unknown) +
                     f" in the phenotype table (version {rules.version})")
    else:
        phen = rules.by_functions.get(tuple(sorted(f for f in funcs if f is not None)))
        if phen is None and score is not None:
            phen = rules.by_score.get(score)
        if phen is None and gene == "IFNL3":
            phen = "Favorable Response" if all(f == _FAVOURABLE for f in funcs) \
                else "Unfavorable Response"
            notes.append(f"IFNL3 phenotype from the CPIC rule ({IFNL3_CITATION})")
        if phen is None:
            notes.append("this combination of allele functions has no phenotype in the table")
    if rules.stale:
        notes.append(f"phenotype table is an older version: {rules.stale}")
    lookup = t.aliases.get((gene, phen), phen) if phen else None
    return GenePhenotype(gene, "called" if phen else "no_phenotype", dip.name, alleles,
                         funcs, avs, score, phen, lookup, source=source, notes=tuple(notes))


def phenotype_gene(m: GeneMatch) -> GenePhenotype:
    """The phenotype of one gene's match (the first diplotype; others become alternatives)."""
    if m.haplotypes:  # lowest-function genes on unphased data
        a, b = lowest_two(m.gene, m.haplotypes)
        p = phenotype_diplotype(m.gene, Diplotype(a, b), source=m.source)
        return replace(p, notes=(*p.notes, "found: " + ", ".join(m.haplotypes) +
                                 f"; the phenotype uses the two lowest-function alleles {a} "
                                 f"and {b}"))
    if not m.diplotypes:
        return GenePhenotype(m.gene, m.status, None, source=m.source, notes=m.reasons)
    first = phenotype_diplotype(m.gene, m.diplotypes[0], source=m.source)
    if m.alternatives:
        differ = []
        for alt in m.alternatives:
            ap = phenotype_diplotype(m.gene, alt, source=m.source)
            if ap.phenotype != first.phenotype or ap.activity_score != first.activity_score:
                differ.append(f"{alt.name}: {ap.phenotype or 'no phenotype'}")
        if differ:
            first = replace(first, phase_alternatives=tuple(differ), notes=(
                *first.notes, "the genotypes are unphased; if the variants sit on the other "
                "chromosome copies the result would be " + "; ".join(differ) +
                " (phasing or family testing can tell)"))
    if len(m.diplotypes) == 1:
        return first
    others = [phenotype_diplotype(m.gene, d, source=m.source) for d in m.diplotypes[1:]]
    alts = tuple(f"{o.diplotype}: {o.phenotype or 'no phenotype'}" for o in others)
    same = all(o.phenotype == first.phenotype for o in others)
    if same:
        note = (f"{len(m.diplotypes)} diplotypes fit equally well; all give "
                f"{first.phenotype}")
        return replace(first, status="called", alternatives=alts, notes=(*first.notes, note))
    note = (f"{len(m.diplotypes)} diplotypes fit equally well and give different phenotypes; "
            "no phenotype is assigned")
    return replace(first, status="ambiguous", phenotype=None, lookup_key=None,
                   activity_score=None, alternatives=alts, notes=(*first.notes, note))


def phenotype_outside(call: OutsideCall) -> tuple[GeneMatch, GenePhenotype]:
    """Match and phenotype entries for a gene given as an outside call."""
    gene = call.gene
    alleles = call.alleles
    dip: Diplotype | None = None
    if alleles:
        dip = Diplotype(alleles[0], alleles[1] if len(alleles) > 1 else None)
    match = GeneMatch(gene, "outside", diplotypes=(dip,) if dip else (), source="outside",
                      reasons=(f"outside call ({call.where})",))
    notes = [f"outside call from {call.where}"]
    if gene in HLA_ALLELES:
        keys = hla_phenotypes(gene, alleles) if alleles else []
        phen = call.phenotype or ("; ".join(keys) if keys else None)
        return match, GenePhenotype(gene, "called" if phen else "no_phenotype",
                                    dip.name if dip else None, alleles, phenotype=phen,
                                    lookup_key="; ".join(keys) or phen, source="outside",
                                    notes=tuple(notes))
    if gene == "MT-RNR1" and alleles:
        a = alleles[0]
        name = a if a.startswith("m.") or a == "Reference" else f"m.{a}"
        dip = Diplotype(name, None)
        match = replace(match, diplotypes=(dip,))
    computed = phenotype_diplotype(gene, dip, source="outside") if dip else None
    if call.phenotype or call.activity_score:
        phen = call.phenotype or (computed.phenotype if computed else None)
        score = call.activity_score or (computed.activity_score if computed else None)
        if phen is None and score is not None:
            rules = tables().phenotypes.get(gene)
            phen = rules.by_score.get(score) if rules else None
        if computed and computed.phenotype and call.phenotype and \
                computed.phenotype.lower() != call.phenotype.lower():
            notes.append(f"the given phenotype differs from the table's {computed.phenotype} "
                         f"for {dip.name if dip else ''}; the given one is used")
        base = computed or GenePhenotype(gene, "called", dip.name if dip else None, alleles,
                                         source="outside")
        lookup = tables().aliases.get((gene, phen), phen) if phen else None
        return match, replace(base, status="called" if phen else "no_phenotype", phenotype=phen,
                              activity_score=score, lookup_key=lookup, source="outside",
                              notes=(*base.notes, *notes))
    assert computed is not None
    return match, replace(computed, notes=(*computed.notes, *notes))


def phenotype(match: MatchResult, outside: Sequence[OutsideCall] = ()) -> PhenotypeResult:
    """The ``.phenotype.json`` stage from a ``.match.json`` result (and outside calls)."""
    genes: dict[str, GeneMatch] = dict(match.genes)
    phen: dict[str, GenePhenotype] = {}
    for g, m in genes.items():
        if m.source == "outside":
            continue
        phen[g] = phenotype_gene(m)
    for call in outside:
        gm, gp = phenotype_outside(call)
        if call.gene in genes and genes[call.gene].source != "outside":
            gp = replace(gp, notes=(*gp.notes, "replaces the result read from the VCF"))
        genes[call.gene] = gm
        phen[call.gene] = gp
    for g, m in genes.items():
        if g not in phen and m.source == "outside":
            # an outside call already in the match stage (a re-run): phenotype it from the match
            phen[g] = phenotype_gene(m)
    new_match = replace(match, genes=genes)
    prov = {"stage": "phenotype", "method": "hyperhealth.insights.pgx phenotyper",
            "method_version": METHOD_VERSION,
            "phenotype_tables": {g: r.version for g, r in tables().phenotypes.items()},
            "outside_calls": [c.where for c in outside],
            "citation": "CPIC gene-specific phenotype tables via ClinPGx (CC0/CC BY-SA 4.0)"}
    return PhenotypeResult(new_match, phen, prov)
