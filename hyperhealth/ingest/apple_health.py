"""Apple Health ``export.xml``, streamed: records, sleep, workouts and the person's birth data.

The export is read with :func:`xml.etree.ElementTree.iterparse` and every top-level element is
cleared once handled, so memory stays flat however large the export is. See
``docs/formats.md`` ("Apple Health") for the mapping.

>>> apple_time("2021-03-04 07:15:00 +0100").isoformat()
'2021-03-04T06:15:00+00:00'
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import ClassVar

from hyperhealth.errors import InputError
from hyperhealth.ingest._base import IngestContext, Record, open_text
from hyperhealth.ingest._csv_fast import update_person
from hyperhealth.model import LifestyleEvent, LifestyleKind, Quality, codes

_Q = "HKQuantityTypeIdentifier"
#: quantity record type -> LOINC code
RECORD_CODES: dict[str, str] = {
    _Q + "HeartRate": codes.HEART_RATE,
    _Q + "RestingHeartRate": codes.RESTING_HEART_RATE,
    _Q + "HeartRateVariabilitySDNN": codes.HRV_SDNN,
    _Q + "OxygenSaturation": codes.SPO2,
    _Q + "BloodPressureSystolic": codes.SYSTOLIC_BP,
    _Q + "BloodPressureDiastolic": codes.DIASTOLIC_BP,
    _Q + "BloodGlucose": codes.BLOOD_GLUCOSE,
    _Q + "StepCount": codes.STEPS,
    _Q + "BodyMass": codes.BODY_WEIGHT,
    _Q + "Height": codes.BODY_HEIGHT,
    _Q + "BodyTemperature": codes.BODY_TEMPERATURE,
    _Q + "RespiratoryRate": "9279-1",
}
#: records that cover an interval (a count over start..end), not a moment
_INTERVAL = {_Q + "StepCount"}
_SLEEP = "HKCategoryTypeIdentifierSleepAnalysis"
_SLEEP_PREFIX = "HKCategoryValueSleepAnalysis"
#: Apple's sleep values -> our stage names
SLEEP_STAGES = {"InBed": "in_bed", "Asleep": "asleep", "AsleepUnspecified": "asleep",
                "AsleepCore": "core", "AsleepDeep": "deep", "AsleepREM": "rem", "Awake": "awake"}
_SEX = {"HKBiologicalSexFemale": "female", "HKBiologicalSexMale": "male",
        "HKBiologicalSexOther": "other", "HKBiologicalSexNotSet": "unknown"}
_ENERGY_KCAL = {"kcal": 1.0, "cal": 1.0, "kj": 1 / 4.184}  # Apple's "Cal" is the kilocalorie
_DISTANCE_M = {"m": 1.0, "km": 1000.0, "mi": 1609.344, "ft": 0.3048, "yd": 0.9144}


def apple_time(text: str) -> datetime:
    """Apple's ``YYYY-MM-DD hh:mm:ss ±hhmm`` as an aware UTC datetime."""
    s = text.strip()
    if len(s) == 25 and s[19] == " ":  # the usual layout; fromisoformat needs no space there
        s = s[:19] + s[20:]
    t = datetime.fromisoformat(s)
    if t.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return t.astimezone(UTC)


def apple_unit(unit: str) -> str:
    """Apple's unit spelling -> one ``normalise`` knows (``mmol<180.15...>/L`` -> ``mmol/L``)."""
    u = unit.strip()
    if u.startswith("mmol<") and u.endswith(">/L"):
        return "mmol/L"
    return {"degC": "Cel", "degF": "[degF]", "count": "{steps}"}.get(u, u)


class AppleHealthAdapter:
    name: ClassVar[str] = "apple_health"

    def sniff(self, path: Path, head: str) -> bool:
        return "<HealthData" in head or "<!DOCTYPE HealthData" in head

    def read(self, path: Path, ctx: IngestContext) -> Iterator[Record]:
        reader = _ExportReader(path, ctx)
        try:
            yield from reader.run()
        except ET.ParseError as err:  # a cut or damaged export: the whole file is refused
            line = err.position[0]
            raise InputError(f"the XML is broken ({err.msg})", where=f"{path.name}:{line}",
                             hint="export again from the Health app (Profile > Export All "
                                  "Health Data) and unzip the whole archive") from err


