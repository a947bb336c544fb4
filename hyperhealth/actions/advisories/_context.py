"""What the rules need to know about one person at one moment, each fact with its source.

Age groups: children are people under 18 and older adults people aged 65 or more, the ages the
US EPA uses for its at-risk groups (EPA Integrated Science Assessments for particulate matter,
2009, and ozone, 2013, as tabulated in Table 2 of doi:10.1002/wmh3.257). CDC's heat guidance
names "infants and children" and "adults over age 65"; the same ages are used there.

Planned activity: exercise events (``LifestyleKind.EXERCISE``) on the person's local calendar day
that have not yet ended. An event may say where it takes place in ``details["setting"]``
(``outdoor``/``indoor``); when it does not, the advice says so ("if it is outdoors").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from hyperhealth.actions.advisories._conditions import GroupReason, groups_of, pollen_allergies
from hyperhealth.actions.advisories._medications import HeatDrug, heat_drugs, risky_combination
from hyperhealth.model import Allergy, Condition, LifestyleEvent, LifestyleKind, Medication, Person
from hyperhealth.model.time import age_on

CHILD_UNDER = 18
OLDER_FROM = 65
AGE_CITATION = ("US EPA Integrated Science Assessments (PM 2009, ozone 2013): at-risk children "
                "< 18 y and older adults >= 65 y (tabulated in World Med Health Policy "
                "2018;10:7-54, doi:10.1002/wmh3.257, Table 2)")


@dataclass(frozen=True, slots=True)
class Activity:
    """An exercise session still to come (or under way) today."""

    activity: str
    start: datetime
    end: datetime | None
    intensity: str
    setting: str  # "outdoor", "indoor" or "" (not recorded)

    def _when(self, tz: ZoneInfo) -> str:
        when = self.start.astimezone(tz).strftime("%H:%M")
        if self.end is not None:
            when += "-" + self.end.astimezone(tz).strftime("%H:%M")
        return when

    def label(self, tz: ZoneInfo) -> str:
        """'run at 18:00-18:40' (local time)."""
        return f"{self.activity or 'exercise'} at {self._when(tz)}"

    def describe(self, tz: ZoneInfo) -> str:
        """'run today 18:00-18:40 (setting not recorded, vigorous)'."""
        when = self._when(tz)
        where = {"outdoor": "outdoors", "indoor": "indoors"}.get(self.setting,
                                                                   "setting not recorded")
        how = f", {self.intensity}" if self.intensity else ""
        return f"{self.activity or 'exercise'} today {when} ({where}{how})"


@dataclass(frozen=True, slots=True)
class PersonContext:
    person: Person
    now: datetime
    age: int | None
    groups: dict[str, list[GroupReason]]
    drugs: list[HeatDrug]
    pollen_allergies: list[tuple[str | None, str]]
    activities: list[Activity]
    missing: list[str] = field(default_factory=list)

    @property
    def tz(self) -> ZoneInfo:
        return _zone(self.person.tz)

    @property
    def child(self) -> bool | None:
        return None if self.age is None else self.age < CHILD_UNDER

    @property
    def older(self) -> bool | None:
        return None if self.age is None else self.age >= OLDER_FROM

    @property
    def outdoor_activities(self) -> list[Activity]:
        """Activities that are, or may be, outdoors (indoor ones are left out)."""
        return [a for a in self.activities if a.setting != "indoor"]

    @property
    def risky_drug_combination(self) -> bool:
        return risky_combination(self.drugs)

    def age_text(self) -> str:
        return f"you are {self.age}" if self.age is not None else "your age is not recorded"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def _setting(e: LifestyleEvent) -> str:
    raw = str(e.details.get("setting", "")).strip().lower()
    if raw in ("outdoor", "outdoors", "outside"):
        return "outdoor"
    if raw in ("indoor", "indoors", "inside"):
        return "indoor"
    return ""


def todays_activities(events: Iterable[LifestyleEvent], now: datetime, tz: ZoneInfo
                      ) -> list[Activity]:
    """Exercise on the person's local day of ``now`` that has not ended by ``now``."""
    local_day = now.astimezone(tz).date()
    day_start = datetime.combine(local_day, time(0), tz)
    day_end = day_start + timedelta(days=1)
    out = []
    for e in events:
        if e.kind != LifestyleKind.EXERCISE:
            continue
        finish = e.end if e.end is not None else e.start
        if not (day_start <= e.start < day_end) or finish < now:
            continue
        out.append(Activity(str(e.details.get("activity", "")).replace("_", " "), e.start, e.end,
                            str(e.details.get("intensity", "")), _setting(e)))
    return sorted(out, key=lambda a: a.start)


def build_context(person: Person, conditions: Sequence[Condition],
                  medications: Sequence[Medication], planned_activities: Iterable[LifestyleEvent],
                  now: datetime, allergies: Sequence[Allergy] = ()) -> PersonContext:
    tz = _zone(person.tz)
    missing = []
    age = None
    if person.birth_date is None:
        missing.append("birth date not recorded, so age-related risk (children, older adults) "
                       "could not be checked")
    else:
        age = age_on(person.birth_date, now.astimezone(tz).date())
    return PersonContext(person, now, age, groups_of(conditions, now),
                         heat_drugs(medications, now), pollen_allergies(allergies, now),
                         todays_activities(planned_activities, now, tz), missing)
