"""Observations of one code over a time window, downsampled on the server."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import orjson
from fastapi import APIRouter, Query
from fastapi.responses import Response

from hyperhealth.delivery.api._deps import StoreDep, parse_time
from hyperhealth.delivery.api._errors import ApiError, responses
from hyperhealth.delivery.api._guard import AccessDep, Rule, rule
from hyperhealth.delivery.api._models import SeriesOut, SeriesPoints
from hyperhealth.model import METRICS
from hyperhealth.security._model import category_of

router = APIRouter(prefix="/api/persons", tags=["observations"])

#: the most points one response may carry (a chart never needs more)
MAX_POINTS_LIMIT = 100_000

_TIME_HELP = "ISO-8601 date-time with an offset, e.g. 2024-05-01T00:00:00Z"


@router.get("/{person_id}/observations", response_model=SeriesOut,
            responses=responses(404, 422), summary="A time series of one code")
@rule(Rule("person"))
def get_observations(
    person_id: str,
    store: StoreDep,
    access: AccessDep,
    code: Annotated[str, Query(min_length=1, description="observation code, e.g. 8867-4")],
    start: Annotated[str | None, Query(description=f"window start, inclusive; {_TIME_HELP}")
                     ] = None,
    end: Annotated[str | None, Query(description=f"window end, exclusive; {_TIME_HELP}")
                   ] = None,
    max_points: Annotated[int, Query(ge=1, le=MAX_POINTS_LIMIT, description=(
        "at most this many points; above it the window is cut into equal time buckets and "
        "each point is a bucket's mean with its min, max and n"))] = 2000,
) -> Response:
    """Numeric values of ``code`` in ``[start, end)``, raw or as bucket means."""
    access.require(category_of(code))
    t0, t1 = parse_time(start, "start"), parse_time(end, "end")
    if t0 is not None and t1 is not None and t1 <= t0:
        raise ApiError(422, "Invalid request",
                       f"end ({t1.isoformat()}) is not after start ({t0.isoformat()})",
                       where="query parameters start, end",
                       fix="give an end later than the start, or leave one of them out")
    ser = store.series(person_id, code, t0, t1, max_points=max_points)  # 404: unknown person
    codes = {s.code for s in store.streams(person_id)
             if access.allows(category_of(s.code))} if len(ser) == 0 else {code}
    if code not in codes:
        have = ", ".join(sorted(codes)) or "none"
        raise ApiError(404, "Not found", f"person {person_id!r} has no readings of code {code!r}",
                       where="query parameter code",
                       fix=f"use one of the person's codes ({have}); see "
                           f"GET /api/persons/{person_id}/streams")
    m = METRICS.get(code)
    unit = m.unit if m else next((o.unit for o in store.observations(person_id, code, limit=1)),
                                 "")
    out = SeriesOut(
        person_id=person_id, code=code, display=m.display if m else code, unit=unit,
        start=t0, end=t1, kind="bucket_mean" if ser.bucket_us else "raw",
        bucket_seconds=ser.bucket_us / 1e6 if ser.bucket_us else None, max_points=max_points,
        readings=int(ser.n.sum()), points=SeriesPoints(t=[], value=[], min=[], max=[], n=[]))
    body = out.model_dump(mode="json")
    # the columns go straight from numpy to JSON: validating thousands of points one by one
    # through pydantic would cost more than the database query
    body["points"] = {"t": _iso_utc(ser.t_us), "value": ser.value, "min": ser.vmin,
                      "max": ser.vmax, "n": ser.n}
    return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
                    media_type="application/json")


def _iso_utc(t_us: np.ndarray) -> list[str]:
    """ISO-8601 UTC text for epoch microseconds (``2024-05-01T00:00:00Z``, fraction if any).

    >>> _iso_utc(np.array([0, 1_500_000]))
    ['1970-01-01T00:00:00Z', '1970-01-01T00:00:01.500000Z']
    """
    if len(t_us) == 0:
        return []
    a = np.asarray(t_us, dtype=np.int64).astype("datetime64[us]")
    whole = (np.asarray(t_us) % 1_000_000) == 0
    text = np.where(whole, np.datetime_as_string(a, unit="s"), np.datetime_as_string(a))
    return [f"{x}Z" for x in text.tolist()]
