"""The project's own PGx tables (built by ``tools/build_pgx_tables.py``), loaded once per process.

>>> t = tables()
>>> d = t.definitions["CYP2C19"]
>>> d.chromosome, d.reference.name, len(d.positions) > 30
('chr10', '*38', True)
>>> t.phenotypes["CYP2C19"].function["*2"]
'No function'
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

DATA = Path(__file__).resolve().parent / "data"

#: IUPAC nucleotide codes used as "either base" in allele definitions
IUPAC: Mapping[str, frozenset[str]] = {
    "A": frozenset("A"), "C": frozenset("C"), "G": frozenset("G"), "T": frozenset("T"),
    "R": frozenset("AG"), "Y": frozenset("CT"), "S": frozenset("GC"), "W": frozenset("AT"),
    "K": frozenset("GT"), "M": frozenset("AC"), "B": frozenset("CGT"), "D": frozenset("AGT"),
    "H": frozenset("ACT"), "V": frozenset("ACG"), "N": frozenset("ACGT"),
}


def is_wobble(allele: str) -> bool:
    """True for a one-letter IUPAC code that stands for more than one base.

    >>> is_wobble("R"), is_wobble("A"), is_wobble("CAT")
    (True, False, False)
    """
    return len(allele) == 1 and allele in IUPAC and len(IUPAC[allele]) > 1


@dataclass(frozen=True, slots=True)
class Position:
    """One allele-defining position (VCF coordinates, GRCh38)."""

    pos: int
    rsid: str | None
    ref: str
    alts: tuple[str, ...]
    hgvs: str = ""

    @property
    def label(self) -> str:
        return self.rsid or self.hgvs or str(self.pos)


@dataclass(frozen=True, slots=True)
class NamedAllele:
    """A named allele: the VCF allele it requires at each position (``None``: not defining)."""

    name: str
    id: str
    reference: bool
    alleles: tuple[str | None, ...]

    @property
    def score(self) -> int:
        """Number of positions that define the allele (the reference defines all)."""
        return sum(a is not None for a in self.alleles)


@dataclass(frozen=True, slots=True)
class GeneDefinition:
    gene: str
    chromosome: str
    build: str
    version: str
    positions: tuple[Position, ...]
    alleles: tuple[NamedAllele, ...]
    required_positions: frozenset[int] = frozenset()
    extra_positions: tuple[Position, ...] = ()
    unphased_priorities: tuple[tuple[frozenset[str], str], ...] = ()
    amp1_positions: frozenset[int] = frozenset()
    suballeles: Mapping[str, str] = field(default_factory=dict)

    @property
    def reference(self) -> NamedAllele:
        return next(a for a in self.alleles if a.reference)

    @property
    def bare_chromosome(self) -> str:
        return self.chromosome.removeprefix("chr")


@dataclass(frozen=True, slots=True)
class PhenotypeRules:
    """Allele function/activity and the rules from two alleles to a phenotype for one gene."""

    gene: str
    version: str
    stale: str
    function: Mapping[str, str]
    activity: Mapping[str, str]
    by_functions: Mapping[tuple[str, ...], str]
    by_score: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class DrugPair:
    gene: str
    drug: str
    rxnorm: str
    atc: tuple[str, ...]
    guideline_url: str
    cpic_level: str
    cpic_status: str
    pmids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RecommendationRow:
    """One CPIC recommendation: for ``drug`` when each gene has the given phenotype (or score)."""

    drug: str
    genes: tuple[str, ...]
    phenotypes: Mapping[str, str]
    action: str
    action_rule: str
    dose_note: str
    strength: tuple[Mapping[str, str], ...]
    pmids: tuple[str, ...]
    guideline_url: str
    cpic_level: str
    source: str
    source_text: str


@dataclass(frozen=True, slots=True)
class Tables:
    definitions: Mapping[str, GeneDefinition]
    phenotypes: Mapping[str, PhenotypeRules]
    aliases: Mapping[tuple[str, str], str]
    drugs: tuple[DrugPair, ...]
    recommendations: tuple[RecommendationRow, ...]
    outside_only: tuple[str, ...]
    provenance: Mapping[str, Any]

    @property
    def version(self) -> str:
        """The allele-definition data version (ClinPGx), e.g. ``2025-11-05-00-25``."""
        return next(iter(self.definitions.values())).version


def _load(name: str) -> Any:
    return orjson.loads((DATA / name).read_bytes())


def _position(p: Mapping[str, Any]) -> Position:
    return Position(int(p["pos"]), p.get("rsid"), p["ref"], tuple(p["alts"]), p.get("hgvs", ""))


@functools.cache
def tables() -> Tables:
    """All tables, parsed once per process (about 30 ms)."""
    d = _load("definitions.json")
    defs: dict[str, GeneDefinition] = {}
    for gene, g in d["genes"].items():
        defs[gene] = GeneDefinition(
            gene=gene, chromosome=g["chromosome"], build=g["build"], version=g["version"],
            positions=tuple(_position(p) for p in g["positions"]),
            alleles=tuple(NamedAllele(a["name"], a["id"], a["reference"], tuple(a["alleles"]))
                          for a in g["alleles"]),
            required_positions=frozenset(g["required_positions"]),
            extra_positions=tuple(_position(p) for p in g["extra_positions"]),
            unphased_priorities=tuple((frozenset(p["candidates"]), p["pick"])
                                      for p in g["unphased_priorities"]),
            amp1_positions=frozenset(g["amp1_positions"]),
            suballeles=dict(g["suballeles"]),
        )
    p = _load("phenotypes.json")
    phen = {gene: PhenotypeRules(
        gene=gene, version=r["version"], stale=r["stale"], function=r["function"],
        activity=r["activity"],
        by_functions={tuple(x["functions"]): x["phenotype"] for x in r["rules"]},
        by_score={x["score"]: x["phenotype"] for x in r["score_rules"]})
        for gene, r in p["genes"].items()}
    aliases = {(a["gene"], a["phenotype"]): a["as"] for a in p["aliases"]}
    dr = _load("drugs.json")
    drugs = tuple(DrugPair(x["gene"], x["drug"], x["rxnorm"], tuple(x["atc"]),
                           x["guideline_url"], x["cpic_level"], x["cpic_status"],
                           tuple(x["pmids"])) for x in dr["pairs"])
    rc = _load("recommendations.json")
    recs = tuple(RecommendationRow(
        drug=x["drug"], genes=tuple(x["genes"]), phenotypes=x["phenotypes"], action=x["action"],
        action_rule=x["action_rule"], dose_note=x["dose_note"],
        strength=tuple(x["strength"]), pmids=tuple(x["pmids"]),
        guideline_url=x["guideline_url"], cpic_level=x["cpic_level"], source=x["source"],
        source_text=x["source_text"]) for x in rc["recommendations"])
    prov = {"pharmcat": d["pharmcat"], "pypgx": d["pypgx"], "format": d["format"]}
    return Tables(defs, phen, aliases, drugs, recs, tuple(d["outside_only"]), prov)
