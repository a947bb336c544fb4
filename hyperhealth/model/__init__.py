"""Shared frozen types and clinical codes/units (see ``docs/methods.md``)."""

from hyperhealth.model._types import (
    HH,
    LIFESTYLE_DETAILS,
    LOINC,
    RXNORM,
    SNOMED,
    UCUM,
    Allergy,
    Condition,
    Encounter,
    Exposure,
    GenotypeUpload,
    LifestyleEvent,
    LifestyleKind,
    Location,
    LocationVisit,
    Medication,
    Observation,
    Person,
    Quality,
)
from hyperhealth.model.codes import METRICS, Metric, metric_for
from hyperhealth.model.units import canonical_unit, convert, normalise

__all__ = [
    "HH", "LIFESTYLE_DETAILS", "LOINC", "METRICS", "RXNORM", "SNOMED", "UCUM", "Allergy",
    "Condition", "Encounter", "Exposure", "GenotypeUpload", "LifestyleEvent", "LifestyleKind",
    "Location", "LocationVisit", "Medication", "Metric", "Observation", "Person", "Quality",
    "canonical_unit", "convert", "metric_for", "normalise",
]
