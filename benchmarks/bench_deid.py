"""The de-identified research export against a plain CSV dump of the same rows.

The export reads the consent table, generalises and checks k-anonymity, pseudonymises, shifts
every time of every person by their keyed offset, filters by consent category and writes
persons, observations (gzip CSV), conditions and medications with a manifest and file hashes.
The baseline, measured in the same run on the same store, selects the same observation columns
(and the person, condition and medication rows) and writes them unchanged with the same csv
module and gzip level: what a dump without any de-identification costs. The ratio is the price
of de-identification (1.0 would be free).

Run ``python benchmarks/bench_deid.py --quick`` (~30 s) or see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, fresh_postgres, print_table, write_json

from hyperhealth.model import Condition, Medication, Person
from hyperhealth.model.time import to_us
from hyperhealth.security._deid import research_export
from hyperhealth.store import Store
from hyperhealth.store import _schema as S

T0 = datetime(2024, 7, 1, tzinfo=UTC)
KEY = bytes(range(32))
ZIPS = ("95814", "10001", "60601", "85004", "03601")
RACES = ("White", "Black or African American", "Asian")
CATEGORIES = ["demographics", "vitals", "activity", "conditions", "medications", "location"]


def populate(store: Store, persons: int, days: int, seed: int = 1) -> int:
    """``persons`` people with 1-minute heart rate and steps for ``days`` days, a condition and a
    medication each, and a research consent; returns the observation count."""
    rng = np.random.default_rng(seed)
    minutes = days * 1440
    t0 = to_us(T0)
    with store.transaction() as w:
        for i in range(persons):
            w.upsert_person(Person(
                id=f"p-bench{i:04d}", birth_date=date(int(rng.integers(1940, 2000)), 5, 17),
                sex_at_birth=("female", "male")[i % 2], race=RACES[i % 3],
                identity={"name": f"Bench Person {i}", "postal_code": ZIPS[i % len(ZIPS)],
                          "phone": f"+1-555-010-{i:04d}"}))
    with store.engine.connect() as conn:
        pks = dict(conn.execute(sa.select(S.persons.c.id, S.persons.c.pk)).all())
    total = 0
    for i in range(persons):
        pid = f"p-bench{i:04d}"
        pk = pks[pid]
        hr = (62 + 10 * np.sin(np.arange(minutes) / 300) + rng.normal(0, 3, minutes)).round()
        steps = rng.poisson(8, minutes)
        rows: list[tuple[Any, ...]] = [
            (pk, "8867-4", t0 + m * 60_000_000, "http://loinc.org", "bench", f"watch-{pid}", "",
             None, float(hr[m]), "/min", "", "", "Heart rate", "vital-signs", 0)
            for m in range(minutes)]
        rows += [(pk, "55423-8", t0 + m * 60_000_000, "http://loinc.org", "bench",
                  f"watch-{pid}", "", t0 + (m + 1) * 60_000_000, float(steps[m]), "{steps}",
                  "", "", "Steps", "activity", 0) for m in range(minutes)]
        with store.transaction() as w:
            total += w.add_observation_rows(rows)
            w.add_conditions([Condition(pid, "38341003", "Hypertension",
                                        onset=date(2021, 3, 1 + i % 28), source="bench",
                                        record_id=f"{pid}:c")])
            w.add_medications([Medication(pid, "314076", "Lisinopril 10 MG Oral Tablet",
                                          start=date(2021, 3, 2 + i % 27), dosage="10 mg daily",
                                          source="bench", record_id=f"{pid}:m")])
    now = time.time_ns() // 1000
    with store.engine.begin() as conn:
        conn.execute(S.consents.insert(), [dict(
            person_pk=pk, grantee_kind="team", grantee="research", categories=CATEGORIES,
            purpose="research", start_us=now - 1, end_us=None, created_us=now,
            created_by="bench", revoked_us=None, revoked_by=None) for pk in pks.values()])
    return total


def plain_dump(store: Store, out: Path) -> int:
    """The baseline: the same tables' rows written as they are (no consent, no k, no shift)."""
    out.mkdir()
    o = S.observations
    cols = (o.c.person_pk, o.c.code, o.c.system, o.c.category, o.c.t, o.c.t_end, o.c.value,
            o.c.unit, o.c.value_code, o.c.flags)
    n = 0
    with store.engine.connect() as conn:
        with gzip.open(out / "observations.csv.gz", "wt", compresslevel=6, newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow([c.name for c in cols])
            q = sa.select(*cols).order_by(o.c.person_pk, o.c.code, o.c.t)
            res = conn.execution_options(stream_results=True, yield_per=50_000).execute(q)
            for part in res.partitions(50_000):
                w.writerows(part)
                n += len(part)
        for name, table in (("persons.csv", S.persons), ("conditions.csv", S.conditions),
                            ("medications.csv", S.medications)):
            with open(out / name, "w", newline="") as fh:
                w = csv.writer(fh, lineterminator="\n")
                w.writerows(conn.execute(sa.select(table)))
    return n


def measure(store: Store, tmp: Path, repeats: int) -> dict[str, Any]:
    base_s, deid_s = [], []
    manifest: dict[str, Any] = {}
    n_obs = 0
    for r in range(repeats):
        # alternate the order so neither side always runs on a warm cache
        for which in (("dump", "deid") if r % 2 == 0 else ("deid", "dump")):
            t = time.perf_counter()
            if which == "dump":
                n_obs = plain_dump(store, tmp / f"dump{r}")
                base_s.append(time.perf_counter() - t)
            else:
                res = research_export(store, tmp / f"deid{r}", key=KEY, k=5, suppress=True,
                                      max_suppressed=0.2)
                deid_s.append(time.perf_counter() - t)
                manifest = res.manifest
    return {"dump_s": statistics.median(base_s), "deid_s": statistics.median(deid_s),
            "dump_obs": n_obs, "manifest": manifest}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--persons", type=int, default=200)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="50 persons x 2 days, 3 repeats")
    ap.add_argument("--json", type=Path, help="also write the results here")
    a = ap.parse_args()
    if a.quick:
        a.persons, a.days = 50, 2
    backends = ("sqlite", "postgres") if a.backend == "both" else (a.backend,)
    rows: list[Row] = []
    sizes: dict[str, Any] = {}
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix="bench-deid-") as d:
            tmp = Path(d)
            if backend == "sqlite":
                store = Store(f"sqlite:///{tmp / 'hh.sqlite'}")
                res = _run(store, a, tmp)
                store.close()
            else:
                with fresh_postgres() as url:
                    store = Store(url)
                    try:
                        res = _run(store, a, tmp)
                    finally:
                        store.close()
        m = res["manifest"]
        persons, obs = m["counts"]["persons"], m["counts"]["observations"]
        consented = m["consent"]["persons_with_research_consent"]
        rows += [
            Row(backend, "export persons/s (consented persons read)", consented / res["deid_s"],
                "persons/s", consented / res["dump_s"], "plain CSV dump, same rows"),
            Row(backend, "export observations/s", obs / res["deid_s"], "rows/s",
                res["dump_obs"] / res["dump_s"], "plain CSV dump, same rows"),
        ]
        sizes[backend] = {"persons": a.persons, "days": a.days, "observations": res["dump_obs"],
                          "released_persons": persons, "released_observations": obs,
                          "k": m["k_anonymity"]["k_achieved"],
                          "generalisations": m["k_anonymity"]["generalisations_applied"],
                          "suppressed": m["k_anonymity"]["suppressed_persons"],
                          "deid_seconds": round(res["deid_s"], 3),
                          "dump_seconds": round(res["dump_s"], 3)}
        print(f"{backend}: {a.persons} persons x {a.days} days = {res['dump_obs']:,} "
              f"observations; export {res['deid_s']:.2f} s, plain dump {res['dump_s']:.2f} s "
              f"(export/dump time {res['deid_s'] / res['dump_s']:.2f}); released "
              f"{persons} persons (k={m['k_anonymity']['k_achieved']}, "
              f"{m['k_anonymity']['suppressed_persons']} suppressed)", flush=True)
    print()
    print_table(rows)
    if a.json:
        write_json(a.json, rows, {"python": platform.python_version(), "sizes": sizes,
                                  "repeats": a.repeats})


def _run(store: Store, a: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    t = time.perf_counter()
    n = populate(store, a.persons, a.days)
    print(f"set-up: {n:,} observations in {time.perf_counter() - t:.1f} s", flush=True)
    return measure(store, tmp, a.repeats)


if __name__ == "__main__":
    main()
