"""Environmental readings (air quality, weather, UV, pollen) and location history.

Three layouts, recognised by their content (plain or ``.gz``); see ``docs/formats.md``
("Environment"):

* readings CSV: ``time,lat,lon,label`` plus any metric columns named ``<metric>_<unit>``
  (``pm25_ugm3``, ``o3_ppb``, ``co_ppm``, ``temperature_F`` ...), optional ``time_end`` and
  ``source``;
* readings JSON: ``{"schema": "hyperhealth.environment/1", "location": {...}, "units": {...},
  "readings": [{"t": ..., "pm25": ...}, ...]}``;
* location history CSV: ``person,start,end,lat,lon,label``, one row per stay.

Each reading becomes one :class:`~hyperhealth.model.Exposure` per metric, in the metric's
canonical unit. Where a row carries AQI pollutants, the US EPA AQI is added (code ``aqi``,
source ``computed:epa-aqi-2024``); where it carries air temperature and relative humidity, the NWS
heat index is added (code ``heat-index``, source ``computed:nws-heat-index``). A bad cell rejects
that reading with ``file:line [column]``; the rest of the file is stored.

>>> parse_column("pm25_ugm3"), parse_column("temperature_F"), parse_column("uv_index")
(('pm25', 'ug/m3'), ('air-temperature', '[degF]'), ('uv-index', '{index}'))
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from hyperhealth.errors import InputError, NotFound, UnknownUnit
from hyperhealth.ingest._base import IngestContext, Record, open_text
from hyperhealth.model import Exposure, Location, LocationVisit, Quality, convert, heat, normalise
from hyperhealth.model import air_quality as aq
from hyperhealth.model.codes import METRICS
from hyperhealth.model.time import utc

SCHEMA = "hyperhealth.environment/1"
SOURCE = "environment"
HISTORY_SOURCE = "location-history"
AQI_SOURCE = f"computed:{aq.METHOD}"
HEAT_SOURCE = f"computed:{heat.METHOD}"

#: metric name in a header or JSON key -> (exposure code, unit when the name has none)
METRIC_NAMES: dict[str, tuple[str, str | None]] = {
    "pm25": ("pm25", None), "pm10": ("pm10", None), "o3": ("o3", None), "no2": ("no2", None),
    "so2": ("so2", None), "co": ("co", None), "temperature": ("air-temperature", None),
    # these have one unit by definition, so a bare name is not a guess
    "relative_humidity": ("relative-humidity", "%"), "uv_index": ("uv-index", "{index}"),
    "pollen": ("pollen", "/m3"),  # grains per cubic metre of air, the reporting convention
}
#: unit suffixes in column names (matched case-insensitively) -> UCUM
UNIT_TOKENS: dict[str, str] = {
    "ugm3": "ug/m3", "ug_m3": "ug/m3", "µgm3": "ug/m3", "ppb": "[ppb]", "ppm": "[ppm]",
    "f": "[degF]", "degf": "[degF]", "c": "Cel", "degc": "Cel", "cel": "Cel",
    "pct": "%", "percent": "%", "index": "{index}", "m3": "/m3", "per_m3": "/m3",
}
_READING_FIXED = ("time", "lat", "lon", "label", "time_end", "source")
_HISTORY_REQUIRED = ("person", "start", "lat", "lon")
_MAX_WARNINGS = 50


def parse_column(name: str) -> tuple[str, str] | None:
    """``(code, UCUM unit)`` for a metric column name, ``None`` if it names no metric.

    A metric that needs a unit but has none raises :class:`~hyperhealth.errors.UnknownUnit`.
    """
    col = name.strip()
    low = col.lower()
    for metric in sorted(METRIC_NAMES, key=len, reverse=True):
        code, default = METRIC_NAMES[metric]
        if low == metric:
            if default is None:
                raise UnknownUnit(f"column {col!r} has no unit", field=col,
                                  hint=f"name the unit, e.g. {metric}_{_example_unit(code)}")
            return code, default
        if low.startswith(metric + "_"):
            token = low[len(metric) + 1:]
            unit = UNIT_TOKENS.get(token)
            if unit is None:
                raise UnknownUnit(f"unit {col[len(metric) + 1:]!r} in column {col!r} is not "
                                  "known", field=col, hint="known unit suffixes: "
                                  + ", ".join(sorted(UNIT_TOKENS)))
            _check_convertible(code, unit, col)
            return code, unit
    return None


def _example_unit(code: str) -> str:
    return {"pm25": "ugm3", "pm10": "ugm3", "co": "ppm", "air-temperature": "C"}.get(code, "ppb")


def _check_convertible(code: str, unit: str, col: str) -> None:
    try:
        convert(1.0, unit, METRICS[code].unit)
    except UnknownUnit as err:
        raise UnknownUnit(f"column {col!r}: {err.message}", field=col, hint=err.hint) from None


def _header(head: str) -> list[str]:
    first = head.splitlines()[0] if head else ""
    return [f.strip().lower() for f in first.split(",")]


def _names_metric(field: str) -> bool:
    return any(field == m or field.startswith(m + "_") for m in METRIC_NAMES)


class EnvironmentAdapter:
    name: ClassVar[str] = "environment"

    def sniff(self, path: Path, head: str) -> bool:
        if f'"{SCHEMA}"' in head:
            return True
        fields = _header(head)
        if all(c in fields for c in _HISTORY_REQUIRED):
            return True
        return all(c in fields for c in ("time", "lat", "lon")) and any(
            _names_metric(f) for f in fields)

    def read(self, path: Path, ctx: IngestContext) -> Iterator[Record]:
        with open_text(path) as f:
            head = f.read(4096)
        if f'"{SCHEMA}"' in head:
            yield from _read_json(path, ctx)
        elif all(c in _header(head) for c in _HISTORY_REQUIRED):
            yield from _read_history(path, ctx)
        else:
            yield from _read_csv(path, ctx)


ADAPTER = EnvironmentAdapter()


# -- shared cell parsing ----------------------------------------------------------------------
def _time(text: Any, ctx: IngestContext, field: str, tz: str | None = None) -> datetime:
    if not isinstance(text, str) or not text.strip():
        raise InputError("time is missing", field=field, hint="give an ISO-8601 date-time")
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{text!r} is not an ISO-8601 date-time", field=field,
                         hint="write e.g. 2024-07-01T14:00:00+00:00") from None
    zone = ctx.options.tz or tz
    if t.tzinfo is None and zone is None:
        raise InputError(f"time {text!r} has no offset", field=field,
                         hint="add an offset (e.g. +00:00) or import with --tz")
    return utc(t, zone)


def _coordinate(text: Any, field: str, limit: float) -> float:
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise InputError(f"{text!r} is not a number", field=field,
                         hint="give decimal degrees (WGS84)") from None
    if not math.isfinite(v) or abs(v) > limit:
        raise InputError(f"{v:g} is outside -{limit:g}..{limit:g}", field=field,
                         hint="give decimal degrees (WGS84); latitude first")
    return v


def _location(lat: Any, lon: Any, label: Any) -> Location:
    return Location(_coordinate(lat, "lat", 90.0), _coordinate(lon, "lon", 180.0),
                    str(label or "").strip())


def _warn(ctx: IngestContext, text: str) -> None:
    w = ctx.report.warnings
    if len(w) < _MAX_WARNINGS:
        w.append(text)
    elif len(w) == _MAX_WARNINGS:
        w.append("... further warnings left out")


class _Reading:
    """The metric values of one reading, turned into exposures plus computed indices."""

    def __init__(self, where: str, loc: Location, t: datetime, t_end: datetime | None,
                 source: str) -> None:
        self.where, self.loc, self.t, self.t_end, self.source = where, loc, t, t_end, source
        self.values: dict[str, float] = {}
        self.out: list[Exposure] = []

    def add(self, ctx: IngestContext, field: str, code: str, raw: Any, unit: str) -> None:
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return
        try:
            value, canon, flags = normalise(code, float(raw), unit)
        except InputError as err:
            ctx.reject(self.where, field, err.message, err.hint)
            return
        except (TypeError, ValueError):
            ctx.reject(self.where, field, f"{raw!r} is not a number", "send a decimal number")
            return
        if flags & Quality.IMPLAUSIBLE:
            ctx.report.flagged += 1
        self.values[code] = value
        self.out.append(Exposure(self.loc, code, self.t, value, canon, self.t_end, self.source))

    def finish(self, ctx: IngestContext) -> list[Exposure]:
        pollutants = {aq.SCALE_FOR_CODE[c]: v for c, v in self.values.items()
                      if c in aq.SCALE_FOR_CODE}
        if pollutants:
            try:
                r = aq.aqi(pollutants)
                self.out.append(Exposure(self.loc, "aqi", self.t, float(r.aqi), "{index}",
                                         self.t_end, AQI_SOURCE))
            except InputError as err:
                _warn(ctx, f"{self.where}: no AQI computed: {err}")
        t, rh = self.values.get("air-temperature"), self.values.get("relative-humidity")
        if t is not None and rh is not None:
            hi = round(heat.heat_index(t, rh), 2)
            self.out.append(Exposure(self.loc, "heat-index", self.t, hi, "Cel", self.t_end,
                                     HEAT_SOURCE))
        return self.out


# -- readings CSV ---------------------------------------------------------------------------
def _read_csv(path: Path, ctx: IngestContext) -> Iterator[Record]:
    with open_text(path) as f:
        rows = csv.reader(f)
        header = [h.strip() for h in next(rows, [])]
        cols = {h.lower(): i for i, h in enumerate(header)}
        metrics: list[tuple[int, str, str, str]] = []  # (index, column, code, unit)
        ignored = []
        for i, h in enumerate(header):
            if h.lower() in _READING_FIXED:
                continue
            try:
                parsed = parse_column(h)
            except InputError as err:
                raise err.located(f"{path}:1") from None
            if parsed is None:
                ignored.append(h)
            else:
                metrics.append((i, h, *parsed))
        if ignored:
            _warn(ctx, f"{path}:1: columns ignored (not a known metric): {', '.join(ignored)}")
        for row in rows:
            where = f"{path}:{rows.line_num}"
            if not any(c.strip() for c in row):
                continue

            def cell(name: str, row: list[str] = row) -> str:
                i = cols.get(name)
                return row[i] if i is not None and i < len(row) else ""

            try:
                t = _time(cell("time"), ctx, "time")
                t_end = _time(cell("time_end"), ctx, "time_end") if cell("time_end") else None
                loc = _location(cell("lat"), cell("lon"), cell("label"))
            except InputError as err:
                ctx.reject_error(err, where)
                continue
            reading = _Reading(where, loc, t, t_end, cell("source").strip() or SOURCE)
            for i, col, code, unit in metrics:
                reading.add(ctx, col, code, row[i] if i < len(row) else "", unit)
            yield from reading.finish(ctx)


# -- readings JSON --------------------------------------------------------------------------
def _json_units(doc: Mapping[str, Any], path: Path) -> dict[str, tuple[str, str]]:
    units = doc.get("units") or {}
    if not isinstance(units, dict):
        raise InputError("'units' must be an object of metric -> unit", where=str(path),
                         field="units", hint='e.g. {"pm25": "ug/m3", "o3": "ppb"}')
    out: dict[str, tuple[str, str]] = {}
    for metric, (code, default) in METRIC_NAMES.items():
        given = units.get(metric)
        if given is None:
            if default is not None:
                out[metric] = (code, default)
            continue
        unit = UNIT_TOKENS.get(str(given).lower(), str(given))
        try:
            _check_convertible(code, unit, metric)
        except InputError as err:
            raise err.located(f"{path}: units") from None
        out[metric] = (code, unit)
    unknown = set(units) - set(METRIC_NAMES)
    if unknown:
        raise InputError(f"units given for unknown metrics: {', '.join(sorted(unknown))}",
                         where=f"{path}: units", hint="metrics: " + ", ".join(METRIC_NAMES))
    return out


def _read_json(path: Path, ctx: IngestContext) -> Iterator[Record]:
    with open_text(path) as f:
        try:
            doc = json.load(f)
        except json.JSONDecodeError as err:
            raise InputError(f"not valid JSON: {err.msg}", where=f"{path}:{err.lineno}",
                             hint="check the file is complete JSON") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise InputError(f"'schema' must be {SCHEMA!r}", where=str(path), field="schema")
    loc_doc = doc.get("location")
    if not isinstance(loc_doc, dict):
        raise InputError("'location' with lat and lon is missing", where=str(path),
                         field="location", hint='add "location": {"lat": .., "lon": ..}')
    try:
        loc = _location(loc_doc.get("lat"), loc_doc.get("lon"), loc_doc.get("label"))
    except InputError as err:
        raise err.located(f"{path}: location") from None
    units = _json_units(doc, path)
    readings = doc.get("readings")
    if not isinstance(readings, list):
        raise InputError("'readings' must be a list", where=str(path), field="readings")
    source = str(doc.get("source") or SOURCE)
    for n, rec in enumerate(readings):
        where = f"{path}: readings[{n}]"
        if not isinstance(rec, dict):
            ctx.reject(where, "", "a reading must be an object", 'e.g. {"t": .., "pm25": ..}')
            continue
        try:
            t = _time(rec.get("t"), ctx, "t")
            t_end = _time(rec["t_end"], ctx, "t_end") if rec.get("t_end") else None
        except InputError as err:
            ctx.reject_error(err, where)
            continue
        reading = _Reading(where, loc, t, t_end, source)
        for key, value in rec.items():
            if key in ("t", "t_end"):
                continue
            if key not in units:
                hint = ("add its unit to 'units'" if key in METRIC_NAMES
                        else "metrics: " + ", ".join(METRIC_NAMES))
                ctx.reject(where, key, "metric without a known unit" if key in METRIC_NAMES
                           else f"unknown metric {key!r}", hint)
                continue
            code, unit = units[key]
            reading.add(ctx, key, code, value, unit)
        yield from reading.finish(ctx)


# -- location history -----------------------------------------------------------------------
def _history_person(ctx: IngestContext, external: str) -> str:
    """A hyperhealth person id as given, else the person linked to this external id."""
    if not ctx.options.person:
        try:
            pid = ctx.writer.store.person(external).id
        except NotFound:
            pid = None
        if pid is not None:
            if pid not in ctx.report.persons:
                ctx.report.persons.append(pid)
            return pid
    return ctx.person(HISTORY_SOURCE, external)


def _read_history(path: Path, ctx: IngestContext) -> Iterator[Record]:
    persons: dict[str, str] = {}
    with open_text(path) as f:
        rows = csv.DictReader(f)
        rows.fieldnames = [h.strip().lower() for h in rows.fieldnames or []]
        for row in rows:
            where = f"{path}:{rows.line_num}"
            ext = (row.get("person") or "").strip()
            if not ext:
                ctx.reject(where, "person", "person is empty", "give the person's id")
                continue
            pid = persons.get(ext) or persons.setdefault(ext, _history_person(ctx, ext))
            try:
                tz = ctx.tz_for(pid)
                start = _time(row.get("start"), ctx, "start", tz)
                end = _time(row["end"], ctx, "end", tz) if (row.get("end") or "").strip() \
                    else None
                loc = _location(row.get("lat"), row.get("lon"), row.get("label"))
            except InputError as err:
                ctx.reject_error(err, where)
                continue
            if end is not None and end <= start:
                ctx.reject(where, "end", f"end {end.isoformat()} is not after start",
                           "swap start and end, or leave end empty for an ongoing stay")
                continue
            yield LocationVisit(pid, start, end, loc, HISTORY_SOURCE)
