"""A demonstration ML risk model on the streams: calibrated gradient boosting with SHAP.

**What it predicts.** Whether the person's record lists hypertension (SNOMED CT 38341003), from
features of their wearable, home-device, CGM and environment streams (``_ml_features``; the
home blood-pressure *level* is left out because it defines the outcome). The data are
synthetic (``hyperhealth.synth``), the outcome is a recorded condition rather than a future
event, and the generator ties hypertension to age and to home blood-pressure monitoring - the
model learns the generator. It demonstrates the pipeline (features -> calibrated model ->
per-person explanations -> model card -> fairness audit); it is **not a clinical model** and
must not inform care.

**Model.** scikit-learn ``HistGradientBoostingClassifier`` (missing values handled natively),
wrapped in ``CalibratedClassifierCV(method="sigmoid", ensemble=False)``: the booster is fitted
once on all training data and a Platt sigmoid, fitted on cross-validated booster outputs, maps
its raw log-odds to a probability.

**Explanations.** SHAP values (``shap.TreeExplainer``, exact for trees) of the *uncalibrated
booster's raw log-odds* (``decision_function``): for each person
``base_value + sum(shap_values) == decision_function(x)`` (checked in the tests). The calibrated
probability is ``sigmoid(a * margin + b)`` of that same margin, a monotone function, so the SHAP
ranking and signs carry over to the probability but the values do not add up in probability
units.

The estimator follows the scikit-learn contract: keyword-only parameters stored unchanged by
``__init__``, learned state in attributes ending in ``_``, ``fit`` returns ``self``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from hyperhealth.errors import InputError
from hyperhealth.insights.risk._ml_features import FEATURE_NAMES

METHOD = "hyperhealth.risk.ml"
METHOD_VERSION = "1"
OUTCOME = "hypertension"


class OutcomeError(InputError, ValueError):
    """The outcome cannot be learned (not exactly two classes); also a ``ValueError``, as the
    scikit-learn estimator contract expects."""


class RiskModel(ClassifierMixin, BaseEstimator):
    """Calibrated gradient boosting with SHAP explanations of its raw log-odds.

    >>> RiskModel(max_iter=10).get_params()["max_iter"]
    10
    """

    def __init__(self, *, max_iter: int = 150, learning_rate: float = 0.05,
                 max_leaf_nodes: int = 15, min_samples_leaf: int = 5,
                 l2_regularization: float = 1.0, calibration_cv: int = 3,
                 random_state: int | None = 0) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.calibration_cv = calibration_cv
        self.random_state = random_state

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False  # one outcome: with or without
        tags.input_tags.allow_nan = True  # a missing stream is a missing feature
        return tags

    def fit(self, X: Any, y: Any) -> RiskModel:
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan", reset=True)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            raise OutcomeError("Only binary classification is supported: the outcome has "
                               f"{len(self.classes_)} class(es); two are needed", field="y",
                               hint="train on people with and without the outcome")
        booster = HistGradientBoostingClassifier(
            max_iter=self.max_iter, learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes, min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization, early_stopping=False,
            random_state=self.random_state)
        cv = StratifiedKFold(n_splits=self.calibration_cv, shuffle=True,
                             random_state=self.random_state)
        # cohorts are small: OpenMP threads only add overhead (and thrash on a busy machine)
        with threadpool_limits(limits=1, user_api="openmp"):
            self.calibrated_ = CalibratedClassifierCV(booster, method="sigmoid", cv=cv,
                                                      ensemble=False).fit(X, y)
        self.booster_ = self.calibrated_.calibrated_classifiers_[0].estimator
        self.n_iter_ = self.booster_.n_iter_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, ensure_all_finite="allow-nan", reset=False)
        with threadpool_limits(limits=1, user_api="openmp"):
            return np.asarray(self.calibrated_.predict_proba(X), dtype=np.float64)

    def predict(self, X: Any) -> np.ndarray:
        p = self.predict_proba(X)[:, 1]
        return np.asarray(self.classes_[(p >= 0.5).astype(int)])

    def decision_function(self, X: Any) -> np.ndarray:
        """The booster's raw log-odds (before calibration): what the SHAP values add up to."""
        check_is_fitted(self)
        X = validate_data(self, X, ensure_all_finite="allow-nan", reset=False)
        with threadpool_limits(limits=1, user_api="openmp"):
            return np.asarray(self.booster_.decision_function(X), dtype=np.float64)

    def explain(self, X: Any) -> Explanations:
        """Per-row SHAP values of the raw log-odds, with the base value and both outputs."""
        import shap

        check_is_fitted(self)
        names = list(getattr(self, "feature_names_in_", [f"x{i}" for i in
                                                           range(self.n_features_in_)]))
        Xv = validate_data(self, X, ensure_all_finite="allow-nan", reset=False)
        explainer = shap.TreeExplainer(self.booster_)
        values = np.asarray(explainer.shap_values(Xv), dtype=np.float64)
        base = float(np.ravel(explainer.expected_value)[0])
        return Explanations(tuple(names), values, base, self.decision_function(X),
                            self.predict_proba(X)[:, 1], np.asarray(Xv, dtype=np.float64))


@dataclass(frozen=True, slots=True, eq=False)
class Explanations:
    """SHAP values (rows x features) of the raw log-odds; ``base + values.sum(1) == margin``."""

    features: tuple[str, ...]
    values: np.ndarray
    base_value: float
    margin: np.ndarray  # booster raw log-odds (uncalibrated)
    probability: np.ndarray  # calibrated probability of the outcome
    inputs: np.ndarray

    def top(self, row: int, k: int = 5) -> list[dict[str, Any]]:
        """The ``k`` features that moved this row's log-odds most, with their values."""
        order = np.argsort(-np.abs(self.values[row]))[:k]
        return [{"feature": self.features[j], "value": _num(self.inputs[row, j]),
                 "shap_log_odds": float(self.values[row, j])} for j in order]


