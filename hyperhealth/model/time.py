"""Time helpers: UTC microseconds for series, ISO-8601 text that keeps FHIR's precision.

>>> from datetime import datetime, timezone
>>> t = datetime(2020, 3, 10, 12, 0, tzinfo=timezone.utc)
>>> from_us(to_us(t)) == t
True
>>> parse_when("2012-03-14")
datetime.date(2012, 3, 14)
>>> parse_when("2012-03-14T09:46:47-04:00")
datetime.datetime(2012, 3, 14, 13, 46, 47, tzinfo=datetime.timezone.utc)
>>> when_text(parse_when("2012-03-14T09:46:47-04:00"))
'2012-03-14T13:46:47+00:00'
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hyperhealth.errors import InputError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_us(t: datetime) -> int:
    """Microseconds since the epoch for an aware datetime."""
    if t.tzinfo is None:
        raise InputError("time has no time zone", field="time",
                         hint="give an offset (e.g. +00:00) or the person's time zone")
    return (t - EPOCH) // _US


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def utc(t: datetime, tz: str | None = None) -> datetime:
    """Make ``t`` aware in UTC; a naive ``t`` is read as wall-clock time in ``tz``."""
    if t.tzinfo is None:
        if tz is None:
            raise InputError("time has no time zone", field="time",
                             hint="give an offset or the person's time zone (--tz)")
        t = t.replace(tzinfo=ZoneInfo(tz))
    return t.astimezone(UTC)


def parse_when(text: str) -> datetime | date:
    """Parse an ISO-8601 date or date-time; a date-time becomes UTC, a date stays a date."""
    s = text.strip()
    if len(s) == 10:
        return date.fromisoformat(s)
    if len(s) in (4, 7):  # FHIR partial dates (YYYY, YYYY-MM): keep the first day
        return date.fromisoformat(s + "-01-01"[len(s) - 4:])
    dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise InputError(f"date-time {text!r} has no time zone", field="time",
                         hint="FHIR dateTime values with a time need an offset")
    return dt.astimezone(UTC)


def when_text(value: datetime | date | None) -> str:
    """ISO-8601 text for storage (a datetime in UTC, a date as YYYY-MM-DD)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return utc(value).isoformat()
    return value.isoformat()


def when_value(text: str | None) -> datetime | date | None:
    return parse_when(text) if text else None


def age_on(birth: date, day: date) -> int:
    """Completed years on ``day``.

    >>> age_on(date(2000, 7, 2), date(2024, 7, 1)), age_on(date(2000, 7, 1), date(2024, 7, 1))
    (23, 24)
    >>> age_on(date(1934, 6, 2), date(2024, 6, 1)), age_on(date(1934, 6, 2), date(2024, 6, 2))
    (89, 90)
    """
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
