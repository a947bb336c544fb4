"""Trends: one measure per day, ISO week (Monday first) or calendar month, in local time.

What is aggregated in a period:

- most codes: the readings taken in it (``n`` readings);
- steps (``55423-8``): the day totals first (days with any step record), then those totals;
- ``sleep`` (a pseudo-code, not LOINC): the minutes asleep per night (``_sleep``), then those.

Each period gives ``n``, the number of days with data, mean, min, max and the 25th, 50th and
75th percentiles (linear interpolation between the closest ranks, numpy's default). The
personal band is that of the daily values in the 28 days before the last day shown.

>>> mon, tue, sun, next_mon = 19905, 19906, 19911, 19912  # 2024-07-01 was a Monday
>>> period_keys(np.array([mon, tue, sun, next_mon]), "week").tolist()
[19905, 19905, 19905, 19912]
>>> day_of(int(period_keys(np.array([19935]), "month")[0]))  # 2024-07-31
datetime.date(2024, 7, 1)
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from hyperhealth.errors import InputError
from hyperhealth.insights.summary._common import (
    BAND_METHOD,
    BAND_NOTE,
    BASELINE_DAYS,
    METHOD,
    VERSION,
    Units,
    band_out,
    check_day,
    daily_stats,
    day_number,
    day_of,
    digits_for,
    latest_sleep_end,
    latest_times,
    local_days,
    midnight,
    personal_band,
    rnd,
    unit_text,
    zone,
)
from hyperhealth.insights.summary._glance import VITAL_NAMES
from hyperhealth.insights.summary._sleep import SLEEP, nights
from hyperhealth.model import METRICS
from hyperhealth.model import codes as C
from hyperhealth.store import Store

PERIODS: tuple[str, ...] = ("day", "week", "month")
#: the longest range one request may cover (two years of minute data is ~1M readings)
MAX_SPAN_DAYS = 731
#: codes whose day total, not each reading, is the unit of a trend
DAY_TOTAL_CODES = frozenset({C.STEPS})


def period_keys(days: np.ndarray, period: str) -> np.ndarray:
    """The first local day (days since 1970-01-01) of the period holding each day."""
    d = np.asarray(days, np.int64)
    if period == "day":
        return d
    if period == "week":  # 1970-01-01 was a Thursday: Monday is 3 days before
        return (d + 3) // 7 * 7 - 3
    months = d.astype("datetime64[D]").astype("datetime64[M]")
    return np.asarray(months.astype("datetime64[D]").astype(np.int64))


def _next_period(first: int, period: str) -> int:
    if period == "day":
        return first + 1
    if period == "week":
        return first + 7
    d = day_of(first)
    return day_number(date(d.year + d.month // 12, d.month % 12 + 1, 1))


def _unit_of(store: Store, person_id: str, code: str) -> str:
    """The unit stored with a code that has no canonical metric (e.g. most lab codes)."""
    obs = store.observations(person_id, code, limit=1)
    return obs[0].unit if obs else ""


def default_range(period: str, end: date) -> date:
    """The default start for ``period``: 30 days, 12 weeks (from a Monday) or 12 months."""
    if period == "day":
        return end - timedelta(days=29)
    if period == "week":
        monday = end - timedelta(days=end.weekday())
        return monday - timedelta(weeks=11)
    month = end.year * 12 + end.month - 1 - 11
    return date(month // 12, month % 12 + 1, 1)


def _check(code: str, period: str, person_has: bool) -> None:
    if period not in PERIODS:
        raise InputError(f"period {period!r} is not one of day, week, month", field="period",
                         hint="use period=day, period=week (Monday first) or period=month")
    if code != SLEEP and code not in METRICS and not person_has:
        raise InputError(f"code {code!r} is neither a known measure nor one of this person's "
                         "streams", field="code",
                         hint="use a code from the person's streams (GET /api/persons/{id}/"
                              "streams), e.g. 8867-4 for heart rate, or 'sleep' for nightly "
                              "sleep minutes")


def trends(store: Store, person_id: str, code: str, *, period: str = "day",
           start: date | None = None, end: date | None = None, units: Units | None = None,
           now: datetime | None = None) -> dict[str, Any]:
    """Aggregates of ``code`` per ``period`` from ``start`` to ``end`` (local dates, both
    included; defaults: up to the day of the latest reading, over 30 days, 12 weeks or 12
    months)."""
    units = units or Units()
    person = store.person(person_id)
    tz = zone(person.tz)
    if code == SLEEP:
        last = latest_sleep_end(store, person_id)
    else:
        last = latest_times(store, person_id, [code]).get(code)
    _check(code, period, last is not None)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if end is None:
        end = (last or now).astimezone(tz).date()
    check_day(end, "end")
    if start is None:
        start = default_range(period, end)
    check_day(start, "start")
    if start > end:
        raise InputError(f"start {start.isoformat()} is after end {end.isoformat()}",
                         field="start", hint="give a start on or before the end")
    if (end - start).days + 1 > MAX_SPAN_DAYS:
        raise InputError(f"{(end - start).days + 1} days asked for; at most {MAX_SPAN_DAYS} "
                         "at once", field="start",
                         hint="ask for a shorter range, or a few ranges one after another")
    d0, d1 = day_number(start), day_number(end)
    load0 = min(d0, d1 - BASELINE_DAYS)
    count = d1 - load0 + 1
    t0, t1 = midnight(day_of(load0), tz), midnight(day_of(d1 + 1), tz)

    if code == SLEEP:
        ns = nights(store.lifestyle_events(person_id, t0 - timedelta(days=1), t1), tz, load0,
                    count)
        daily = ns.minutes
        canonical, name = "min", "Sleep per night"
        values_days = np.arange(load0, d1 + 1)[~np.isnan(daily)]
        values = daily[~np.isnan(daily)]
    else:
        ser = store.series(person_id, code, t0, t1)
        days = local_days(ser.t_us, tz)
        metric = METRICS.get(code)
        canonical = metric.unit if metric else _unit_of(store, person_id, code)
        name = VITAL_NAMES.get(code) or (metric.display if metric else code)
        how = "sum" if code in DAY_TOTAL_CODES else "mean"
        daily, n = daily_stats(days, ser.value, load0, count, how=how)
        if code in DAY_TOTAL_CODES:
            name = "Steps per day"
            values_days = np.arange(load0, d1 + 1)[n > 0]
            values = daily[n > 0]
        else:
            values_days, values = days, ser.value
    unit = units.unit_for(code, canonical)
    f = units.factor(code, canonical)
    dg = 0 if unit in ("min", "{steps}") else digits_for(unit)

    inside = (values_days >= d0) & (values_days <= d1)
    vd, vv = values_days[inside], values[inside] * f
    keys = period_keys(vd, period)
    rows = []
    k = int(period_keys(np.array([d0]), period)[0])
    while k <= d1:
        nk = _next_period(k, period)
        sel = (keys == k)
        x = vv[sel]
        lo, hi = max(k, d0), min(nk - 1, d1)
        row: dict[str, Any] = {"start": day_of(lo).isoformat(), "end": day_of(hi).isoformat(),
                               "n": len(x), "days": len(np.unique(vd[sel]))}
        if len(x):
            p25, med, p75 = np.percentile(x, [25.0, 50.0, 75.0])
            row.update(mean=rnd(float(np.mean(x)), dg), min=rnd(float(np.min(x)), dg),
                       max=rnd(float(np.max(x)), dg), p25=rnd(float(p25), dg),
                       median=rnd(float(med), dg), p75=rnd(float(p75), dg))
        else:
            row.update(mean=None, min=None, max=None, p25=None, median=None, p75=None)
        rows.append(row)
        k = nk
    band = personal_band(daily[-BASELINE_DAYS - 1:-1])
    what = {SLEEP: "minutes asleep per night (sleep ending on each day)",
            C.STEPS: "day totals of steps (days with any step record)"}.get(
        code, "readings taken in the period")
    return {
        "person_id": person_id, "code": code, "name": name, "unit": unit,
        "unit_text": unit_text(unit), "period": period, "start": start.isoformat(),
        "end": end.isoformat(), "tz": tz.key, "periods": rows,
        "baseline": band_out(band, f, dg, day_of(d1 - BASELINE_DAYS), day_of(d1 - 1)),
        "method": (f"Per {period} in your time zone (weeks start on Monday): {what}. n is the "
                   "number of values, days the days with data; p25, median and p75 are "
                   "percentiles with linear interpolation. The band is your usual range as of "
                   f"the last day shown. {BAND_METHOD}"),
        "note": BAND_NOTE, "version": f"{METHOD}/{VERSION}",
    }
