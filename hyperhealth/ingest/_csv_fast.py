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
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hyperhealth.errors import InputError
from hyperhealth.ingest._base import IngestContext
from hyperhealth.model import Observation, Quality
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
    fl: list[Quality] | None = None
    if flags.any():
        as_flag = {f: Quality(f) for f in np.unique(flags).tolist()}  # one enum per distinct
        fl = [as_flag[f] for f in flags.tolist()]
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
    none = Quality.NONE
    for i, (t, v, e) in enumerate(zip(ts, vals, ends, strict=True)):
        yield Observation(person_id, code, t, v, unit, t_end=e, category=cat, source=source,
                          device=device, flags=fl[i] if fl is not None else none)


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
