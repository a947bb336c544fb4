"""Response models of the API (they are also the OpenAPI schema at ``/docs``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from hyperhealth.model import METRICS, Person
from hyperhealth.store import StreamInfo


class PersonSummary(BaseModel):
    id: str = Field(description="pseudonymous person id")
    birth_date: date | None
    sex_at_birth: str = Field(description="FHIR administrative gender code")
    tz: str = Field(description="IANA time zone used for the person's local days")
    streams: int = Field(description="number of distinct observation codes stored")


class Stream(BaseModel):
    code: str
    system: str
    display: str = Field(description="the code's name, where the project knows it")
    unit: str = Field(description="canonical UCUM unit")
    count: int
    first: datetime
    last: datetime

    @classmethod
    def of(cls, s: StreamInfo) -> Stream:
        m = METRICS.get(s.code)
        return cls(code=s.code, system=s.system, display=m.display if m else s.code,
                   unit=s.unit, count=s.count, first=s.first, last=s.last)


class PersonDetail(BaseModel):
    id: str
    birth_date: date | None
    sex_at_birth: str
    race: str
    ethnicity: str
    tz: str
    deceased: datetime | None
    has_home_location: bool = Field(description="whether a home location is stored (the "
                                                "coordinates are not served)")
    links: list[tuple[str, str]] = Field(description="(source, external id) pairs")
    streams: list[Stream]

    @classmethod
    def of(cls, p: Person, links: list[tuple[str, str]], streams: list[StreamInfo]
           ) -> PersonDetail:
        return cls(id=p.id, birth_date=p.birth_date, sex_at_birth=p.sex_at_birth, race=p.race,
                   ethnicity=p.ethnicity, tz=p.tz, deceased=p.deceased,
                   has_home_location=p.home is not None, links=links,
                   streams=[Stream.of(s) for s in streams])


class SeriesPoints(BaseModel):
    """Columns of equal length. For bucket means, ``t`` is the bucket's midpoint."""

    t: list[datetime]
    value: list[float] = Field(description="the reading, or the mean of the bucket")
    min: list[float]
    max: list[float]
    n: list[int] = Field(description="readings in the bucket (1 for raw points)")


class SeriesOut(BaseModel):
    person_id: str
    code: str
    display: str
    unit: str
    start: datetime | None = Field(description="window start (inclusive) as requested")
    end: datetime | None = Field(description="window end (exclusive) as requested")
    kind: Literal["raw", "bucket_mean"] = Field(
        description="raw readings, or means over equal time buckets (server-side downsampling)")
    bucket_seconds: float | None = Field(description="bucket width when kind is bucket_mean")
    max_points: int
    readings: int = Field(description="readings in the window (sum of n)")
    points: SeriesPoints


class ProfileOut(BaseModel):
    """The person's profile as built by ``hyperhealth.insights.profile``."""

    model_config = {"extra": "allow"}


class IngestOut(BaseModel):
    """The ingest report (see ``docs/formats.md``, section API)."""

    model_config = {"extra": "allow"}
    path: str = ""
    format: str = ""
    persons: list[str] = Field(default_factory=list)
    read: dict[str, int] = Field(default_factory=dict)
    added: dict[str, int] = Field(default_factory=dict)
    rejects: list[dict[str, Any]] = Field(default_factory=list)
    error: str = ""
    outcome: Literal["stored", "partial", "rejected"] = Field(
        description="stored: nothing was rejected (200); partial: some records were rejected "
                    "(207); rejected: nothing could be stored (422)")
    summary: str = Field(default="",
                         description="the outcome in words, with what to do about rejects")


class Health(BaseModel):
    status: Literal["ok"]
    store: str = Field(description="the store's backend (sqlite or postgresql)")
    persons: int
