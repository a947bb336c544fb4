"""Apple Health export.xml: a realistic export built here, streamed import, memory bound."""

from __future__ import annotations

import gzip
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from hyperhealth.ingest import IngestOptions, IngestReport, ingest_file
from hyperhealth.ingest._base import IngestContext
from hyperhealth.ingest.apple_health import ADAPTER, apple_unit
from hyperhealth.model import LifestyleKind, Quality
from hyperhealth.store import Store

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE HealthData [
<!ELEMENT HealthData (ExportDate,Me,(Record|Correlation|Workout|ActivitySummary)*)>
<!ATTLIST HealthData locale CDATA #REQUIRED>
]>
<HealthData locale="en_US">
 <ExportDate value="2024-05-02 09:00:00 +0200"/>
 <Me HKCharacteristicTypeIdentifierDateOfBirth="1979-06-15" \
HKCharacteristicTypeIdentifierBiologicalSex="HKBiologicalSexFemale" \
HKCharacteristicTypeIdentifierBloodType="HKBloodTypeNotSet" \
HKCharacteristicTypeIdentifierFitzpatrickSkinType="HKFitzpatrickSkinTypeNotSet" \
HKCharacteristicTypeIdentifierCardioFitnessMedicationsUse="None"/>
"""
TAIL = "</HealthData>\n"
W = 'sourceName="Ana’s Apple Watch" sourceVersion="10.4" device="&lt;&lt;HKDevice: 0x28329a0f0&gt;, name:Apple Watch, manufacturer:Apple Inc., model:Watch&gt;"'  # noqa: E501
P = 'sourceName="Health" sourceVersion="17.4"'


def _rec(rtype: str, unit: str, value: str, start: str, end: str | None = None,
         src: str = W, inner: str = "") -> str:
    end = end or start
    return (f' <Record type="HKQuantityTypeIdentifier{rtype}" {src} unit="{unit}" '
            f'creationDate="{end}" startDate="{start}" endDate="{end}" value="{value}">'
            f'{inner}</Record>\n')


BODY = "".join([
    _rec("HeartRate", "count/min", "62", "2024-05-01 07:00:00 +0200",
         inner='\n  <MetadataEntry key="HKMetadataKeyHeartRateMotionContext" value="0"/>\n '),
    _rec("RestingHeartRate", "count/min", "55", "2024-05-01 00:00:00 +0200",
         "2024-05-01 23:59:00 +0200"),
    _rec("HeartRateVariabilitySDNN", "ms", "48.2", "2024-05-01 07:10:00 +0200",
         inner='\n  <HeartRateVariabilityMetadataList>\n   <InstantaneousBeatsPerMinute bpm="61" '
               'time="7:10:01,12 AM"/>\n  </HeartRateVariabilityMetadataList>\n '),
    _rec("OxygenSaturation", "%", "0.97", "2024-05-01 03:00:00 +0200"),
    _rec("BloodGlucose", "mmol&lt;180.1558800000541&gt;/L", "5.6", "2024-05-01 08:00:00 +0200",
         src=P),
    _rec("StepCount", "count", "1234", "2024-05-01 09:00:00 +0200", "2024-05-01 09:20:00 +0200"),
    _rec("BodyMass", "lb", "150", "2024-05-01 06:30:00 +0200", src=P),
    _rec("Height", "cm", "168", "2024-05-01 06:30:00 +0200", src=P),
    _rec("BodyTemperature", "degF", "98.6", "2024-05-01 06:35:00 +0200", src=P),
    _rec("RespiratoryRate", "count/min", "14.5", "2024-05-01 03:00:00 +0200"),
    _rec("HeartRate", "count/min", "400", "2024-05-01 07:01:00 +0200"),  # impossible
    _rec("HeartRate", "count/min", "n/a", "2024-05-01 07:02:00 +0200"),  # damaged
    _rec("HeartRate", "furlong", "70", "2024-05-01 07:03:00 +0200"),  # unknown unit
    _rec("DietaryWater", "mL", "250", "2024-05-01 12:00:00 +0200", src=P),  # not mapped
    _rec("DietaryWater", "mL", "300", "2024-05-01 15:00:00 +0200", src=P),
    ' <Correlation type="HKCorrelationTypeIdentifierBloodPressure" sourceName="Omron" '
    'creationDate="2024-05-01 07:30:00 +0200" startDate="2024-05-01 07:30:00 +0200" '
    'endDate="2024-05-01 07:30:00 +0200">\n'
    + _rec("BloodPressureSystolic", "mmHg", "124", "2024-05-01 07:30:00 +0200",
           src='sourceName="Omron"')
    + _rec("BloodPressureDiastolic", "mmHg", "81", "2024-05-01 07:30:00 +0200",
           src='sourceName="Omron"')
    + " </Correlation>\n",
    ' <Record type="HKCategoryTypeIdentifierSleepAnalysis" ' + W + ' creationDate="2024-05-01 '
    '07:00:00 +0200" startDate="2024-04-30 23:10:00 +0200" endDate="2024-05-01 06:40:00 +0200" '
    'value="HKCategoryValueSleepAnalysisInBed"/>\n',
    ' <Record type="HKCategoryTypeIdentifierSleepAnalysis" ' + W + ' creationDate="2024-05-01 '
    '07:00:00 +0200" startDate="2024-04-30 23:10:00 +0200" endDate="2024-04-30 23:55:00 +0200" '
    'value="HKCategoryValueSleepAnalysisAsleepCore"/>\n',
    ' <Record type="HKCategoryTypeIdentifierSleepAnalysis" ' + W + ' creationDate="2024-05-01 '
    '07:00:00 +0200" startDate="2024-04-30 23:55:00 +0200" endDate="2024-05-01 00:40:00 +0200" '
    'value="HKCategoryValueSleepAnalysisAsleepDeep"/>\n',
    ' <Workout workoutActivityType="HKWorkoutActivityTypeRunning" duration="31.5" '
    'durationUnit="min" totalDistance="5.2" totalDistanceUnit="km" totalEnergyBurned="310" '
    'totalEnergyBurnedUnit="kcal" ' + W + ' creationDate="2024-05-01 18:40:00 +0200" '
    'startDate="2024-05-01 18:05:00 +0200" endDate="2024-05-01 18:36:30 +0200">\n'
    '  <WorkoutEvent type="HKWorkoutEventTypeSegment" date="2024-05-01 18:05:00 +0200" '
    'duration="10" durationUnit="min"/>\n </Workout>\n',
    ' <Workout workoutActivityType="HKWorkoutActivityTypeTraditionalStrengthTraining" '
    'duration="40" durationUnit="min" ' + W + ' creationDate="2024-05-02 08:00:00 +0200" '
    'startDate="2024-05-02 07:00:00 +0200" endDate="2024-05-02 07:40:00 +0200">\n'
    '  <WorkoutStatistics type="HKQuantityTypeIdentifierActiveEnergyBurned" '
    'startDate="2024-05-02 07:00:00 +0200" endDate="2024-05-02 07:40:00 +0200" sum="200" '
    'unit="Cal"/>\n </Workout>\n',
    ' <ActivitySummary dateComponents="2024-05-01" activeEnergyBurned="450" '
    'activeEnergyBurnedGoal="500" activeEnergyBurnedUnit="Cal"/>\n',
])


def _export(tmp_path: Path, gz: bool = False) -> Path:
    text = HEAD + BODY + TAIL
    if gz:
        p = tmp_path / "export.xml.gz"
        p.write_bytes(gzip.compress(text.encode()))
    else:
        p = tmp_path / "export.xml"
        p.write_text(text, encoding="utf-8")
    return p


def _ingest(store: Store, path: Path, **opts: object) -> IngestReport:
    return ingest_file(store, path, IngestOptions(**opts), adapter=ADAPTER)  # type: ignore[arg-type]


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize("gz", [False, True])
def test_apple_health_export(store: Store, tmp_path: Path, gz: bool) -> None:
    p = _export(tmp_path, gz)
    assert ADAPTER.sniff(p, p.read_bytes()[:200].decode() if not gz else HEAD[:400])
    rep = _ingest(store, p)
    assert rep.ok, rep.error
    assert rep.added["observations"] == 12
    assert rep.added["lifestyle_events"] == 5
    assert rep.skipped == {"HKQuantityTypeIdentifierDietaryWater": 2, "ActivitySummary": 1}
    assert [(r.field, r.where.split(" element ")[0]) for r in rep.rejects] == [
        ("value", p.name), ("value", p.name), ("unit", p.name)]
    assert "400 /min is impossible" in rep.rejects[0].reason
    assert "HeartRate" in rep.rejects[1].where

    pid = rep.persons[0]
    person = store.person(pid)
    assert (person.birth_date, person.sex_at_birth) == (date(1979, 6, 15), "female")
    assert store.person_links(pid)[0][0] == "apple_health"

    def one(code: str) -> tuple[float | None, str, datetime, Quality]:
        o = store.observations(pid, code)
        assert len(o) == 1, code
        return o[0].value, o[0].unit, o[0].t, o[0].flags

    assert one("8867-4")[:3] == (62.0, "/min", _utc("2024-05-01T07:00:00+02:00"))
    assert one("40443-4")[:2] == (55.0, "/min")
    assert one("80404-7")[:2] == (48.2, "ms")
    spo2 = one("59408-5")
    assert spo2[:2] == (pytest.approx(97.0), "%") and spo2[3] & Quality.CONVERTED
    glucose = one("2339-0")
    assert glucose[0] == pytest.approx(5.6 * 18.0156) and glucose[1] == "mg/dL"
    steps = store.observations(pid, "55423-8")[0]
    assert steps.value == 1234 and steps.t_end is not None
    assert steps.t_end - steps.t == timedelta(minutes=20)
    assert one("29463-7")[0] == pytest.approx(150 * 0.45359237)
    assert one("8302-2")[:2] == (168.0, "cm")
    assert one("8310-5")[0] == pytest.approx(37.0)
    assert one("9279-1")[:2] == (14.5, "/min")
    assert one("8480-6")[0] == 124.0 and one("8462-4")[0] == 81.0
    hr = store.observations(pid, "8867-4")[0]
    assert hr.device == "Ana’s Apple Watch" and hr.source == "apple_health"
    assert hr.flags == Quality.NONE  # Apple writes offsets: no zone is assumed

    events = store.lifestyle_events(pid)
    sleep = [e for e in events if e.kind == LifestyleKind.SLEEP]
    assert sorted(str(e.details["stage"]) for e in sleep) == ["core", "deep", "in_bed"]
    in_bed = next(e for e in sleep if e.details["stage"] == "in_bed")
    assert in_bed.start == _utc("2024-04-30T23:10:00+02:00")
    assert in_bed.end == _utc("2024-05-01T06:40:00+02:00")
    runs = [e for e in events if e.kind == LifestyleKind.EXERCISE]
    assert [e.details for e in runs] == [
        {"activity": "running", "energy_kcal": 310.0, "distance_m": 5200.0},
        {"activity": "traditional_strength_training", "energy_kcal": 200.0}]

    again = _ingest(store, p, force=True)
    assert again.ok and not again.added


def test_apple_unit_spellings() -> None:
    assert apple_unit("mmol<180.1558800000541>/L") == "mmol/L"
    assert apple_unit("degC") == "Cel" and apple_unit("count") == "{steps}"
    assert apple_unit("count/min") == "count/min"


def test_broken_xml_stores_nothing(sqlite_store: Store, tmp_path: Path) -> None:
    p = tmp_path / "export.xml"
    p.write_text(HEAD + BODY[: len(BODY) // 2])  # cut mid-element, no closing tag
    rep = _ingest(sqlite_store, p)
    assert not rep.ok and "export.xml" in rep.error
    assert sqlite_store.counts()["observations"] == 0
    assert sqlite_store.counts()["persons"] == 0


@pytest.mark.slow
def test_large_export_is_streamed(sqlite_store: Store, tmp_path: Path) -> None:
    """60,000 records (~14 MB): the reader's memory stays far below the file's size."""
    p = tmp_path / "export.xml"
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    with open(p, "w", encoding="utf-8") as f:
        f.write(HEAD)
        for i in range(60_000):
            t = (t0 + timedelta(seconds=30 * i)).strftime("%Y-%m-%d %H:%M:%S +0000")
            f.write(_rec("HeartRate", "count/min", str(55 + i % 50), t,
                         inner='\n  <MetadataEntry key="HKMetadataKeyHeartRateMotionContext" '
                               'value="1"/>\n '))
        f.write(TAIL)
    size = p.stat().st_size
    with sqlite_store.transaction() as w:
        from hyperhealth.ingest import IngestReport as Rep

        ctx = IngestContext(w, Rep(str(p)), IngestOptions())
        tracemalloc.start()
        n = sum(1 for _ in ADAPTER.read(p, ctx))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert n == 60_000
    assert peak < size / 4, f"peak {peak} bytes for a {size}-byte export"


def test_auto_detection_picks_this_adapter(tmp_path: Path) -> None:
    from hyperhealth.ingest import detect

    assert detect(_export(tmp_path, gz=True)).name == "apple_health"
