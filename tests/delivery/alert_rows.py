"""Real alert rows for delivery tests: a person, and findings applied by the real AlertBook."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from hyperhealth.actions.alerts import AlertBook, AlertRequest
from hyperhealth.actions.levels import Level
from hyperhealth.model import Person
from hyperhealth.store import Store

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def now_us() -> int:
    return time.time_ns() // 1000


def add_person(store: Store, pid: str, tz: str = "UTC") -> None:
    with store.transaction() as w:
        w.upsert_person(Person(pid, tz=tz))


def raise_alert(
    store: Store,
    pid: str,
    *,
    level: Level = Level.URGENT,
    rule: str = "spo2",
    key: str = "low",
    minutes: int = 0,
    title: str = "Low blood oxygen",
    explanation: str = "SpO2 stayed below the threshold for 10 minutes.",
    evidence: dict[str, Any] | None = None,
    citation: str = "test citation",
    at_us: int | None = None,
) -> int:
    """Apply one finding in a transaction (as the engine does) and return the alert's id."""
    book = AlertBook(store)
    req = AlertRequest(
        person_id=pid, rule=rule, rule_version="1", level=level,
        time=T0 + timedelta(minutes=minutes), title=title, explanation=explanation, key=key,
        evidence=evidence if evidence is not None else {"spo2_pct": 86.0, "threshold_pct": 88},
        citation=citation)
    with store.transaction() as w:
        book.apply(w.conn, [req], {}, now_us() if at_us is None else at_us)
    found = [a for a in book.find(pid, status=["open", "acknowledged", "suppressed"])
             if a.rule == rule and a.key == key]
    assert found, "the finding did not open an alert"
    return found[0].id
