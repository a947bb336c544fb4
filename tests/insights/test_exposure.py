"""Linking exposures to a person: location history vs home, nearest monitor, distance rule."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from hyperhealth.insights.exposure import (
    HISTORY,
    HOME,
    current_environment,
    exposures_for_person,
    haversine_km,
    place_spans,
)
from hyperhealth.model import Exposure, Location, LocationVisit, Person
from hyperhealth.store import Store

DAY = datetime(2024, 7, 1, tzinfo=UTC)
HOME_LOC = Location(40.0, -75.0, "home")
WORK = Location(41.0, -75.0, "work")
ST_HOME = Location(40.05, -75.0, "near home")  # 0.05 deg north of home
ST_HOME_T = Location(40.10, -75.0, "weather near home")  # 0.10 deg north, temperature only
ST_WORK = Location(41.02, -75.0, "near work")  # 0.02 deg north of work
ST_FAR = Location(42.5, -75.0, "far")
KM_PER_DEG = 6371.0088 * math.pi / 180  # one degree of latitude on the IUGG mean sphere


def _hourly(loc: Location, code: str, value: float, unit: str, hours: int = 48) -> list[Exposure]:
    return [Exposure(loc, code, DAY + timedelta(hours=h), value, unit, source="test")
            for h in range(hours)]


def _setup(store: Store, *, home: Location | None = HOME_LOC, visit: bool = True) -> None:
    with store.transaction() as w:
        w.upsert_person(Person("p1", home=home))
        w.add_exposures(_hourly(ST_HOME, "pm25", 8.0, "ug/m3")
                        + _hourly(ST_HOME, "aqi", 44, "{index}")
                        + _hourly(ST_HOME, "heat-index", 35.0, "Cel")
                        + _hourly(ST_HOME_T, "air-temperature", 30.0, "Cel")
                        + _hourly(ST_WORK, "pm25", 40.0, "ug/m3")
                        + _hourly(ST_FAR, "pm25", 99.0, "ug/m3"))
        if visit:
            w.add_location_visits([LocationVisit("p1", DAY + timedelta(hours=8),
                                                 DAY + timedelta(hours=17), WORK, "test")])


def test_history_covers_work_hours_home_the_rest(store: Store) -> None:
    _setup(store)
    got = exposures_for_person(store, "p1", DAY, DAY + timedelta(days=1), codes=["pm25"])
    assert len(got) == 24
    by_hour = {p.t.hour: p for p in got}
    for h in range(24):
        p = by_hour[h]
        if 8 <= h < 17:
            assert (p.basis, p.person_location, p.exposure.location) == (HISTORY, WORK, ST_WORK)
            assert p.distance_km == pytest.approx(0.02 * KM_PER_DEG, abs=1e-3)
            assert p.exposure.value == 40.0
        else:
            assert (p.basis, p.person_location, p.exposure.location) == (HOME, HOME_LOC, ST_HOME)
            assert p.distance_km == pytest.approx(0.05 * KM_PER_DEG, abs=1e-3)


def test_distance_rule(sqlite_store: Store) -> None:
    _setup(sqlite_store)
    day = (DAY, DAY + timedelta(days=1))
    # 5.56 km to the home monitor, 2.22 km to the work monitor
    assert exposures_for_person(sqlite_store, "p1", *day, max_km=2.0) == []
    only_work = exposures_for_person(sqlite_store, "p1", *day, max_km=3.0)
    assert {p.basis for p in only_work} == {HISTORY} and len(only_work) == 9
    # the far monitor (166 km from work) is never the nearest, even with a huge radius
    wide = exposures_for_person(sqlite_store, "p1", *day, max_km=500.0, codes=["pm25"])
    assert all(p.exposure.location != ST_FAR for p in wide)


def test_nearest_monitor_per_metric(sqlite_store: Store) -> None:
    _setup(sqlite_store)
    got = exposures_for_person(sqlite_store, "p1", DAY, DAY + timedelta(hours=8))
    sources = {p.code: (p.exposure.location, p.distance_km) for p in got}
    # the nearest home monitor has no temperature: the next one within 25 km supplies it
    assert sources["pm25"][0] == ST_HOME and sources["aqi"][0] == ST_HOME
    assert sources["air-temperature"] == (ST_HOME_T, pytest.approx(0.10 * KM_PER_DEG, abs=1e-3))
    assert len(got) == 8 * 4  # pm25, aqi, heat-index, air-temperature per hour


def test_no_home_no_history_means_no_exposure(sqlite_store: Store) -> None:
    _setup(sqlite_store, home=None, visit=False)
    assert exposures_for_person(sqlite_store, "p1", DAY, DAY + timedelta(days=1)) == []
    env = current_environment(sqlite_store, "p1", DAY + timedelta(hours=3))
    assert env.location is None and env.values == {}


def test_without_home_only_history_hours(sqlite_store: Store) -> None:
    _setup(sqlite_store, home=None)
    got = exposures_for_person(sqlite_store, "p1", DAY, DAY + timedelta(days=1), codes=["pm25"])
    assert sorted(p.t.hour for p in got) == list(range(8, 17))


def test_place_spans_open_and_overlapping_stays() -> None:
    v1 = LocationVisit("p", DAY + timedelta(hours=2), None, WORK)  # open: until the next stay
    v2 = LocationVisit("p", DAY + timedelta(hours=5), DAY + timedelta(hours=7), ST_FAR)
    spans = place_spans([v2, v1], HOME_LOC, DAY, DAY + timedelta(hours=10))
    assert [(s.start.hour, s.end.hour, s.basis, s.location.label) for s in spans] == [
        (0, 2, HOME, "home"), (2, 5, HISTORY, "work"), (5, 7, HISTORY, "far"),
        (7, 10, HOME, "home")]
    # an open last stay lasts to the end of the range
    last = place_spans([v1], None, DAY, DAY + timedelta(hours=10))
    assert [(s.start.hour, s.end.hour) for s in last] == [(2, 10)]


def test_current_environment(sqlite_store: Store) -> None:
    _setup(sqlite_store)
    at_work = current_environment(sqlite_store, "p1", DAY + timedelta(hours=12))
    assert (at_work.basis, at_work.location) == (HISTORY, WORK)
    assert at_work.values["pm25"].exposure.value == 40.0
    assert at_work.values["pm25"].t == DAY + timedelta(hours=12)
    # no stored AQI near work: computed from PM2.5 40.0 (row 35.5-55.4 -> 101-150)
    assert (at_work.aqi, at_work.aqi_category) == (112, "Unhealthy for Sensitive Groups")
    assert at_work.heat_level is None
    at_home = current_environment(sqlite_store, "p1", DAY + timedelta(hours=20, minutes=30))
    assert (at_home.basis, at_home.aqi, at_home.aqi_category) == (HOME, 44, "Good")
    assert at_home.aqi_colour == "#00E400"
    assert at_home.values["heat-index"].t == DAY + timedelta(hours=20)
    assert (at_home.heat_index_c, at_home.heat_level) == (35.0, "Extreme Caution")  # 95 F


def test_haversine_known_distance() -> None:
    # one degree of longitude on the equator = one degree of latitude
    assert haversine_km(Location(0, 0), Location(0, 1)) == pytest.approx(KM_PER_DEG)
    assert haversine_km(Location(10, 20), Location(10, 20)) == 0.0
    assert haversine_km(Location(0, 0), Location(0, 180)) == pytest.approx(math.pi * 6371.0088)
