"""gzip request bodies on the server's device route (what edge agents send)."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperhealth.store import Store
from tests.engine.edge_helpers import add_persons, cgm
from tests.signin import signed_in

LIMIT = 20_000
GZ = {"Content-Encoding": "gzip", "Content-Type": "application/json"}


@pytest.fixture
def client(sqlite_store: Store) -> Iterator[TestClient]:
    add_persons(sqlite_store)
    with signed_in(sqlite_store, device_body_limit=LIMIT, web=False) as c:
        yield c


def body(n: int = 10) -> bytes:
    return orjson.dumps(cgm([100.0 + i for i in range(n)]))


def test_gzip_body_is_stored_like_a_plain_one(client: TestClient) -> None:
    r = client.post("/api/ingest/device", content=gzip.compress(body()), headers=GZ)
    assert r.status_code == 200, r.text
    assert r.json()["added"] == {"messages": 10, "observations": 10}
    r = client.post("/api/ingest/device", content=body())  # the same, plain: a replay
    assert r.status_code == 200 and r.json()["skipped"] == {"redelivered messages": 10}
    r = client.post("/api/ingest/device", content=gzip.compress(body()),
                    headers={**GZ, "Content-Encoding": "x-gzip"})
    assert r.status_code == 200


def test_several_gzip_members(client: TestClient) -> None:
    b = body()
    cut = b.index(b",{")
    data = gzip.compress(b[:cut]) + gzip.compress(b[cut:]) + b"\0\0\0"  # padding is allowed
    r = client.post("/api/ingest/device", content=data, headers=GZ)
    assert r.status_code == 200 and r.json()["added"]["messages"] == 10


def test_the_limit_applies_to_the_decompressed_size(client: TestClient) -> None:
    bomb = gzip.compress(b"[" + b" " * 50_000_000 + b"]", 9)  # 50 MB in ~50 kB
    assert len(bomb) < 100_000
    small = gzip.compress(b"[" + b" " * (LIMIT + 1) + b"]")
    for data in (small, bomb):
        r = client.post("/api/ingest/device", content=data, headers=GZ)
        assert r.status_code == 413, r.text
        assert "limit of 20,000 bytes" in r.json()["what"]
    big = gzip.compress(b"[" + b" " * (LIMIT + 1) + b"]", 0)  # compressed alone over the limit
    r = client.post("/api/ingest/device", content=big, headers=GZ)
    assert r.status_code == 413 and "compressed" in r.json()["what"]
    ok = gzip.compress(b" " * (LIMIT - len(body(1))) + body(1))  # exactly at the limit
    assert client.post("/api/ingest/device", content=ok, headers=GZ).status_code == 200


@pytest.mark.parametrize("data, words", [
    (gzip.compress(b'[{"a": 1}]', mtime=0)[:-6], "truncated"),
    (b'[{"not": "gzip"}]', "cannot be decompressed"),
    (gzip.compress(b"[]", mtime=0) + b"junk", "bytes after the end"),
])
def test_broken_gzip(client: TestClient, data: bytes, words: str) -> None:
    r = client.post("/api/ingest/device", content=data, headers=GZ)
    assert r.status_code == 400 and words in r.json()["what"] and r.json()["fix"]


def test_other_encodings_are_refused(client: TestClient) -> None:
    r = client.post("/api/ingest/device", content=zlib.compress(body()),
                    headers={"Content-Encoding": "deflate"})
    assert r.status_code == 415 and r.json()["where"] == "header Content-Encoding"
    r = client.post("/api/ingest/device", content=body(), headers={"Content-Encoding": "identity"})
    assert r.status_code == 200


def test_gzip_of_not_json(client: TestClient) -> None:
    r = client.post("/api/ingest/device", content=gzip.compress(b"{nope"), headers=GZ)
    assert r.status_code == 400 and "not valid JSON" in r.json()["what"]


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 40), st.integers(0, 9), st.integers(1, 5))
def test_any_split_into_members_reads_the_same(n: int, level: int, parts: int) -> None:
    import asyncio

    from hyperhealth.delivery.api._ingest import _gunzip

    raw = body(n)
    step = -(-len(raw) // parts)
    data = b"".join(gzip.compress(raw[i:i + step], level) for i in range(0, len(raw), step))

    async def chunks() -> list[bytes]:
        async def src():  # type: ignore[no-untyped-def]
            for i in range(0, len(data), 97):  # odd network chunks
                yield data[i:i + 97]

        return [c async for c in _gunzip(src(), 1 << 30)]

    pieces = asyncio.run(chunks())
    assert b"".join(pieces) == raw
    assert all(len(p) <= 256 * 1024 for p in pieces)
