"""Continuous glucose monitor files: Dexcom Clarity CSV, Nightscout entries JSON, iglu CSV.

Sensor readings become LOINC 99504-3 (glucose in interstitial fluid, mg/dL; mmol/L files are
converted), meter readings 2339-0. Dexcom "Carbs" and "Insulin" events become meal and
medication-intake lifestyle events. See ``docs/formats.md`` ("CGM") for each layout, the
time-zone policy and how the sensor's "Low"/"High" readings are kept.

>>> sensor_limit("Low"), sensor_limit("HIGH"), sensor_limit("105")
(40.0, 400.0, None)
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from hyperhealth.errors import InputError
from hyperhealth.ingest import _csv_fast as F
from hyperhealth.ingest._base import IngestContext, Record, open_text
from hyperhealth.model import LifestyleEvent, LifestyleKind, Observation, Quality
from hyperhealth.model.codes import BLOOD_GLUCOSE, CGM_GLUCOSE
from hyperhealth.model.time import EPOCH, utc

# Dexcom G6/G7 sensors report 40-400 mg/dL; below and above they show "LOW" / "HIGH"
# (Dexcom G6 CGM System User Guide, LBL014003, "Glucose Information"). The export writes the
# words; we keep the bound of the range the device can report, flagged as device-censored.
DEXCOM_RANGE_MG_DL = (40.0, 400.0)

# Nightscout stores Dexcom receiver error states as sgv values below 39
# (cgm-remote-monitor lib/plugins/errorcodes.js); they are not glucose readings.
NIGHTSCOUT_ERROR_CODES = {
    1: "sensor not active", 2: "minimal deviation", 3: "no antenna",
    5: "sensor not calibrated", 6: "counts deviation", 9: "absolute deviation",
    10: "power deviation", 12: "bad radio signal",
}
_NIGHTSCOUT_FIRST_READING = 39
_NA_TEXTS = frozenset({"NA", "", "NaN", "nan"})


def sensor_limit(text: str) -> float | None:
    """The mg/dL bound a Dexcom "Low"/"High" word stands for, else ``None``."""
    word = text.strip().lower()
    if word == "low":
        return DEXCOM_RANGE_MG_DL[0]
    if word == "high":
        return DEXCOM_RANGE_MG_DL[1]
    return None


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".json", ".csv"):
        name = name.removesuffix(suffix)
    return name


def _iglu_fields(fields: list[str]) -> list[str]:
    return fields[1:] if fields and fields[0] == "" else fields


def _kind(path: Path, head: str) -> str | None:
    fields = F.header_fields(head)
    if fields and fields[0] == "index" and any(f.startswith("timestamp (") for f in fields) \
            and "event type" in fields:
        return "dexcom"
    body = _iglu_fields(fields)
    if body[:3] == ["id", "time", "gl"]:
        return "iglu"
    if _iglu_fields(F.header_fields(head, ";"))[:3] == ["id", "meal", "mealtime"]:
        return "iglu_meals"
    s = head.lstrip("\ufeff \r\n\t")
    if s.startswith("[") and ('"sgv"' in s or '"mbg"' in s) and '"date' in s:
        return "nightscout"
    return None


class CgmAdapter:
    name: ClassVar[str] = "cgm"

    def sniff(self, path: Path, head: str) -> bool:
        return _kind(path, head) is not None

    def read(self, path: Path, ctx: IngestContext) -> Iterator[Record]:
        kind = _kind(path, _head(path))
        if kind == "dexcom":
            yield from _read_dexcom(path, ctx)
        elif kind == "nightscout":
            yield from _read_nightscout(path, ctx)
        elif kind == "iglu":
            yield from _read_iglu(path, ctx)
        elif kind == "iglu_meals":
            yield from _read_iglu_meals(path, ctx)
        else:
            raise InputError("not a Dexcom, Nightscout or iglu CGM file", where=str(path),
                             hint="see docs/formats.md, section CGM")


def _head(path: Path) -> str:
    with open_text(path) as f:
        return f.read(4096)


# -- iglu ----------------------------------------------------------------------------------------
def _read_iglu(path: Path, ctx: IngestContext) -> Iterator[Record]:
    """``id,time,gl`` (optional leading row number, extra columns ignored), gl in mg/dL."""
    seen: dict[str, list[np.ndarray]] = {}
    first_line = 2
    with open_text(path) as f:
        for chunk in pd.read_csv(f, dtype=str, keep_default_na=False, skip_blank_lines=False,
                                 chunksize=F.CHUNK_ROWS):
            chunk.columns = [str(c).strip().lower() for c in chunk.columns]
            lines = np.arange(first_line, first_line + len(chunk))
            first_line += len(chunk)
            blank = ((chunk["id"] == "") & (chunk["time"] == "") & (chunk["gl"] == "")).to_numpy()
            for sid, idx in chunk[~blank].groupby("id", sort=False).indices.items():
                sub = chunk[~blank].iloc[idx]
                ln = lines[~blank][idx]
                if sid == "":
                    for x in ln.tolist():
                        ctx.reject(F.where(path, x), "id", "the subject id is empty",
                                   "fill the id column")
                    continue
                pid = ctx.person("iglu", str(sid))
                tz, tz_flag = F.zone_policy(ctx, pid)
                naive = pd.to_datetime(sub["time"], format="ISO8601", errors="coerce")
                t_us = F.local_to_utc_us(naive, tz)
                yield from F.checked_observations(
                    path, ctx, pid, CGM_GLUCOSE, "mg/dL", t_us, sub["gl"], ln, "gl", "time",
                    tz_flag, source="iglu", seen=seen.setdefault(pid, []), missing=_NA_TEXTS)
    F.warn_duplicates(ctx, path, seen)


def _read_iglu_meals(path: Path, ctx: IngestContext) -> Iterator[Record]:
    """iglu's meal table (``;``-separated ``id;meal;mealtime``) -> meal events."""
    with open_text(path) as f:
        rows = list(csv.reader(f, delimiter=";"))
    header = _iglu_fields([h.strip().lower() for h in rows[0]])
    off = len(rows[0]) - len(header)
    col = {name: i + off for i, name in enumerate(header)}
    for n, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        where = F.where(path, n)
        sid, meal, when = (row[col[k]].strip() for k in ("id", "meal", "mealtime"))
        pid = ctx.person("iglu", sid)
        t = _local_time(ctx, pid, when, where, "mealtime")
        if t is None:
            continue
        yield LifestyleEvent(pid, LifestyleKind.MEAL, t, details={"description": meal},
                             source="iglu", record_id=meal)


