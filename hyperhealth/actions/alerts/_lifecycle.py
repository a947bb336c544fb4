"""The alert lifecycle: open -> acknowledged -> resolved, with de-duplication, a daily budget,
snooze, escalation and an outbox of notifications.

Every change happens inside the caller's transaction together with the notifications it causes
(the outbox, delivered by :mod:`hyperhealth.delivery.notify`), so a crash can neither lose nor
duplicate a notification. Times of findings are *data* times, which makes replaying history
produce the same alerts as living through it; acknowledgements, snoozes and escalation use the
wall clock.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import orjson
import sqlalchemy as sa

from hyperhealth.actions.alerts._request import AlertRequest
from hyperhealth.actions.alerts._rule import MINUTE_US, Clear
from hyperhealth.actions.levels import Level
from hyperhealth.errors import InputError, NotFound
from hyperhealth.model.time import from_us, to_us
from hyperhealth.store import Store
from hyperhealth.store import _bulk as bulk
from hyperhealth.store import _schema as S

ACTIVE = ("open", "acknowledged")
STATUSES = ("open", "acknowledged", "resolved", "suppressed")


def alert_topic(person_id: str) -> str:
    """The MQTT topic a person's alerts are published to.

    >>> alert_topic("p-1")
    'hyperhealth/p-1/alerts'
    """
    return f"hyperhealth/{person_id}/alerts"


@dataclass(frozen=True, slots=True)
class Policy:
    """How the lifecycle limits noise. These are product settings, not clinical thresholds."""

    daily_budget: int = 5  # non-urgent alerts per person per local day; more are suppressed
    repeat_minutes: Mapping[Level, int] = field(
        default_factory=lambda: {Level.URGENT: 30, Level.WARN: 240, Level.INFO: 1440}
    )
    renotify_minutes: int = 15  # an unacknowledged urgent alert is sent again after this
    care_team_minutes: int = 30  # ... and to the care team after this


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    person_id: str
    rule: str
    key: str
    rule_version: str
    level: Level
    status: str
    title: str
    explanation: str
    evidence: Mapping[str, Any]
    citation: str
    opened: datetime
    last_seen: datetime
    resolved: datetime | None
    acknowledged_by: str | None
    acknowledged: datetime | None
    notifications: int
    escalation: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "person_id": self.person_id,
            "rule": self.rule,
            "key": self.key,
            "rule_version": self.rule_version,
            "level": self.level.label,
            "status": self.status,
            "title": self.title,
            "explanation": self.explanation,
            "evidence": dict(self.evidence),
            "citation": self.citation,
            "opened": self.opened.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "resolved": self.resolved.isoformat() if self.resolved else None,
            "acknowledged_by": self.acknowledged_by,
            "acknowledged": self.acknowledged.isoformat() if self.acknowledged else None,
            "notifications": self.notifications,
            "escalation": self.escalation,
        }


@dataclass(slots=True)
class ApplyStats:
    opened: int = 0
    updated: int = 0
    suppressed: int = 0
    resolved: int = 0
    notifications: int = 0

    def add(self, other: ApplyStats) -> None:
        for k in ("opened", "updated", "suppressed", "resolved", "notifications"):
            setattr(self, k, getattr(self, k) + getattr(other, k))


class AlertBook:
    """Alerts of all persons in one store."""

    def __init__(self, store: Store, policy: Policy | None = None) -> None:
        self.store = store
        self.policy = policy or Policy()

    # -- findings from the engine ------------------------------------------------------------
    def apply(
        self,
        conn: sa.Connection,
        findings: Sequence[AlertRequest | Clear],
        tz_of: Mapping[str, str],
        now_us: int,
    ) -> ApplyStats:
        """Turn rule findings into alert changes and notifications (in ``conn``'s transaction).

        The active alerts, snoozes and webhooks of the batch's persons are read once, and the
        updates, events and notifications are written in bulk at the end, so a live batch costs
        a few statements plus one insert per new alert, not a dozen per finding."""
        run = _Findings(self, conn, {f.person_id for f in findings}, now_us)
        for f in sorted(findings, key=lambda f: f.time):
            if isinstance(f, Clear):
                run.clear(f)
            else:
                run.request(f, tz_of.get(f.person_id))
        run.flush()
        return run.stats

    def _spent(self, conn: sa.Connection, pk: int, t: datetime, tz: str | None) -> bool:
        """Has the person had ``daily_budget`` non-urgent alerts on the local day of ``t``?"""
        local = t.astimezone(ZoneInfo(tz or "UTC"))
        day0 = local.replace(hour=0, minute=0, second=0, microsecond=0)
        a = S.alerts
        n = conn.execute(
            sa.select(sa.func.count()).where(
                a.c.person_pk == pk,
                a.c.level < int(Level.URGENT),
                a.c.status != "suppressed",
                a.c.opened_us >= to_us(day0),
                a.c.opened_us < to_us(day0 + timedelta(days=1)),
            )
        ).scalar_one()
        return int(n) >= self.policy.daily_budget

    def _notify(
        self, conn: sa.Connection, alert_pk: int, reason: str, now_us: int, care_team: bool = False
    ) -> int:
        """Queue the alert's current state for MQTT and each matching webhook."""
        alert = self._get(conn, alert_pk)
        pk = self.store._pk(conn, alert.person_id)
        hooks = conn.execute(_hooks(S.webhooks.c.person_pk == pk)).all()
        rows = _notifications(alert.to_dict(), pk, reason, now_us, hooks, care_team)
        if rows:
            conn.execute(sa.insert(S.notifications), rows)
        return len(rows)

    def _resolve(
        self,
        conn: sa.Connection,
        row: Any,
        t_us: int,
        actor: str,
        action: str,
        detail: dict[str, Any],
        now_us: int,
    ) -> None:
        conn.execute(
            sa.update(S.alerts)
            .where(S.alerts.c.pk == row["pk"])
            .values(status="resolved", resolved_us=t_us)
        )
        _event(conn, row["pk"], now_us, actor, action, detail)

    # -- people acting on alerts -------------------------------------------------------------
    def find(
        self,
        person_id: str | None = None,
        *,
        status: Sequence[str] | None = None,
        min_level: Level = Level.INFO,
        limit: int = 200,
        persons: Sequence[str] | None = None,
    ) -> list[Alert]:
        """Newest first. ``status`` defaults to the active ones (open, acknowledged);
        ``persons`` limits the list to these person ids (those a caller may see)."""
        for s in status or ():
            if s not in STATUSES:
                raise InputError(
                    f"unknown alert status {s!r}",
                    field="status",
                    hint=f"use one of: {', '.join(STATUSES)}",
                )
        a = S.alerts
        q = _select().where(a.c.status.in_(list(status or ACTIVE)), a.c.level >= int(min_level))
        with self.store.engine.connect() as conn:
            if person_id is not None:
                q = q.where(a.c.person_pk == self.store._pk(conn, person_id))
            if persons is not None:
                q = q.where(a.c.person_pk.in_(
                    sa.select(S.persons.c.pk).where(S.persons.c.id.in_(list(persons)))))
            q = q.order_by(a.c.level.desc(), a.c.last_seen_us.desc()).limit(limit)
            return [_alert(r) for r in conn.execute(q).mappings()]

    def get(self, alert_id: int) -> Alert:
        with self.store.engine.connect() as conn:
            return self._get(conn, alert_id)

    def history(self, alert_id: int) -> list[dict[str, Any]]:
        e = S.alert_events
        with self.store.engine.connect() as conn:
            self._get(conn, alert_id)
            return [
                {
                    "at": from_us(r["at_us"]).isoformat(),
                    "actor": r["actor"],
                    "action": r["action"],
                    "detail": r["detail"],
                }
                for r in conn.execute(
                    sa.select(e).where(e.c.alert_pk == alert_id).order_by(e.c.pk)
                ).mappings()
            ]

    def acknowledge(self, alert_id: int, by: str, note: str = "") -> Alert:
        return self._act(alert_id, by, "acknowledged", note)

    def resolve(self, alert_id: int, by: str, note: str = "") -> Alert:
        return self._act(alert_id, by, "resolved", note)

    def annotate(self, alert_id: int, by: str, note: str) -> Alert:
        if not note.strip():
            raise InputError("a note needs text", field="note")
        return self._act(alert_id, by, "annotated", note)

    def _act(self, alert_id: int, by: str, action: str, note: str) -> Alert:
        now = _now_us()
        with self.store.transaction() as w:
            row = (
                w.conn.execute(sa.select(S.alerts).where(S.alerts.c.pk == alert_id))
                .mappings()
                .first()
            )
            if row is None:
                raise NotFound(f"no alert {alert_id}")
            if action == "acknowledged":
                if row["status"] != "open":
                    raise InputError(
                        f"alert {alert_id} is {row['status']}, not open",
                        field="status",
                        hint="only open alerts can be acknowledged",
                    )
                w.conn.execute(
                    sa.update(S.alerts)
                    .where(S.alerts.c.pk == alert_id)
                    .values(status="acknowledged", acknowledged_by=by, acknowledged_us=now)
                )
            elif action == "resolved":
                if row["status"] == "resolved":
                    raise InputError(f"alert {alert_id} is already resolved", field="status")
                self._resolve(w.conn, row, now, by, "resolved", {"note": note}, now)
                self._notify(w.conn, alert_id, "resolved", now)
                return self._get(w.conn, alert_id)
            _event(w.conn, alert_id, now, by, action, {"note": note})
            return self._get(w.conn, alert_id)

    def snooze(self, person_id: str, level: Level, until: datetime, by: str) -> None:
        """Hold notifications of ``level`` and below for the person until ``until``."""
        with self.store.transaction() as w:
            pk = self.store._pk(w.conn, person_id)
            w.conn.execute(sa.delete(S.alert_snoozes).where(S.alert_snoozes.c.person_pk == pk))
            w.conn.execute(
                sa.insert(S.alert_snoozes).values(
                    person_pk=pk, max_level=int(level), until_us=to_us(until), by=by
                )
            )

    def escalate(self, now_us: int | None = None) -> int:
        """Re-notify unacknowledged urgent alerts, then tell the care team; returns how many."""
        now = _now_us() if now_us is None else now_us
        a, p = S.alerts, self.policy
        done = 0
        with self.store.transaction() as w:
            rows = w.conn.execute(
                sa.select(a.c.pk, a.c.created_us, a.c.escalation).where(
                    a.c.status == "open", a.c.level == int(Level.URGENT), a.c.escalation < 2
                )
            ).all()
            for pk, created, esc in rows:
                age = now - int(created)
                if esc < 2 and age >= p.care_team_minutes * MINUTE_US:
                    self._notify(w.conn, pk, "escalated-care-team", now, care_team=True)
                    new = 2
                elif esc < 1 and age >= p.renotify_minutes * MINUTE_US:
                    self._notify(w.conn, pk, "escalated", now)
                    new = 1
                else:
                    continue
                w.conn.execute(sa.update(a).where(a.c.pk == pk).values(escalation=new))
                _event(w.conn, pk, now, "engine", "escalated", {"step": new})
                done += 1
        return done

    def add_webhook(
        self,
        url: str,
        *,
        person_id: str | None = None,
        min_level: Level = Level.WARN,
        care_team: bool = False,
        secret: str | None = None,
    ) -> tuple[int, str]:
        """Register a webhook; returns its id and the HMAC secret that signs its deliveries."""
        if not url.startswith(("http://", "https://")):
            raise InputError(f"webhook URL {url!r} is not http(s)", field="url")
        secret = secret or secrets.token_urlsafe(32)
        with self.store.transaction() as w:
            pk = None if person_id is None else self.store._pk(w.conn, person_id)
            wid = w.conn.execute(
                sa.insert(S.webhooks).values(
                    url=url,
                    person_pk=pk,
                    min_level=int(min_level),
                    secret=secret,
                    care_team=care_team,
                    active=True,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        return int(wid), secret

    def _get(self, conn: sa.Connection, alert_id: int) -> Alert:
        row = conn.execute(_select().where(S.alerts.c.pk == alert_id)).mappings().first()
        if row is None:
            raise NotFound(f"no alert {alert_id}")
        return _alert(row)


class _Findings:
    """One :meth:`AlertBook.apply`: what it read once, and the rows it writes at the end."""

    def __init__(self, book: AlertBook, conn: sa.Connection, persons: set[str], now_us: int):
        self.book, self.conn, self.now = book, conn, now_us
        self.stats = ApplyStats()
        self.pks = {pid: book.store._pk(conn, pid) for pid in sorted(persons)}
        pk_list = list(self.pks.values())
        #: (person pk, rule, key) -> its active alerts, newest first (as ``_active`` picks)
        self.active: dict[tuple[int, str, str], list[dict[str, Any]]] = {}
        self.snoozes: dict[int, Any] = {}
        hooks: list[_Hook] = []
        for chunk in _chunks(pk_list):
            active, snoozes, chunk_hooks = _read_batch(conn, chunk)
            for r in active:
                self.active.setdefault((r["person_pk"], r["rule"], r["key"]), []).append(r)
            for r in snoozes:
                self.snoozes[r["person_pk"]] = r
            hooks += chunk_hooks
        # everyone's hooks (no person) come with every chunk: once each, in key order
        self.hooks = sorted({h.pk: h for h in hooks}.values(), key=lambda h: h.pk)
        self.ids = {pk: pid for pid, pk in self.pks.items()}
        self.dirty: dict[int, dict[str, Any]] = {}  # alert pk -> row to write back
        self.new: list[dict[str, Any]] = []  # alerts to insert, keyed -1, -2, ... until then
        self.real: dict[int, int] = {}  # stand-in key -> the inserted alert's key
        self.events: list[dict[str, Any]] = []
        self.notes: list[dict[str, Any]] = []

    def clear(self, f: Clear) -> None:
        pk = self.pks[f.person_id]
        active = self._active(pk, f.rule, f.key)
        if active is None:
            return
        self._drop(pk, f.rule, f.key)
        active["resolved_us"] = to_us(f.time)
        self.dirty[active["pk"]] = active
        if active["status"] == "suppressed":
            return  # it stays suppressed (never shown), but the condition is over
        active["status"] = "resolved"
        self._event(active["pk"], "engine", "auto-resolved", {"reason": f.reason})
        self.stats.resolved += 1
        self._notify(active, "resolved")

    def request(self, f: AlertRequest, tz: str | None) -> None:
        pk = self.pks[f.person_id]
        t = to_us(f.time)
        active = self._active(pk, f.rule, f.key)
        if active is not None:
            self.stats.updated += 1
            before = int(active["level"])
            level = max(before, int(f.level))
            active.update(last_seen_us=t, evidence=dict(f.evidence), level=level,
                          explanation=f.explanation, title=f.title)
            self.dirty[active["pk"]] = active
            if active["status"] == "suppressed":
                return
            last = active["last_notified_us"]
            due = last is None or t - int(last) >= (
                self.book.policy.repeat_minutes[Level(level)] * MINUTE_US)
            if level > before or due:
                self._notify_if_awake(active, "raised" if level > before else "repeat", t)
            return
        status = "open"
        if f.level < Level.URGENT:
            self._write_rows()  # the budget counts what this batch changed too
            if self.book._spent(self.conn, pk, f.time, tz):
                status = "suppressed"
        if status == "open":
            self.stats.opened += 1
        else:
            self.stats.suppressed += 1
        row = dict(_NEW_ROW)
        row.update(person_pk=pk, rule=f.rule, key=f.key, rule_version=f.rule_version,
                   level=int(f.level), status=status, title=f.title,
                   explanation=f.explanation, evidence=dict(f.evidence), citation=f.citation,
                   opened_us=t, last_seen_us=t, notifications=0, escalation=0,
                   created_us=self.now)
        # a stand-in key until the rows are inserted, never reused within the batch
        row["pk"] = -1 - len(self.new) - len(self.real)
        self.new.append(row)
        self.active.setdefault((pk, f.rule, f.key), []).insert(0, row)
        self._event(row["pk"], "engine", status if status == "suppressed" else "opened",
                    {"over_budget": status == "suppressed"})
        if status == "open":
            self._notify_if_awake(row, "opened", t)

    def flush(self) -> None:
        self._write_rows()
        for r in self.events + self.notes:
            if r["alert_pk"] < 0:
                r["alert_pk"] = self.real[r["alert_pk"]]
                if "payload" in r:
                    r["payload"]["id"] = r["alert_pk"]
        bulk.insert(self.conn, S.alert_events, self.events)
        bulk.insert(self.conn, S.notifications, self.notes)
        self.events, self.notes = [], []

    # -- inside ----------------------------------------------------------------------------
    def _active(self, pk: int, rule: str, key: str) -> dict[str, Any] | None:
        rows = self.active.get((pk, rule, key))
        return rows[0] if rows else None

    def _drop(self, pk: int, rule: str, key: str) -> None:
        self.active[(pk, rule, key)].pop(0)

    def _notify_if_awake(self, row: dict[str, Any], reason: str, t_us: int) -> None:
        snooze = self.snoozes.get(row["person_pk"])
        if snooze is not None and row["level"] <= snooze["max_level"] \
                and t_us < snooze["until_us"]:
            self._event(row["pk"], "engine", "held",
                        {"reason": "snoozed", "until": from_us(snooze["until_us"]).isoformat()})
            return
        row["last_notified_us"] = t_us
        row["notifications"] = int(row["notifications"]) + 1
        self.dirty[row["pk"]] = row
        self._notify(row, reason)

    def _notify(self, row: dict[str, Any], reason: str) -> None:
        alert = _public(row, self.ids[row["person_pk"]])
        new = _notifications(alert, row["person_pk"], reason, self.now, self.hooks)
        self.notes += new
        self.stats.notifications += len(new)

    def _event(self, alert_pk: int, actor: str, action: str, detail: dict[str, Any]) -> None:
        self.events.append({"alert_pk": alert_pk, "at_us": self.now, "actor": actor,
                            "action": action, "detail": detail})

    def _write_rows(self) -> None:
        """Insert the new alerts (their final state so far) and update the changed ones."""
        a = S.alerts
        if self.new:
            cols = [c.name for c in a.c if c.name != "pk"]
            pks = bulk.insert_returning_keys(self.conn, a, [{c: r[c] for c in cols}
                                                            for r in self.new])
            for r, pk in zip(self.new, pks, strict=True):
                self.dirty.pop(r["pk"], None)
                self.real[r["pk"]] = r["pk"] = pk
            self.new = []
        if self.dirty:
            bulk.update(self.conn, a, [{"pk": r["pk"], **{c: r[c] for c in _MUTABLE}}
                                       for r in self.dirty.values()])
            self.dirty.clear()


#: the alert columns the engine's findings change
_MUTABLE = ("status", "level", "title", "explanation", "evidence", "last_seen_us",
            "resolved_us", "last_notified_us", "notifications")


def _notifications(alert: dict[str, Any], person_pk: int, reason: str, now_us: int,
                   hooks: Sequence[Any], care_team: bool = False) -> list[dict[str, Any]]:
    """Outbox rows for the alert's current state (``Alert.to_dict()``): its MQTT topic (not for
    the care team) and every active webhook of the person (or of everyone) at or below the
    alert's level."""
    payload = {**alert, "reason": reason}
    level = int(Level.parse(alert["level"]))
    targets = [] if care_team else [("mqtt", alert_topic(alert["person_id"]))]
    targets += [("webhook", str(h.pk)) for h in hooks
                if h.min_level <= level and h.care_team == care_team
                and h.person_pk in (None, person_pk)]
    return [{"alert_pk": alert["id"], "channel": channel, "target": target, "reason": reason,
             "payload": payload, "created_us": now_us, "attempts": 0,
             "next_attempt_us": now_us, "last_error": ""} for channel, target in targets]


class _Hook(NamedTuple):
    """An active webhook as a batch's notifications need it."""

    pk: int
    person_pk: int | None
    min_level: int
    care_team: bool


def _read_batch(conn: sa.Connection, pks: Sequence[int]
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[_Hook]]:
    """What a batch reads of its persons: active alerts (newest first), snoozes and webhooks.

    On PostgreSQL one statement returns the three as JSON: a round trip instead of three, and
    no per-column work in the driver (for a batch of 40 alerts 2.7-2.8 -> 1.5-1.7 ms, measured
    in-process). On SQLite three (:func:`_read_batch_sqlite`)."""
    if conn.dialect.name == "postgresql":
        active, snoozes, hooks = conn.exec_driver_sql(_READ_BATCH_PG, {"pks": list(pks)}).one()
        return active, snoozes, [_Hook(*h) for h in hooks]
    return _read_batch_sqlite(conn, orjson.dumps(list(pks)).decode())


def _read_batch_sqlite(conn: sa.Connection, pks_json: str
                       ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[_Hook]]:
    """:func:`_read_batch` on SQLite: fixed statements with the keys as one JSON parameter and
    rows as the driver returns them (the JSON column decoded here): for 20 persons 0.29-0.36
    ms against 0.46-0.49 ms for SQLAlchemy's statements, whose expanding ``IN`` list is
    rendered anew on each call."""
    ins = "IN (SELECT value FROM json_each(?))"
    res = conn.exec_driver_sql(f"SELECT * FROM alerts WHERE person_pk {ins} AND {_ACTIVE_SQL} "
                               "ORDER BY pk DESC", (pks_json,))
    names = list(res.keys())
    active = [dict(zip(names, r, strict=True)) for r in res]
    for r in active:
        r["evidence"] = orjson.loads(r["evidence"])
    res = conn.exec_driver_sql(f"SELECT * FROM alert_snoozes WHERE person_pk {ins}", (pks_json,))
    names = list(res.keys())
    snoozes = [dict(zip(names, r, strict=True)) for r in res]
    hooks = [_Hook(pk, person, level, bool(care)) for pk, person, level, care in
             conn.exec_driver_sql("SELECT pk, person_pk, min_level, care_team FROM webhooks "
                                  f"WHERE active AND (person_pk IS NULL OR person_pk {ins}) "
                                  "ORDER BY pk", (pks_json,))]
    return active, snoozes, hooks


# open, acknowledged, or suppressed and not yet over; the first condition is the one of the
# partial index on active alerts, word for word, so both databases see that the index applies
_ACTIVE_SQL = f"{S.ACTIVE_ALERT} AND (status <> 'suppressed' OR resolved_us IS NULL)"
# the three reads of _read_batch_sqlite as one PostgreSQL statement. Active alerts are looked up
# person by person (the subquery with OFFSET 0 is not merged into a join), each through that
# index; left to choose on a new database, the planner read the index on (status, level) across
# all persons, which until a vacuum still lists every resolved alert as open (migration 0006)
_READ_BATCH_PG = (
    "SELECT (SELECT coalesce(json_agg(a ORDER BY a.pk DESC), '[]')"
    " FROM unnest(%(pks)s::bigint[]) AS q(pk) CROSS JOIN LATERAL"
    f" (SELECT * FROM alerts WHERE alerts.person_pk = q.pk AND {_ACTIVE_SQL} OFFSET 0) AS a),"
    " (SELECT coalesce(json_agg(s), '[]') FROM alert_snoozes s WHERE s.person_pk = ANY(%(pks)s)),"
    " (SELECT coalesce(json_agg(json_build_array(w.pk, w.person_pk, w.min_level, w.care_team)"
    " ORDER BY w.pk), '[]') FROM webhooks w"
    " WHERE w.active AND (w.person_pk IS NULL OR w.person_pk = ANY(%(pks)s)))")


def _hooks(of_persons: sa.ColumnElement[bool]) -> sa.Select[Any]:
    """Active webhooks of the persons ``of_persons`` selects, and those of everyone."""
    w = S.webhooks
    return (sa.select(w.c.pk, w.c.person_pk, w.c.min_level, w.c.care_team)
            .where(w.c.active, sa.or_(w.c.person_pk.is_(None), of_persons)).order_by(w.c.pk))


def _chunks(items: Sequence[int], size: int = 500) -> list[Sequence[int]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _select() -> sa.Select[Any]:
    return sa.select(S.alerts, S.persons.c.id.label("person_id")).join(
        S.persons, S.persons.c.pk == S.alerts.c.person_pk
    )


def _event(
    conn: sa.Connection, alert_pk: int, at_us: int, actor: str, action: str, detail: dict[str, Any]
) -> None:
    conn.execute(
        sa.insert(S.alert_events).values(
            alert_pk=alert_pk, at_us=at_us, actor=actor, action=action, detail=detail
        )
    )


def _alert(r: Any) -> Alert:
    def t(x: int | None) -> datetime | None:
        return None if x is None else from_us(int(x))

    return Alert(
        id=int(r["pk"]),
        person_id=r["person_id"],
        rule=r["rule"],
        key=r["key"],
        rule_version=r["rule_version"],
        level=Level(r["level"]),
        status=r["status"],
        title=r["title"],
        explanation=r["explanation"],
        evidence=r["evidence"],
        citation=r["citation"],
        opened=from_us(r["opened_us"]),
        last_seen=from_us(r["last_seen_us"]),
        resolved=t(r["resolved_us"]),
        acknowledged_by=r["acknowledged_by"],
        acknowledged=t(r["acknowledged_us"]),
        notifications=int(r["notifications"]),
        escalation=int(r["escalation"]),
    )


def _public(r: Mapping[str, Any], person_id: str) -> dict[str, Any]:
    """``_alert(r).to_dict()`` for a row of the alerts table, without building the
    :class:`Alert` and its datetimes (a batch notifies hundreds of alerts).

    >>> row = {**_NEW_ROW, "pk": 7, "person_pk": 1, "rule": "spo2", "key": "", "level": 3,
    ...        "status": "open", "opened_us": 0, "last_seen_us": 60_000_000,
    ...        "notifications": 1, "escalation": 0, "evidence": {"spo2": 86}}
    >>> _public(row, "p-1") == _alert({**row, "person_id": "p-1"}).to_dict()
    True
    """
    def iso(us: int | None) -> str | None:
        return None if us is None else from_us(int(us)).isoformat()

    return {
        "id": int(r["pk"]),
        "person_id": person_id,
        "rule": r["rule"],
        "key": r["key"],
        "rule_version": r["rule_version"],
        "level": _LABELS[int(r["level"])],
        "status": r["status"],
        "title": r["title"],
        "explanation": r["explanation"],
        "evidence": dict(r["evidence"]),
        "citation": r["citation"],
        "opened": iso(r["opened_us"]),
        "last_seen": iso(r["last_seen_us"]),
        "resolved": iso(r["resolved_us"]),
        "acknowledged_by": r["acknowledged_by"],
        "acknowledged": iso(r["acknowledged_us"]),
        "notifications": int(r["notifications"]),
        "escalation": int(r["escalation"]),
    }


_LABELS = {int(level): level.label for level in Level}
#: a new alert row before the finding fills it in
_NEW_ROW: dict[str, Any] = {c.name: None for c in S.alerts.c}


def _now_us() -> int:
    return time.time_ns() // 1000
