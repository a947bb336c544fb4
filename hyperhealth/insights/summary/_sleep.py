"""Nightly sleep from logged sleep periods (lifestyle events of kind ``sleep``).

A night belongs to the local day on which the sleep ends (the day you wake up). Its duration
is the time asleep in all periods ending that day (naps included), with overlapping periods
counted once (exports often hold the same sleep from a watch and a phone). Periods whose stage
is ``in_bed`` or ``awake`` are not sleep; they give the time in bed. Efficiency is the logged
``efficiency_pct`` (weighted by duration) when present, else time asleep over time in bed when
both were logged.

>>> from datetime import UTC, datetime
>>> from zoneinfo import ZoneInfo
>>> from hyperhealth.model import LifestyleEvent, LifestyleKind
>>> ev = [LifestyleEvent("p", LifestyleKind.SLEEP, datetime(2024, 7, 1, 5, tzinfo=UTC),
...                      datetime(2024, 7, 1, 12, tzinfo=UTC), {"efficiency_pct": 90.0}),
...       LifestyleEvent("p", LifestyleKind.SLEEP, datetime(2024, 7, 1, 11, tzinfo=UTC),
...                      datetime(2024, 7, 1, 13, tzinfo=UTC), {"stage": "asleep"})]
>>> n = nights(ev, ZoneInfo("America/Phoenix"), day_number(datetime(2024, 7, 1).date()), 1)
>>> n.minutes.tolist(), n.efficiency.tolist()
([480.0], [90.0])
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from hyperhealth.insights.summary._common import day_number, local_days
from hyperhealth.model import LifestyleEvent, LifestyleKind
from hyperhealth.model.time import from_us, to_us

#: the pseudo-code of nightly sleep minutes (trends take it like an observation code)
SLEEP = "sleep"
#: stages that are not sleep (as the Apple Health and device JSON adapters name them)
NOT_ASLEEP = frozenset({"in_bed", "awake"})
_MIN_US = 60_000_000


@dataclass(frozen=True, slots=True)
class Nights:
    """Per local day ``first .. first+count-1``: minutes asleep (NaN: nothing logged), efficiency
    (%, NaN unknown), minutes in bed (NaN unknown) and the longest period's start and end."""

    first: int
    minutes: np.ndarray
    efficiency: np.ndarray
    in_bed: np.ndarray
    main: list[tuple[datetime, datetime] | None]


def _merge(spans: list[tuple[int, int, float | None]]) -> list[tuple[int, int, float, float]]:
    """Union of ``(start, end, efficiency)`` spans -> ``(start, end, eff_weight, eff_sum)``
    where the efficiency parts let a duration-weighted mean be taken afterwards."""
    out: list[list[float]] = []
    for s, e, eff in sorted(spans):
        w = float(e - s) if eff is not None else 0.0
        x = (eff or 0.0) * w
        if out and s <= out[-1][1]:
            last = out[-1]
            last[1] = max(last[1], e)
            last[2] += w
            last[3] += x
        else:
            out.append([s, e, w, x])
    return [(int(a), int(b), c, d) for a, b, c, d in out]


def nights(events: Iterable[LifestyleEvent], tz: ZoneInfo, first: int, count: int) -> Nights:
    """Sleep per local day (see the module text) for days ``first`` to ``first + count - 1``."""
    asleep: list[tuple[int, int, float | None]] = []
    bed: list[tuple[int, int, float | None]] = []
    for ev in events:
        if ev.kind != LifestyleKind.SLEEP or ev.end is None or ev.end <= ev.start:
            continue
        stage = str(ev.details.get("stage", "") or "").lower()
        eff = ev.details.get("efficiency_pct")
        eff_v = float(eff) if isinstance(eff, int | float) and 0 <= float(eff) <= 100 else None
        span = (to_us(ev.start), to_us(ev.end), eff_v)
        (bed if stage in NOT_ASLEEP else asleep).append(span)
    minutes = np.full(count, np.nan)
    eff_w = np.zeros(count)
    eff_x = np.zeros(count)
    in_bed = np.full(count, np.nan)
    main: list[tuple[datetime, datetime] | None] = [None] * count
    longest = np.zeros(count)
    merged = _merge(asleep)
    if merged:
        ends = np.array([m[1] for m in merged], np.int64)
        days = local_days(ends, tz) - first
        for (s, e, w, x), d in zip(merged, days.tolist(), strict=True):
            if not 0 <= d < count:
                continue
            dur = (e - s) / _MIN_US
            minutes[d] = (0.0 if np.isnan(minutes[d]) else minutes[d]) + dur
            eff_w[d] += w
            eff_x[d] += x
            if dur > longest[d]:
                longest[d] = dur
                main[d] = (from_us(s), from_us(e))
    merged_bed = _merge([(s, e, None) for s, e, _ in bed])
    if merged_bed:
        ends = np.array([m[1] for m in merged_bed], np.int64)
        days = local_days(ends, tz) - first
        for (s, e, _, _), d in zip(merged_bed, days.tolist(), strict=True):
            if 0 <= d < count:
                in_bed[d] = (0.0 if np.isnan(in_bed[d]) else in_bed[d]) + (e - s) / _MIN_US
    with np.errstate(invalid="ignore", divide="ignore"):
        logged = np.where(eff_w > 0, eff_x / eff_w, np.nan)
        derived = np.where(in_bed > 0, np.minimum(100.0, minutes / in_bed * 100.0), np.nan)
    efficiency = np.where(np.isnan(logged), derived, logged)
    return Nights(first, minutes, efficiency, in_bed, main)


__all__ = ["NOT_ASLEEP", "SLEEP", "Nights", "day_number", "nights"]