def _num(x: float) -> float | None:
    return None if not np.isfinite(x) else float(x)


@dataclass(frozen=True, slots=True, eq=False)
class Evaluation:
    """Out-of-fold predictions on the training cohort and overall metrics."""

    y: np.ndarray
    proba: np.ndarray
    folds: int
    metrics: dict[str, float]
    auc_ci95: tuple[float, float]
    person_ids: tuple[str, ...] = field(default=())


def metrics(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """AUC, Brier score, calibration-in-the-large, accuracy, sensitivity and FNR."""
    from sklearn.metrics import brier_score_loss, roc_auc_score

    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=np.float64)
    pred = p >= threshold
    pos = y == 1
    out = {"n": float(len(y)), "prevalence": float(pos.mean()) if len(y) else np.nan,
           "auc": float(roc_auc_score(y, p)) if 0 < pos.sum() < len(y) else np.nan,
           "brier": float(brier_score_loss(y, p, labels=[0, 1])) if len(y) else np.nan,
           "calibration_in_the_large": float(p.mean() - y.mean()) if len(y) else np.nan,
           "accuracy": float((pred == pos).mean()) if len(y) else np.nan,
           "fnr": float((~pred[pos]).mean()) if pos.any() else np.nan}
    out["sensitivity"] = 1.0 - out["fnr"] if np.isfinite(out["fnr"]) else np.nan
    return out


def evaluate(model: RiskModel, X: pd.DataFrame, y: np.ndarray, *, folds: int = 5,
             seed: int = 0, n_boot: int = 200) -> Evaluation:
    """Out-of-fold calibrated probabilities (``folds``-fold, stratified) and their metrics,
    with a bootstrap 95 % interval for the AUC."""
    from sklearn.base import clone
    from sklearn.model_selection import cross_val_predict

    y = np.asarray(y, dtype=int)
    n_pos = int(y.sum())
    k = min(folds, n_pos, len(y) - n_pos)
    if k < 2:
        raise InputError(f"cannot cross-validate: {n_pos} with and {len(y) - n_pos} without "
                         "the outcome", hint="train on a larger cohort")
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    p = cross_val_predict(clone(model), X, y, cv=cv, method="predict_proba")[:, 1]
    p = np.asarray(p, dtype=np.float64)
    return Evaluation(y, p, k, metrics(y, p), _auc_ci(y, p, n_boot, seed),
                      tuple(str(i) for i in X.index))


def _auc_ci(y: np.ndarray, p: np.ndarray, n_boot: int, seed: int) -> tuple[float, float]:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n_boot):
        i = rng.integers(0, len(y), len(y))
        if 0 < y[i].sum() < len(i):
            vals.append(roc_auc_score(y[i], p[i]))
    if not vals:
        return (np.nan, np.nan)
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


def split(table: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Model inputs (the feature columns, in order) and the outcome."""
    missing = [c for c in (*FEATURE_NAMES, OUTCOME) if c not in table.columns]
    if missing:
        raise InputError(f"feature table lacks {', '.join(missing)}",
                         hint="build it with feature_table()")
    return table[list(FEATURE_NAMES)].astype(np.float64), table[OUTCOME].to_numpy(dtype=int)


def training_table(*, persons: int = 64, days: int = 4, seed: int = 20240701) -> pd.DataFrame:
    """Generate a synthetic cohort in memory (not stored) and build its feature table."""
    from hyperhealth.insights.risk._ml_features import feature_table, frames_from_cohort
    from hyperhealth.synth import generate_cohort

    cohort = generate_cohort(persons=persons, days=days, seed=seed)
    table = feature_table(frames_from_cohort(cohort, days=days))
    table.attrs.update({"source": "hyperhealth.synth.generate_cohort (in memory, not stored)",
                        "persons": persons, "days": days, "seed": seed})
    return table


def store_table(store: Any, person_ids: Sequence[str] | None = None, *,
                days: int = 14) -> pd.DataFrame:
    """The feature table of persons in a store (everyone by default)."""
    from hyperhealth.insights.risk._ml_features import feature_table, frames_from_store

    ids = list(person_ids) if person_ids is not None else [p.id for p in store.persons()]
    table = feature_table([frames_from_store(store, pid, days=days) for pid in ids])
    table.attrs.update({"source": f"store {getattr(store, 'safe_url', '')}", "days": days,
                        "persons": len(ids)})
    return table


def provenance(table: pd.DataFrame, row: str) -> dict[str, Any]:
    """Inputs used and missing for one person of a feature table."""
    x = table.loc[row, list(FEATURE_NAMES)]
    return {"method": METHOD, "version": METHOD_VERSION,
            "inputs_used": [k for k, v in x.items() if pd.notna(v)],
            "inputs_missing": [k for k, v in x.items() if pd.isna(v)],
            "data": dict(table.attrs),
            "note": "demonstration model trained on synthetic data; not a clinical model",
            "citation": ["Lundberg SM, Lee SI, A unified approach to interpreting model "
                         "predictions, NeurIPS 2017 (SHAP)",
                         "Lundberg SM et al., From local explanations to global understanding "
                         "with explainable AI for trees, Nat Mach Intell 2020;2:56-67, "
                         "doi:10.1038/s42256-019-0138-9 (TreeExplainer)",
                         "Platt JC, Probabilistic outputs for support vector machines, "
                         "Advances in Large Margin Classifiers 1999 (sigmoid calibration)"]}
