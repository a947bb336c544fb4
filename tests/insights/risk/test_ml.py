"""The demonstration ML risk model: estimator contract, SHAP additivity, features from the
store, model card, and the ``risk audit/train/explain`` commands on a demo-like store."""

from __future__ import annotations

import inspect
import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from typer.testing import CliRunner

from hyperhealth.insights.risk._ml import RiskModel, evaluate, metrics, split, store_table
from hyperhealth.insights.risk._ml_features import (
    FEATURE_NAMES,
    feature_table,
    frames_from_cohort,
)
from hyperhealth.insights.risk._ml_run import Trained, load, save, train
from hyperhealth.insights.risk._model_card import card_markdown
from hyperhealth.store import Store
from hyperhealth.synth import generate_cohort

TRAIN_PERSONS, TRAIN_DAYS = 24, 3


@pytest.fixture(scope="module")
def trained() -> Trained:
    return train(persons=TRAIN_PERSONS, days=TRAIN_DAYS, seed=5, mitigate="sex")


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """What `hyperhealth demo` writes (8 persons, seed 7), with fewer days to stay quick."""
    folder = tmp_path_factory.mktemp("ml_store")
    store = Store(f"sqlite:///{folder / 'hh.sqlite'}")
    generate_cohort(persons=8, days=3, seed=7).write(store)
    return store


# -- the scikit-learn contract ------------------------------------------------------------------
def test_estimator_contract(trained: Trained) -> None:
    sig = inspect.signature(RiskModel.__init__)
    params = [p for n, p in sig.parameters.items() if n != "self"]
    assert params and all(p.kind is p.KEYWORD_ONLY for p in params)
    est = RiskModel(max_iter=20, random_state=3)
    # __init__ stores parameters unchanged; get/set_params and clone round-trip
    assert est.get_params()["max_iter"] == 20
    assert clone(est).get_params() == est.get_params()
    assert est.set_params(learning_rate=0.1) is est and est.learning_rate == 0.1
    assert not [a for a in vars(est) if a.endswith("_")]  # nothing learned yet
    X, y = split(trained.table)
    with pytest.raises(NotFittedError):
        est.predict_proba(X)
    assert est.fit(X, y) is est
    learned = {a for a in vars(est) if a.endswith("_")}
    assert {"classes_", "calibrated_", "booster_", "n_features_in_",
            "feature_names_in_"} <= learned
    assert list(est.feature_names_in_) == list(FEATURE_NAMES)
    p = est.predict_proba(X)
    assert p.shape == (len(X), 2) and np.allclose(p.sum(axis=1), 1.0)
    assert set(est.predict(X)) <= {0, 1}
    again = clone(est).fit(X, y).predict_proba(X)
    assert np.array_equal(p, again)  # deterministic for a given random_state
    with pytest.raises(ValueError):
        est.predict_proba(X.iloc[:, :5])  # wrong number of features


def test_sklearn_estimator_checks() -> None:
    """scikit-learn's own estimator checks (binary classifier that accepts NaN)."""
    from sklearn.utils.estimator_checks import check_estimator

    results = check_estimator(RiskModel(max_iter=10, calibration_cv=2), on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results
              if r["status"] == "failed"]
    assert not failed, failed
    assert sum(r["status"] == "passed" for r in results) >= 50


def test_one_class_is_refused(trained: Trained) -> None:
    X, _ = split(trained.table)
    from hyperhealth.errors import InputError

    with pytest.raises(InputError, match="two are needed"):
        RiskModel().fit(X, np.zeros(len(X), dtype=int))


# -- SHAP ---------------------------------------------------------------------------------------
def test_shap_values_sum_to_the_booster_log_odds(trained: Trained) -> None:
    X, _ = split(trained.table)
    e = trained.model.explain(X)
    assert e.values.shape == (len(X), len(FEATURE_NAMES))
    np.testing.assert_allclose(e.base_value + e.values.sum(axis=1), e.margin, atol=1e-9)
    np.testing.assert_allclose(e.margin, trained.model.decision_function(X))
    np.testing.assert_allclose(e.probability, trained.model.predict_proba(X)[:, 1])
    # the calibrated probability is a monotone (Platt) function of the explained log-odds
    order = np.argsort(e.margin)
    assert np.all(np.diff(e.probability[order]) >= -1e-12)
    assert np.abs(e.values).sum() > 0
    top = e.top(0, 3)
    assert len(top) == 3 and abs(top[0]["shap_log_odds"]) >= abs(top[2]["shap_log_odds"])


