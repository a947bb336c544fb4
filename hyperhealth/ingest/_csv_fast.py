"""Vectorised helpers shared by the CSV adapters (wearable CSV, iglu CGM).

Large minute-level files (millions of rows) are read in pandas chunks; times and values are
checked per chunk with numpy, and only then turned into :class:`Observation` records. Value
checks call :func:`hyperhealth.model.units.normalise` once per *distinct* raw value, so the
limits and messages are exactly those of the per-record path (and never re-implemented here).

>>> import numpy as np
>>> v, u, f, bad = normalise_many("8867-4", np.array([60.0, 400.0, 60.0]), "bpm")
>>> v.tolist()[0], u, sorted(bad)
(60.0, '/min', [1])
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hyperhealth.errors import InputError, NotFound
from hyperhealth.ingest._base import IngestContext
from hyperhealth.model import LOINC, Observation, Person, Quality
from hyperhealth.model.codes import METRICS
from hyperhealth.model.units import canonical_unit, normalise

CHUNK_ROWS = 200_000
_OFFSET_RE = r"(?:[zZ]|[+-]\d\d:?\d\d)$"
_DEFAULT_ZONE = "UTC"  # the zone a person gets when nobody set one (see Person.tz)


def normalise_many(code: str, values: np.ndarray, unit: str
                   ) -> tuple[np.ndarray, str, np.ndarray, dict[int, InputError]]:
    """``normalise`` over an array: (values, canonical unit, flags, {row: error}).

    Rows with an error have ``nan`` as value. ``values`` must not contain ``nan``.
    """
    uniq, inv = np.unique(values, return_inverse=True)
    out = np.full(len(uniq), np.nan)
    flg = np.zeros(len(uniq), dtype=np.int64)
    errs: dict[int, InputError] = {}
    canon = canonical_unit(unit)
    for i, raw in enumerate(uniq.tolist()):
        try:
            out[i], canon, f = normalise(code, float(raw), unit)
            flg[i] = int(f)
        except InputError as err:
            errs[i] = err
    bad: dict[int, InputError] = {}
    if errs:
        rows = np.flatnonzero(np.isin(inv, np.fromiter(errs, dtype=np.int64)))
        bad = {int(r): errs[int(inv[r])] for r in rows}
    return out[inv], canon, flg[inv], bad


def zone_policy(ctx: IngestContext, person_id: str) -> tuple[str, Quality]:
    """The zone for naive times of a person and the flag those times carry.

    ``--tz`` or a zone stored for the person (anything but the default UTC) counts as known;
    otherwise the default is used and the readings are flagged ``TZ_ASSUMED``.
    """
    tz = ctx.tz_for(person_id)
    assumed = ctx.options.tz is None and tz == _DEFAULT_ZONE
    return tz, Quality.TZ_ASSUMED if assumed else Quality.NONE


def local_to_utc_us(naive: pd.Series, tz: str) -> np.ndarray:
    """Naive wall-clock datetimes (``datetime64[ns]``, NaT allowed) in ``tz`` -> UTC µs (int64).

    At a DST fall-back the first (summer-time) reading of the repeated hour is used and a time
    inside the spring-forward gap is moved one hour on, as ``zoneinfo`` does with ``fold=0``.
    NaT stays NaT (returned as the minimum int64).
    """
    idx = pd.DatetimeIndex(naive)
    if tz not in ("UTC", "Etc/UTC"):
        idx = idx.tz_localize(tz, ambiguous=np.ones(len(idx), dtype=bool),
                              nonexistent=pd.Timedelta(hours=1))
    return idx.as_unit("us").asi8.copy()


def parse_times_us(text: pd.Series, tz: str) -> tuple[np.ndarray, np.ndarray]:
    """ISO-8601 text -> (UTC µs, had_offset). Naive times are wall-clock in ``tz``.

    Unparseable times come back as the minimum int64.
    """
    s = text.str.strip()
    has_off = s.str.contains(_OFFSET_RE, regex=True, na=False).to_numpy()
    out = np.full(len(s), np.iinfo(np.int64).min, dtype=np.int64)
    if has_off.any():
        aware = pd.to_datetime(s[has_off], format="ISO8601", utc=True, errors="coerce")
        out[has_off] = pd.DatetimeIndex(aware).as_unit("us").asi8
    if (~has_off).any():
        naive = pd.to_datetime(s[~has_off], format="ISO8601", errors="coerce")
        out[~has_off] = local_to_utc_us(naive, tz)
    return out, has_off


NAT_US = np.iinfo(np.int64).min


def to_datetimes(t_us: np.ndarray) -> list[datetime]:
    """UTC µs -> aware datetimes (vectorised through pandas)."""
    return list(pd.DatetimeIndex(t_us.astype("datetime64[us]")).tz_localize("UTC")
                .to_pydatetime())


def make_observations(
    person_id: str, code: str, t_us: np.ndarray, values: np.ndarray, unit: str,
    flags: np.ndarray, *, source: str, device: str = "", t_end: timedelta | None = None,
    t_end_us: np.ndarray | None = None,
) -> Iterator[Observation]:
    """Observations for already-checked arrays (one person, one code, one unit)."""
    m = METRICS.get(code)
    cat = m.category if m is not None else ""
    ts = to_datetimes(t_us)
    vals = values.tolist()
    distinct = np.unique(flags).tolist()
    as_flag = {f: Quality(f) for f in distinct}  # one enum object per distinct bit set
    fl = [as_flag[distinct[0]]] * len(ts) if len(distinct) == 1 \
        else [as_flag[f] for f in flags.tolist()]
    ends: list[Any]
    if t_end_us is not None:
        valid = t_end_us != NAT_US
        ends = [None] * len(ts)
        if valid.any():
            conv = to_datetimes(t_end_us[valid])
            for j, i in enumerate(np.flatnonzero(valid).tolist()):
                ends[i] = conv[j]
    elif t_end is not None:
        ends = to_datetimes(t_us + t_end // timedelta(microseconds=1))
    else:
        ends = [None] * len(ts)
    # positional arguments: this loop runs once per reading (millions per file)
    for t, v, e, f in zip(ts, vals, ends, fl, strict=True):
        yield Observation(person_id, code, t, v, unit, LOINC, e, "", "", "", cat, source,
                          device, "", f)


def numeric(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Text column -> (float values, ok mask); empty or non-numeric text is not ok."""
    v = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
    return v, ~np.isnan(v)


