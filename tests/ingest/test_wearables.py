"""Wearable CSV adapter: the Stanford COVID-19 Fitbit recordings and the generic layout."""

from __future__ import annotations

import csv
import gzip
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hyperhealth.ingest import IngestOptions, IngestReport, ingest_file
from hyperhealth.ingest.wearable_csv import ADAPTER, METRIC_ALIASES, resolve_metric
from hyperhealth.model import Quality
from hyperhealth.store import Store

FITBIT = "wearables/stanford-covid-fitbit"


def _write(path: Path, text: str) -> Path:
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def _ingest(store: Store, path: Path, **opts: object) -> IngestReport:
    return ingest_file(store, path, IngestOptions(**opts), adapter=ADAPTER)  # type: ignore[arg-type]


def _manifest(shared: Path) -> list[dict[str, str]]:
    with open(shared / FITBIT / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


# -- the reference recordings --------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitbit_import(shared_data: Path, tmp_path_factory: pytest.TempPathFactory
                  ) -> tuple[Store, dict[str, IngestReport], float]:
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('fitbit') / 'hh.sqlite'}")
    reports = {}
    t0 = time.perf_counter()
    for row in _manifest(shared_data):
        reports[row["file"]] = _ingest(store, shared_data / FITBIT / row["file"])
    elapsed = time.perf_counter() - t0
    yield store, reports, elapsed
    store.close()


@pytest.mark.slow
def test_every_fitbit_file_imports_with_manifest_counts(
        shared_data: Path, fitbit_import: tuple[Store, dict[str, IngestReport], float]) -> None:
    store, reports, elapsed = fitbit_import
    manifest = _manifest(shared_data)
    assert len(manifest) == 24
    total = 0
    for row in manifest:
        rep = reports[row["file"]]
        assert rep.ok, rep.error
        assert rep.format == "wearable_csv"
        rows, dups = int(row["rows"]), int(row["dup_ts"])
        assert rep.read["observations"] == rows, row["file"]
        assert rep.added["observations"] == rows - dups, row["file"]
        assert not rep.rejects
        if dups:
            assert any(f"{dups} readings repeat a timestamp" in w for w in rep.warnings)
        else:
            assert not rep.warnings
        total += rows
    assert total == 3_398_300 + 1_461_936  # README totals
    persons = store.persons()
    assert len(persons) == 12
    print(f"\nFitbit: {total} rows in {elapsed:.1f} s = {total / elapsed:,.0f} readings/s")


@pytest.mark.slow
def test_fitbit_values_times_and_ranges_match_the_manifest(
        shared_data: Path, fitbit_import: tuple[Store, dict[str, IngestReport], float]) -> None:
    store, _, _ = fitbit_import
    for row in _manifest(shared_data):
        pid = store.find_person("fitbit", row["participant"])
        assert pid is not None
        code = "8867-4" if row["kind"] == "hr" else "55423-8"
        s = store.series(pid, code)
        assert len(s) == int(row["rows"]) - int(row["dup_ts"])
        assert s.value.min() == float(row["value_min"])
        assert s.value.max() == float(row["value_max"])
        if row["dup_ts"] == "0":  # with duplicates the first of each is kept, so the mean moves
            assert abs(s.value.mean() - float(row["value_mean"])) < 0.006
        # naive times with no --tz and no zone for the person are read as UTC (and flagged)
        first = datetime.fromisoformat(row["first"]).replace(tzinfo=UTC)
        last = datetime.fromisoformat(row["last"]).replace(tzinfo=UTC)
        assert s.t_us[0] == int(first.timestamp() * 1_000_000)
        assert s.t_us[-1] == int(last.timestamp() * 1_000_000)
    # one exact reading from the file: APGIB2T_hr line 2 is "0,APGIB2T,2020-10-23 00:00:00,77"
    pid = store.find_person("fitbit", "APGIB2T")
    assert pid is not None
    first_hr = store.observations(pid, "8867-4", limit=1)[0]
    assert first_hr.t == datetime(2020, 10, 23, tzinfo=UTC)
    assert first_hr.value == 77 and first_hr.unit == "/min" and first_hr.source == "fitbit"
    assert first_hr.flags == Quality.TZ_ASSUMED and first_hr.t_end is None
    step = store.observations(pid, "55423-8", limit=1)[0]
    assert step.unit == "{steps}" and step.category == "activity"
    assert step.t_end is not None and (step.t_end - step.t).total_seconds() == 60


