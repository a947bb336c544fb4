"""Build a cohort (persons, records, streams, exposures, ground truth) and write it to a store."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from hyperhealth.errors import ImplausibleValue, InputError
from hyperhealth.model import (
    Condition,
    Exposure,
    LifestyleEvent,
    LifestyleKind,
    Medication,
    Observation,
    Person,
    normalise,
)
from hyperhealth.model import codes as C
from hyperhealth.model.time import utc
from hyperhealth.synth import _glucose as G
from hyperhealth.synth._environment import environment, exposures
from hyperhealth.synth._persons import (
    INSULIN_GLARGINE,
    INSULIN_LISPRO,
    Profile,
    conditions_and_medications,
    make_profiles,
)
from hyperhealth.synth._physiology import (
    Infection,
    daily_resting_hr,
    heart_rate,
    infection_profile,
)
from hyperhealth.synth._schedule import Schedule, build_schedule
from hyperhealth.synth._truth import GroundTruthEvent, save_ground_truth

SOURCE = "synth"
GENERATOR_VERSION = "1"
#: a fixed default start (not "now") so the same seed always gives the same records
DEFAULT_START = datetime(2024, 7, 1, tzinfo=UTC)
#: hypertensive crisis: >= 180 systolic and/or >= 120 diastolic (Whelton PK et al., 2017
#: ACC/AHA guideline, Hypertension 2018;71:e13-e115, doi:10.1161/HYP.0000000000000065)
CRISIS_SBP, CRISIS_DBP = 180, 120
# MET values from the Compendium of Physical Activities (Ainsworth BE et al., Med Sci Sports
# Exerc 2011;43:1575-1581): running ~6 mph 9.8, brisk walking ~3.5 mph 4.3
_METS = {"run": 9.8, "walk": 4.3}
_STRIDE_M = {"run": 1.1, "walk": 0.75}
_INFECTION_MIN_DAYS = 7


@dataclass(slots=True)
class Cohort:
    """A generated cohort. Records are plain model types; :meth:`write` stores them."""

    seed: int
    start: datetime
    days: int
    persons: list[Person]
    conditions: list[Condition] = field(default_factory=list)
    medications: list[Medication] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    lifestyle_events: list[LifestyleEvent] = field(default_factory=list)
    exposures: list[Exposure] = field(default_factory=list)
    ground_truth: list[GroundTruthEvent] = field(default_factory=list)
    devices: list[tuple[str, str, str]] = field(default_factory=list)  # (device, person, kind)
    rejected: int = 0  # values refused by normalise (should stay 0)

    def write(self, store: Any, *, batch: int = 50_000) -> dict[str, int]:
        """Write everything in one transaction; returns rows added per kind (0s the 2nd time)."""
        added = dict.fromkeys(("persons", "conditions", "medications", "observations",
                               "lifestyle_events", "exposures"), 0)
        with store.transaction() as w:
            for p in self.persons:
                _, created = w.resolve_person(SOURCE, p.id, template=p)
                added["persons"] += int(created)
            for device, pid, kind in self.devices:
                w.register_device(device, pid, kind)
            added["conditions"] = w.add_conditions(self.conditions)
            added["medications"] = w.add_medications(self.medications)
            for i in range(0, len(self.observations), batch):
                added["observations"] += w.add_observations(self.observations[i:i + batch])
            added["lifestyle_events"] = w.add_lifestyle_events(self.lifestyle_events)
            added["exposures"] = w.add_exposures(self.exposures)
        return added

    def save_ground_truth(self, path: str | Path) -> None:
        """Save the injected events as JSON (read back with ``load_ground_truth``)."""
        save_ground_truth(self.ground_truth, path, meta={
            "generator": "hyperhealth.synth", "version": GENERATOR_VERSION, "seed": self.seed,
            "start": self.start.isoformat(), "days": self.days,
            "persons": [p.id for p in self.persons]})


def generate_cohort(*, persons: int, days: int, seed: int,
                    start: datetime | None = None) -> Cohort:
    """Generate ``persons`` people with ``days`` days of coupled streams, deterministic for
    ``seed`` (and ``start``, which defaults to 2024-07-01 00:00 UTC).

    >>> c = generate_cohort(persons=1, days=1, seed=1)
    >>> c.persons[0].id == generate_cohort(persons=1, days=1, seed=1).persons[0].id
    True
    """
    if persons < 1 or days < 1:
        raise InputError(f"cannot generate {persons} persons x {days} days", field="persons/days",
                         hint="ask for at least one person and one day")
    t0 = utc(start).replace(second=0, microsecond=0) if start is not None else DEFAULT_START
    profiles = make_profiles(persons, seed, year=t0.year)
    cohort = Cohort(seed, t0, days, [p.person for p in profiles])
    cities = list(dict.fromkeys(p.city for p in profiles))
    heat_city = profiles[1].city if len(profiles) > 1 else profiles[0].city
    weather, env_truth = environment(cities, t0, days, seed, profiles[0].city, heat_city)
    cohort.exposures = exposures(weather)
    cohort.ground_truth.extend(env_truth)
    crisis_owner = next((p.index for p in profiles if p.hypertensive), None)
    for p in profiles:
        _person_streams(cohort, p, crisis=p.index == crisis_owner)
    cohort.ground_truth.sort(key=lambda e: (e.start, e.kind, e.person_id or ""))
    return cohort


class _Out:
    """Collects one person's records; every observation passes through ``normalise``."""

    def __init__(self, cohort: Cohort, p: Profile, t0: datetime) -> None:
        self.c, self.pid, self.t0 = cohort, p.person.id, t0

    def at(self, minute: int) -> datetime:
        return self.t0 + timedelta(minutes=int(minute))

    def obs(self, code: str, minute: int, value: float, unit: str, device: str,
            t_end_minute: int | None = None) -> None:
        try:
            v, u, flags = normalise(code, value, unit)
        except ImplausibleValue:
            self.c.rejected += 1
            return
        m = C.METRICS[code]
        self.c.observations.append(Observation(
            self.pid, code, self.at(minute), v, u, system=m.system,
            t_end=None if t_end_minute is None else self.at(t_end_minute), display=m.display,
            category=m.category, source=SOURCE, device=device, flags=flags))

    def event(self, kind: LifestyleKind, minute: int, end: int | None,
              details: dict[str, float | str], record_id: str) -> None:
        self.c.lifestyle_events.append(LifestyleEvent(
            self.pid, kind, self.at(minute), None if end is None else self.at(end), details,
            source=SOURCE, record_id=record_id))

    def truth(self, kind: str, start: int, end: int, params: dict[str, Any]) -> None:
        self.c.ground_truth.append(GroundTruthEvent(self.pid, kind, self.at(start),
                                                    self.at(end), params))


