"""Store hot paths: bulk ingest and the 30-day, 1-minute timeline query, on SQLite and PostgreSQL.

Targets (DESIGN.md, 2-core machine): bulk ingest into the embedded store >= 100k readings/s;
30-day 1-minute timeline for one person < 50 ms. Every figure is printed next to a baseline
measured in the same run:

* ingest: a naive writer that runs one ``INSERT ... ON CONFLICT DO NOTHING`` per reading through
  SQLAlchemy Core and commits after each (timed on a sample of ``--baseline-rows`` readings), and
  SQLAlchemy Core ``executemany`` of the same statement in one transaction;
* timeline: ``Store.observations`` for the same window (full Observation objects, what a caller
  without ``Store.series`` would do).

Run ``python benchmarks/bench_store.py --quick`` (well under a minute) or see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import gc
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    Row,
    fresh_postgres,
    latencies_ms,
    percentile,
    print_table,
    timed,
    write_json,
)

from hyperhealth.model import Observation, Person
from hyperhealth.model.time import to_us
from hyperhealth.store import Store
from hyperhealth.store import _schema as S

T0 = datetime(2024, 3, 1, tzinfo=UTC)
DAY_MINUTES = 24 * 60
# four wearable streams in their canonical units (hyperhealth.model.codes)
CODES = (("8867-4", "/min", 72.0), ("59408-5", "%", 97.0), ("9279-1", "/min", 15.0),
         ("55423-8", "{steps}", 20.0))
BATCH = 50_000  # what the ingest driver hands to add_observations


# -- data ------------------------------------------------------------------------------------------
def person_ids(n: int) -> list[str]:
    return [f"p-bench{i:03d}" for i in range(n)]


def ingest_observations(rows: int, persons: list[str]) -> list[Observation]:
    """``rows`` one-minute readings, stream after stream (person x code), like a wearable export."""
    streams = [(p, c) for p in persons for c in CODES]
    per = -(-rows // len(streams))
    out: list[Observation] = []
    for pid, (code, unit, base) in streams:
        for i in range(min(per, rows - len(out))):
            out.append(Observation(pid, code, T0 + timedelta(minutes=i), base + (i % 17) * 0.5,
                                   unit, category="vital-signs", source="bench",
                                   device="watch-1"))
    return out


def stream_rows(pk: int, code: str, unit: str, base: float,
                minutes: int) -> Iterator[tuple[Any, ...]]:
    """Raw ``_OBS_COLS`` tuples for one person's stream (fast set-up of the query store)."""
    t0 = to_us(T0)
    for i in range(minutes):
        yield (pk, code, t0 + i * 60_000_000, "http://loinc.org", "bench", "watch-1", "", None,
               base + (i % 17) * 0.5, unit, "", "", "", "vital-signs", 0)


# -- stores ---------------------------------------------------------------------------------------
@contextmanager
def open_fresh(backend: str, tmp: Path, name: str) -> Iterator[Store]:
    """A new, migrated store; a file in ``tmp`` or a new PostgreSQL database (dropped after)."""
    if backend == "sqlite":
        store = Store(f"sqlite:///{tmp / (name + '.sqlite')}")
        try:
            yield store
        finally:
            store.close()
        return
    with fresh_postgres() as url:
        store = Store(url)
        try:
            yield store
        finally:
            store.close()


def add_persons(store: Store, pids: list[str]) -> None:
    with store.transaction() as w:
        for pid in pids:
            w.upsert_person(Person(id=pid))


def _row_dict(store: Store, o: Observation) -> dict[str, Any]:
    return {"person_pk": store._person_pks[o.person_id], "code": o.code, "t": to_us(o.t),
            "system": o.system, "source": o.source, "device": o.device,
            "record_id": o.record_id, "t_end": None, "value": o.value, "unit": o.unit,
            "value_text": o.value_text, "value_code": o.value_code, "display": o.display,
            "category": o.category, "flags": int(o.flags)}


def _insert_ignore_stmt(store: Store) -> Any:
    dialect = sqlite_dialect if store.dialect == "sqlite" else pg_dialect
    return dialect.insert(S.observations).on_conflict_do_nothing()


