"""``hyperhealth risk PERSON`` and ``hyperhealth risk calc EQUATION --input FILE.json``.

``risk PERSON`` shows, for each equation, the inputs and where they came from, what is missing
(required: the equation is not computed), the optional inputs that were not available (it is
computed without them; for PREVENT they choose the model, named on a "model:" line) and the
notes on how the inputs were taken.

``risk PERSON`` is short for ``risk show PERSON``: a first argument that is not a sub-command
name is taken as a person id (so a person cannot be called ``show`` or ``calc``).
Wire with ``app.add_typer(risk_app, name="risk")``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.markup import escape
from typer.core import TyperGroup


class _RiskGroup(TyperGroup):
    """Sub-commands, and a person id in place of a sub-command name means ``show``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer's click.Context
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["show", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(cls=_RiskGroup, no_args_is_help=True,
                  help="Disease risk from published equations: hyperhealth risk PERSON, "
                       "or risk calc EQUATION --input FILE.json.")

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _cli() -> Any:
    from hyperhealth.delivery.cli import _app

    return _app


def _parse_given(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            _cli().fail(f"--set {item!r}: write NAME=VALUE, e.g. --set daily_vegetables=true", 2)
        try:
            out[key.strip()] = orjson.loads(raw)
        except orjson.JSONDecodeError:
            out[key.strip()] = raw
    return out


@app.command("show")
def show(
    person: Annotated[str, typer.Argument(help="Person id (see `hyperhealth persons`)")],
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Date (YYYY-MM-DD) or date-time with offset: use records up to then "
        "[default: now]")] = None,
    given: Annotated[list[str] | None, typer.Option(
        "--set", help="An answer not in the records, NAME=VALUE (e.g. daily_vegetables=true, "
        "family_history=\"first_degree\"); repeatable")] = None,
    prs_percentile: Annotated[float | None, typer.Option(
        "--prs-percentile", help="Coronary polygenic-score percentile (0-100, within the "
        "person's ancestry) to show as a risk-enhancer label")] = None,
    what_ifs: Annotated[bool, typer.Option("--what-if/--no-what-if",
                                           help="Show what-if scenarios")] = True,
    as_json: Json = False,
) -> None:
    """Every applicable equation for one person, from their records."""
    from hyperhealth.errors import HyperhealthError
    from hyperhealth.insights.risk import risk_for_person

    cli = _cli()
    when = _as_of(as_of) if as_of else None
    try:
        with cli._store() as store:
            pr = risk_for_person(store, person, as_of=when, given=_parse_given(given or []),
                                 what_ifs=what_ifs, prs_percentile=prs_percentile)
    except HyperhealthError as err:
        cli.fail(str(err))
    if as_json:
        cli.emit_json(pr.to_dict())
        return
    _render_person(cli.out, pr)


@app.command("calc")
def calc(
    equation: Annotated[str, typer.Argument(help="Equation id: pce, pce_revised, prevent, "
                                            "qrisk3, findrisc, ckd_epi_2021_cr, "
                                            "ckd_epi_2021_cr_cys, cha2ds2_vasc")],
    input_file: Annotated[Path, typer.Option(
        "--input", "-i", help="JSON object of inputs ('-' for stdin); an optional "
        "\"context\" object carries ldl_c/total_c/hdl_c for what-if")],
    extrapolate: Annotated[bool, typer.Option(
        help="Compute outside the equation's ranges (the result is flagged)")] = False,
    what_ifs: Annotated[bool, typer.Option("--what-if/--no-what-if",
                                           help="Show what-if scenarios")] = True,
    as_json: Json = False,
) -> None:
    """One equation for one set of inputs (see `risk equations` for names, units, ranges)."""
    from hyperhealth.errors import HyperhealthError
    from hyperhealth.insights.risk import calculate, what_if

    cli = _cli()
    data = _read_inputs(input_file)
    context = data.pop("context", None) or {}
    if not isinstance(context, dict):
        cli.fail(f"{input_file}: \"context\" must be an object (ldl_c, total_c, hdl_c)")
    try:
        result = calculate(equation, data, extrapolate=extrapolate)
        wi = what_if(equation, data, extra=context, extrapolate=extrapolate) \
            if what_ifs else None
    except HyperhealthError as err:
        cli.fail(f"{input_file}: {err}")
    if as_json:
        cli.emit_json({"result": result.to_dict(),
                       "what_if": wi.to_dict() if wi else None})
        return
    _render_result(cli.out, result)
    if wi is not None:
        _render_what_if(cli.out, wi)


@app.command("equations")
def equations(as_json: Json = False) -> None:
    """The equations with their inputs, units and valid ranges."""
    from rich.table import Table

    from hyperhealth.insights.risk import EQUATIONS

    cli = _cli()
    if as_json:
        cli.emit_json([e.describe() for e in EQUATIONS.values()])
        return
    for eq in EQUATIONS.values():
        t = Table(title=f"{eq.id}: {escape(eq.name)}", title_justify="left")
        for col in ("input", "unit", "valid range", "required", "description"):
            t.add_column(col)
        for s in eq.inputs:
            rng = (f"{s.valid[0]:g}-{s.valid[1]:g}" if s.valid else
                   ", ".join(s.choices) if s.choices else "")
            t.add_row(s.name, escape(s.unit), rng, "yes" if s.required else "no",
                      escape(s.description))
        cli.out.print(t)


