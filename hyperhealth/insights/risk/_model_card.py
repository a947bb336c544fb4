"""Model card of the demonstration ML risk model, as JSON and as markdown.

Sections follow Mitchell M et al., Model cards for model reporting, FAT* 2019,
doi:10.1145/3287560.3287596: model details, intended use, data, metrics (with uncertainty),
subgroup performance, limitations and ethical considerations. Every number comes from the
training run that wrote the card.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hyperhealth.insights.risk._fairness import AuditReport
from hyperhealth.insights.risk._ml import METHOD, METHOD_VERSION, OUTCOME, Evaluation, RiskModel
from hyperhealth.insights.risk._ml_features import FEATURES, HYPERTENSION

INTENDED_USE = (
    "Demonstration of the hyperhealth pipeline - stream features, a calibrated gradient-"
    "boosting model, per-person SHAP explanations, a model card and a fairness audit - on "
    "SYNTHETIC data. It is not a clinical model: it has never seen real patients, and it must "
    "not be used to inform any decision about a person's health.")
LIMITATIONS = (
    "The training data come from hyperhealth's own synthetic cohort generator; the model "
    "learns that generator, not human physiology.",
    "The outcome is hypertension recorded in the person's conditions at the time of the data "
    "(a cross-sectional label), not a future event: it is detection, not prediction.",
    "In the generator, hypertension decides who measures blood pressure at home and shapes age; "
    "missing home-BP variability and age therefore carry much of the signal.",
    "Small cohorts give wide intervals; subgroup metrics on few people are unstable.",
)


def build_card(model: RiskModel, table: pd.DataFrame, evaluation: Evaluation,
               audit: AuditReport | None) -> dict[str, Any]:
    y = table[OUTCOME].to_numpy(dtype=int)
    m = evaluation.metrics
    feats = table[[f.name for f in FEATURES]]
    return {
        "model": {"name": "hyperhealth demonstration risk model", "method": METHOD,
                  "version": METHOD_VERSION,
                  "created": datetime.now(UTC).isoformat(timespec="seconds"),
                  "estimator": "sklearn HistGradientBoostingClassifier + "
                               "CalibratedClassifierCV(method='sigmoid', ensemble=False)",
                  "params": {k: _jsonable(v) for k, v in model.get_params().items()},
                  "explanations": "SHAP TreeExplainer values of the booster's raw log-odds; "
                                  "base value + sum of SHAP values = decision_function(x); the "
                                  "calibrated probability is a monotone sigmoid of that sum"},
        "intended_use": INTENDED_USE,
        "out_of_scope": ["any clinical or individual decision", "real patient data",
                         "comparison with validated clinical equations"],
        "data": {"source": table.attrs.get("source", ""),
                 "generator_seed": table.attrs.get("seed"),
                 "persons": len(table), "days_per_person": table.attrs.get("days"),
                 "synthetic": True,
                 "outcome": f"hypertension recorded (SNOMED CT {HYPERTENSION}, active)",
                 "outcome_prevalence": float(y.mean()) if len(y) else None,
                 "features": [{"name": f.name, "unit": f.unit, "description": f.description,
                               "missing_fraction": float(feats[f.name].isna().mean())}
                              for f in FEATURES],
                 "not_features": ["home blood-pressure level (defines the outcome)",
                                  "race and ethnicity (used only in the audit)"]},
        "metrics": {"evaluation": f"{evaluation.folds}-fold stratified cross-validation, "
                                  "out-of-fold calibrated probabilities, threshold 0.5",
                    **{k: _jsonable(v) for k, v in m.items()},
                    "auc_ci95_bootstrap": [_jsonable(x) for x in evaluation.auc_ci95]},
        "subgroups": audit.to_dict() if audit is not None else None,
        "limitations": list(LIMITATIONS),
        "ethical_considerations": (
            "Sex and age are model inputs; race and ethnicity are not. Subgroup metrics are "
            "reported so that differences are visible; on synthetic data they describe the "
            "generator's groups, not real populations."),
        "references": ["Mitchell M et al., Model cards for model reporting, FAT* 2019, "
                       "doi:10.1145/3287560.3287596"],
    }


def _jsonable(v: Any) -> Any:
    if isinstance(v, float | np.floating):
        return None if not np.isfinite(v) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def card_markdown(card: dict[str, Any]) -> str:
    """The card as markdown (the same facts as the JSON)."""
    m, d = card["metrics"], card["data"]
    lines = [f"# Model card: {card['model']['name']}", "",
             f"**{card['intended_use']}**", "",
             "## Model", "",
             f"- {card['model']['estimator']} ({card['model']['method']} "
             f"v{card['model']['version']}, created {card['model']['created']})",
             f"- explanations: {card['model']['explanations']}", "",
             "## Data", "",
             f"- {d['source']}; {d['persons']} persons, {d['days_per_person']} days each; "
             f"seed {d['generator_seed']}; synthetic: {d['synthetic']}",
             f"- outcome: {d['outcome']}; prevalence {_f(d['outcome_prevalence'])}",
             "- not used as features: " + "; ".join(d["not_features"]), "",
             "| feature | unit | missing | description |", "|---|---|---|---|"]
    lines += [f"| {f['name']} | {f['unit']} | {100 * f['missing_fraction']:.0f} % | "
              f"{f['description']} |" for f in d["features"]]
    ci = m["auc_ci95_bootstrap"]
    lines += ["", "## Metrics", "", f"{m['evaluation']}.", "",
              f"- AUC {_f(m['auc'])} (95 % bootstrap CI {_f(ci[0])}-{_f(ci[1])})",
              f"- Brier score {_f(m['brier'])}; calibration-in-the-large "
              f"{_f(m['calibration_in_the_large'])}",
              f"- accuracy {_f(m['accuracy'])}; false-negative rate {_f(m['fnr'])}"]
    sub = card.get("subgroups")
    if sub:
        lines += ["", "## Subgroup performance", "", f"Population: {sub['population']}."]
        for a in sub["attributes"]:
            lines += ["", f"### {a['attribute']}", "",
                      "| group | n | prevalence | AUC | Brier | calib. in the large | FNR |",
                      "|---|---|---|---|---|---|---|"]
            lines += [f"| {g['group']} | {g['n']:.0f} | {_f(g['prevalence'])} | {_f(g['auc'])} "
                      f"| {_f(g['brier'])} | {_f(g['calibration_in_the_large'])} | "
                      f"{_f(g['fnr'])} |" for g in a["groups"]]
            dd = a["disparity"]
            lines.append("")
            lines.append("Largest gap between groups: " + "; ".join(
                f"{k} {_f(v['difference'])}" for k, v in dd.items()
                if v["difference"] is not None) + ".")
        mit = sub.get("mitigation")
        if mit:
            lines += ["", f"Mitigation ({mit['constraint']}, by {mit['attribute']}): accuracy "
                          f"{_f(mit['accuracy_before'])} -> {_f(mit['accuracy_after'])} "
                          f"(cost {_f(mit['accuracy_cost'])}); {mit['note']}."]
    lines += ["", "## Limitations", ""] + [f"- {x}" for x in card["limitations"]]
    lines += ["", "## Ethical considerations", "", card["ethical_considerations"], ""]
    return "\n".join(lines)


def _f(x: Any) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.3f}"


def write_card(card: dict[str, Any], folder: str | Path) -> tuple[Path, Path]:
    """Write ``model_card.json`` and ``model_card.md`` into ``folder``."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    j, md = out / "model_card.json", out / "model_card.md"
    j.write_text(json.dumps(card, indent=1, default=_jsonable) + "\n", encoding="utf-8")
    md.write_text(card_markdown(card), encoding="utf-8")
    return j, md
