"""The edge agent: keep each device message on disk, evaluate the urgent rules here, queue alerts.

Near the devices (a ward, a home hub), the agent takes device messages in the server's format
(``hyperhealth.device/1``), and for each payload:

1. checks what it needs to keep a message once: ``schema``, ``message_id`` and ``device.id``
   (the full validation runs below and again on the server);
2. stores the messages in the durable queue (:class:`EdgeQueue`, fsynced) — only then may the
   device be answered; a message seen before is a no-op;
3. evaluates them with the server's own code: the messages are ingested into an embedded
   hyperhealth store in the edge's data dir, whose committed rows drive an :class:`Engine` that
   runs only the urgent rules (``RuleConfig(only=URGENT_RULES)``: glucose, blood pressure,
   SpO2). Alerts the engine opens are logged and queued for the server together with the
   evaluation outcome of the messages that raised them.

The forwarder (:mod:`._forward`) later sends alerts first, then urgent messages, then the rest.
After a stop at any point, the next start finishes what was left: the engine catches up on
readings stored but not processed, alerts opened but not queued are queued, and messages kept
but not evaluated are evaluated (ingesting a message twice adds nothing: message ids are claimed).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from hyperhealth.actions.alerts._registry import URGENT_RULES, RuleConfig
from hyperhealth.actions.levels import Level
from hyperhealth.engine._engine import Engine
from hyperhealth.engine.edge._map import EdgeMap
from hyperhealth.engine.edge._queue import EdgeQueue, Incoming, QueuedAlert, now_us
from hyperhealth.errors import ConfigError, InputError, StoreError
from hyperhealth.ingest._base import IngestReport, Reject
from hyperhealth.ingest.device_json import (
    METRIC_ALIASES,
    SCHEMA,
    DevicePayload,
    ingest_payloads,
)
from hyperhealth.model.time import from_us
from hyperhealth.store import Store
from hyperhealth.store import _schema as S

log = logging.getLogger("hyperhealth.edge")

AlertHook = Callable[[Mapping[str, Any]], None]
_HINT = f"see docs/formats.md, schema {SCHEMA}"


@dataclass
class EdgeAnswer:
    """What the agent did with one payload; :attr:`status` is the HTTP status to answer with."""

    messages: int = 0  # messages in the payload
    queued: int = 0  # new messages kept for the server
    repeated: int = 0  # kept before (the device sent them again)
    evaluated: int = 0  # new messages run through the urgent rules here
    not_evaluated: list[dict[str, str]] = field(default_factory=list)  # message, reason
    rejects: list[Reject] = field(default_factory=list)
    report: IngestReport | None = None  # the local ingest report (readings stored here)
    alerts: list[dict[str, Any]] = field(default_factory=list)  # raised by this payload

    @property
    def status(self) -> int:
        if self.messages and self.queued + self.repeated == 0:
            return 422
        return 207 if self.rejects else 200

    @property
    def outcome(self) -> str:
        return {200: "stored", 207: "partial", 422: "rejected"}[self.status]

    def to_dict(self) -> dict[str, Any]:
        kept = self.queued + self.repeated
        if self.status == 422:
            summary = (f"nothing was kept: {len(self.rejects)} problem(s); see rejects, fix "
                       "them and send again")
        elif self.rejects:
            summary = (f"{kept} message(s) kept for the server, {len(self.rejects)} record(s) "
                       "rejected; the server will reject them too: fix and send only those again")
        else:
            summary = f"{kept} message(s) kept for the server"
        rep = self.report
        return {
            "outcome": self.outcome, "summary": summary, "messages": self.messages,
            "queued": self.queued, "repeated": self.repeated, "evaluated": self.evaluated,
            "not_evaluated": self.not_evaluated,
            "read": dict(rep.read) if rep else {}, "added": dict(rep.added) if rep else {},
            "rejects": [{"where": r.where, "field": r.field, "reason": r.reason,
                         "hint": r.hint} for r in self.rejects],
            "alerts": self.alerts,
        }


class EdgeAgent:
    """Accepts device messages, evaluates the urgent rules locally, queues for the server.

    ``data_dir`` holds ``queue.sqlite`` (the durable queue) and ``local.sqlite`` (the embedded
    store the local engine reads). ``edge_map`` names the persons and devices served here.
    ``on_alert`` is called with each alert raised here (after it is queued).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        edge_map: EdgeMap | None = None,
        edge_id: str | None = None,
        rules: RuleConfig | None = None,
        on_alert: AlertHook | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.map = edge_map or EdgeMap()
        self.on_alert = on_alert
        self.queue = EdgeQueue(self.data_dir / "queue.sqlite")
        self.edge_id = self._edge_id(edge_id or self.map.edge_id)
        self.store = Store(f"sqlite:///{self.data_dir / 'local.sqlite'}")
        self._lock = threading.RLock()  # one payload at a time: local order = arrival order
        #: set whenever something new is queued (the forwarder waits on it)
        self.changed = threading.Event()
        try:
            self._register()
            self.engine = Engine(self.store, rules or RuleConfig(only=URGENT_RULES))
            self.urgent_codes = frozenset(c for r in self.engine.rules for c in r.codes)
            self.engine.attach()  # first catches up on readings stored but not processed
            with self._lock:
                self._finish([], EdgeAnswer())  # alerts opened before a stop, not yet queued
                self._evaluate_pending()
        except BaseException:
            self.close()
            raise

    # -- accepting ------------------------------------------------------------------------------
    def accept(self, payload: Any, *, device_id: str | None = None, person: str | None = None,
               where: str = "") -> EdgeAnswer:
        """Keep one payload (a message or an array of them, as bytes or parsed JSON) durably,
        then evaluate its new messages here. Raises :class:`InputError` for a payload that is
        not JSON, and lets queue (disk) failures raise: then nothing was kept and the device
        must send again."""
        doc = _parse(payload, where)
        answer = EdgeAnswer()
        items = doc if isinstance(doc, list) else [doc]
        answer.messages = len(items)
        prefix = f"{where}: " if where else ""
        kept: list[tuple[Incoming, dict[str, Any]]] = []
        with self._lock:
            for k, item in enumerate(items):
                got = self._check(item, k, device_id, person, prefix, answer.rejects)
                if got is not None:
                    kept.append(got)
            fresh = self.queue.put([inc for inc, _ in kept])
            new = [x for x, f in zip(kept, fresh, strict=True) if f]
            answer.queued, answer.repeated = len(new), len(kept) - len(new)
            if new:
                self._evaluate(new, device_id, where, answer)
        if new:
            self.changed.set()
        return answer

    def _check(self, item: Any, k: int, device_id: str | None, person: str | None, prefix: str,
               rejects: list[Reject]) -> tuple[Incoming, dict[str, Any]] | None:
        """The message to keep, or ``None`` (with a reject) when it cannot be kept once."""
        if not isinstance(item, dict):
            rejects.append(Reject(f"{prefix}message #{k}", "", "not a JSON object", _HINT))
            return None
        mid = item.get("message_id")
        label = f"{prefix}message {mid}" if isinstance(mid, str) and mid else \
            f"{prefix}message #{k}"
        dev = item.get("device")
        dev_id = dev.get("id") if isinstance(dev, dict) else None
        problem = None
        if item.get("schema") != SCHEMA:
            problem = ("schema", f"unsupported schema {item.get('schema')!r}; this edge reads "
                                 f"{SCHEMA}")
        elif not isinstance(mid, str) or not 0 < len(mid) <= 200:
            problem = ("message_id", "`message_id` (1-200 characters) is missing or invalid")
        elif not isinstance(dev_id, str) or not 0 < len(dev_id) <= 200:
            problem = ("device.id", "`device.id` (1-200 characters) is missing or invalid")
        elif device_id is not None and dev_id != device_id:
            problem = ("device.id", f"the message names device {dev_id!r} but was sent by "
                                    f"device {device_id!r}")
        if problem is not None:
            rejects.append(Reject(label, problem[0], problem[1],
                                  f"the whole message was not kept; {_HINT}"))
            return None
        assert isinstance(mid, str) and isinstance(dev_id, str)
        if person is not None:
            item = {**item, "person": person}
        elif item.get("person") is None:
            owner = self._owner(dev_id)
            if owner is not None:  # the server then needs no registration of its own
                item = {**item, "person": owner}
        readings = item.get("readings")
        readings = readings if isinstance(readings, list) else []
        urgent = any(_code(r) in self.urgent_codes for r in readings)
        return Incoming(dev_id, mid, orjson.dumps(item), len(readings), urgent), item

    # -- evaluating -------------------------------------------------------------------------------
    def _evaluate(self, new: Sequence[tuple[Incoming, dict[str, Any]]], device_id: str | None,
                  where: str, answer: EdgeAnswer) -> None:
        outcomes: list[tuple[str, str, str]] = []
        local: list[Incoming] = []
        for inc, item in new:
            reason = self._why_not_local(inc.device, item.get("person"))
            if reason is None:
                local.append(inc)
            else:
                outcomes.append((inc.device, inc.message_id, f"skipped: {reason}"))
                answer.not_evaluated.append({"message": inc.message_id, "reason": reason})
        if local:
            outcome = "evaluated"
            try:
                report = ingest_payloads(self.store, [
                    DevicePayload(inc.body, device_id, where) for inc in local])
                answer.report = report
                answer.rejects.extend(report.rejects)
                answer.evaluated = len(local)
            except (StoreError, sa.exc.SQLAlchemyError, OSError) as exc:
                # the messages are kept: the server gets them even if this edge cannot judge
                log.error("could not evaluate %d message(s) at the edge: %s", len(local), exc)
                outcome = f"failed: {exc}"[:500]
                for inc in local:
                    answer.not_evaluated.append({"message": inc.message_id,
                                                 "reason": f"local evaluation failed: {exc}"})
            self._owners_changed({inc.device for inc in local})
            outcomes += [(inc.device, inc.message_id, outcome) for inc in local]
        self._finish(outcomes, answer)

    def _finish(self, outcomes: Sequence[tuple[str, str, str]], answer: EdgeAnswer) -> None:
        """Queue the alerts the engine opened with the outcomes, then tell about them."""
        alerts, last = self._collect_alerts()
        # the last alert collected is remembered in the same transaction that queues them
        self.queue.finish_evaluation(outcomes, alerts,
                                     {"local_alert_pk": str(last)} if last else None)
        for a in alerts:
            body = orjson.loads(a.body)
            answer.alerts.append(body)
            log.warning("%s alert raised at edge %s for %s: %s (data time %s)",
                        body["level"].upper(), self.edge_id, a.person, body["title"],
                        body["time"])
            if self.on_alert is not None:
                try:
                    self.on_alert(body)
                except Exception:  # a display hook must not stop the agent
                    log.exception("on_alert hook failed")

    def _evaluate_pending(self) -> None:
        """Evaluate messages kept before a stop but not evaluated then (in arrival order)."""
        pending = self.queue.pending_evaluation()
        if not pending:
            return
        log.info("evaluating %d message(s) kept before the last stop", len(pending))
        for i in range(0, len(pending), 500):
            part = pending[i:i + 500]
            items = [(Incoming(q.device, q.message_id, q.body, 0, q.urgent), orjson.loads(q.body))
                     for q in part]
            self._evaluate(items, None, "", EdgeAnswer())
        self.changed.set()

    def _why_not_local(self, device: str, person: Any) -> str | None:
        owner = self._owner(device)
        pid = person if isinstance(person, str) else owner
        if pid is None:
            return "the device is not mapped to a person at this edge"
        if pid not in self._persons:
            return f"person {pid!r} is not served by this edge"
        if owner is not None and owner != pid:
            return f"device {device!r} belongs to {owner!r} at this edge"
        return None

    # -- alerts -----------------------------------------------------------------------------------
    def _collect_alerts(self) -> tuple[list[QueuedAlert], int | None]:
        """Alerts the local engine opened since the last collection, as requests to forward,
        and the local key of the newest alert looked at."""
        last = int(self.queue.meta("local_alert_pk", "0") or 0)
        a, p = S.alerts, S.persons
        q = (sa.select(a.c.pk, p.c.id, a.c.rule, a.c.key, a.c.rule_version, a.c.level,
                       a.c.status, a.c.title, a.c.explanation, a.c.evidence, a.c.citation,
                       a.c.opened_us)
             .join(p, p.c.pk == a.c.person_pk).where(a.c.pk > last).order_by(a.c.pk))
        with self.store.engine.connect() as conn:
            rows = conn.execute(q).all()
        if not rows:
            return [], None
        raised = now_us()
        out = []
        for (pk, pid, rule, key, version, level, status, title, expl, evidence, citation,
             opened) in rows:
            if status == "suppressed":  # over the daily budget: not raised here either
                continue
            idem = f"{self.edge_id}/{pid}/{rule}/{key}/{opened}"
            body = {"id": idem, "person": pid, "rule": rule, "key": key,
                    "rule_version": version, "level": Level(level).label,
                    "time": from_us(opened).isoformat(), "title": title, "explanation": expl,
                    "evidence": evidence, "citation": citation,
                    "raised": from_us(raised).isoformat(), "local_alert": pk}
            out.append(QueuedAlert(idem, pid, rule, key, int(level), int(opened),
                                   orjson.dumps(body), raised, 0))
        return out, int(rows[-1][0])

    # -- persons and devices ---------------------------------------------------------------------
    def _register(self) -> None:
        """Create the mapped persons and register their devices in the local store."""
        with self.store.transaction() as w:
            for p in self.map.persons:
                w.upsert_person(p.person())
                for dev in p.devices:
                    try:
                        w.register_device(dev, p.id)
                    except StoreError as exc:
                        raise ConfigError(
                            f"edge map: device {dev!r} of {p.id!r}: {exc} in this edge's local "
                            f"store ({self.data_dir / 'local.sqlite'}); give the device a new id "
                            "or map it to the person it was registered to") from None
        self._persons = {p.id for p in self.store.persons()}
        with self.store.engine.connect() as conn:
            self._owners: dict[str, str] = {
                r[0]: r[1] for r in conn.execute(
                    sa.select(S.devices.c.device_id, S.persons.c.id)
                    .join(S.persons, S.persons.c.pk == S.devices.c.person_pk))}

    def _owner(self, device: str) -> str | None:
        return self._owners.get(device) or self.map.owner(device)

    def _owners_changed(self, devices: Iterable[str]) -> None:
        """Devices registered by the messages just ingested (a message naming its person)."""
        unknown = [d for d in devices if d not in self._owners]
        if not unknown:
            return
        with self.store.engine.connect() as conn:
            self._owners.update((r[0], r[1]) for r in conn.execute(
                sa.select(S.devices.c.device_id, S.persons.c.id)
                .join(S.persons, S.persons.c.pk == S.devices.c.person_pk)
                .where(S.devices.c.device_id.in_(unknown))))

    # -- identity, inspection, shutdown -------------------------------------------------------
    def _edge_id(self, wanted: str | None) -> str:
        stored = self.queue.meta("edge_id")
        if wanted and stored and wanted != stored:
            # keys of alerts queued before keep the old id: they stay unique on the server
            log.warning("edge id changes from %r to %r", stored, wanted)
        edge_id = wanted or stored or f"edge-{secrets.token_hex(4)}"
        if edge_id != stored:
            self.queue.set_meta("edge_id", edge_id)
        return edge_id

    def status(self) -> dict[str, Any]:
        """Queue depths, persons served and the alerts raised here (for ``/api/edge/status``)."""
        return {"edge_id": self.edge_id, "persons": sorted(self._persons),
                "rules": list(self.engine.config.enabled), "queue": self.queue.counts(),
                "engine": self.engine.stats.to_dict()}

    def prune(self, retain_s: float) -> dict[str, int]:
        """Forget what is older than ``retain_s`` seconds: messages and alerts the server has,
        and, in the local store, readings (by data time), message ids and the notification
        outbox nobody delivers at the edge. Detector state and alerts stay: the local engine
        needs no history beyond its state."""
        cutoff = now_us() - int(retain_s * 1e6)
        out = {"queue": self.queue.prune(cutoff)}
        with self._lock, self.store.transaction() as w:
            for name, table, col in (("readings", S.observations, "t"),
                                     ("message_ids", S.ingest_messages, "received_us"),
                                     ("notifications", S.notifications, "created_us")):
                out[name] = int(w.conn.execute(sa.delete(table).where(table.c[col] < cutoff)
                                               ).rowcount)
        return out

    def close(self) -> None:
        engine = getattr(self, "engine", None)
        if engine is not None:
            engine.detach()
        if hasattr(self, "store"):
            self.store.close()
        self.queue.close()

    def __enter__(self) -> EdgeAgent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parse(payload: Any, where: str) -> Any:
    if isinstance(payload, (bytes, bytearray, memoryview, str)):
        try:
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"not valid JSON ({exc})", where=where or "payload",
                             hint="send UTF-8 JSON text") from None
    else:
        doc = payload
    if not isinstance(doc, (dict, list)):
        raise InputError("expected a JSON object (one message) or array (several messages)",
                         where=where or "payload", hint=_HINT)
    return doc


def _code(reading: Any) -> str | None:
    """The code a reading will be stored under (enough to tell which rules read it)."""
    if not isinstance(reading, dict):
        return None
    code = reading.get("code")
    if isinstance(code, str):
        return code
    metric = reading.get("metric")
    return METRIC_ALIASES.get(metric) if isinstance(metric, str) else None
