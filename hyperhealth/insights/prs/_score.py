"""Polygenic score of each sample in a VCF: sum over matched variants of dosage x weight.

``score = sum_i w_i * d_i`` where ``d_i`` is the number of copies (0, 1, 2; or the ``DS``
dosage) of the counted allele (the effect allele, or its complement for a strand-flipped row)
and ``w_i`` the row's ``effect_weight``.

What a **missing genotype** contributes is the ``missing`` option, matching ``plink2 --score``:

* ``"zero"`` (default; ``plink2 --score ... no-mean-imputation``): nothing. The sum runs over
  the sample's called variants only, and the number of missing calls is reported. This is the
  only sensible rule for a single person's VCF, where no frequency can be estimated.
* ``"mean"`` (plink2's default): ``2 * f * w``, with ``f`` the counted allele's frequency among
  the called samples of the same VCF (dosage-weighted). For multi-sample VCFs only.

Variants absent from the VCF contribute nothing under either rule; they lower the coverage,
which is reported (rows, variants used, and the share of total absolute weight used).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hyperhealth.errors import InputError
from hyperhealth.insights.prs._match import STATUS_NAMES, STATUSES, Matches, match_rows
from hyperhealth.insights.prs._reference import (
    Placement,
    ReferenceStats,
    ReferenceVcf,
    place_empirical,
    place_normal,
)
from hyperhealth.insights.prs._scorefile import ScoringFile, read_scoring_file
from hyperhealth.insights.prs._vcf import Prefetch, VcfSites, read_sites

METHOD = "hyperhealth.prs"
#: plink2 --score refuses to mean-impute from frequencies of fewer samples than this
MIN_SAMPLES_MEAN = 50
METHOD_VERSION = "1"
_PGS_CATALOG = ("Lambert SA et al., The Polygenic Score Catalog as an open database for "
                "reproducibility and systematic evaluation, Nat Genet 2021;53:420-425, "
                "doi:10.1038/s41588-021-00783-5")


def _kernels() -> Any:
    """The compiled loops, imported on first use (importing numba takes about half a second)."""
    from hyperhealth.insights.prs import _kernels as kernels

    return kernels


@dataclass(frozen=True, slots=True)
class ScoreOptions:
    """How rows are matched and missing calls handled (see the module and ``_match``)."""

    missing: str = "zero"  # zero | mean
    keep_ambiguous: bool = False
    use_dosage: bool = True  # read DS where present (biallelic records)

    def __post_init__(self) -> None:
        if self.missing not in ("zero", "mean"):
            raise InputError(f"missing={self.missing!r} is not a rule", field="missing",
                             hint="use 'zero' (plink2 no-mean-imputation) or 'mean'")


@dataclass(frozen=True, slots=True)
class SampleScore:
    sample: str
    score: float
    variants_used: int  # matched variants with a call for this sample
    variants_missing: int  # matched variants without a call (see ScoreOptions.missing)


@dataclass(frozen=True, slots=True)
class Coverage:
    rows: int  # rows in the scoring file
    scorable: int  # additive single-allele rows
    matched: int  # rows matched to a VCF record (as written or flipped)
    flipped: int
    by_status: Mapping[str, int]
    weight_fraction: float  # share of sum |w| over all rows carried by matched rows

    @property
    def fraction(self) -> float:
        return self.matched / self.rows if self.rows else 0.0


@dataclass(frozen=True, slots=True)
class PrsResult:
    """Scores of every sample in the VCF with coverage, placements and provenance."""

    scoring: ScoringFile
    vcf: str
    vcf_build: str
    options: ScoreOptions
    scores: tuple[SampleScore, ...]
    coverage: Coverage
    matches: Matches
    placements: tuple[Placement, ...] = ()
    warnings: tuple[str, ...] = ()
    provenance: Mapping[str, Any] = field(default_factory=dict)

    def score_of(self, sample: str) -> SampleScore:
        for s in self.scores:
            if s.sample == sample:
                return s
        raise InputError(f"sample {sample!r} is not in the VCF", field="sample",
                         hint=f"choose one of: {', '.join(s.sample for s in self.scores[:10])}")

    def variant_rows(self) -> list[dict[str, Any]]:
        """One dict per scoring-file row: the row, its status and the counted allele."""
        sf = self.scoring
        out = []
        for i, (st, a) in enumerate(zip(self.matches.status, self.matches.allele.tolist(),
                                        strict=True)):
            r = sf.row(i)
            out.append({"line": r.line, "rsid": r.rsid, "chrom": r.chrom, "pos": r.pos,
                        "effect_allele": r.effect, "other_allele": r.other,
                        "weight": r.weight, "status": st, "allele_index": a,
                        "reason": r.reason})
        return out

    def to_dict(self, *, variants: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "scoring_file": {"name": self.scoring.name, "pgs_id": self.scoring.pgs_id,
                             "trait": self.scoring.trait, "build": self.scoring.build,
                             "harmonised": self.scoring.harmonised,
                             "citation": self.scoring.citation},
            "vcf": {"path": self.vcf, "build": self.vcf_build},
            "options": {"missing": self.options.missing,
                        "keep_ambiguous": self.options.keep_ambiguous,
                        "use_dosage": self.options.use_dosage},
            "scores": [{"sample": s.sample, "score": s.score, "variants_used": s.variants_used,
                        "variants_missing": s.variants_missing} for s in self.scores],
            "coverage": {"rows": self.coverage.rows, "scorable": self.coverage.scorable,
                         "matched": self.coverage.matched, "flipped": self.coverage.flipped,
                         "fraction": self.coverage.fraction,
                         "weight_fraction": self.coverage.weight_fraction,
                         "by_status": dict(self.coverage.by_status)},
            "placements": [_placement_dict(p) for p in self.placements],
            "warnings": list(self.warnings),
            "provenance": dict(self.provenance),
        }
        if variants:
            d["variants"] = self.variant_rows()
        return d


def _placement_dict(p: Placement) -> dict[str, Any]:
    return {"sample": p.sample, "group": p.group, "method": p.method,
            "percentile": p.percentile, "ci95": [p.ci_low, p.ci_high], "score": p.score,
            "variants": p.variants, "n_reference": p.n_reference,
            "cross_ancestry": p.cross_ancestry, "groups": list(p.groups_pooled), "note": p.note}


# -- the computation ----------------------------------------------------------------------------
def _wanted(sf: ScoringFile, only: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Positions and rs numbers the VCF reader must select."""
    take = sf.scorable.copy()
    if only is not None:
        mask = np.zeros(len(sf), dtype=bool)
        mask[only] = True
        take &= mask
    pos = sf.pos[take & (sf.pos >= 0)]
    rs_rows = take & (sf.pos < 0)
    rs = np.zeros(0, dtype=np.int64)
    if rs_rows.any():
        num = pd.to_numeric(pd.Series(sf.rsid[rs_rows], dtype=object).str.lower()
                            .str.extract(r"^rs(\d{1,18})$", expand=False), errors="coerce")
        rs = num.dropna().to_numpy(dtype=np.int64)
    return pos, rs


