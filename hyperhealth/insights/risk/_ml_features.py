"""Per-person features for the demonstration ML risk model, from the person's streams.

One window per person (the last ``days`` days of their data). Each feature is computed with
pandas from the same frames whether they come from the store (:func:`frames_from_store`) or
from a synthetic cohort held in memory (:func:`frames_from_cohort`, used to train on a cohort
larger than the one in the store without writing it first). A feature a person has no data
for is NaN (the gradient-boosting model handles missing values natively); the feature table
says which inputs were missing.

Home blood-pressure *level* is deliberately not a feature: the outcome (hypertension in the
record) is defined by blood-pressure level, so using it would only re-detect the diagnosis.
Variability of home readings is used. Race and ethnicity are not features; they are used only
to audit the model (``_fairness``).

>>> [f.name for f in FEATURES][:3]
['age_years', 'male', 'rhr_mean']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from hyperhealth.model import Condition, Person
from hyperhealth.model import codes as C

#: SNOMED CT 38341003 "Hypertensive disorder, systemic arterial" (the code the synthetic cohort
#: and Synthea records use for hypertension)
HYPERTENSION = "38341003"
#: CGM time in range 70-180 mg/dL (Battelino T et al., Clinical targets for continuous glucose
#: monitoring data interpretation: recommendations from the International Consensus on Time in
#: Range, Diabetes Care 2019;42:1593-1603, doi:10.2337/dci19-0028)
TIR_LOW, TIR_HIGH = 70.0, 180.0
PM25, AIR_TEMPERATURE = "pm25", "air-temperature"


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    unit: str
    description: str


FEATURES: tuple[Feature, ...] = (
    Feature("age_years", "a", "age at the end of the window"),
    Feature("male", "1", "1 if sex at birth is male, 0 if female, missing otherwise"),
    Feature("rhr_mean", "/min", "mean daily resting heart rate"),
    Feature("rhr_trend", "/min/d", "slope of daily resting heart rate over the window"),
    Feature("hrv_mean", "ms", "mean nightly HRV (SDNN)"),
    Feature("steps_daily", "{steps}/d", "mean steps per local day with readings"),
    Feature("sleep_hours", "h", "mean sleep episode length"),
    Feature("sleep_onset_sd", "h", "SD of local sleep onset time (sleep regularity)"),
    Feature("sbp_sd", "mm[Hg]", "SD of home systolic readings (variability, not level)"),
    Feature("dbp_sd", "mm[Hg]", "SD of home diastolic readings (variability, not level)"),
    Feature("glucose_tir", "%", "CGM time in range 70-180 mg/dL"),
    Feature("glucose_cv", "%", "CGM coefficient of variation"),
    Feature("spo2_mean", "%", "mean SpO2 while asleep"),
    Feature("pm25_mean", "ug/m3", "mean PM2.5 at the person's place"),
    Feature("temp_max", "Cel", "highest air temperature at the person's place"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
#: the columns that describe a person for the audit (not model inputs)
GROUP_COLUMNS = ("sex", "age_band", "race_ethnicity")


@dataclass(frozen=True, slots=True)
class PersonFrames:
    """One person's data for the window: numeric observations, sleep episodes, exposures."""

    person: Person
    conditions: tuple[Condition, ...]
    obs: pd.DataFrame  # columns code, t (UTC), value
    sleep: pd.DataFrame  # columns start, end (UTC)
    exposures: pd.DataFrame  # columns code, t, value
    end: datetime


_CODES = (C.RESTING_HEART_RATE, C.HRV_SDNN, C.STEPS, C.SYSTOLIC_BP, C.DIASTOLIC_BP,
          C.CGM_GLUCOSE, C.SPO2)


