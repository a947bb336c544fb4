"""The clinician's triage panel: one row per patient, the most pressing first.

The rows cover the persons whose alerts the caller may see (consent category ``alerts``);
demographics and conditions appear only where the patient shared those categories too. The
consent decisions for the whole panel come from two queries (:func:`visible_categories`), the
same rules as :meth:`ConsentBook.decide` applied to every person at once.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from hyperhealth.actions.advisories._conditions import is_current
from hyperhealth.actions.alerts import Alert, AlertBook
from hyperhealth.actions.levels import Level
from hyperhealth.delivery.api._deps import StoreDep
from hyperhealth.delivery.api._errors import responses
from hyperhealth.delivery.api._guard import AccessDep, Rule, rule
from hyperhealth.model import Condition
from hyperhealth.model.time import age_on
from hyperhealth.security._consent import _categories, _grantee_clause
from hyperhealth.security._model import (
    ALL_CATEGORIES,
    CARE_ROLES,
    Actor,
    Category,
    Purpose,
    Role,
    category_of,
)
from hyperhealth.store import Store
from hyperhealth.store import _schema as t

router = APIRouter(tags=["triage"])

LevelName = Literal["info", "warn", "urgent"]
StatusFilter = Literal["open", "acknowledged", "any-active"]
MAX_LIMIT = 1000
_CHUNK = 1000  # persons per alert query (SQLite's bound-parameter limit is far above)
_ACTIVE_BY_FILTER: dict[str, tuple[str, ...]] = {
    "open": ("open",), "acknowledged": ("acknowledged",), "any-active": ("open", "acknowledged")}


# -- consent for a whole panel ----------------------------------------------------------------
def visible_categories(store: Store, actor: Actor, purpose: Purpose = Purpose.TREATMENT,
                       now_us: int | None = None) -> dict[str, frozenset[Category]]:
    """The categories ``actor`` may read of every person they may see anything of.

    :meth:`ConsentBook.decide` for all persons at once (one query for break-glass, one for
    grants) with the same rules: a patient sees themself; care roles see what active grants
    to them or their teams name, a clinician with active break-glass sees everything of that
    person; emergency purpose only through break-glass; everyone else sees nothing.
    """
    if actor.role is Role.PATIENT:
        return {actor.person_id: ALL_CATEGORIES} if actor.person_id else {}
    if actor.role not in CARE_ROLES:
        return {}
    now = time.time_ns() // 1000 if now_us is None else now_us
    p, c, b = t.persons, t.consents, t.break_glass
    out: dict[str, frozenset[Category]] = {}
    with store.engine.connect() as conn:
        if actor.role is Role.CLINICIAN and purpose is not Purpose.RESEARCH:
            glass = conn.execute(sa.select(p.c.id).join(b, b.c.person_pk == p.c.pk).where(
                b.c.user_pk == actor.user_pk, b.c.start_us <= now, b.c.end_us > now)).scalars()
            out = dict.fromkeys(glass, ALL_CATEGORIES)
        if purpose is Purpose.EMERGENCY:
            return out
        granted: dict[str, set[Category]] = {}
        rows = conn.execute(sa.select(p.c.id, c.c.categories).join(c, c.c.person_pk == p.c.pk)
                            .where(c.c.purpose == purpose.value, c.c.revoked_us.is_(None),
                                   c.c.start_us <= now,
                                   sa.or_(c.c.end_us.is_(None), c.c.end_us > now),
                                   _grantee_clause(actor)))
        for pid, cats in rows:
            if pid not in out:
                granted.setdefault(pid, set()).update(_categories(cats))
    out.update({pid: frozenset(cats) for pid, cats in granted.items() if cats})
    return out


# -- models -----------------------------------------------------------------------------------
class LevelCounts(BaseModel):
    open: int = Field(default=0, description="not yet acknowledged")
    acknowledged: int = 0


class AlertCounts(BaseModel):
    """Active alerts (those the filters keep) by level and status."""

    urgent: LevelCounts = Field(default_factory=LevelCounts)
    warn: LevelCounts = Field(default_factory=LevelCounts)
    info: LevelCounts = Field(default_factory=LevelCounts)
    total: int = 0


class TopAlert(BaseModel):
    """The alert to look at first: highest level, unacknowledged before acknowledged, then
    the one waiting longest."""

    id: int
    rule: str
    title: str
    level: LevelName
    status: Literal["open", "acknowledged"]
    opened: datetime = Field(description="data time of the first finding")
    explanation: str


class TriageRow(BaseModel):
    person_id: str
    age: int | None = Field(description="years; null when unknown or demographics are not "
                                        "shared")
    sex_at_birth: str | None = Field(description="null when demographics are not shared")
    alerts: AlertCounts
    top_alert: TopAlert | None = Field(description="null when no active alert matches")
    last_reading: datetime | None = Field(
        description="time of the newest reading of the categories the caller may see")
    conditions: list[str] | None = Field(
        description="active conditions (display text); null when conditions are not shared")


# -- the route --------------------------------------------------------------------------------
@router.get("/api/triage", response_model=list[TriageRow], responses=responses(422),
            summary="The triage panel: patients by alert priority")
@rule(Rule("staff"))
def triage(
    store: StoreDep,
    access: AccessDep,
    level: Annotated[LevelName | None, Query(
        description="only persons with an active alert of this level or above")] = None,
    status: Annotated[StatusFilter | None, Query(
        description="only persons with an alert of this status (any-active: open or "
                    "acknowledged)")] = None,
    rule_: Annotated[str | None, Query(alias="rule", max_length=64,
                                       description="only alerts of this rule")] = None,
    q: Annotated[str | None, Query(max_length=200, description="text in the person id or in "
                                   "an active condition (case ignored)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="at most this many rows")] = 200,
) -> list[TriageRow]:
    """One row per patient whose alerts the caller may see, most pressing first.

    Order:

    1. patients with an active (open or acknowledged) alert, by the highest level among
       them: urgent, then warn, then info;
    2. at the same level, those with an unacknowledged (open) alert at that level first;
    3. then those with more active alerts at that level;
    4. then the one whose alert at that level has waited longest (earliest first finding;
       open alerts count before acknowledged ones);
    5. patients without active alerts last, the most recent reading first (those with no
       reading at the very end); ties by person id.

    The filters ``level``, ``status`` and ``rule`` choose which alerts count (for the order,
    the counts and the top alert) and list only patients with at least one such alert;
    without them every patient the caller may see is listed. ``q`` keeps patients whose id
    or one of whose active conditions (where shared) contains the text.
    """
    actor = access.user
    visible = visible_categories(store, actor)
    persons = sorted(pid for pid, cats in visible.items() if Category.ALERTS in cats)
    statuses = _ACTIVE_BY_FILTER[status or "any-active"]
    alerts = _active_alerts(store, persons, statuses, Level.parse(level or "info"), rule_)
    filtered = level is not None or status is not None or rule_ is not None
    conditions: dict[str, list[str]] = {}
    if q:
        conditions = _conditions(store, [p for p in persons
                                         if Category.CONDITIONS in visible[p]])
        needle = q.strip().lower()
        persons = [p for p in persons if needle in p.lower()
                   or any(needle in c.lower() for c in conditions.get(p, ()))]
    with_alerts = sorted((p for p in persons if p in alerts),
                         key=lambda p: _alert_priority(p, alerts[p]))[:limit]
    quiet: list[str] = []
    if not filtered and len(with_alerts) < limit:
        quiet = [p for p in persons if p not in alerts]
    latest = _last_readings(store, with_alerts + quiet, visible)
    if quiet:
        quiet = sorted(quiet, key=lambda p: _quiet_priority(p, latest.get(p)))
        quiet = quiet[:limit - len(with_alerts)]
    shown = with_alerts + quiet
    need_conditions = [p for p in shown if Category.CONDITIONS in visible[p]
                       and p not in conditions]
    conditions.update(_conditions(store, need_conditions))
    demo = store.demographics([p for p in shown if Category.DEMOGRAPHICS in visible[p]])
    today = datetime.now(UTC).date()
    rows = []
    for pid in shown:
        born, sex = demo.get(pid, (None, None))
        mine = alerts.get(pid, [])
        rows.append(TriageRow(
            person_id=pid, age=age_on(born, today) if born else None, sex_at_birth=sex,
            alerts=_counts(mine),
            top_alert=_top(mine), last_reading=latest.get(pid),
            conditions=conditions.get(pid, []) if Category.CONDITIONS in visible[pid]
            else None))
    return rows


# -- helpers ----------------------------------------------------------------------------------
def _active_alerts(store: Store, persons: Sequence[str], statuses: Sequence[str],
                   min_level: Level, rule_name: str | None) -> dict[str, list[Alert]]:
    book = AlertBook(store)
    out: dict[str, list[Alert]] = {}
    for i in range(0, len(persons), _CHUNK):
        for a in book.find(status=list(statuses), min_level=min_level, limit=10**9,
                           persons=persons[i:i + _CHUNK]):
            if rule_name is None or a.rule == rule_name:
                out.setdefault(a.person_id, []).append(a)
    return out


def _alert_order(a: Alert) -> tuple[int, int, datetime, int]:
    """Within one person: highest level, open before acknowledged, longest waiting."""
    return (-int(a.level), a.status != "open", a.opened, a.id)


def _alert_priority(pid: str, alerts: list[Alert]) -> tuple[int, int, int, datetime, str]:
    top = min(alerts, key=_alert_order)
    at_level = sum(1 for a in alerts if a.level == top.level)
    return (-int(top.level), int(top.status != "open"), -at_level, top.opened, pid)


def _quiet_priority(pid: str, last: datetime | None) -> tuple[int, float, str]:
    return (1, 0.0, pid) if last is None else (0, -last.timestamp(), pid)


def _top(alerts: list[Alert]) -> TopAlert | None:
    if not alerts:
        return None
    a = min(alerts, key=_alert_order)
    return TopAlert.model_validate({"id": a.id, "rule": a.rule, "title": a.title,
                                    "level": a.level.label, "status": a.status,
                                    "opened": a.opened, "explanation": a.explanation})


def _counts(alerts: Iterable[Alert]) -> AlertCounts:
    counts = AlertCounts()
    for a in alerts:
        by_level: LevelCounts = getattr(counts, a.level.label)
        if a.status == "open":
            by_level.open += 1
        else:
            by_level.acknowledged += 1
        counts.total += 1
    return counts


def _last_readings(store: Store, persons: Sequence[str],
                   visible: dict[str, frozenset[Category]]) -> dict[str, datetime]:
    """The newest reading of each person among the codes whose category the caller may see."""
    out: dict[str, datetime] = {}
    for pid, by_code in store.latest_times(persons).items():
        seen = [ts for code, ts in by_code.items() if category_of(code) in visible[pid]]
        if seen:
            out[pid] = max(seen)
    return out


def _conditions(store: Store, persons: Sequence[str]) -> dict[str, list[str]]:
    now = datetime.now(UTC)
    out: dict[str, list[str]] = {}
    for pid, items in store.conditions_of(persons).items():
        out[pid] = list(dict.fromkeys(_name(c) for c in items if is_current(c, now)))
    return out


def _name(c: Condition) -> str:
    return c.display or c.code
