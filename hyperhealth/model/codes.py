"""Clinical and project codes, their canonical UCUM units and their data-quality limits.

Each metric names one canonical unit; values in other units are converted on ingest by
:mod:`hyperhealth.model.units`, never guessed. The limits here are *data-quality* bounds, not
clinical thresholds: ``reject`` bounds mark values no measurement of a living person can give
(a saturation above 100 %, a heart rate of 0), ``flag`` bounds mark values that are possible but
so rare that a measurement error is the likelier cause. Each carries its reason; see
``docs/methods.md``.

>>> METRICS["8867-4"].unit
'/min'
>>> METRICS["59408-5"].reject
(0, 100)
>>> metric_for("hh", "pm25").display
'PM2.5 mass concentration'
"""

from __future__ import annotations

from dataclasses import dataclass

from hyperhealth.model._types import HH, LOINC

INF = float("inf")


@dataclass(frozen=True, slots=True)
class Limits:
    """Reject outside ``reject`` (exclusive of the open ends marked by ``reject_open``),
    flag outside ``flag``."""

    reject: tuple[float, float]
    flag: tuple[float, float]
    reason: str
    # a value equal to the lower reject bound is rejected too (e.g. heart rate 0)
    reject_low_inclusive: bool = False


@dataclass(frozen=True, slots=True)
class Metric:
    code: str
    system: str
    display: str
    unit: str
    category: str
    limits: Limits | None = None

    @property
    def reject(self) -> tuple[float, float] | None:
        return self.limits.reject if self.limits else None


_HR_REASON = (
    "reject <= 0 or > 300 /min: conduction through the AV node limits ventricular rates to about "
    "300/min and wearable/ECG sensors report nothing higher; flag < 30 or > 220 /min (220 is the "
    "age-predicted maximum at age 0, Fox et al. 1971)"
)
_BP_REASON = (
    "reject <= 0 or > 300 mmHg: outside the 0-300 mmHg cuff-pressure range of validated "
    "non-invasive monitors (ISO 81060-2); flag systolic < 60 or > 250, diastolic < 30 or > 150"
)

