"""A person's days, minute by minute: sleep, meals, commutes, workouts and steps.

Everything is placed in the person's local time and stored as minutes since the cohort start
(UTC). Typical adults walk roughly 5,000-10,000 steps a day (Tudor-Locke C, Bassett DR, How many
steps/day are enough? Sports Med 2004;34:1-8, doi:10.2165/00007256-200434010-00001); cadences
of ~100 steps/min while walking and ~150-170 while running match the same literature
(Tudor-Locke C et al., Br J Sports Med 2018;52:776-788, doi:10.1136/bjsports-2017-097628).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from hyperhealth.synth._glucose import Meal
from hyperhealth.synth._persons import Profile


@dataclass(frozen=True, slots=True)
class Bout:
    start: int  # minute index
    end: int  # exclusive
    activity: str
    cadence: float  # steps/min
    logged: bool  # written as an exercise event


@dataclass(slots=True)
class Schedule:
    minutes: int
    local_hour: np.ndarray  # float hour of day, local time, per minute
    local_day: np.ndarray  # int, local calendar day index per minute (0 = first local day)
    day_starts: list[int]  # minute index of each local midnight (may be negative for day 0)
    asleep: np.ndarray  # bool per minute
    steps: np.ndarray  # int per minute
    sleeps: list[tuple[int, int, float]] = field(default_factory=list)  # (start, end, eff %)
    bouts: list[Bout] = field(default_factory=list)
    meals: list[Meal] = field(default_factory=list)
    wake_minutes: list[int] = field(default_factory=list)


def _offset_min(t: datetime, zone: ZoneInfo) -> int:
    off = t.astimezone(zone).utcoffset()
    return int(off.total_seconds() // 60) if off is not None else 0


def _local_clock(start: datetime, minutes: int, tz: str) -> tuple[np.ndarray, np.ndarray,
                                                                 list[int]]:
    zone = ZoneInfo(tz)
    hours = -(-minutes // 60)
    offsets = np.array([_offset_min(start + timedelta(hours=h), zone)
                        for h in range(hours + 1)], dtype=np.int64)
    m = np.arange(minutes, dtype=np.int64)
    local_min = m + offsets[m // 60] + (start.hour * 60 + start.minute)
    local_hour = (local_min % 1440) / 60.0
    day = local_min // 1440
    day -= day[0]
    starts = [int(m[0] - (local_min[0] % 1440))]
    starts += [int(i) for i in np.flatnonzero(np.diff(day)) + 1]
    return local_hour, day, starts


def _clip(a: int, n: int) -> int:
    return max(0, min(n, a))


def build_schedule(p: Profile, start: datetime, days: int, rng: np.random.Generator,
                   *, hypo_day: int | None = None) -> Schedule:
    """Plan ``days`` days for ``p``; ``hypo_day`` (local day index) injects a skipped lunch
    after a doubled bolus."""
    n = days * 1440
    local_hour, local_day, day_starts = _local_clock(start, n, p.person.tz)
    s = Schedule(n, local_hour, local_day, day_starts, np.zeros(n, bool), np.zeros(n, np.int64))
    first_weekday = (start + timedelta(minutes=max(day_starts[0], 0))).astimezone(
        ZoneInfo(p.person.tz)).weekday()
    # one extra day before and after so the first and last nights are whole
    for d in range(-1, len(day_starts) + 1):
        base = day_starts[0] + d * 1440 if d < 0 or d >= len(day_starts) else day_starts[d]
        weekday = (first_weekday + d) % 7
        weekend = weekday >= 5
        wake = p.wake_hour + (1.0 if weekend else 0.0) + rng.normal(0, 0.35)
        in_bed = p.sleep_hours + rng.normal(0, 0.5)
        wake_m = base + int(wake * 60)
        bed_m = wake_m - int(in_bed * 60)
        lo, hi = _clip(bed_m, n), _clip(wake_m, n)
        if hi > lo:
            s.asleep[lo:hi] = True
            s.sleeps.append((bed_m, wake_m, float(np.clip(rng.normal(90, 4), 70, 99))))
        if 0 <= wake_m < n:
            s.wake_minutes.append(wake_m)
        # meals
        meal_plan = [(wake_m + int(rng.integers(20, 50)), float(rng.integers(30, 61)), "breakfast"),
                     (base + int((12.5 + rng.normal(0, 0.4)) * 60), float(rng.integers(45, 81)),
                      "lunch"),
                     (base + int((19.0 + rng.normal(0, 0.6)) * 60), float(rng.integers(55, 91)),
                      "dinner")]
        if rng.random() < 0.4:
            meal_plan.append((base + int((15.5 + rng.normal(0, 0.5)) * 60),
                              float(rng.integers(15, 26)), "snack"))
        for minute, carbs, what in meal_plan:
            if 0 <= minute < n:
                skipped = what == "lunch" and d == hypo_day
                s.meals.append(Meal(minute, carbs, what, eaten=not skipped,
                                    bolus_factor=2.0 if skipped else 1.0))
        # commutes and workouts
        if p.works and not weekend:
            for hh in (wake + 1.2, 17.3 + rng.normal(0, 0.3)):
                b0 = base + int(hh * 60)
                s.bouts.append(Bout(b0, b0 + int(rng.integers(12, 22)), "walk",
                                    float(rng.normal(108, 6)), logged=False))
        if weekday in p.workout_days:
            hh = 18.0 + rng.normal(0, 0.5) if p.index % 2 else wake + 0.3
            b0 = base + int(hh * 60)
            run = p.index % 3 != 2
            s.bouts.append(Bout(b0, b0 + int(rng.integers(30, 51)), "run" if run else "walk",
                                float(rng.normal(160, 6) if run else rng.normal(122, 5)),
                                logged=True))
    _fill_steps(s, rng)
    return s


def _fill_steps(s: Schedule, rng: np.random.Generator) -> None:
    n = s.minutes
    for b in s.bouts:
        lo, hi = _clip(b.start, n), _clip(b.end, n)
        if hi > lo:
            s.steps[lo:hi] = np.maximum(0, rng.normal(b.cadence, 5, hi - lo)).astype(np.int64)
    # short everyday walking while awake: about one bout an hour of 1-6 min at 40-100 steps/min
    awake = ~s.asleep
    starts = np.flatnonzero(awake & (rng.random(n) < 1.3 / 60))
    for m in starts:
        length = int(rng.integers(1, 7))
        seg = slice(m, min(n, m + length))
        quiet = s.steps[seg] == 0
        s.steps[seg][quiet] = rng.integers(40, 101, int(quiet.sum()))
    s.steps[s.asleep] = 0
