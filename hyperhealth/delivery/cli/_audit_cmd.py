"""``hyperhealth risk audit|train|explain``: the demonstration ML risk model.

Register with ``risk_app.command("audit")(audit)``, ``risk_app.command("train")(train)`` and
``risk_app.command("explain")(explain)``. The model is trained on a synthetic cohort generated
in memory (never stored) and saved with its model card under ``DATA_DIR/risk_ml``; ``audit``
trains first if no model is saved. It is a demonstration of the pipeline on synthetic data, not
a clinical model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
Persons = Annotated[int, typer.Option("--train-persons",
                                      help="Persons in the in-memory training cohort")]
Days = Annotated[int, typer.Option("--train-days", help="Days per training person")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of the training cohort")]
Mitigate = Annotated[str | None, typer.Option(
    "--mitigate", help="Fit per-group thresholds for false-negative-rate parity by this "
                       "attribute (sex, age_band or race_ethnicity) and report the accuracy "
                       "cost")]
_BANNER = ("Demonstration model trained on SYNTHETIC data - not a clinical model; it supports "
           "no decision about anyone's health.")


def _cli() -> Any:
    from hyperhealth.delivery.cli import _app

    return _app


def _folder() -> Path:
    return Path(_cli()._state.settings.data_dir) / "risk_ml"


def _train_and_save(persons: int, days: int, seed: int, mitigate: str | None,
                    quiet: bool) -> Any:
    from hyperhealth.insights.risk._ml_run import save, train

    cli = _cli()
    if quiet:
        t = train(persons=persons, days=days, seed=seed, mitigate=mitigate)
    else:
        with cli.console.status(f"generating {persons} synthetic persons x {days} days in "
                                "memory and training ..."):
            t = train(persons=persons, days=days, seed=seed, mitigate=mitigate)
    paths = save(t, _folder())
    return t, paths


def train(persons: Persons = 64, days: Days = 4, seed: Seed = 20240701,
          mitigate: Mitigate = None, as_json: Json = False) -> None:
    """Train the demonstration model on an in-memory synthetic cohort; write the model card."""
    from hyperhealth.errors import HyperhealthError

    cli = _cli()
    try:
        t, paths = _train_and_save(persons, days, seed, mitigate, as_json)
    except HyperhealthError as err:
        cli.fail(str(err), 2)
        return
    if as_json:
        cli.emit_json({"model_card": t.card, "files": {k: str(v) for k, v in paths.items()}})
        return
    _print_metrics(cli.out, t.card)
    _print_audit(cli.out, t.audit.to_dict())
    cli.out.print(f"model and card: {escape(str(paths['card_md'].parent))}")
    cli.out.print(f"[bold]{_BANNER}[/]")


def audit(persons: Persons = 64, days: Days = 4, seed: Seed = 20240701,
          mitigate: Mitigate = None,
          retrain: Annotated[bool, typer.Option(
              "--retrain", help="Train again even if a model is saved")] = False,
          window: Annotated[int, typer.Option(
              "--days", help="Days of each stored person's data to use")] = 14,
          as_json: Json = False) -> None:
    """Fairness audit by sex, age band and race/ethnicity: AUC, calibration, false-negative
    rate per group, on the training cohort (out of fold) and on the persons in the store."""
    from hyperhealth.errors import HyperhealthError
    from hyperhealth.insights.risk._ml_run import audit_store, load

    cli = _cli()
    try:
        if retrain or not (_folder() / "model.joblib").is_file():
            t, _ = _train_and_save(persons, days, seed, mitigate, as_json)
            model, card = t.model, t.card
        else:
            model, card = load(_folder())
        with cli._store() as store:
            sa = audit_store(model, store, days=window, mitigate=mitigate)
    except HyperhealthError as err:
        cli.fail(str(err), 2)
        return
    store_doc = sa.report.to_dict() if sa.report is not None else None
    if as_json:
        cli.emit_json({"note": _BANNER, "training": card.get("subgroups"),
                       "training_metrics": card["metrics"], "store": store_doc,
                       "store_reason": sa.reason,
                       "store_predictions": [
                           {"person": pid, "probability": float(p), "outcome": int(o)}
                           for pid, p, o in zip(sa.table.index, sa.proba,
                                                sa.table["hypertension"], strict=True)]})
        return
    cli.out.print(f"[bold]{_BANNER}[/]")
    _print_metrics(cli.out, card)
    if card.get("subgroups"):
        _print_audit(cli.out, card["subgroups"])
    if store_doc is not None:
        _print_audit(cli.out, store_doc)
    else:
        cli.out.print(f"store: no audit ({escape(sa.reason)})")


def explain(
    person: Annotated[str, typer.Argument(help="Person id (see `hyperhealth persons`)")],
    top: Annotated[int, typer.Option(help="How many features to show")] = 6,
    window: Annotated[int, typer.Option("--days", help="Days of data to use")] = 14,
    as_json: Json = False,
) -> None:
    """The model's probability for one person and the features that moved it (SHAP)."""
    from hyperhealth.errors import HyperhealthError
    from hyperhealth.insights.risk._ml import provenance, split, store_table
    from hyperhealth.insights.risk._ml_run import load

    cli = _cli()
    try:
        model, _card = load(_folder())
        with cli._store() as store:
            tab = store_table(store, [person], days=window)
        X, _ = split(tab)
        e = model.explain(X)
    except HyperhealthError as err:
        cli.fail(str(err), 2)
        return
    doc: dict[str, Any] = {"person": person, "probability": float(e.probability[0]),
           "log_odds": float(e.margin[0]), "base_log_odds": e.base_value,
           "shap_sum_check": float(e.base_value + e.values[0].sum()),
           "top_features": e.top(0, top), "provenance": provenance(tab, person),
           "note": _BANNER}
    if as_json:
        cli.emit_json(doc)
        return
    cli.out.print(f"[bold]{escape(person)}[/]: modelled probability of recorded hypertension "
                  f"{100 * doc['probability']:.0f} % (log-odds {doc['log_odds']:.2f} = base "
                  f"{e.base_value:.2f} + feature contributions)")
    t = Table(title="what moved the log-odds (SHAP)")
    for c in ("feature", "value", "contribution"):
        t.add_column(c, justify="left" if c == "feature" else "right")
    for f in doc["top_features"]:
        v = "missing" if f["value"] is None else f"{f['value']:.3g}"
        t.add_row(f["feature"], v, f"{f['shap_log_odds']:+.2f}")
    cli.out.print(t)
    cli.out.print(f"[dim]{_BANNER}[/]")


