"""``hyperhealth prs SCOREFILE VCF``: a polygenic score from a PGS Catalog file and a VCF.

Register with ``app.command("prs")(prs)``. A percentile is shown only against a reference of one
named ancestry group: a reference VCF with a sample -> group table (``--reference``,
``--labels``, ``--ancestry``) or a mean and SD (``--ref-mean``, ``--ref-sd``, ``--ancestry``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

_NOTE = ("A polygenic score describes inherited tendency relative to a reference group; it "
         "supports, and does not replace, a clinician's assessment.")


def prs(
    scorefile: Annotated[Path, typer.Argument(
        help="PGS Catalog scoring file (.txt or .txt.gz; harmonised GRCh38 files preferred)")],
    vcf: Annotated[Path, typer.Argument(help="VCF or VCF.gz (plain or bgzip), one or more "
                                             "samples, same genome build as the positions")],
    sample: Annotated[str | None, typer.Option(
        "--sample", help="Show only this sample of a multi-sample VCF")] = None,
    keep_ambiguous: Annotated[bool, typer.Option(
        "--keep-ambiguous", help="Keep strand-ambiguous A/T and C/G variants as written "
                                 "(default: leave them out)")] = False,
    mean_impute: Annotated[bool, typer.Option(
        "--mean-impute", help="A missing call counts 2 x allele frequency of this VCF's "
                              "samples (plink2's default; needs >= 50 samples). Default: 0, "
                              "as plink2 no-mean-imputation")] = False,
    no_dosage: Annotated[bool, typer.Option(
        "--no-dosage", help="Use GT hard calls even where DS dosages are present")] = False,
    reference: Annotated[Path | None, typer.Option(
        "--reference", help="Reference panel VCF to place the score in")] = None,
    labels: Annotated[Path | None, typer.Option(
        "--labels", help="Tab-separated sample -> ancestry group table for --reference")
    ] = None,
    ancestry: Annotated[str | None, typer.Option(
        "--ancestry", help="The person's ancestry group to compare with")] = None,
    across_ancestries: Annotated[bool, typer.Option(
        "--across-ancestries", help="Pool all groups of --reference (the result says so)")
    ] = False,
    ref_mean: Annotated[float | None, typer.Option(
        "--ref-mean", help="Mean of this score in the --ancestry group")] = None,
    ref_sd: Annotated[float | None, typer.Option(
        "--ref-sd", help="SD of this score in the --ancestry group")] = None,
    variants: Annotated[bool, typer.Option(
        "--variants", help="With --json: include every row's match status")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Polygenic score per sample, with variant coverage and (optionally) a percentile."""
    from hyperhealth.delivery.cli._app import emit_json, fail, out
    from hyperhealth.errors import HyperhealthError
    from hyperhealth.insights.prs import (
        AncestryStats,
        ReferenceStats,
        ReferenceVcf,
        ScoreOptions,
        score_vcf,
    )

    for p, what in ((scorefile, "SCOREFILE"), (vcf, "VCF"), (reference, "--reference"),
                    (labels, "--labels")):
        if p is not None and not p.exists():
            fail(f"{what} {p}: no such file", 2)
    ref: Any = None
    if reference is not None:
        if labels is None:
            fail("--reference needs --labels (sample -> ancestry group table)", 2)
            return
        ref = ReferenceVcf(str(reference), _read_labels(labels), source=str(reference))
    elif ref_mean is not None or ref_sd is not None:
        if ref_mean is None or ref_sd is None or ancestry is None:
            fail("--ref-mean needs --ref-sd and --ancestry", 2)
            return
        ref = ReferenceStats({ancestry: AncestryStats(ref_mean, ref_sd, source="command line")})
    try:
        res = score_vcf(scorefile, vcf, options=ScoreOptions(
            missing="mean" if mean_impute else "zero", keep_ambiguous=keep_ambiguous,
            use_dosage=not no_dosage), reference=ref, ancestry=ancestry,
            across_ancestries=across_ancestries)
        if sample is not None:
            res.score_of(sample)
    except HyperhealthError as err:
        fail(str(err), 2)
        return
    doc = res.to_dict(variants=variants)
    if sample is not None:
        doc["scores"] = [s for s in doc["scores"] if s["sample"] == sample]
        doc["placements"] = [p for p in doc["placements"] if p["sample"] == sample]
    doc["note"] = _NOTE
    if as_json:
        emit_json(doc)
        return
    _render(out, doc)


def _read_labels(path: Path) -> dict[str, str]:
    from hyperhealth.errors import InputError

    labels: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) < 2 or not parts[1].strip():
            raise InputError("expected: sample <tab> ancestry group", where=f"{path}:{n}",
                             hint="one sample per line")
        labels[parts[0].strip()] = parts[1].strip()
    return labels


def _render(out: Any, doc: dict[str, Any]) -> None:
    sfi, cov = doc["scoring_file"], doc["coverage"]
    title = " ".join(x for x in (sfi["pgs_id"], sfi["trait"]) if x) or sfi["name"]
    out.print(f"[bold]{escape(title)}[/]  ({escape(sfi['build'])}, "
              f"{'harmonised' if sfi['harmonised'] else 'original positions'})")
    out.print(f"variants used: {cov['matched']:,} of {cov['rows']:,} rows "
              f"({100 * cov['fraction']:.1f} %; {100 * cov['weight_fraction']:.1f} % of the "
              f"total weight), {cov['flipped']:,} on the other strand")
    out.print("  " + ", ".join(f"{k.replace('_', ' ')} {v:,}"
                               for k, v in cov["by_status"].items()))
    t = Table(title="scores")
    for c in ("sample", "score", "variants called", "missing calls"):
        t.add_column(c, justify="left" if c == "sample" else "right")
    for s in doc["scores"][:50]:
        t.add_row(escape(s["sample"]), f"{s['score']:.6g}", f"{s['variants_used']:,}",
                  f"{s['variants_missing']:,}")
    out.print(t)
    if len(doc["scores"]) > 50:
        out.print(f"... and {len(doc['scores']) - 50} more samples (use --json)")
    for p in doc["placements"][:50]:
        ci = (f" (95 % CI {p['ci95'][0]:.0f}-{p['ci95'][1]:.0f})"
              if p["ci95"][0] is not None else "")
        warn = "[bold yellow]ACROSS ANCESTRIES[/] " if p["cross_ancestry"] else ""
        out.print(f"{escape(p['sample'])}: {warn}percentile {_pct(p['percentile'])}{ci} - "
                  f"{escape(p['note'])}")
    for w in doc["warnings"]:
        out.print(f"[yellow]note:[/] {escape(w)}")
    out.print(f"[dim]{escape(doc['provenance']['missing_rule'])}. {_NOTE}[/]")


def _pct(p: float) -> str:
    """A percentile for reading: whole numbers, and one decimal near the ends.

    >>> _pct(84.13), _pct(0.004), _pct(99.95), _pct(0.5)
    ('84', '<0.1', '>99.9', '0.5')
    """
    if p < 0.1:
        return "<0.1"
    if p > 99.9:
        return ">99.9"
    return f"{p:.1f}" if p < 1 or p > 99 else f"{p:.0f}"