# -- features -------------------------------------------------------------------------------------
def test_store_features_equal_cohort_features(tmp_path: Path) -> None:
    cohort = generate_cohort(persons=4, days=2, seed=9)
    store = Store(f"sqlite:///{tmp_path / 'f.sqlite'}")
    cohort.write(store)
    mem = feature_table(frames_from_cohort(cohort, days=2))
    end = cohort.start + timedelta(days=2)
    db = store_table(store, [p.id for p in cohort.persons], days=2)
    # the store window ends at the newest reading; the cohort's at its end: compare the
    # store with an explicit window too
    from hyperhealth.insights.risk._ml_features import frames_from_store

    db_end = feature_table([frames_from_store(store, p.id, days=2, end=end)
                            for p in cohort.persons])
    pd.testing.assert_frame_equal(mem, db_end, check_exact=False, rtol=1e-9)
    assert (db["hypertension"] == mem["hypertension"]).all()
    assert mem["hypertension"].sum() >= 1
    # people without CGM or home BP have those features missing, not zero
    no_cgm = mem["glucose_tir"].isna()
    assert no_cgm.any() and (~no_cgm).any()
    store.close()


def test_metrics_by_hand() -> None:
    y = np.array([0, 0, 1, 1, 1])
    p = np.array([0.1, 0.6, 0.4, 0.8, 0.9])
    m = metrics(y, p)
    assert m["auc"] == pytest.approx(5 / 6)  # 5 of 6 (pos, neg) pairs ordered
    assert m["fnr"] == pytest.approx(1 / 3) and m["accuracy"] == pytest.approx(3 / 5)
    assert m["brier"] == pytest.approx(np.mean((p - y) ** 2))
    assert m["calibration_in_the_large"] == pytest.approx(p.mean() - 0.6)


# -- model card -----------------------------------------------------------------------------------
def test_model_card(trained: Trained, tmp_path: Path) -> None:
    paths = save(trained, tmp_path)
    card = json.loads(paths["card_json"].read_text())
    assert "not a clinical model" in card["intended_use"] and card["data"]["synthetic"]
    assert card["data"]["persons"] == TRAIN_PERSONS
    assert card["metrics"]["auc"] == pytest.approx(trained.evaluation.metrics["auc"])
    assert [a["attribute"] for a in card["subgroups"]["attributes"]] == [
        "sex", "age_band", "race_ethnicity"]
    md = paths["card_md"].read_text()
    assert md == card_markdown(card) and "## Subgroup performance" in md
    model, loaded = load(tmp_path)
    X, _ = split(trained.table)
    np.testing.assert_array_equal(model.predict_proba(X), trained.model.predict_proba(X))
    assert loaded["model"]["params"] == card["model"]["params"]


def test_out_of_fold_evaluation_is_not_in_sample(trained: Trained) -> None:
    X, y = split(trained.table)
    ev = evaluate(RiskModel(), X, y, seed=5)
    in_sample = trained.model.predict_proba(X)[:, 1]
    assert ev.folds >= 2 and not np.allclose(ev.proba, in_sample)
    assert ev.auc_ci95[0] <= ev.metrics["auc"] <= ev.auc_ci95[1]


# -- the commands on a demo-like store ------------------------------------------------------------
def _app(tmp: Path) -> typer.Typer:
    from hyperhealth.config import Settings
    from hyperhealth.delivery.cli import _app as cli
    from hyperhealth.delivery.cli._audit_cmd import audit, explain
    from hyperhealth.delivery.cli._audit_cmd import train as train_cmd

    cli._state.settings = Settings.load(data_dir=tmp)
    app = typer.Typer()
    app.command("audit")(audit)
    app.command("train")(train_cmd)
    app.command("explain")(explain)
    return app


def test_cli_audit_and_explain_on_demo_store(trained: Trained, demo_store: Store,
                                             tmp_path: Path) -> None:
    # the CLI looks for the store and the model in the data dir
    import shutil

    db = Path(demo_store.url.removeprefix("sqlite:///"))
    shutil.copy(db, tmp_path / "hyperhealth.sqlite")
    save(trained, tmp_path / "risk_ml")
    app = _app(tmp_path)
    r = CliRunner().invoke(app, ["audit", "--days", "3"])
    assert r.exit_code == 0, r.output
    assert "not a clinical model" in r.stdout
    assert "persons in the store (8)" in r.stdout
    for attr in ("sex", "age_band", "race_ethnicity"):
        assert attr in r.stdout
    r = CliRunner().invoke(app, ["audit", "--days", "3", "--json"])
    doc = json.loads(r.stdout)
    assert len(doc["store_predictions"]) == 8
    assert doc["store"]["attributes"][0]["attribute"] == "sex"
    pid = doc["store_predictions"][0]["person"]
    r = CliRunner().invoke(app, ["explain", pid, "--days", "3", "--json"])
    assert r.exit_code == 0, r.output
    ex = json.loads(r.stdout)
    assert ex["shap_sum_check"] == pytest.approx(ex["log_odds"], abs=1e-9)
    assert ex["provenance"]["inputs_used"] and len(ex["top_features"]) == 6
