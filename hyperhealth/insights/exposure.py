"""Link environmental exposures to a person: where were they, and what was measured nearby.

For each moment the person's place is taken from their location history when a stay covers it
(the stay that started last wins where stays overlap; a stay without an end lasts until the next
one starts), else from their home (``Person.home``). For each metric, the readings of the nearest
monitoring location within ``max_km`` that has that metric in the period are used; every result
says which place was used, why (``history`` or ``home``) and how far the monitor is.

Distances are great-circle (haversine) on a sphere of radius 6371.0088 km, the IUGG mean Earth
radius (Moritz 2000, *Geodetic Reference System 1980*, J. Geodesy 74:128-133).

>>> round(haversine_km(Location(40.7128, -74.0060), Location(34.0522, -118.2437)))
3936
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from hyperhealth.errors import InputError
from hyperhealth.model import Exposure, Location, LocationVisit, heat
from hyperhealth.model import air_quality as aq
from hyperhealth.store import Store

EARTH_RADIUS_KM = 6371.0088
HISTORY, HOME = "history", "home"


def haversine_km(a: Location, b: Location) -> float:
    """Great-circle distance in km between two WGS84 points."""
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True, slots=True)
class PlaceSpan:
    """Where the person was from ``start`` to ``end`` and why we think so."""

    start: datetime
    end: datetime
    location: Location
    basis: str  # "history" | "home"


@dataclass(frozen=True, slots=True)
class PersonExposure:
    """One exposure reading attributed to a person, with how it was linked."""

    exposure: Exposure
    person_location: Location
    basis: str  # "history": a location-history stay covered the time; "home": the home address
    distance_km: float  # from the person's place to the monitoring location

    @property
    def code(self) -> str:
        return self.exposure.code

    @property
    def t(self) -> datetime:
        return self.exposure.t


def place_spans(visits: Sequence[LocationVisit], home: Location | None, start: datetime,
                end: datetime) -> list[PlaceSpan]:
    """The person's places over ``[start, end)``; gaps without a stay or home are left out."""
    if end <= start:
        return []
    ordered = sorted(visits, key=lambda v: v.start)
    ends = [_visit_end(ordered, i) for i in range(len(ordered))]
    cuts = {start, end}
    for v, v_end in zip(ordered, ends, strict=True):
        for t in (v.start, v_end):
            if t is not None and start < t < end:
                cuts.add(t)
    bounds = sorted(cuts)
    spans: list[PlaceSpan] = []
    for lo, hi in pairwise(bounds):
        covering = [v for v, v_end in zip(ordered, ends, strict=True)
                    if v.start <= lo and (v_end is None or lo < v_end)]
        if covering:
            place, basis = covering[-1].location, HISTORY
        elif home is not None:
            place, basis = home, HOME
        else:
            continue
        if spans and spans[-1].end == lo and spans[-1].location == place \
                and spans[-1].basis == basis:
            spans[-1] = PlaceSpan(spans[-1].start, hi, place, basis)
        else:
            spans.append(PlaceSpan(lo, hi, place, basis))
    return spans


def _visit_end(ordered: Sequence[LocationVisit], i: int) -> datetime | None:
    """A stay's end; an open stay ends where the next stay starts (or never)."""
    v = ordered[i]
    if v.end is not None:
        return v.end
    later = [w.start for w in ordered[i + 1:] if w.start > v.start]
    return min(later) if later else None