@pytest.mark.slow
def test_second_fitbit_import_adds_nothing(
        shared_data: Path, fitbit_import: tuple[Store, dict[str, IngestReport], float]) -> None:
    store, _, _ = fitbit_import
    before = store.counts()["observations"]
    again = _ingest(store, shared_data / FITBIT / "AURCTAK_hr.csv.gz")
    assert again.ok and again.already_imported and not again.added
    forced = _ingest(store, shared_data / FITBIT / "AURCTAK_hr.csv.gz", force=True)
    assert forced.ok and forced.read["observations"] == 119_333
    assert forced.added["observations"] == 0
    assert store.counts()["observations"] == before


# -- small files, both backends ------------------------------------------------------------------
GENERIC = """time,metric,value,unit,device,person
2024-03-01T08:00:00+01:00,heart_rate,61,bpm,watch-1,alice
2024-03-01T08:00:00+01:00,8867-4,62,/min,chest-strap,alice
2024-03-01 08:05:00,spo2,97,%,watch-1,alice
2024-03-01T07:10:00Z,weight,154.3,lb,scale,alice
2024-03-01T07:10:00Z,temperature,98.6,degF,thermo,bob
2024-03-01T07:10:00Z,glucose,5.5,mmol/L,meter,bob
2024-03-01T07:15:00Z,heart_rate,abc,bpm,watch-1,alice
2024-03-01T07:16:00Z,heart_rate,400,bpm,watch-1,alice
2024-03-01T07:17:00Z,heart_rate,70,furlongs,watch-1,alice
2024-03-01T07:18:00Z,pulse,70,bpm,watch-1,alice
2024-03-01T07:19:00Z,steps,-3,count,watch-1,alice
not-a-time,steps,10,count,watch-1,alice
2024-03-01T07:20:00Z,steps,120,count,watch-1,alice
"""


def test_generic_csv_imports_good_rows_and_locates_bad_ones(store: Store, tmp_path: Path
                                                            ) -> None:
    path = _write(tmp_path / "week.csv", GENERIC)
    rep = _ingest(store, path)
    assert rep.ok, rep.error
    assert rep.added["observations"] == 7
    bad = {(r.where, r.field): r.reason for r in rep.rejects}
    assert bad[("week.csv:8", "value")] == "'abc' is not a number"
    assert "400 /min is impossible for Heart rate" in bad[("week.csv:9", "value")]
    assert "cannot convert 'furlongs'" in bad[("week.csv:10", "unit")]
    assert bad[("week.csv:11", "metric")] == "unknown metric 'pulse'"
    assert "impossible" in bad[("week.csv:12", "value")]
    assert bad[("week.csv:13", "time")] == "the time is not a valid date-time"
    assert len(rep.rejects) == 6 and rep.read["rejected"] == 6

    alice = store.find_person("wearable_csv", "alice")
    bob = store.find_person("wearable_csv", "bob")
    assert alice and bob and alice != bob
    hr = store.observations(alice, "8867-4")
    assert sorted((o.device, o.value) for o in hr) == [("chest-strap", 62.0), ("watch-1", 61.0)]
    assert hr[0].t == datetime(2024, 3, 1, 7, 0, tzinfo=UTC)
    assert hr[0].flags == Quality.NONE  # the time had an offset
    spo2 = store.observations(alice, "59408-5")[0]
    assert spo2.t == datetime(2024, 3, 1, 8, 5, tzinfo=UTC)  # naive, the person's zone (UTC)
    assert spo2.flags == Quality.TZ_ASSUMED
    weight = store.observations(alice, "29463-7")[0]
    assert weight.unit == "kg" and weight.value == pytest.approx(154.3 * 0.45359237)
    assert weight.flags & Quality.CONVERTED
    temp = store.observations(bob, "8310-5")[0]
    assert temp.unit == "Cel" and temp.value == pytest.approx(37.0)
    glucose = store.observations(bob, "2339-0")[0]
    assert glucose.value == pytest.approx(5.5 * 18.0156) and glucose.unit == "mg/dL"

    again = _ingest(store, path, force=True)
    assert again.ok and again.added["observations"] == 0