def _f(x: Any) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def _print_metrics(out: Any, card: dict[str, Any]) -> None:
    m = card["metrics"]
    ci = m["auc_ci95_bootstrap"]
    out.print(f"training cohort ({card['data']['persons']} synthetic persons, "
              f"{m['evaluation']}): AUC {_f(m['auc'])} (95 % CI {_f(ci[0])}-{_f(ci[1])}), "
              f"Brier {_f(m['brier'])}, calibration-in-the-large "
              f"{_f(m['calibration_in_the_large'])}, FNR {_f(m['fnr'])}")


def _print_audit(out: Any, doc: dict[str, Any]) -> None:
    out.print(f"\n[bold]audit: {escape(doc['population'])}[/] (threshold {doc['threshold']})")
    for a in doc["attributes"]:
        t = Table(title=a["attribute"])
        for c in ("group", "n", "prevalence", "AUC", "Brier", "calib.", "FNR"):
            t.add_column(c, justify="left" if c == "group" else "right")
        for g in a["groups"]:
            t.add_row(escape(g["group"]), f"{g['n']:.0f}", _f(g["prevalence"]), _f(g["auc"]),
                      _f(g["brier"]), _f(g["calibration_in_the_large"]), _f(g["fnr"]))
        out.print(t)
        gaps = [f"{k} {_f(v['difference'])}" for k, v in a["disparity"].items()
                if v["difference"] is not None]
        out.print("largest gap between groups: " + ("; ".join(gaps) or "n/a"))
    mit = doc.get("mitigation")
    if mit:
        out.print(f"mitigation by {mit['attribute']} ({mit['constraint']}): accuracy "
                  f"{_f(mit['accuracy_before'])} -> {_f(mit['accuracy_after'])} (cost "
                  f"{_f(mit['accuracy_cost'])}); FNR before {mit['fnr_before']} after "
                  f"{mit['fnr_after']}")
    for n in doc.get("notes", []):
        out.print(f"[yellow]note:[/] {escape(n)}")
