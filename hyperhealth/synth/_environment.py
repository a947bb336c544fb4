"""Hourly air quality and weather per home city, with a wildfire-smoke day and a heat wave.

The shapes follow well-documented patterns: air temperature peaks mid-afternoon and bottoms out
near dawn; ozone is photochemical and peaks in the afternoon; PM2.5 has traffic-related morning
and evening peaks. Episode sizes are scenario parameters chosen to be unmistakable (smoke-day
PM2.5 of 150-250 ug/m3, as measured in Northern California during the 2018 Camp Fire; a heat wave
of +6 to +8 Cel over several days), not thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from hyperhealth.model import Exposure, normalise
from hyperhealth.synth._persons import City
from hyperhealth.synth._truth import GroundTruthEvent

SOURCE = "synth"


@dataclass(slots=True)
class CityWeather:
    city: City
    hours: list[datetime]
    series: dict[str, np.ndarray] = field(default_factory=dict)  # code -> hourly values


def _local_hours(city: City, start: datetime, hours: int) -> np.ndarray:
    zone = ZoneInfo(city.tz)
    return np.array([(start + timedelta(hours=h)).astimezone(zone).hour for h in range(hours)],
                    dtype=float)


def environment(cities: list[City], start: datetime, days: int, seed: int,
                smoke_city: City | None, heat_city: City | None
                ) -> tuple[list[CityWeather], list[GroundTruthEvent]]:
    """Hourly series per city plus the ground truth of the episodes."""
    hours = days * 24
    times = [start + timedelta(hours=h) for h in range(hours)]
    truth: list[GroundTruthEvent] = []
    out = []
    for ci, city in enumerate(cities):
        rng = np.random.default_rng([seed, 1000 + ci])
        lh = _local_hours(city, start, hours)
        temp = city.temp_mean + 6.0 * np.cos(2 * np.pi * (lh - 15.0) / 24.0)
        temp += np.repeat(rng.normal(0, 1.2, days), 24) + rng.normal(0, 0.4, hours)
        pm = city.pm25_background * (1 + 0.35 * np.exp(-((lh - 8) ** 2) / 4)
                                     + 0.3 * np.exp(-((lh - 19) ** 2) / 6))
        pm *= np.exp(rng.normal(0, 0.15, hours))
        o3 = 22 + 28 * np.clip(np.cos(2 * np.pi * (lh - 15.0) / 24.0), 0, None) \
            + rng.normal(0, 3, hours)
        if city == heat_city and days >= 1:
            length = min(3, days)
            d0 = int(rng.integers(0, days - length + 1))
            delta = float(rng.uniform(6, 8))
            sl = slice(d0 * 24, (d0 + length) * 24)
            temp[sl] += delta
            o3[sl] += 15  # more sunshine and heat, more photochemical ozone
            truth.append(GroundTruthEvent(None, "heat_wave", times[sl.start],
                                          times[sl.stop - 1] + timedelta(hours=1),
                                          {"city": city.label, "temp_delta_cel": round(delta, 2),
                                           "days": length, "lat": city.lat, "lon": city.lon}))
        if city == smoke_city and days >= 1:
            d0 = int(rng.integers(0, days))
            level = float(rng.uniform(150, 250))
            sl = slice(d0 * 24, d0 * 24 + 24)
            pm[sl] = level * np.exp(rng.normal(0, 0.12, 24))
            truth.append(GroundTruthEvent(None, "wildfire_smoke", times[sl.start],
                                          times[sl.stop - 1] + timedelta(hours=1),
                                          {"city": city.label, "pm25_level_ug_m3": round(level, 1),
                                           "lat": city.lat, "lon": city.lon}))
        rh = np.clip(city.rh_mean - 2.5 * (temp - city.temp_mean) + rng.normal(0, 3, hours),
                     5, 100)
        out.append(CityWeather(city, times, {
            "air-temperature": temp, "relative-humidity": rh,
            "pm25": np.clip(pm, 0.5, None), "o3": np.clip(o3, 1, None)}))
    return out, truth


_UNITS = {"air-temperature": "Cel", "relative-humidity": "%", "pm25": "ug/m3", "o3": "[ppb]"}


def exposures(weather: list[CityWeather]) -> list[Exposure]:
    """Hourly exposures, each checked by :func:`normalise` (HH code system)."""
    out = []
    for w in weather:
        loc = w.city.location
        for code, values in w.series.items():
            for t, v in zip(w.hours, values.tolist(), strict=True):
                value, unit, _ = normalise(code, round(v, 1), _UNITS[code])
                out.append(Exposure(loc, code, t, value, unit, t_end=t + timedelta(hours=1),
                                    source=SOURCE))
    return out

