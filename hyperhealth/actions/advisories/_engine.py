"""Run every environment rule for one person: a pure function, and one over the store."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from hyperhealth.actions.advisories import _air, _cold, _heat, _pollen, _uv
from hyperhealth.actions.advisories._advisory import (
    METHOD,
    SUPPORT_NOTE,
    VERSION,
    Advisory,
    _jsonable,
)
from hyperhealth.actions.advisories._common import RuleResult
from hyperhealth.actions.advisories._context import PersonContext, _zone, build_context
from hyperhealth.actions.advisories._environment import describe
from hyperhealth.actions.levels import Level
from hyperhealth.errors import InputError
from hyperhealth.insights.exposure import CurrentEnvironment, current_environment
from hyperhealth.model import Allergy, Condition, LifestyleEvent, Medication, Person
from hyperhealth.store import Store

Rule = Callable[[PersonContext, CurrentEnvironment | None], RuleResult]
#: the rules, in the order their advisories are listed at equal level
RULES: dict[str, Rule] = {_air.RULE: _air.check, _heat.RULE: _heat.check,
                          _cold.RULE: _cold.check, _pollen.RULE: _pollen.check,
                          _uv.RULE: _uv.check}
NO_DATA_RULE = "environment-data"


@dataclass(frozen=True, slots=True)
class AdvisoryReport:
    """All advisories for one person at one time, and which hazards could not be checked."""

    person_id: str
    at: datetime
    advisories: tuple[Advisory, ...]
    not_checked: dict[str, str] = field(default_factory=dict)  # rule -> why not
    person_missing: tuple[str, ...] = ()  # person inputs that were not available
    environment: dict[str, Any] = field(default_factory=dict)  # where and what was used

    def to_dict(self) -> dict[str, Any]:
        return {"person_id": self.person_id, "at": self.at.isoformat(),
                "advisories": [a.to_dict() for a in self.advisories],
                "not_checked": dict(self.not_checked),
                "person_missing": list(self.person_missing),
                "environment": _jsonable(self.environment), "method": f"{METHOD}/{VERSION}",
                "note": SUPPORT_NOTE}


def _utc(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise InputError(f"time {now.isoformat()} has no time zone", field="now",
                         hint="pass a timezone-aware datetime (UTC)")
    return now.astimezone(UTC)


def assess(person: Person, conditions: Sequence[Condition], medications: Sequence[Medication],
           environment: CurrentEnvironment | None, planned_activities: Iterable[LifestyleEvent],
           now: datetime, *, allergies: Sequence[Allergy] = ()) -> AdvisoryReport:
    """Every rule for ``person`` at ``now``; see :func:`advisories_for`."""
    now = _utc(now)
    if person.deceased is not None and person.deceased <= now:
        why = "the person is recorded as deceased"
        return AdvisoryReport(person.id, now, (), dict.fromkeys(RULES, why), (),
                              _env_summary(environment))
    ctx = build_context(person, conditions, medications, planned_activities, now, allergies)
    if environment is None or not environment.values:
        why = ("No home location or location history is recorded, so no environmental "
               "readings could be linked to you." if environment is None
               or environment.location is None else
               "No environmental monitor with readings in the last 24 hours is close enough "
               "to where you are.")
        adv = Advisory(person.id, NO_DATA_RULE, VERSION, Level.INFO, now,
                       "No environmental data for your location",
                       "Air quality, heat, cold, pollen and UV could not be checked for you, so "
                       "no advice about them is given. This does not mean conditions are safe.",
                       (why,), {"location": _location(environment)}, "", tuple(ctx.missing))
        return AdvisoryReport(person.id, now, (adv,), dict.fromkeys(RULES, why),
                              tuple(ctx.missing), _env_summary(environment))
    out: list[Advisory] = []
    not_checked: dict[str, str] = {}
    for name, rule in RULES.items():
        res = rule(ctx, environment)
        if res.advisory is not None:
            out.append(res.advisory)
        elif res.unchecked:
            not_checked[name] = res.unchecked
    order = list(RULES)
    out.sort(key=lambda a: (-a.level, order.index(a.rule) if a.rule in order else 99))
    return AdvisoryReport(person.id, now, tuple(out), not_checked, tuple(ctx.missing),
                          _env_summary(environment))


def advisories_for(person: Person, conditions: Sequence[Condition],
                   medications: Sequence[Medication], environment: CurrentEnvironment | None,
                   planned_activities: Iterable[LifestyleEvent], now: datetime, *,
                   allergies: Sequence[Allergy] = ()) -> list[Advisory]:
    """The advisories that apply to ``person`` at ``now``, most urgent first.

    ``environment`` is what :func:`hyperhealth.insights.exposure.current_environment` returns
    (``None`` or empty: one INFO advisory says nothing could be checked); ``planned_activities``
    are lifestyle events (exercise today that has not ended is used); ``allergies`` are used for
    pollen. Pure: reads nothing else and writes nothing.

    >>> from datetime import UTC
    >>> from hyperhealth.actions.advisories import environment_from_values
    >>> now = datetime(2024, 7, 3, 20, tzinfo=UTC)
    >>> env = environment_from_values(now, {"pm25": 185.0})
    >>> [(a.rule, a.level.label) for a in advisories_for(Person("p"), [], [], env, [], now)]
    [('air-quality', 'warn')]
    """
    return list(assess(person, conditions, medications, environment, planned_activities, now,
                       allergies=allergies).advisories)


def assess_person(store: Store, person_id: str, now: datetime | None = None) -> AdvisoryReport:
    """:func:`assess` with everything read from the store: records, today's activities and the
    environment near the person at ``now`` (default: the current time)."""
    now = _utc(now) if now is not None else datetime.now(UTC)
    person = store.person(person_id)
    env = current_environment(store, person_id, now)
    tz = _zone(person.tz)
    day_start = datetime.combine(now.astimezone(tz).date(), time(0), tz)
    events = store.lifestyle_events(person_id, day_start, day_start + timedelta(days=1))
    return assess(person, store.conditions(person_id), store.medications(person_id), env,
                  events, now, allergies=store.allergies(person_id))


def advisories_for_person(store: Store, person_id: str,
                          now: datetime | None = None) -> list[Advisory]:
    """:func:`advisories_for` over the store (see :func:`assess_person`)."""
    return list(assess_person(store, person_id, now).advisories)


def _location(env: CurrentEnvironment | None) -> dict[str, Any] | None:
    if env is None or env.location is None:
        return None
    loc = env.location
    return {"label": loc.label, "lat": loc.lat, "lon": loc.lon, "basis": env.basis}


def _env_summary(env: CurrentEnvironment | None) -> dict[str, Any]:
    if env is None:
        return {}
    return {"at": env.at.isoformat(), "location": _location(env),
            "readings": {c: describe(p) for c, p in sorted(env.values.items())}}
