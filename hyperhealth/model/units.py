"""Unit conversion to each code's canonical UCUM unit, and plausibility checks.

Only conversions with an exact or defined factor are known; anything else is an
:class:`~hyperhealth.errors.UnknownUnit` error rather than a guess.

>>> normalise("2339-0", 5.5, "mmol/L")
(99.0858, 'mg/dL', <Quality.CONVERTED: 2>)
>>> normalise("29463-7", 150, "lb")[0]
68.0388555
>>> round(normalise("8310-5", 98.6, "degF")[0], 2)
37.0
>>> normalise("8867-4", 400, "bpm")
Traceback (most recent call last):
...
hyperhealth.errors.ImplausibleValue: [value]: 400 /min is impossible for Heart rate ...
"""

from __future__ import annotations

from collections.abc import Callable

from hyperhealth.errors import ImplausibleValue, UnknownUnit
from hyperhealth.model._types import Quality
from hyperhealth.model.codes import METRICS, Metric

# Glucose: molar mass 180.156 g/mol, so 1 mmol/L = 18.0156 mg/dL (IUPAC atomic weights).
_GLUCOSE_MG_PER_MMOL = 18.0156
_LB_KG = 0.45359237  # exact, international avoirdupois pound (1959)
_KPA_MMHG = 7.500617  # 1 kPa = 1000/133.322387 mmHg

# spelling variants seen in device exports -> UCUM
_ALIASES: dict[str, str] = {
    "bpm": "/min", "beats/min": "/min", "count/min": "/min", "{beats}/min": "/min",
    "/minute": "/min", "1/min": "/min", "breaths/min": "/min", "{breaths}/min": "/min",
    "mmhg": "mm[Hg]", "mm hg": "mm[Hg]", "mm[hg]": "mm[Hg]",
    "mg/dl": "mg/dL", "mmol/l": "mmol/L",
    "lb": "[lb_av]", "lbs": "[lb_av]", "[lb_av]": "[lb_av]",
    "in": "[in_i]", "[in_i]": "[in_i]", "ft": "[ft_i]", "[ft_i]": "[ft_i]",
    "degf": "[degF]", "[degf]": "[degF]", "°f": "[degF]", "f": "[degF]",
    "degc": "Cel", "°c": "Cel", "c": "Cel", "cel": "Cel",
    "count": "{steps}", "steps": "{steps}", "{steps}": "{steps}", "{step}": "{steps}",
    "{count}": "{steps}",
    "percent": "%", "%": "%",
    "kg/m^2": "kg/m2", "kg/m2": "kg/m2",
    "µg/m3": "ug/m3", "μg/m3": "ug/m3", "ug/m3": "ug/m3", "ug/m^3": "ug/m3",
    "ppb": "[ppb]", "[ppb]": "[ppb]", "ppm": "[ppm]", "[ppm]": "[ppm]",
    "kcal": "kcal", "cal": "kcal", "{index}": "{index}", "index": "{index}",
    "ms": "ms", "kpa": "kPa", "g": "g", "kg": "kg", "cm": "cm", "m": "m",
}

_Conv = Callable[[float], float]
# (from, to) -> function
_CONVERSIONS: dict[tuple[str, str], _Conv] = {
    ("mmol/L", "mg/dL"): lambda v: v * _GLUCOSE_MG_PER_MMOL,
    ("[lb_av]", "kg"): lambda v: v * _LB_KG,
    ("g", "kg"): lambda v: v / 1000.0,
    ("[in_i]", "cm"): lambda v: v * 2.54,
    ("[ft_i]", "cm"): lambda v: v * 30.48,
    ("m", "cm"): lambda v: v * 100.0,
    ("[degF]", "Cel"): lambda v: (v - 32.0) * 5.0 / 9.0,
    ("kPa", "mm[Hg]"): lambda v: v * _KPA_MMHG,
    ("[ppm]", "[ppb]"): lambda v: v * 1000.0,
    ("[ppb]", "[ppm]"): lambda v: v / 1000.0,
}

# Codes whose mmol/L variant has its own LOINC code; converting also changes the code.
MOLAR_TO_MASS_CODE = {"15074-8": "2339-0", "14743-9": "2339-0", "14745-4": "2339-0"}


def canonical_unit(unit: str) -> str:
    """The UCUM spelling of a unit as written by a device or export.

    >>> canonical_unit("BPM"), canonical_unit("mmHg"), canonical_unit("mg/dl")
    ('/min', 'mm[Hg]', 'mg/dL')
    """
    u = unit.strip()
    return _ALIASES.get(u.lower(), u)


def convert(value: float, unit: str, target: str) -> float:
    """Convert ``value`` from ``unit`` to ``target`` (both UCUM or known aliases)."""
    src, dst = canonical_unit(unit), canonical_unit(target)
    if src == dst:
        return value
    fn = _CONVERSIONS.get((src, dst))
    if fn is None:
        raise UnknownUnit(
            f"cannot convert {unit!r} to {target!r}", field="unit",
            hint=f"send the value in {target} or in a unit with a defined conversion",
        )
    return fn(value)


def check_plausible(metric: Metric, value: float) -> Quality:
    """Raise :class:`ImplausibleValue` for impossible values; flag the implausible ones."""
    lim = metric.limits
    if lim is None:
        return Quality.NONE
    lo, hi = lim.reject
    if value != value or value > hi or value < lo or (lim.reject_low_inclusive and value == lo):
        raise ImplausibleValue(
            f"{value:g} {metric.unit} is impossible for {metric.display} ({lim.reason})",
            field="value", hint="check the device and unit; the reading was not stored",
        )
    flo, fhi = lim.flag
    return Quality.IMPLAUSIBLE if (value < flo or value > fhi) else Quality.NONE


def normalise(code: str, value: float, unit: str) -> tuple[float, str, Quality]:
    """Return ``(value, unit, flags)`` in the code's canonical unit, checked for plausibility.

    Codes without a known metric are returned unchanged (their unit as given, UCUM-spelled).
    """
    metric = METRICS.get(code)
    u = canonical_unit(unit)
    if metric is None:
        return value, u, Quality.NONE
    flags = Quality.NONE
    if u != metric.unit and not (u == "" and metric.unit.startswith("{")):
        value = round(convert(value, u, metric.unit), 10)
        flags |= Quality.CONVERTED
    return value, metric.unit, flags | check_plausible(metric, value)
