"""Who is in a synthetic cohort: demographics, home city, conditions, medications.

Codes are real: SNOMED CT for conditions and RxNorm for medications, each pair checked against
published FHIR data (Synthea bundles in ``../shared/data/fhir/synthea`` and public code tables);
see the "Synthetic cohort" section of ``docs/methods.md``.

>>> p = make_profiles(4, seed=7)
>>> [x.person.id for x in p] == [x.person.id for x in make_profiles(4, seed=7)]
True
>>> p[0].diabetes
'type1'
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

import numpy as np

from hyperhealth.model import RXNORM, SNOMED, Location, Person


@dataclass(frozen=True, slots=True)
class City:
    """A home city: real coordinates and zone, plus an illustrative July climate for the
    environment streams (mean air temperature, Cel; mean relative humidity, %; PM2.5 background,
    ug/m3). The climate numbers shape synthetic data only; nothing is decided from them."""

    label: str
    lat: float
    lon: float
    tz: str
    temp_mean: float
    rh_mean: float
    pm25_background: float

    @property
    def location(self) -> Location:
        return Location(self.lat, self.lon, self.label)


CITIES: tuple[City, ...] = (
    City("Sacramento, CA, US", 38.5816, -121.4944, "America/Los_Angeles", 25.0, 45.0, 8.0),
    City("Phoenix, AZ, US", 33.4484, -112.0740, "America/Phoenix", 34.0, 30.0, 9.0),
    City("Chicago, IL, US", 41.8781, -87.6298, "America/Chicago", 24.0, 65.0, 10.0),
    City("New York, NY, US", 40.7128, -74.0060, "America/New_York", 25.0, 65.0, 9.0),
    City("London, GB", 51.5074, -0.1278, "Europe/London", 18.0, 70.0, 9.0),
    City("Berlin, DE", 52.5200, 13.4050, "Europe/Berlin", 19.0, 65.0, 11.0),
)


@dataclass(frozen=True, slots=True)
class Code:
    system: str
    code: str
    display: str


HYPERTENSION = Code(SNOMED, "38341003", "Hypertension")
TYPE1_DIABETES = Code(SNOMED, "46635009", "Type 1 diabetes mellitus")
TYPE2_DIABETES = Code(SNOMED, "44054006", "Type 2 diabetes mellitus")
ASTHMA = Code(SNOMED, "195967001", "Asthma")
COPD = Code(SNOMED, "13645005", "Chronic obstructive lung disease")

LISINOPRIL = Code(RXNORM, "314076", "Lisinopril 10 MG Oral Tablet")
AMLODIPINE = Code(RXNORM, "197361", "Amlodipine 5 MG Oral Tablet")
METFORMIN = Code(RXNORM, "860975",
                 "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet")
INSULIN_GLARGINE = Code(RXNORM, "274783", "insulin glargine")
INSULIN_LISPRO = Code(RXNORM, "86009", "insulin lispro")
ALBUTEROL = Code(RXNORM, "745679", "200 ACTUAT Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler")

# Roles cycle so that even a cohort of three has a person with type 1 diabetes, one with
# hypertension and one with type 2 diabetes plus hypertension.
_ROLES: tuple[tuple[str, ...], ...] = (
    ("type1",), ("hypertension",), ("type2", "hypertension"), ("asthma",), (),
    ("copd", "hypertension"), ("type1", "asthma"), ("at_risk_bp",),
)

_RACES = ("White", "Black or African American", "Asian", "American Indian or Alaska Native",
          "Native Hawaiian or Other Pacific Islander", "")
_ETHNICITIES = ("Not Hispanic or Latino", "Hispanic or Latino", "")


@dataclass(frozen=True, slots=True)
class Profile:
    """A person plus the hidden traits that shape their streams."""

    index: int
    person: Person
    city: City
    roles: tuple[str, ...]
    resting_hr: float  # /min, awake at rest
    sleep_dip: float  # /min below resting while asleep
    hrv_sdnn: float  # ms, nightly baseline
    sbp: float  # mmHg, usual home systolic
    dbp: float  # mmHg, usual home diastolic
    weight_kg: float
    wake_hour: float  # local, usual
    sleep_hours: float  # usual time in bed
    works: bool  # commutes on weekdays
    workout_days: tuple[int, ...]  # weekdays (0 = Monday) with a workout
    virtual_patient: str  # simglucose patient name for people on insulin, else ""

    @property
    def diabetes(self) -> str:
        return "type1" if "type1" in self.roles else "type2" if "type2" in self.roles else ""

    @property
    def on_insulin(self) -> bool:
        return bool(self.virtual_patient)

    @property
    def hypertensive(self) -> bool:
        return "hypertension" in self.roles

    @property
    def measures_bp(self) -> bool:
        return self.hypertensive or "at_risk_bp" in self.roles


def person_id(seed: int, index: int) -> str:
    """A pseudonymous id that depends only on the seed and the position in the cohort."""
    return "synth-" + hashlib.sha256(f"hyperhealth-synth:{seed}:{index}".encode()).hexdigest()[:10]


def _rng(seed: int, index: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, index, stream])


def make_profiles(n: int, seed: int, year: int = 2024) -> list[Profile]:
    """``n`` profiles, deterministic for ``seed``."""
    out = []
    for i in range(n):
        rng = _rng(seed, i, 0)
        roles = _ROLES[i % len(_ROLES)]
        city = CITIES[int(rng.integers(len(CITIES)))] if i >= 2 else CITIES[i]
        if "type1" in roles:
            age = int(rng.integers(19, 45))
        elif "type2" in roles or "copd" in roles or "hypertension" in roles:
            age = int(rng.integers(48, 78))
        else:
            age = int(rng.integers(22, 65))
        birth = date(year - age, int(rng.integers(1, 13)), int(rng.integers(1, 29)))
        sex = "female" if rng.random() < 0.5 else "male"
        race = _RACES[int(rng.integers(len(_RACES)))]
        eth = _ETHNICITIES[int(rng.integers(len(_ETHNICITIES)))]
        pid = person_id(seed, i)
        person = Person(id=pid, birth_date=birth, sex_at_birth=sex, race=race, ethnicity=eth,
                        tz=city.tz, home=city.location)
        htn = "hypertension" in roles
        # simglucose ships ten virtual adults (adult#001..#010); adults stand in for type 2 too
        vp = f"adult#{int(rng.integers(1, 11)):03d}" if {"type1", "type2"} & set(roles) else ""
        out.append(Profile(
            index=i, person=person, city=city, roles=roles,
            resting_hr=float(rng.normal(64, 6)), sleep_dip=float(rng.uniform(6, 11)),
            hrv_sdnn=float(np.clip(rng.normal(55 - 0.4 * (age - 40), 10), 18, 110)),
            sbp=float(rng.normal(146, 6) if htn else rng.normal(124, 6)),
            dbp=float(rng.normal(92, 4) if htn else rng.normal(78, 4)),
            weight_kg=float(np.clip(rng.normal(84 if sex == "male" else 70, 10), 45, 150)),
            wake_hour=float(rng.uniform(6.0, 7.5)), sleep_hours=float(rng.uniform(6.8, 8.3)),
            works=age < 66, workout_days=tuple(sorted(
                int(d) for d in rng.choice(7, size=int(rng.integers(2, 5)), replace=False))),
            virtual_patient=vp,
        ))
    return out


def conditions_and_medications(p: Profile) -> tuple[list[Code], list[tuple[Code, str]]]:
    """The person's coded conditions and ``(medication, dosage text)`` pairs."""
    conds: list[Code] = []
    meds: list[tuple[Code, str]] = []
    if "type1" in p.roles:
        conds.append(TYPE1_DIABETES)
        meds.append((INSULIN_LISPRO, "insulin pump: basal rate and meal boluses"))
    if "type2" in p.roles:
        conds.append(TYPE2_DIABETES)
        meds += [(METFORMIN, "500 mg once daily with the evening meal"),
                 (INSULIN_GLARGINE, "once daily"), (INSULIN_LISPRO, "with meals")]
    if p.hypertensive:
        conds.append(HYPERTENSION)
        meds.append((LISINOPRIL, "10 mg once daily"))
        if "type2" in p.roles:
            meds.append((AMLODIPINE, "5 mg once daily"))
    if "asthma" in p.roles:
        conds.append(ASTHMA)
        meds.append((ALBUTEROL, "2 puffs as needed"))
    if "copd" in p.roles:
        conds.append(COPD)
        meds.append((ALBUTEROL, "2 puffs as needed"))
    return conds, meds
