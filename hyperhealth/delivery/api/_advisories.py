"""Environment advisories for one person: air quality, heat, cold, pollen and UV."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from hyperhealth.delivery.api._deps import StoreDep, parse_time
from hyperhealth.delivery.api._errors import responses
from hyperhealth.delivery.api._guard import Rule, rule
from hyperhealth.security._model import Category

router = APIRouter(prefix="/api/persons", tags=["advisories"])


class AdvisoryOut(BaseModel):
    person_id: str
    rule: str = Field(description="air-quality, heat, cold, pollen, uv or environment-data")
    rule_version: str
    level: str = Field(description="info (when convenient), warn (today) or urgent (now)")
    time: datetime = Field(description="the moment the advice is for")
    title: str
    text: str = Field(description="what to do, in plain words")
    why: list[str] = Field(description="why it applies to this person: conditions, medicines, "
                                       "age, planned activity and the measurement behind it")
    evidence: dict[str, Any] = Field(description="values, category, thresholds, where and when "
                                                 "measured")
    citation: str = Field(description="the source of the thresholds and groups")
    missing: list[str] = Field(description="inputs that were not available, and what that "
                                           "means for the advice")
    key: str
    note: str = Field(description="the advice supports, and does not replace, a clinician's")
    method: str


class AdvisoriesOut(BaseModel):
    person_id: str
    at: datetime
    advisories: list[AdvisoryOut] = Field(description="most urgent first")
    not_checked: dict[str, str] = Field(description="rule -> why it could not be checked "
                                                    "(for example no UV readings nearby)")
    person_missing: list[str] = Field(description="facts about the person that were not "
                                                  "recorded (for example the birth date)")
    environment: dict[str, Any] = Field(description="the place used and the readings near it")
    method: str
    note: str


@router.get("/{person_id}/advisories", response_model=AdvisoriesOut,
            responses=responses(404, 422), summary="A person's environment advisories")
@rule(Rule("person", (Category.ALERTS,)))
def get_advisories(
    person_id: str, store: StoreDep,
    at: Annotated[str | None, Query(description="the moment to advise for, ISO-8601 with an "
                                                "offset (e.g. 2024-07-03T15:00:00Z); default "
                                                "now")] = None,
) -> dict[str, Any]:
    """Advice from the environment near the person (latest readings in the 24 hours before
    ``at``), made personal by their conditions, medicines, age and activity planned for that
    day. Each advisory says why it applies and what was missing."""
    from hyperhealth.actions.advisories import assess_person

    t = parse_time(at, "at")
    store.person(person_id)  # a clear 404 before any work
    return assess_person(store, person_id, t).to_dict()
