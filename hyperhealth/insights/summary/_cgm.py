"""CGM metrics of a window: time in ranges, mean, variability, GMI and sensor wear.

Ranges and targets: Battelino T et al., Clinical targets for continuous glucose monitoring data
interpretation: recommendations from the international consensus on time in range. Diabetes Care
2019;42:1593-1603, doi:10.2337/dci19-0028. Ranges (mg/dL): below 54 (level 2 low), 54-69 (level
1 low), 70-180 (in range), 181-250 (level 1 high), above 250 (level 2 high). Targets for most
adults with type 1 or type 2 diabetes: more than 70 % in range, less than 4 % below 70 (which
includes below 54), less than 1 % below 54, less than 25 % above 180 (which includes above 250),
less than 5 % above 250, and a coefficient of variation of 36 % or less. A report describes the
glucose profile reliably with at least 14 days of data and at least 70 % of possible sensor
readings. Targets for older or high-risk people and for pregnancy are different (stricter
limits below range, looser ones in range); we show the general ones and say so.

GMI: Bergenstal RM et al., Glucose Management Indicator (GMI): a new term for estimating A1C from
continuous glucose monitoring. Diabetes Care 2018;41:2275-2280, doi:10.2337/dc18-1581:
GMI (%) = 3.31 + 0.02392 x mean glucose (mg/dL); GMI (mmol/mol) = 12.71 + 4.70587 x mean
glucose (mmol/L; converted from mg/dL with the factor of ``model.units``).

Our choices, stated in the output:

- **Boundaries.** The consensus ranges are written in whole mg/dL, as sensors report them.
  Each value is first rounded to the nearest whole mg/dL (halves up), then classed: so 69.9
  counts as 70 (in range) and 180.5 as 181 (above). With that rule a value entered in mmol/L
  lands in the class the consensus gives in mmol/L too (3.9-10.0 in range: 10.0 mmol/L is
  180.16 mg/dL, which rounds to 180).
- **Time, not readings.** Each reading stands for the time until the next one, but for no more
  than its sensor's usual interval when the next reading comes late (a gap is not wear): a
  reading covers ``dt`` when ``dt <= 1.5 x`` the median interval of the window, else one median
  interval. Percentages are shares of covered time; mean and SD are weighted by it. With a
  regular 5- or 15-minute sensor this equals counting readings.
- **Wear** is covered time over the window's length; **days with data** counts the 14 24-hour
  blocks (counted back from the end of the window) that hold any reading.

>>> import numpy as np
>>> t = np.arange(0, 4) * 300_000_000  # four readings, five minutes apart
>>> m = cgm_metrics(t, np.array([53.5, 69.9, 180.5, 251.0]), 0, 1_200_000_000)
>>> [m.percent[k] for k in RANGE_KEYS]
[0.0, 25.0, 25.0, 25.0, 25.0]
>>> round(m.gmi_percent, 2)  # 3.31 + 0.02392 x 138.725
6.63
>>> round(m.gmi_mmol_mol, 1)  # 12.71 + 4.70587 x 138.725 / 18.0156
48.9
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hyperhealth.model import convert

DAY_US = 86_400_000_000
#: glucose 1 mmol/L = 18.0156 mg/dL (model.units, from the molar mass of glucose)
MG_DL_PER_MMOL_L = convert(1.0, "mmol/L", "mg/dL")
WINDOW_DAYS = 14
#: the classes, lowest first, and the whole-mg/dL value each one starts at
RANGE_KEYS = ("very_low", "low", "in_range", "high", "very_high")
_RANGE_STARTS = np.array([54, 70, 181, 251])  # searchsorted edges on whole mg/dL
RANGE_TEXT_MG_DL = {"very_low": "below 54", "low": "54-69", "in_range": "70-180",
                    "high": "181-250", "very_high": "above 250"}
#: the mg/dL limits of each class, for showing them in another unit
RANGE_LIMITS_MG_DL: dict[str, tuple[float | None, float | None]] = {
    "very_low": (None, 54), "low": (54, 70), "in_range": (70, 180), "high": (180, 250),
    "very_high": (250, None)}
#: a reading covers the time to the next one up to this many median intervals
GAP_FACTOR = 1.5
#: the interval a lone reading is taken to cover (the commonest CGM interval, 5 minutes)
LONE_READING_US = 5 * 60_000_000
MIN_DAYS = 14  # Battelino 2019
MIN_WEAR_PERCENT = 70.0  # Battelino 2019

CITATION_TARGETS = ("Battelino T et al. Diabetes Care 2019;42:1593-1603, "
                    "doi:10.2337/dci19-0028")
CITATION_GMI = "Bergenstal RM et al. Diabetes Care 2018;41:2275-2280, doi:10.2337/dc18-1581"
METHOD_TEXT = (
    "Values are rounded to whole mg/dL and classed below 54, 54-69, 70-180, 181-250 and above "
    "250 mg/dL. Each reading counts for the time until the next one, at most 1.5 times the "
    "sensor's usual interval (a gap counts as not worn), so percentages are shares of time "
    "and mean and variability are time-weighted. GMI (%) = 3.31 + 0.02392 x mean mg/dL. Wear "
    "is the share of the 14 days covered by readings.")


@dataclass(frozen=True, slots=True)
class Target:
    key: str
    what: str  # e.g. "time below 70 mg/dL"
    relation: str  # ">" or "<" or "<="
    limit: float  # percent


#: Battelino 2019, targets for most adults with type 1 or type 2 diabetes
TARGETS: tuple[Target, ...] = (
    Target("in_range", "time in range (70-180 mg/dL)", ">", 70.0),
    Target("below_70", "time below 70 mg/dL (including below 54)", "<", 4.0),
    Target("very_low", "time below 54 mg/dL", "<", 1.0),
    Target("above_180", "time above 180 mg/dL (including above 250)", "<", 25.0),
    Target("very_high", "time above 250 mg/dL", "<", 5.0),
    Target("cv", "glucose variability (coefficient of variation)", "<=", 36.0),
)


@dataclass(frozen=True, slots=True)
class CgmMetrics:
    """Metrics of one window, glucose in mg/dL; ``None`` where there are no readings."""

    start_us: int
    end_us: int
    readings: int
    percent: dict[str, float]  # RANGE_KEYS -> percent of covered time
    mean: float | None
    sd: float | None
    cv_percent: float | None
    gmi_percent: float | None
    gmi_mmol_mol: float | None
    wear_percent: float
    days_with_data: int
    interval_s: float | None  # median interval between readings

    @property
    def below_70(self) -> float:
        return self.percent["very_low"] + self.percent["low"]

    @property
    def above_180(self) -> float:
        return self.percent["high"] + self.percent["very_high"]

    @property
    def reliable(self) -> bool:
        return self.days_with_data >= MIN_DAYS and self.wear_percent >= MIN_WEAR_PERCENT

    def reliability_notes(self) -> list[str]:
        out = []
        if self.days_with_data < MIN_DAYS:
            out.append(f"only {self.days_with_data} of the last {WINDOW_DAYS} days have sensor "
                       f"readings; a reliable report needs {MIN_DAYS}")
        if self.wear_percent < MIN_WEAR_PERCENT:
            out.append(f"the sensor was worn {self.wear_percent:.0f} % of the time; a reliable "
                       f"report needs at least {MIN_WEAR_PERCENT:.0f} %")
        return out

    def targets(self) -> list[dict[str, Any]]:
        """Each consensus target with this window's value and whether it is met."""
        value = {"in_range": self.percent["in_range"], "below_70": self.below_70,
                 "very_low": self.percent["very_low"], "above_180": self.above_180,
                 "very_high": self.percent["very_high"], "cv": self.cv_percent}
        out = []
        for t in TARGETS:
            v = value[t.key]
            met = None if v is None or self.readings == 0 else (
                v > t.limit if t.relation == ">" else v < t.limit if t.relation == "<"
                else v <= t.limit)
            out.append({"key": t.key, "what": t.what, "target": f"{t.relation} {t.limit:g} %",
                        "value_percent": None if v is None else round(v, 1), "met": met})
        return out