def row_sums(sf: ScoringFile, sites: VcfSites, matches: Matches, rows: np.ndarray, rule: str
             ) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample sums over ``rows`` under the missing-call rule, and missing calls per sample.

    A haploid call on an autosome counts as missing (only autosomes are scored); a ``DS``
    value, where the record has one for the sample, is used instead of GT (as plink2 does with
    ``--vcf dosage=DS``), also when GT is missing.
    """
    ds = sites.ds if sites.ds is not None else np.zeros((0, 0))
    return _kernels().score(sites.gt, ds, sites.ds is not None, matches.record[rows],
                   matches.allele[rows], sf.weight[rows], rule == "mean")


def _coverage(sf: ScoringFile, m: Matches) -> Coverage:
    counts = Counter(dict(zip(STATUS_NAMES, np.bincount(m.code, minlength=len(STATUS_NAMES))
                              .tolist(), strict=True)))
    w = np.abs(np.nan_to_num(sf.weight))
    total = float(w.sum())
    used = float(w[m.used].sum())
    return Coverage(len(sf), int(sf.scorable.sum()),
                    counts["matched"] + counts["flipped"], counts["flipped"],
                    {k: counts[k] for k in STATUSES if counts[k]},
                    used / total if total > 0 else 0.0)


def _check_build(sf: ScoringFile, sites: VcfSites) -> list[str]:
    has_pos = bool((sf.scorable & (sf.pos >= 0)).any())
    if not has_pos:
        return []
    if sf.build != "unknown" and sites.build != "unknown" and sf.build != sites.build:
        raise InputError(f"the scoring file's positions are on {sf.build} but the VCF is "
                         f"{sites.build} ({sites.build_evidence})", where=sites.path,
                         hint=f"use the PGS Catalog file harmonised to {sites.build}")
    out = []
    if sf.build == "unknown":
        out.append("the scoring file does not name its genome build; positions were used as "
                   "they are")
    if sites.build == "unknown":
        out.append(f"the VCF's genome build could not be told ({sites.build_evidence}); "
                   f"positions were assumed to be on {sf.build}")
    return out


def score_vcf(scoring: ScoringFile | str | Path, vcf: str | Path, *,
              options: ScoreOptions | None = None,
              reference: ReferenceVcf | ReferenceStats | None = None,
              ancestry: str | None = None, across_ancestries: bool = False) -> PrsResult:
    """Score every sample of ``vcf``; optionally place each score in a reference group.

    With a :class:`ReferenceVcf`, the reference panel is scored with the same rules on the
    variants found in both files, and the placed score is the sample's score on those shared
    variants (``Placement.score``, ``Placement.variants``).
    """
    opts = options or ScoreOptions()
    if not Path(vcf).is_file():
        raise InputError("no such VCF file", where=str(vcf), hint="check the path")
    # the VCF is inflated on another thread while the scoring file is read
    pre = Prefetch(vcf)
    try:
        sf = scoring if isinstance(scoring, ScoringFile) else read_scoring_file(scoring)
        pos, rs = _wanted(sf)
        sites = read_sites(vcf, positions=pos, rsids=rs, dosage=opts.use_dosage, prefetch=pre)
    finally:
        pre.close()
    if opts.missing == "mean" and len(sites.samples) < MIN_SAMPLES_MEAN:
        raise InputError(f"mean imputation needs allele frequencies from at least "
                         f"{MIN_SAMPLES_MEAN} samples; the VCF has {len(sites.samples)}",
                         where=str(vcf), field="missing",
                         hint="use missing='zero' (the default), as plink2 also refuses this")
    warnings = _check_build(sf, sites)
    m = match_rows(sf, sites, keep_ambiguous=opts.keep_ambiguous)
    used = m.used
    totals, n_miss = row_sums(sf, sites, m, used, opts.missing)
    scores = tuple(SampleScore(s, float(totals[j]), int(len(used) - n_miss[j]), int(n_miss[j]))
                   for j, s in enumerate(sites.samples))
    cov = _coverage(sf, m)
    if cov.matched == 0:
        warnings.append("no variant of the score was found in the VCF; the score is 0 and "
                        "means nothing")
    placements: list[Placement] = []
    ref_prov: dict[str, Any] = {}
    if isinstance(reference, ReferenceVcf):
        placements, ref_prov = _place_vcf(sf, sites, m, opts, reference, ancestry,
                                          across_ancestries)
    elif isinstance(reference, ReferenceStats):
        if across_ancestries:
            raise InputError("mean/SD references cannot be pooled across ancestry groups",
                             field="across_ancestries",
                             hint="name the person's group, or use a reference VCF")
        for s in scores:
            p = place_normal(s.sample, s.score, len(used), reference, ancestry=ancestry)
            if p is not None:
                placements.append(p)
        ref_prov = {"reference": "mean/SD per group", "groups": sorted(reference.groups)}
    if reference is not None and not placements:
        warnings.append("no percentile: name the ancestry group to compare with "
                        "(percentiles are never taken across groups unless asked)")
    prov = {
        "method": METHOD, "version": METHOD_VERSION,
        "inputs_used": {"scoring_file": sf.name, "pgs_id": sf.pgs_id, "vcf": str(vcf),
                        "samples": len(sites.samples), "variants_used": len(used)},
        "inputs_missing": {"rows_not_used": cov.rows - cov.matched,
                           "missing_calls": int(n_miss.sum())},
        "missing_rule": ("missing calls contribute 0 (plink2 --score no-mean-imputation)"
                         if opts.missing == "zero" else
                         "missing calls contribute 2 x allele frequency x weight, frequency "
                         "from this VCF's samples (plink2 --score default)"),
        "citation": [c for c in (sf.citation, _PGS_CATALOG) if c],
        **ref_prov,
    }
    return PrsResult(sf, str(vcf), sites.build, opts, scores, cov, m, tuple(placements),
                     tuple(warnings), prov)


def _place_vcf(sf: ScoringFile, sites: VcfSites, m: Matches, opts: ScoreOptions,
               ref: ReferenceVcf, ancestry: str | None, across: bool
               ) -> tuple[list[Placement], dict[str, Any]]:
    used_t = m.used
    pos, rs = _wanted(sf, used_t)
    rsites = read_sites(ref.path, positions=pos, rsids=rs, dosage=opts.use_dosage)
    _check_build(sf, rsites)
    rm = match_rows(sf, rsites, keep_ambiguous=opts.keep_ambiguous, rows=used_t)
    common = np.intersect1d(used_t, rm.used)
    tgt, _ = row_sums(sf, sites, m, common, opts.missing)
    refs, _ = row_sums(sf, rsites, rm, common, opts.missing)
    groups: dict[str, list[float]] = {}
    unlabelled = 0
    for j, s in enumerate(rsites.samples):
        g = ref.labels.get(s)
        if g is None:
            unlabelled += 1
            continue
        groups.setdefault(g, []).append(float(refs[j]))
    arrays = {g: np.array(v) for g, v in groups.items()}
    if not arrays:
        raise InputError("no reference sample has an ancestry label", where=ref.path,
                         hint="give a sample -> group table for the reference VCF")
    out = []
    for j, s in enumerate(sites.samples):
        p = place_empirical(s, float(tgt[j]), len(common), arrays, ancestry=ancestry,
                            across_ancestries=across, source=ref.source)
        if p is not None:
            out.append(p)
    prov = {"reference": ref.path, "reference_source": ref.source,
            "reference_groups": {g: len(v) for g, v in sorted(arrays.items())},
            "reference_unlabelled_samples": unlabelled,
            "variants_shared_with_reference": len(common)}
    return out, prov
