"""The US National Weather Service heat index and its caution levels.

Method: NWS Weather Prediction Center, "The Heat Index Equation"
(https://www.wpc.ncep.noaa.gov/html/heatindex_equation.shtml), after Rothfusz, L. P. (1990),
*The heat index "equation"*, NWS Southern Region Technical Attachment SR 90-23, which fits
Steadman, R. G. (1979), J. Appl. Meteor. 18:861-873,
doi:10.1175/1520-0450(1979)018<0861:TAOSPI>2.0.CO;2. In order:

1. the simple formula ``0.5 * (T + 61 + (T - 68) * 1.2 + 0.094 * RH)`` averaged with T;
2. if that average is 80 F or more, the Rothfusz regression instead, minus the low-humidity
   adjustment (RH < 13 %, 80 <= T <= 112 F) or plus the high-humidity one (RH > 85 %,
   80 <= T <= 87 F).

Levels: NWS heat index chart (https://www.weather.gov/safety/heat-index): Caution 80-90 F,
Extreme Caution 90-103 F, Danger 103-124 F, Extreme Danger 125 F or higher. The published ranges
share their end points; a value on a shared end point is put in the higher level (the cautious
reading). Below 80 F there is no level.

Temperatures are Celsius in and out (the project's canonical unit); the NWS formulas are in
Fahrenheit and are evaluated in Fahrenheit.

>>> round(heat_index_f(90, 50))   # NWS chart: 95 F
95
>>> round(heat_index(32.0, 50.0), 1)
34.4
>>> heat_level(heat_index(35.0, 60.0)).name
'Danger'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hyperhealth.errors import InputError

METHOD = "nws-heat-index"
CITATION = ("NWS Weather Prediction Center, The Heat Index Equation "
            "(wpc.ncep.noaa.gov/html/heatindex_equation.shtml); Rothfusz 1990, NWS SR 90-23; "
            "levels from the NWS heat index chart (weather.gov/safety/heat-index)")


def c_to_f(c: float) -> float:
    return c * 9.0 / 5.0 + 32.0


def f_to_c(f: float) -> float:
    return (f - 32.0) * 5.0 / 9.0


def _check(t_f: float, rh: float) -> None:
    if not math.isfinite(t_f):
        raise InputError(f"temperature {t_f!r} is not a number", field="temperature",
                         hint="send a finite temperature")
    if not (0.0 <= rh <= 100.0):  # also rejects NaN
        raise InputError(f"relative humidity {rh!r} is outside 0-100 %",
                         field="relative_humidity", hint="send relative humidity in percent")


def heat_index_f(t_f: float, rh: float) -> float:
    """The NWS heat index in Fahrenheit for air temperature ``t_f`` (F) and ``rh`` (%)."""
    _check(t_f, rh)
    simple = 0.5 * (t_f + 61.0 + (t_f - 68.0) * 1.2 + rh * 0.094)
    hi = (simple + t_f) / 2.0
    if hi < 80.0:
        return hi
    t, r = t_f, rh
    hi = (-42.379 + 2.04901523 * t + 10.14333127 * r - 0.22475541 * t * r
          - 0.00683783 * t * t - 0.05481717 * r * r + 0.00122874 * t * t * r
          + 0.00085282 * t * r * r - 0.00000199 * t * t * r * r)
    if r < 13.0 and 80.0 <= t <= 112.0:
        hi -= ((13.0 - r) / 4.0) * math.sqrt((17.0 - abs(t - 95.0)) / 17.0)
    elif r > 85.0 and 80.0 <= t <= 87.0:
        hi += ((r - 85.0) / 10.0) * ((87.0 - t) / 5.0)
    return hi


def heat_index(t_c: float, rh: float) -> float:
    """The NWS heat index in Celsius for air temperature ``t_c`` (Celsius) and ``rh`` (%)."""
    return f_to_c(heat_index_f(c_to_f(t_c), rh))


@dataclass(frozen=True, slots=True)
class HeatLevel:
    """An NWS heat-index level; ``lo_f`` inclusive, ``hi_f`` exclusive (Fahrenheit), ``None``
    for the open top level."""

    name: str
    lo_f: float
    hi_f: float | None

    @property
    def lo_c(self) -> float:
        return f_to_c(self.lo_f)


#: NWS heat index chart levels (weather.gov/safety/heat-index)
LEVELS: tuple[HeatLevel, ...] = (
    HeatLevel("Caution", 80.0, 90.0),
    HeatLevel("Extreme Caution", 90.0, 103.0),
    HeatLevel("Danger", 103.0, 125.0),
    HeatLevel("Extreme Danger", 125.0, None),
)


def heat_level_f(hi_f: float) -> HeatLevel | None:
    """The level of a heat index given in Fahrenheit; ``None`` below 80 F.

    >>> heat_level_f(79.9) is None, heat_level_f(90).name, heat_level_f(124.9).name
    (True, 'Extreme Caution', 'Danger')
    """
    for lvl in LEVELS:
        if lvl.lo_f <= hi_f and (lvl.hi_f is None or hi_f < lvl.hi_f):
            return lvl
    return None


def heat_level(hi_c: float) -> HeatLevel | None:
    """The level of a heat index given in Celsius; ``None`` below 80 F (26.7 Cel)."""
    # round to 1e-9 so that 125 F converted to Celsius and back lands on its own level
    return heat_level_f(round(c_to_f(hi_c), 9))
