"""Advisories over a store: the synthetic cohort's smoke day and heat wave, FHIR records."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from statistics import mean
from zoneinfo import ZoneInfo

import pytest

from hyperhealth.actions.advisories import (
    advisories_for,
    advisories_for_person,
    assess_person,
    environment_from_values,
)
from hyperhealth.actions.levels import Level
from hyperhealth.insights.exposure import haversine_km
from hyperhealth.model import Location, Person
from hyperhealth.model.time import age_on
from hyperhealth.store import Store
from hyperhealth.synth import Cohort, GroundTruthEvent, generate_cohort

LUNG_SNOMED = {"195967001", "13645005"}  # asthma, COPD as the generator codes them


@pytest.fixture(scope="module")
def cohort_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cohort, Store]]:
    # seed 11: persons 0, 2 and 3 share the smoke city; person 1 lives in the heat-wave city
    cohort = generate_cohort(persons=4, days=5, seed=11)
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('adv') / 'hh.sqlite'}")
    cohort.write(store)
    yield cohort, store
    store.close()


def _event(cohort: Cohort, kind: str) -> GroundTruthEvent:
    return next(e for e in cohort.ground_truth if e.kind == kind)


def _residents(cohort: Cohort, e: GroundTruthEvent) -> list[Person]:
    here = Location(e.params["lat"], e.params["lon"])
    return [p for p in cohort.persons
            if p.home is not None and haversine_km(p.home, here) < 1.0]


def _sensitive_to_pm(cohort: Cohort, p: Person, at: datetime) -> bool:
    lung = any(c.person_id == p.id and c.code in LUNG_SNOMED for c in cohort.conditions)
    assert p.birth_date is not None
    age = age_on(p.birth_date, at.astimezone(ZoneInfo(p.tz)).date())
    return lung or age >= 65 or age < 18


def test_smoke_day_advisories_follow_the_injected_episode(
        cohort_store: tuple[Cohort, Store]) -> None:
    cohort, store = cohort_store
    smoke = _event(cohort, "wildfire_smoke")
    here = _residents(cohort, smoke)
    elsewhere = [p for p in cohort.persons if p not in here]
    assert here and elsewhere
    during = smoke.start + (smoke.end - smoke.start) / 2
    calm = [t for t in (smoke.start - timedelta(hours=12), smoke.end + timedelta(hours=12))
            if cohort.start <= t < cohort.start + timedelta(days=cohort.days)]
    assert calm
    levels = {}
    for p in here:
        got = {a.rule: a for a in advisories_for_person(store, p.id, during)}
        air = got["air-quality"]
        assert air.evidence["responsible_pollutant"] == "pm25"
        assert air.evidence["category"] in ("Very Unhealthy", "Hazardous")
        (pm,) = [x["reading"] for x in air.evidence["pollutants"] if x["pollutant"] == "pm25"]
        assert pm["value"] > 100 and smoke.start <= pm["t"] < smoke.end
        levels[p.id] = air.level
        # personalised: the sensitive get the stronger advice, with their reason
        if _sensitive_to_pm(cohort, p, during):
            assert air.level == Level.URGENT
            assert "Avoid all physical activity outdoors" in air.text
            assert any("most affected by PM2.5" in w for w in air.why)
        else:
            assert air.level == Level.WARN
            assert any("Nothing recorded about you" in w for w in air.why)
        for t in calm:
            assert "air-quality" not in {a.rule for a in advisories_for_person(store, p.id, t)}
    assert len(set(levels.values())) == 2, "the cohort should hold both kinds of person"
    for p in elsewhere:
        assert "air-quality" not in {a.rule for a in advisories_for_person(store, p.id, during)}


def test_heat_wave_advisories_follow_the_injected_episode(
        cohort_store: tuple[Cohort, Store]) -> None:
    cohort, store = cohort_store
    wave = _event(cohort, "heat_wave")
    (p,) = _residents(cohort, wave)
    tz = ZoneInfo(p.tz)
    afternoons = []  # 15:00 local on each day of the cohort
    for d in range(cohort.days + 1):
        local = datetime.combine((cohort.start + timedelta(days=d)).astimezone(tz).date(),
                                 datetime.min.time(), tz).replace(hour=15)
        t = local.astimezone(UTC)
        if cohort.start <= t < cohort.start + timedelta(days=cohort.days):
            afternoons.append(t)
    in_wave = [t for t in afternoons if wave.start <= t < wave.end]
    before_or_after = [t for t in afternoons if t not in in_wave]
    assert in_wave and before_or_after
    hi: dict[bool, list[float]] = {True: [], False: []}
    for t in afternoons:
        heat = {a.rule: a for a in advisories_for_person(store, p.id, t)}["heat"]
        hi[t in in_wave].append(heat.evidence["heat_index_c"])
        if t in in_wave:
            assert heat.evidence["nws_level"] in ("Danger", "Extreme Danger")
            # hypertension treated with lisinopril: CDC risk factors, so the top level
            assert heat.level == Level.URGENT
            assert any("Lisinopril" in w and "ACE inhibitor" in w for w in heat.why)
            assert any("Hypertension" in w for w in heat.why)
    assert mean(hi[True]) > mean(hi[False]) + 2.0


def test_report_says_what_was_not_checked(cohort_store: tuple[Cohort, Store]) -> None:
    cohort, store = cohort_store
    r = assess_person(store, cohort.persons[0].id, cohort.start + timedelta(hours=20))
    assert set(r.not_checked) == {"pollen", "uv"}  # the cohort has no pollen or UV readings
    assert r.environment["location"]["basis"] == "home"
    assert {"pm25", "o3", "air-temperature", "relative-humidity"} <= set(
        r.environment["readings"])


def test_no_location_and_deceased(store: Store) -> None:
    now = datetime(2024, 7, 1, 12, tzinfo=UTC)
    with store.transaction() as w:
        w.upsert_person(Person("nowhere", birth_date=date(1980, 1, 1)))
        w.upsert_person(Person("gone", birth_date=date(1930, 1, 1),
                               home=Location(38.58, -121.49),
                               deceased=datetime(2020, 1, 1, tzinfo=UTC)))
    (a,) = advisories_for_person(store, "nowhere", now)
    assert a.rule == "environment-data" and "No home location" in a.why[0]
    r = assess_person(store, "gone", now)
    assert r.advisories == () and r.not_checked["heat"] == "the person is recorded as deceased"


def test_synthea_records_personalise_the_advice(shared_data: Path, sqlite_store: Store) -> None:
    """A Synthea patient with heart failure on furosemide and metoprolol, as FHIR carries them."""
    from hyperhealth.ingest import ingest_paths

    bundle = next((shared_data / "fhir" / "synthea").glob("Vida_Schultz_*.json"))
    ingest_paths(sqlite_store, [bundle])
    (p,) = sqlite_store.persons()
    now = datetime(2006, 7, 1, 15, tzinfo=UTC)  # she died in December 2006
    env = environment_from_values(now, {"air-temperature": 33.0, "relative-humidity": 50.0,
                                        "pm25": 40.0})
    got = {a.rule: a for a in advisories_for(p, sqlite_store.conditions(p.id),
                                             sqlite_store.medications(p.id), env, [], now,
                                             allergies=sqlite_store.allergies(p.id))}
    heat, air = got["heat"], got["air-quality"]
    assert heat.evidence["nws_level"] == "Extreme Caution" and heat.level == Level.WARN
    classes = {m["class"] for m in heat.evidence["medicines"]}
    assert classes == {"diuretic", "beta_blocker"}
    assert any(w.startswith("Lasix 40mg is a diuretic") for w in heat.why)
    assert any("[Toprol] is a beta-blocker" in w for w in heat.why)
    assert air.level == Level.WARN
    assert any("Chronic congestive heart failure" in w and "SNOMED CT 88805009" in w
               for w in air.why)
    # the same air and heat for a person with no records and no risk: less, and other reasons
    plain = {a.rule: a for a in advisories_for(Person("x", birth_date=date(1980, 1, 1)), [], [],
                                               env, [], now)}
    assert "air-quality" not in plain and plain["heat"].level == Level.INFO


def test_public_surface() -> None:
    import hyperhealth.actions.advisories as pkg

    assert set(pkg.__all__) == {
        "RULES", "SUPPORT_NOTE", "Advisory", "AdvisoryReport", "advisories_for",
        "advisories_for_person", "assess", "assess_person", "environment_from_values"}
    assert all(getattr(pkg, n) is not None for n in pkg.__all__)
    assert list(pkg.RULES) == ["air-quality", "heat", "cold", "pollen", "uv"]
