"""Ingest adapters, one per source format, auto-detected; see ``docs/formats.md``."""

from hyperhealth.ingest._base import IngestContext, IngestOptions, IngestReport, Reject
from hyperhealth.ingest._driver import detect, expand, ingest_file, ingest_paths

__all__ = ["IngestContext", "IngestOptions", "IngestReport", "Reject", "detect", "expand",
           "ingest_file", "ingest_paths"]
