"""Observations of one code over a time window, downsampled on the server."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query

from hyperhealth.delivery.api._deps import StoreDep, parse_time
from hyperhealth.delivery.api._errors import ApiError, responses
from hyperhealth.delivery.api._models import SeriesOut, SeriesPoints
from hyperhealth.model import METRICS
from hyperhealth.model.time import from_us

router = APIRouter(prefix="/api/persons", tags=["observations"])

#: the most points one response may carry (a chart never needs more)
MAX_POINTS_LIMIT = 100_000

_TIME_HELP = "ISO-8601 date-time with an offset, e.g. 2024-05-01T00:00:00Z"


@router.get("/{person_id}/observations", response_model=SeriesOut,
            responses=responses(404, 422), summary="A time series of one code")
def get_observations(
    person_id: str,
    store: StoreDep,
    code: Annotated[str, Query(min_length=1, description="observation code, e.g. 8867-4")],
    start: Annotated[str | None, Query(description=f"window start, inclusive; {_TIME_HELP}")
                     ] = None,
    end: Annotated[str | None, Query(description=f"window end, exclusive; {_TIME_HELP}")
                   ] = None,
    max_points: Annotated[int, Query(ge=1, le=MAX_POINTS_LIMIT, description=(
        "at most this many points; above it the window is cut into equal time buckets and "
        "each point is a bucket's mean with its min, max and n"))] = 2000,
) -> SeriesOut:
    """Numeric values of ``code`` in ``[start, end)``, raw or as bucket means."""
    t0, t1 = parse_time(start, "start"), parse_time(end, "end")
    if t0 is not None and t1 is not None and t1 <= t0:
        raise ApiError(422, "Invalid request",
                       f"end ({t1.isoformat()}) is not after start ({t0.isoformat()})",
                       where="query parameters start, end",
                       fix="give an end later than the start, or leave one of them out")
    streams = {s.code: s for s in store.streams(person_id)}  # 404 for an unknown person
    info = streams.get(code)
    if info is None:
        have = ", ".join(sorted(streams)) or "none"
        raise ApiError(404, "Not found", f"person {person_id!r} has no readings of code {code!r}",
                       where="query parameter code",
                       fix=f"use one of the person's codes ({have}); see "
                           f"GET /api/persons/{person_id}/streams")
    ser = store.series(person_id, code, t0, t1, max_points=max_points)
    m = METRICS.get(code)
    return SeriesOut(
        person_id=person_id, code=code, display=m.display if m else code, unit=info.unit,
        start=t0, end=t1, kind="bucket_mean" if ser.bucket_us else "raw",
        bucket_seconds=ser.bucket_us / 1e6 if ser.bucket_us else None, max_points=max_points,
        readings=int(ser.n.sum()),
        points=SeriesPoints(t=[from_us(int(t)) for t in ser.t_us], value=_floats(ser.value),
                            min=_floats(ser.vmin), max=_floats(ser.vmax),
                            n=[int(x) for x in ser.n]))


def _floats(a: np.ndarray) -> list[float]:
    return [float(x) for x in a.tolist()]
