"""Environment readings (CSV, JSON) and location history, imported into a real store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hyperhealth.errors import UnknownUnit
from hyperhealth.ingest import IngestOptions, detect, ingest_file
from hyperhealth.ingest.environment import AQI_SOURCE, HEAT_SOURCE, parse_column
from hyperhealth.model import Exposure, Location, Person, heat
from hyperhealth.store import Store

CSV = """\
time,lat,lon,label,pm25_ugm3,o3_ppb,co_ppm,temperature_F,relative_humidity,station_id
2024-07-01T12:00:00Z,40.7128,-74.0060,NYC,35.9,77,8.4,90,50,a1
2024-07-01T13:00:00+00:00,40.7128,-74.0060,NYC,-3,,,,,a1
2024-07-01T14:00:00,40.7128,-74.0060,NYC,5,,,,,a1
2024-07-01T15:00:00Z,140.7,-74.0060,NYC,5,,,,,a1
2024-07-01T16:00:00Z,40.7128,-74.0060,NYC,400,,,,,a1
2024-07-01T17:00:00Z,40.7128,-74.0060,NYC,12.0,abc,,,,a1
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _all_exposures(store: Store) -> list[Exposure]:
    return [x for pk, _ in store.exposure_locations() for x in store.exposures(pk)]


def test_csv_import_computes_aqi_and_heat_index_and_locates_rejects(store: Store,
                                                                     tmp_path: Path) -> None:
    path = _write(tmp_path, "nyc.csv", CSV)
    assert detect(path).name == "environment"
    rep = ingest_file(store, path)
    assert rep.ok, rep.error
    got = {(x.code, x.t.hour): x for x in _all_exposures(store)}
    # TAD worked example: O3 77 ppb (8 h), PM2.5 35.9, CO 8.4 -> AQI 122
    aqi = got[("aqi", 12)]
    assert (aqi.value, aqi.unit, aqi.source) == (122.0, "{index}", AQI_SOURCE)
    t_c = got[("air-temperature", 12)]
    assert t_c.unit == "Cel" and t_c.value == pytest.approx(32.2222, abs=1e-4)
    hi = got[("heat-index", 12)]
    assert hi.source == HEAT_SOURCE and hi.unit == "Cel"
    assert hi.value == pytest.approx(heat.f_to_c(heat.heat_index_f(90, 50)), abs=0.01)
    assert got[("pm25", 17)].value == 12.0 and got[("aqi", 17)].value == 56  # 2024 PM2.5 rows
    assert got[("pm25", 12)].location == Location(40.7128, -74.006, "NYC")
    # the smoke-level reading is stored, but no AQI: it is beyond the table
    assert ("pm25", 16) in got and ("aqi", 16) not in got
    assert any("nyc.csv:6" in w and "above the top" in w for w in rep.warnings)
    assert any("station_id" in w for w in rep.warnings)
    rejects = {(r.where, r.field) for r in rep.rejects}
    assert rejects == {(f"{path}:3", "pm25_ugm3"), (f"{path}:4", "time"),
                       (f"{path}:5", "lat"), (f"{path}:7", "o3_ppb")}
    assert rep.read["rejected"] == 4
    assert rep.added["exposures"] == len(got) == 10  # 7 + 1 + 2


def test_reimport_is_idempotent(sqlite_store: Store, tmp_path: Path) -> None:
    path = _write(tmp_path, "nyc.csv", CSV)
    first = ingest_file(sqlite_store, path)
    again = ingest_file(sqlite_store, path, IngestOptions(force=True))
    assert first.added["exposures"] == 10
    assert again.ok and again.read["exposures"] == 10 and again.added["exposures"] == 0


def test_naive_times_with_tz_option(sqlite_store: Store, tmp_path: Path) -> None:
    path = _write(tmp_path, "e.csv", "time,lat,lon,label,pm10_ugm3\n"
                                     "2024-07-01T08:00:00,48.1,11.6,Munich,60\n")
    rep = ingest_file(sqlite_store, path, IngestOptions(tz="Europe/Berlin"))
    xs = _all_exposures(sqlite_store)
    assert rep.ok and not rep.rejects
    assert {x.code for x in xs} == {"pm10", "aqi"}
    assert all(x.t == datetime(2024, 7, 1, 6, tzinfo=UTC) for x in xs)


@pytest.mark.parametrize(("header", "message"), [
    ("temperature", "has no unit"), ("o3_ugm3", "cannot convert"), ("pm25_furlongs", "not known")])
