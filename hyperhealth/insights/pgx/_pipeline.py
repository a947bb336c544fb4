"""The PGx pipeline: VCF -> ``.match.json`` -> ``.phenotype.json`` -> ``.report.json``/``.html``.

Each stage writes its own file and can be re-run from the previous stage's file; outside calls
(CYP2D6, HLA, MT-RNR1 or any gene) enter at the phenotype stage.

>>> caller = PgxCaller(genes=["CYP2C19"])
>>> sorted(caller.genes)
['CYP2C19']
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from hyperhealth.errors import InputError
from hyperhealth.insights.pgx._match import GeneMatcher
from hyperhealth.insights.pgx._model import (
    METHOD_VERSION,
    GeneMatch,
    GenePhenotype,
    MatchResult,
    PhenotypeResult,
)
from hyperhealth.insights.pgx._outside import OutsideCall, read_outside_calls
from hyperhealth.insights.pgx._phenotype import phenotype
from hyperhealth.insights.pgx._recommend import DrugRecommendation, recommend
from hyperhealth.insights.pgx._tables import tables
from hyperhealth.insights.pgx._vcf import SiteIndex, VcfCalls, read_vcf

DISCLAIMER = ("This report supports clinical decisions; it does not replace a clinician. "
              "Talk to your doctor or pharmacist before starting, stopping or changing any "
              "medicine.")
#: why the outside-only genes are not read from a VCF
OUTSIDE_ONLY_REASON = {
    "CYP2D6": "not read from a VCF: CYP2D6 alleles include gene deletions, duplications and "
              "CYP2D7 hybrids that a VCF of small variants cannot show; give a call from a "
              "CYP2D6-specific test as an outside call",
    "HLA-A": "not read from a VCF: HLA alleles need HLA typing; give the typing result as an "
             "outside call",
    "HLA-B": "not read from a VCF: HLA alleles need HLA typing; give the typing result as an "
             "outside call",
    "MT-RNR1": "not read from this VCF: mitochondrial variants need a mitochondrial call; give "
               "it as an outside call",
}
MATCH_CITATION = ("allele definitions: CPIC/ClinPGx (CC0, CC BY-SA 4.0) as distributed with "
                  "PharmCAT; method after Sangkuhl et al. Clin Pharmacol Ther 2020;107:203-210, "
                  "doi:10.1002/cpt.1568")


@dataclass(frozen=True, slots=True)
class PgxReport:
    """The ``.report.json`` stage: calls, phenotypes, drug recommendations and what is missing."""

    phenotypes: PhenotypeResult
    drugs: tuple[DrugRecommendation, ...]
    not_called: Mapping[str, Sequence[str]]
    provenance: Mapping[str, Any] = field(default_factory=dict)
    disclaimer: str = DISCLAIMER

    @property
    def sample(self) -> str:
        return self.phenotypes.sample

    @property
    def match(self) -> MatchResult:
        return self.phenotypes.match

    @property
    def genes(self) -> Mapping[str, GenePhenotype]:
        return self.phenotypes.genes

    def drug(self, name: str) -> DrugRecommendation | None:
        return next((d for d in self.drugs if d.drug == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {"stage": "report", "sample": self.sample, "disclaimer": self.disclaimer,
                "phenotypes": self.phenotypes.to_dict(),
                "drugs": [d.to_dict() for d in self.drugs],
                "not_called": {g: list(r) for g, r in self.not_called.items()},
                "provenance": dict(self.provenance)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PgxReport:
        return cls(PhenotypeResult.from_dict(d["phenotypes"]),
                   tuple(DrugRecommendation.from_dict(x) for x in d.get("drugs") or ()),
                   {g: tuple(r) for g, r in (d.get("not_called") or {}).items()},
                   dict(d.get("provenance") or {}), d.get("disclaimer", DISCLAIMER))


class PgxCaller:
    """Matcher set-up shared by every sample (tables, position index, per-gene matchers)."""

    def __init__(self, genes: Iterable[str] | None = None) -> None:
        t = tables()
        names = list(genes) if genes is not None else list(t.definitions)
        unknown = [g for g in names if g not in t.definitions]
        if unknown:
            raise InputError(f"no allele definitions for {', '.join(unknown)}", field="genes",
                             hint="callable genes: " + ", ".join(sorted(t.definitions)))
        self.genes = {g: t.definitions[g] for g in names}
        self.index = SiteIndex(self.genes.values())
        self.matchers = {g: GeneMatcher(d) for g, d in self.genes.items()}

    def read(self, vcf: str | Path, samples: Sequence[str] | None = None, *,
             text: str | None = None) -> VcfCalls:
        return read_vcf(vcf, self.index, samples, text=text)

    def match_calls(self, calls: VcfCalls, sample: str) -> MatchResult:
        c = calls.calls[sample]
        genes = {g: m.match(c) for g, m in self.matchers.items()}
        warnings = tuple(f"{k if isinstance(k, str) else f'{k[0]}:{k[1]}'}: {m}"
                         for k, msgs in calls.warnings.items() for m in msgs)
        prov = {"stage": "match", "method": "hyperhealth.insights.pgx named-allele matcher",
                "method_version": METHOD_VERSION, "definitions_version": tables().version,
                "genome_build": calls.build, "build_evidence": calls.build_evidence,
                "citation": MATCH_CITATION, "vcf_lines": calls.lines,
                "n_samples": len(calls.all_samples) or len(calls.samples),
                "inputs": {"vcf": calls.path, "sample": sample}}
        return MatchResult(sample, calls.path, calls.build, genes, warnings, prov)

    def match(self, vcf: str | Path, sample: str | None = None) -> MatchResult:
        """Match one sample (the file's only sample when ``sample`` is None)."""
        calls = self.read(vcf, [sample] if sample else None)
        if sample is None:
            if len(calls.samples) != 1:
                raise InputError(f"the file has {len(calls.samples)} samples", where=str(vcf),
                                 field="sample", hint="choose one with --sample: " +
                                 ", ".join(calls.samples[:20]))
            sample = calls.samples[0]
        return self.match_calls(calls, sample)

    def match_all(self, vcf: str | Path) -> list[MatchResult]:
        """Match every sample of a multi-sample file (one read of the file)."""
        calls = self.read(vcf)
        return [self.match_calls(calls, s) for s in calls.samples]


@functools.cache
def default_caller() -> PgxCaller:
    return PgxCaller()


def build_report(phen: PhenotypeResult, *, drugs: Sequence[str] | None = None,
                 patient: Mapping[str, Any] | None = None) -> PgxReport:
    """The report stage from a phenotype result."""
    recs = tuple(recommend(phen.genes, drugs, patient=patient))
    not_called: dict[str, list[str]] = {}
    for g, m in phen.match.genes.items():
        p = phen.genes.get(g)
        if m.status in ("no_call", "no_data") or (p is not None and p.status != "called"):
            why = list(m.reasons) or list(p.notes if p else ())
            if p is not None and p.status not in ("called",) and p.notes:
                why += [n for n in p.notes if n not in why]
            if m.missing_positions and m.status != "no_data":
                why.append(f"{len(m.missing_positions)} defining position(s) missing from the "
                           "file")
            not_called[g] = why
    for g in tables().outside_only:
        if g not in phen.genes:
            not_called[g] = [OUTSIDE_ONLY_REASON.get(g, "needs an outside call")]
    prov = {"stage": "report", "method": "hyperhealth.insights.pgx recommender",
            "method_version": METHOD_VERSION,
            "recommendation_source": tables().provenance["pypgx"],
            "citation": "CPIC guidelines (cpicpgx.org, CC0); PMIDs per drug",
            "inputs_missing": sorted(not_called)}
    return PgxReport(phen, recs, {g: tuple(v) for g, v in not_called.items()}, prov)


# --- stage files --------------------------------------------------------------------------------
def stage_base(vcf: str | Path, sample: str, n_samples: int = 1) -> str:
    """File name stem for the stage files of one sample.

    >>> stage_base("/x/NA12878.pgx.vcf.gz", "NA12878")
    'NA12878.pgx'
    >>> stage_base("/x/cohort.vcf", "S2", 3)
    'cohort.S2'
    """
    name = Path(vcf).name
    for suffix in (".vcf.gz", ".vcf.bgz", ".vcf"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return f"{name}.{sample}" if n_samples > 1 else name


def write_json(path: Path, obj: Mapping[str, Any]) -> Path:
    """Write atomically (temporary file, then rename): a failed write leaves nothing half done."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    tmp.replace(path)
    return path


def load_stage(path: str | Path) -> MatchResult | PhenotypeResult | PgxReport:
    """Read a ``.match.json``, ``.phenotype.json`` or ``.report.json`` file."""
    p = Path(path)
    try:
        d = orjson.loads(p.read_bytes())
    except (OSError, orjson.JSONDecodeError) as err:
        raise InputError(f"cannot read the stage file ({err})", where=str(p),
                         hint="give a file written by 'hyperhealth pgx'") from None
    stage = d.get("stage") if isinstance(d, dict) else None
    if stage == "match":
        return MatchResult.from_dict(d)
    if stage == "phenotype":
        return PhenotypeResult.from_dict(d)
    if stage == "report":
        return PgxReport.from_dict(d)
    raise InputError("not a hyperhealth PGx stage file (no 'stage' field)", where=str(p),
                     hint="give a .match.json, .phenotype.json or .report.json file")


@dataclass(frozen=True, slots=True)
class PgxRun:
    """The stages of one run and the files written (if any)."""

    report: PgxReport
    files: Mapping[str, Path]
    seconds: float


def run_pgx(vcf: str | Path | None = None, *, sample: str | None = None,
            outside_calls: str | Path | Sequence[OutsideCall] | None = None,
            out_dir: str | Path | None = None, patient: Mapping[str, Any] | None = None,
            start: MatchResult | PhenotypeResult | None = None,
            caller: PgxCaller | None = None, html: bool = True) -> PgxRun:
    """Run the stages and, with ``out_dir``, write one file per stage.

    Either ``vcf`` (start at the matcher) or ``start`` (a match or phenotype result, e.g. from
    :func:`load_stage`) is given. Outside calls enter at the phenotype stage.
    """
    t0 = time.perf_counter()
    outside: list[OutsideCall]
    if outside_calls is None:
        outside = []
    elif isinstance(outside_calls, (str, Path)):
        outside = read_outside_calls(outside_calls)
    else:
        outside = list(outside_calls)
    match: MatchResult
    phen: PhenotypeResult
    if start is None:
        if vcf is None:
            raise InputError("give a VCF or a stage file to start from", field="vcf")
        match = (caller or default_caller()).match(vcf, sample)
        phen = phenotype(match, outside)
    elif isinstance(start, MatchResult):
        match = start
        phen = phenotype(match, outside)
    else:
        match = start.match
        phen = phenotype(match, outside) if outside else start
    report = build_report(phen, patient=patient)
    files: dict[str, Path] = {}
    if out_dir is not None:
        out = Path(out_dir)
        n = int(match.provenance.get("n_samples", 1) or 1)
        base = stage_base(match.vcf or "pgx.vcf", match.sample, n)
        files["match"] = write_json(out / f"{base}.match.json", match.to_dict())
        files["phenotype"] = write_json(out / f"{base}.phenotype.json", phen.to_dict())
        files["report"] = write_json(out / f"{base}.report.json", report.to_dict())
        if html:
            from hyperhealth.insights.pgx._html import report_html

            p = out / f"{base}.report.html"
            tmp = p.with_name(p.name + ".tmp")
            tmp.write_text(report_html(report), encoding="utf-8")
            tmp.replace(p)
            files["html"] = p
    return PgxRun(report, files, time.perf_counter() - t0)


def gene_summary(m: GeneMatch, p: GenePhenotype | None) -> str:
    """One line per gene for text output."""
    dip = p.diplotype if p and p.diplotype else ", ".join(d.name for d in m.diplotypes) or "-"
    phen = p.phenotype if p and p.phenotype else "-"
    return f"{m.gene}\t{m.status}\t{dip}\t{phen}"