def where(path: Path, line: int) -> str:
    return f"{path.name}:{line}"


def header_fields(head: str, sep: str = ",") -> list[str]:
    """The first line of ``head`` split into lower-case field names without quotes."""
    first = head.lstrip("\ufeff").split("\n", 1)[0].strip("\r")
    return [f.strip().strip('"').strip().lower() for f in first.split(sep)]


def count_duplicates(parts: list[np.ndarray]) -> int:
    """How many timestamps repeat one seen before (within one person and code)."""
    if not parts:
        return 0
    t = np.concatenate(parts)
    return int(len(t) - len(np.unique(t)))


def is_loinc(code: str) -> bool:
    """A LOINC code has the shape ``digits-checkdigit``.

    >>> is_loinc("8867-4"), is_loinc("heart_rate")
    (True, False)
    """
    return re.fullmatch(r"\d{1,7}-\d", code) is not None


def checked_observations(
    path: Path, ctx: IngestContext, pid: str, code: str, unit: str, t_us: np.ndarray,
    raw: pd.Series, lines: np.ndarray, value_field: str, time_field: str,
    tz_flags: int | np.ndarray, *, source: str, device: str = "",
    span: timedelta | None = None, end_us: np.ndarray | None = None,
    seen: list[np.ndarray], missing: frozenset[str] = frozenset(),
) -> Iterator[Observation]:
    """Reject bad times and values (with their line), yield the rest as observations.

    Values whose text is in ``missing`` (such as ``NA``) are gaps, counted in
    ``report.skipped`` rather than rejected.
    """
    values, ok = numeric(raw)
    texts = raw.to_numpy(dtype=object)
    if missing:
        gap = ~ok & raw.str.strip().isin(missing).to_numpy()
        if gap.any():
            ctx.report.skipped["missing value"] += int(gap.sum())
            keep0 = ~gap
            values, ok, texts, t_us, lines = (values[keep0], ok[keep0], texts[keep0],
                                              t_us[keep0], lines[keep0])
            if isinstance(tz_flags, np.ndarray):
                tz_flags = tz_flags[keep0]
            if end_us is not None:
                end_us = end_us[keep0]
    bad_t = t_us == NAT_US
    for i in np.flatnonzero(bad_t).tolist():
        ctx.reject(where(path, int(lines[i])), time_field, "the time is not a valid date-time",
                   "write it as YYYY-MM-DD HH:MM:SS (optionally with an offset such as +02:00)")
    for i in np.flatnonzero(~ok & ~bad_t).tolist():
        text = texts[i]
        reason = "the value is empty" if text == "" else f"{text!r} is not a number"
        ctx.reject(where(path, int(lines[i])), value_field, reason, "write a decimal number")
    keep = ok & ~bad_t
    if not keep.any():
        return
    if isinstance(tz_flags, np.ndarray):
        tz_flags = tz_flags[keep]
    t_us, values, lines = t_us[keep], values[keep], lines[keep]
    end = end_us[keep] if end_us is not None else None
    v, canon, flags, errs = normalise_many(code, values, unit)
    for i, err in errs.items():
        ctx.reject(where(path, int(lines[i])), value_field if err.field == "value"
                   else err.field, err.message, err.hint)
    good = ~np.isnan(v)
    flags = flags | tz_flags
    ctx.report.flagged += int(np.count_nonzero((flags[good] & int(Quality.IMPLAUSIBLE)) != 0))
    seen.append(t_us[good])
    yield from make_observations(pid, code, t_us[good], v[good], canon, flags[good],
                                 source=source, device=device, t_end=span,
                                 t_end_us=end[good] if end is not None else None)


def warn_duplicates(ctx: IngestContext, path: Path, seen: dict[Any, list[np.ndarray]]) -> None:
    dups = sum(count_duplicates(parts) for parts in seen.values())
    if dups:
        ctx.report.warnings.append(
            f"{path.name}: {dups} readings repeat a timestamp already in the file; "
            "the first of each was kept")


def update_person(ctx: IngestContext, person_id: str, *, birth_date: date | None = None,
                  sex_at_birth: str = "") -> None:
    """Set demographics the file knows, keeping every other field of the stored person."""
    if birth_date is None and sex_at_birth in ("", "unknown"):
        return
    try:
        current = ctx.writer.store.person(person_id)
    except NotFound:  # created by this file's transaction, so still all defaults
        current = Person(id=person_id)
    changes: dict[str, Any] = {}
    if birth_date is not None:
        changes["birth_date"] = birth_date
    if sex_at_birth not in ("", "unknown"):
        changes["sex_at_birth"] = sex_at_birth
    ctx.writer.upsert_person(replace(current, **changes))
