"""Deterministic device messages for monitoring tests: minute heart rate and steps, CGM."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from hyperhealth.ingest.device_json import SCHEMA

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def watch_hours(person: str, device: str, days: float, *, rise_from_day: float | None = None,
                rise: float = 12.0, seed: int = 1) -> list[dict[str, Any]]:
    """One message per hour: heart rate and steps every minute for ``days``; from
    ``rise_from_day`` resting heart rate is ``rise`` beats higher (an infection-like signal)."""
    rng = np.random.default_rng(seed)
    n = int(days * 1440)
    minute = np.arange(n)
    hour_of_day = (minute // 60) % 24
    active = (hour_of_day >= 8) & (hour_of_day < 22) & (rng.random(n) < 0.25)
    steps = np.where(active, rng.integers(20, 120, n), 0)
    hr = 62 + 4 * np.sin(2 * np.pi * minute / 1440) + rng.normal(0, 2.5, n) + active * 35
    if rise_from_day is not None:
        hr[minute >= rise_from_day * 1440] += rise
    msgs = []
    for h in range(n // 60):
        rs = []
        for m in range(h * 60, h * 60 + 60):
            t = (T0 + timedelta(minutes=m)).isoformat()
            rs.append({"metric": "heart_rate", "value": round(float(hr[m])), "unit": "/min",
                       "t": t})
            if steps[m]:
                rs.append({"metric": "steps", "value": int(steps[m]), "unit": "{steps}", "t": t})
        msgs.append({"schema": SCHEMA, "message_id": f"{device}-{h}",
                     "device": {"id": device, "kind": "watch"}, "person": person,
                     "readings": rs})
    return msgs


def cgm_hours(person: str, device: str, days: float, *, low_at_hour: float) -> list[dict[str, Any]]:
    """CGM every 5 minutes, one message per hour, with a 40-minute dip to 48 mg/dL."""
    msgs = []
    for h in range(int(days * 24)):
        rs = []
        for k in range(12):
            m = h * 60 + 5 * k
            v = 120 + 25 * np.sin(2 * np.pi * m / 1440)
            if low_at_hour * 60 <= m < low_at_hour * 60 + 40:
                v = 48.0
            rs.append({"metric": "cgm_glucose", "value": round(float(v), 1), "unit": "mg/dL",
                       "t": (T0 + timedelta(minutes=m)).isoformat()})
        msgs.append({"schema": SCHEMA, "message_id": f"{device}-{h}",
                     "device": {"id": device, "kind": "cgm"}, "person": person,
                     "readings": rs})
    return msgs


def readings(msgs: list[dict[str, Any]]) -> int:
    return sum(len(m["readings"]) for m in msgs)