def _local_time(ctx: IngestContext, pid: str, text: str, where: str,
                field: str) -> datetime | None:
    """Parse a naive (or offset) time in the person's zone; reject and return None if bad."""
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError:
        try:
            t = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S")
        except ValueError:
            ctx.reject(where, field, f"{text!r} is not a date-time",
                       "write it as YYYY-MM-DDThh:mm:ss")
            return None
    return utc(t, ctx.tz_for(pid))


# -- Dexcom Clarity ------------------------------------------------------------------------------
def _dexcom_columns(header: list[str]) -> dict[str, int]:
    """Column positions by a short name; the glucose columns carry their unit in the name."""
    out: dict[str, int] = {}
    for i, h in enumerate(header):
        k = h.strip().lower()
        for short, prefix in (("time", "timestamp"), ("event", "event type"),
                              ("subtype", "event subtype"), ("patient", "patient info"),
                              ("device", "device info"), ("source_id", "source device id"),
                              ("glucose", "glucose value"), ("insulin", "insulin value"),
                              ("carbs", "carb value"), ("duration", "duration"),
                              ("transmitter", "transmitter id")):
            if k.startswith(prefix) and short not in out:
                out[short] = i
    return out


def _glucose_unit(header: list[str], col: int) -> str:
    h = header[col].lower()
    if "mmol/l" in h:
        return "mmol/L"
    if "mg/dl" in h:
        return "mg/dL"
    raise InputError(f"the glucose column {header[col]!r} names no unit", field=header[col],
                     hint="export from Clarity with the unit in the column name")


def _read_dexcom(path: Path, ctx: IngestContext) -> Iterator[Record]:
    with open_text(path) as f:
        reader = csv.reader(f)
        header = next(reader)
        col = _dexcom_columns(header)
        missing = {"time", "event", "glucose"} - set(col)
        if missing:
            raise InputError(f"Dexcom export without column(s) {sorted(missing)}",
                             where=f"{path.name}:1", hint="export the CSV again from Clarity")
        unit = _glucose_unit(header, col["glucose"])
        meta: dict[str, str] = {}
        pid: str | None = None
        tz_flag = Quality.NONE

        def cell(row: list[str], name: str) -> str:
            i = col.get(name)
            return row[i].strip() if i is not None and i < len(row) else ""

        for row in reader:
            where = F.where(path, reader.line_num)
            event = cell(row, "event")
            if not event:
                continue
            if not cell(row, "time"):  # header block: patient and device details, alerts
                if event in ("FirstName", "LastName", "DateOfBirth"):
                    meta[event] = cell(row, "patient")
                else:
                    ctx.report.skipped[f"Dexcom {event} setting"] += 1
                continue
            if pid is None:
                pid = _dexcom_person(ctx, path, meta)
                tz_flag = F.zone_policy(ctx, pid)[1]
            t = _local_time(ctx, pid, cell(row, "time"), where, "Timestamp")
            if t is None:
                continue
            device = cell(row, "transmitter") or cell(row, "device")
            if event in ("EGV", "Calibration"):
                code = CGM_GLUCOSE if event == "EGV" else BLOOD_GLUCOSE
                obs = _dexcom_glucose(ctx, where, pid, code, t, cell(row, "glucose"), unit,
                                      device, tz_flag)
                if obs is not None:
                    yield obs
            elif event == "Carbs":
                grams = _number(ctx, where, "Carb Value (grams)", cell(row, "carbs"))
                if grams is not None:
                    yield LifestyleEvent(pid, LifestyleKind.MEAL, t, details={"carbs_g": grams},
                                         source="dexcom")
            elif event == "Insulin":
                units = _number(ctx, where, "Insulin Value (u)", cell(row, "insulin"))
                if units is not None:
                    sub = cell(row, "subtype")
                    yield LifestyleEvent(
                        pid, LifestyleKind.MEDICATION_INTAKE, t,
                        details={"display": f"insulin ({sub.lower()})" if sub else "insulin",
                                 "dose": units, "dose_unit": "U"},
                        source="dexcom", record_id=sub)
            elif event == "Exercise":
                yield _dexcom_exercise(pid, t, cell(row, "subtype"), cell(row, "duration"))
            else:
                ctx.report.skipped[f"Dexcom {event} event"] += 1