# -- helpers -------------------------------------------------------------------------------------
def _as_of(text: str) -> Any:
    from datetime import UTC, datetime, timedelta

    from hyperhealth.model.time import parse_when

    try:
        t = parse_when(text)
    except ValueError:
        _cli().fail(f"--as-of {text!r}: give YYYY-MM-DD or an ISO date-time with offset", 2)
    if isinstance(t, datetime):
        return t
    return datetime(t.year, t.month, t.day, tzinfo=UTC) + timedelta(days=1)


def _read_inputs(path: Path) -> dict[str, Any]:
    cli = _cli()
    try:
        raw = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except OSError as exc:
        cli.fail(f"{path}: cannot read ({exc.strerror})")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        cli.fail(f"{path}: not valid JSON ({exc})")
    if not isinstance(data, dict):
        cli.fail(f"{path}: the inputs must be a JSON object of name: value")
    return data


def _pct(e: Any) -> str:
    return escape(e.display)


def _value(x: Any) -> str:
    return f"{x:.4g}" if isinstance(x, float) else escape(str(x))


def _render_result(out: Any, r: Any) -> None:
    from rich.table import Table

    t = Table(title=f"{escape(r.name)}", title_justify="left")
    for col in ("estimate", "value", "category / note"):
        t.add_column(col)
    for e in r.estimates:
        t.add_row(escape(e.label), _pct(e), escape(" ".join(x for x in (e.category, e.note)
                                                           if x)))
    out.print(t)
    for f in r.extrapolated:
        out.print(f"[yellow]extrapolated:[/] {escape(f)}")
    for w in r.warnings:
        out.print(f"[yellow]note:[/] {escape(w)}")
    out.print(f"[dim]limits:[/] {escape(r.limits)}")
    for c in r.citations:
        out.print(f"[dim]source:[/] {escape(str(c))}")
    if r.disclaimer:
        out.print(f"[bold]Licence disclaimer (ClinRisk):[/] {escape(r.disclaimer)}")
    out.print(f"[italic]{escape(r.note)}[/]")


def _render_what_if(out: Any, w: Any) -> None:
    from rich.table import Table

    t = Table(title="What if (same equation, one change)", title_justify="left")
    for col in ("change", "estimate", "now", "if", "difference"):
        t.add_column(col)
    for s in w.scenarios:
        if not s.applicable:
            t.add_row(escape(s.description), "", "", "", f"[dim]{escape(s.reason)}[/]")
            continue
        for a, b in zip(s.now, s.after, strict=True):
            diff = b.value - a.value
            shown = f"{100 * diff:+.1f} pp" if a.unit == "proportion" else f"{diff:+g}"
            t.add_row(escape(s.description), escape(a.label), _pct(a), _pct(b), shown)
    out.print(t)
    out.print(f"[dim]{escape(w.note)}[/]")


def _render_optional(out: Any, optional: Any) -> None:
    """Optional inputs not available: apart from the required ones, as they block nothing."""
    from rich.table import Table

    if not optional:
        return
    t = Table(title="Optional, not available (computed without them)", title_justify="left")
    for col in ("input", "why", "to add"):
        t.add_column(col)
    for m in optional:
        t.add_row(m.name, escape(m.reason), escape(m.hint))
    out.print(t)


def _render_person(out: Any, pr: Any) -> None:
    from rich.table import Table

    out.print(f"[bold]Risk for {escape(pr.person_id)}[/] (records up to "
              f"{pr.as_of.date().isoformat()})")
    for n in pr.notes:
        out.print(f"[yellow]note:[/] {escape(n)}")
    summary = Table(title="Equations", title_justify="left")
    for col in ("equation", "status", "result / reason"):
        summary.add_column(col)
    for run in pr.runs:
        if run.result is not None:
            text = "; ".join(f"{e.label}: {e.display}" for e in run.result.estimates
                             if e.horizon_years in (None, 10))
        else:
            text = run.reason
        summary.add_row(run.equation, run.status, escape(text))
    out.print(summary)
    for run in pr.runs:
        if run.status != "computed" and not (run.inputs and run.inputs.missing):
            continue
        out.rule(escape(run.name))
        if run.result is not None and run.result.model is not None:
            out.print(f"[bold]model:[/] {escape(run.result.model.label)}")
        if run.inputs is not None:
            t = Table(title="Inputs", title_justify="left")
            for col in ("input", "value", "how", "from"):
                t.add_column(col)
            for u in run.inputs.used:
                t.add_row(u.name, _value(u.value), u.how, escape(u.detail))
            for i in run.inputs.imputed:
                t.add_row(i.name, _value(i.value), "[yellow]imputed[/]", escape(i.detail))
            for m in run.inputs.missing:
                t.add_row(m.name, "[red]missing[/]", escape(m.reason), escape(m.hint))
            out.print(t)
            _render_optional(out, run.inputs.optional_missing)
            for n in run.inputs.notes:
                if n not in pr.notes:  # the person's notes are printed once, at the top
                    out.print(f"[dim]inputs note:[/] {escape(n)}")
        for n in run.notes:
            out.print(f"[yellow]note:[/] {escape(n)}")
        if run.result is not None:
            _render_result(out, run.result)
        if run.enhancer is not None:
            out.print(f"[bold]{escape(run.enhancer.label)}[/] {escape(run.enhancer.detail)}")
        if run.what_if is not None:
            _render_what_if(out, run.what_if)
