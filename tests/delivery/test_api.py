"""The REST API against a real store: persons, downsampled series, errors, ingest, export."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from hyperhealth.model import Observation, Person
from hyperhealth.model.time import to_us
from hyperhealth.store import Store
from tests.signin import signed_in

T0 = datetime(2024, 5, 1, tzinfo=UTC)
HR_N = 3 * 24 * 60  # three days of one-minute heart rate


def _hr_values() -> np.ndarray:
    rng = np.random.default_rng(7)
    return np.round(70 + 10 * np.sin(np.arange(HR_N) / 240) + rng.normal(0, 3, HR_N), 1)


def fill(store: Store) -> None:
    """Two persons: one with heart rate, SpO2 and BP, one with nothing measured yet."""
    hr = _hr_values()
    with store.transaction() as w:
        w.upsert_person(Person("p-alice", birth_date=date(1980, 2, 3), sex_at_birth="female",
                               tz="Europe/Berlin", identity={"name": "Alice Example"}))
        w.upsert_person(Person("p-bob", sex_at_birth="male"))
        w.add_observations([Observation("p-alice", "8867-4", T0 + timedelta(minutes=i),
                                        float(v), "/min", source="test")
                            for i, v in enumerate(hr)])
        w.add_observations([Observation("p-alice", "59408-5", T0 + timedelta(hours=6 * i),
                                        97.0 - i % 3, "%", source="test") for i in range(12)])
        for i in range(3):
            t = T0 + timedelta(days=i, hours=8)
            w.add_observations([Observation("p-alice", "8480-6", t, 120.0 + i, "mm[Hg]"),
                                Observation("p-alice", "8462-4", t, 80.0 - i, "mm[Hg]")])


@pytest.fixture
def client(sqlite_store: Store) -> Iterator[TestClient]:
    fill(sqlite_store)
    with signed_in(sqlite_store, client_kw={"raise_server_exceptions": False}) as c:
        yield c


def _us(iso: str) -> int:
    return to_us(datetime.fromisoformat(iso.replace("Z", "+00:00")))


def assert_problem(r: Any, status: int, *words: str) -> dict[str, Any]:
    """An error body that says what, where and how to fix it — and no traceback."""
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == status
    assert body["what"] and body["fix"], body
    assert "Traceback" not in r.text and 'File "' not in r.text
    text = json.dumps(body).lower()
    for w in words:
        assert w.lower() in text, (w, body)
    return dict(body)


# -- persons -----------------------------------------------------------------------------------
def test_persons_list(client: TestClient) -> None:
    r = client.get("/api/persons")
    assert r.status_code == 200
    rows = {p["id"]: p for p in r.json()}
    assert set(rows) == {"p-alice", "p-bob"}
    assert rows["p-alice"] == {"id": "p-alice", "birth_date": "1980-02-03",
                               "sex_at_birth": "female", "tz": "Europe/Berlin", "streams": 4}
    assert rows["p-bob"]["streams"] == 0


def test_person_detail_and_streams(client: TestClient) -> None:
    p = client.get("/api/persons/p-alice").json()
    assert p["tz"] == "Europe/Berlin"
    assert "identity" not in p and "Alice Example" not in json.dumps(p)
    streams = {s["code"]: s for s in client.get("/api/persons/p-alice/streams").json()}
    assert set(streams) == {"8867-4", "59408-5", "8480-6", "8462-4"}
    assert streams["8867-4"]["count"] == HR_N
    assert streams["8867-4"]["unit"] == "/min"
    assert streams["8867-4"]["display"] == "Heart rate"
    assert _us(streams["8867-4"]["last"]) == to_us(T0 + timedelta(minutes=HR_N - 1))
    assert p["streams"] == list(streams.values())


@pytest.mark.parametrize("path", ["", "/streams", "/observations?code=8867-4", "/profile"])
def test_unknown_person_is_refused_like_a_person_without_consent(client: TestClient,
                                                                 path: str) -> None:
    """No consent can exist for an unknown id, so the answer is the same 403 a person without
    a grant gives: ids cannot be probed for existence."""
    body = assert_problem(client.get(f"/api/persons/p-nobody{path}"), 403, "no access",
                          "grant")
    assert body["where"] == f"/api/persons/p-nobody{path.split('?')[0]}"


# -- observations ------------------------------------------------------------------------------
def test_raw_window_returns_the_readings(client: TestClient) -> None:
    start, end = T0 + timedelta(hours=2), T0 + timedelta(hours=4)
    r = client.get("/api/persons/p-alice/observations", params={
        "code": "8867-4", "start": start.isoformat(), "end": end.isoformat()})
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["kind"] == "raw" and s["bucket_seconds"] is None
    assert s["unit"] == "/min" and s["readings"] == 120
    pts = s["points"]
    np.testing.assert_array_equal(pts["value"], _hr_values()[120:240])
    assert pts["n"] == [1] * 120 and pts["min"] == pts["value"] == pts["max"]
    assert _us(pts["t"][0]) == to_us(start)
    assert _us(pts["t"][-1]) == to_us(end - timedelta(minutes=1))  # end is exclusive


def _numpy_buckets(t_us: np.ndarray, v: np.ndarray, t0: int, t1: int, max_points: int
                   ) -> dict[str, np.ndarray]:
    """The same downsampling, done independently with numpy."""
    keep = (t_us >= t0) & (t_us < t1)
    t_us, v = t_us[keep], v[keep]
    width = -(-(t1 - t0) // max_points)
    b = (t_us - t0) // width
    ids = np.unique(b)
    return {"mid": t0 + ids * width + width // 2,
            "mean": np.array([v[b == i].mean() for i in ids]),
            "min": np.array([v[b == i].min() for i in ids]),
            "max": np.array([v[b == i].max() for i in ids]),
            "n": np.array([(b == i).sum() for i in ids]), "width": np.array(width)}


def _check_downsampled(c: TestClient, params: dict[str, Any], t0: int, t1: int) -> None:
    r = c.get("/api/persons/p-alice/observations", params={"code": "8867-4", **params})
    assert r.status_code == 200, r.text
    s = r.json()
    t_us = np.array([to_us(T0 + timedelta(minutes=i)) for i in range(HR_N)])
    ref = _numpy_buckets(t_us, _hr_values(), t0, t1, params["max_points"])
    pts = s["points"]
    assert s["kind"] == "bucket_mean"
    assert s["bucket_seconds"] == pytest.approx(float(ref["width"]) / 1e6)
    assert 0 < len(pts["t"]) <= params["max_points"]
    np.testing.assert_array_equal(pts["n"], ref["n"])
    np.testing.assert_allclose(pts["value"], ref["mean"], rtol=1e-12)
    np.testing.assert_array_equal(pts["min"], ref["min"])
    np.testing.assert_array_equal(pts["max"], ref["max"])
    np.testing.assert_array_equal([_us(t) for t in pts["t"]], ref["mid"])
    assert s["readings"] == int(ref["n"].sum())


def test_downsampled_range_matches_numpy(client: TestClient) -> None:
    start, end = T0 + timedelta(hours=5, minutes=17), T0 + timedelta(days=2, hours=1)
    _check_downsampled(client, {"start": start.isoformat(), "end": end.isoformat(),
                                "max_points": 97}, to_us(start), to_us(end))


def test_downsampled_whole_stream_matches_numpy(client: TestClient) -> None:
    # without start/end the window is [first reading, last reading + 1 us)
    last = to_us(T0 + timedelta(minutes=HR_N - 1))
    _check_downsampled(client, {"max_points": 500}, to_us(T0), last + 1)


def test_downsampling_on_both_backends(store: Store) -> None:
    """The same request on SQLite and PostgreSQL gives the numpy bucket means."""
    fill(store)
    with signed_in(store, web=False) as c:
        assert [p["id"] for p in c.get("/api/persons").json()] == ["p-alice", "p-bob"]
        start, end = T0, T0 + timedelta(days=1)
        _check_downsampled(c, {"start": start.isoformat(), "end": end.isoformat(),
                               "max_points": 300}, to_us(start), to_us(end))
        assert c.get("/healthz").json()["store"] == store.dialect


def test_sparse_stream_stays_raw(client: TestClient) -> None:
    s = client.get("/api/persons/p-alice/observations",
                   params={"code": "59408-5", "max_points": 2000}).json()
    assert s["kind"] == "raw" and s["readings"] == 12
    assert s["points"]["value"][:3] == [97.0, 96.0, 95.0]


@pytest.mark.parametrize(("params", "status", "words"), [
    ({"code": "8867-4", "start": "2024-05-02T00:00:00Z", "end": "2024-05-01T00:00:00Z"},
     422, ["end", "start", "not after"]),
    ({"code": "8867-4", "start": "2024-05-02T00:00:00Z", "end": "2024-05-02T00:00:00Z"},
     422, ["not after"]),
    ({"code": "8867-4", "start": "2024-05-02T00:00:00"}, 422, ["time zone", "start"]),
    ({"code": "8867-4", "end": "yesterday"}, 422, ["ISO-8601", "query parameter end"]),
    ({"code": "8867-4", "max_points": "0"}, 422, ["max_points", "at least 1"]),
    ({"code": "8867-4", "max_points": "lots"}, 422, ["max_points", "whole number"]),
    ({}, 422, ["query parameter code", "add this parameter"]),
    ({"code": "2339-0"}, 404, ["2339-0", "8867-4", "/streams"]),
])
def test_bad_parameters_are_explained(client: TestClient, params: dict[str, str],
                                      status: int, words: list[str]) -> None:
    assert_problem(client.get("/api/persons/p-alice/observations", params=params), status,
                   *words)


def test_offset_times_are_honoured(client: TestClient) -> None:
    # 02:00+02:00 is 00:00 UTC; an unencoded '+' arrives as a space and is still understood
    a = client.get("/api/persons/p-alice/observations?code=8867-4"
                   "&start=2024-05-01T02:00:00%2B02:00&end=2024-05-01T03:00:00 02:00").json()
    assert a["readings"] == 60
    assert _us(a["points"]["t"][0]) == to_us(T0)


def test_several_problems_are_listed(client: TestClient) -> None:
    body = assert_problem(client.get("/api/persons/p-alice/observations?max_points=-1"), 422)
    assert {e["where"] for e in body["errors"]} == {"query parameter code",
                                                    "query parameter max_points"}


# -- errors ------------------------------------------------------------------------------------
def test_unknown_route_and_method(client: TestClient) -> None:
    assert_problem(client.get("/api/nothing-here"), 404, "/docs")
    assert_problem(client.delete("/api/persons"), 405, "DELETE")


def test_server_error_has_no_traceback(sqlite_store: Store) -> None:
    fill(sqlite_store)
    with sqlite_store.engine.begin() as conn:  # a broken database, not a mock
        conn.exec_driver_sql("DROP TABLE observations")
    with signed_in(sqlite_store, client_kw={"raise_server_exceptions": False}) as c:
        body = assert_problem(c.get("/api/persons/p-alice/streams"), 500, "retry")
        assert "observations" not in body["what"]  # no SQL or internals leak out


# -- docs and health ---------------------------------------------------------------------------
def test_openapi_schema(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "hyperhealth"
    for path in ("/api/persons", "/api/persons/{person_id}",
                 "/api/persons/{person_id}/observations", "/api/persons/{person_id}/streams",
                 "/api/persons/{person_id}/profile", "/api/ingest/device", "/api/ingest/fhir",
                 "/api/persons/{person_id}/export/fhir", "/healthz"):
        assert path in spec["paths"], path
    obs = spec["paths"]["/api/persons/{person_id}/observations"]["get"]
    assert {p["name"] for p in obs["parameters"]} >= {"code", "start", "end", "max_points"}
    assert "Problem" in spec["components"]["schemas"]
    assert "SeriesOut" in spec["components"]["schemas"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "store": "sqlite", "persons": 2}


# -- profile -----------------------------------------------------------------------------------
def test_profile(client: TestClient) -> None:
    r = client.get("/api/persons/p-alice/profile")
    assert r.status_code == 200, r.text
    prof = r.json()
    assert prof["person"]["id"] == "p-alice"
    assert "identity" not in prof["person"] and "Alice Example" not in r.text
    assert {c["code"] for c in prof["coverage"]} == {"8867-4", "59408-5", "8480-6", "8462-4"}


# -- ingest ------------------------------------------------------------------------------------
def _fhir_obs(i: int, value: float) -> dict[str, Any]:
    return {"fullUrl": f"urn:uuid:obs-{i}", "resource": {
        "resourceType": "Observation", "id": f"obs-{i}", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": "urn:uuid:pat-1"},
        "effectiveDateTime": f"2024-06-01T0{i}:00:00Z",
        "valueQuantity": {"value": value, "unit": "/min", "system": "http://unitsofmeasure.org",
                          "code": "/min"}}}


def _bundle(*obs: dict[str, Any]) -> dict[str, Any]:
    pat = {"fullUrl": "urn:uuid:pat-1", "resource": {
        "resourceType": "Patient", "id": "pat-1", "gender": "male", "birthDate": "1970-01-02"}}
    return {"resourceType": "Bundle", "type": "transaction", "entry": [pat, *obs]}


def test_ingest_fhir_statuses_and_read_back(client: TestClient) -> None:
    r = client.post("/api/ingest/fhir", json=_bundle(_fhir_obs(1, 61), _fhir_obs(2, 62)))
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["outcome"] == "stored" and rep["added"] == {"observations": 2}
    (pid,) = rep["persons"]
    s = client.get(f"/api/persons/{pid}/observations", params={"code": "8867-4"}).json()
    assert s["points"]["value"] == [61.0, 62.0]

    again = client.post("/api/ingest/fhir", json=_bundle(_fhir_obs(1, 61), _fhir_obs(2, 62)))
    assert again.status_code == 200 and again.json()["already_imported"] is True

    part = client.post("/api/ingest/fhir", json=_bundle(_fhir_obs(3, 63), _fhir_obs(4, 900)),
                       headers={"Content-Type": "application/fhir+json"})
    assert part.status_code == 207, part.text
    (rej,) = part.json()["rejects"]
    assert "obs-4" in rej["where"] and rej["field"] == "value"

    bad = client.post("/api/ingest/fhir", json=_bundle(_fhir_obs(5, 0), _fhir_obs(6, 900)))
    assert bad.status_code == 422 and bad.json()["outcome"] == "rejected"
    assert len(bad.json()["rejects"]) == 2
    s = client.get(f"/api/persons/{pid}/observations", params={"code": "8867-4"}).json()
    assert s["points"]["value"] == [61.0, 62.0, 63.0]


def test_ingest_fhir_body_checks(sqlite_store: Store) -> None:
    with signed_in(sqlite_store, fhir_body_limit=2000) as c:
        assert_problem(c.post("/api/ingest/fhir", content=b"{not json"), 400, "character")
        assert_problem(c.post("/api/ingest/fhir", content=b""), 400, "no FHIR Bundle")
        assert_problem(c.post("/api/ingest/fhir", json=[1, 2]), 422, "resourceType")
        big = json.dumps(_bundle(*[_fhir_obs(i % 10, 60) for i in range(40)])).encode()
        assert len(big) > 2000
        assert_problem(c.post("/api/ingest/fhir", content=big), 413, "2,000 bytes", "split")

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming
            yield from (big[i:i + 500] for i in range(0, len(big), 500))

        assert_problem(c.post("/api/ingest/fhir", content=chunks()), 413, "2,000 bytes")
        assert sqlite_store.persons() == []


def _message(mid: str, *values: float, hour: int = 0) -> dict[str, Any]:
    return {"schema": "hyperhealth.device/1", "message_id": mid,
            "device": {"id": "watch-1", "kind": "watch"}, "person": "p-bob",
            "readings": [{"metric": "heart_rate", "t": f"2024-06-01T{hour:02d}:0{i}:00Z",
                          "value": v, "unit": "bpm"} for i, v in enumerate(values)]}


def test_ingest_device_then_read_back(client: TestClient) -> None:
    r = client.post("/api/ingest/device", json=_message("m-1", 64, 66))
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "stored" and r.json()["added"]["observations"] == 2
    s = client.get("/api/persons/p-bob/observations", params={"code": "8867-4"}).json()
    assert s["points"]["value"] == [64.0, 66.0]
    assert s["unit"] == "/min"
    # a redelivery is fine (200), a partly bad batch is 207, an all-bad one 422
    assert client.post("/api/ingest/device", json=_message("m-1", 64, 66)).status_code == 200
    part = client.post("/api/ingest/device", json=[_message("m-2", 70, 0, hour=1)])
    assert part.status_code == 207, part.text
    (rej,) = part.json()["rejects"]
    assert "m-2" in rej["where"] and rej["field"] == "value"
    bad = client.post("/api/ingest/device", json=_message("m-3", 0, 400))
    assert bad.status_code == 422 and bad.json()["outcome"] == "rejected", bad.text
    s = client.get("/api/persons/p-bob/observations", params={"code": "8867-4"}).json()
    assert s["points"]["value"] == [64.0, 66.0, 70.0]


def test_ingest_device_size_limit(sqlite_store: Store) -> None:
    with signed_in(sqlite_store, device_body_limit=100) as c:
        assert_problem(c.post("/api/ingest/device", content=b"[" + b" " * 200 + b"]"), 413,
                       "100 bytes")


# -- export ------------------------------------------------------------------------------------
def test_export_fhir_bundle_and_ndjson(client: TestClient) -> None:
    r = client.get("/api/persons/p-alice/export/fhir")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/fhir+json")
    b = r.json()
    assert b["resourceType"] == "Bundle"
    types = [e["resource"]["resourceType"] for e in b["entry"]]
    assert types[0] == "Patient" and "Observation" in types
    assert_problem(client.get("/api/persons/p-nobody/export/fhir"), 403, "no access")

    nd = client.get("/api/export/ndjson")
    assert nd.headers["content-type"].startswith("application/fhir+ndjson")
    lines = [json.loads(x) for x in nd.text.splitlines()]
    assert sum(x["resourceType"] == "Patient" for x in lines) == 2
    assert len(lines) == len(b["entry"]) + 1  # Alice's resources and Bob's Patient
