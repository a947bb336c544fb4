"""CGM adapter: iglu reference CSVs, and Dexcom Clarity / Nightscout fixtures built here."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from hyperhealth.ingest import IngestOptions, IngestReport, ingest_file
from hyperhealth.ingest.cgm import ADAPTER
from hyperhealth.model import LifestyleKind, Quality
from hyperhealth.store import Store

IGLU = "cgm/iglu"
EST = "EST"  # the README: iglu times are EST, fixed UTC-5


def _ingest(store: Store, path: Path, **opts: object) -> IngestReport:
    return ingest_file(store, path, IngestOptions(**opts), adapter=ADAPTER)  # type: ignore[arg-type]


# -- iglu ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_iglu_files_import_and_agree_with_pandas(shared_data: Path, sqlite_store: Store) -> None:
    d = shared_data / IGLU
    expected = {"example_data_1_subject.csv": (2915, 2915),
                "example_data_5_subject.csv": (13866, 13866 - 2915),  # Subject 1 seen before
                "example_data_hall.csv": (34890, 34890)}
    for name, (read, added) in expected.items():
        rep = _ingest(sqlite_store, d / name, tz=EST)
        assert rep.ok, rep.error
        assert (rep.read["observations"], rep.added["observations"]) == (read, added), name
        assert not rep.rejects and not rep.warnings
    meals = _ingest(sqlite_store, d / "example_meals_hall.csv", tz=EST)
    assert meals.ok and meals.added["lifestyle_events"] == 9

    for name in expected:
        df = pd.read_csv(d / name)
        for sid, group in df.groupby("id"):
            pid = sqlite_store.find_person("iglu", str(sid))
            assert pid is not None
            s = sqlite_store.series(pid, "99504-3")
            assert len(s) == len(group)
            assert s.value.mean() == pytest.approx(group["gl"].mean(), rel=1e-12)
    assert len(sqlite_store.persons()) == 5 + 19

    # line 2 of example_data_1_subject.csv: "1","Subject 1",2015-06-06 16:50:27,153 (EST)
    pid = sqlite_store.find_person("iglu", "Subject 1")
    assert pid is not None
    first = sqlite_store.observations(pid, "99504-3", limit=1)[0]
    assert first.t == datetime(2015, 6, 6, 21, 50, 27, tzinfo=UTC)
    assert (first.value, first.unit, first.category, first.flags) == (
        153.0, "mg/dL", "cgm", Quality.NONE)
    # example_meals_hall.csv row 4: "2133-018";"PB 1";2017-03-15 09:40:00
    meal_pid = sqlite_store.find_person("iglu", "2133-018")
    assert meal_pid is not None
    ev = sqlite_store.lifestyle_events(meal_pid)
    assert (ev[0].kind, ev[0].details["description"]) == (LifestyleKind.MEAL, "PB 1")
    assert ev[0].start == datetime(2017, 3, 15, 14, 40, tzinfo=UTC)

    before = sqlite_store.counts()
    for name in [*expected, "example_meals_hall.csv"]:
        again = _ingest(sqlite_store, d / name, tz=EST, force=True)
        assert again.ok and not again.added, name
    assert sqlite_store.counts() == {**before, "ingest_files": before["ingest_files"]}


def test_iglu_na_gaps_and_bad_values(store: Store, tmp_path: Path) -> None:
    p = tmp_path / "cgm.csv.gz"
    p.write_bytes(gzip.compress(
        b'"","id","time","gl"\n'
        b'"1","S9",2020-01-01 00:00:00,100\n'
        b'"2","S9",2020-01-01 00:05:00,NA\n'
        b'"3","S9",2020-01-01 00:10:00,high\n'
        b'"4","S9",2020-01-01 00:15:00,0\n'
        b'"5","S9",2020-01-01 00:20:00,110\n'))
    rep = _ingest(store, p)
    assert rep.ok, rep.error
    assert rep.added["observations"] == 2
    assert rep.skipped["missing value"] == 1
    assert [(r.where, r.field) for r in rep.rejects] == [("cgm.csv.gz:4", "gl"),
                                                          ("cgm.csv.gz:5", "gl")]
    pid = store.find_person("iglu", "S9")
    assert pid is not None
    obs = store.observations(pid, "99504-3")
    assert [o.value for o in obs] == [100.0, 110.0]
    assert obs[0].flags == Quality.TZ_ASSUMED  # no --tz, no zone for the person


# -- Dexcom Clarity ------------------------------------------------------------------------------
def _dexcom(unit: str) -> str:
    rate = "mg/dL/min" if unit == "mg/dL" else "mmol/L/min"
    head = ("Index,Timestamp (YYYY-MM-DDThh:mm:ss),Event Type,Event Subtype,Patient Info,"
            f"Device Info,Source Device ID,Glucose Value ({unit}),Insulin Value (u),"
            f"Carb Value (grams),Duration (hh:mm:ss),Glucose Rate of Change ({rate}),"
            "Transmitter Time (Long Integer),Transmitter ID")
    g = ["104", "Low", "High", "abc"] if unit == "mg/dL" else ["5.8", "Low", "High", "abc"]
    rows = [
        "1,,FirstName,,Jane,,,,,,,,,",
        "2,,LastName,,Doe,,,,,,,,,",
        "3,,DateOfBirth,,1984-02-29,,,,,,,,,",
        "4,,Device,,,G6 Mobile App,Android G6,,,,,,,",
        "5,,Alert,High,,,,,,,,,,",
        f"6,2023-05-01T08:00:00,EGV,,,,Android G6,{g[0]},,,,,2801934,8XYZ12",
        f"7,2023-05-01T08:05:00,EGV,,,,Android G6,{g[1]},,,,,2802234,8XYZ12",
        f"8,2023-05-01T08:10:00,EGV,,,,Android G6,{g[2]},,,,,2802534,8XYZ12",
        f"9,2023-05-01T08:15:00,EGV,,,,Android G6,{g[3]},,,,,2802834,8XYZ12",
        "10,2023-05-01T08:20:00,Carbs,,,,Android G6,,,45,,,,",
        "11,2023-05-01T08:21:00,Insulin,Fast-Acting,,,Android G6,,4.5,,,,,",
        "12,2023-05-01T09:00:00,Exercise,Medium,,,Android G6,,,,00:30:00,,,",
        "13,2023-05-01T09:30:00,Health,Illness,,,Android G6,,,,,,,",
        f"14,2023-05-01T10:00:00,Calibration,,,,Android G6,{g[0]},,,,,2803234,8XYZ12",
    ]
    return "\n".join([head, *rows]) + "\n"


@pytest.mark.parametrize("unit", ["mg/dL", "mmol/L"])
def test_dexcom_clarity_export(store: Store, tmp_path: Path, unit: str) -> None:
    p = tmp_path / "CLARITY_Export_Doe_Jane.csv"
    p.write_text(_dexcom(unit))
    assert ADAPTER.sniff(p, p.read_text()[:4096])
    rep = _ingest(store, p, tz="America/Chicago")
    assert rep.ok, rep.error
    assert rep.added["observations"] == 4 and rep.added["lifestyle_events"] == 3
    assert [(r.where, r.field) for r in rep.rejects] == [(f"{p.name}:10", "Glucose Value")]
    assert rep.skipped["Dexcom Health event"] == 1 and rep.skipped["Dexcom Alert setting"] == 1
    pid = rep.persons[0]
    assert store.person(pid).birth_date is not None
    assert store.person(pid).birth_date.isoformat() == "1984-02-29"  # type: ignore[union-attr]
    links = store.person_links(pid)
    assert links[0][0] == "dexcom" and "Jane" not in links[0][1]  # the name is not stored
    egv = store.observations(pid, "99504-3")
    assert egv[0].t == datetime(2023, 5, 1, 13, 0, tzinfo=UTC)  # CDT = UTC-5
    first = 104.0 if unit == "mg/dL" else pytest.approx(5.8 * 18.0156)
    assert egv[0].value == first and egv[0].unit == "mg/dL" and egv[0].device == "8XYZ12"
    assert (egv[1].value, egv[1].value_text) == (40.0, "Low")
    assert (egv[2].value, egv[2].value_text) == (400.0, "High")
    assert egv[1].flags & Quality.DEVICE_FLAGGED and egv[2].flags & Quality.DEVICE_FLAGGED
    assert not egv[0].flags & Quality.DEVICE_FLAGGED
    assert bool(egv[0].flags & Quality.CONVERTED) == (unit == "mmol/L")
    meter = store.observations(pid, "2339-0")
    assert len(meter) == 1 and meter[0].t == datetime(2023, 5, 1, 15, 0, tzinfo=UTC)
    events = {e.kind: e for e in store.lifestyle_events(pid)}
    assert events[LifestyleKind.MEAL].details == {"carbs_g": 45.0}
    assert events[LifestyleKind.MEDICATION_INTAKE].details == {
        "display": "insulin (fast-acting)", "dose": 4.5, "dose_unit": "U"}
    ex = events[LifestyleKind.EXERCISE]
    assert ex.end is not None and ex.end - ex.start == timedelta(minutes=30)
    assert ex.details == {"intensity": "medium"}
    again = _ingest(store, p, tz="America/Chicago", force=True)
    assert again.ok and not again.added


# -- Nightscout ----------------------------------------------------------------------------------
def test_nightscout_entries(sqlite_store: Store, tmp_path: Path) -> None:
    t0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z
    entries = [
        {"_id": "a1", "type": "sgv", "sgv": 118, "date": t0, "direction": "Flat",
         "dateString": "2023-11-14T23:13:20.000+0100", "device": "xDrip-DexcomG6"},
        {"_id": "a2", "type": "sgv", "sgv": 121, "date": t0 + 300_000,
         "device": "xDrip-DexcomG6"},
        {"_id": "a3", "type": "sgv", "sgv": 5, "date": t0 + 600_000, "device": "xDrip-DexcomG6"},
        {"_id": "a4", "type": "mbg", "mbg": 130, "date": t0 + 900_000, "device": "meter"},
        {"_id": "a5", "type": "cal", "slope": 1000, "date": t0 + 900_000},
        {"_id": "a6", "type": "sgv", "sgv": 140, "dateString": "2023-11-14T23:33:20+01:00"},
        {"_id": "a7", "type": "sgv", "sgv": 150},
        {"_id": "a8", "type": "sgv", "sgv": "n/a", "date": t0 + 1_500_000},
    ]
    p = tmp_path / "my-site-entries.json"
    p.write_text(json.dumps(entries))
    assert ADAPTER.sniff(p, p.read_text()[:4096])
    rep = _ingest(sqlite_store, p)
    assert rep.ok, rep.error
    assert rep.added["observations"] == 4
    assert rep.skipped["Nightscout cal entry"] == 1
    bad = {r.where: (r.field, r.reason) for r in rep.rejects}
    assert bad[f"{p.name} entry 2"][0] == "sgv" and "sensor not calibrated" in \
        bad[f"{p.name} entry 2"][1]
    assert bad[f"{p.name} entry 6"][0] == "date"
    assert bad[f"{p.name} entry 7"][0] == "sgv"
    pid = sqlite_store.find_person("nightscout", "my-site-entries")
    assert pid is not None
    sgv = sqlite_store.observations(pid, "99504-3")
    assert [(o.t, o.value) for o in sgv] == [
        (datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC), 118.0),
        (datetime(2023, 11, 14, 22, 18, 20, tzinfo=UTC), 121.0),
        (datetime(2023, 11, 14, 22, 33, 20, tzinfo=UTC), 140.0)]
    assert sgv[0].device == "xDrip-DexcomG6" and sgv[0].flags == Quality.NONE
    mbg = sqlite_store.observations(pid, "2339-0")
    assert [(o.value, o.device) for o in mbg] == [(130.0, "meter")]


def test_sniff_tells_the_layouts_apart(tmp_path: Path) -> None:
    p = tmp_path / "x"
    assert ADAPTER.sniff(p, '"","id","time","gl","diagnosis"\n')
    assert ADAPTER.sniff(p, "id,time,gl\n")
    assert ADAPTER.sniff(p, '"";"id";"meal";"mealtime"\n')
    assert ADAPTER.sniff(p, '[{"type":"sgv","sgv":100,"date":1}]')
    assert not ADAPTER.sniff(p, '{"resourceType":"Bundle"}')
    assert not ADAPTER.sniff(p, ",user,datetime,heartrate\n")
    assert not ADAPTER.sniff(p, "time,metric,value,unit\n")


def test_auto_detection_picks_this_adapter(shared_data: Path, tmp_path: Path) -> None:
    from hyperhealth.ingest import detect

    dexcom = tmp_path / "clarity.csv"
    dexcom.write_text(_dexcom("mmol/L"))
    ns = tmp_path / "entries.json.gz"
    ns.write_bytes(gzip.compress(json.dumps([{"type": "sgv", "sgv": 99, "date": 1}]).encode()))
    for p in (dexcom, ns, shared_data / IGLU / "example_data_hall.csv",
              shared_data / IGLU / "example_meals_hall.csv"):
        assert detect(p).name == "cgm", p