def exposures_for_person(store: Store, person_id: str, start: datetime, end: datetime, *,
                         max_km: float = 25.0, codes: Iterable[str] | None = None
                         ) -> list[PersonExposure]:
    """Exposure readings in ``[start, end)`` linked to the person's place at each time.

    Per place span and metric, the nearest monitoring location within ``max_km`` that has
    readings of that metric in the span is used. Sorted by time, then code.
    """
    if max_km < 0:
        raise InputError("max_km cannot be negative", field="max_km")
    person = store.person(person_id)
    wanted = set(codes) if codes is not None else None
    stations = store.exposure_locations()
    out: list[PersonExposure] = []
    for span in place_spans(store.location_visits(person_id), person.home, start, end):
        near = sorted(((haversine_km(span.location, loc), pk, loc) for pk, loc in stations),
                      key=lambda x: x[0])
        done: set[str] = set()
        for dist, pk, _loc in near:
            if dist > max_km or (wanted is not None and done >= wanted):
                break
            found: dict[str, list[Exposure]] = {}
            for x in store.exposures(pk, start=span.start, end=span.end):
                if x.code not in done and (wanted is None or x.code in wanted):
                    found.setdefault(x.code, []).append(x)
            for code, xs in found.items():
                out += [PersonExposure(x, span.location, span.basis, round(dist, 3)) for x in xs]
                done.add(code)
    out.sort(key=lambda p: (p.t, p.code))
    return out


@dataclass(frozen=True, slots=True)
class CurrentEnvironment:
    """The latest reading per metric near the person at one moment, with AQI and heat level."""

    at: datetime
    location: Location | None
    basis: str | None
    values: dict[str, PersonExposure]
    aqi: int | None
    aqi_category: str | None
    aqi_colour: str | None
    heat_index_c: float | None
    heat_level: str | None


def current_environment(store: Store, person_id: str, at: datetime, *, max_km: float = 25.0,
                        lookback: timedelta = timedelta(hours=24)) -> CurrentEnvironment:
    """The latest value per metric in ``(at - lookback, at]`` near the person's place at ``at``.

    The AQI is the stored ``aqi`` reading when there is one, else computed from the latest
    pollutant readings; the heat level likewise from ``heat-index`` or temperature and humidity.
    """
    window_end = at + timedelta(microseconds=1)  # include a reading taken exactly at ``at``
    spans = place_spans(store.location_visits(person_id), store.person(person_id).home,
                        at, window_end)
    if not spans:
        return CurrentEnvironment(at, None, None, {}, None, None, None, None, None)
    span = spans[0]
    latest: dict[str, PersonExposure] = {}
    stations = sorted(((haversine_km(span.location, loc), pk) for pk, loc in
                       store.exposure_locations()), key=lambda x: x[0])
    for dist, pk in stations:
        if dist > max_km:
            break
        for x in store.exposures(pk, start=at - lookback, end=window_end):
            if x.code in latest and latest[x.code].distance_km < round(dist, 3):
                continue  # a nearer monitor already has this metric
            if x.code not in latest or x.t >= latest[x.code].t:
                latest[x.code] = PersonExposure(x, span.location, span.basis, round(dist, 3))
    index = _aqi(latest)
    hi = _heat_index(latest)
    level = heat.heat_level(hi) if hi is not None else None
    cat = aq.category(index) if index is not None else None
    return CurrentEnvironment(at, span.location, span.basis, latest, index,
                              cat.name if cat else None, cat.hex if cat else None,
                              round(hi, 1) if hi is not None else None,
                              level.name if level else None)


def _aqi(latest: dict[str, PersonExposure]) -> int | None:
    if "aqi" in latest:
        return int(latest["aqi"].exposure.value)
    conc = {aq.SCALE_FOR_CODE[c]: p.exposure.value for c, p in latest.items()
            if c in aq.SCALE_FOR_CODE}
    if not conc:
        return None
    try:
        return aq.aqi(conc).aqi
    except InputError:  # beyond the table: no index rather than a wrong one
        return None


def _heat_index(latest: dict[str, PersonExposure]) -> float | None:
    if "heat-index" in latest:
        return latest["heat-index"].exposure.value
    t, rh = latest.get("air-temperature"), latest.get("relative-humidity")
    if t is None or rh is None:
        return None
    return heat.heat_index(t.exposure.value, rh.exposure.value)