def _person_streams(c: Cohort, p: Profile, *, crisis: bool) -> None:
    rng = np.random.default_rng([c.seed, p.index, 1])
    n, pid = c.days * 1440, p.person.id
    out = _Out(c, p, c.start)
    hypo_day = c.days // 2 if p.on_insulin else None
    s = build_schedule(p, c.start, c.days, rng, hypo_day=hypo_day)
    watch, cuff, scale, cgm_dev = (f"{kind}-{pid}" for kind in ("watch", "cuff", "scale", "cgm"))
    c.devices.append((watch, pid, "smartwatch"))
    _records(c, p)

    # injected: infection-like resting-HR rise, ending after the symptom day
    inf = None
    if p.index % 3 == 1 and len(s.day_starts) >= _INFECTION_MIN_DAYS:
        symptom = s.day_starts[len(s.day_starts) - 2]
        rise = int((48 + rng.uniform(0, 12)) * 60)
        inf = Infection(symptom - rise, symptom, min(n, symptom + 3 * 1440),
                        float(rng.uniform(5, 10)))
        out.truth("infection", inf.start, inf.end, {
            "rhr_delta_per_min": round(inf.delta, 2), "symptom_day": out.at(symptom).isoformat(),
            "rise_hours": round(rise / 60, 1), "hrv_drop_fraction": 0.15})
    extra = infection_profile(n, inf)
    hr = heart_rate(p, s, rng, extra)

    # injected: the watch is off for some hours (charging left too long, not worn)
    worn = np.ones(n, bool)
    if p.index % 3 == 2:
        d = int(rng.integers(0, len(s.day_starts)))
        g0 = max(0, s.day_starts[d] + int(rng.uniform(9, 14) * 60))
        g1 = min(n, g0 + int(rng.uniform(3, 8) * 60))
        if g1 > g0:
            worn[g0:g1] = False
            out.truth("device_gap", g0, g1, {"device": watch, "hours": round((g1 - g0) / 60, 2),
                                             "streams": ["heart-rate", "steps", "spo2"]})

    for m in np.flatnonzero(worn).tolist():
        out.obs(C.HEART_RATE, m, round(float(hr[m])), "/min", watch)
    for m in np.flatnonzero(worn & (s.steps > 0)).tolist():
        out.obs(C.STEPS, m, int(s.steps[m]), "{steps}", watch, m + 1)
    for d, rhr in daily_resting_hr(s, hr, worn):
        lo = max(0, s.day_starts[d])
        out.obs(C.RESTING_HEART_RATE, lo, round(rhr, 1), "/min", watch,
                min(n, s.day_starts[d] + 1440))
    spo2_base = 93.5 if "copd" in p.roles else 96.5
    for m in np.flatnonzero(s.asleep & worn & (np.arange(n) % 60 == 0)).tolist():
        val = min(100.0, round(spo2_base - 0.15 * extra[m] + rng.normal(0, 0.8)))
        out.obs(C.SPO2, m, val, "%", watch)
    for m in s.wake_minutes:  # nightly HRV, reported on waking
        drop = 0.15 * extra[m] / inf.delta if inf is not None else 0.0
        out.obs(C.HRV_SDNN, m, round(p.hrv_sdnn * (1 - drop) * rng.lognormal(0, 0.1), 1), "ms",
                watch)
    for b in s.bouts:
        if b.logged and 0 <= b.start < n:
            hours = (b.end - b.start) / 60
            steps = int(s.steps[b.start:min(n, b.end)].sum())
            out.event(LifestyleKind.EXERCISE, b.start, b.end, {
                "activity": b.activity, "intensity": "vigorous" if b.activity == "run"
                else "moderate", "energy_kcal": round(_METS[b.activity] * p.weight_kg * hours),
                "distance_m": round(steps * _STRIDE_M[b.activity])}, f"exercise:{b.activity}")
    for start, end, eff in s.sleeps:
        if end > 0 and start < n:
            out.event(LifestyleKind.SLEEP, start, end,
                      {"stage": "asleep", "efficiency_pct": round(eff, 1)}, "sleep")

    if p.measures_bp:
        _blood_pressure(out, p, s, rng, cuff, crisis)
        c.devices.append((cuff, pid, "blood-pressure-cuff"))
    for d, start in enumerate(s.day_starts):
        m = start + int((p.wake_hour + 0.25) * 60)
        if d % 3 == 0 and 0 <= m < n:
            out.obs(C.BODY_WEIGHT, m, round(p.weight_kg + rng.normal(0, 0.35), 1), "kg", scale)
    c.devices.append((scale, pid, "scale"))
    if p.on_insulin:
        c.devices.append((cgm_dev, pid, "cgm"))
        _glucose(out, p, s, c, cgm_dev, hypo_day)
    else:
        for meal in s.meals:
            out.event(LifestyleKind.MEAL, meal.minute, None,
                      {"carbs_g": meal.carbs_g, "description": meal.description},
                      f"meal:{meal.description}")


