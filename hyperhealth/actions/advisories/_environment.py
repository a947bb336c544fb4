"""The environment input of the rules: the latest readings near the person, with where and when.

The rules take :class:`hyperhealth.insights.exposure.CurrentEnvironment` (what
``current_environment`` returns). :func:`environment_from_values` builds one from plain values,
for callers that have readings but no store (and for tests).

>>> from datetime import UTC
>>> env = environment_from_values(datetime(2024, 7, 1, 15, tzinfo=UTC), {"uv-index": 7})
>>> reading(env, "uv-index").exposure.value, env.location.label
(7.0, 'given')
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from hyperhealth.insights.exposure import CurrentEnvironment, PersonExposure
from hyperhealth.model import METRICS, Exposure, Location

#: a reading older than this is still used (it is the newest there is) but said to be old; a
#: data-freshness choice of the project, not a health threshold
STALE_AFTER = timedelta(hours=3)


def environment_from_values(at: datetime, values: Mapping[str, float], *,
                            location: Location | None = None,
                            units: Mapping[str, str] | None = None,
                            measured: datetime | None = None) -> CurrentEnvironment:
    """A :class:`CurrentEnvironment` from ``code -> value`` (canonical units unless ``units``
    says otherwise), all measured at ``measured`` (default ``at``) at ``location``."""
    loc = location or Location(0.0, 0.0, "given")
    t = measured or at
    units = units or {}
    latest = {}
    for code, v in values.items():
        unit = units.get(code) or (METRICS[code].unit if code in METRICS else "")
        latest[code] = PersonExposure(Exposure(loc, code, t, float(v), unit, source="given"),
                                      loc, "given", 0.0)
    hi = None
    if "heat-index" in latest:
        hi = latest["heat-index"].exposure.value
    return CurrentEnvironment(at, loc, "given", latest, None, None, None, hi, None)


def reading(env: CurrentEnvironment | None, code: str) -> PersonExposure | None:
    return None if env is None else env.values.get(code)


def describe(p: PersonExposure) -> dict[str, Any]:
    """Evidence for one reading: value, unit, time, monitor and how it was linked."""
    x = p.exposure
    return {"code": x.code, "value": x.value, "unit": x.unit, "t": x.t,
            "monitor": x.location.label or f"{x.location.lat:.4f},{x.location.lon:.4f}",
            "distance_km": p.distance_km, "place_basis": p.basis, "source": x.source}


def where_text(p: PersonExposure) -> str:
    """"at <monitor>, 2.1 km from your home, 2024-07-03 15:00 UTC" (for "why" texts)."""
    x = p.exposure
    monitor = x.location.label or "the nearest monitor"
    place = {"home": "your home", "history": "where you were"}.get(p.basis, "your location")
    dist = f", {p.distance_km:g} km from {place}" if p.basis in ("home", "history") else ""
    return f"at {monitor}{dist}, {x.t.strftime('%Y-%m-%d %H:%M')} UTC"


def staleness(p: PersonExposure, now: datetime) -> str | None:
    """A note when the newest reading is old."""
    age = now - p.exposure.t
    if age > STALE_AFTER:
        return (f"the newest {p.exposure.code} reading is {age.total_seconds() / 3600:.1f} h old; "
                "conditions may have changed")
    return None
