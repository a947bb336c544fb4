"""Wearable CSV files: the generic ``time,metric,value,unit`` layout and Fitbit minute exports.

Two layouts are recognised by their header (plain or ``.gz``):

* generic: ``time,metric,value,unit`` with optional ``device``, ``person`` and ``end_time``;
  ``metric`` is a LOINC code or one of the aliases in :data:`METRIC_ALIASES`;
* Fitbit (Stanford COVID-19 wearables study): ``,user,datetime,heartrate`` or
  ``,user,datetime,steps`` (the first column is a pandas row index and is ignored).

Times without an offset are wall-clock time in ``--tz`` or the person's zone; see
``docs/formats.md`` ("Wearable CSV") for the time-zone policy. Files are read in chunks with
numpy checks per chunk, because minute-level exports run to millions of rows.

>>> resolve_metric("heart_rate"), resolve_metric("8867-4"), resolve_metric("pulse")
('8867-4', '8867-4', None)
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from hyperhealth.ingest import _csv_fast as F
from hyperhealth.ingest._base import IngestContext, Record, open_text
from hyperhealth.model import codes

#: metric names accepted in the ``metric`` column, with the LOINC code each stands for
METRIC_ALIASES: dict[str, str] = {
    "heart_rate": codes.HEART_RATE,
    "resting_heart_rate": codes.RESTING_HEART_RATE,
    "hrv_sdnn": codes.HRV_SDNN,
    "spo2": codes.SPO2,
    "systolic_bp": codes.SYSTOLIC_BP,
    "diastolic_bp": codes.DIASTOLIC_BP,
    "glucose": codes.BLOOD_GLUCOSE,
    "cgm_glucose": codes.CGM_GLUCOSE,
    "steps": codes.STEPS,
    "weight": codes.BODY_WEIGHT,
    "height": codes.BODY_HEIGHT,
    "temperature": codes.BODY_TEMPERATURE,
    "respiratory_rate": "9279-1",
}

#: Fitbit value column -> (code, unit, length of the interval a reading covers)
FITBIT_COLUMNS: dict[str, tuple[str, str, timedelta | None]] = {
    "heartrate": (codes.HEART_RATE, "/min", None),
    "steps": (codes.STEPS, "{steps}", timedelta(minutes=1)),  # steps counted in that minute
}
_FITBIT_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_GENERIC_REQUIRED = ("time", "metric", "value", "unit")
_GENERIC_OPTIONAL = ("device", "person", "end_time")


def resolve_metric(metric: str) -> str | None:
    """The LOINC code for a ``metric`` cell (an alias or a LOINC code), else ``None``."""
    m = metric.strip()
    code = METRIC_ALIASES.get(m.lower())
    if code is not None:
        return code
    return m if F.is_loinc(m) else None


def _fitbit_column(fields: list[str]) -> str | None:
    body = fields[1:] if fields and fields[0] == "" else fields
    if len(body) == 3 and body[:2] == ["user", "datetime"] and body[2] in FITBIT_COLUMNS:
        return body[2]
    return None


class WearableCsvAdapter:
    name: ClassVar[str] = "wearable_csv"

    def sniff(self, path: Path, head: str) -> bool:
        fields = F.header_fields(head)
        return _fitbit_column(fields) is not None or all(c in fields for c in _GENERIC_REQUIRED)

    def read(self, path: Path, ctx: IngestContext) -> Iterator[Record]:
        with open_text(path) as f:
            fields = F.header_fields(f.readline())
            f.seek(0)
            col = _fitbit_column(fields)
            if col is not None:
                yield from _read_fitbit(path, f, col, ctx)
            else:
                yield from _read_generic(path, f, ctx)


def _chunks(f: object) -> Iterator[pd.DataFrame]:
    # all text, nothing turned into NaN, blank lines kept so row i is line i + 2
    yield from pd.read_csv(f, dtype=str, keep_default_na=False, skip_blank_lines=False,
                           chunksize=F.CHUNK_ROWS)


def _read_fitbit(path: Path, f: object, col: str, ctx: IngestContext) -> Iterator[Record]:
    code, unit, span = FITBIT_COLUMNS[col]
    seen: dict[str, list[np.ndarray]] = {}
    first_line = 2
    for chunk in _chunks(f):
        chunk.columns = [c.strip().lower() for c in chunk.columns]
        lines = np.arange(first_line, first_line + len(chunk))
        first_line += len(chunk)
        users = chunk["user"].to_numpy(dtype=object)
        blank = (users == "") & (chunk[col].to_numpy(dtype=object) == "")
        for user in pd.unique(users[~blank]):
            rows = np.flatnonzero((users == user) & ~blank)
            sub = chunk.iloc[rows]
            if user == "":
                for ln in lines[rows].tolist():
                    ctx.reject(F.where(path, ln), "user", "the participant id is empty",
                               "fill the user column")
                continue
            pid = ctx.person("fitbit", str(user))
            tz, tz_flag = F.zone_policy(ctx, pid)
            naive = pd.to_datetime(sub["datetime"], format=_FITBIT_TIME_FORMAT, errors="coerce")
            t_us = F.local_to_utc_us(naive, tz)
            yield from F.checked_observations(
                path, ctx, pid, code, unit, t_us, sub[col], lines[rows], col, "datetime",
                tz_flag, source="fitbit", span=span, seen=seen.setdefault(pid, []))
    F.warn_duplicates(ctx, path, seen)


def _read_generic(path: Path, f: object, ctx: IngestContext) -> Iterator[Record]:
    seen: dict[tuple[str, str, str], list[np.ndarray]] = {}
    first_line = 2
    for chunk in _chunks(f):
        chunk.columns = [c.strip().lower() for c in chunk.columns]
        n = len(chunk)
        lines = np.arange(first_line, first_line + n)
        first_line += n
        for c in _GENERIC_OPTIONAL:
            if c not in chunk.columns:
                chunk[c] = ""
        blank = (chunk[list(_GENERIC_REQUIRED)] == "").all(axis=1).to_numpy()
        chunk = chunk[~blank]
        lines = lines[~blank]
        keys = ["person", "metric", "unit", "device"]
        for (person, metric, unit, device), idx in chunk.groupby(keys, sort=False).indices.items():
            sub = chunk.iloc[idx]
            code = resolve_metric(metric)
            if code is None:
                for ln in lines[idx].tolist():
                    ctx.reject(F.where(path, ln), "metric", f"unknown metric {metric!r}",
                               "use a LOINC code or one of: " + ", ".join(METRIC_ALIASES))
                continue
            pid = ctx.person("wearable_csv", person or path.name.split(".")[0])
            tz, tz_flag = F.zone_policy(ctx, pid)
            t_us, has_off = F.parse_times_us(sub["time"], tz)
            ln = lines[idx]
            end_us = None
            if (sub["end_time"] != "").any():
                end_us, _ = F.parse_times_us(sub["end_time"], tz)
                bad_end = (end_us == F.NAT_US) & (sub["end_time"] != "").to_numpy()
                for x in ln[bad_end].tolist():
                    ctx.reject(F.where(path, x), "end_time", "the end time is not a valid "
                               "date-time", "leave it empty or write YYYY-MM-DD HH:MM:SS")
                sub, ln, end_us = sub[~bad_end], ln[~bad_end], end_us[~bad_end]
                t_us, has_off = t_us[~bad_end], has_off[~bad_end]
            flags = np.where(has_off, 0, int(tz_flag))
            yield from F.checked_observations(
                path, ctx, pid, code, unit, t_us, sub["value"], ln, "value", "time",
                flags, source="wearable_csv", device=device, end_us=end_us,
                seen=seen.setdefault((pid, code, device), []))
    F.warn_duplicates(ctx, path, seen)


ADAPTER = WearableCsvAdapter()
