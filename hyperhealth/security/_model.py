"""Who is asking (an :class:`Actor` with a :class:`Role`), for what (:class:`Purpose`) and which
kind of data (:class:`Category`). Shared by identity, consent, audit and the API guard."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from hyperhealth.model.codes import METRICS


class Role(StrEnum):
    PATIENT = "patient"
    CLINICIAN = "clinician"
    CARE_COORDINATOR = "care-coordinator"
    RESEARCHER = "researcher"
    ADMIN = "admin"
    DEVICE = "device"


#: roles that must present a TOTP second factor at login (issue 6)
SECOND_FACTOR_ROLES = frozenset({Role.CLINICIAN, Role.ADMIN})

#: roles a patient may grant access to (researchers get de-identified exports, not records)
CARE_ROLES = frozenset({Role.CLINICIAN, Role.CARE_COORDINATOR})


class Purpose(StrEnum):
    """FHIR v3 ActReason purposes of use that a consent can name."""

    TREATMENT = "treatment"  # TREAT
    RESEARCH = "research"  # HRESCH
    EMERGENCY = "emergency"  # ETREAT: only through break-glass, never granted


class Category(StrEnum):
    """Data categories a patient grants or withholds, one per sensitivity class."""

    DEMOGRAPHICS = "demographics"  # birth date, sex, time zone (never direct identifiers)
    IDENTITY = "identity"  # name, address, contact: direct identifiers
    VITALS = "vitals"  # heart rate, HRV, blood pressure, SpO2, temperature, weight
    CGM = "cgm"  # continuous and self-monitored glucose
    ACTIVITY = "activity"  # steps, energy, exercise
    SLEEP = "sleep"
    LABS = "labs"  # laboratory results (HbA1c, lipids, ...)
    CONDITIONS = "conditions"  # problems, allergies, encounters
    MEDICATIONS = "medications"
    GENOMICS = "genomics"  # genotypes, PGx, polygenic scores
    LOCATION = "location"  # places visited, home location, local environment
    MENTAL_HEALTH = "mental-health"  # mood, stress, mental-health conditions
    NOTES = "notes"  # free text: lifestyle notes, alert annotations
    ALERTS = "alerts"  # alerts and advisories derived from the categories above

    @classmethod
    def parse(cls, text: str) -> Category:
        """A category from its name, with a message listing the valid ones.

        >>> Category.parse("cgm")
        <Category.CGM: 'cgm'>
        """
        try:
            return cls(text.strip().lower())
        except ValueError:
            valid = ", ".join(c.value for c in cls)
            raise ValueError(f"unknown data category {text!r}; use one of: {valid}") from None


ALL_CATEGORIES = frozenset(Category)

_BY_METRIC_CATEGORY = {
    "vital-signs": Category.VITALS,
    "activity": Category.ACTIVITY,
    "sleep": Category.SLEEP,
    "laboratory": Category.LABS,
    "cgm": Category.CGM,
    "environment": Category.LOCATION,  # exposures at a person's places reveal where they are
    "survey": Category.MENTAL_HEALTH,
}
_GLUCOSE = {"2339-0", "15074-8", "99504-3", "41653-7", "14743-9"}


def category_of(code: str, fhir_category: str = "") -> Category:
    """The consent category of an observation code (LOINC or the project's own).

    Glucose is CGM data wherever it comes from, since that is how patients think of it.

    >>> category_of("8867-4")
    <Category.VITALS: 'vitals'>
    >>> category_of("2339-0", "laboratory")
    <Category.CGM: 'cgm'>
    >>> category_of("unknown-code", "social-history")
    <Category.NOTES: 'notes'>
    """
    if code in _GLUCOSE:
        return Category.CGM
    metric = METRICS.get(code)
    key = metric.category if metric else fhir_category
    if key in _BY_METRIC_CATEGORY:
        return _BY_METRIC_CATEGORY[key]
    if "sleep" in code:
        return Category.SLEEP
    if key in ("vital-signs",):
        return Category.VITALS
    # unknown codes fall into the most restricted everyday category rather than an open one
    return Category.NOTES if key not in ("exam", "imaging", "procedure") else Category.CONDITIONS


@dataclass(frozen=True)
class Actor:
    """An authenticated caller: a user (staff or patient), a device, or the system itself."""

    username: str
    role: Role
    person_id: str | None = None  # the patient themself, or the device's owner
    teams: frozenset[str] = field(default_factory=frozenset)
    user_pk: int | None = None
    device_id: str | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in CARE_ROLES


#: the engine, CLI and migrations act as the system; their accesses are audited under this name
SYSTEM = Actor(username="system", role=Role.ADMIN)