def frames_from_store(store: Any, person_id: str, *, days: int = 14,
                      end: datetime | None = None) -> PersonFrames:
    """The last ``days`` days (before ``end``, default the person's newest reading)."""
    from hyperhealth.insights.exposure import exposures_for_person
    from hyperhealth.model import LifestyleKind

    person = store.person(person_id)
    if end is None:
        streams = store.streams(person_id)
        end = (max(s.last for s in streams) + timedelta(seconds=1) if streams
               else datetime.now().astimezone())
    start = end - timedelta(days=days)
    parts = []
    for code in _CODES:
        s = store.series(person_id, code, start, end)
        if len(s):
            parts.append(pd.DataFrame({"code": code, "t": s.t_us, "value": s.value}))
    obs = (pd.concat(parts, ignore_index=True) if parts
           else pd.DataFrame({"code": [], "t": [], "value": []}))
    obs["t"] = pd.to_datetime(obs["t"].astype("int64"), unit="us", utc=True)
    sl = [(e.start, e.end) for e in store.lifestyle_events(person_id, start, end)
          if e.kind == LifestyleKind.SLEEP and e.end is not None]
    sleep = pd.DataFrame(sl, columns=["start", "end"])
    ex = exposures_for_person(store, person_id, start, end, codes=(PM25, AIR_TEMPERATURE))
    exposures = pd.DataFrame([(x.code, x.t, x.exposure.value) for x in ex],
                             columns=["code", "t", "value"])
    return PersonFrames(person, tuple(store.conditions(person_id)), obs, sleep, exposures, end)


def frames_from_cohort(cohort: Any, *, days: int = 14) -> list[PersonFrames]:
    """Frames for every person of an in-memory synthetic cohort (``hyperhealth.synth``); the
    exposures are those of the person's home location, as the store would link them."""
    from hyperhealth.model import LifestyleKind

    wanted = set(_CODES)
    rows: dict[str, list[tuple[str, datetime, float]]] = {}
    for o in cohort.observations:
        if o.code in wanted and o.value is not None:
            rows.setdefault(o.person_id, []).append((o.code, o.t, o.value))
    sleeps: dict[str, list[tuple[datetime, datetime]]] = {}
    for e in cohort.lifestyle_events:
        if e.kind == LifestyleKind.SLEEP and e.end is not None:
            sleeps.setdefault(e.person_id, []).append((e.start, e.end))
    ex_by_loc: dict[tuple[float, float], list[tuple[str, datetime, float]]] = {}
    for x in cohort.exposures:
        if x.code in (PM25, AIR_TEMPERATURE):
            ex_by_loc.setdefault((x.location.lat, x.location.lon), []).append(
                (x.code, x.t, x.value))
    conds: dict[str, list[Condition]] = {}
    for c in cohort.conditions:
        conds.setdefault(c.person_id, []).append(c)
    end = cohort.start + timedelta(days=cohort.days)
    start = end - timedelta(days=days)
    out = []
    for p in cohort.persons:
        obs = pd.DataFrame(rows.get(p.id, []), columns=["code", "t", "value"])
        obs = obs[(obs["t"] >= start) & (obs["t"] < end)]
        sleep = pd.DataFrame(sleeps.get(p.id, []), columns=["start", "end"])
        sleep = sleep[(sleep["start"] >= start) & (sleep["start"] < end)]
        key = (p.home.lat, p.home.lon) if p.home is not None else None
        ex = pd.DataFrame(ex_by_loc.get(key, []) if key else [], columns=["code", "t", "value"])
        ex = ex[(ex["t"] >= start) & (ex["t"] < end)]
        out.append(PersonFrames(p, tuple(conds.get(p.id, [])), obs, sleep, ex, end))
    return out


def age_band(age: float | None) -> str:
    """Reporting strata for the audit (not a clinical category).

    >>> age_band(25), age_band(40), age_band(71.5), age_band(None)
    ('18-39', '40-59', '60+', 'unknown')
    """
    if age is None or not np.isfinite(age):
        return "unknown"
    return "<18" if age < 18 else "18-39" if age < 40 else "40-59" if age < 60 else "60+"


def race_ethnicity(person: Person) -> str:
    """Self-reported race, with Hispanic or Latino ethnicity appended, as recorded."""
    race = person.race.strip() or "race not recorded"
    eth = person.ethnicity.strip()
    return f"{race}; Hispanic or Latino" if eth.lower() == "hispanic or latino" else race


def has_condition(conditions: Iterable[Condition], code: str) -> bool:
    return any(c.code == code and c.clinical_status in ("active", "recurrence", "relapse")
               for c in conditions)