def _dexcom_person(ctx: IngestContext, path: Path, meta: dict[str, str]) -> str:
    name = " ".join(meta[k] for k in ("FirstName", "LastName") if meta.get(k))
    # the name is a direct identifier: link by a digest of it, never by the name itself
    ext = "name-sha256:" + hashlib.sha256(name.encode()).hexdigest()[:16] if name \
        else _stem(path)
    pid = ctx.person("dexcom", ext)
    dob = meta.get("DateOfBirth", "")
    try:
        born = datetime.fromisoformat(dob).date() if dob else None
    except ValueError:
        born = None
    F.update_person(ctx, pid, birth_date=born)
    return pid


def _dexcom_glucose(ctx: IngestContext, where: str, pid: str, code: str, t: datetime,
                    text: str, unit: str, device: str, tz_flag: Quality) -> Observation | None:
    limit = sensor_limit(text)
    if limit is not None:  # "Low"/"High": censored at the sensor's reporting range
        return ctx.observation(where, pid, code, t, limit, "mg/dL", source="dexcom",
                               device=device, value_text=text.strip(),
                               flags=tz_flag | Quality.DEVICE_FLAGGED)
    value = _number(ctx, where, "Glucose Value", text)
    if value is None:
        return None
    return ctx.observation(where, pid, code, t, value, unit, source="dexcom", device=device,
                           flags=tz_flag)


def _dexcom_exercise(pid: str, t: datetime, subtype: str, duration: str) -> LifestyleEvent:
    end = None
    parts = duration.split(":")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        h, m, s = (int(p) for p in parts)
        end = t + timedelta(hours=h, minutes=m, seconds=s)
    details: dict[str, float | str] = {"intensity": subtype.lower()} if subtype else {}
    return LifestyleEvent(pid, LifestyleKind.EXERCISE, t, end, details, source="dexcom")


def _number(ctx: IngestContext, where: str, field: str, text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        ctx.reject(where, field, "the value is empty" if not text else
                   f"{text!r} is not a number", "write a decimal number")
        return None


# -- Nightscout ----------------------------------------------------------------------------------
def _read_nightscout(path: Path, ctx: IngestContext) -> Iterator[Record]:
    """Nightscout ``entries`` (``/api/v1/entries.json``): sgv in mg/dL, mbg meter readings."""
    with open_text(path) as f:
        entries = json.load(f)
    if not isinstance(entries, list):
        raise InputError("expected a JSON array of Nightscout entries", where=str(path),
                         hint="download /api/v1/entries.json?count=...")
    pid = ctx.person("nightscout", _stem(path))
    for i, e in enumerate(entries):
        where = f"{path.name} entry {i}"
        if not isinstance(e, dict):
            ctx.reject(where, "", "the entry is not a JSON object")
            continue
        kind = e.get("type", "sgv" if "sgv" in e else "")
        if kind not in ("sgv", "mbg"):
            ctx.report.skipped[f"Nightscout {kind or 'untyped'} entry"] += 1
            continue
        t = _nightscout_time(ctx, e, where)
        if t is None:
            continue
        raw = e.get(kind)
        if not isinstance(raw, int | float) or isinstance(raw, bool):
            ctx.reject(where, kind, f"{raw!r} is not a number", "send mg/dL as a number")
            continue
        if kind == "sgv" and raw < _NIGHTSCOUT_FIRST_READING:
            what = NIGHTSCOUT_ERROR_CODES.get(int(raw), "unknown error state")
            ctx.reject(where, "sgv", f"sgv {raw:g} is a Dexcom error code ({what}), not a "
                       "reading", "nothing to do; the sensor reported no glucose then")
            continue
        code = CGM_GLUCOSE if kind == "sgv" else BLOOD_GLUCOSE
        obs = ctx.observation(where, pid, code, t, raw, "mg/dL", source="nightscout",
                              device=str(e.get("device", "")))
        if obs is not None:
            yield obs


def _nightscout_time(ctx: IngestContext, e: dict[str, Any], where: str) -> datetime | None:
    ms = e.get("date")
    if isinstance(ms, int | float) and not isinstance(ms, bool):
        return EPOCH + timedelta(milliseconds=ms)
    text = e.get("dateString")
    if isinstance(text, str):
        try:
            t = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if t.tzinfo is not None:
                return t.astimezone(UTC)
        except ValueError:
            pass
    ctx.reject(where, "date", "the entry has no epoch 'date' and no 'dateString' with an offset",
               "export entries with their 'date' field")
    return None


ADAPTER = CgmAdapter()