def _records(c: Cohort, p: Profile) -> None:
    conds, meds = conditions_and_medications(p)
    onset = date(c.start.year - 1 - p.index % 9, 1 + p.index % 12, 1)
    pid = p.person.id
    for code in conds:
        c.conditions.append(Condition(pid, code.code, code.display, code.system, onset=onset,
                                      clinical_status="active", verification_status="confirmed",
                                      source=SOURCE, record_id=f"{pid}:condition:{code.code}"))
    for code, dosage in meds:
        c.medications.append(Medication(pid, code.code, code.display, code.system,
                                        kind="statement", status="active", start=onset,
                                        dosage=dosage, source=SOURCE,
                                        record_id=f"{pid}:medication:{code.code}"))


def _blood_pressure(out: _Out, p: Profile, s: Schedule, rng: np.random.Generator, cuff: str,
                    crisis: bool) -> None:
    n = s.minutes
    crisis_day = min(len(s.day_starts) - 1, 1) if crisis else -1
    for d, start in enumerate(s.day_starts):
        morning = start + int((p.wake_hour + 0.5) * 60)
        evening = start + 21 * 60 + int(rng.integers(0, 40))
        for m, surge in ((morning, 4.0), (evening, 0.0)):
            sbp = p.sbp + surge + rng.normal(0, 7)
            dbp = p.dbp + surge / 2 + rng.normal(0, 5)
            if d == crisis_day and m == morning:
                sbp, dbp = float(rng.uniform(182, 195)), float(rng.uniform(121, 128))
            if 0 <= m < n:
                out.obs(C.SYSTOLIC_BP, m, round(sbp), "mm[Hg]", cuff)
                out.obs(C.DIASTOLIC_BP, m, round(dbp), "mm[Hg]", cuff)
                if d == crisis_day and m == morning:
                    out.truth("hypertensive_crisis", m, m + 1, {
                        "systolic_mm_hg": round(sbp), "diastolic_mm_hg": round(dbp),
                        "threshold": f">= {CRISIS_SBP}/{CRISIS_DBP} mmHg (2017 ACC/AHA)"})


