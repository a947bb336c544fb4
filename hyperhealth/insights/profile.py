"""One person's profile: who they are, what they have, what their streams say, and what is missing.

The profile is assembled from the store on request; nothing here is stored. Daily summaries use
the person's own time zone so that "a day" means their day.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import sqlalchemy as sa

from hyperhealth.insights.exposure import current_environment
from hyperhealth.model import (
    METRICS,
    Allergy,
    Condition,
    GenotypeUpload,
    Medication,
    Observation,
    Person,
)
from hyperhealth.model.codes import STEPS
from hyperhealth.model.time import from_us
from hyperhealth.store import Store
from hyperhealth.store import _schema as S

#: codes whose daily summary is a total rather than a mean
SUMMED_CODES = frozenset({STEPS, "41981-2"})
#: a stream is "continuous" (gap analysis applies) when its median interval is below this
CONTINUOUS_MAX_INTERVAL = timedelta(minutes=15)
#: a silence longer than this in a continuous stream is reported as a gap (data coverage, not a
#: clinical threshold: an hour without readings is what a person would notice on a chart)
GAP_MIN = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class DailySummary:
    day: date
    n: int
    mean: float
    min: float
    max: float
    total: float | None = None


@dataclass(frozen=True, slots=True)
class Gap:
    start: datetime
    end: datetime

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


@dataclass(frozen=True, slots=True)
class Coverage:
    """One stream: how much there is, from when to when, and where it is silent."""

    code: str
    display: str
    unit: str
    count: int
    first: datetime
    last: datetime
    median_interval_s: float | None
    gaps: list[Gap]
    gap_hours: float
    continuous: bool


@dataclass
class Profile:
    person: Person
    links: list[tuple[str, str]]
    conditions: list[Condition]
    medications: list[Medication]
    allergies: list[Allergy]
    latest_vitals: list[Observation]
    latest_labs: list[Observation]
    coverage: list[Coverage]
    daily: dict[str, list[DailySummary]]
    genotypes: list[GenotypeUpload]
    environment: dict[str, Any] = field(default_factory=dict)
    lifestyle: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    @property
    def active_conditions(self) -> list[Condition]:
        return [c for c in self.conditions if c.clinical_status in ("active", "recurrence",
                                                                     "relapse")]

    @property
    def active_medications(self) -> list[Medication]:
        return [m for m in self.medications if m.status in ("active", "intended", "on-hold")]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["active_conditions"] = [asdict(c) for c in self.active_conditions]
        d["active_medications"] = [asdict(m) for m in self.active_medications]
        return _jsonable(d)


def build_profile(store: Store, person_id: str, *, days: int = 14) -> Profile:
    """Assemble the profile of ``person_id`` (daily summaries over the last ``days`` of data)."""
    person = store.person(person_id)
    tz = ZoneInfo(person.tz)
    coverage = [_coverage(store, person_id, s.code, s.system, s.unit, s.count, s.first, s.last)
                for s in store.streams(person_id)]
    daily = {c.code: _daily(store, person_id, c, tz, days) for c in coverage
             if c.continuous or c.code in SUMMED_CODES or c.count >= days}
    latest = store.latest_observations(person_id)
    events = store.lifestyle_events(person_id)
    prof = Profile(
        person=person,
        links=store.person_links(person_id),
        conditions=store.conditions(person_id),
        medications=store.medications(person_id),
        allergies=store.allergies(person_id),
        latest_vitals=[o for o in latest if o.category in ("vital-signs", "cgm", "activity")],
        latest_labs=[o for o in latest if o.category == "laboratory"],
        coverage=coverage,
        daily={k: v for k, v in daily.items() if v},
        genotypes=store.genotype_uploads(person_id),
        lifestyle={k: sum(1 for e in events if e.kind == k) for k in
                   sorted({str(e.kind) for e in events})},
    )
    prof.environment = _environment(store, person_id)
    prof.missing = _missing(prof)
    return prof


def _coverage(store: Store, person_id: str, code: str, system: str, unit: str, count: int,
              first: datetime, last: datetime) -> Coverage:
    median = _median_interval(store, person_id, code)
    # counts (steps) are often sent only for active minutes: a silence there means "no steps"
    continuous = (median is not None and median <= CONTINUOUS_MAX_INTERVAL.total_seconds()
                  and code not in SUMMED_CODES)
    gaps = _gaps(store, person_id, code) if continuous else []
    m = METRICS.get(code)
    return Coverage(code, m.display if m else _display(store, person_id, code), unit, count,
                    first, last, median, gaps, round(sum(g.hours for g in gaps), 2), continuous)


def _median_interval(store: Store, person_id: str, code: str) -> float | None:
    """Median spacing (s) of the most recent 2,000 readings (enough to classify the stream)."""
    o = S.observations
    with store.engine.connect() as conn:
        pk = store.person_pk(person_id)
        ts = conn.execute(sa.select(o.c.t).where(o.c.person_pk == pk, o.c.code == code)
                          .order_by(o.c.t.desc()).limit(2000)).scalars().all()
    if len(ts) < 3:
        return None
    d = -np.diff(np.asarray(ts, dtype=np.int64))
    d = d[d > 0]
    return float(np.median(d)) / 1e6 if len(d) else None


def _gaps(store: Store, person_id: str, code: str) -> list[Gap]:
    """Silences longer than GAP_MIN, found in the database with a window function."""
    o = S.observations
    pk = store.person_pk(person_id)
    prev = sa.func.lag(o.c.t).over(order_by=o.c.t).label("prev")
    inner = sa.select(o.c.t, prev).where(o.c.person_pk == pk, o.c.code == code).subquery()
    min_us = int(GAP_MIN.total_seconds() * 1e6)
    q = (sa.select(inner.c.prev, inner.c.t)
         .where(inner.c.prev.is_not(None), inner.c.t - inner.c.prev > min_us)
         .order_by(inner.c.prev))
    with store.engine.connect() as conn:
        return [Gap(from_us(a), from_us(b)) for a, b in conn.execute(q)]


def _daily(store: Store, person_id: str, cov: Coverage, tz: ZoneInfo,
           days: int) -> list[DailySummary]:
    end = cov.last + timedelta(microseconds=1)
    start = end - timedelta(days=days)
    ser = store.series(person_id, cov.code, start, end)
    if len(ser) == 0:
        return []
    idx = pd.to_datetime(ser.t_us, unit="us", utc=True).tz_convert(tz)
    s = pd.Series(ser.value, index=idx)
    g = s.groupby(idx.date)
    summed = cov.code in SUMMED_CODES
    return [DailySummary(day, int(n), round(float(mean), 2), float(lo), float(hi),
                         float(total) if summed else None)
            for day, n, mean, lo, hi, total in zip(g.size().index, g.size(), g.mean(), g.min(),
                                                   g.max(), g.sum(), strict=True)]


def _display(store: Store, person_id: str, code: str) -> str:
    obs = store.observations(person_id, code, limit=1)
    return obs[0].display if obs else code


def _environment(store: Store, person_id: str) -> dict[str, Any]:
    """The environment at the person's place as of the newest exposure data in the store.

    "As of the newest data" rather than "now" so that a profile of past data (an import, the
    demo) still shows the conditions the person lived in.
    """
    latest_t = _latest_exposure_time(store)
    if latest_t is None:
        return {}
    return _jsonable(current_environment(store, person_id, latest_t))


def _latest_exposure_time(store: Store) -> datetime | None:
    with store.engine.connect() as conn:
        t = conn.execute(sa.select(sa.func.max(S.exposures.c.t))).scalar()
    return from_us(t) if t is not None else None


def _missing(p: Profile) -> list[str]:
    """Inputs a clinician would expect that this profile does not have."""
    out = []
    if p.person.birth_date is None:
        out.append("birth date")
    if p.person.sex_at_birth in ("", "unknown"):
        out.append("sex at birth")
    if p.person.home is None:
        out.append("home location (needed to link environmental exposures)")
    have = {c.code for c in p.coverage}
    for code in ("8867-4", "8480-6", "29463-7", "8302-2"):
        if code not in have:
            out.append(f"{METRICS[code].display} ({code})")
    return out


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, datetime | date):
        return x.isoformat()
    if isinstance(x, float) and x != x:
        return None
    if isinstance(x, np.generic):
        return x.item()
    if hasattr(x, "__dataclass_fields__"):
        return _jsonable(asdict(x))
    return x


