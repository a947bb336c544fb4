"""The day's summary and trends, each checked against a plain recount written in the test.

The recounts use pandas (time zones, grouping by local date, quantiles) or plain Python; the
code under test uses numpy day numbers, so a shared mistake would have to be made twice in two
different ways.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

import hyperhealth.insights.summary as summary
from hyperhealth.errors import InputError
from hyperhealth.insights.summary import (
    Units,
    cgm_metrics,
    classify,
    glance,
    personal_band,
    trends,
)
from hyperhealth.model import LifestyleEvent, LifestyleKind, Observation, Person
from hyperhealth.store import Store
from hyperhealth.synth import Cohort, generate_cohort

PHX = "America/Phoenix"  # UTC-7 all year
BER = "Europe/Berlin"  # summer time from 2024-03-31 02:00
MIN = timedelta(minutes=1)


def _person(store: Store, pid: str, tz: str) -> None:
    with store.transaction() as w:
        w.upsert_person(Person(pid, tz=tz))


def _obs(store: Store, pid: str, code: str, unit: str,
         items: list[tuple[datetime, float]]) -> None:
    with store.transaction() as w:
        w.add_observations([Observation(pid, code, t, v, unit, source="test")
                            for t, v in items])


def _local(tz: str, y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def _pandas_daily(items: list[tuple[datetime, float]], tz: str, how: str = "mean") -> pd.Series:
    s = pd.Series([v for _, v in items],
                  index=pd.DatetimeIndex([t for t, _ in items]).tz_convert(tz))
    g = s.groupby(s.index.date)
    return g.mean() if how == "mean" else g.sum()


def _band(daily: pd.Series, day: date) -> tuple[float, float, int]:
    base = daily[(daily.index >= day - timedelta(days=28)) & (daily.index < day)]
    return float(base.quantile(0.1)), float(base.quantile(0.9)), len(base)


# -- exports -------------------------------------------------------------------------------------
def test_public_surface() -> None:
    assert set(summary.__all__) == {
        "BASELINE_DAYS", "MIN_BASELINE_DAYS", "PERIODS", "SECTIONS", "SLEEP", "TARGETS",
        "VITALS", "Band", "CgmMetrics", "Units", "cgm_metrics", "classify", "glance", "nights",
        "personal_band", "trends"}
    for name in summary.__all__:
        assert getattr(summary, name) is not None


# -- CGM -----------------------------------------------------------------------------------------
def _plain_class(v: float) -> str:
    whole = int(Decimal(str(v)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if whole < 54:
        return "very_low"
    if whole <= 69:
        return "low"
    if whole <= 180:
        return "in_range"
    if whole <= 250:
        return "high"
    return "very_high"


def test_range_boundaries() -> None:
    values = [53.4, 53.5, 54, 69, 69.4, 69.9, 70, 180, 180.4, 180.5, 181, 250, 250.4, 250.5, 251]
    keys = summary._cgm.RANGE_KEYS
    got = [keys[i] for i in classify(np.array(values)).tolist()]
    assert got == [_plain_class(v) for v in values]
    # the ones the consensus names, spelled out
    assert got[values.index(54)] == "low" and got[values.index(69.9)] == "in_range"
    assert got[values.index(70)] == "in_range" and got[values.index(180)] == "in_range"
    assert got[values.index(180.5)] == "high" and got[values.index(250)] == "high"
    assert got[values.index(251)] == "very_high"
    # mmol/L consensus edges land where the consensus puts them (3.9-10.0 in range)
    mg = 18.0156
    assert [keys[i] for i in classify(np.array([2.9, 3.0, 3.8, 3.9, 10.0, 10.1, 13.9, 14.0])
                                      * mg).tolist()] == [
        "very_low", "low", "low", "in_range", "in_range", "high", "high", "very_high"]


def test_cgm_metrics_regular_sampling_equals_reading_counts() -> None:
    rng = np.random.default_rng(5)
    n = 14 * 288
    t = np.arange(n, dtype=np.int64) * 300_000_000
    v = np.clip(rng.normal(150, 55, n), 40, 400).round()
    m = cgm_metrics(t, v, 0, n * 300_000_000)
    # the consensus report: share of readings in each range, plain Python
    counts: dict[str, int] = {}
    for x in v.tolist():
        counts[_plain_class(x)] = counts.get(_plain_class(x), 0) + 1
    for k, c in counts.items():
        assert m.percent[k] == pytest.approx(100 * c / n, abs=1e-9)
    assert m.mean == pytest.approx(float(np.mean(v)))
    sd = math.sqrt(sum((x - m.mean) ** 2 for x in v.tolist()) / n)
    assert m.cv_percent == pytest.approx(100 * sd / float(np.mean(v)))
    assert m.gmi_percent == pytest.approx(3.31 + 0.02392 * float(np.mean(v)))
    assert m.gmi_mmol_mol == pytest.approx(12.71 + 4.70587 * float(np.mean(v)) / 18.0156)
    # the two GMI scales agree through the IFCC-NGSP master equation (NGSP % = 0.09148 x
    # IFCC mmol/mol + 2.152; Hoelzel W et al., Clin Chem 2004;50:166-174)
    assert m.gmi_mmol_mol == pytest.approx((m.gmi_percent - 2.152) / 0.09148, abs=1.0)
    assert m.wear_percent == pytest.approx(100.0)
    assert m.days_with_data == 14 and m.reliable
    met = {x["key"]: x["met"] for x in m.targets()}
    assert met["in_range"] == (m.percent["in_range"] > 70)
    assert met["below_70"] == (m.percent["low"] + m.percent["very_low"] < 4)


def test_cgm_metrics_weight_by_time_and_flag_short_wear() -> None:
    """Irregular sampling: a stretch of 1-minute readings must not outweigh 5-minute ones, and
    a gap is not counted as wear."""
    t_min = list(range(0, 600, 5)) + list(range(600, 660)) + list(range(2000, 2300, 5))
    v = [100.0] * 120 + [300.0] * 60 + [60.0] * 60
    t = np.array(t_min, np.int64) * 60_000_000
    end = 3 * 1440 * 60_000_000
    m = cgm_metrics(t, np.array(v), 0, end)
    # recount with pandas: each reading covers the time to the next, at most 1.5 x the median
    # interval, else one median interval
    s = pd.Series(v, index=pd.to_datetime(t, unit="us"))
    nxt = pd.Series(s.index[1:].append(pd.DatetimeIndex([pd.to_datetime(end, unit="us")])),
                    index=s.index)
    dt = (nxt - s.index.to_series()).dt.total_seconds()
    med = float(pd.Series(np.diff(t_min)).loc[lambda d: d > 0].median()) * 60
    cover = dt.where(dt <= 1.5 * med, med)
    share = cover.groupby(s.map(_plain_class)).sum() / cover.sum() * 100
    for k, p in share.items():
        assert m.percent[k] == pytest.approx(p)
    assert m.mean == pytest.approx(float((cover * s).sum() / cover.sum()))
    # by reading count the 1-minute stretch would be 25 % above 250; by time it is less
    assert m.percent["very_high"] < 100 * 60 / 240
    assert m.wear_percent == pytest.approx(cover.sum() / (end / 1e6) * 100)
    assert m.days_with_data == 2 and not m.reliable
    notes = " ".join(m.reliability_notes())
    assert "14" in notes and "70 %" in notes


def test_cgm_metrics_empty_window() -> None:
    m = cgm_metrics(np.array([], np.int64), np.array([]), 0, 10)
    assert m.readings == 0 and m.mean is None and m.wear_percent == 0
    assert all(x["met"] is None for x in m.targets())


def test_personal_band_needs_seven_days() -> None:
    assert personal_band(np.array([60.0] * 6 + [np.nan] * 20)) is None
    b = personal_band(np.array([60.0, 70, 65, np.nan, 62, 68, 64, 66]))
    assert b is not None and b.days == 7
    ref = pd.Series([60.0, 70, 65, 62, 68, 64, 66])
    assert (b.low, b.high) == pytest.approx((ref.quantile(0.1), ref.quantile(0.9)))
    assert b.state(60.0) == "below" and b.state(68.8) == "within" and b.state(99) == "above"


# -- vitals --------------------------------------------------------------------------------------
def test_vitals_against_a_pandas_recount_in_local_time(store: Store) -> None:
    s = store  # SQLite and PostgreSQL
    _person(s, "p-v", PHX)
    rng = np.random.default_rng(1)
    day = date(2024, 3, 30)
    hr: list[tuple[datetime, float]] = []
    for back in range(35, -1, -1):
        d = day - timedelta(days=back)
        if back in (3, 9, 10):  # days without readings
            continue
        for hh in (1, 7, 12, 18):
            hr.append((_local(PHX, d.year, d.month, d.day, hh), float(rng.normal(65, 6))))
        # 23:30 local is 06:30 UTC the next day: it belongs to this local day
        hr.append((_local(PHX, d.year, d.month, d.day, 23, 30), 100.0 + back))
    _obs(s, "p-v", "8867-4", "/min", hr)
    weight = [(_local(PHX, 2024, 3, d, 7), 80.0 + d / 10) for d in range(1, 31, 3)]
    _obs(s, "p-v", "29463-7", "kg", weight)

    out = glance(s, "p-v", day=day, sections=["vitals"], now=datetime(2024, 4, 2, tzinfo=UTC))
    assert out["day"] == "2024-03-30" and out["tz"] == PHX
    items = {i["code"]: i for i in out["sections"]["vitals"]["items"]}
    assert set(items) == {"8867-4", "29463-7"}  # no resting HR: no steps to derive it from
    it = items["8867-4"]
    daily = _pandas_daily(hr, PHX)
    assert it["today"]["mean"] == round(daily[day], 1)
    assert it["today"]["readings"] == 5
    assert it["today"]["latest"]["value"] == 100.0  # the 23:30 reading is the day's last
    assert it["today"]["latest"]["time"] == "2024-03-31T06:30:00+00:00"
    lo, hi, n = _band(daily, day)
    assert (it["baseline"]["low"], it["baseline"]["high"]) == (round(lo, 1), round(hi, 1))
    assert it["baseline"]["days"] == n == 25  # 28 days, three without readings
    want = "above" if daily[day] > hi else "below" if daily[day] < lo else "within"
    assert it["state"] == want
    spark = {x["day"]: x for x in it["series"]}
    assert len(spark) == 14 and spark["2024-03-27"]["value"] is None
    assert spark["2024-03-29"]["value"] == round(daily[date(2024, 3, 29)], 1)
    # weight: every third day, so fewer baseline days; lb on request
    w = glance(s, "p-v", day=day, sections=["vitals"], units=Units("mg/dL", "lb"),
               now=datetime(2024, 4, 2, tzinfo=UTC))
    wi = next(i for i in w["sections"]["vitals"]["items"] if i["code"] == "29463-7")
    assert wi["unit"] == "[lb_av]" and wi["unit_text"] == "lb"
    wd = _pandas_daily(weight, PHX)
    lo, hi, n = _band(wd, day)
    assert wi["baseline"]["days"] == n == 9
    assert wi["baseline"]["low"] == round(lo / 0.45359237, 1)
    assert wi["last"]["value"] == round(weight[-1][1] / 0.45359237, 1)
    assert wi["today"]["mean"] is None and wi["state"] == "no-data"


def test_day_boundaries_follow_summer_time(sqlite_store: Store) -> None:
    """Berlin switches to summer time on 2024-03-31: 00:30 local is 23:30 UTC the day
    before, and the local day is 23 hours long."""
    s = sqlite_store
    _person(s, "p-b", BER)
    items = [(_local(BER, 2024, 3, 31, 0, 30), 50.0), (_local(BER, 2024, 3, 31, 23, 30), 70.0),
             (_local(BER, 2024, 3, 30, 23, 30), 90.0), (_local(BER, 2024, 4, 1, 0, 30), 110.0)]
    _obs(s, "p-b", "8867-4", "/min", items)
    out = glance(s, "p-b", day=date(2024, 3, 31), sections=["vitals"],
                 now=datetime(2024, 4, 2, tzinfo=UTC))
    it = out["sections"]["vitals"]["items"][0]
    assert it["today"]["readings"] == 2 and it["today"]["mean"] == 60.0
    assert out["as_of"] == "2024-03-31T22:00:00+00:00"  # the local day's end (CEST midnight)
    assert it["state"] == "no-baseline" and it["baseline"] is None


def test_default_day_is_the_local_date_of_the_latest_reading(sqlite_store: Store) -> None:
    s = sqlite_store
    _person(s, "p-d", PHX)
    last = _local(PHX, 2024, 7, 30, 23, 30)  # 2024-07-31 06:30 UTC
    _obs(s, "p-d", "8867-4", "/min", [(last - timedelta(hours=3), 60.0), (last, 61.0)])
    out = glance(s, "p-d", sections=["vitals"], now=datetime(2025, 1, 1, tzinfo=UTC))
    assert out["day"] == "2024-07-30" and out["as_of"] == last.isoformat()
    with pytest.raises(InputError) as e:
        glance(s, "p-d", day=date(2025, 1, 2), now=datetime(2025, 1, 1, 12, tzinfo=UTC))
    assert e.value.field == "day"


def test_resting_heart_rate_is_derived_when_not_reported(sqlite_store: Store) -> None:
    s = sqlite_store
    _person(s, "p-r", PHX)
    day = date(2024, 5, 20)
    hr, steps = [], []
    for back in range(10, -1, -1):
        d = day - timedelta(days=back)
        t0 = _local(PHX, d.year, d.month, d.day, 8)
        steps.append((t0, 500.0))  # a walk at 08:00
        hr += [(t0 + MIN * 5, 110.0), (t0 + MIN * 9, 100.0)]  # within 10 minutes: not at rest
        hr += [(t0 + MIN * 30, 58.0 + back % 3), (t0 + MIN * 40, 60.0)]
    _obs(s, "p-r", "8867-4", "/min", hr)
    _obs(s, "p-r", "55423-8", "{steps}", steps)
    now = datetime(2024, 6, 1, tzinfo=UTC)
    alone = glance(s, "p-r", day=day, sections=["vitals"], now=now)  # steps not shown
    assert [i["code"] for i in alone["sections"]["vitals"]["items"]] == ["8867-4"]
    out = glance(s, "p-r", day=day, sections=["vitals", "activity"], now=now)
    rhr = next(i for i in out["sections"]["vitals"]["items"] if i["code"] == "40443-4")
    assert rhr["source"] == "derived" and "Mishra" in rhr["method"]
    assert rhr["today"]["mean"] == 59.0 and rhr["today"]["readings"] == 2
    assert rhr["baseline"]["days"] == 10


# -- sleep and activity --------------------------------------------------------------------------
def _sleep(pid: str, start: datetime, minutes: int, **details: float | str) -> LifestyleEvent:
    return LifestyleEvent(pid, LifestyleKind.SLEEP, start, start + MIN * minutes, dict(details),
                          source="test", record_id=f"{start.isoformat()}-{details}")


def test_sleep_last_night_band_and_recommendation(store: Store) -> None:
    s = store  # SQLite and PostgreSQL
    _person(s, "p-s", PHX)
    day = date(2024, 6, 15)
    events, expect = [], {}
    for back in range(20, -1, -1):
        d = day - timedelta(days=back)
        bed = _local(PHX, d.year, d.month, d.day, 22, 30) - timedelta(days=1)
        minutes = 380 + (back * 17) % 90
        events.append(_sleep("p-s", bed, minutes, stage="asleep", efficiency_pct=90.0))
        expect[d] = float(minutes)
    d = day
    bed = _local(PHX, d.year, d.month, d.day, 22, 30) - timedelta(days=1)
    # the same night again from a second source (overlapping), time in bed, and a nap
    events.append(_sleep("p-s", bed + MIN * 60, 60, stage="core"))
    events.append(_sleep("p-s", bed - MIN * 20, expect[day] + 40, stage="in_bed"))
    events.append(_sleep("p-s", _local(PHX, 2024, 6, 15, 14), 30, stage="asleep",
                         efficiency_pct=80.0))
    expect[day] += 30
    with s.transaction() as w:
        w.add_lifestyle_events(events)
    out = glance(s, "p-s", day=day, sections=["sleep"], now=datetime(2024, 7, 1, tzinfo=UTC))
    sl = out["sections"]["sleep"]
    night = sl["last_night"]
    assert night["minutes"] == expect[day]
    # efficiency: duration-weighted mean of the logged values (90 % x main sleep, 80 % x nap)
    main = expect[day] - 30
    assert night["efficiency_percent"] == round((90 * main + 80 * 30) / (main + 30), 1)
    assert night["in_bed_minutes"] == main + 40
    assert night["meets_recommendation"] == (expect[day] >= 420)
    assert sl["recommended_minutes"] == 420 and "10.5665/sleep.4716" in sl["citation"]
    base = pd.Series({k: v for k, v in expect.items()
                      if day - timedelta(days=28) <= k < day})
    assert sl["baseline"]["days"] == len(base) == 20
    assert sl["baseline"]["low"] == round(base.quantile(0.1))
    assert sl["baseline"]["high"] == round(base.quantile(0.9))


def test_steps_so_far_against_totals_by_the_same_time(sqlite_store: Store) -> None:
    s = sqlite_store
    _person(s, "p-a", PHX)
    day = date(2024, 6, 15)
    items = []
    for back in range(12, 0, -1):
        d = day - timedelta(days=back)
        items.append((_local(PHX, d.year, d.month, d.day, 7, 50), 1000.0 + 100 * back))
        items.append((_local(PHX, d.year, d.month, d.day, 18), 5000.0))
        items.append((_local(PHX, d.year, d.month, d.day, 23, 45), 7.0))  # late: same day
    items.append((_local(PHX, 2024, 6, 15, 7, 50), 3000.0))
    _obs(s, "p-a", "55423-8", "{steps}", items)
    out = glance(s, "p-a", sections=["activity"], now=datetime(2024, 7, 1, tzinfo=UTC))
    act = out["sections"]["activity"]
    assert out["day"] == "2024-06-15"
    assert act["today"] == {"steps": 3000.0, "records": 1, "day_over": False}
    totals = _pandas_daily(items, PHX, "sum")
    lo, hi, n = _band(totals, day)
    assert (act["baseline"]["low"], act["baseline"]["high"]) == (round(lo), round(hi))
    assert n == 12
    early = _pandas_daily([(t, v) for t, v in items
                           if t.astimezone(ZoneInfo(PHX)).time() <= datetime(1, 1, 1, 7, 50)
                           .time()], PHX, "sum")
    lo2, hi2, _ = _band(early, day)
    assert (act["by_this_time"]["low"], act["by_this_time"]["high"]) == (round(lo2), round(hi2))
    assert act["by_this_time"]["until"] == "07:50"
    # 3000 by 07:50 is above every earlier morning (at most 2200), though far below the
    # usual day total
    assert act["state"] == "above"
    assert act["series"][-1] == {"day": "2024-06-15", "steps": 3000.0}


# -- trends --------------------------------------------------------------------------------------
def test_trends_by_week_and_month_against_pandas(store: Store) -> None:
    s = store  # SQLite and PostgreSQL
    _person(s, "p-t", BER)
    rng = np.random.default_rng(3)
    items = []
    t = _local(BER, 2024, 3, 1)
    while t < _local(BER, 2024, 5, 10):
        items.append((t, float(rng.normal(70, 8))))
        t += timedelta(minutes=int(rng.integers(20, 200)))
    _obs(s, "p-t", "8867-4", "/min", items)
    ser = pd.Series([v for _, v in items],
                    index=pd.DatetimeIndex([x for x, _ in items]).tz_convert(BER))
    for period, freq in (("week", "W-SUN"), ("month", "M")):
        out = trends(s, "p-t", "8867-4", period=period, start=date(2024, 3, 6),
                     end=date(2024, 5, 9))
        inside = ser[(ser.index.date >= date(2024, 3, 6)) & (ser.index.date <= date(2024, 5, 9))]
        groups = inside.groupby(inside.index.tz_localize(None).to_period(freq))
        got = out["periods"]
        assert len(got) == len(groups)
        for row, (per, g) in zip(got, groups, strict=True):
            assert row["start"] == max(per.start_time.date(), date(2024, 3, 6)).isoformat()
            assert row["n"] == len(g)
            assert row["mean"] == round(g.mean(), 1) and row["max"] == round(g.max(), 1)
            assert row["p25"] == round(g.quantile(0.25), 1)
            assert row["median"] == round(g.median(), 1)
            assert row["p75"] == round(g.quantile(0.75), 1)
        if period == "week":
            assert date.fromisoformat(got[1]["start"]).weekday() == 0  # Monday
            assert got[0]["start"] == "2024-03-06" and got[0]["end"] == "2024-03-10"
    daily = ser.groupby(ser.index.date).mean()
    lo, hi, n = _band(daily, date(2024, 5, 9))
    assert (out["baseline"]["low"], out["baseline"]["high"]) == (round(lo, 1), round(hi, 1))
    assert out["baseline"]["days"] == n


def test_trends_of_steps_and_sleep_use_day_values(sqlite_store: Store) -> None:
    s = sqlite_store
    _person(s, "p-u", PHX)
    steps = [(_local(PHX, 2024, 7, d, h), 100.0 * d) for d in range(1, 15) for h in (9, 23)]
    _obs(s, "p-u", "55423-8", "{steps}", steps)
    out = trends(s, "p-u", "55423-8", period="week", start=date(2024, 7, 1),
                 end=date(2024, 7, 14))
    assert [r["n"] for r in out["periods"]] == [7, 7]  # day totals, not readings
    assert out["periods"][0]["mean"] == round(sum(200.0 * d for d in range(1, 8)) / 7)
    with s.transaction() as w:
        w.add_lifestyle_events([_sleep("p-u", _local(PHX, 2024, 7, d, 23), 400 + d)
                                for d in range(1, 14)])
    out = trends(s, "p-u", "sleep", period="day", start=date(2024, 7, 1), end=date(2024, 7, 14))
    mins = {r["start"]: r["mean"] for r in out["periods"]}
    assert mins["2024-07-01"] is None  # the first night ends on 2 July
    assert mins["2024-07-02"] == 401 and mins["2024-07-14"] == 413
    assert out["unit"] == "min" and out["end"] == "2024-07-14"


def test_trends_units_and_bad_input(sqlite_store: Store) -> None:
    s = sqlite_store
    _person(s, "p-g", PHX)
    _obs(s, "p-g", "99504-3", "mg/dL", [(_local(PHX, 2024, 7, 1, h), 180.0) for h in range(3)])
    out = trends(s, "p-g", "99504-3", units=Units("mmol/L"))
    assert out["unit"] == "mmol/L" and out["periods"][-1]["mean"] == round(180 / 18.0156, 1)
    assert out["end"] == "2024-07-01" and len(out["periods"]) == 30
    for kw, field in (({"code": "no-such-code"}, "code"), ({"period": "fortnight"}, "period"),
                      ({"start": date(2024, 7, 2), "end": date(2024, 7, 1)}, "start"),
                      ({"start": date(2020, 1, 1), "end": date(2024, 7, 1)}, "start")):
        args = {"code": "99504-3", **kw}
        code = args.pop("code")
        with pytest.raises(InputError) as e:
            trends(s, "p-g", str(code), **args)  # type: ignore[arg-type]
        assert e.value.field == field and e.value.hint


# -- the demo cohort -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cohort, Store]]:
    c = generate_cohort(persons=3, days=10, seed=5)
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('summary') / 'hh.sqlite'}")
    c.write(store)
    yield c, store
    store.close()


def test_every_section_fills_for_someone_in_the_demo_cohort(
        cohort: tuple[Cohort, Store]) -> None:
    c, store = cohort
    filled: dict[str, list[str]] = {}
    for p in c.persons:
        out = glance(store, p.id)
        last = max([o.t for o in c.observations if o.person_id == p.id]
                   + [e.end for e in c.lifestyle_events
                      if e.person_id == p.id and e.kind == LifestyleKind.SLEEP and e.end])
        assert out["day"] == last.astimezone(ZoneInfo(p.tz)).date().isoformat()
        for name, sec in out["sections"].items():
            if sec["status"] == "ok":
                filled.setdefault(name, []).append(p.id)
        vit = out["sections"]["vitals"]["items"]
        assert {"40443-4", "8867-4", "80404-7", "59408-5"} <= {i["code"] for i in vit}
    assert set(filled) == set(summary.SECTIONS), filled
    # the type 1 person's CGM report: 10 days only, so it says it is not reliable yet
    t1 = c.persons[0].id
    g = glance(store, t1, units=Units("mmol/L"))["sections"]["glucose"]
    assert g["status"] == "ok" and not g["reliable"] and g["days_with_data"] <= 10
    assert g["unit"] == "mmol/L" and g["ranges"]["in_range"] == [3.9, 10.0]
    assert sum(g["percent"].values()) == pytest.approx(100, abs=0.3)
    cgm = [o for o in c.observations if o.person_id == t1 and o.code == "99504-3"]
    end = datetime.fromisoformat(g["end"])
    window = [o.value for o in cgm if end - timedelta(days=14) < o.t <= end]
    assert g["readings"] == len(window)
    plain_tir = 100 * sum(70 <= int(Decimal(str(v)).quantize(Decimal(1), ROUND_HALF_UP)) <= 180
                          for v in window if v is not None) / len(window)
    assert g["percent"]["in_range"] == pytest.approx(plain_tir, abs=0.15)  # 5-minute sampling
    # the environment of the demo: hourly weather near the person's home city
    env = glance(store, t1, sections=["environment"])["sections"]["environment"]
    assert env["place"]["label"] == c.persons[0].home.label  # type: ignore[union-attr]
    assert {r["code"] for r in env["readings"]} >= {"air-temperature", "pm25"}
    assert env["aqi"] is not None and env["aqi_category"]
