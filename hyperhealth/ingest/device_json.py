"""Device messages (schema ``hyperhealth.device/1``) over HTTP, MQTT or files.

A device (watch, CGM, blood-pressure cuff, scale, oximeter, phone) sends *messages*; each names
the device, optionally the person, and carries readings and logged events. A payload is one
message or a JSON array of messages. The schema is documented in ``docs/formats.md`` ("Device
messages and MQTT") and validated by the pydantic models below.

Delivery is at-least-once on every transport, so storing is idempotent twice over: a message id
is claimed once per device (a redelivered message adds nothing), and every reading has the
observation natural key (person, code, time, system, source ``"device"``, device id).

>>> from hyperhealth.model import Person
>>> from hyperhealth.store import Store
>>> store = Store("sqlite://")
>>> with store.transaction() as w:
...     _ = w.upsert_person(Person(id="p-doc"))
>>> msg = {"schema": SCHEMA, "message_id": "m-1", "device": {"id": "watch-7", "kind": "watch"},
...        "person": "p-doc",
...        "readings": [{"metric": "heart_rate", "t": "2024-03-01T08:00:00+01:00",
...                      "value": 64, "unit": "bpm"},
...                     {"metric": "heart_rate", "t": "2024-03-01T08:01:00+01:00",
...                      "value": 0, "unit": "bpm"}]}
>>> report = ingest_messages(store, msg)
>>> report.added["observations"], str(report.rejects[0]).split(":")[0]
(1, 'message m-1 reading 1 [value]')
>>> ingest_messages(store, msg).skipped["redelivered messages"]
1
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, NotRequired

import orjson
import sqlalchemy as sa
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    with_config,
)
from typing_extensions import TypedDict

from hyperhealth.errors import InputError, NotFound, StoreError
from hyperhealth.ingest._base import IngestContext, IngestOptions, IngestReport, Record, open_text
from hyperhealth.model import (
    HH,
    LIFESTYLE_DETAILS,
    LOINC,
    LifestyleEvent,
    LifestyleKind,
    Observation,
    Quality,
    metric_for,
    normalise,
)
from hyperhealth.model.codes import (
    BLOOD_GLUCOSE,
    BODY_HEIGHT,
    BODY_TEMPERATURE,
    BODY_WEIGHT,
    CGM_GLUCOSE,
    DIASTOLIC_BP,
    HEART_RATE,
    HRV_SDNN,
    INF,
    METRICS,
    RESTING_HEART_RATE,
    SPO2,
    STEPS,
    SYSTOLIC_BP,
)
from hyperhealth.model.time import EPOCH, from_us
from hyperhealth.model.units import MOLAR_TO_MASS_CODE, canonical_unit
from hyperhealth.store import DuplicateReadings, Store

SCHEMA = "hyperhealth.device/1"
#: the ``source`` of every observation and event stored from a device message
SOURCE = "device"

#: metric names a device may send instead of a LOINC code (all LOINC codes)
METRIC_ALIASES: Mapping[str, str] = {
    "heart_rate": HEART_RATE,
    "resting_heart_rate": RESTING_HEART_RATE,
    "hrv_sdnn": HRV_SDNN,
    "spo2": SPO2,
    "systolic_bp": SYSTOLIC_BP,
    "diastolic_bp": DIASTOLIC_BP,
    "glucose": BLOOD_GLUCOSE,  # capillary/venous blood (meter)
    "cgm_glucose": CGM_GLUCOSE,  # interstitial fluid (CGM sensor)
    "steps": STEPS,
    "weight": BODY_WEIGHT,
    "height": BODY_HEIGHT,
    "temperature": BODY_TEMPERATURE,
    "respiratory_rate": "9279-1",
}
_SYSTEMS = {"loinc": LOINC, "hh": HH}
_FILE_SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
_LINE_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
_HINT = f"see docs/formats.md, schema {SCHEMA}"

# -- the schema ------------------------------------------------------------------------------------
# Times must be JSON text with an offset: a bare number could be seconds or milliseconds, and a
# time without an offset could be any zone; neither is guessed.
AwareTime = Annotated[AwareDatetime, Field(strict=True)]
Id = Annotated[str, Field(min_length=1, max_length=200)]


@with_config(ConfigDict(extra="forbid"))
class Reading(TypedDict):
    """One reading. A TypedDict (not a model class): devices send many, this is the hot path."""

    code: NotRequired[Annotated[str, Field(min_length=1, max_length=64)]]
    metric: NotRequired[str]
    system: NotRequired[Annotated[str, Field(min_length=1, max_length=120)]]
    t: AwareTime
    t_end: NotRequired[AwareTime | None]
    value: Annotated[float, Field(allow_inf_nan=False)]
    unit: NotRequired[Annotated[str, Field(max_length=40)]]
    flags: NotRequired[list[Literal["device_flagged"]]]


class Device(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Id
    kind: Annotated[str, Field(max_length=40)] = ""


class Event(BaseModel):
    """A logged meal, exercise session, sleep episode, stress rating or medication intake."""

    model_config = ConfigDict(extra="forbid")

    kind: LifestyleKind
    start: AwareTime
    end: AwareTime | None = None
    details: dict[str, float | str] = Field(default_factory=dict)


class DeviceMessage(BaseModel):
    """One message from one device (``schema`` must be ``hyperhealth.device/1``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_: Literal["hyperhealth.device/1"] = Field(alias="schema")
    message_id: Id
    device: Device
    person: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    # factories, not literal defaults: pydantic would deep-copy a literal for every message
    readings: list[Reading] = Field(default_factory=list)
    events: list[Event] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict)  # free-form, not stored (firmware, app)


