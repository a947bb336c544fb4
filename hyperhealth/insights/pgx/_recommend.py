"""Recommender: phenotypes -> CPIC recommendations for each drug, in our own words.

Each CPIC row names a drug and, per gene, a phenotype (or activity score, or HLA allele presence);
a row applies when every one of its genes has that value, a gene the row marks ``None`` being one
without a result. When several rows apply, the one that uses more called genes wins (so the
tricyclic rows that use CYP2D6 and CYP2C19 beat the CYP2C19-only ones when CYP2D6 is known).
Warfarin is handled by :mod:`._warfarin` (IWPC equation; CPIC 2017).

>>> from hyperhealth.insights.pgx._model import GenePhenotype
>>> genes = {"CYP2C19": GenePhenotype("CYP2C19", "called", "*2/*2", ("*2", "*2"),
...                                   phenotype="Poor Metabolizer",
...                                   lookup_key="Poor Metabolizer")}
>>> r = recommend_drug("clopidogrel", genes)
>>> r.action, r.pmids[-1]
('avoid', '35034351')
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hyperhealth.errors import InputError
from hyperhealth.insights.pgx import _warfarin as W
from hyperhealth.insights.pgx._model import GenePhenotype
from hyperhealth.insights.pgx._tables import DrugPair, RecommendationRow, tables

#: action categories, worst first (the order alerts and reports use)
ACTIONS = ("avoid", "consider_alternative", "adjust_dose", "see_guideline", "use_as_directed",
           "no_recommendation", "no_data")
#: actions that mean "the guideline asks the prescriber to change something"
ACTIONABLE = frozenset({"avoid", "consider_alternative", "adjust_dose"})
_NONE = frozenset({"None", "No Result", "n/a", ""})


@dataclass(frozen=True, slots=True)
class DrugRecommendation:
    """What CPIC says about one drug for this person's results."""

    drug: str
    rxnorm: str
    genes: tuple[str, ...]
    phenotypes: Mapping[str, str]
    action: str
    summary: str
    dose_note: str = ""
    strength: tuple[Mapping[str, str], ...] = ()
    cpic_level: str = ""
    pmids: tuple[str, ...] = ()
    guideline_url: str = ""
    missing_genes: tuple[str, ...] = ()
    source: str = ""
    source_text: str = ""
    action_rule: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def citation(self) -> str:
        pm = ", ".join(f"PMID {p}" for p in self.pmids)
        return f"CPIC guideline for {self.drug} ({pm})" if pm else f"CPIC guideline for {self.drug}"

    @property
    def actionable(self) -> bool:
        return self.action in ACTIONABLE

    def to_dict(self) -> dict[str, Any]:
        return {"drug": self.drug, "rxnorm": self.rxnorm, "genes": list(self.genes),
                "phenotypes": dict(self.phenotypes), "action": self.action,
                "summary": self.summary, "dose_note": self.dose_note,
                "strength": [dict(s) for s in self.strength], "cpic_level": self.cpic_level,
                "pmids": list(self.pmids), "guideline_url": self.guideline_url,
                "citation": self.citation, "missing_genes": list(self.missing_genes),
                "source": self.source, "source_text": self.source_text,
                "action_rule": self.action_rule, "extra": dict(self.extra)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DrugRecommendation:
        return cls(d["drug"], d.get("rxnorm", ""), tuple(d.get("genes") or ()),
                   dict(d.get("phenotypes") or {}), d["action"], d.get("summary", ""),
                   d.get("dose_note", ""), tuple(d.get("strength") or ()),
                   d.get("cpic_level", ""), tuple(d.get("pmids") or ()),
                   d.get("guideline_url", ""), tuple(d.get("missing_genes") or ()),
                   d.get("source", ""), d.get("source_text", ""), d.get("action_rule", ""),
                   dict(d.get("extra") or {}))


# --- indexes -------------------------------------------------------------------------------------
@functools.cache
def _rows_by_drug() -> Mapping[str, tuple[RecommendationRow, ...]]:
    by: dict[str, list[RecommendationRow]] = defaultdict(list)
    for r in tables().recommendations:
        by[r.drug].append(r)
    return {k: tuple(v) for k, v in by.items()}


@functools.cache
def _pairs_by_drug() -> Mapping[str, tuple[DrugPair, ...]]:
    by: dict[str, list[DrugPair]] = defaultdict(list)
    for p in tables().drugs:
        by[p.drug].append(p)
    return {k: tuple(v) for k, v in by.items()}


@functools.cache
def _drug_by_rxnorm() -> Mapping[str, str]:
    return {p.rxnorm: p.drug for p in tables().drugs if p.rxnorm}


@functools.cache
def guideline_drugs() -> tuple[str, ...]:
    """Drugs with a CPIC recommendation table or a CPIC level A/B gene pair (and warfarin)."""
    names = set(_rows_by_drug())
    names |= {p.drug for p in tables().drugs if p.cpic_level in ("A", "A/B", "B")}
    return tuple(sorted(names))


def resolve_drug(text: str) -> str:
    """A drug name from a name, an RxNorm ingredient code or a product description.

    >>> resolve_drug("32968"), resolve_drug("Clopidogrel 75 MG Oral Tablet")
    ('clopidogrel', 'clopidogrel')
    """
    t = text.strip()
    if not t:
        raise InputError("no drug given", field="drug", hint="give a drug name or RxNorm code")
    rx = _drug_by_rxnorm()
    if t.isdigit():
        if t in rx:
            return rx[t]
        raise InputError(f"RxNorm {t} is not an ingredient any CPIC guideline covers",
                         field="drug", hint="give the ingredient name or its RxNorm code")
    low = t.lower()
    known = guideline_drugs()
    if low in known:
        return low
    found = drugs_in_text(low)
    if len(found) == 1:
        return found[0]
    if found:
        raise InputError(f"{text!r} names several drugs: {', '.join(found)}", field="drug",
                         hint="check one drug at a time")
    raise InputError(f"{text!r} is not a drug any CPIC guideline covers", field="drug",
                     hint="give the ingredient name (e.g. clopidogrel) or its RxNorm code")


def drugs_in_text(text: str) -> list[str]:
    """Guideline drugs named as whole words in a medication description (e.g. an RxNorm SCD)."""
    import re

    low = " " + re.sub(r"[^a-z0-9]+", " ", text.lower()) + " "
    return [d for d in guideline_drugs() if f" {re.sub(r'[^a-z0-9]+', ' ', d)} " in low]


@functools.cache
def _guideline_genes(name: str) -> tuple[str, ...]:
    pairs = _pairs_by_drug().get(name, ())
    return tuple(sorted({p.gene for p in pairs if p.cpic_level in ("A", "A/B", "B")}
                        | {g for r in _rows_by_drug().get(name, ()) for g in r.genes}))


# --- matching ---------------------------------------------------------------------------------
def _keys(gene: str, p: GenePhenotype | None) -> set[str]:
    if p is None or p.status not in ("called",):
        return set()
    keys = {k for k in (p.phenotype, p.lookup_key, p.activity_score) if k}
    if p.lookup_key and ";" in p.lookup_key:
        keys |= {k.strip() for k in p.lookup_key.split(";")}
    if gene == "VKORC1" and p.phenotype:
        keys.add(p.phenotype)
    return keys


def _row_fits(row: RecommendationRow, keys: Mapping[str, set[str]]) -> int | None:
    """Number of called genes the row uses, or None when it does not apply."""
    used = 0
    for g, want in row.phenotypes.items():
        have = keys.get(g)
        if want in _NONE:
            if have:
                return None
            continue
        if not have or want not in have:
            return None
        used += 1
    return used


def gene_keys(genes: Mapping[str, GenePhenotype]) -> dict[str, set[str]]:
    """The values each gene can be looked up by (phenotype, lookup key, activity score)."""
    return {g: k for g, p in genes.items() if (k := _keys(g, p))}


_WORDS = {
    "avoid": "the guideline advises avoiding {drug} for this result if another option exists",
    "consider_alternative": "the guideline advises considering a medicine other than {drug}, "
                            "or a changed dose if {drug} is needed",
    "adjust_dose": "the guideline advises a different dose of {drug} for this result",
    "use_as_directed": "this result does not call for a change: {drug} can be used at the usual "
                       "dose",
    "no_recommendation": "the guideline makes no genotype-based recommendation for {drug} for "
                         "this result",
    "see_guideline": "the guideline gives specific advice for {drug} with this result; a "
                     "clinician should read it",
    "no_data": "no result for the gene(s) that guide {drug}",
}


def summary(action: str, drug: str, dose_note: str = "") -> str:
    """Our own sentence for an action (the guideline's text is kept separately)."""
    s = _WORDS[action].format(drug=drug)
    if dose_note and action in ACTIONABLE:
        s += f" (dose figures in the guideline: {dose_note})"
    return s[0].upper() + s[1:] + "."


def recommend_drug(drug: str, genes: Mapping[str, GenePhenotype], *,
                   patient: Mapping[str, Any] | None = None,
                   keys: Mapping[str, set[str]] | None = None) -> DrugRecommendation:
    """The recommendation for one drug given each gene's phenotype."""
    name = resolve_drug(drug)
    if keys is None:
        keys = gene_keys(genes)
    if name == "warfarin":
        return warfarin(genes, patient or {})
    pairs = _pairs_by_drug().get(name, ())
    rx = next((p.rxnorm for p in pairs if p.rxnorm), "")
    guideline_genes = _guideline_genes(name)
    rows = _rows_by_drug().get(name, ())
    best: tuple[int, RecommendationRow] | None = None
    for r in rows:
        used = _row_fits(r, keys)
        if used is None or used == 0:
            continue
        if best is None or used > best[0]:
            best = (used, r)
    missing = tuple(g for g in guideline_genes if g not in keys)
    if best is None:
        called = {g: (genes[g].phenotype or "") for g in guideline_genes if g in keys}
        if not called:
            return DrugRecommendation(name, rx, guideline_genes, {}, "no_data",
                                      summary("no_data", name), missing_genes=missing,
                                      pmids=tuple(dict.fromkeys(p for x in pairs
                                                                for p in x.pmids)),
                                      guideline_url=next((p.guideline_url for p in pairs
                                                          if p.guideline_url), ""))
        pm = tuple(dict.fromkeys(p for x in pairs for p in x.pmids))
        return DrugRecommendation(
            name, rx, guideline_genes, called, "see_guideline",
            summary("see_guideline", name) + " The project's tables hold no row for this "
            "combination of results.", missing_genes=missing, pmids=pm,
            cpic_level=next((p.cpic_level for p in pairs), ""),
            guideline_url=next((p.guideline_url for p in pairs if p.guideline_url), ""),
            source="no matching row")
    row = best[1]
    phen = {g: v for g, v in row.phenotypes.items() if v not in _NONE}
    return DrugRecommendation(
        name, rx, row.genes, phen, row.action, summary(row.action, name, row.dose_note),
        dose_note=row.dose_note, strength=row.strength, cpic_level=row.cpic_level,
        pmids=row.pmids, guideline_url=row.guideline_url,
        missing_genes=tuple(g for g in row.genes if g not in phen), source=row.source,
        source_text=row.source_text, action_rule=row.action_rule)


def warfarin(genes: Mapping[str, GenePhenotype], patient: Mapping[str, Any]
             ) -> DrugRecommendation:
    """Warfarin: IWPC dose when the clinical inputs are known, else what is needed for it."""
    pairs = _pairs_by_drug().get("warfarin", ())
    pm = tuple(dict.fromkeys(p for x in pairs for p in x.pmids))
    url = next((p.guideline_url for p in pairs if p.guideline_url), "")
    vk = genes.get("VKORC1")
    cy = genes.get("CYP2C9")
    f2 = genes.get("CYP4F2")
    extra: dict[str, Any] = {"method": W.METHOD, "citation": W.CITATION,
                             "guideline": W.CPIC_CITATION}
    phen = {g: (p.diplotype or "") for g, p in (("CYP2C9", cy), ("VKORC1", vk), ("CYP4F2", f2))
            if p is not None and p.diplotype}
    vk_g = W.vkorc1_genotype(vk.diplotype if vk and vk.status == "called" else None)
    notes: list[str] = []
    try:
        cy_g = W.cyp2c9_genotype(cy.diplotype if cy and cy.status == "called" else None)
    except InputError as err:
        notes.append(str(err))
        cy_g = None
    if f2 is not None and f2.diplotype and "*3" in f2.alleles:
        notes.append("CYP4F2 *3 carrier: CPIC Figure 2 (PMID 28198005) describes a dose "
                     "increase for carriers of non-African ancestry")
    extra["genotypes"] = {"VKORC1 -1639": vk_g, "CYP2C9": cy_g or "not modelled"}
    need = [k for k in ("age", "height_cm", "weight_kg") if patient.get(k) in (None, "")]
    missing = tuple(g for g, v in (("VKORC1", vk_g), ("CYP2C9", cy_g)) if v in (None, "unknown"))
    if cy_g is not None and not need:
        dose = W.iwpc_weekly_dose(
            age=float(patient["age"]), height_cm=float(patient["height_cm"]),
            weight_kg=float(patient["weight_kg"]), vkorc1=vk_g, cyp2c9=cy_g,
            race=patient.get("race"), enzyme_inducer=bool(patient.get("enzyme_inducer")),
            amiodarone=bool(patient.get("amiodarone")))
        extra["iwpc"] = {"weekly_dose_mg": dose.weekly_dose_mg,
                         "daily_dose_mg": dose.daily_dose_mg, "inputs": dose.inputs,
                         "missing": list(dose.missing)}
        text = (f"The IWPC equation estimates about {dose.weekly_dose_mg:.1f} mg a week "
                f"({dose.daily_dose_mg:.1f} mg a day) as a starting point; INR checks decide "
                "the dose.")
        action = "adjust_dose" if (vk_g not in ("G/G", "unknown") or cy_g not in
                                   ("*1/*1", "unknown")) else "use_as_directed"
    else:
        why = [f"missing {', '.join(need)}"] if need else []
        if cy_g is None:
            why.append("a CYP2C9 allele the equation does not model")
        text = ("Warfarin dosing uses a pharmacogenetic equation; it cannot be computed here "
                f"({'; '.join(why)}).")
        action = "see_guideline"
    extra["notes"] = notes
    return DrugRecommendation("warfarin", next((p.rxnorm for p in pairs), "11289"),
                              ("CYP2C9", "VKORC1", "CYP4F2"), phen, action,
                              text + (" " + " ".join(notes) if notes else ""),
                              cpic_level="A", pmids=(*pm, "19228618"), guideline_url=url,
                              missing_genes=missing, source=W.METHOD, extra=extra)


def recommend(genes: Mapping[str, GenePhenotype], drugs: Sequence[str] | None = None, *,
              patient: Mapping[str, Any] | None = None) -> list[DrugRecommendation]:
    """Recommendations for ``drugs`` (default: every guideline drug; those whose genes have no
    result come back as ``no_data`` so a report can say what is missing)."""
    wanted = list(guideline_drugs()) if drugs is None else [resolve_drug(d) for d in drugs]
    keys = gene_keys(genes)
    out = [recommend_drug(d, genes, patient=patient, keys=keys) for d in dict.fromkeys(wanted)]
    out.sort(key=lambda r: (ACTIONS.index(r.action), r.drug))
    return out