def _glucose(out: _Out, p: Profile, s: Schedule, c: Cohort, device: str,
             hypo_day: int | None) -> None:
    n = s.minutes
    seed = int(np.random.default_rng([c.seed, p.index, 2]).integers(2**31))
    skipped = [m.minute for m in s.meals if not m.eaten]
    meals = list(s.meals)
    # Virtual patients differ in insulin sensitivity: if a doubled bolus does not take this one
    # below 70 mg/dL, the mistaken dose grows (x3, x4) until it does; the factor is recorded.
    for factor in (2.0, 3.0, 4.0):
        meals = [m if m.eaten else replace(m, bolus_factor=factor) for m in s.meals]
        run = G.simulate(patient_name=p.virtual_patient, start=c.start, minutes=n, meals=meals,
                         seed=seed)
        if not skipped or any(0 <= s0 - m <= 6 * 60 for s0, _, _ in G.hypo_intervals(run)
                              for m in skipped):
            break
    for m, v in zip(run.cgm_minutes.tolist(), run.cgm.tolist(), strict=True):
        out.obs(C.CGM_GLUCOSE, m, round(v, 1), "mg/dL", device)
    for meal in s.meals:
        if meal.eaten:
            out.event(LifestyleKind.MEAL, meal.minute, None,
                      {"carbs_g": meal.carbs_g, "description": meal.description},
                      f"meal:{meal.description}")
    for m in run.rescues:
        out.event(LifestyleKind.MEAL, m, None, {"carbs_g": G.RESCUE_CARBS_G,
                                                "description": "fast carbohydrate for low glucose"},
                  "meal:rescue")
    for m, units in run.boluses:
        if units > 0:
            out.event(LifestyleKind.MEDICATION_INTAKE, m, None, {
                "code": INSULIN_LISPRO.code, "display": INSULIN_LISPRO.display,
                "dose": round(units, 2), "dose_unit": "U"}, "insulin:bolus")
    if p.diabetes == "type2":  # the simulator gives this as a constant basal rate
        for start in s.day_starts:
            m = start + 22 * 60
            if 0 <= m < n:
                out.event(LifestyleKind.MEDICATION_INTAKE, m, None, {
                    "code": INSULIN_GLARGINE.code, "display": INSULIN_GLARGINE.display,
                    "dose": round(run.basal_u_per_day, 1), "dose_unit": "U"}, "insulin:basal")
    for s0, e0, nadir in G.hypo_intervals(run):
        cause = "arose in the simulation"
        if any(0 <= s0 - m <= 6 * 60 for m in skipped):
            cause = f"injected: lunch bolus taken x{factor:g} by mistake, then lunch skipped"
        out.truth("hypoglycaemia", s0, e0, {
            "nadir_mg_dl": round(nadir, 1), "threshold_mg_dl": G.HYPO_MG_DL,
            "min_minutes": G.HYPO_MIN_MINUTES, "cause": cause,
            "virtual_patient": p.virtual_patient, "hypo_day": hypo_day,
            "bolus_factor": factor if skipped else 1.0})