def naive_per_row_commit(store: Store, obs: list[Observation],
                         budget_s: float) -> tuple[int, int]:
    """Baseline: one INSERT .. ON CONFLICT DO NOTHING per reading, a commit after each.

    Stops after ``budget_s`` seconds; returns (readings tried, rows added).
    """
    for pid in {o.person_id for o in obs}:
        store.person_pk(pid)
    stmt = _insert_ignore_stmt(store)
    added = tried = 0
    deadline = time.perf_counter() + budget_s
    for o in obs:
        with store.engine.begin() as conn:
            added += conn.execute(stmt, _row_dict(store, o),
                                  execution_options={"preserve_rowcount": True}).rowcount
        tried += 1
        if time.perf_counter() > deadline:
            break
    return tried, added


def core_executemany(store: Store, obs: list[Observation]) -> int:
    """Baseline: SQLAlchemy Core executemany of INSERT .. ON CONFLICT DO NOTHING, one commit."""
    for pid in {o.person_id for o in obs}:
        store.person_pk(pid)
    stmt = _insert_ignore_stmt(store)
    with store.engine.begin() as conn:
        return int(conn.execute(stmt, [_row_dict(store, o) for o in obs],
                                execution_options={"preserve_rowcount": True}).rowcount)


def add_in_batches(store: Store, obs: list[Observation]) -> int:
    """The product path: one transaction, ``add_observations`` in driver-sized batches."""
    added = 0
    with store.transaction() as w:
        for i in range(0, len(obs), BATCH):
            added += w.add_observations(obs[i:i + BATCH])
    return added


def count_observations(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(S.observations))
                   .scalar_one())


# -- benchmarks ------------------------------------------------------------------------------------
def bench_ingest(backend: str, tmp: Path, rows: int, baseline_rows: int,
                 budget_s: float) -> list[Row]:
    pids = person_ids(4)
    obs = ingest_observations(rows, pids)
    with open_fresh(backend, tmp, "naive") as store:
        add_persons(store, pids)
        secs, (tried, added) = timed(
            lambda: naive_per_row_commit(store, obs[:baseline_rows], budget_s))
        assert added == tried, (added, tried)
        naive = tried / secs
    with open_fresh(backend, tmp, "core") as store:
        add_persons(store, pids)
        gc.collect()
        secs, added = timed(lambda: core_executemany(store, obs))
        assert added == len(obs), (added, len(obs))
        core = len(obs) / secs
    with open_fresh(backend, tmp, "ingest") as store:
        add_persons(store, pids)
        gc.collect()
        secs, added = timed(lambda: add_in_batches(store, obs))
        assert added == len(obs) == count_observations(store), (added, len(obs))
        fast = len(obs) / secs
        secs, again = timed(lambda: add_in_batches(store, obs))
        assert again == 0 and count_observations(store) == len(obs), again
        reimport = len(obs) / secs
    sec = f"ingest {backend}"
    naive_what = f"1 INSERT+commit per reading ({tried:,} timed)"
    return [
        Row(sec, f"add_observations, {rows:,} rows", fast, "readings/s", naive, naive_what),
        Row(sec, f"add_observations, {rows:,} rows", fast, "readings/s", core,
            "SQLAlchemy Core executemany, 1 commit"),
        Row(sec, "re-import same rows (adds 0)", reimport, "readings/s", naive, naive_what),
        Row(sec, "re-import / first import", reimport / fast, "ratio"),
    ]


