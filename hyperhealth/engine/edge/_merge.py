"""On the server: alerts an edge agent raised, merged with what the server's own engine derives.

An edge runs the server's urgent rules on the same readings, so the server's engine will find
the same ``(person, rule, key)`` condition once the edge forwards the readings. Each alert
request from an edge is therefore applied through :meth:`AlertBook.apply` — the lifecycle that
de-duplicates per person, rule and key — unless the server already holds that episode:

* an active alert (open, acknowledged or suppressed) of the same person, rule and key that was
  last seen at or after the edge's finding: the edge's request adds nothing (``merged``);
* a resolved alert of the same person, rule and key whose span covers the finding's time: the
  server derived and resolved that episode before the edge's request arrived (``merged``).

Otherwise the request is applied (``applied``): it opens the alert, or updates an active one.
The edge forwards an alert before the readings that raised it, so normally it opens the alert
and the server's engine later merges into it when the readings arrive.

Each request carries an idempotency key, claimed in the store's ledger of received message ids
(``ingest_messages``, sender ``edge-alerts/<edge id>``) in the same transaction as the alert
change: a request sent again after a lost answer is a no-op (``duplicate``). Every request that
is not a duplicate leaves an ``edge-raised`` event in the alert's history.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from hyperhealth.actions.alerts._lifecycle import ACTIVE, AlertBook
from hyperhealth.actions.alerts._registry import RULES
from hyperhealth.actions.alerts._request import AlertRequest
from hyperhealth.actions.levels import Level
from hyperhealth.model.time import to_us
from hyperhealth.store import Store
from hyperhealth.store import _schema as S

#: sender name under which edge alert keys are claimed (``ingest_messages.device``)
SENDER = "edge-alerts/{edge}"


@dataclass(frozen=True, slots=True)
class EdgeAlert:
    """One alert request from an edge (the body of ``POST /api/edge/alerts`` items)."""

    id: str  # idempotency key
    person: str
    rule: str
    rule_version: str
    level: Level
    time: datetime  # data time of the finding
    title: str
    explanation: str
    key: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    citation: str = ""
    raised: datetime | None = None  # wall time the edge raised it


@dataclass(frozen=True, slots=True)
class EdgeAlertResult:
    id: str
    outcome: str  # applied, merged, duplicate, refused
    alert_id: int | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "outcome": self.outcome, "alert_id": self.alert_id,
                "reason": self.reason}


def apply_edge_alerts(store: Store, edge_id: str, alerts: Sequence[EdgeAlert], *,
                      book: AlertBook | None = None,
                      now_us: int | None = None) -> list[EdgeAlertResult]:
    """Apply an edge's alert requests in one transaction; one result per request, in order."""
    book = book or AlertBook(store)
    now = time.time_ns() // 1000 if now_us is None else now_us
    sender = SENDER.format(edge=edge_id)
    results: list[EdgeAlertResult] = []
    with store.transaction() as w:
        conn = w.conn
        for a in alerts:
            problem = _problem(a)
            person = None if problem else _person(conn, a.person)
            if problem or person is None:
                results.append(EdgeAlertResult(
                    a.id, "refused", reason=problem or f"no person {a.person!r} on the server"))
                continue
            pk, tz = person
            t = to_us(a.time)
            if not w.claim_message(sender, a.id, 0):
                results.append(EdgeAlertResult(a.id, "duplicate",
                                               _find(conn, pk, a.rule, a.key, t)))
                continue
            alert_pk = _known(conn, pk, a.rule, a.key, t)
            outcome = "merged"
            if alert_pk is None:
                book.apply(conn, [_request(a, edge_id)], {a.person: tz}, now)
                outcome, alert_pk = "applied", _find(conn, pk, a.rule, a.key, t)
            if alert_pk is not None:
                conn.execute(sa.insert(S.alert_events).values(
                    alert_pk=alert_pk, at_us=now, actor=f"edge:{edge_id}"[:200],
                    action="edge-raised",
                    detail={"idempotency_key": a.id, "outcome": outcome,
                            "raised": a.raised.isoformat() if a.raised else None,
                            "time": a.time.isoformat()}))
            results.append(EdgeAlertResult(a.id, outcome, alert_pk))
    return results


def _problem(a: EdgeAlert) -> str:
    if a.rule not in RULES:
        return f"unknown rule {a.rule!r}; this server runs: {', '.join(sorted(RULES))}"
    if a.time.tzinfo is None:
        return "the alert time has no offset"
    return ""


def _request(a: EdgeAlert, edge_id: str) -> AlertRequest:
    evidence = {**a.evidence, "raised_at_edge": {
        "edge": edge_id, "at": a.raised.isoformat() if a.raised else None}}
    return AlertRequest(person_id=a.person, rule=a.rule, rule_version=a.rule_version,
                        level=a.level, time=a.time, title=a.title, explanation=a.explanation,
                        key=a.key, evidence=evidence, citation=a.citation)


def _person(conn: sa.Connection, person_id: str) -> tuple[int, str] | None:
    """The person's store key and time zone."""
    p = S.persons
    row = conn.execute(sa.select(p.c.pk, p.c.tz).where(p.c.id == person_id)).first()
    return None if row is None else (int(row[0]), row[1] or "UTC")


def _known(conn: sa.Connection, pk: int, rule: str, key: str, t: int) -> int | None:
    """The alert that already holds the episode of a finding at ``t``, if any."""
    a = S.alerts
    same = (a.c.person_pk == pk, a.c.rule == rule, a.c.key == key)
    active = conn.execute(sa.select(a.c.pk, a.c.last_seen_us).where(
        *same, a.c.status.in_([*ACTIVE, "suppressed"])).order_by(a.c.pk.desc()).limit(1)).first()
    if active is not None:
        return int(active[0]) if int(active[1]) >= t else None
    row = conn.execute(sa.select(a.c.pk).where(
        *same, a.c.status == "resolved", a.c.opened_us <= t, a.c.resolved_us >= t)
        .order_by(a.c.pk.desc()).limit(1)).first()
    return None if row is None else int(row[0])


def _find(conn: sa.Connection, pk: int, rule: str, key: str, t: int) -> int | None:
    """The alert of the same person, rule and key that a finding at ``t`` belongs to: the one
    whose span covers ``t``, else the active one, else the newest opened before ``t``."""
    a = S.alerts
    same = (a.c.person_pk == pk, a.c.rule == rule, a.c.key == key)
    newest = (a.c.pk.desc(),)
    for cond in ((a.c.opened_us <= t, sa.or_(a.c.resolved_us.is_(None), a.c.resolved_us >= t)),
                 (a.c.status.in_([*ACTIVE, "suppressed"]),),
                 (a.c.opened_us <= t,)):
        row = conn.execute(sa.select(a.c.pk).where(*same, *cond).order_by(*newest).limit(1)
                           ).first()
        if row is not None:
            return int(row[0])
    return None
