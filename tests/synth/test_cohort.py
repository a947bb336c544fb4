"""The synthetic cohort: determinism, physiological sanity, ground truth, idempotent writes."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

import hyperhealth.synth as synth
from hyperhealth.errors import InputError
from hyperhealth.model import Observation
from hyperhealth.model import codes as C
from hyperhealth.model.units import check_plausible
from hyperhealth.store import Store
from hyperhealth.synth import Cohort, generate_cohort, load_ground_truth

# persons 0..2 cover type 1 diabetes (0), hypertension + infection (1) and
# type 2 diabetes + hypertension + device gap (2); seven days allow an infection with baseline days
PERSONS, DAYS, SEED = 3, 7, 11


@pytest.fixture(scope="module")
def cohort() -> Cohort:
    return generate_cohort(persons=PERSONS, days=DAYS, seed=SEED)


def _series(c: Cohort, pid: str, code: str) -> list[Observation]:
    return sorted((o for o in c.observations if o.person_id == pid and o.code == code),
                  key=lambda o: o.t)


def _key(c: Cohort) -> list[tuple[object, ...]]:
    return [(o.person_id, o.code, o.t, o.value, o.device) for o in c.observations]


def test_public_api() -> None:
    assert set(synth.__all__) == {"DEFAULT_START", "KINDS", "Cohort", "GroundTruthEvent",
                                  "generate_cohort", "load_ground_truth"}


def test_same_seed_same_records_other_seed_different(cohort: Cohort) -> None:
    again = generate_cohort(persons=PERSONS, days=DAYS, seed=SEED)
    assert _key(again) == _key(cohort)
    assert again.lifestyle_events == cohort.lifestyle_events
    assert again.exposures == cohort.exposures
    assert again.ground_truth == cohort.ground_truth
    other = generate_cohort(persons=PERSONS, days=2, seed=SEED + 1)
    assert {p.id for p in other.persons}.isdisjoint({p.id for p in cohort.persons})
    mine = generate_cohort(persons=PERSONS, days=2, seed=SEED)
    assert [o.value for o in other.observations[:500]] != [o.value for o in mine.observations[:500]]


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(InputError, match="at least one person"):
        generate_cohort(persons=0, days=1, seed=1)


def test_every_observation_obeys_the_quality_limits(cohort: Cohort) -> None:
    assert cohort.rejected == 0
    for o in cohort.observations:
        m = C.METRICS[o.code]
        assert o.unit == m.unit and o.t.tzinfo is not None and o.source == "synth"
        check_plausible(m, o.value if o.value is not None else float("nan"))  # raises if not


def test_people_have_coded_conditions_and_medications(cohort: Cohort) -> None:
    by_person = defaultdict(set)
    for cond in cohort.conditions:
        by_person[cond.person_id].add(cond.code)
    p0, p1, p2 = (p.id for p in cohort.persons)
    assert by_person[p0] == {"46635009"}  # type 1 diabetes
    assert by_person[p1] == {"38341003"}  # hypertension
    assert by_person[p2] == {"44054006", "38341003"}
    meds = {(m.person_id, m.code) for m in cohort.medications}
    assert (p0, "86009") in meds and (p1, "314076") in meds and (p2, "860975") in meds
    assert all(m.display for m in cohort.medications)
    assert all(p.home is not None and p.tz != "UTC" for p in cohort.persons)


def _local_hours(obs: list[Observation], tz: str) -> np.ndarray:
    from zoneinfo import ZoneInfo
    z = ZoneInfo(tz)
    return np.array([o.t.astimezone(z).hour for o in obs])


def test_night_heart_rate_is_lower_than_daytime(cohort: Cohort) -> None:
    for p in cohort.persons:
        hr = _series(cohort, p.id, C.HEART_RATE)
        v = np.array([o.value for o in hr])
        h = _local_hours(hr, p.tz)
        night, day = v[(h >= 1) & (h < 5)].mean(), v[(h >= 10) & (h < 20)].mean()
        assert night < day - 5, (p.id, night, day)


def test_heart_rate_follows_steps_with_a_lag(cohort: Cohort) -> None:
    p = cohort.persons[0]
    hr = {o.t: o.value for o in _series(cohort, p.id, C.HEART_RATE)}
    steps = {o.t: o.value for o in _series(cohort, p.id, C.STEPS)}
    ts = sorted(hr)
    h = np.array([hr[t] for t in ts])
    s = np.array([steps.get(t, 0.0) for t in ts])
    r0 = np.corrcoef(h, s)[0, 1]
    assert r0 > 0.5
    # the heart responds to the last minutes' activity: HR now vs steps two minutes ago is
    # still strongly correlated, while steps now vs HR two minutes ago is weaker
    lagged = np.corrcoef(h[2:], s[:-2])[0, 1]
    leading = np.corrcoef(h[:-2], s[2:])[0, 1]
    assert lagged > leading


def test_daily_steps_and_sleep_are_realistic(cohort: Cohort) -> None:
    for p in cohort.persons:
        total = sum(o.value or 0 for o in _series(cohort, p.id, C.STEPS))
        assert 3_000 * DAYS < total < 20_000 * DAYS
        sleeps = [e for e in cohort.lifestyle_events if e.person_id == p.id and e.kind == "sleep"]
        assert len(sleeps) >= DAYS
        hours = [(e.end - e.start).total_seconds() / 3600 for e in sleeps if e.end]
        assert 5 < np.mean(hours) < 10 and np.std(hours) > 0.1


def test_cgm_comes_from_the_simulator_and_meals_match(cohort: Cohort) -> None:
    p0 = cohort.persons[0].id
    cgm = _series(cohort, p0, C.CGM_GLUCOSE)
    assert len(cgm) == DAYS * 24 * 12
    assert {(b.t - a.t) for a, b in itertools.pairwise(cgm)} == {timedelta(minutes=5)}
    v = np.array([o.value for o in cgm])
    assert v.min() >= 39 and v.max() <= 600  # GuardianRT sensor range in simglucose
    assert 80 < np.median(v) < 220
    meals = [e for e in cohort.lifestyle_events if e.person_id == p0 and e.kind == "meal"]
    assert all(e.details["carbs_g"] > 0 for e in meals) and len(meals) >= 3 * (DAYS - 1)
    # glucose rises after meals: the mean 60-90 min after a main meal exceeds the pre-meal value
    at = {o.t: o.value for o in cgm}
    rises = []
    for e in meals:
        if e.details["description"] in ("lunch", "dinner"):
            base = min(at, key=lambda t, e=e: abs(t - e.start))
            later = min(at, key=lambda t, e=e: abs(t - e.start - timedelta(minutes=75)))
            rises.append(at[later] - at[base])
    assert np.median(rises) > 15


def test_hypoglycaemia_ground_truth_matches_cgm(cohort: Cohort) -> None:
    hypos = [g for g in cohort.ground_truth if g.kind == "hypoglycaemia"]
    assert {g.person_id for g in hypos} >= {cohort.persons[0].id, cohort.persons[2].id}
    assert any(g.params["cause"].startswith("injected") for g in hypos)
    for g in hypos:
        assert g.end - g.start >= timedelta(minutes=15)
        cgm = [o.value for o in _series(cohort, g.person_id or "", C.CGM_GLUCOSE)
               if g.start <= o.t < g.end]
        assert cgm and min(cgm) < 70, g


def test_injected_resting_hr_rise_is_visible(cohort: Cohort) -> None:
    (inf,) = [g for g in cohort.ground_truth if g.kind == "infection"]
    rhr = _series(cohort, inf.person_id or "", C.RESTING_HEART_RATE)
    before = [o.value for o in rhr if o.t_end is not None and o.t_end <= inf.start]
    symptom = datetime.fromisoformat(inf.params["symptom_day"])
    during = [o.value for o in rhr if o.t == symptom]
    assert len(before) >= 2 and during
    assert during[0] - np.mean(before) > 0.5 * inf.params["rhr_delta_per_min"]


def test_device_gap_has_no_watch_data(cohort: Cohort) -> None:
    (gap,) = [g for g in cohort.ground_truth if g.kind == "device_gap"]
    assert gap.end - gap.start >= timedelta(hours=3)
    watch = [o for o in cohort.observations if o.person_id == gap.person_id
             and o.device == gap.params["device"] and gap.start <= o.t < gap.end
             and o.code != C.RESTING_HEART_RATE]
    assert watch == []
    hr_around = [o for o in _series(cohort, gap.person_id or "", C.HEART_RATE)
                 if gap.start - timedelta(hours=1) <= o.t < gap.start]
    assert len(hr_around) == 60


def test_blood_pressure_and_crisis(cohort: Cohort) -> None:
    (crisis,) = [g for g in cohort.ground_truth if g.kind == "hypertensive_crisis"]
    sbp = [o for o in _series(cohort, crisis.person_id or "", C.SYSTOLIC_BP)
           if crisis.start <= o.t < crisis.end]
    dbp = [o for o in _series(cohort, crisis.person_id or "", C.DIASTOLIC_BP)
           if crisis.start <= o.t < crisis.end]
    assert sbp[0].value is not None and sbp[0].value >= 180
    assert dbp[0].value is not None and dbp[0].value >= 120
    others = [o.value for o in _series(cohort, crisis.person_id or "", C.SYSTOLIC_BP)
              if o.t != crisis.start]
    assert len(others) >= 2 * DAYS - 3 and max(others) < 180
    assert not _series(cohort, cohort.persons[0].id, C.SYSTOLIC_BP)  # no cuff: not at risk


def test_heat_wave_and_smoke_are_in_the_exposures(cohort: Cohort) -> None:
    heat = next(g for g in cohort.ground_truth if g.kind == "heat_wave")
    temps = [x for x in cohort.exposures if x.code == "air-temperature"
             and x.location.label == heat.params["city"]]
    inside = np.mean([x.value for x in temps if heat.start <= x.t < heat.end])
    outside = np.mean([x.value for x in temps if not heat.start <= x.t < heat.end])
    assert inside - outside > 4
    smoke = next(g for g in cohort.ground_truth if g.kind == "wildfire_smoke")
    pm = [x for x in cohort.exposures if x.code == "pm25"
          and x.location.label == smoke.params["city"]]
    on = np.mean([x.value for x in pm if smoke.start <= x.t < smoke.end])
    off = np.mean([x.value for x in pm if not smoke.start <= x.t < smoke.end])
    assert on > 10 * off
    homes = {p.home.label for p in cohort.persons if p.home}
    assert {heat.params["city"], smoke.params["city"]} <= homes
    assert {x.code for x in cohort.exposures} == {"pm25", "o3", "air-temperature",
                                                  "relative-humidity"}


def test_ground_truth_json_round_trips(cohort: Cohort, tmp_path: Path) -> None:
    path = tmp_path / "truth.json"
    cohort.save_ground_truth(path)
    assert load_ground_truth(path) == cohort.ground_truth
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(InputError, match="not a ground-truth file"):
        load_ground_truth(bad)


def test_explicit_start_moves_everything() -> None:
    start = datetime(2025, 1, 6, 8, 30, tzinfo=UTC)
    c = generate_cohort(persons=1, days=1, seed=SEED, start=start)
    assert min(o.t for o in c.observations) >= start
    assert max(o.t for o in c.observations) < start + timedelta(days=1)


def test_writing_twice_adds_nothing(store: Store) -> None:
    c = generate_cohort(persons=2, days=2, seed=SEED)
    first = c.write(store)
    assert first["persons"] == 2 and first["observations"] == len(c.observations)
    assert first["lifestyle_events"] == len(c.lifestyle_events)
    assert first["exposures"] == len(c.exposures)
    assert c.write(store) == dict.fromkeys(first, 0)
    p0 = c.persons[0].id
    assert store.person(p0).home == c.persons[0].home
    assert {m.code for m in store.medications(p0)} == {"86009"}
    assert len(store.series(p0, C.CGM_GLUCOSE)) == 2 * 24 * 12
