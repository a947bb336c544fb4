"""Heart rate, resting heart rate, SpO2, HRV, blood pressure and weight from a schedule.

Shape of the heart-rate model (generator choices, each tied to a published observation):

* circadian rhythm with its low in the early morning and a further fall during sleep of several
  beats per minute (Degaute JP et al., Quantitative analysis of the 24-hour blood pressure and
  heart rate patterns in young men, Hypertension 1991;18:199-210, doi:10.1161/01.HYP.18.2.199);
* heart rate rises with cadence and follows it with a lag of about a minute at the start of
  exercise and recovers more slowly afterwards (first-order kinetics; Poole DC, Jones AM, Oxygen
  uptake kinetics, Compr Physiol 2012;2:933-996, doi:10.1002/cphy.c100072);
* an infection raises resting heart rate for several days, beginning before symptoms (Mishra T et
  al., Pre-symptomatic detection of COVID-19 from smartwatch data, Nat Biomed Eng
  2020;4:1208-1220, doi:10.1038/s41551-020-00640-6), and lowers HRV.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hyperhealth.synth._persons import Profile
from hyperhealth.synth._schedule import Schedule

HR_ONSET_TAU_MIN = 1.0  # minutes, first-order response to more activity
HR_RECOVERY_TAU_MIN = 2.5  # minutes, slower return afterwards
AWAKE_SEDENTARY_OFFSET = 4.0  # /min above resting while awake and sitting
CIRCADIAN_AMPLITUDE = 2.5  # /min, low near 04:00 local


@dataclass(frozen=True, slots=True)
class Infection:
    start: int  # minute the resting HR begins to rise
    symptom: int  # minute of the symptom day's start
    end: int  # minute it is back to baseline
    delta: float  # /min at the peak


def infection_profile(n: int, inf: Infection | None) -> np.ndarray:
    """Extra heart rate per minute: a ramp up to ``delta`` by the symptom day, then down."""
    extra = np.zeros(n)
    if inf is None:
        return extra
    m = np.arange(n)
    up = (m >= inf.start) & (m < inf.symptom)
    extra[up] = inf.delta * (m[up] - inf.start) / max(1, inf.symptom - inf.start)
    plateau_end = inf.symptom + 1440
    extra[(m >= inf.symptom) & (m < plateau_end)] = inf.delta
    down = (m >= plateau_end) & (m < inf.end)
    extra[down] = inf.delta * (1 - (m[down] - plateau_end) / max(1, inf.end - plateau_end))
    return extra


def heart_rate(p: Profile, s: Schedule, rng: np.random.Generator,
               infection: np.ndarray) -> np.ndarray:
    """Heart rate per minute (/min, float)."""
    n = s.minutes
    circ = CIRCADIAN_AMPLITUDE * np.cos(2 * np.pi * (s.local_hour - 16.0) / 24.0)
    base = p.resting_hr + circ + np.where(s.asleep, -p.sleep_dip, AWAKE_SEDENTARY_OFFSET)
    # saturating response to cadence: ~+45/min walking (100 steps/min), ~+65 running (160)
    target = 95.0 * (1.0 - np.exp(-s.steps / 150.0))
    act = np.empty(n)
    a_up, a_down = 1 - np.exp(-1 / HR_ONSET_TAU_MIN), 1 - np.exp(-1 / HR_RECOVERY_TAU_MIN)
    level = 0.0
    for i, x in enumerate(target.tolist()):
        level += (a_up if x > level else a_down) * (x - level)
        act[i] = level
    noise = np.empty(n)
    e = rng.normal(0, 1.2, n)
    acc = 0.0
    for i, x in enumerate(e.tolist()):  # AR(1) beat-to-beat drift
        acc = 0.8 * acc + x
        noise[i] = acc
    return np.asarray(base + act + noise + infection)


def daily_resting_hr(s: Schedule, hr: np.ndarray, worn: np.ndarray) -> list[tuple[int, float]]:
    """Per local day: the 20th percentile of awake minutes with no steps in the last 15 min."""
    moved = np.convolve((s.steps > 0).astype(float), np.ones(15), mode="full")[:s.minutes] > 0
    rest = worn & ~s.asleep & ~moved
    out = []
    for d, start in enumerate(s.day_starts):
        lo, hi = max(0, start), min(s.minutes, start + 1440)
        sel = rest[lo:hi]
        if hi - lo >= 720 and sel.sum() >= 60:
            out.append((d, float(np.percentile(hr[lo:hi][sel], 20))))
    return out
