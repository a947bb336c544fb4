"""Frozen result types passed between the PGx stages (match -> phenotype -> report).

Each stage result converts to and from plain JSON-ready dicts (``to_dict``/``from_dict``) so a
stage can be re-run from the previous stage's file.

>>> d = Diplotype("*1", "*2", 39)
>>> d.name, Diplotype.from_dict(d.to_dict()) == d
('*1/*2', True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: version of the matcher/phenotyper/recommender logic (bump when results can change)
METHOD_VERSION = "1.0.0"


@dataclass(frozen=True, slots=True)
class Diplotype:
    """Two named alleles (``allele2`` is ``None`` for a haploid call) and the match score."""

    allele1: str
    allele2: str | None
    score: int = 0

    @property
    def name(self) -> str:
        return self.allele1 if self.allele2 is None else f"{self.allele1}/{self.allele2}"

    @property
    def alleles(self) -> tuple[str, ...]:
        return (self.allele1,) if self.allele2 is None else (self.allele1, self.allele2)

    def to_dict(self) -> dict[str, Any]:
        return {"allele1": self.allele1, "allele2": self.allele2, "score": self.score,
                "name": self.name}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Diplotype:
        return cls(d["allele1"], d.get("allele2"), int(d.get("score", 0)))


@dataclass(frozen=True, slots=True)
class VariantCall:
    """The sample's genotype at one allele-defining position (``None``: missing from the file)."""

    position: int
    rsid: str | None
    call: str | None
    phased: bool = False
    from_block: bool = False
    undocumented: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"position": self.position, "rsid": self.rsid, "call": self.call,
                "phased": self.phased, "from_block": self.from_block,
                "undocumented": list(self.undocumented)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> VariantCall:
        return cls(int(d["position"]), d.get("rsid"), d.get("call"), bool(d.get("phased")),
                   bool(d.get("from_block")), tuple(d.get("undocumented") or ()))


@dataclass(frozen=True, slots=True)
class GeneMatch:
    """What the matcher found for one gene of one sample.

    ``status``: ``called`` (one diplotype), ``ambiguous`` (several, best first, equal score),
    ``no_call`` (none; ``reasons`` says why), ``no_data`` (no position of the gene in the file),
    ``outside`` (given as an outside call). ``haplotypes`` lists the alleles found on unphased data
    for genes read with the lowest-function rule (DPYD, RYR1); ``inferred`` marks a diplotype
    built from them. ``alternatives`` are diplotypes that also explain unphased genotypes exactly
    but were ranked lower (fewer defining positions, or the definition's priority table).
    """

    gene: str
    status: str
    diplotypes: tuple[Diplotype, ...] = ()
    haplotypes: tuple[str, ...] = ()
    inferred: bool = False
    phased: bool = False
    effectively_phased: bool = False
    chromosome: str = ""
    missing_positions: tuple[str, ...] = ()
    untestable_alleles: tuple[str, ...] = ()
    partly_tested_alleles: tuple[str, ...] = ()
    variants: tuple[VariantCall, ...] = ()
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    source: str = "vcf"
    alternatives: tuple[Diplotype, ...] = ()

    @property
    def called(self) -> bool:
        return self.status in ("called", "outside") and len(self.diplotypes) == 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "gene": self.gene, "status": self.status,
            "diplotypes": [d.to_dict() for d in self.diplotypes],
            "haplotypes": list(self.haplotypes), "inferred": self.inferred,
            "phased": self.phased, "effectively_phased": self.effectively_phased,
            "chromosome": self.chromosome,
            "missing_positions": list(self.missing_positions),
            "untestable_alleles": list(self.untestable_alleles),
            "partly_tested_alleles": list(self.partly_tested_alleles),
            "variants": [v.to_dict() for v in self.variants],
            "reasons": list(self.reasons), "warnings": list(self.warnings),
            "source": self.source, "alternatives": [d.to_dict() for d in self.alternatives],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GeneMatch:
        return cls(
            gene=d["gene"], status=d["status"],
            diplotypes=tuple(Diplotype.from_dict(x) for x in d.get("diplotypes") or ()),
            haplotypes=tuple(d.get("haplotypes") or ()), inferred=bool(d.get("inferred")),
            phased=bool(d.get("phased")), effectively_phased=bool(d.get("effectively_phased")),
            chromosome=d.get("chromosome", ""),
            missing_positions=tuple(d.get("missing_positions") or ()),
            untestable_alleles=tuple(d.get("untestable_alleles") or ()),
            partly_tested_alleles=tuple(d.get("partly_tested_alleles") or ()),
            variants=tuple(VariantCall.from_dict(v) for v in d.get("variants") or ()),
            reasons=tuple(d.get("reasons") or ()), warnings=tuple(d.get("warnings") or ()),
            source=d.get("source", "vcf"),
            alternatives=tuple(Diplotype.from_dict(x) for x in d.get("alternatives") or ()),
        )