def classify(mg_dl: np.ndarray) -> np.ndarray:
    """Class index (0 = below 54 ... 4 = above 250) of each value, after rounding to whole
    mg/dL with halves going up.

    >>> classify(np.array([53.4, 54, 69.9, 70, 180, 180.5, 250, 251])).tolist()
    [0, 1, 2, 2, 2, 3, 3, 4]
    """
    whole = np.floor(np.asarray(mg_dl, np.float64) + 0.5)
    return np.searchsorted(_RANGE_STARTS, whole, side="right")


def coverage(t_us: np.ndarray, end_us: int) -> tuple[np.ndarray, float | None]:
    """Microseconds each reading stands for (see the module text), and the median interval."""
    t = np.asarray(t_us, np.int64)
    if len(t) == 0:
        return np.empty(0, np.float64), None
    nxt = np.append(t[1:], max(int(end_us), int(t[-1])))
    dt = (nxt - t).astype(np.float64)
    steps = np.diff(t)
    steps = steps[steps > 0]
    nominal = float(np.median(steps)) if len(steps) else float(LONE_READING_US)
    covered = np.where(dt <= GAP_FACTOR * nominal, dt, nominal)
    return covered, (nominal / 1e6 if len(steps) else None)


def cgm_metrics(t_us: np.ndarray, mg_dl: np.ndarray, start_us: int, end_us: int) -> CgmMetrics:
    """Metrics of the readings in ``[start_us, end_us)`` (times sorted, µs since the epoch)."""
    t = np.asarray(t_us, np.int64)
    v = np.asarray(mg_dl, np.float64)
    keep = (t >= start_us) & (t < end_us) & ~np.isnan(v)
    t, v = t[keep], v[keep]
    span = max(1, end_us - start_us)
    if len(t) == 0:
        return CgmMetrics(start_us, end_us, 0, dict.fromkeys(RANGE_KEYS, 0.0), None, None, None,
                          None, None, 0.0, 0, None)
    w, interval = coverage(t, end_us)
    total = float(w.sum())
    if total <= 0:  # all readings at one instant: count them equally
        w = np.ones(len(t))
        total = float(len(t))
    cls = classify(v)
    share = np.bincount(cls, weights=w, minlength=len(RANGE_KEYS)) / total * 100.0
    mean = float(np.sum(w * v) / total)
    sd = float(np.sqrt(np.sum(w * (v - mean) ** 2) / total))
    blocks = (end_us - 1 - t) // DAY_US
    days = len(np.unique(blocks[(blocks >= 0) & (blocks < WINDOW_DAYS)]))
    return CgmMetrics(
        start_us, end_us, len(t), {k: float(share[i]) for i, k in enumerate(RANGE_KEYS)},
        mean, sd, sd / mean * 100.0 if mean > 0 else None,
        3.31 + 0.02392 * mean,  # Bergenstal 2018
        12.71 + 4.70587 * mean / MG_DL_PER_MMOL_L,  # Bergenstal 2018 (mean in mmol/L)
        min(100.0, float(w.sum()) / span * 100.0), days, interval)
