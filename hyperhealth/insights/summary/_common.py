"""Shared pieces of the summary: local days, the personal band, display units.

A *local day* is a calendar day in the person's own time zone, numbered as days since
1970-01-01 so that whole arrays of readings can be bucketed at once.

>>> import numpy as np
>>> from zoneinfo import ZoneInfo
>>> t = np.array([to_us(datetime(2024, 7, 2, 6, 30, tzinfo=UTC))])  # 23:30 in Phoenix on 1 July
>>> day_of(int(local_days(t, ZoneInfo("America/Phoenix"))[0]))
datetime.date(2024, 7, 1)
>>> personal_band(np.array([60., 61, 62, 63, 64, 65, 66]))
Band(low=60.6, high=65.4, median=63.0, days=7)
>>> personal_band(np.array([60., 61])) is None
True
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import sqlalchemy as sa

from hyperhealth.errors import InputError
from hyperhealth.model import convert
from hyperhealth.model.codes import BLOOD_GLUCOSE, BODY_WEIGHT, CGM_GLUCOSE
from hyperhealth.model.time import from_us, to_us
from hyperhealth.store import Store
from hyperhealth.store import _schema as S

METHOD = "hyperhealth-summary"
VERSION = "1"
DAY_US = 86_400_000_000
EPOCH_DAY = date(1970, 1, 1)

#: days before the day looked at that make up the personal baseline (the day itself excluded)
BASELINE_DAYS = 28
#: fewer days than this with data in the baseline window give no band (a 10th/90th percentile
#: of fewer days is little more than the lowest and highest value; our choice, stated in the
#: output)
MIN_BASELINE_DAYS = 7
#: the band: 10th to 90th percentile of the person's own daily values (linear interpolation)
BAND_PERCENTILES = (10.0, 90.0)
#: days shown in the small charts of the day's summary
SPARK_DAYS = 14

BAND_METHOD = (
    f"Your usual range is the 10th to the 90th percentile of your own daily values over the "
    f"{BASELINE_DAYS} days before this day (the day itself is left out): on about 8 of 10 of "
    f"those days the value was inside it. It needs at least {MIN_BASELINE_DAYS} days with data; "
    "with fewer, no range is given ('no-baseline').")
BAND_NOTE = (
    "This range describes your own recent days; it is not a clinical normal range and being "
    "outside it is not a diagnosis. Your care team can tell you what matters for you.")

#: the days a summary or trend may be asked for (far outside, date arithmetic would overflow;
#: no record of a living person is that old)
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)

GlucoseUnit = Literal["mg/dL", "mmol/L"]
WeightUnit = Literal["kg", "lb"]
GLUCOSE_UNITS: tuple[str, ...] = ("mg/dL", "mmol/L")
WEIGHT_UNITS: tuple[str, ...] = ("kg", "lb")

# the factors come from model.units (which cites them): 1 mmol/L glucose = 18.0156 mg/dL,
# 1 lb = 0.45359237 kg
_MG_DL_PER_MMOL_L = convert(1.0, "mmol/L", "mg/dL")
_KG_PER_LB = convert(1.0, "[lb_av]", "kg")
_GLUCOSE_CODES = frozenset({CGM_GLUCOSE, BLOOD_GLUCOSE})

#: how units are written for people (UCUM -> display)
_UNIT_TEXT = {"/min": "/min", "mm[Hg]": "mmHg", "Cel": "°C", "%": "%", "ms": "ms", "kg": "kg",
              "[lb_av]": "lb", "mg/dL": "mg/dL", "mmol/L": "mmol/L", "{steps}": "steps",
              "{index}": "", "ug/m3": "µg/m³", "[ppb]": "ppb", "[ppm]": "ppm", "/m3": "/m³",
              "min": "min", "h": "h"}


@dataclass(frozen=True, slots=True)
class Units:
    """The display units a person prefers (stored values stay canonical: mg/dL, kg).

    >>> Units.pick("mmol/L", None, {"weight_unit": "lb"})
    Units(glucose='mmol/L', weight='lb')
    """

    glucose: str = "mg/dL"
    weight: str = "kg"

    @staticmethod
    def pick(glucose: str | None, weight: str | None,
             preferences: dict[str, Any] | None = None) -> Units:
        """Explicit choices first, then the account's preferences, then mg/dL and kg."""
        prefs = preferences or {}
        g = glucose or prefs.get("glucose_unit") or "mg/dL"
        w = weight or prefs.get("weight_unit") or "kg"
        if g not in GLUCOSE_UNITS:
            raise InputError(f"glucose unit {g!r} is not supported", field="glucose_unit",
                             hint="use mg/dL or mmol/L")
        if w not in WEIGHT_UNITS:
            raise InputError(f"weight unit {w!r} is not supported", field="weight_unit",
                             hint="use kg or lb")
        return Units(g, w)

    def unit_for(self, code: str, canonical: str) -> str:
        """The UCUM unit values of ``code`` are shown in (only glucose and body weight have a
        choice; the glucose factor is glucose's own, so other mg/dL codes stay as they are)."""
        if code in _GLUCOSE_CODES and canonical == "mg/dL":
            return self.glucose
        if code == BODY_WEIGHT and canonical == "kg":
            return "[lb_av]" if self.weight == "lb" else "kg"
        return canonical

    def factor(self, code: str, canonical: str) -> float:
        """Multiply a canonical value by this to get the display value (all are linear).

        >>> round(Units("mmol/L").factor("99504-3", "mg/dL") * 180, 2)
        9.99
        >>> Units("mmol/L").factor("2093-3", "mg/dL")  # cholesterol: not glucose's factor
        1.0
        """
        unit = self.unit_for(code, canonical)
        if canonical == "mg/dL" and unit == "mmol/L":
            return 1.0 / _MG_DL_PER_MMOL_L
        if canonical == "kg" and unit == "[lb_av]":
            return 1.0 / _KG_PER_LB
        return 1.0


