"""Auto-detect each file's format and import it in one transaction."""

from __future__ import annotations

import csv
import hashlib
import importlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from hyperhealth.errors import InputError, UnknownFormat
from hyperhealth.ingest._base import (
    KIND,
    Adapter,
    IngestContext,
    IngestOptions,
    IngestReport,
    Record,
    read_head,
)
from hyperhealth.model import GenotypeUpload, Observation
from hyperhealth.store import Store, Writer

# One module per source format, tried in this order; each defines ``ADAPTER``.
ADAPTER_MODULES = (
    "fhir",
    "apple_health",
    "cgm",
    "wearable_csv",
    "environment",
    "vcf",
    "device_json",
)
_BATCH = 50_000
_IGNORED_SUFFIXES = {".md", ".txt", ".tsv", ".bed", ".html", ".pdf", ".png"}


def adapters() -> list[Adapter]:
    out = []
    for name in ADAPTER_MODULES:
        mod = importlib.import_module(f"hyperhealth.ingest.{name}")
        out.append(mod.ADAPTER)
    return out


def detect(path: Path) -> Adapter:
    """The adapter that recognises ``path``; :class:`UnknownFormat` when none does."""
    head = read_head(path)
    for a in adapters():
        if a.sniff(path, head):
            return a
    raise UnknownFormat(
        "no importer recognises this file", where=str(path),
        hint="supported: FHIR R4 JSON/NDJSON, Apple Health export.xml, wearable CSV, Dexcom/"
             "Nightscout/iglu CGM, device JSON, environment CSV/JSON, VCF (see README)")


def expand(paths: Iterable[Path]) -> list[Path]:
    """Files under the given paths, sorted; documentation files in folders are left out."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")
                          and f.suffix.lower() not in _IGNORED_SUFFIXES)
        else:
            out.append(p)
    return out


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def ingest_file(store: Store, path: Path, options: IngestOptions | None = None,
                adapter: Adapter | None = None) -> IngestReport:
    """Import one file; a failure rolls back everything from that file."""
    options = options or IngestOptions()
    report = IngestReport(path=str(path))
    try:
        adapter = adapter or detect(path)
    except UnknownFormat as err:
        report.unrecognised = True
        report.error = str(err)
        return report
    except InputError as err:
        report.error = str(err)
        return report
    except OSError as err:
        report.error = f"{path}: cannot read ({err.strerror})"
        return report
    report.format = adapter.name
    return run_import(store, report, sha256_file(path), lambda ctx: adapter.read(path, ctx),
                      options)


def run_import(store: Store, report: IngestReport, digest: str,
               read: Callable[[IngestContext], Iterator[Record]],
               options: IngestOptions) -> IngestReport:
    """Write what ``read`` yields in one transaction; skip content imported before.

    Shared by files and by documents posted to the API (identified by ``digest``).
    """
    try:
        with store.transaction() as w:
            if not options.force and not options.person and w.file_imported(digest):
                report.already_imported = True
                return report
            write_records(w, read(IngestContext(w, report, options)), report)
            w.record_file(digest, report.path, report.format, report.to_dict())
    except InputError as err:
        _fail(report, str(err) if err.where else f"{report.path}: {err}")
    except (ValueError, EOFError, OSError, SyntaxError, csv.Error) as err:
        # SyntaxError covers xml ParseError; UnicodeDecodeError is a ValueError
        _fail(report, f"{report.path}: {type(err).__name__}: {err}")
    return report


def write_records(w: Writer, records: Iterator[Record], report: IngestReport) -> None:
    """Write records in batches (observations) or per kind at the end (everything else)."""
    obs: list[Observation] = []
    other: dict[str, list[Record]] = {}
    for rec in records:
        kind = KIND[type(rec)]
        report.read[kind] += 1
        if isinstance(rec, Observation):
            obs.append(rec)
            if len(obs) >= _BATCH:
                report.added[kind] += w.add_observations(obs)
                obs = []
        else:
            other.setdefault(kind, []).append(rec)
    report.added["observations"] += w.add_observations(obs)
    for kind, recs in other.items():
        report.added[kind] += _WRITERS[kind](w, recs)
    report.added += Counter()  # drop zero counts


def _fail(report: IngestReport, message: str) -> None:
    what = "document" if report.path.startswith("api:") else "file"
    report.error = f"{message} — nothing from this {what} was stored; fix it and import again"
    report.added.clear()


def _genotypes(w: Writer, recs: list[Record]) -> int:
    return sum(w.register_genotype(g) for g in recs if isinstance(g, GenotypeUpload))


_WRITERS: dict[str, Callable[[Writer, list], int]] = {
    "conditions": Writer.add_conditions,
    "medications": Writer.add_medications,
    "allergies": Writer.add_allergies,
    "encounters": Writer.add_encounters,
    "lifestyle_events": Writer.add_lifestyle_events,
    "exposures": Writer.add_exposures,
    "location_visits": Writer.add_location_visits,
    "genotype_uploads": _genotypes,
}


def ingest_paths(
    store: Store,
    paths: Iterable[Path],
    options: IngestOptions | None = None,
    *,
    on_file: Callable[[Path, IngestReport], None] | None = None,
) -> list[IngestReport]:
    """Import every file under ``paths``; one bad file never stops the others."""
    paths = list(paths)
    named = {p for p in paths if not p.is_dir()}
    reports = []
    for f in expand(paths):
        rep = ingest_file(store, f, options)
        if rep.unrecognised and f not in named:
            # a folder may hold README files, checksums, notes: leave them alone, say so
            rep.error = ""
            rep.warnings.append("not a recognised format; left alone")
        reports.append(rep)
        if on_file is not None:
            on_file(f, rep)
    return reports

