"""Replay throughput of baselines + all detectors, against a naive per-reading baseline.

Data: the Stanford COVID-19 Fitbit recordings (heart rate and steps, ../shared/data), loaded
into memory, so the figure is the engine's own work: resting-HR derivation, every enabled rule
and the saved state, without store reads or alert writes (``process(..., save=False)``). The
baseline is the same engine fed one reading at a time, the way a naive streaming loop would,
timed on the first ``--naive-readings`` readings. One process, one core.

    python benchmarks/bench_engine.py [--participants 4] [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, print_table, write_json

from hyperhealth.engine import Engine
from hyperhealth.model import Person
from hyperhealth.model.codes import HEART_RATE, STEPS
from hyperhealth.store import Store

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "wearables" / \
    "stanford-covid-fitbit"


def load(pid: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for kind, code, col in (("hr", HEART_RATE, "heartrate"), ("steps", STEPS, "steps")):
        df = pd.read_csv(DATA / f"{pid}_{kind}.csv.gz", usecols=["datetime", col])
        t = pd.to_datetime(df["datetime"]).to_numpy().astype("datetime64[us]").astype(np.int64)
        order = np.argsort(t, kind="stable")
        out[code] = (t[order], df[col].to_numpy(np.float64)[order])
    return out


def windows(data: dict[str, tuple[np.ndarray, np.ndarray]], us: int):  # type: ignore[no-untyped-def]
    t0 = min(int(t[0]) for t, _ in data.values())
    t1 = max(int(t[-1]) for t, _ in data.values()) + 1
    for a in range(t0, t1, us):
        part = {}
        for code, (t, v) in data.items():
            i, j = np.searchsorted(t, [a, a + us])
            if j > i:
                part[code] = (t[i:j], v[i:j])
        yield part


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--participants", type=int, default=4)
    ap.add_argument("--naive-readings", type=int, default=20_000)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"reference data {DATA} is absent", file=sys.stderr)
        return 2
    pids = sorted(p.name.split("_")[0] for p in DATA.glob("*_hr.csv.gz"))[: args.participants]
    data = {pid: load(pid) for pid in pids}
    total = sum(len(t) for d in data.values() for t, _ in d.values())
    store = Store("sqlite://")  # in memory: persons only, no readings
    with store.transaction() as w:
        for pid in pids:
            w.upsert_person(Person(id=pid))

    engine = Engine(store)
    t0 = time.process_time()
    for pid, d in data.items():
        for part in windows(d, 24 * 3_600_000_000):
            engine.process({pid: part}, now_us=0, save=False)
    fast = total / (time.process_time() - t0)

    naive_engine = Engine(store)
    pid = pids[0]
    d = data[pid]
    merged = sorted((int(t), code, float(v)) for code, (ts, vs) in d.items()
                    for t, v in zip(ts[: args.naive_readings], vs[: args.naive_readings],
                                    strict=True))[: args.naive_readings]
    t0 = time.process_time()
    for t, code, v in merged:
        naive_engine.process({pid: {code: (np.array([t]), np.array([v]))}}, now_us=0,
                             save=False)
    naive = len(merged) / (time.process_time() - t0)
    rows = [Row("engine replay", f"baselines + all detectors, {total:,} readings, "
                f"{len(pids)} participants", fast, "readings/s/core", naive,
                "same engine, one reading per call", extra={"target": 500_000,
                                                             "findings": engine.stats.findings})]
    print_table(rows)
    print(f"target >= 500,000 readings/s/core: {fast / 500_000:.2f}x of target")
    if args.json:
        write_json(args.json, rows, {"participants": pids})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
