"""Scoring the detectors against the synthetic cohort's injected events (ground truth).

For each injected event kind the rules that are meant to find it, and the window in which an
alert counts as finding it, are listed in ``MATCH``. Lead time is measured from the alert to the
event's reference time: the symptom day for an infection, the start otherwise (positive means
the alert came first). An alert of a scored rule that matches no event is a false alert; the
alerts of rules with no injected counterpart (sleep, home BP average, sensor faults ...) are
counted separately as *not scored*, because the generator does not say whether they are right.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hyperhealth.actions.alerts._lifecycle import Alert, AlertBook
from hyperhealth.actions.levels import Level
from hyperhealth.store import Store


@dataclass(frozen=True, slots=True)
class Match:
    rules: tuple[tuple[str, str | None], ...]  # (rule, key or None for any key)
    before: timedelta  # an alert this long before the event start still counts
    after: timedelta  # ... and this long after its end


MATCH: dict[str, Match] = {
    "infection": Match((("rhr-cusum", None), ("night-signal", None)), timedelta(0), timedelta(0)),
    "hypoglycaemia": Match(
        (("glucose", "low"), ("glucose", "urgent-low"), ("glucose", "predicted-low")),
        timedelta(minutes=30),
        timedelta(minutes=30),
    ),
    "hypertensive_crisis": Match((("blood-pressure", "crisis"),), timedelta(0), timedelta(hours=1)),
    "device_gap": Match((("device-silence", None),), timedelta(0), timedelta(hours=1)),
}


def evaluate(store: Store, events: Sequence[Any], *, days: float) -> dict[str, Any]:
    """Sensitivity, lead time, false alert-days per person-month and alerts per person-day."""
    persons = store.persons()
    tz = {p.id: p.tz for p in persons}
    book = AlertBook(store)
    alerts = book.find(status=["open", "acknowledged", "resolved", "suppressed"],
                       limit=1_000_000)
    shown = [a for a in alerts if a.status != "suppressed"]
    by_person: dict[str, list[Alert]] = defaultdict(list)
    for a in shown:
        by_person[a.person_id].append(a)
    scored_rules = {(r, k) for m in MATCH.values() for r, k in m.rules}

    def scored(a: Alert) -> bool:
        return (a.rule, a.key) in scored_rules or (a.rule, None) in scored_rules

    used: set[int] = set()
    kinds: dict[str, dict[str, Any]] = {}
    for kind, m in MATCH.items():
        evs = [e for e in events if e.kind == kind and e.person_id is not None]
        found, leads = 0, []
        for e in evs:
            lo, hi = e.start - m.before, e.end + m.after
            hits = [
                a
                for a in by_person.get(e.person_id, [])
                if any(a.rule == r and (k is None or a.key == k) for r, k in m.rules)
                and lo <= a.opened <= hi
            ]
            for a in hits:
                used.add(a.id)
            if hits:
                found += 1
                ref = (
                    datetime.fromisoformat(e.params["symptom_day"])
                    if kind == "infection" and "symptom_day" in e.params
                    else e.start
                )
                first = min(a.opened for a in hits)
                leads.append((ref - first) / timedelta(hours=1))
        kinds[kind] = {
            "events": len(evs),
            "detected": found,
            "sensitivity": round(found / len(evs), 3) if evs else None,
            "median_lead_hours": round(statistics.median(leads), 2) if leads else None,
        }
    false = [a for a in shown if scored(a) and a.id not in used]
    false_days = {(a.person_id, _local_day(a.opened, tz.get(a.person_id))) for a in false}
    person_months = len(persons) * days / 30.0
    non_urgent: Counter[tuple[str, str]] = Counter(
        (a.person_id, _local_day(a.opened, tz.get(a.person_id)))
        for a in shown
        if a.level < Level.URGENT
    )
    return {
        "persons": len(persons),
        "days": days,
        "by_kind": kinds,
        "false_alerts": len(false),
        "false_alert_days_per_person_month": round(len(false_days) / person_months, 2)
        if person_months
        else None,
        "false_alerts_by_rule": dict(
            Counter(f"{a.rule}:{a.key}" if a.key else a.rule for a in false)
        ),
        "alerts_per_person_day": round(len(shown) / (len(persons) * days), 3)
        if persons and days
        else None,
        "not_scored_by_rule": dict(Counter(a.rule for a in shown if not scored(a))),
        "suppressed_over_budget": sum(1 for a in alerts if a.status == "suppressed"),
        "max_non_urgent_per_person_day": max(non_urgent.values(), default=0),
        "by_level": dict(Counter(a.level.label for a in shown)),
    }


def _local_day(t: datetime, tz: str | None) -> str:
    return t.astimezone(ZoneInfo(tz or "UTC")).date().isoformat()