@dataclass(frozen=True, slots=True)
class MatchResult:
    """The ``.match.json`` stage: every gene's match for one sample, with provenance."""

    sample: str
    vcf: str
    build: str
    genes: Mapping[str, GeneMatch]
    warnings: tuple[str, ...] = ()
    provenance: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"stage": "match", "sample": self.sample, "vcf": self.vcf, "build": self.build,
                "genes": {g: m.to_dict() for g, m in self.genes.items()},
                "warnings": list(self.warnings), "provenance": dict(self.provenance)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MatchResult:
        return cls(d["sample"], d.get("vcf", ""), d.get("build", ""),
                   {g: GeneMatch.from_dict(m) for g, m in d["genes"].items()},
                   tuple(d.get("warnings") or ()), dict(d.get("provenance") or {}))


@dataclass(frozen=True, slots=True)
class GenePhenotype:
    """Function, activity score and phenotype for one gene (one entry per candidate diplotype)."""

    gene: str
    status: str
    diplotype: str | None
    alleles: tuple[str, ...] = ()
    functions: tuple[str | None, ...] = ()
    activity_values: tuple[str | None, ...] = ()
    activity_score: str | None = None
    phenotype: str | None = None
    lookup_key: str | None = None
    alternatives: tuple[str, ...] = ()
    source: str = "vcf"
    notes: tuple[str, ...] = ()
    phase_alternatives: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"gene": self.gene, "status": self.status, "diplotype": self.diplotype,
                "phase_alternatives": list(self.phase_alternatives),
                "alleles": list(self.alleles), "functions": list(self.functions),
                "activity_values": list(self.activity_values),
                "activity_score": self.activity_score, "phenotype": self.phenotype,
                "lookup_key": self.lookup_key, "alternatives": list(self.alternatives),
                "source": self.source, "notes": list(self.notes)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GenePhenotype:
        return cls(d["gene"], d["status"], d.get("diplotype"), tuple(d.get("alleles") or ()),
                   tuple(d.get("functions") or ()), tuple(d.get("activity_values") or ()),
                   d.get("activity_score"), d.get("phenotype"), d.get("lookup_key"),
                   tuple(d.get("alternatives") or ()), d.get("source", "vcf"),
                   tuple(d.get("notes") or ()), tuple(d.get("phase_alternatives") or ()))


@dataclass(frozen=True, slots=True)
class PhenotypeResult:
    """The ``.phenotype.json`` stage: the match plus each gene's phenotype."""

    match: MatchResult
    genes: Mapping[str, GenePhenotype]
    provenance: Mapping[str, Any] = field(default_factory=dict)

    @property
    def sample(self) -> str:
        return self.match.sample

    def to_dict(self) -> dict[str, Any]:
        return {"stage": "phenotype", "sample": self.sample, "match": self.match.to_dict(),
                "genes": {g: p.to_dict() for g, p in self.genes.items()},
                "provenance": dict(self.provenance)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PhenotypeResult:
        return cls(MatchResult.from_dict(d["match"]),
                   {g: GenePhenotype.from_dict(p) for g, p in d["genes"].items()},
                   dict(d.get("provenance") or {}))