class _ExportReader:
    def __init__(self, path: Path, ctx: IngestContext) -> None:
        self.path = path
        self.ctx = ctx
        self.pid: str | None = None
        self.n = 0  # elements seen, to say where a bad one is

    def person(self, me: ET.Element | None = None) -> str:
        if self.pid is None:
            self.pid = self.ctx.person("apple_health", "sha256:" + _sha256(self.path))
        if me is not None:
            dob, sex = _birth(me)
            update_person(self.ctx, self.pid, birth_date=dob, sex_at_birth=sex)
        return self.pid

    def run(self) -> Iterator[Record]:
        depth = 0
        with open_text(self.path) as f:
            for event, el in ET.iterparse(f, events=("start", "end")):
                if event == "start":
                    depth += 1
                    continue
                depth -= 1
                if depth == 1:  # a child of <HealthData>: handle, then free it
                    self.n += 1
                    yield from self.element(el)
                    el.clear()
                elif depth == 0:
                    el.clear()
        if self.pid is None:
            self.person()

    def where(self, el: ET.Element) -> str:
        return f"{self.path.name} element {self.n} <{el.tag} type={el.get('type', '')!r}>"

    def element(self, el: ET.Element) -> Iterator[Record]:
        tag = el.tag
        if tag == "Me":
            self.person(el)
        elif tag == "Record":
            yield from self.record(el)
        elif tag == "Correlation":  # blood pressure pairs: the two values are nested records
            for child in el.iter("Record"):
                yield from self.record(child)
        elif tag == "Workout":
            ev = self.workout(el)
            if ev is not None:
                yield ev
        elif tag not in ("ExportDate",):
            self.ctx.report.skipped[tag] += 1

    def span(self, el: ET.Element, where: str) -> tuple[datetime, datetime | None] | None:
        """The element's start and end, or ``None`` after rejecting an unreadable date."""
        try:
            start = apple_time(el.get("startDate", ""))
            end = apple_time(el.get("endDate", "")) if el.get("endDate") else None
        except ValueError:
            self.ctx.reject(where, "startDate", f"{el.get('startDate')!r} is not a date-time",
                            "Apple writes YYYY-MM-DD hh:mm:ss +hhmm")
            return None
        return start, end

    def record(self, el: ET.Element) -> Iterator[Record]:
        rtype = el.get("type", "")
        code = RECORD_CODES.get(rtype)
        if code is None and rtype != _SLEEP:
            self.ctx.report.skipped[rtype or "Record without type"] += 1
            return
        where = self.where(el)
        span = self.span(el, where)
        if span is None:
            return
        start, end = span
        pid = self.person()
        device = el.get("sourceName", "")
        if rtype == _SLEEP:
            raw = el.get("value", "").removeprefix(_SLEEP_PREFIX)
            stage = SLEEP_STAGES.get(raw, raw.lower())
            yield LifestyleEvent(pid, LifestyleKind.SLEEP, start, end, {"stage": stage},
                                 source="apple_health", record_id=f"{stage}|{device}")
            return
        assert code is not None
        try:
            value = float(el.get("value", ""))
        except ValueError:
            self.ctx.reject(where, "value", f"{el.get('value')!r} is not a number",
                            "the export is damaged here")
            return
        unit = apple_unit(el.get("unit", ""))
        flags = Quality.NONE
        if code == codes.SPO2 and unit == "%":  # Apple writes the fraction 0-1 with unit "%"
            value *= 100.0
            flags |= Quality.CONVERTED
        obs = self.ctx.observation(where, pid, code, start, value, unit, flags=flags,
                                   source="apple_health", device=device,
                                   t_end=end if rtype in _INTERVAL else None)
        if obs is not None:
            yield obs

    def workout(self, el: ET.Element) -> LifestyleEvent | None:
        where = self.where(el)
        span = self.span(el, where)
        if span is None:
            return None
        start, end = span
        activity = el.get("workoutActivityType", "").removeprefix("HKWorkoutActivityType")
        details: dict[str, float | str] = {"activity": _snake(activity)}
        energy = _amount(el, "totalEnergyBurned", _ENERGY_KCAL)
        distance = _amount(el, "totalDistance", _DISTANCE_M)
        for stat in el.iter("WorkoutStatistics"):  # newer exports put totals here
            stype = stat.get("type", "")
            if energy is None and stype.endswith("ActiveEnergyBurned"):
                energy = _amount(stat, "sum", _ENERGY_KCAL)
            elif distance is None and stype.startswith(_Q + "Distance"):
                distance = _amount(stat, "sum", _DISTANCE_M)
        if energy is not None:
            details["energy_kcal"] = round(energy, 3)
        if distance is not None:
            details["distance_m"] = round(distance, 3)
        return LifestyleEvent(self.person(), LifestyleKind.EXERCISE, start, end, details,
                              source="apple_health", record_id=el.get("sourceName", ""))


def _amount(el: ET.Element, attr: str, factors: dict[str, float]) -> float | None:
    """A quantity attribute with its ``...Unit`` sibling, converted by ``factors``."""
    text = el.get(attr)
    unit = (el.get(attr + "Unit") or el.get("unit") or "").strip().lower()
    if text is None or unit not in factors:
        return None
    try:
        return float(text) * factors[unit]
    except ValueError:
        return None


def _snake(name: str) -> str:
    out = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    return out or "other"


def _birth(me: ET.Element) -> tuple[date | None, str]:
    dob_text = me.get("HKCharacteristicTypeIdentifierDateOfBirth", "")
    dob: date | None = None
    if dob_text:
        try:
            dob = date.fromisoformat(dob_text)
        except ValueError:
            dob = None
    sex = _SEX.get(me.get("HKCharacteristicTypeIdentifierBiologicalSex", ""), "unknown")
    return dob, sex


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


ADAPTER = AppleHealthAdapter()
