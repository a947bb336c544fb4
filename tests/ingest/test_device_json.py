"""Device JSON messages (hyperhealth.device/1): schema, aliases, units, rejects, idempotency."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from hyperhealth.ingest import IngestOptions, detect, ingest_file
from hyperhealth.ingest.device_json import (
    METRIC_ALIASES,
    SCHEMA,
    DevicePayload,
    ingest_messages,
    ingest_payloads,
)
from hyperhealth.model import LifestyleKind, Person, Quality
from hyperhealth.model.codes import METRICS
from hyperhealth.store import Store

PID = "p-dev1"


def message(mid: str = "m1", readings: list[dict[str, Any]] | None = None, *,
            device: str = "watch-1", person: str | None = PID, **extra: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"schema": SCHEMA, "message_id": mid,
                           "device": {"id": device, "kind": "watch"}, **extra}
    if person is not None:
        msg["person"] = person
    msg["readings"] = readings if readings is not None else [hr(0, 61), hr(1, 62)]
    return msg


def hr(minute: int, value: Any, **kw: Any) -> dict[str, Any]:
    return {"metric": "heart_rate", "t": f"2024-03-01T08:{minute:02d}:00+01:00",
            "value": value, "unit": "bpm", **kw}


def add_person(store: Store, pid: str = PID) -> None:
    with store.transaction() as w:
        w.upsert_person(Person(id=pid, tz="Europe/Paris"))


@pytest.fixture
def db(sqlite_store: Store) -> Store:
    add_person(sqlite_store)
    return sqlite_store


def test_stores_readings_and_is_idempotent(store: Store) -> None:
    """Both backends: readings land once; a redelivered message or re-sent reading adds nothing."""
    add_person(store)
    first = ingest_messages(store, message())
    assert first.ok and first.added["observations"] == 2 and not first.rejects
    again = ingest_messages(store, message())
    assert again.added["observations"] == 0
    assert again.skipped["redelivered messages"] == 1
    # the same readings under a new message id: the observation natural key catches them
    resent = ingest_messages(store, message("m2"))
    assert resent.added["messages"] == 1 and resent.added["observations"] == 0
    assert resent.duplicates["observations"] == 2
    obs = store.observations(PID, "8867-4")
    assert [o.value for o in obs] == [61, 62]
    assert {(o.source, o.device, o.unit, o.category) for o in obs} == {
        ("device", "watch-1", "/min", "vital-signs")}
    assert obs[0].t.isoformat() == "2024-03-01T07:00:00+00:00"


@pytest.mark.parametrize("alias", sorted(METRIC_ALIASES))
def test_every_alias_is_a_known_loinc_metric(alias: str) -> None:
    assert METRIC_ALIASES[alias] in METRICS


@pytest.mark.parametrize(("alias", "value", "unit", "code", "stored"), [
    ("heart_rate", 70, "bpm", "8867-4", 70),
    ("resting_heart_rate", 55, "/min", "40443-4", 55),
    ("hrv_sdnn", 42, "ms", "80404-7", 42),
    ("spo2", 97, "%", "59408-5", 97),
    ("systolic_bp", 16, "kPa", "8480-6", 120.0),  # 16 kPa = 120.01 mmHg
    ("diastolic_bp", 80, "mmHg", "8462-4", 80),
    ("glucose", 5.5, "mmol/L", "2339-0", 99.0858),
    ("cgm_glucose", 7.0, "mmol/L", "99504-3", 126.1092),
    ("steps", 1200, "", "55423-8", 1200),
    ("weight", 150, "lb", "29463-7", 68.04),
    ("height", 70, "[in_i]", "8302-2", 177.8),
    ("temperature", 98.6, "degF", "8310-5", 37.0),
    ("respiratory_rate", 14, "/min", "9279-1", 14),
])
def test_aliases_and_unit_conversion(db: Store, alias: str, value: float, unit: str, code: str,
                                     stored: float) -> None:
    rep = ingest_messages(db, message(readings=[{"metric": alias, "t": "2024-03-01T08:00:00Z",
                                                 "value": value, "unit": unit}]))
    assert rep.added["observations"] == 1, rep.rejects
    (o,) = db.observations(PID, code)
    assert o.value == pytest.approx(stored, abs=0.01)
    assert o.unit == METRICS[code].unit
    assert bool(o.flags & Quality.CONVERTED) == (o.unit != unit and unit not in ("bpm", "mmHg",
                                                                                  ""))


def test_molar_glucose_code_becomes_the_mass_code(db: Store) -> None:
    rep = ingest_messages(db, message(readings=[
        {"code": "15074-8", "system": "http://loinc.org", "t": "2024-03-01T08:00:00Z",
         "value": 5.0, "unit": "mmol/L"}]))
    assert rep.added["observations"] == 1
    (o,) = db.observations(PID, "2339-0")
    assert o.value == pytest.approx(90.078) and o.flags & Quality.CONVERTED


def test_bad_readings_are_rejected_with_location_and_the_rest_stored(db: Store) -> None:
    readings = [
        hr(0, 60),
        hr(1, 0),  # impossible heart rate
        {"metric": "heart_rate", "t": "2024-03-01T08:02:00", "value": 60, "unit": "bpm"},  # no tz
        {"metric": "heart_rate", "t": 1709280000, "value": 60, "unit": "bpm"},  # a bare number
        {"metric": "pulse", "t": "2024-03-01T08:04:00Z", "value": 60, "unit": "bpm"},
        {"metric": "heart_rate", "t": "2024-03-01T08:05:00Z", "value": 60, "unit": "furlong"},
        {"metric": "heart_rate", "t": "2024-03-01T08:06:00Z", "unit": "bpm"},  # no value
        {"code": "8867-4", "metric": "heart_rate", "t": "2024-03-01T08:07:00Z", "value": 60,
         "unit": "bpm"},
        {"metric": "heart_rate", "t": "2024-03-01T08:08:00Z", "t_end": "2024-03-01T08:07:00Z",
         "value": 60, "unit": "bpm"},
        hr(9, 61),
    ]
    rep = ingest_messages(db, message("m7", readings))
    assert rep.added["observations"] == 2
    where = {r.where: r for r in rep.rejects}
    assert sorted(where) == [f"message m7 reading {i}" for i in range(1, 9)]
    assert where["message m7 reading 1"].field == "value"
    assert "impossible" in where["message m7 reading 1"].reason
    assert where["message m7 reading 2"].field == "t"
    assert "timezone" in where["message m7 reading 2"].reason
    assert "offset" in where["message m7 reading 2"].hint
    assert where["message m7 reading 3"].field == "t"
    assert "unknown metric 'pulse'" in where["message m7 reading 4"].reason
    assert where["message m7 reading 5"].field == "unit"
    assert where["message m7 reading 6"].reason == "`value` is missing"
    assert "not both" in where["message m7 reading 7"].reason
    assert where["message m7 reading 8"].field == "t_end"
    assert [o.value for o in db.observations(PID, "8867-4")] == [60, 61]


def test_device_mismatch_is_rejected(db: Store) -> None:
    rep = ingest_messages(db, message(device="watch-2"), device_id="watch-1")
    assert rep.added["observations"] == 0
    (rej,) = rep.rejects
    assert rej.where == "message m1" and rej.field == "device.id"
    assert "'watch-2'" in rej.reason and "'watch-1'" in rej.reason
    assert db.observations(PID) == []


def test_person_from_the_registered_device(db: Store) -> None:
    rep = ingest_messages(db, message(person=None, device="cgm-9"))
    (rej,) = rep.rejects
    assert rej.reason == ("device cgm-9 is not registered to a person; send `person` or "
                          "register the device")
    assert rep.added["messages"] == 0
    # one message with `person` registers the device; later ones may leave it out
    assert ingest_messages(db, message("m2", [hr(0, 70)], device="cgm-9")).added["observations"]
    later = ingest_messages(db, message("m1", [hr(1, 71)], device="cgm-9", person=None))
    assert later.added["observations"] == 1 and not later.rejects
    # the device cannot start sending for somebody else
    add_person(db, "p-other")
    stolen = ingest_messages(db, message("m3", [hr(2, 72)], device="cgm-9", person="p-other"))
    assert "registered to another person" in stolen.rejects[0].reason
    assert [o.value for o in db.observations(PID, "8867-4")] == [70, 71]


def test_unknown_person_is_rejected(db: Store) -> None:
    rep = ingest_messages(db, message(person="p-nobody"))
    assert rep.rejects[0].field == "person" and "no person 'p-nobody'" in rep.rejects[0].reason
    assert rep.added["observations"] == 0


def test_batched_payload_with_one_bad_message(db: Store) -> None:
    bad = message("m2")
    del bad["schema"]
    wrong_schema = message("m3", [hr(5, 65)])
    wrong_schema["schema"] = "hyperhealth.device/9"
    payload = [message("m1", [hr(0, 60)]), bad, wrong_schema, message("m4", [hr(1, 61)])]
    rep = ingest_messages(db, payload)
    assert rep.added["messages"] == 2 and rep.added["observations"] == 2
    assert [(r.where, r.field) for r in rep.rejects] == [("message m2", "schema"),
                                                        ("message m3", "schema")]
    assert "not stored" in rep.rejects[0].hint


def test_payloads_that_are_not_messages(db: Store) -> None:
    rep = ingest_payloads(db, [DevicePayload(b"{not json", "watch-1", "hyperhealth/w/readings"),
                               DevicePayload(b"42"), DevicePayload(orjson.dumps(message()))])
    assert [r.where for r in rep.rejects] == ["hyperhealth/w/readings: payload", "payload"]
    assert "not valid JSON" in rep.rejects[0].reason
    assert rep.added["observations"] == 2


def test_events_and_device_flags(db: Store) -> None:
    msg = message(readings=[hr(0, 60, flags=["device_flagged"])], events=[
        {"kind": "meal", "start": "2024-03-01T12:30:00+01:00", "details": {"carbs_g": 60}},
        {"kind": "exercise", "start": "2024-03-01T18:00:00+01:00",
         "end": "2024-03-01T18:45:00+01:00", "details": {"activity": "run"}},
        {"kind": "meal", "start": "2024-03-01T19:00:00+01:00", "details": {"sugar": 3}},
    ])
    rep = ingest_messages(db, msg)
    assert rep.added["lifestyle_events"] == 2
    assert [(r.where, r.field) for r in rep.rejects] == [("message m1 event 2", "details")]
    events = db.lifestyle_events(PID)
    assert [e.kind for e in events] == [LifestyleKind.MEAL, LifestyleKind.EXERCISE]
    assert events[0].details == {"carbs_g": 60.0} and events[0].source == "device"
    assert db.observations(PID)[0].flags & Quality.DEVICE_FLAGGED
    assert ingest_messages(db, message("m9", [], events=msg["events"][:2])).added[
        "lifestyle_events"] == 0


def test_options_person_attaches_to_that_person(db: Store) -> None:
    add_person(db, "p-b")
    rep = ingest_messages(db, message(person=None, device="scale-1",
                                      readings=[{"metric": "weight", "t": "2024-03-01T07:00:00Z",
                                                 "value": 70.2, "unit": "kg"}]),
                          options=IngestOptions(person="p-b"))
    assert rep.added["observations"] == 1
    assert db.observations("p-b", "29463-7")[0].value == 70.2


def test_files_import_through_the_driver(db: Store, tmp_path: Path) -> None:
    lines = tmp_path / "watch.jsonl"
    lines.write_text("\n".join(orjson.dumps(m).decode() for m in [
        message("a", [hr(0, 60)]), {"schema": SCHEMA, "message_id": "b"},
        message("c", [hr(1, 61), hr(2, 999)])]) + "\n")
    assert detect(lines).name == "device_json"
    rep = ingest_file(db, lines)
    assert rep.ok and rep.format == "device_json"
    assert rep.added["observations"] == 2
    assert [r.where for r in rep.rejects] == [f"{lines}:2: message b",
                                              f"{lines}:3: message c reading 1"]
    gz = tmp_path / "batch.json.gz"
    gz.write_bytes(gzip.compress(orjson.dumps([message("d", [hr(3, 63)])])))
    rep2 = ingest_file(db, gz)
    assert rep2.format == "device_json" and rep2.added["observations"] == 1
    assert [o.value for o in db.observations(PID, "8867-4")] == [60, 61, 63]
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema": "hyperhealth.device/1", "message_id": ')
    rep3 = ingest_file(db, broken)
    assert not rep3.ok and "not valid JSON" in rep3.error


def test_other_json_is_not_sniffed(tmp_path: Path) -> None:
    from hyperhealth.ingest.device_json import ADAPTER

    other = tmp_path / "x.json"
    assert not ADAPTER.sniff(other, '{"resourceType": "Bundle"}')
    assert ADAPTER.sniff(other, f'{{"schema": "{SCHEMA}"')
    assert not ADAPTER.sniff(tmp_path / "x.csv", f'"{SCHEMA}"')


def test_a_message_repeated_within_one_payload_counts_once(store: Store) -> None:
    add_person(store)
    rep = ingest_messages(store, [message("r1", [hr(0, 60)]), message("r1", [hr(1, 61)]),
                                  message("r2", [hr(2, 62)])])
    assert rep.added["messages"] == 2 and rep.skipped["redelivered messages"] == 1
    assert [o.value for o in store.observations(PID, "8867-4")] == [60, 62]


def test_a_json_string_is_not_read_as_json_text(db: Store) -> None:
    rep = ingest_messages(db, orjson.dumps(message()).decode())  # type: ignore[arg-type]
    assert [r.where for r in rep.rejects] == ["payload"] and rep.added["observations"] == 0


def test_readings_sent_again_in_a_new_message_are_stored_once(store: Store) -> None:
    """PostgreSQL copies a live batch straight into the table; a reading stored before (or
    twice in one batch) makes it write the batch again through the staging table, losing
    nothing that was new in it, such as a device registered by the same batch."""
    import time

    add_person(store)
    first = ingest_messages(store, message("m1", [hr(0, 61)]))
    assert first.added["observations"] == 1
    if store.dialect == "postgresql":  # straight into the table: no staging table was made
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM pg_class WHERE relname = "
                                        "'_obs_stage'").scalar() == 0
    rep = ingest_payloads(store, [
        DevicePayload(orjson.dumps(message("m2", [hr(0, 61), hr(1, 62), hr(1, 62)])), "watch-1"),
        DevicePayload(orjson.dumps(message("m3", [hr(2, 63)], device="cuff-9")), "cuff-9")])
    assert rep.ok and rep.added["messages"] == 2
    assert rep.added["observations"] == 2 and rep.duplicates["observations"] == 2
    assert [o.value for o in store.observations(PID, "8867-4")] == [61, 62, 63]
    with store.transaction() as w:
        assert w.device_owners(["cuff-9"]) == {"cuff-9": PID}
    if store.dialect == "postgresql":  # the next minute's batches take the careful way
        assert store._careful_until > time.monotonic()
        later = ingest_messages(store, message("m4", [hr(1, 62), hr(3, 64)]))
        assert later.added["observations"] == 1 and later.duplicates["observations"] == 1
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM pg_class WHERE relname = "
                                        "'_obs_stage'").scalar() >= 1


def test_a_store_refusing_the_readings_is_a_store_error(store: Store) -> None:
    """The readings' raw write paths (PostgreSQL's COPY, SQLite's executemany) report the
    database's refusal as a store error, as every other write does, and keep nothing."""
    from hyperhealth.errors import StoreError

    add_person(store)
    with store.engine.begin() as c:  # the database refuses every new reading
        if store.dialect == "postgresql":
            c.exec_driver_sql("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                              "$$ BEGIN RAISE EXCEPTION 'no readings today'; END $$")
            c.exec_driver_sql("CREATE TRIGGER refuse BEFORE INSERT ON observations "
                              "FOR EACH ROW EXECUTE FUNCTION refuse()")
        else:
            c.exec_driver_sql("CREATE TRIGGER refuse BEFORE INSERT ON observations "
                              "BEGIN SELECT RAISE(ABORT, 'no readings today'); END")
    with pytest.raises(StoreError, match="no readings today"):
        ingest_payloads(store, [DevicePayload(orjson.dumps(message()), None)])
    assert store.counts()["observations"] == 0
    with store.engine.begin() as c:
        c.exec_driver_sql("DROP TRIGGER refuse" + (" ON observations"
                                                  if store.dialect == "postgresql" else ""))
    again = ingest_messages(store, message())  # its message id was not kept either
    assert again.added["observations"] == 2 and not again.skipped["redelivered messages"]
