"""Fairness audit: per-group metrics equal direct computation, undefined metrics stay missing,
and the ThresholdOptimizer mitigation narrows the false-negative-rate gap at a stated cost."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from hyperhealth.errors import InputError
from hyperhealth.insights.risk._fairness import audit


def _data(n: int = 400, seed: int = 1) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Predictions that are worse (shifted down) for one sex: more false negatives there."""
    rng = np.random.default_rng(seed)
    sex = np.where(rng.random(n) < 0.5, "female", "male")
    age = rng.choice(["18-39", "40-59", "60+"], size=n)
    race = rng.choice(["A", "B", "race not recorded"], size=n)
    y = (rng.random(n) < 0.4).astype(int)
    logit = 2.0 * (y - 0.5) + rng.normal(0, 1, n) - np.where(sex == "female", 1.0, 0.0)
    p = 1 / (1 + np.exp(-logit))
    return y, p, pd.DataFrame({"sex": sex, "age_band": age, "race_ethnicity": race})


def test_group_metrics_equal_direct_computation() -> None:
    y, p, g = _data()
    rep = audit(y, p, g, population="constructed")
    by_sex = rep.attributes[0].by_group
    for grp in ("female", "male"):
        sel = g["sex"].to_numpy() == grp
        assert by_sex.loc[grp, "n"] == sel.sum()
        assert by_sex.loc[grp, "auc"] == pytest.approx(roc_auc_score(y[sel], p[sel]))
        assert by_sex.loc[grp, "brier"] == pytest.approx(np.mean((p[sel] - y[sel]) ** 2))
        assert by_sex.loc[grp, "calibration_in_the_large"] == pytest.approx(
            p[sel].mean() - y[sel].mean())
        pos = sel & (y == 1)
        assert by_sex.loc[grp, "fnr"] == pytest.approx(np.mean(p[pos] < 0.5))
    # the constructed disadvantage shows up as a false-negative-rate gap
    d = rep.attributes[0].disparity["fnr"]
    assert d["difference"] == pytest.approx(by_sex["fnr"].max() - by_sex["fnr"].min())
    assert by_sex.loc["female", "fnr"] > by_sex.loc["male", "fnr"] + 0.15
    assert [a.attribute for a in rep.attributes] == ["sex", "age_band", "race_ethnicity"]


def test_undefined_metrics_are_missing_not_guessed() -> None:
    y = np.array([0, 0, 1, 1, 0, 0])
    p = np.array([0.1, 0.7, 0.8, 0.3, 0.2, 0.4])
    g = pd.DataFrame({"sex": ["f", "f", "f", "f", "m", "m"],
                      "age_band": ["x"] * 6, "race_ethnicity": ["r"] * 6})
    rep = audit(y, p, g, population="tiny")
    d = rep.to_dict()
    male = next(x for x in d["attributes"][0]["groups"] if x["group"] == "m")
    assert male["auc"] is None and male["fnr"] is None and male["n"] == 2
    assert d["attributes"][0]["disparity"]["auc"]["difference"] is None
    assert rep.notes and "no AUC" in rep.notes[0]


def test_probabilities_any_dtype() -> None:
    y, p, g = _data(100)
    a = audit(list(y), list(np.float32(p)), g, population="float32 input")
    b = audit(y, p.astype(np.float64), g, population="float64 input")
    assert a.attributes[0].by_group["auc"].tolist() == pytest.approx(
        b.attributes[0].by_group["auc"].tolist(), rel=1e-6)


def test_mitigation_narrows_fnr_gap_with_reported_cost() -> None:
    y, p, g = _data(600, seed=4)
    rep = audit(y, p, g, population="constructed", mitigate="sex")
    m = rep.mitigation
    assert m is not None
    gap_before = abs(m.fnr_before["female"] - m.fnr_before["male"])
    gap_after = abs(m.fnr_after["female"] - m.fnr_after["male"])
    assert gap_after < gap_before / 2
    pred = (p >= 0.5).astype(int)
    assert m.accuracy_before == pytest.approx(np.mean(pred == y))
    assert m.accuracy_cost == pytest.approx(m.accuracy_before - m.accuracy_after)
    assert rep.to_dict()["mitigation"]["accuracy_cost"] == pytest.approx(m.accuracy_cost)


def test_bad_inputs() -> None:
    y, p, g = _data(50)
    with pytest.raises(InputError):
        audit(y[:10], p, g, population="x")
    with pytest.raises(InputError, match="no column"):
        audit(y, p, g, population="x", attributes=("income",))
    with pytest.raises(InputError, match="mitigate"):
        audit(np.zeros_like(y), p, g, population="x", mitigate="sex")
