"""Frozen record types passed between the stages (ingest -> store -> engine -> insights).

Times are timezone-aware; the store keeps them in UTC. Every record names where it came from
(``source``: the feed or file format, ``device``: the device id where known, ``record_id``: the
source's own id such as a FHIR resource id) because those fields make up its natural key, and the
natural key is what makes ingestion idempotent.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
#: the project's own code system, for metrics that have no LOINC code (air quality, heat, UV ...)
HH = "urn:hyperhealth:metric"


class Quality(enum.IntFlag):
    """Quality flags carried by an observation (stored as an integer bit set)."""

    NONE = 0
    IMPLAUSIBLE = 1  # possible but outside the range a healthy measurement chain usually gives
    CONVERTED = 2  # the value was converted from another unit on ingest
    TZ_ASSUMED = 4  # the source gave wall-clock time without a zone; the person's zone was used
    DEVICE_FLAGGED = 8  # the device itself marked the reading as unreliable


@dataclass(frozen=True, slots=True)
class Location:
    """A place: WGS84 latitude/longitude and an optional label (postal code, city, station)."""

    lat: float
    lon: float
    label: str = ""


@dataclass(frozen=True, slots=True)
class Person:
    """One person. ``id`` is pseudonymous; direct identifiers live only in ``identity``.

    ``sex_at_birth`` uses FHIR administrative gender codes (female, male, other, unknown);
    ``race``/``ethnicity`` are self-reported text as the source gave them.
    """

    id: str
    birth_date: date | None = None
    sex_at_birth: str = "unknown"
    race: str = ""
    ethnicity: str = ""
    tz: str = "UTC"
    home: Location | None = None
    identity: Mapping[str, str] = field(default_factory=dict)
    deceased: datetime | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    """One measurement: a LOINC (or project) code, a value in the code's canonical UCUM unit.

    Lab results are observations with ``category='laboratory'``; coded answers (smoking status,
    survey items) carry ``value_text`` and ``value_code`` instead of a number.
    """

    person_id: str
    code: str
    t: datetime
    value: float | None
    unit: str = ""
    system: str = LOINC
    t_end: datetime | None = None
    value_text: str = ""
    value_code: str = ""
    display: str = ""
    category: str = ""
    source: str = ""
    device: str = ""
    record_id: str = ""
    flags: Quality = Quality.NONE


@dataclass(frozen=True, slots=True)
class Condition:
    person_id: str
    code: str
    display: str
    system: str = SNOMED
    onset: datetime | date | None = None
    abatement: datetime | date | None = None
    clinical_status: str = "active"
    verification_status: str = ""
    source: str = ""
    record_id: str = ""


@dataclass(frozen=True, slots=True)
class Medication:
    """A medication the person takes or was prescribed (FHIR MedicationRequest/Statement)."""

    person_id: str
    code: str
    display: str
    system: str = RXNORM
    kind: str = "request"  # request | statement
    status: str = "active"
    start: datetime | date | None = None
    end: datetime | date | None = None
    dosage: str = ""
    reason: str = ""
    source: str = ""
    record_id: str = ""


@dataclass(frozen=True, slots=True)
class Allergy:
    person_id: str
    code: str
    display: str
    system: str = SNOMED
    category: str = ""
    criticality: str = ""
    clinical_status: str = "active"
    onset: datetime | date | None = None
    source: str = ""
    record_id: str = ""


@dataclass(frozen=True, slots=True)
class Encounter:
    person_id: str
    start: datetime
    end: datetime | None = None
    class_code: str = ""
    code: str = ""
    display: str = ""
    system: str = SNOMED
    status: str = "finished"
    reason: str = ""
    source: str = ""
    record_id: str = ""


class LifestyleKind(enum.StrEnum):
    MEAL = "meal"
    EXERCISE = "exercise"
    SLEEP = "sleep"
    STRESS = "stress"
    MEDICATION_INTAKE = "medication_intake"


#: the detail fields each lifestyle kind may carry, with their units
LIFESTYLE_DETAILS: Mapping[LifestyleKind, Mapping[str, str]] = {
    LifestyleKind.MEAL: {"carbs_g": "g", "energy_kcal": "kcal", "description": ""},
    LifestyleKind.EXERCISE: {"activity": "", "intensity": "", "energy_kcal": "kcal",
                             "distance_m": "m"},
    LifestyleKind.SLEEP: {"stage": "", "efficiency_pct": "%"},
    LifestyleKind.STRESS: {"rating": "{score}", "scale_max": "{score}"},
    LifestyleKind.MEDICATION_INTAKE: {"code": "", "display": "", "dose": "", "dose_unit": ""},
}


@dataclass(frozen=True, slots=True)
class LifestyleEvent:
    """A logged meal, exercise session, sleep episode, stress rating or medication intake."""

    person_id: str
    kind: LifestyleKind
    start: datetime
    end: datetime | None = None
    details: Mapping[str, float | str] = field(default_factory=dict)
    source: str = ""
    record_id: str = ""


@dataclass(frozen=True, slots=True)
class Exposure:
    """An environmental metric (project code, canonical unit) at a location and time."""

    location: Location
    code: str
    t: datetime
    value: float
    unit: str
    t_end: datetime | None = None
    source: str = ""


@dataclass(frozen=True, slots=True)
class LocationVisit:
    """Where a person was from ``start`` to ``end`` (location history)."""

    person_id: str
    start: datetime
    end: datetime | None
    location: Location
    source: str = ""


@dataclass(frozen=True, slots=True)
class GenotypeUpload:
    """A registered VCF: which file, which samples, which genome build."""

    person_id: str | None
    path: str
    sha256: str
    samples: tuple[str, ...]
    build: str  # GRCh38 | GRCh37 | unknown
    chr_prefix: bool
    contigs: int
    registered_at: datetime | None = None
