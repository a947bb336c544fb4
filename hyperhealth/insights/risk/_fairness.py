"""Fairness audit of a risk model's predictions: per-group metrics, disparities, mitigation.

Per sensitive attribute (sex, age band, race/ethnicity as recorded) a fairlearn ``MetricFrame``
gives, for every group: n, outcome prevalence, AUC, Brier score, calibration-in-the-large
(mean predicted minus observed rate), false-negative rate at the decision threshold, and
selection rate. A metric that is undefined for a group (AUC without both outcomes, FNR without
anyone with the outcome) is reported as missing rather than guessed. Disparity per metric is
the largest minus the smallest group value (and, for rates, the smallest over the largest).

Optional mitigation: fairlearn ``ThresholdOptimizer`` with group-specific thresholds chosen for
false-negative-rate parity while maximising accuracy (Hardt M, Price E, Srebro N, Equality of
opportunity in supervised learning, NeurIPS 2016), reported with its cost in overall accuracy.
It is fitted and evaluated on the same predictions (in-sample), which flatters it.

fairlearn 0.15 with pandas 3 needs probabilities as float64 arrays; they are cast here.
(Bird S et al., Fairlearn: a toolkit for assessing and improving fairness in AI, Microsoft
Tech Report MSR-TR-2020-32.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from hyperhealth.errors import InputError

#: metrics whose disparity ratio (min/max) is meaningful (non-negative rates)
_RATES = ("fnr", "selection_rate", "prevalence")
ATTRIBUTES = ("sex", "age_band", "race_ethnicity")


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y, dtype=int)
    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else np.nan


def _brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((np.asarray(p, dtype=np.float64) - np.asarray(y)) ** 2))


def _citl(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(p) - np.mean(y))


def _prevalence(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(y))


def _count(y: np.ndarray, p: np.ndarray) -> float:
    return float(len(y))


def _fnr(threshold: float) -> Any:
    def fnr(y: np.ndarray, p: np.ndarray) -> float:
        pos = np.asarray(y) == 1
        return float(np.mean(np.asarray(p)[pos] < threshold)) if pos.any() else np.nan
    return fnr


def _selection(threshold: float) -> Any:
    def selection_rate(y: np.ndarray, p: np.ndarray) -> float:
        return float(np.mean(np.asarray(p) >= threshold))
    return selection_rate


@dataclass(frozen=True, slots=True)
class AttributeAudit:
    attribute: str
    by_group: pd.DataFrame  # index: group, columns: metrics
    overall: Mapping[str, float]
    disparity: Mapping[str, Mapping[str, float | None]]  # metric -> difference / ratio


@dataclass(frozen=True, slots=True)
class Mitigation:
    attribute: str
    constraint: str
    accuracy_before: float
    accuracy_after: float
    fnr_before: Mapping[str, float]
    fnr_after: Mapping[str, float]
    note: str

    @property
    def accuracy_cost(self) -> float:
        return self.accuracy_before - self.accuracy_after


@dataclass(frozen=True, slots=True)
class AuditReport:
    population: str
    threshold: float
    attributes: tuple[AttributeAudit, ...]
    mitigation: Mitigation | None = None
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        def clean(v: Any) -> Any:
            return None if isinstance(v, float) and not np.isfinite(v) else v

        return {
            "population": self.population, "threshold": self.threshold,
            "attributes": [{
                "attribute": a.attribute,
                "groups": [{"group": str(g), **{k: clean(float(v)) for k, v in row.items()}}
                           for g, row in a.by_group.iterrows()],
                "overall": {k: clean(v) for k, v in a.overall.items()},
                "disparity": {m: {k: clean(v) for k, v in d.items()}
                              for m, d in a.disparity.items()},
            } for a in self.attributes],
            "mitigation": None if self.mitigation is None else {
                "attribute": self.mitigation.attribute,
                "constraint": self.mitigation.constraint,
                "accuracy_before": self.mitigation.accuracy_before,
                "accuracy_after": self.mitigation.accuracy_after,
                "accuracy_cost": self.mitigation.accuracy_cost,
                "fnr_before": {k: clean(v) for k, v in self.mitigation.fnr_before.items()},
                "fnr_after": {k: clean(v) for k, v in self.mitigation.fnr_after.items()},
                "note": self.mitigation.note},
            "notes": list(self.notes),
        }


def audit(y_true: Sequence[int] | np.ndarray, proba: Sequence[float] | np.ndarray,
          groups: pd.DataFrame, *, population: str, threshold: float = 0.5,
          attributes: Sequence[str] = ATTRIBUTES, mitigate: str | None = None,
          seed: int = 0) -> AuditReport:
    """Audit predictions ``proba`` of outcomes ``y_true`` across the ``groups`` columns."""
    from fairlearn.metrics import MetricFrame

    y = np.asarray(y_true, dtype=int)
    p = np.asarray(proba, dtype=np.float64)  # fairlearn 0.15 + pandas 3: float64 arrays
    if len(y) != len(p) or len(y) != len(groups):
        raise InputError("outcomes, probabilities and groups differ in length",
                         hint="pass one row per person")
    metric_fns = {"n": _count, "prevalence": _prevalence, "auc": _auc, "brier": _brier,
                  "calibration_in_the_large": _citl, "fnr": _fnr(threshold),
                  "selection_rate": _selection(threshold)}
    out = []
    for attr in attributes:
        if attr not in groups.columns:
            raise InputError(f"no column {attr!r} to audit by", field=attr,
                             hint=f"groups has: {', '.join(groups.columns)}")
        sf = groups[attr].astype(str).to_numpy()
        mf = MetricFrame(metrics=metric_fns, y_true=y, y_pred=p, sensitive_features=sf)
        by = mf.by_group.astype(np.float64)
        disp: dict[str, dict[str, float | None]] = {}
        for m in ("auc", "brier", "calibration_in_the_large", "fnr", "selection_rate"):
            vals = by[m].dropna()
            if len(vals) < 2:
                disp[m] = {"difference": None, "ratio": None, "groups_compared": len(vals)}
                continue
            diff = float(vals.max() - vals.min())
            ratio = (float(vals.min() / vals.max()) if m in _RATES and vals.max() > 0
                     else None)
            disp[m] = {"difference": diff, "ratio": ratio, "groups_compared": len(vals)}
        overall = {k: float(v) for k, v in mf.overall.items()}
        out.append(AttributeAudit(attr, by, overall, disp))
    notes = []
    small = [(a.attribute, str(g)) for a in out for g, r in a.by_group.iterrows()
             if not np.isfinite(r["auc"])]
    if small:
        notes.append(f"{len(small)} group(s) have no AUC (they lack people with or without "
                     "the outcome); compare such groups with care")
    mit = _mitigate(y, p, groups, mitigate, threshold, seed) if mitigate else None
    return AuditReport(population, threshold, tuple(out), mit, tuple(notes))


class _Scores(ClassifierMixin, BaseEstimator):
    """A 'model' whose input is its own probability (lets ThresholdOptimizer post-process
    predictions that were made elsewhere, e.g. out of fold)."""

    def fit(self, X: Any, y: Any) -> _Scores:
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        p = np.asarray(X, dtype=np.float64).reshape(-1)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def _mitigate(y: np.ndarray, p: np.ndarray, groups: pd.DataFrame, attr: str,
              threshold: float, seed: int) -> Mitigation:
    from fairlearn.postprocessing import ThresholdOptimizer

    if attr not in groups.columns:
        raise InputError(f"no column {attr!r} to mitigate by", field="mitigate",
                         hint=f"choose one of: {', '.join(groups.columns)}")
    sf = groups[attr].astype(str).to_numpy()
    for g in np.unique(sf):
        sel = sf == g
        if y[sel].min() == y[sel].max():
            raise InputError(f"group {g!r} of {attr} has only one outcome; thresholds per "
                             "group cannot be chosen", field="mitigate",
                             hint="mitigate by another attribute or audit a larger cohort")
    X = pd.DataFrame({"p": p})
    est = _Scores().fit(X, y)
    to = ThresholdOptimizer(estimator=est, constraints="false_negative_rate_parity",
                            objective="accuracy_score", prefit=True,
                            predict_method="predict_proba")
    to.fit(X, y, sensitive_features=sf)
    after = np.asarray(to.predict(X, sensitive_features=sf, random_state=seed), dtype=int)
    before = (p >= threshold).astype(int)

    def fnr_by(pred: np.ndarray) -> dict[str, float]:
        res = {}
        for g in np.unique(sf):
            pos = (sf == g) & (y == 1)
            res[str(g)] = float(np.mean(pred[pos] == 0)) if pos.any() else np.nan
        return res

    return Mitigation(attr, "false_negative_rate_parity (ThresholdOptimizer, accuracy)",
                      float(np.mean(before == y)), float(np.mean(after == y)),
                      fnr_by(before), fnr_by(after),
                      "group thresholds fitted and evaluated on the same predictions "
                      "(in-sample); randomised at the thresholds as fairlearn does")