_ONE: TypeAdapter[DeviceMessage] = TypeAdapter(DeviceMessage)
_MANY: TypeAdapter[list[DeviceMessage]] = TypeAdapter(list[DeviceMessage])


@dataclass(frozen=True, slots=True)
class DevicePayload:
    """A payload as received: one message or an array of messages.

    ``device_id`` is the device the transport authenticated (an MQTT topic, an API key); a message
    that names another device is rejected. ``where`` prefixes every reject (a topic, ``file:line``).
    """

    data: bytes | str | Mapping[str, Any] | Sequence[Any]
    device_id: str | None = None
    where: str = ""


# -- public functions ------------------------------------------------------------------------------
def ingest_messages(
    store: Store,
    payload: dict[str, Any] | list[Any],
    *,
    device_id: str | None = None,
    options: IngestOptions | None = None,
) -> IngestReport:
    """Store one payload (a message or an array of messages) in one transaction.

    Bad messages and readings are rejected with their location and the rest is stored. Raises
    :class:`~hyperhealth.errors.StoreError` when the store fails; nothing is written then.
    """
    # serialised once more so that a JSON string or number is refused, never parsed as JSON text
    return ingest_payloads(store, [DevicePayload(orjson.dumps(payload), device_id)], options)


def ingest_payloads(store: Store, payloads: Iterable[DevicePayload],
                    options: IngestOptions | None = None) -> IngestReport:
    """Store several payloads (from one or many devices) in one transaction."""
    payloads = list(payloads)
    try:
        return _ingest_payloads(store, payloads, options, direct=True)
    except DuplicateReadings:  # a reading sent again in a new message: the careful way
        return _ingest_payloads(store, payloads, options, direct=False)


def _ingest_payloads(store: Store, payloads: list[DevicePayload], options: IngestOptions | None,
                     direct: bool) -> IngestReport:
    report = IngestReport(path="device messages", format=ADAPTER.name)
    try:
        with _cyclic_gc_paused(), store.transaction() as w:
            batch = _Batch(IngestContext(w, report, options or IngestOptions()))
            for p in payloads:
                batch.add(p)
            batch.flush(direct=direct)
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(f"could not store device messages ({type(exc).__name__}: {exc}); "
                         "nothing from them was stored, they can be sent again") from exc
    report.added += Counter()  # drop zero counts
    return report


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cycle collector while a batch is converted and written.

    A batch allocates hundreds of thousands of short-lived containers (validated readings, rows)
    and the collector would walk them again and again: about 30 % of the time, measured with
    ``benchmarks/bench_mqtt.py``. None of them form cycles, so reference counting frees them all.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# -- validation and conversion ---------------------------------------------------------------------
