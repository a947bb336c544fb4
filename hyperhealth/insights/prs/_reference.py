"""Where a score sits in a reference distribution of the same score, within one ancestry group.

Two kinds of reference:

* :class:`ReferenceVcf`: a multi-sample VCF (for example a public panel) with each sample's
  ancestry group; the same scoring file is applied to it with the same rules, on the variants
  found in both files, and the person's score is placed among the reference scores of one group
  (empirical percentile, mid-rank for ties, with a 95 % Wilson interval for the proportion).
* :class:`ReferenceStats`: a mean and SD per group published for this score (the caller vouches
  that they were computed for this scoring file; coverage differences are not corrected) - the
  percentile assumes a normal distribution.

A percentile is only given within the group the caller names. Pooling groups happens only when
asked (``across_ancestries=True``) and the result then says so: polygenic score distributions
differ in mean and spread between ancestry groups (Martin AR et al., Clinical use of current
polygenic risk scores may exacerbate health disparities, Nat Genet 2019;51:584-591,
doi:10.1038/s41588-019-0379-x), so a pooled percentile can mislead.

>>> round(empirical_percentile(2.0, np.array([1.0, 2.0, 3.0, 4.0])), 1)
37.5
>>> round(normal_percentile(1.0, AncestryStats(mean=0.0, sd=1.0)), 1)
84.1
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from hyperhealth.errors import InputError

_Z95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class AncestryStats:
    """Mean and SD of the score in one ancestry group (``n`` and ``source`` when known)."""

    mean: float
    sd: float
    n: int | None = None
    source: str = ""


@dataclass(frozen=True, slots=True)
class ReferenceStats:
    """Published or pre-computed mean/SD per ancestry group."""

    groups: Mapping[str, AncestryStats]


@dataclass(frozen=True, slots=True)
class ReferenceVcf:
    """A reference panel VCF and each sample's ancestry group (``labels``: sample -> group)."""

    path: str
    labels: Mapping[str, str]
    source: str = ""


@dataclass(frozen=True, slots=True)
class Placement:
    """A score placed in one reference group (or, if asked, the pooled groups)."""

    sample: str
    group: str
    method: str  # empirical | normal
    percentile: float
    ci_low: float | None
    ci_high: float | None
    score: float  # the score that was placed (on the variants shared with the reference)
    variants: int  # variants behind that score
    n_reference: int | None
    cross_ancestry: bool
    note: str
    groups_pooled: tuple[str, ...] = field(default=())


def empirical_percentile(x: float, ref: np.ndarray) -> float:
    """Percent of reference scores below ``x``, counting ties as half (mid-rank)."""
    n = len(ref)
    if n == 0:
        raise InputError("the reference group has no scores", hint="choose another group")
    below = float(np.count_nonzero(ref < x))
    ties = float(np.count_nonzero(ref == x))
    return 100.0 * (below + 0.5 * ties) / n


def wilson_interval(p: float, n: int) -> tuple[float, float]:
    """95 % Wilson score interval for a proportion ``p`` (0..1) from ``n`` observations.

    >>> lo, hi = wilson_interval(0.5, 100)
    >>> round(lo, 3), round(hi, 3)
    (0.404, 0.596)
    """
    z2 = _Z95 * _Z95
    den = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / den
    half = _Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


def normal_percentile(x: float, stats: AncestryStats) -> float:
    if not (stats.sd > 0 and math.isfinite(stats.sd) and math.isfinite(stats.mean)):
        raise InputError(f"reference SD {stats.sd} is not a positive number", field="sd",
                         hint="give the mean and SD of the score in the reference group")
    z = (x - stats.mean) / stats.sd
    return 50.0 * (1.0 + math.erf(z / math.sqrt(2.0)))


def place_empirical(sample: str, score: float, variants: int, groups: Mapping[str, np.ndarray],
                    *, ancestry: str | None, across_ancestries: bool,
                    source: str) -> Placement | None:
    """Place ``score`` among reference scores of ``ancestry`` (or all groups, if asked)."""
    chosen = _choose(groups.keys(), ancestry, across_ancestries)
    if chosen is None:
        return None
    ref = np.concatenate([groups[g] for g in chosen])
    pct = empirical_percentile(score, ref)
    lo, hi = wilson_interval(pct / 100.0, len(ref))
    cross = across_ancestries
    note = (f"compared with {len(ref)} reference samples of group {chosen[0]!r}"
            if not cross else
            f"compared with {len(ref)} reference samples POOLED ACROSS ancestry groups "
            f"{', '.join(chosen)}: score distributions differ between groups, so this "
            "percentile may not describe the person's own group")
    if source:
        note += f" ({source})"
    return Placement(sample, chosen[0] if not cross else "+".join(chosen), "empirical", pct,
                     100 * lo, 100 * hi, score, variants, len(ref), cross, note, tuple(chosen))


def place_normal(sample: str, score: float, variants: int, ref: ReferenceStats, *,
                 ancestry: str | None) -> Placement | None:
    """Place ``score`` using a group's mean and SD (normal approximation)."""
    chosen = _choose(ref.groups.keys(), ancestry, False)
    if chosen is None:
        return None
    st = ref.groups[chosen[0]]
    pct = normal_percentile(score, st)
    note = (f"normal approximation from the mean {st.mean:g} and SD {st.sd:g} of group "
            f"{chosen[0]!r}" + (f" (n={st.n})" if st.n else "") + (f", {st.source}" if st.source
                                                                  else "")
            + "; valid only if those were computed for this scoring file on comparable variants")
    return Placement(sample, chosen[0], "normal", pct, None, None, score, variants, st.n, False,
                     note, (chosen[0],))


def _choose(groups: object, ancestry: str | None, across: bool) -> list[str] | None:
    names = sorted(str(g) for g in groups)  # type: ignore[attr-defined]
    if not names:
        raise InputError("the reference has no ancestry groups",
                         hint="label each reference sample with its ancestry group")
    if across:
        return names
    if ancestry is None:
        return None
    if ancestry not in names:
        raise InputError(f"ancestry group {ancestry!r} is not in the reference",
                         field="ancestry", hint=f"choose one of: {', '.join(names)}")
    return [ancestry]
