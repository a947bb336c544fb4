"""Each rule on small hand-made signals: fires at the cited threshold, not below, and clears."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from hyperhealth.actions.alerts import RULES, AlertRequest, Chunk, Clear, RuleContext, Subject
from hyperhealth.actions.alerts._rule import MINUTE_US, RESTING_HR
from hyperhealth.actions.levels import Level
from hyperhealth.model.codes import CGM_GLUCOSE, DIASTOLIC_BP, HEART_RATE, SPO2, SYSTOLIC_BP


def run(rule: str, data: dict[str, Chunk], *, splits: int = 1, tz: str = "UTC",
        params: dict[str, Any] | None = None) -> list[AlertRequest | Clear]:
    """Run a rule over ``data`` cut into ``splits`` pieces in time, carrying its state."""
    r = RULES[rule]()
    state: dict[str, Any] = {}
    p = {**r.defaults, **(params or {})}
    t_all = np.concatenate([c.t for c in data.values()])
    edges = np.linspace(t_all.min(), t_all.max() + 1, splits + 1).astype(np.int64)
    out: list[AlertRequest | Clear] = []
    for a, b in itertools.pairwise(edges):
        part = {k: Chunk(c.t[(c.t >= a) & (c.t < b)], c.v[(c.t >= a) & (c.t < b)])
                for k, c in data.items()}
        ctx = RuleContext(Subject("p1", tz), part, state, p, int(b))
        r.evaluate(ctx)
        out += ctx.findings
    return out


def minutes(values: list[float], every: int = 5, start: int = 0) -> Chunk:
    t = (start + np.arange(len(values)) * every) * MINUTE_US
    return Chunk(t.astype(np.int64), np.asarray(values, np.float64))


def kinds(found: list[AlertRequest | Clear]) -> list[tuple[str, str]]:
    return [("open" if isinstance(f, AlertRequest) else "clear", f.key) for f in found]


def test_glucose_low_needs_15_minutes_and_clears_after_15_in_range() -> None:
    # 3 readings below 70 (15 minutes at 5-minute sampling) open; 3 back above clear
    v = [100, 95, 69, 65, 66, 90, 95, 100, 110, 110]
    found = run("glucose", {CGM_GLUCOSE: minutes(v)}, params={"predict_minutes": 0})
    assert ("open", "low") in kinds(found) and ("clear", "low") in kinds(found)
    low = next(f for f in found if isinstance(f, AlertRequest) and f.key == "low")
    assert low.level == Level.WARN and low.evidence["extreme_mg_dl"] == 65
    assert "Battelino" in low.citation
    # two readings (10 minutes) is not an event
    short = run("glucose", {CGM_GLUCOSE: minutes([100, 65, 66, 100, 100])},
                params={"predict_minutes": 0})
    assert ("open", "low") not in kinds(short)


def test_glucose_urgent_low_is_urgent_and_at_54() -> None:
    urgent = run("glucose", {CGM_GLUCOSE: minutes([80, 53, 52, 53, 80])})
    assert any(isinstance(f, AlertRequest) and f.key == "urgent-low"
               and f.level == Level.URGENT for f in urgent)
    at54 = run("glucose", {CGM_GLUCOSE: minutes([80, 54, 54, 54, 80])})
    assert not any(f.key == "urgent-low" for f in at54)  # < 54, not <= 54


def test_glucose_predicted_low_from_a_falling_trend() -> None:
    falling = [150, 145, 140, 134, 127, 120, 112, 104, 96, 88, 82, 78, 75]
    found = run("glucose", {CGM_GLUCOSE: minutes(falling)})
    pred = [f for f in found if isinstance(f, AlertRequest) and f.key == "predicted-low"]
    assert len(pred) == 1 and pred[0].evidence["projected_mg_dl"] < 70
    flat = run("glucose", {CGM_GLUCOSE: minutes([100.0] * 20)})
    assert not flat


def test_glucose_predicted_low_needs_a_fall_a_cgm_calls_falling() -> None:
    # 0.8 mg/dL per minute towards 70: projected below 70 in 30 minutes, but a CGM shows it as
    # steady (< 1 mg/dL/min), so no predicted low unless a clinician lowers the setting
    slow = [100 - 4.0 * k for k in range(8)]  # 100 ... 72, every 5 minutes
    found = run("glucose", {CGM_GLUCOSE: minutes(slow)})
    assert not [f for f in found if f.key == "predicted-low"]
    found = run("glucose", {CGM_GLUCOSE: minutes(slow)},
                params={"predict_min_fall_mg_dl_per_min": 0.5})
    pred = [f for f in found if isinstance(f, AlertRequest) and f.key == "predicted-low"]
    assert len(pred) == 1 and pred[0].evidence["slope_mg_dl_per_min"] == pytest.approx(-0.8)


@pytest.mark.parametrize("sbp,dbp,urgent", [(180, 100, True), (150, 120, True), (179, 119, False)])
def test_hypertensive_crisis_from_one_reading(sbp: float, dbp: float, urgent: bool) -> None:
    t = np.array([0], np.int64)
    found = run("blood-pressure", {SYSTOLIC_BP: Chunk(t, np.array([sbp], float)),
                                   DIASTOLIC_BP: Chunk(t, np.array([dbp], float))})
    assert any(f.key == "crisis" for f in found) == urgent


def test_blood_pressure_average_category_over_a_week() -> None:
    day = 24 * 60
    t = (np.arange(14) * day // 2 * MINUTE_US).astype(np.int64)  # twice a day for a week
    high = run("blood-pressure", {SYSTOLIC_BP: Chunk(t, np.full(14, 146.0)),
                                  DIASTOLIC_BP: Chunk(t, np.full(14, 86.0))})
    avg = [f for f in high if f.key == "average"]
    assert len(avg) == 1 and avg[0].evidence["category"] == "stage 2 hypertension"
    normal = run("blood-pressure", {SYSTOLIC_BP: Chunk(t, np.full(14, 118.0)),
                                    DIASTOLIC_BP: Chunk(t, np.full(14, 76.0))})
    assert not normal


def test_spo2_news2_bands() -> None:
    sev = run("spo2", {SPO2: minutes([97, 91, 90, 97, 97, 97, 97], every=60)})
    assert [f.level for f in sev if isinstance(f, AlertRequest)] == [Level.URGENT, Level.WARN]
    one = run("spo2", {SPO2: minutes([97, 90, 97, 97], every=60)})  # a single low reading
    assert not any(isinstance(f, AlertRequest) for f in one)


def test_tachycardia_at_rest_needs_ten_minutes() -> None:
    hr = minutes([80] * 5 + [110] * 12 + [80] * 15, every=1, start=9 * 60)
    found = run("heart-rate-at-rest", {RESTING_HR: hr})
    assert kinds(found) == [("open", "tachycardia"), ("clear", "tachycardia")]
    brief = run("heart-rate-at-rest", {RESTING_HR: minutes([80] * 5 + [110] * 8 + [80] * 5,
                                                            every=1, start=9 * 60)})
    assert not brief


def test_bradycardia_not_looked_for_overnight() -> None:
    night = minutes([45] * 30, every=1, start=2 * 60)  # 02:00 local
    day = minutes([45] * 30, every=1, start=14 * 60)
    assert not run("heart-rate-at-rest", {RESTING_HR: night})
    assert run("heart-rate-at-rest", {RESTING_HR: day})[0].level == Level.INFO


def test_device_silence_found_inside_a_chunk_and_when_data_resumes() -> None:
    hr = Chunk(np.array([0, 1, 2, 100, 101]) * MINUTE_US, np.full(5, 60.0))
    found = run("device-silence", {HEART_RATE: hr})
    assert kinds(found) == [("open", HEART_RATE), ("clear", HEART_RATE)]
    assert found[0].time.timestamp() == 62 * 60  # the moment the 60-minute limit passed


@pytest.mark.parametrize("rule,data", [
    ("glucose", {CGM_GLUCOSE: minutes(list(120 + 60 * np.sin(np.arange(600) / 15)))}),
    ("sensor-faults", {HEART_RATE: minutes([60.0] * 50 + list(range(60, 110)) + [70.0] * 40,
                                           every=1)}),
    ("device-silence", {HEART_RATE: Chunk(np.array([0, 5, 200, 201, 400]) * MINUTE_US,
                                          np.full(5, 60.0))}),
])
@pytest.mark.parametrize("splits", [2, 7, 31])
def test_findings_do_not_depend_on_how_readings_are_batched(
        rule: str, data: dict[str, Chunk], splits: int) -> None:
    def ordered(found: list[AlertRequest | Clear]) -> list[AlertRequest | Clear]:
        return sorted(found, key=lambda f: (f.time, f.key, type(f).__name__))  # as the book does

    whole = ordered(run(rule, data))
    assert whole, "the signal should produce findings"
    assert ordered(run(rule, data, splits=splits)) == whole


def test_device_silence_of_one_stream_is_not_judged_by_another_streams_batch() -> None:
    from hyperhealth.actions.alerts._rule import HOUR_US

    r = RULES["device-silence"]()
    state: dict[str, Any] = {}
    p = dict(r.defaults)
    cgm = Chunk(np.array([0]), np.array([100.0]))
    hr = Chunk(np.array([0]), np.array([60.0]))
    late = 10 * HOUR_US  # wall clock far past the data (a backfill)
    ctx = RuleContext(Subject("p1"), {CGM_GLUCOSE: cgm, HEART_RATE: hr}, state, p, late)
    r.evaluate(ctx)
    ctx = RuleContext(Subject("p1"), {HEART_RATE: Chunk(np.array([60_000_000]),
                                                        np.array([61.0]))}, state, p, late)
    r.evaluate(ctx)
    assert not ctx.findings  # CGM is only judged on a clock tick
    tick = RuleContext(Subject("p1"), {}, state, p, late)
    r.evaluate(tick)
    assert {f.key for f in tick.findings} == {CGM_GLUCOSE, HEART_RATE}