def build_query_store(store: Store, persons: int, days: int) -> str:
    """``persons`` x 4 codes x ``days`` days of 1-minute readings; returns the person to query."""
    pids = person_ids(persons)
    add_persons(store, pids)
    minutes = days * DAY_MINUTES
    for pid in pids:
        pk = store.person_pk(pid)
        with store.transaction() as w:
            for code, unit, base in CODES:
                w.add_observation_rows(list(stream_rows(pk, code, unit, base, minutes)))
    with store.engine.begin() as conn:  # fresh statistics, as after autovacuum / ANALYZE
        conn.exec_driver_sql("ANALYZE")
    return pids[len(pids) // 2]


def _lat_rows(sec: str, what: str, lat: list[float], base: list[float], base_what: str,
              n: int) -> list[Row]:
    return [
        Row(sec, f"{what} p50", percentile(lat, 50), "ms", percentile(base, 50), base_what,
            higher_is_better=False, extra={"points": n, "runs": len(lat)}),
        Row(sec, f"{what} p95", percentile(lat, 95), "ms", percentile(base, 95), base_what,
            higher_is_better=False, extra={"points": n, "runs": len(lat)}),
    ]


def bench_timeline(backend: str, tmp: Path, persons: int, days: int, repeats: int) -> list[Row]:
    code = CODES[0][0]
    start, end = T0, T0 + timedelta(days=days)
    expected = days * DAY_MINUTES
    with open_fresh(backend, tmp, "timeline") as store:
        secs, pid = timed(lambda: build_query_store(store, persons, days))
        total = persons * len(CODES) * expected
        print(f"  [{backend}] query store: {total:,} readings ({persons} persons x "
              f"{len(CODES)} codes x {days} days) built in {secs:.1f} s", file=sys.stderr)

        def series() -> Any:
            s = store.series(pid, code, start, end)
            assert len(s) == expected, len(s)
            return s

        def series_open() -> Any:
            s = store.series(pid, code)
            assert len(s) == expected, len(s)
            return s

        def downsampled() -> Any:
            s = store.series(pid, code, start, end, max_points=2000)
            assert 0 < len(s) <= 2000 and int(s.n.sum()) == expected, len(s)
            return s

        def naive() -> Any:
            obs = store.observations(pid, code, start, end)
            assert len(obs) == expected, len(obs)
            return obs

        runs: dict[str, Callable[[], Any]] = {"series": series, "open": series_open,
                                              "ds": downsampled, "naive": naive}
        lat = {k: latencies_ms(f, repeats) for k, f in runs.items()}
    sec = f"timeline {backend}"
    bw = "Store.observations (Observation objects)"
    n = f"{expected:,} pts"
    return [
        *_lat_rows(sec, f"series(start, end), {n}", lat["series"], lat["naive"], bw, expected),
        *_lat_rows(sec, f"series() no bounds, {n}", lat["open"], lat["naive"], bw, expected),
        *_lat_rows(sec, "series(max_points=2000)", lat["ds"], lat["naive"], bw, 2000),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--rows", type=int, help="readings for the ingest benchmark "
                    "(default 300,000; --quick 100,000)")
    ap.add_argument("--baseline-rows", type=int, help="readings timed with the naive "
                    "per-row-commit writer (default 5,000; --quick 2,000)")
    ap.add_argument("--baseline-seconds", type=float, help="time budget of the naive "
                    "writer (default 3; --quick 1)")
    ap.add_argument("--persons", type=int, help="persons in the timeline store, each with 4 "
                    "codes x 30 days of 1-minute readings (default 20; --quick 3)")
    ap.add_argument("--days", type=int, default=30, help="days per stream (default 30)")
    ap.add_argument("--repeats", type=int, help="timed runs per query (default 40; --quick 15)")
    ap.add_argument("--quick", action="store_true", help="smaller sizes, under a minute")
    ap.add_argument("--skip", choices=("ingest", "timeline"), action="append", default=[])
    ap.add_argument("--json", type=Path, help="also write the results to this JSON file")
    a = ap.parse_args(argv)
    rows = a.rows or (100_000 if a.quick else 300_000)
    baseline_rows = a.baseline_rows or (2_000 if a.quick else 5_000)
    budget_s = a.baseline_seconds or (1.0 if a.quick else 3.0)
    persons = a.persons or (3 if a.quick else 20)
    repeats = a.repeats or (15 if a.quick else 40)
    backends = ("sqlite", "postgres") if a.backend == "both" else (a.backend,)

    results: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="hh-bench-") as d:
        tmp = Path(d)
        for b in backends:
            if "ingest" not in a.skip:
                print(f"ingest on {b} ...", file=sys.stderr)
                results += bench_ingest(b, tmp, rows, min(baseline_rows, rows), budget_s)
            if "timeline" not in a.skip:
                print(f"timeline on {b} ...", file=sys.stderr)
                results += bench_timeline(b, tmp, persons, a.days, repeats)
    print()
    print_table(results)
    print("\ntargets (DESIGN.md): ingest into SQLite >= 100,000 readings/s; "
          "30-day 1-minute series < 50 ms")
    if a.json:
        meta = {"rows": rows, "baseline_rows": baseline_rows, "baseline_seconds": budget_s,
                "persons": persons,
                "days": a.days, "repeats": repeats, "python": platform.python_version(),
                "sqlite": __import__("sqlite3").sqlite_version, "machine": platform.node()}
        write_json(a.json, results, meta)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