class _Batch:
    """Validates payloads and collects rows for one transaction."""

    def __init__(self, ctx: IngestContext) -> None:
        self.ctx = ctx
        self.w = ctx.writer
        self.rows: list[tuple[Any, ...]] = []  # observation rows in the store's column order
        self.events: list[LifestyleEvent] = []
        self._owner: dict[str, str | None] = {}  # device id -> person id
        self._pks: dict[str, int] = {}  # person id -> store key
        # validated messages: (message, label for rejects, authenticated device, kept readings)
        self._pending: list[tuple[DeviceMessage, str, str | None, list[int] | None]] = []

    # -- payload -> validated messages
    def add(self, p: DevicePayload) -> None:
        prefix = f"{p.where}: " if p.where else ""
        raw = p.data if isinstance(p.data, bytes) else (
            p.data.encode() if isinstance(p.data, str) else orjson.dumps(p.data))
        start = raw.lstrip()[:1]
        if start not in (b"{", b"["):
            self.ctx.reject(prefix + "payload", "", "expected a JSON object (one message) or "
                            "array (several messages)", _HINT)
            return
        found: list[tuple[DeviceMessage, list[int] | None]]
        try:
            if start == b"{":
                found = [(_ONE.validate_json(raw), None)]
            else:
                found = [(m, None) for m in _MANY.validate_json(raw)]
        except ValidationError as exc:
            found = self._salvage(raw, exc, prefix, many=start == b"[")
        for msg, kept in found:
            self._pending.append((msg, f"{prefix}message {msg.message_id}", p.device_id, kept))

    def _salvage(self, raw: bytes, exc: ValidationError, prefix: str,
                 many: bool) -> list[tuple[DeviceMessage, list[int] | None]]:
        """Reject what is wrong (whole messages, or single readings and events); keep the rest."""
        errors = exc.errors(include_url=False)
        if errors and errors[0]["type"] == "json_invalid":
            self.ctx.reject(prefix + "payload", "", f"not valid JSON ({errors[0]['msg']})",
                            "send UTF-8 JSON text")
            return []
        doc = orjson.loads(raw)
        items = doc if many else [doc]
        by_item: dict[int, list[tuple[tuple[Any, ...], str]]] = {}
        for e in errors:
            loc = tuple(e["loc"])
            k, rest = (int(loc[0]), loc[1:]) if many else (0, loc)
            by_item.setdefault(k, []).append((rest, e["msg"]))
        out: list[tuple[DeviceMessage, list[int] | None]] = []
        for k, item in enumerate(items):
            mid = item.get("message_id") if isinstance(item, dict) else None
            label = f"{prefix}message {mid}" if isinstance(mid, str) and mid else \
                f"{prefix}message #{k}"
            errs = by_item.get(k)
            if errs is None:
                out.append((_ONE.validate_json(orjson.dumps(item)), None))
                continue
            whole = [(r, m) for r, m in errs if not _in_item(r)]
            if whole or not isinstance(item, dict):
                rest, msg = whole[0] if whole else ((), "not a JSON object")
                field = ".".join(str(x) for x in rest)
                if field == "schema" and isinstance(item, dict) and "schema" in item:
                    msg = f"unsupported schema {item['schema']!r}; this server reads {SCHEMA}"
                more = f" (and {len(whole) - 1} more problems)" if len(whole) > 1 else ""
                self.ctx.reject(label, field, _reason(field, msg) + more,
                                f"the whole message was not stored; {_HINT}")
                continue
            bad: dict[tuple[str, int], list[tuple[str, str]]] = {}
            for r, m in errs:
                bad.setdefault((str(r[0]), int(r[1])), []).append(
                    (".".join(str(x) for x in r[2:]), m))
            for (part, i), problems in sorted(bad.items()):
                field, msg = problems[0]
                what = "reading" if part == "readings" else "event"
                self.ctx.reject(f"{label} {what} {i}", field, _reason(field, msg),
                                _field_hint(field))
            kept = [i for i in range(len(item.get("readings") or []))
                    if ("readings", i) not in bad]
            cleaned = dict(item)
            if isinstance(item.get("readings"), list):
                cleaned["readings"] = [item["readings"][i] for i in kept]
            if isinstance(item.get("events"), list):
                cleaned["events"] = [e for i, e in enumerate(item["events"])
                                     if ("events", i) not in bad]
            try:
                out.append((_ONE.validate_json(orjson.dumps(cleaned)), kept))
            except ValidationError as again:  # should not happen; never store a doubtful message
                self.ctx.reject(label, "", f"invalid message: {again.errors()[0]['msg']}", _HINT)
        return out

    # -- validated messages -> rows
    def _resolve(self) -> None:
        """Check device and person of the pending messages, claim their ids, convert the new."""
        ctx, report, pending = self.ctx, self.ctx.report, self._pending
        self._pending = []
        unknown = [m.device.id for m, *_ in pending if m.device.id not in self._owner]
        if unknown:
            owners = self.w.device_owners(unknown)
            self._owner.update((d, owners.get(d)) for d in unknown)
        accepted = []
        for m, label, device_id, kept in pending:
            report.read["messages"] += 1
            dev = m.device.id
            if device_id is not None and dev != device_id:
                ctx.reject(label, "device.id", f"the message names device {dev!r} but was sent "
                           f"by device {device_id!r}", "a device may only send its own "
                           "messages; on MQTT it publishes to hyperhealth/<its device id>/readings")
                continue
            person = self._person(m, label)
            if person is not None:
                accepted.append((m, label, kept, person))
        fresh = self.w.claim_messages([(m.device.id, m.message_id, len(m.readings))
                                       for m, *_ in accepted])
        for (m, label, kept, (pid, pk)), new in zip(accepted, fresh, strict=True):
            if not new:
                report.skipped["redelivered messages"] += 1
                continue
            report.added["messages"] += 1
            self._readings(m.readings, pk, m.device.id, label, kept)
            self._events(m.events, pid, m.device.id, label)

    def _person(self, m: DeviceMessage, label: str) -> tuple[str, int] | None:
        """``(person id, store key)``, registering the device; ``None`` when rejected."""
        dev = m.device.id
        wanted = self.ctx.options.person or m.person
        owner = self._owner[dev]
        if wanted is None:
            if owner is None:
                self.ctx.reject(label, "person", f"device {dev} is not registered to a person; "
                                "send `person` or register the device",
                                "one message with `person` registers the device to that person")
                return None
            wanted = owner
        elif owner is not None and owner != wanted:
            self.ctx.reject(label, "person", f"device {dev} is registered to another person",
                            "a device belongs to one person; give a new device another id")
            return None
        pk = self._pks.get(wanted)
        if pk is None:
            try:
                # the writer's connection: the person may have been created in this transaction
                pk = self._pks[wanted] = self.w.store._pk(self.w.conn, wanted)
            except NotFound:
                self.ctx.reject(label, "person", f"no person {wanted!r}",
                                "send the id of an existing person (create them first, e.g. by "
                                "importing their records)")
                return None
        if owner is None:
            self.w.register_device(dev, wanted, m.device.kind)
            self._owner[dev] = wanted
        return wanted, pk

    def _readings(self, readings: list[Reading], pk: int, dev: str, label: str,
                  kept: list[int] | None) -> None:
        """Append one row per good reading. The hot path: plain ints for flags, cached plans."""
        ctx, report, rows = self.ctx, self.ctx.report, self.rows
        accepted = 0
        for j, r in enumerate(readings):
            code = r.get("code")
            system = LOINC
            if "metric" in r:
                code = METRIC_ALIASES.get(r["metric"]) if code is None else None
                if code is None:
                    self._reject_reading(label, j, kept, "metric", _alias_problem(r))
                    continue
            elif code is None:
                self._reject_reading(label, j, kept, "code",
                                     "a reading needs `code` (LOINC) or `metric` (a name)")
                continue
            elif "system" in r:
                system = _SYSTEMS.get(r["system"], r["system"])
                if system == LOINC:
                    code = MOLAR_TO_MASS_CODE.get(code, code)
            else:
                code = MOLAR_TO_MASS_CODE.get(code, code)
            unit_text = r.get("unit", "")
            plan = _PLANS.get((code, system, unit_text)) or _plan(code, system, unit_text)
            value = r["value"]
            lo, hi, lo_rejected, flo, fhi = plan.bounds
            if lo < value <= hi or (value == lo and not lo_rejected):
                unit = plan.unit
                flags = _IMPLAUSIBLE if (value < flo or value > fhi) else 0
            else:  # impossible, or in another unit: the general path converts or explains
                try:
                    value, unit, q = normalise(code, value, unit_text)
                except InputError as err:
                    ctx.reject_error(err, _at(label, j, kept))
                    continue
                flags = int(q)
            d = r["t"] - EPOCH  # exact integer microseconds, as to_us() (inlined: hot path)
            t = (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds
            t_end = None
            if "t_end" in r and r["t_end"] is not None:
                t_end = _us(r["t_end"])
                if t_end < t:
                    self._reject_reading(label, j, kept, "t_end", "t_end is before t")
                    continue
            if r.get("flags"):
                flags |= _DEVICE_FLAGGED
            if flags & _IMPLAUSIBLE:
                report.flagged += 1
            rows.append((pk, code, t, system, SOURCE, dev, "", t_end, value, unit, "", "", "",
                         plan.category, flags))
            accepted += 1
        report.read["observations"] += accepted

    def _reject_reading(self, label: str, j: int, kept: list[int] | None, field: str,
                        reason: str) -> None:
        self.ctx.reject(_at(label, j, kept), field, reason, _field_hint(field))

    def _events(self, events: list[Event], pid: str, dev: str, label: str) -> None:
        for j, e in enumerate(events):
            allowed = LIFESTYLE_DETAILS[e.kind]
            unknown = sorted(set(e.details) - set(allowed))
            if unknown:
                self.ctx.reject(f"{label} event {j}", "details", f"unknown detail(s) {unknown} "
                                f"for a {e.kind} event", f"allowed: {', '.join(allowed)}")
                continue
            if e.end is not None and e.end < e.start:
                self.ctx.reject(f"{label} event {j}", "end", "end is before start")
                continue
            self.events.append(LifestyleEvent(
                pid, e.kind, e.start.astimezone(UTC),
                None if e.end is None else e.end.astimezone(UTC), dict(e.details),
                SOURCE, dev))
            self.ctx.report.read["lifestyle_events"] += 1

    # -- output
    def flush(self, direct: bool = False) -> None:
        """Write what was collected through the writer (``direct``: see
        :meth:`~hyperhealth.store.Writer.add_observation_rows`)."""
        self._resolve()
        added = self.ctx.report.added
        added["observations"] += self.w.add_observation_rows(self.rows, direct=direct)
        added["lifestyle_events"] += self.w.add_lifestyle_events(self.events)
        self.rows, self.events = [], []

    def drain(self) -> Iterator[Record]:
        """Hand what was collected to the file driver as records (it writes them)."""
        self._resolve()
        ids = {pk: pid for pid, pk in self._pks.items()}
        for (pk, code, t, system, source, dev, rid, t_end, value, unit, _vt, _vc, _d, cat,
             flags) in self.rows:
            yield Observation(ids[pk], code, from_us(t), value, unit, system,
                              None if t_end is None else from_us(t_end), category=cat,
                              source=source, device=dev, record_id=rid, flags=Quality(flags))
        yield from self.events
        self.rows, self.events = [], []


@dataclass(frozen=True, slots=True)
class _Plan:
    """How readings of one (code, system, unit) are checked, worked out once.

    ``bounds`` is ``(reject_low, reject_high, low_bound_rejected, flag_low, flag_high)`` from the
    metric's data-quality limits; a value inside is stored as sent. Anything else (outside, or in
    a unit that needs converting: then the bounds admit nothing) takes :func:`normalise`.
    """

    bounds: tuple[float, float, bool, float, float]
    unit: str
    category: str


_PLANS: dict[tuple[str, str, str], _Plan] = {}
_ANY = (-INF, INF, False, -INF, INF)
_NOTHING = (INF, -INF, True, -INF, INF)
_IMPLAUSIBLE = int(Quality.IMPLAUSIBLE)
_DEVICE_FLAGGED = int(Quality.DEVICE_FLAGGED)


def _plan(code: str, system: str, unit_text: str) -> _Plan:
    metric = METRICS.get(code)
    unit = canonical_unit(unit_text)
    known = metric_for(system, code)
    category = known.category if known is not None else ""
    if metric is None:
        plan = _Plan(_ANY, unit, category)
    elif unit != metric.unit and not (unit == "" and metric.unit.startswith("{")):
        plan = _Plan(_NOTHING, metric.unit, category)
    elif metric.limits is None:
        plan = _Plan(_ANY, metric.unit, category)
    else:
        lim = metric.limits
        plan = _Plan((*lim.reject, lim.reject_low_inclusive, *lim.flag), metric.unit, category)
    if len(_PLANS) < 10_000:  # bounded: codes and units come from outside
        _PLANS[(code, system, unit_text)] = plan
    return plan


def _us(t: datetime) -> int:
    """Microseconds since the epoch (exact integer arithmetic, as :func:`to_us`)."""
    d = t - EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def _in_item(loc: tuple[Any, ...]) -> bool:
    """Whether an error location is inside one reading or event (not the message itself)."""
    return len(loc) >= 2 and loc[0] in ("readings", "events") and isinstance(loc[1], int)


def _at(label: str, j: int, kept: list[int] | None) -> str:
    """``message <id> reading <i>``, ``i`` as in the message that was sent."""
    return f"{label} reading {j if kept is None else kept[j]}"


def _alias_problem(r: Reading) -> str:
    if r.get("code") is not None:
        return "send either `code` or `metric`, not both"
    return f"unknown metric {r.get('metric')!r}; known: {', '.join(METRIC_ALIASES)}"


def _reason(field: str, msg: str) -> str:
    if msg == "Field required":
        return f"`{field}` is missing"
    if msg.startswith("Extra inputs"):
        return f"unknown field `{field}`"
    return msg


def _field_hint(field: str) -> str:
    if field in ("t", "t_end", "start", "end"):
        return "give an ISO-8601 date-time with an offset, e.g. 2024-03-01T08:00:00+01:00"
    if field == "value":
        return "send a finite number"
    if field in ("code", "metric"):
        return f"use a LOINC code or one of: {', '.join(METRIC_ALIASES)}"
    return _HINT


# -- files -----------------------------------------------------------------------------------------
class DeviceJsonAdapter:
    """``.json`` / ``.json.gz`` (one payload) and ``.jsonl`` (one payload a line) device files."""

    name: ClassVar[str] = "device_json"

    def sniff(self, path: Path, head: str) -> bool:
        return path.name.lower().endswith(_FILE_SUFFIXES) and SCHEMA in head

    def read(self, path: Path, ctx: IngestContext) -> Iterator[Record]:
        batch = _Batch(ctx)
        with open_text(path) as f:
            if path.name.lower().endswith(_LINE_SUFFIXES):
                for n, line in enumerate(f, 1):
                    if line.strip():
                        batch.add(DevicePayload(line, where=f"{path}:{n}"))
                        yield from batch.drain()
                return
            text = f.read()
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"not valid JSON ({exc})", where=str(path),
                             hint="fix the file or send one message a line as .jsonl") from exc
        batch.add(DevicePayload(doc, where=str(path)))
        yield from batch.drain()


ADAPTER = DeviceJsonAdapter()
