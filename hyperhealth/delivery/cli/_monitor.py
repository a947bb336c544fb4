"""``hyperhealth monitor``: run the detectors over stored data, list alerts, score detection."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

app = typer.Typer(help="Continuous monitoring: detectors, alerts and their evaluation.",
                  no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


@app.command()
def replay(
    person: Annotated[list[str] | None, typer.Option(help="Only these persons")] = None,
    reset: Annotated[bool, typer.Option(
        help="Forget saved detector state and alerts first (replay from scratch)")] = False,
    config: Annotated[Path | None, typer.Option(
        help="Monitoring config (TOML, [rules.<name>] tables)")] = None,
    as_json: Json = False,
) -> None:
    """Run every enabled detector over stored readings beyond the saved state."""
    from hyperhealth.actions.alerts import RuleConfig
    from hyperhealth.delivery.cli._app import _store, emit_json, out
    from hyperhealth.engine import Engine

    with _store() as store:
        engine = Engine(store, RuleConfig.from_file(config))
        if reset:
            engine.reset(person)
        t0 = time.perf_counter()
        stats = engine.replay(person).to_dict()
        stats["seconds"] = round(time.perf_counter() - t0, 2)
    if as_json:
        emit_json(stats)
        return
    a = stats["alerts"]
    out.print(f"processed {stats['readings']:,} readings in {stats['seconds']} s "
              f"({stats['late']:,} late or duplicate); alerts opened {a['opened']}, "
              f"resolved {a['resolved']}, over budget {a['suppressed']}")
    if stats["rule_failures"]:
        out.print(f"[red]rule failures:[/] {escape(str(stats['rule_failures']))}")


@app.command("alerts")
def list_alerts(
    person: Annotated[str | None, typer.Option(help="Only this person")] = None,
    status: Annotated[list[str] | None, typer.Option(
        help="open, acknowledged, resolved, suppressed [default: open and acknowledged]")] = None,
    min_level: Annotated[str, typer.Option(help="info, warn or urgent")] = "info",
    limit: Annotated[int, typer.Option(help="At most this many")] = 50,
    as_json: Json = False,
) -> None:
    """Alerts, most urgent and newest first."""
    from hyperhealth.actions.alerts import AlertBook
    from hyperhealth.actions.levels import Level
    from hyperhealth.delivery.cli._app import _store, emit_json, out

    with _store() as store:
        alerts = AlertBook(store).find(person, status=status, min_level=Level.parse(min_level),
                                       limit=limit)
    if as_json:
        emit_json([a.to_dict() for a in alerts])
        return
    table = Table("id", "level", "status", "person", "when (UTC)", "alert", box=None)
    colour = {"urgent": "bold red", "warn": "yellow", "info": "cyan"}
    for a in alerts:
        table.add_row(str(a.id), f"[{colour[a.level.label]}]{a.level.label}[/]", a.status,
                      a.person_id, a.opened.strftime("%Y-%m-%d %H:%M"), escape(a.title))
    out.print(table if alerts else "no alerts")


@app.command()
def evaluate(
    persons: Annotated[int, typer.Option(help="People in the generated cohort")] = 30,
    days: Annotated[int, typer.Option(help="Days per person")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed")] = 11,
    ground_truth: Annotated[Path | None, typer.Option(
        help="Score the current store against this ground-truth file (from `demo`) instead of "
             "generating a cohort")] = None,
    as_json: Json = False,
) -> None:
    """Score the detectors on the synthetic cohort's injected events."""
    from hyperhealth.delivery.cli._app import _store, console, emit_json, fail
    from hyperhealth.engine import Engine
    from hyperhealth.engine._evaluate import evaluate as score
    from hyperhealth.store import Store
    from hyperhealth.synth import generate_cohort
    from hyperhealth.synth._truth import load_ground_truth

    if ground_truth is not None:
        events = load_ground_truth(ground_truth)
        with _store() as store:
            spans = [s for p in store.persons() for s in store.streams(p.id)]
            if not spans:
                fail("the store holds no readings to evaluate")
            days_f = (max(s.last for s in spans) - min(s.first for s in spans)).total_seconds() \
                / 86400
            engine = Engine(store)
            engine.reset()
            engine.replay()
            result = score(store, events, days=days_f)
    else:
        with tempfile.TemporaryDirectory() as tmp, \
                console.status(f"generating {persons} persons x {days} days ..."):
            store = Store(f"sqlite:///{Path(tmp) / 'eval.sqlite'}")
            cohort = generate_cohort(persons=persons, days=days, seed=seed)
            cohort.write(store)
            t0 = time.perf_counter()
            stats = Engine(store).replay()
            result = score(store, cohort.ground_truth, days=days)
            result["replay"] = {"readings": stats.readings,
                                "seconds": round(time.perf_counter() - t0, 2)}
            store.close()
    result["seed"] = seed
    if as_json:
        emit_json(result)
    else:
        _print(result)


def _print(r: dict[str, Any]) -> None:
    from hyperhealth.delivery.cli._app import out

    t = Table("injected event", "events", "detected", "sensitivity", "median lead (h)", box=None)
    for kind, k in r["by_kind"].items():
        t.add_row(kind, str(k["events"]), str(k["detected"]),
                  "-" if k["sensitivity"] is None else f"{k['sensitivity']:.0%}",
                  "-" if k["median_lead_hours"] is None else f"{k['median_lead_hours']:+.1f}")
    out.print(t)
    out.print(f"false alert-days per person-month: {r['false_alert_days_per_person_month']}  "
              f"alerts per person-day: {r['alerts_per_person_day']}  "
              f"most non-urgent alerts on one person-day: {r['max_non_urgent_per_person_day']} "
              f"({r['suppressed_over_budget']} held back by the daily budget)")
    out.print(f"false alerts by rule: {r['false_alerts_by_rule']}")
    out.print(f"alerts of rules without injected events (not scored): {r['not_scored_by_rule']}")