def test_bad_header_fails_the_file_at_line_1(sqlite_store: Store, tmp_path: Path, header: str,
                                             message: str) -> None:
    path = _write(tmp_path, "bad.csv", f"time,lat,lon,label,pm25_ugm3,{header}\n"
                                       "2024-07-01T12:00:00Z,1,2,x,5,20\n")
    rep = ingest_file(sqlite_store, path)
    assert not rep.ok and f"{path}:1" in rep.error and message in rep.error
    assert sqlite_store.exposure_locations() == []


def test_parse_column() -> None:
    assert parse_column("o3_ppm") == ("o3", "[ppm]")
    assert parse_column("TEMPERATURE_c") == ("air-temperature", "Cel")
    assert parse_column("relative_humidity_pct") == ("relative-humidity", "%")
    assert parse_column("pollen") == ("pollen", "/m3")
    assert parse_column("station") is None
    with pytest.raises(UnknownUnit):
        parse_column("co")


def test_json_import(store: Store, tmp_path: Path) -> None:
    doc = {"schema": "hyperhealth.environment/1", "source": "airnow",
           "location": {"lat": 34.05, "lon": -118.24, "label": "LA"},
           "units": {"pm25": "ug/m3", "o3": "ppm", "temperature": "C"},
           "readings": [
               {"t": "2024-07-01T12:00:00Z", "pm25": 9.0, "o3": 0.030, "temperature": 35,
                "relative_humidity": 40, "uv_index": 9},
               {"t": "2024-07-01T13:00:00Z", "pm25": "x", "no2": 20},
               {"t": "yesterday", "pm25": 5},
               "not an object"]}
    path = _write(tmp_path, "la.json", json.dumps(doc))
    assert detect(path).name == "environment"
    rep = ingest_file(store, path)
    assert rep.ok, rep.error
    got = {(x.code, x.t.hour): x for x in _all_exposures(store)}
    assert got[("o3", 12)].value == pytest.approx(30.0) and got[("o3", 12)].unit == "[ppb]"
    assert got[("pm25", 12)].source == "airnow"
    assert got[("aqi", 12)].value == 50  # PM2.5 9.0 = top of "Good"; O3 30 ppb -> 28
    assert got[("heat-index", 12)].value == pytest.approx(heat.heat_index(35, 40), abs=0.01)
    assert got[("uv-index", 12)].value == 9
    assert {(r.where, r.field) for r in rep.rejects} == {
        (f"{path}: readings[1]", "pm25"), (f"{path}: readings[1]", "no2"),
        (f"{path}: readings[2]", "t"), (f"{path}: readings[3]", "")}


def test_json_without_location_fails(sqlite_store: Store, tmp_path: Path) -> None:
    path = _write(tmp_path, "x.json", json.dumps({"schema": "hyperhealth.environment/1",
                                                  "readings": []}))
    rep = ingest_file(sqlite_store, path)
    assert not rep.ok and "location" in rep.error


def test_location_history(store: Store, tmp_path: Path) -> None:
    with store.transaction() as w:
        w.upsert_person(Person("p-known", tz="America/New_York"))
    path = _write(tmp_path, "hist.csv", """\
person,start,end,lat,lon,label
p-known,2024-07-01T09:00:00,2024-07-01T17:00:00,40.75,-73.99,office
p-known,2024-07-02T00:00:00Z,,41.0,-74.0,
ext-7,2024-07-01T00:00:00Z,2024-07-02T00:00:00Z,34.0,-118.2,LA
ext-7,2024-07-03T00:00:00Z,2024-07-02T00:00:00Z,34.0,-118.2,LA
,2024-07-03T00:00:00Z,,34.0,-118.2,LA
ext-7,2024-07-04T00:00:00Z,,95.0,-118.2,LA
""")
    assert detect(path).name == "environment"
    rep = ingest_file(store, path)
    assert rep.ok, rep.error
    visits = store.location_visits("p-known")
    # naive times are the person's own zone (New York, UTC-4 in July)
    assert visits[0].start == datetime(2024, 7, 1, 13, tzinfo=UTC)
    assert visits[0].end == datetime(2024, 7, 1, 21, tzinfo=UTC)
    assert visits[0].location == Location(40.75, -73.99, "office")
    assert visits[1].end is None
    ext = store.find_person("location-history", "ext-7")
    assert ext is not None and len(store.location_visits(ext)) == 1
    assert {(r.where.rsplit(":", 1)[1], r.field) for r in rep.rejects} == {
        ("5", "end"), ("6", "person"), ("7", "lat")}
    assert rep.added["location_visits"] == 3
