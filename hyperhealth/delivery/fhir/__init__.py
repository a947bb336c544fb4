"""FHIR R4 export: one person as a ``Patient/$everything``-style Bundle, or everyone as NDJSON.

Resources are built with ``fhir.resources.R4B`` (so they validate) and map back to the same
profile when imported again with :mod:`hyperhealth.ingest.fhir`.
"""

from hyperhealth.delivery.fhir._export import export_bundle, export_ndjson, person_resources

__all__ = ["export_bundle", "export_ndjson", "person_resources"]