_METRICS = [
    Metric("8867-4", LOINC, "Heart rate", "/min", "vital-signs",
           Limits((0, 300), (30, 220), _HR_REASON, reject_low_inclusive=True)),
    Metric("40443-4", LOINC, "Heart rate --resting", "/min", "vital-signs",
           Limits((0, 300), (30, 220), _HR_REASON, reject_low_inclusive=True)),
    Metric("80404-7", LOINC, "R-R interval.standard deviation (Heart rate variability)", "ms",
           "vital-signs",
           Limits((0, 1000), (1, 300), "reject < 0 or > 1000 ms (SDNN cannot exceed the R-R "
                  "interval); flag < 1 or > 300 ms")),
    Metric("8480-6", LOINC, "Systolic blood pressure", "mm[Hg]", "vital-signs",
           Limits((0, 300), (60, 250), _BP_REASON, reject_low_inclusive=True)),
    Metric("8462-4", LOINC, "Diastolic blood pressure", "mm[Hg]", "vital-signs",
           Limits((0, 300), (30, 150), _BP_REASON, reject_low_inclusive=True)),
    Metric("59408-5", LOINC, "Oxygen saturation in Arterial blood by Pulse oximetry", "%",
           "vital-signs",
           Limits((0, 100), (70, 100), "a saturation is 0-100 % by definition; flag < 70 % "
                  "(below the 70-100 % accuracy range of ISO 80601-2-61 pulse oximeters)",
                  reject_low_inclusive=True)),
    Metric("2708-6", LOINC, "Oxygen saturation in Arterial blood", "%", "vital-signs",
           Limits((0, 100), (70, 100), "a saturation is 0-100 % by definition",
                  reject_low_inclusive=True)),
    Metric("9279-1", LOINC, "Respiratory rate", "/min", "vital-signs",
           Limits((0, 150), (4, 60), "reject <= 0 or > 150 /min; flag < 4 or > 60 /min",
                  reject_low_inclusive=True)),
    Metric("8310-5", LOINC, "Body temperature", "Cel", "vital-signs",
           Limits((10, 50), (30, 43), "reject < 10 or > 50 Cel (not compatible with life); "
                  "flag < 30 or > 43 Cel")),
    Metric("29463-7", LOINC, "Body weight", "kg", "vital-signs",
           Limits((0, 700), (1, 300), "reject <= 0 or > 700 kg; flag < 1 or > 300 kg",
                  reject_low_inclusive=True)),
    Metric("8302-2", LOINC, "Body height", "cm", "vital-signs",
           Limits((0, 300), (40, 230), "reject <= 0 or > 300 cm; flag < 40 or > 230 cm",
                  reject_low_inclusive=True)),
    Metric("39156-5", LOINC, "Body mass index (BMI) [Ratio]", "kg/m2", "vital-signs",
           Limits((0, 250), (10, 90), "reject <= 0 or > 250 kg/m2; flag < 10 or > 90 kg/m2",
                  reject_low_inclusive=True)),
    Metric("55423-8", LOINC, "Number of steps in unspecified time Pedometer", "{steps}",
           "activity",
           Limits((0, 1e6), (0, 1e5), "a count cannot be negative; flag > 100000 steps in one "
                  "reading")),
    Metric("41981-2", LOINC, "Calories burned", "kcal", "activity",
           Limits((0, 1e5), (0, 1e4), "energy cannot be negative")),
    Metric("2339-0", LOINC, "Glucose [Mass/volume] in Blood", "mg/dL", "laboratory",
           Limits((0, 3000), (20, 600), "reject <= 0 or > 3000 mg/dL (beyond the highest "
                  "reported survivable values); flag < 20 or > 600 mg/dL (outside the reporting "
                  "range of most glucose meters)", reject_low_inclusive=True)),
    Metric("99504-3", LOINC, "Glucose [Mass/volume] in Interstitial fluid", "mg/dL", "cgm",
           Limits((0, 3000), (40, 400), "reject <= 0 or > 3000 mg/dL; flag < 40 or > 400 mg/dL "
                  "(outside the 40-400 mg/dL reporting range of current CGM sensors)",
                  reject_low_inclusive=True)),
    Metric("4548-4", LOINC, "Hemoglobin A1c/Hemoglobin.total in Blood", "%", "laboratory",
           Limits((0, 25), (3, 20), "reject <= 0 or > 25 %; flag < 3 or > 20 %",
                  reject_low_inclusive=True)),
    # environment (project code system)
    Metric("pm25", HH, "PM2.5 mass concentration", "ug/m3", "environment",
           Limits((0, 5000), (0, 1000), "a concentration cannot be negative")),
    Metric("pm10", HH, "PM10 mass concentration", "ug/m3", "environment",
           Limits((0, 10000), (0, 2000), "a concentration cannot be negative")),
    Metric("o3", HH, "Ozone mixing ratio", "[ppb]", "environment",
           Limits((0, 5000), (0, 1000), "a concentration cannot be negative")),
    Metric("no2", HH, "Nitrogen dioxide mixing ratio", "[ppb]", "environment",
           Limits((0, 10000), (0, 3000), "a concentration cannot be negative")),
    Metric("so2", HH, "Sulfur dioxide mixing ratio", "[ppb]", "environment",
           Limits((0, 10000), (0, 2000), "a concentration cannot be negative")),
    Metric("co", HH, "Carbon monoxide mixing ratio", "[ppm]", "environment",
           Limits((0, 1000), (0, 100), "a concentration cannot be negative")),
    Metric("aqi", HH, "US EPA Air Quality Index", "{index}", "environment",
           Limits((0, 1000), (0, 500), "the AQI scale is 0-500")),
    Metric("air-temperature", HH, "Air temperature", "Cel", "environment",
           Limits((-95, 65), (-60, 57), "beyond recorded surface extremes")),
    Metric("relative-humidity", HH, "Relative humidity", "%", "environment",
           Limits((0, 100), (0, 100), "relative humidity is 0-100 %")),
    Metric("heat-index", HH, "NWS heat index", "Cel", "environment"),
    Metric("uv-index", HH, "UV index", "{index}", "environment",
           Limits((0, 50), (0, 20), "the UV index cannot be negative")),
    Metric("pollen", HH, "Pollen count", "/m3", "environment",
           Limits((0, 1e6), (0, 1e5), "a count cannot be negative")),
]

#: every metric with a canonical unit, by code
METRICS: dict[str, Metric] = {m.code: m for m in _METRICS}

_SYSTEM_ALIASES = {"loinc": LOINC, "hh": HH, LOINC: LOINC, HH: HH}


def metric_for(system: str, code: str) -> Metric | None:
    """The metric for a code, or ``None`` for a code we keep as given (e.g. most lab codes)."""
    m = METRICS.get(code)
    if m is not None and _SYSTEM_ALIASES.get(system, system) == m.system:
        return m
    return None


# Convenient names for code in the rest of the package
HEART_RATE = "8867-4"
RESTING_HEART_RATE = "40443-4"
HRV_SDNN = "80404-7"
SYSTOLIC_BP = "8480-6"
DIASTOLIC_BP = "8462-4"
BP_PANEL = "85354-9"
SPO2 = "59408-5"
BLOOD_GLUCOSE = "2339-0"
CGM_GLUCOSE = "99504-3"
STEPS = "55423-8"
BODY_WEIGHT = "29463-7"
BODY_HEIGHT = "8302-2"
BODY_TEMPERATURE = "8310-5"
HBA1C = "4548-4"
