"""``hyperhealth pgx VCF``: star-allele calls, phenotypes and CPIC drug guidance from a VCF.

Register with ``app.command("pgx")(pgx)``. ``VCF`` may also be a ``.match.json`` or
``.phenotype.json`` file written by an earlier run: the later stages are re-run from it (outside
calls given with ``--outside-calls`` enter at the phenotype stage).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

_ACTION = {"avoid": "[bold red]avoid if possible[/]",
           "consider_alternative": "[red]consider another medicine[/]",
           "adjust_dose": "[yellow]dose change[/]", "see_guideline": "clinician to review",
           "use_as_directed": "no change", "no_recommendation": "no genetic advice",
           "no_data": "no result"}


def pgx(
    vcf: Annotated[Path, typer.Argument(
        help="VCF or VCF.gz on GRCh38 (or a .match.json/.phenotype.json from an earlier run)")],
    sample: Annotated[str | None, typer.Option(
        "--sample", help="Sample to call in a multi-sample VCF")] = None,
    outside_calls: Annotated[Path | None, typer.Option(
        "--outside-calls", help="TSV of calls from elsewhere: gene, diplotype[, phenotype"
                                "[, activity score]] (CYP2D6, HLA-A, HLA-B, MT-RNR1, any gene)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
    out_dir: Annotated[Path | None, typer.Option(
        "-o", "--out-dir", help="Write .match.json, .phenotype.json, .report.json and "
                                ".report.html here")] = None,
) -> None:
    """Pharmacogenomics: diplotypes, phenotypes and CPIC prescribing guidance for one sample."""
    from hyperhealth.delivery.cli._app import emit_json, fail, out
    from hyperhealth.errors import HyperhealthError
    from hyperhealth.insights.pgx import MatchResult, PhenotypeResult, load_stage, run_pgx

    if not vcf.exists():
        fail(f"{vcf}: no such file", 2)
    if outside_calls is not None and not outside_calls.exists():
        fail(f"--outside-calls {outside_calls}: no such file", 2)
    try:
        if vcf.name.endswith((".match.json", ".phenotype.json")):
            start = load_stage(vcf)
            if not isinstance(start, (MatchResult, PhenotypeResult)):
                fail(f"{vcf} is a report; give the .match.json or .phenotype.json", 2)
                return
            run = run_pgx(start=start, outside_calls=outside_calls, out_dir=out_dir)
        else:
            run = run_pgx(vcf, sample=sample, outside_calls=outside_calls, out_dir=out_dir)
    except HyperhealthError as err:
        fail(str(err), 2)
        return
    report = run.report
    if as_json:
        d: dict[str, Any] = report.to_dict()
        d["files"] = {k: str(v) for k, v in run.files.items()}
        d["seconds"] = round(run.seconds, 4)
        emit_json(d)
        return
    _print(report, out)
    if run.files:
        out.print("files: " + ", ".join(escape(str(p)) for p in run.files.values()))
    out.print(f"[dim]{escape(report.disclaimer)}[/]")


def _print(report: Any, out: Any) -> None:
    t = Table(title=f"Pharmacogenomics for {escape(report.sample)}", show_lines=False)
    for col in ("gene", "diplotype", "phenotype", "activity", "status"):
        t.add_column(col)
    for g in sorted(report.genes):
        p = report.genes[g]
        m = report.match.genes.get(g)
        status = p.status if m is None else (m.status if p.status == "called" else p.status)
        dip = p.diplotype or (", ".join(x.name for x in m.diplotypes) if m else "") or "-"
        if p.phase_alternatives:
            dip += " (phase?)"
        t.add_row(escape(g), escape(dip), escape(p.phenotype or "-"),
                  escape(p.activity_score or ""), escape(status))
    out.print(t)
    acts = [d for d in report.drugs if d.action in ("avoid", "consider_alternative",
                                                      "adjust_dose")]
    if acts:
        d_t = Table(title="Medicines where the guideline suggests a change")
        for col in ("drug", "what to do", "genes", "evidence"):
            d_t.add_column(col)
        for d in acts:
            d_t.add_row(escape(d.drug), _ACTION.get(d.action, d.action),
                        escape(", ".join(f"{g} {v}" for g, v in d.phenotypes.items())),
                        escape(", ".join(f"PMID {x}" for x in d.pmids)))
        out.print(d_t)
    else:
        out.print("No medicine covered by CPIC needs a change for these results.")
    if report.not_called:
        out.print("[bold]Not called:[/] " + "; ".join(
            f"{escape(g)} ({escape(r[0] if r else '')})" for g, r in sorted(
                report.not_called.items())))
