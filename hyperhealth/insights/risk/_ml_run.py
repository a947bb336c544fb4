"""Train, save, load and audit the demonstration ML risk model (what the CLI runs).

Training generates a synthetic cohort in memory (``persons`` x ``days``, its own seed, never
written to the store), builds the feature table, estimates performance out of fold, audits the
out-of-fold predictions by sex, age band and race/ethnicity, fits the final model on everyone
and writes the model and its model card. Applying it to the persons in a store (for example the
``hyperhealth demo`` cohort) reads their features from the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hyperhealth.errors import InputError
from hyperhealth.insights.risk._fairness import AuditReport, audit
from hyperhealth.insights.risk._ml import (
    Evaluation,
    RiskModel,
    evaluate,
    split,
    store_table,
    training_table,
)
from hyperhealth.insights.risk._ml_features import GROUP_COLUMNS
from hyperhealth.insights.risk._model_card import build_card, write_card

MODEL_FILE = "model.joblib"


@dataclass(frozen=True, slots=True, eq=False)
class Trained:
    model: RiskModel
    table: pd.DataFrame
    evaluation: Evaluation
    audit: AuditReport
    card: dict[str, Any]


def train(*, persons: int = 64, days: int = 4, seed: int = 20240701,
          mitigate: str | None = None, table: pd.DataFrame | None = None) -> Trained:
    """Train on an in-memory synthetic cohort (or on ``table``) and audit out of fold."""
    tab = table if table is not None else training_table(persons=persons, days=days, seed=seed)
    X, y = split(tab)
    ev = evaluate(RiskModel(), X, y, seed=seed % (2**31))
    rep = audit(ev.y, ev.proba, tab[list(GROUP_COLUMNS)],
                population=f"training cohort, out-of-fold ({len(tab)} synthetic persons)",
                mitigate=mitigate)
    model = RiskModel().fit(X, y)
    return Trained(model, tab, ev, rep, build_card(model, tab, ev, rep))


def save(t: Trained, folder: str | Path) -> dict[str, Path]:
    import joblib

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump({"model": t.model, "attrs": dict(t.table.attrs)}, out / MODEL_FILE)
    t.table.to_csv(out / "training_features.csv")
    j, md = write_card(t.card, out)
    return {"model": out / MODEL_FILE, "card_json": j, "card_md": md,
            "features": out / "training_features.csv"}


def load(folder: str | Path) -> tuple[RiskModel, dict[str, Any]]:
    """The saved model and its model card (JSON). The model file is a joblib pickle: load only
    files this program wrote (the data directory is the person's own)."""
    import json

    import joblib

    p = Path(folder) / MODEL_FILE
    if not p.is_file():
        raise InputError("no trained model here", where=str(p),
                         hint="run `hyperhealth risk train` first")
    obj = joblib.load(p)
    card = json.loads((Path(folder) / "model_card.json").read_text(encoding="utf-8"))
    return obj["model"], card


@dataclass(frozen=True, slots=True, eq=False)
class StoreAudit:
    table: pd.DataFrame
    proba: np.ndarray
    report: AuditReport | None
    reason: str  # why no report, if none


def audit_store(model: RiskModel, store: Any, *, days: int = 14,
                mitigate: str | None = None) -> StoreAudit:
    """Predict for every person in the store and audit where outcomes allow it."""
    tab = store_table(store, days=days)
    if not len(tab):
        return StoreAudit(tab, np.zeros(0), None, "the store has no persons")
    X, y = split(tab)
    p = model.predict_proba(X)[:, 1]
    if y.min() == y.max():
        return StoreAudit(tab, p, None, "everyone in the store has the same outcome")
    try:
        rep = audit(y, p, tab[list(GROUP_COLUMNS)],
                    population=f"persons in the store ({len(tab)})", mitigate=mitigate)
    except InputError as err:  # e.g. mitigation impossible on a tiny cohort
        rep = audit(y, p, tab[list(GROUP_COLUMNS)],
                    population=f"persons in the store ({len(tab)})")
        rep = AuditReport(rep.population, rep.threshold, rep.attributes, None,
                          (*rep.notes, f"no mitigation: {err}"))
    return StoreAudit(tab, p, rep, "")
