"""A person's day at a glance and their trends (the patient dashboard's data).

Both routes are open to any caller with some consent for the person; each section is computed
only when the caller may see its data categories, and a section left out is listed under
``hidden`` (always, whether or not the person has such data, so hiding reveals nothing).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from hyperhealth.delivery.api._deps import StoreDep
from hyperhealth.delivery.api._errors import ApiError, responses
from hyperhealth.delivery.api._guard import Access, AccessDep, Rule, rule
from hyperhealth.errors import InputError
from hyperhealth.insights.summary import PERIODS, SECTIONS, SLEEP, Units, glance, trends
from hyperhealth.security._identity import Identity
from hyperhealth.security._model import Category, category_of

router = APIRouter(prefix="/api/persons", tags=["summary"])

#: the data categories each section shows; all of them must be shared for it to appear.
#: Advisories name the monitor and its distance from the person's place, so they need
#: location as well as alerts.
SECTION_CATEGORIES: dict[str, tuple[Category, ...]] = {
    "vitals": (Category.VITALS,), "sleep": (Category.SLEEP,),
    "activity": (Category.ACTIVITY,), "glucose": (Category.CGM,),
    "environment": (Category.LOCATION,), "advisories": (Category.ALERTS, Category.LOCATION),
}

_DATE_HELP = "a date in the person's time zone, YYYY-MM-DD"


class HiddenOut(BaseModel):
    section: str
    category: str = Field(description="the first data category not shared with the caller")
    categories: list[str] = Field(description="every category of the section not shared")


class SummaryOut(BaseModel):
    person_id: str
    day: date = Field(description="the person's local date summarised")
    as_of: str = Field(description="the moment described: the end of the day, or the "
                                   "latest reading if that is earlier (ISO-8601)")
    tz: str | None = Field(description="the person's time zone (null unless demographics or "
                                       "location are shared)")
    units: dict[str, str] = Field(description="glucose and weight units used")
    sections: dict[str, Any] = Field(description="vitals, sleep, activity, glucose, "
                                                 "environment, advisories: each with a status "
                                                 "(ok, no-data, not-used), its values with "
                                                 "units, method and note")
    hidden: list[HiddenOut] = Field(description="sections not shared with the caller")
    method: str


class TrendPeriodOut(BaseModel):
    start: date
    end: date = Field(description="the period's last day inside the range")
    n: int
    days: int = Field(description="days with data")
    mean: float | None
    min: float | None
    max: float | None
    p25: float | None
    median: float | None
    p75: float | None


class TrendsOut(BaseModel):
    person_id: str
    code: str
    name: str
    unit: str
    unit_text: str
    period: str
    start: date
    end: date
    tz: str | None = Field(description="the person's time zone (null unless demographics or "
                                       "location are shared)")
    periods: list[TrendPeriodOut]
    baseline: dict[str, Any] | None = Field(description="the personal band (10th-90th "
                                                        "percentile of daily values) as of "
                                                        "the last day")
    method: str
    note: str
    version: str


def _day(text: str | None, name: str) -> date | None:
    if text is None or text == "":
        return None
    try:
        if len(text.strip()) != 10:
            raise ValueError(text)
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ApiError(422, "Invalid request", f"{name}={text!r} is not a date (YYYY-MM-DD)",
                       where=f"query parameter {name}",
                       fix=f"give {_DATE_HELP}, e.g. 2024-07-30") from None


def _units(request: Request, access: Access, glucose: str | None, weight: str | None) -> Units:
    prefs: dict[str, Any] = {}
    actor = access.user
    if actor.user_pk is not None and not (glucose and weight):
        identity: Identity = request.app.state.identity
        prefs = identity.user(actor.username).preferences
    return Units.pick(glucose, weight, prefs)


def _invalid(exc: InputError) -> ApiError:
    return ApiError(422, "Invalid request", exc.message,
                    where=f"query parameter {exc.field}" if exc.field else "query",
                    fix=exc.hint or "correct the parameter")


def _zone_if_shared(body: dict[str, Any], access: Access) -> dict[str, Any]:
    """The person's time zone is demographic data (and hints at where they live): it is
    shown only with demographics or location shared (``null`` otherwise; days and times are
    the same either way)."""
    if not (access.allows(Category.DEMOGRAPHICS) or access.allows(Category.LOCATION)):
        body["tz"] = None
    return body


def _json(body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


GlucoseUnitQ = Annotated[Literal["mg/dL", "mmol/L"] | None, Query(
    description="glucose unit; default: the signed-in user's preference, else mg/dL")]
WeightUnitQ = Annotated[Literal["kg", "lb"] | None, Query(
    description="weight unit; default: the signed-in user's preference, else kg")]


@router.get("/{person_id}/summary", response_model=None,
            responses={200: {"model": SummaryOut}, **responses(403, 404, 422)},
            summary="A person's day at a glance")
@rule(Rule("person"))
def get_summary(
    person_id: str, request: Request, store: StoreDep, access: AccessDep,
    day: Annotated[str | None, Query(description=f"{_DATE_HELP}; default: the date of the "
                                                 "person's latest reading")] = None,
    sections: Annotated[str | None, Query(description="comma-separated sections to compute "
                                                      f"({', '.join(SECTIONS)}); default all")
                        ] = None,
    glucose_unit: GlucoseUnitQ = None, weight_unit: WeightUnitQ = None,
) -> Response:
    """Vitals, sleep, activity, CGM time in range, environment and advisories for one day, each
    against the person's own usual range over the 28 days before. Sections whose data
    categories are not shared with the caller are left out and listed under ``hidden``."""
    d = _day(day, "day")
    asked = list(SECTIONS)
    if sections:
        asked = [s.strip() for s in sections.split(",") if s.strip()]
        bad = [s for s in asked if s not in SECTIONS]
        if bad:
            raise ApiError(422, "Invalid request", f"unknown section(s): {', '.join(bad)}",
                           where="query parameter sections",
                           fix=f"use some of: {', '.join(SECTIONS)}")
    hidden, shown = [], []
    for s in asked:
        missing = [str(c) for c in SECTION_CATEGORIES[s] if not access.allows(c)]
        if missing:
            hidden.append({"section": s, "category": missing[0], "categories": missing})
        else:
            shown.append(s)
    units = _units(request, access, glucose_unit, weight_unit)
    try:
        body = glance(store, person_id, day=d, sections=shown, units=units)
    except InputError as exc:
        raise _invalid(exc) from None
    body["hidden"] = hidden
    return _json(_zone_if_shared(body, access))


@router.get("/{person_id}/trends", response_model=None,
            responses={200: {"model": TrendsOut}, **responses(403, 404, 422)},
            summary="One measure per day, week or month")
@rule(Rule("person"))
def get_trends(
    person_id: str, request: Request, store: StoreDep, access: AccessDep,
    code: Annotated[str, Query(min_length=1, max_length=64, description=(
        "observation code (e.g. 8867-4 heart rate, 55423-8 steps: day totals), or 'sleep' "
        "for minutes asleep per night"))],
    period: Annotated[str, Query(description="day, week (ISO, Monday first) or month")
                      ] = "day",
    start: Annotated[str | None, Query(description=f"first day, {_DATE_HELP}; default: 30 "
                                                   "days, 12 weeks or 12 months before end")
                     ] = None,
    end: Annotated[str | None, Query(description=f"last day (included), {_DATE_HELP}; "
                                                 "default: the day of the latest reading")
                   ] = None,
    glucose_unit: GlucoseUnitQ = None, weight_unit: WeightUnitQ = None,
) -> Response:
    """Per period in the person's time zone: n, days with data, mean, min, max, 25th, 50th
    and 75th percentile, and the person's usual range as of the last day."""
    if period not in PERIODS:
        raise ApiError(422, "Invalid request", f"period={period!r} is not one of "
                       f"{', '.join(PERIODS)}", where="query parameter period",
                       fix="use period=day, period=week (weeks start on Monday) or "
                           "period=month")
    d0, d1 = _day(start, "start"), _day(end, "end")
    code = code.strip()
    access.require(Category.SLEEP if code == SLEEP else category_of(code))
    units = _units(request, access, glucose_unit, weight_unit)
    try:
        body = trends(store, person_id, code, period=period, start=d0, end=d1, units=units)
    except InputError as exc:
        raise _invalid(exc) from None
    return _json(_zone_if_shared(body, access))