def test_fitbit_layout_with_tz_end_time_and_duplicates(store: Store, tmp_path: Path) -> None:
    path = _write(tmp_path / "X1_steps.csv.gz", ",user,datetime,steps\n"
                  "0,X1,2021-07-01 09:00:00,12\n"
                  "1,X1,2021-07-01 09:01:00,0\n"
                  "2,X1,2021-07-01 09:01:00,5\n"
                  "3,X1,2021-07-01 09:02:00,-1\n")
    rep = _ingest(store, path, tz="America/New_York")
    assert rep.ok, rep.error
    assert rep.read["observations"] == 3 and rep.added["observations"] == 2
    assert rep.warnings == ["X1_steps.csv.gz: 1 readings repeat a timestamp already in the "
                            "file; the first of each was kept"]
    assert [(r.where, r.field) for r in rep.rejects] == [("X1_steps.csv.gz:5", "steps")]
    pid = store.find_person("fitbit", "X1")
    assert pid is not None
    obs = store.observations(pid, "55423-8")
    assert [o.value for o in obs] == [12.0, 0.0]
    assert obs[0].t == datetime(2021, 7, 1, 13, 0, tzinfo=UTC)  # EDT = UTC-4
    assert obs[0].t_end == datetime(2021, 7, 1, 13, 1, tzinfo=UTC)
    assert obs[0].flags == Quality.NONE  # the zone was given


def test_generic_end_time_and_person_option(sqlite_store: Store, tmp_path: Path) -> None:
    with sqlite_store.transaction() as w:
        from hyperhealth.model import Person

        w.upsert_person(Person("p-known", tz="Europe/Berlin"))
    path = _write(tmp_path / "steps.csv", "time,metric,value,unit,end_time\n"
                  "2024-01-10 10:00:00,55423-8,300,{steps},2024-01-10 10:15:00\n"
                  "2024-01-10 10:20:00,55423-8,200,{steps},soon\n")
    rep = _ingest(sqlite_store, path, person="p-known")
    assert rep.ok and rep.persons == ["p-known"]
    assert [(r.where, r.field) for r in rep.rejects] == [("steps.csv:3", "end_time")]
    assert rep.added["observations"] == 1
    o = sqlite_store.observations("p-known", "55423-8")[0]
    # the person's stored zone counts as known: CET = UTC+1, not flagged
    assert o.t == datetime(2024, 1, 10, 9, 0, tzinfo=UTC)
    assert o.t_end == datetime(2024, 1, 10, 9, 15, tzinfo=UTC)
    assert o.flags == Quality.NONE


def test_truncated_gzip_stores_nothing(sqlite_store: Store, tmp_path: Path) -> None:
    lines = [",user,datetime,heartrate"] + [
        f"{i},T1,2021-01-01 {i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d},{60 + i % 40}"
        for i in range(60_000)]
    blob = gzip.compress("\n".join(lines).encode())
    path = tmp_path / "T1_hr.csv.gz"
    path.write_bytes(blob[: len(blob) * 2 // 3])
    rep = _ingest(sqlite_store, path)
    assert not rep.ok
    assert "T1_hr.csv.gz" in rep.error and "nothing from this file was stored" in rep.error
    counts = sqlite_store.counts()
    assert counts["observations"] == 0 and counts["persons"] == 0


def test_sniff_and_aliases(tmp_path: Path) -> None:
    assert ADAPTER.sniff(tmp_path / "a.csv.gz", ",user,datetime,heartrate\n0,A,2020-01-01,6")
    assert ADAPTER.sniff(tmp_path / "b.txt", "user,datetime,steps\n")
    assert ADAPTER.sniff(tmp_path / "c.csv", "\ufefftime,metric,value,unit,device\n")
    assert not ADAPTER.sniff(tmp_path / "d.csv", '"","id","time","gl"\n')
    assert not ADAPTER.sniff(tmp_path / "e.csv", "time,value\n")
    assert len(METRIC_ALIASES) == 13
    assert resolve_metric(" Heart_Rate ") == "8867-4" and resolve_metric("9279-1") == "9279-1"


def test_auto_detection_picks_this_adapter(shared_data: Path, tmp_path: Path) -> None:
    from hyperhealth.ingest import detect

    generic = _write(tmp_path / "readings.csv.gz", GENERIC)
    assert detect(generic).name == "wearable_csv"
    assert detect(shared_data / FITBIT / "A0NVTRV_hr.csv.gz").name == "wearable_csv"
