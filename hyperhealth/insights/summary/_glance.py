"""Today at a glance: one day of a person's data against their own recent days.

Sections (each computed only when asked for, so a caller sees only what they may):

- ``vitals``: per vital sign the day's latest value and mean, the personal band of daily means
  over the 28 days before, where the day falls, and 14 days of daily means. Without a reported
  resting heart rate, one is derived from heart rate and steps (the engine's definition), but
  only when ``activity`` is asked for too (it shows when the person was still).
- ``sleep``: last night (sleep ending on the day) against the personal band and the 7-hour
  adult recommendation.
- ``activity``: steps so far against the band of daily totals (and, while the day is not over,
  against the band of totals by the same time of day), and today's exercise.
- ``glucose``: CGM metrics of the last 14 days (``_cgm``).
- ``environment``: the latest readings near the person's place.
- ``advisories``: the current environment advisories (``hyperhealth.actions.advisories``).

Each section is ``{"status": "ok" | "no-data" | "not-used", ...}``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from hyperhealth.errors import InputError
from hyperhealth.insights.summary import _cgm
from hyperhealth.insights.summary._common import (
    BAND_METHOD,
    BAND_NOTE,
    BASELINE_DAYS,
    DAY_US,
    METHOD,
    SPARK_DAYS,
    VERSION,
    Units,
    band_out,
    check_day,
    daily_stats,
    day_number,
    day_of,
    digits_for,
    latest_exposure,
    latest_sleep_end,
    latest_times,
    local_days,
    local_time_of_day_us,
    midnight,
    personal_band,
    rnd,
    state_of,
    unit_text,
    zone,
)
from hyperhealth.insights.summary._sleep import nights
from hyperhealth.model import METRICS, LifestyleEvent, LifestyleKind
from hyperhealth.model import codes as C
from hyperhealth.model.time import from_us, to_us
from hyperhealth.store import Store
from hyperhealth.store._store import Series

SECTIONS: tuple[str, ...] = ("vitals", "sleep", "activity", "glucose", "environment",
                             "advisories")

#: the vital signs shown, in this order, with the words used for them
VITALS: tuple[tuple[str, str], ...] = (
    (C.RESTING_HEART_RATE, "Resting heart rate"),
    (C.HEART_RATE, "Heart rate"),
    (C.HRV_SDNN, "Heart rate variability (SDNN)"),
    (C.SPO2, "Blood oxygen (SpO2)"),
    (C.SYSTOLIC_BP, "Blood pressure, systolic"),
    (C.DIASTOLIC_BP, "Blood pressure, diastolic"),
    (C.BODY_TEMPERATURE, "Body temperature"),
    (C.BODY_WEIGHT, "Weight"),
    ("9279-1", "Breathing rate"),
)
VITAL_NAMES = dict(VITALS)
#: codes whose latest reading decides the default day, per section
SECTION_CODES: dict[str, tuple[str, ...]] = {
    "vitals": tuple(c for c, _ in VITALS), "activity": (C.STEPS,),
    "glucose": (C.CGM_GLUCOSE,)}

#: Watson NF et al., Recommended amount of sleep for a healthy adult: a joint consensus
#: statement of the AASM and SRS. Sleep 2015;38:843-844, doi:10.5665/sleep.4716: 7 or more
#: hours per night on a regular basis (adults 18-60)
SLEEP_RECOMMENDED_MIN = 7 * 60
SLEEP_CITATION = "Watson NF et al. Sleep 2015;38:843-844, doi:10.5665/sleep.4716"
RESTING_METHOD = (
    "Derived: mean of the day's heart-rate readings taken with no steps in the 10 minutes "
    "before (the engine's resting definition, after Mishra T et al., Nat Biomed Eng "
    "2020;4:1208-1220, doi:10.1038/s41551-020-00640-6).")
_US = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class _Frame:
    """The days looked at: local day numbers and their UTC bounds."""

    tz: ZoneInfo
    day: date
    d: int  # local day number of ``day``
    first: int  # first baseline day
    start: datetime  # local midnight of the first baseline day
    day_start: datetime
    day_end: datetime
    as_of: datetime
    end: datetime  # data end (exclusive): the day's end or just after as_of

    @property
    def count(self) -> int:
        return self.d - self.first + 1


def glance(store: Store, person_id: str, *, day: date | None = None,
           sections: Iterable[str] = SECTIONS, units: Units | None = None,
           now: datetime | None = None) -> dict[str, Any]:
    """The day's summary for ``person_id`` (see the module text).

    ``day`` is a local date of the person (default: the date of their latest reading in the
    sections asked for; with only environment or advisories asked for, of the newest
    environmental reading in the store; else today). ``as_of``, the moment described, is the
    end of the day, or that latest reading if it is earlier (never before the day starts nor
    after ``now``). ``now`` is the clock (default: the current time). Raises
    :class:`~hyperhealth.errors.NotFound` for an unknown person and
    :class:`~hyperhealth.errors.InputError` for a day after today or an unknown section.
    """
    want = list(dict.fromkeys(sections))
    unknown = [s for s in want if s not in SECTIONS]
    if unknown:
        raise InputError(f"unknown summary section(s): {', '.join(unknown)}", field="sections",
                         hint=f"use some of: {', '.join(SECTIONS)}")
    units = units or Units()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    person = store.person(person_id)
    tz = zone(person.tz)
    codes = [c for s in want for c in SECTION_CODES.get(s, ())]
    streams = latest_times(store, person_id, codes)
    lasts = [streams[c] for s in want for c in SECTION_CODES.get(s, ()) if c in streams]
    if "sleep" in want:
        sleep_end = latest_sleep_end(store, person_id)
        if sleep_end is not None:
            lasts.append(sleep_end)
    if not lasts and ("environment" in want or "advisories" in want):
        # nothing of the person's own is asked for: the newest environmental data in the
        # store stands in (it says nothing about the person), so past data still shows
        newest = latest_exposure(store)
        if newest is not None:
            lasts.append(newest)
    frame = _frame(tz, day, now, max(lasts) if lasts else None)
    out: dict[str, Any] = {
        "person_id": person_id, "day": frame.day.isoformat(), "as_of": frame.as_of.isoformat(),
        "tz": tz.key, "units": {"glucose": units.glucose, "weight": units.weight},
        "sections": {}, "method": f"{METHOD}/{VERSION}",
    }
    sec: dict[str, Any] = out["sections"]
    events: list[LifestyleEvent] | None = None
    if "sleep" in want or "activity" in want:
        # one query for sleep (periods that end in the window start up to a day earlier) and
        # exercise
        events = store.lifestyle_events(person_id, frame.start - timedelta(days=1), frame.end)
    steps: Series | None = None
    if C.STEPS in streams and "activity" in want:
        steps = store.series(person_id, C.STEPS, frame.start, frame.end)
    if "vitals" in want:
        # a resting heart rate derived from steps tells when the person was still: only
        # where their activity is shown too
        sec["vitals"] = _vitals(store, person_id, frame, streams, units, steps)
    if "sleep" in want:
        sec["sleep"] = _sleep(frame, events or [])
    if "activity" in want:
        sec["activity"] = _activity(frame, steps, events or [])
    if "glucose" in want:
        sec["glucose"] = _glucose(store, person_id, frame, streams, units)
    if "environment" in want:
        from hyperhealth.insights.exposure import current_environment

        sec["environment"] = _environment(current_environment(store, person_id, frame.as_of))
    if "advisories" in want:
        sec["advisories"] = _advisories(store, person_id, frame.as_of)
    return out


def _frame(tz: ZoneInfo, day: date | None, now: datetime, latest: datetime | None) -> _Frame:
    """The day asked for (default: the day of ``latest``, else today) and its bounds."""
    today = now.astimezone(tz).date()
    if day is None:
        day = latest.astimezone(tz).date() if latest is not None else today
    check_day(day, "day")
    if day > today:
        raise InputError(f"day {day.isoformat()} is after today ({today.isoformat()} in the "
                         f"person's time zone, {tz.key})", field="day",
                         hint="ask for today or an earlier day, or leave day out")
    d = day_number(day)
    first = d - BASELINE_DAYS
    day_start, day_end = midnight(day, tz), midnight(day + timedelta(days=1), tz)
    as_of = min(day_end, now, max(day_start, latest) if latest is not None else now)
    end = min(day_end, as_of + _US)
    return _Frame(tz, day, d, first, midnight(day_of(first), tz), day_start, day_end, as_of,
                  end)


def _series_out(frame: _Frame, daily: np.ndarray, n: np.ndarray, factor: float,
                digits: int) -> list[dict[str, Any]]:
    out = []
    for i in range(frame.count - SPARK_DAYS, frame.count):
        v = daily[i]
        out.append({"day": day_of(frame.first + i).isoformat(),
                    "value": rnd(v * factor, digits), "readings": int(n[i])})
    return out


def _vitals(store: Store, person_id: str, frame: _Frame, streams: dict[str, datetime],
            units: Units, steps: Series | None) -> dict[str, Any]:
    items = []
    for code, name in VITALS:
        if code == C.RESTING_HEART_RATE and code not in streams:
            item = _derived_resting(store, person_id, frame, streams, steps, units)
            if item is not None:
                items.append(item)
            continue
        if code not in streams:
            continue
        ser = store.series(person_id, code, frame.start, frame.end)
        if len(ser) == 0:
            continue
        items.append(_vital(code, name, ser.t_us, ser.value, frame, units, "measured"))
    return {"status": "ok" if items else "no-data", "items": items,
            "baseline_days": BASELINE_DAYS, "method": BAND_METHOD, "note": BAND_NOTE,
            "why": "" if items else "no vital-sign readings in the 29 days up to this day"}


def _derived_resting(store: Store, person_id: str, frame: _Frame, streams: dict[str, datetime],
                     steps: Series | None, units: Units) -> dict[str, Any] | None:
    """Resting heart rate from heart rate and steps, when no device reported it."""
    if C.HEART_RATE not in streams or steps is None or len(steps) == 0:
        return None
    from hyperhealth.actions.alerts._rule import Chunk
    from hyperhealth.engine._resting import resting

    hr = store.series(person_id, C.HEART_RATE, frame.start, frame.end)
    rest = resting(Chunk(hr.t_us, hr.value), Chunk(steps.t_us, steps.value), {})
    if len(rest) == 0:
        return None
    item = _vital(C.RESTING_HEART_RATE, VITAL_NAMES[C.RESTING_HEART_RATE], rest.t, rest.v,
                  frame, units, "derived")
    item["method"] = RESTING_METHOD
    return item


def _vital(code: str, name: str, t_us: np.ndarray, v: np.ndarray, frame: _Frame, units: Units,
           source: str) -> dict[str, Any]:
    canonical = METRICS[code].unit if code in METRICS else ""
    unit = units.unit_for(code, canonical)
    f = units.factor(code, canonical)
    dg = digits_for(unit)
    days = local_days(t_us, frame.tz)
    daily, n = daily_stats(days, v, frame.first, frame.count)
    band = personal_band(daily[:-1])
    today_sel = np.flatnonzero(days == frame.d)
    mean_today = float(daily[-1]) if n[-1] else None
    latest = None
    if len(today_sel):
        i = int(today_sel[-1])
        latest = {"value": rnd(v[i] * f, dg), "time": from_us(int(t_us[i])).isoformat()}
    last = {"value": rnd(v[-1] * f, dg), "time": from_us(int(t_us[-1])).isoformat()} \
        if len(v) else None
    return {
        "code": code, "name": name, "unit": unit, "unit_text": unit_text(unit),
        "source": source,
        "today": {"latest": latest, "mean": rnd(mean_today * f, dg) if mean_today is not None
                  else None, "readings": int(n[-1])},
        "last": last,
        "baseline": band_out(band, f, dg, day_of(frame.first), day_of(frame.d - 1)),
        "state": state_of(band, mean_today),
        "series": _series_out(frame, daily, n, f, dg),
    }


def _sleep(frame: _Frame, events: list[LifestyleEvent]) -> dict[str, Any]:
    ns = nights(events, frame.tz, frame.first, frame.count)
    band = personal_band(ns.minutes[:-1])
    last = ns.minutes[-1]
    has = not np.isnan(last)
    main = ns.main[-1]
    eff = ns.efficiency[-1]
    base = {
        "recommended_minutes": SLEEP_RECOMMENDED_MIN,
        "recommendation": "Adults are advised to sleep 7 hours or more per night, regularly.",
        "citation": SLEEP_CITATION,
        "method": ("A night is the sleep that ends on this day (naps included), with "
                   "overlapping periods counted once; time 'in bed' or 'awake' is not sleep. "
                   + BAND_METHOD),
        "note": BAND_NOTE, "unit": "min",
        "baseline": band_out(band, 1.0, 0, day_of(frame.first), day_of(frame.d - 1)),
        "series": [{"day": day_of(frame.first + i).isoformat(),
                    "minutes": rnd(ns.minutes[i], 0)}
                   for i in range(frame.count - SPARK_DAYS, frame.count)],
    }
    if not has and np.all(np.isnan(ns.minutes)):
        return {"status": "no-data", "why": "no sleep logged in the 29 days up to this day",
                "last_night": None, "state": "no-data", **base}
    night = None
    if has:
        night = {"minutes": rnd(last, 0), "hours": rnd(last / 60, 1),
                 "efficiency_percent": rnd(eff, 1),
                 "in_bed_minutes": rnd(ns.in_bed[-1], 0),
                 "start": main[0].isoformat() if main else None,
                 "end": main[1].isoformat() if main else None,
                 "meets_recommendation": bool(last >= SLEEP_RECOMMENDED_MIN)}
    return {"status": "ok", "last_night": night,
            "state": state_of(band, float(last) if has else None), **base}


def _activity(frame: _Frame, steps: Series | None, events: list[LifestyleEvent]
              ) -> dict[str, Any]:
    exercise = [{"activity": str(e.details.get("activity", "") or "exercise"),
                 "start": e.start.isoformat(),
                 "minutes": rnd((e.end - e.start) / timedelta(minutes=1), 0)
                 if e.end is not None else None,
                 "intensity": str(e.details.get("intensity", "") or "")}
                for e in events if e.kind == LifestyleKind.EXERCISE
                and frame.day_start <= e.start < frame.end]
    base: dict[str, Any] = {
        "unit": "{steps}", "unit_text": "steps", "exercise": exercise,
        "method": ("Steps are added up per day in your time zone; days without any step "
                   "record are left out of the range (the device may not have been worn). "
                   + BAND_METHOD + " While the day is not over, the steps so far are compared "
                   "with your totals by the same time on those days."),
        "note": BAND_NOTE,
    }
    if steps is None or len(steps) == 0:
        return {"status": "no-data", "why": "no step records in the 29 days up to this day",
                "today": None, "state": "no-data", "baseline": None, "by_this_time": None,
                "series": [], **base}
    days = local_days(steps.t_us, frame.tz)
    daily, n = daily_stats(days, steps.value, frame.first, frame.count, how="sum")
    band = personal_band(daily[:-1])
    total = float(daily[-1]) if n[-1] else 0.0
    over = frame.as_of >= frame.day_end
    by_time = None
    by_band = None
    if not over:
        cut = int(local_time_of_day_us(np.array([to_us(frame.as_of)]), frame.tz)[0])
        early = local_time_of_day_us(steps.t_us, frame.tz) <= cut
        part, _ = daily_stats(days[early], steps.value[early], frame.first, frame.count,
                              how="sum")
        # a baseline day with records, but none by this time, had 0 steps by this time
        part = np.where((n > 0) & np.isnan(part), 0.0, part)
        by_band = personal_band(part[:-1])
        by_time = band_out(by_band, 1.0, 0, day_of(frame.first), day_of(frame.d - 1))
        if by_time is not None:
            by_time["until"] = frame.as_of.astimezone(frame.tz).strftime("%H:%M")
    compare = band if over else by_band
    return {
        "status": "ok",
        "today": {"steps": rnd(total, 0), "records": int(n[-1]), "day_over": over},
        "state": "no-data" if n[-1] == 0 else state_of(compare, total),
        "baseline": band_out(band, 1.0, 0, day_of(frame.first), day_of(frame.d - 1)),
        "by_this_time": by_time,
        "series": [{"day": day_of(frame.first + i).isoformat(), "steps": rnd(daily[i], 0)}
                   for i in range(frame.count - SPARK_DAYS, frame.count)],
        **base,
    }


def _glucose(store: Store, person_id: str, frame: _Frame, streams: dict[str, datetime],
             units: Units) -> dict[str, Any]:
    unit = units.glucose
    f = units.factor(C.CGM_GLUCOSE, "mg/dL")
    dg = 0 if unit == "mg/dL" else 1
    limits = {k: [rnd(a * f, dg) if a is not None else None,
                  rnd(b * f, dg) if b is not None else None]
              for k, (a, b) in _cgm.RANGE_LIMITS_MG_DL.items()}
    base: dict[str, Any] = {
        "unit": unit, "window_days": _cgm.WINDOW_DAYS, "ranges": limits,
        "method": _cgm.METHOD_TEXT,
        "citation": [_cgm.CITATION_TARGETS, _cgm.CITATION_GMI],
        "note": ("The targets are the international consensus targets for most adults with "
                 "type 1 or type 2 diabetes; targets for older or high-risk people and in "
                 "pregnancy differ. Ask your care team which targets are yours."),
    }
    if C.CGM_GLUCOSE not in streams:
        return {"status": "not-used", "why": "no continuous glucose monitor readings", **base}
    end_us = to_us(frame.as_of) + 1
    start_us = end_us - _cgm.WINDOW_DAYS * DAY_US
    ser = store.series(person_id, C.CGM_GLUCOSE, from_us(start_us), from_us(end_us))
    m = _cgm.cgm_metrics(ser.t_us, ser.value, start_us, end_us)
    # the window is (start, end]: readings after start, up to and including end
    base.update(start=(frame.as_of - timedelta(days=_cgm.WINDOW_DAYS)).isoformat(),
                end=frame.as_of.isoformat())
    if m.readings == 0:
        return {"status": "no-data", "why": "no CGM readings in the 14 days up to this moment",
                **base}
    # per-day share in range and mean, for a small chart (time-weighted like the totals)
    w, _ = _cgm.coverage(ser.t_us, end_us)
    days = local_days(ser.t_us, frame.tz)
    first = frame.d - SPARK_DAYS + 1
    inr = (_cgm.classify(ser.value) == 2).astype(np.float64)
    tot, _n = daily_stats(days, w, first, SPARK_DAYS, how="sum")
    good, _ = daily_stats(days, w * inr, first, SPARK_DAYS, how="sum")
    wv, _ = daily_stats(days, w * ser.value, first, SPARK_DAYS, how="sum")
    with np.errstate(invalid="ignore", divide="ignore"):
        share, mean = good / tot * 100, wv / tot
    return {
        "status": "ok", "readings": m.readings,
        "percent": {k: rnd(v, 1) for k, v in m.percent.items()},
        "mean": rnd(m.mean * f if m.mean is not None else None, dg),
        "sd": rnd(m.sd * f if m.sd is not None else None, dg),
        "cv_percent": rnd(m.cv_percent, 1),
        "gmi_percent": rnd(m.gmi_percent, 1), "gmi_mmol_mol": rnd(m.gmi_mmol_mol, 0),
        "wear_percent": rnd(m.wear_percent, 1), "days_with_data": m.days_with_data,
        "interval_minutes": rnd(m.interval_s / 60 if m.interval_s else None, 1),
        "reliable": m.reliable, "reliability": m.reliability_notes(),
        "targets": m.targets(),
        "latest": {"value": rnd(float(ser.value[-1]) * f, dg),
                   "time": from_us(int(ser.t_us[-1])).isoformat()},
        "series": [{"day": day_of(first + i).isoformat(), "mean": rnd(mean[i] * f, dg),
                    "in_range_percent": rnd(share[i], 1)} for i in range(SPARK_DAYS)],
        **base,
    }


def _environment(env: Any) -> dict[str, Any]:
    from hyperhealth.actions.advisories._pollen import CODES as POLLEN_CODES
    from hyperhealth.actions.advisories._pollen import nab_level
    from hyperhealth.actions.advisories._uv import category as uv_category

    if env.location is None:
        return {"status": "no-data", "why": "no home or location history is recorded, so no "
                "environmental readings can be linked", "readings": []}
    pollen_kind = {v: k for k, v in POLLEN_CODES.items()}
    readings = []
    for code, p in sorted(env.values.items()):
        x = p.exposure
        m = METRICS.get(code)
        r: dict[str, Any] = {"code": code, "name": m.display if m else code,
                             "value": rnd(x.value, 1), "unit": x.unit,
                             "unit_text": unit_text(x.unit), "time": x.t.isoformat(),
                             "monitor": x.location.label, "distance_km": p.distance_km}
        if code == "uv-index":
            r["category"] = uv_category(x.value).name
        if code in pollen_kind:
            lvl = nab_level(pollen_kind[code], x.value)
            r["category"] = lvl.name if lvl else None
        readings.append(r)
    out: dict[str, Any] = {
        "status": "ok" if readings else "no-data",
        "place": {"label": env.location.label, "basis": env.basis},
        "aqi": env.aqi, "aqi_category": env.aqi_category, "aqi_colour": env.aqi_colour,
        "heat_index": rnd(env.heat_index_c, 1), "heat_index_unit": "Cel",
        "heat_level": env.heat_level, "readings": readings,
        "method": ("The newest reading of each measure in the 24 hours before this moment, "
                   "from the nearest monitor within 25 km of where you were (your location "
                   "history, else your home)."),
    }
    if not readings:
        out["why"] = "no environmental monitor with readings in the last 24 hours is near"
    return out


def _advisories(store: Store, person_id: str, at: datetime) -> dict[str, Any]:
    from hyperhealth.actions.advisories import assess_person

    rep = assess_person(store, person_id, at).to_dict()
    return {"status": "ok", "at": rep["at"], "advisories": rep["advisories"],
            "not_checked": rep["not_checked"], "person_missing": rep["person_missing"],
            "method": rep["method"], "note": rep["note"]}