def unit_text(unit: str) -> str:
    """How a UCUM unit is written for people.

    >>> unit_text("mm[Hg]"), unit_text("Cel"), unit_text("{steps}")
    ('mmHg', '°C', 'steps')
    """
    return _UNIT_TEXT.get(unit, unit)


def digits_for(unit: str) -> int:
    """Decimal places shown: whole mg/dL and steps, one decimal elsewhere."""
    return 0 if unit in ("mg/dL", "{steps}") else 1


def rnd(x: float | None, digits: int = 1) -> float | None:
    """``x`` rounded for display; ``None`` and NaN become ``None``."""
    if x is None or x != x:
        return None
    return round(float(x), digits)


def check_day(d: date, field: str) -> None:
    """Refuse days outside :data:`FIRST_DAY` - :data:`LAST_DAY`."""
    if not FIRST_DAY <= d <= LAST_DAY:
        raise InputError(f"{field} {d.isoformat()} is out of range", field=field,
                         hint=f"give a day between {FIRST_DAY.isoformat()} and "
                              f"{LAST_DAY.isoformat()}")


def zone(name: str | None) -> ZoneInfo:
    """The person's time zone; an unknown or empty name falls back to UTC."""
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def local_days(t_us: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    """The local calendar day of each time (µs since the epoch, UTC), as days since 1970-01-01."""
    if len(t_us) == 0:
        return np.empty(0, np.int64)
    idx = pd.DatetimeIndex(np.asarray(t_us, np.int64).astype("datetime64[us]"))
    local = idx.tz_localize("UTC").tz_convert(tz).tz_localize(None)
    return np.asarray(local.values.astype("datetime64[D]").astype(np.int64))


def local_time_of_day_us(t_us: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    """Microseconds since local midnight of each time."""
    if len(t_us) == 0:
        return np.empty(0, np.int64)
    idx = pd.DatetimeIndex(np.asarray(t_us, np.int64).astype("datetime64[us]"))
    local = idx.tz_localize("UTC").tz_convert(tz).tz_localize(None)
    us = np.asarray(local.values.astype("datetime64[us]").astype(np.int64))
    return np.asarray(us % DAY_US)


def latest_times(store: Store, person_id: str, codes: Iterable[str]) -> dict[str, datetime]:
    """The time of the newest reading of each of ``codes`` the person has (absent codes are
    left out). One statement of index probes: unlike ``Store.streams`` it does not count the
    person's rows, which on a month of minute data costs tens of milliseconds.
    """
    o = S.observations
    pk = store.person_pk(person_id)
    arms = [sa.select(sa.literal(c).label("code"), sa.func.max(o.c.t).label("t"))
            .where(o.c.person_pk == pk, o.c.code == c) for c in dict.fromkeys(codes)]
    if not arms:
        return {}
    with store.engine.connect() as conn:
        rows = conn.execute(sa.union_all(*arms)).all()
    return {r[0]: from_us(int(r[1])) for r in rows if r[1] is not None}


def latest_sleep_end(store: Store, person_id: str) -> datetime | None:
    """The end of the person's newest logged sleep period, if any."""
    e = S.lifestyle_events
    pk = store.person_pk(person_id)
    with store.engine.connect() as conn:
        t = conn.execute(sa.select(sa.func.max(sa.func.coalesce(e.c.end, e.c.start)))
                         .where(e.c.person_pk == pk, e.c.kind == "sleep")).scalar()
    return from_us(int(t)) if t is not None else None


def latest_exposure(store: Store) -> datetime | None:
    """The time of the newest environmental reading in the store (any place)."""
    with store.engine.connect() as conn:
        t = conn.execute(sa.select(sa.func.max(S.exposures.c.t))).scalar()
    return from_us(int(t)) if t is not None else None


def day_number(d: date) -> int:
    return (d - EPOCH_DAY).days


def day_of(n: int) -> date:
    return EPOCH_DAY + timedelta(days=int(n))


def midnight(d: date, tz: ZoneInfo) -> datetime:
    """Local midnight starting ``d``, in UTC."""
    return datetime.combine(d, time(0), tzinfo=tz).astimezone(UTC)


def midnight_us(d: date, tz: ZoneInfo) -> int:
    return to_us(midnight(d, tz))


@dataclass(frozen=True, slots=True)
class Band:
    """A personal range: ``low``-``high`` (10th-90th percentile) of ``days`` daily values."""

    low: float
    high: float
    median: float
    days: int

    def state(self, value: float | None) -> str:
        if value is None or value != value:
            return "no-data"
        if value < self.low:
            return "below"
        if value > self.high:
            return "above"
        return "within"


def personal_band(daily: np.ndarray, min_days: int = MIN_BASELINE_DAYS) -> Band | None:
    """The band of the daily values given (NaN are days without data), or ``None`` when fewer
    than ``min_days`` have data."""
    v = np.asarray(daily, np.float64)
    v = v[~np.isnan(v)]
    if len(v) < min_days:
        return None
    lo, med, hi = np.percentile(v, [BAND_PERCENTILES[0], 50.0, BAND_PERCENTILES[1]])
    return Band(round(float(lo), 6), round(float(hi), 6), round(float(med), 6), len(v))


def state_of(band: Band | None, value: float | None) -> str:
    """below / within / above the band, ``no-baseline`` without a band, ``no-data`` without a
    value."""
    if band is None:
        return "no-baseline"
    return band.state(value)


def band_out(band: Band | None, factor: float, digits: int, first: date, last: date
             ) -> dict[str, Any] | None:
    """The band for the JSON output, in display units."""
    if band is None:
        return None
    return {"low": rnd(band.low * factor, digits), "high": rnd(band.high * factor, digits),
            "median": rnd(band.median * factor, digits), "days": band.days,
            "from": first.isoformat(), "to": last.isoformat()}


def daily_stats(days: np.ndarray, values: np.ndarray, first: int, count: int,
                how: str = "mean") -> tuple[np.ndarray, np.ndarray]:
    """Per local day ``first .. first+count-1``: the daily value (mean or sum) and the count of
    readings; days without readings are NaN with count 0."""
    sel = (days >= first) & (days < first + count)
    idx = (days[sel] - first).astype(np.int64)
    n = np.bincount(idx, minlength=count)[:count]
    total = np.bincount(idx, weights=values[sel], minlength=count)[:count]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = total / n if how == "mean" else np.where(n > 0, total, np.nan)
    out = np.where(n > 0, out, np.nan)
    return out, n