def features(f: PersonFrames) -> dict[str, Any]:
    """The feature values (NaN where the data is missing), audit groups and the outcome."""
    p = f.person
    age = _age(p.birth_date, f.end)
    out: dict[str, Any] = {"person_id": p.id, "age_years": age,
                           "male": {"male": 1.0, "female": 0.0}.get(p.sex_at_birth, np.nan)}
    obs = f.obs
    by = {code: g.sort_values("t") for code, g in obs.groupby("code")} if len(obs) else {}
    rhr = by.get(C.RESTING_HEART_RATE)
    out["rhr_mean"] = _mean(rhr)
    out["rhr_trend"] = np.nan
    if rhr is not None and len(rhr) >= 3:
        x = (rhr["t"] - rhr["t"].iloc[0]).dt.total_seconds().to_numpy() / 86400.0
        if np.ptp(x) > 0:
            out["rhr_trend"] = float(np.polyfit(x, rhr["value"].to_numpy(), 1)[0])
    out["hrv_mean"] = _mean(by.get(C.HRV_SDNN))
    steps = by.get(C.STEPS)
    if steps is not None and len(steps):
        local = steps["t"].dt.tz_convert(p.tz).dt.date
        out["steps_daily"] = float(steps.groupby(local)["value"].sum().mean())
    else:
        out["steps_daily"] = np.nan
    out["sleep_hours"], out["sleep_onset_sd"] = _sleep(f.sleep, p.tz)
    out["sbp_sd"] = _sd(by.get(C.SYSTOLIC_BP))
    out["dbp_sd"] = _sd(by.get(C.DIASTOLIC_BP))
    g = by.get(C.CGM_GLUCOSE)
    if g is not None and len(g) >= 2:
        v = g["value"].to_numpy()
        out["glucose_tir"] = float(100.0 * np.mean((v >= TIR_LOW) & (v <= TIR_HIGH)))
        out["glucose_cv"] = float(100.0 * v.std(ddof=1) / v.mean())
    else:
        out["glucose_tir"] = out["glucose_cv"] = np.nan
    out["spo2_mean"] = _mean(by.get(C.SPO2))
    ex = f.exposures
    pm = ex[ex["code"] == PM25]["value"] if len(ex) else pd.Series(dtype=float)
    tt = ex[ex["code"] == AIR_TEMPERATURE]["value"] if len(ex) else pd.Series(dtype=float)
    out["pm25_mean"] = float(pm.mean()) if len(pm) else np.nan
    out["temp_max"] = float(tt.max()) if len(tt) else np.nan
    out["sex"] = p.sex_at_birth or "unknown"
    out["age_band"] = age_band(age)
    out["race_ethnicity"] = race_ethnicity(p)
    out["hypertension"] = int(has_condition(f.conditions, HYPERTENSION))
    return out


def feature_table(frames: Sequence[PersonFrames]) -> pd.DataFrame:
    """One row per person: features, audit groups, outcome (index: person_id)."""
    rows = [features(f) for f in frames]
    cols = ["person_id", *FEATURE_NAMES, *GROUP_COLUMNS, "hypertension"]
    df = pd.DataFrame(rows, columns=cols).set_index("person_id")
    df[list(FEATURE_NAMES)] = df[list(FEATURE_NAMES)].astype(np.float64)
    return df


def _age(birth: date | None, at: datetime) -> float:
    if birth is None:
        return np.nan
    return (at.date() - birth).days / 365.25


def _mean(g: pd.DataFrame | None) -> float:
    return float(g["value"].mean()) if g is not None and len(g) else np.nan


def _sd(g: pd.DataFrame | None) -> float:
    return float(g["value"].std(ddof=1)) if g is not None and len(g) >= 3 else np.nan


def _sleep(sleep: pd.DataFrame, tz: str) -> tuple[float, float]:
    if not len(sleep):
        return np.nan, np.nan
    start = pd.to_datetime(sleep["start"], utc=True)
    end = pd.to_datetime(sleep["end"], utc=True)
    hours = (end - start).dt.total_seconds() / 3600.0
    local = start.dt.tz_convert(tz)
    # onset as hours after local noon, so that 23:00 and 01:00 are 2 h apart, not 22 h
    onset = ((local.dt.hour + local.dt.minute / 60.0 - 12.0) % 24.0).to_numpy()
    sd = float(np.std(onset, ddof=1)) if len(onset) >= 2 else np.nan
    return float(hours.mean()), sd

