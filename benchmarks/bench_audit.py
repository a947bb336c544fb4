"""The audit trail (hyperhealth.security.AuditLog): cost of appending and speed of verifying.

No target in DESIGN.md; these figures say what the hash chain costs next to baselines measured
in the same run, on SQLite and PostgreSQL:

* append, batched: ``AuditLog.record`` of ``--batch`` entries per transaction (lock, read head,
  HMAC-SHA256 chain, insert, move the signed checkpoint file). Baseline: the same rows inserted
  with plain INSERTs in transactions of the same size, no lock, no hash, no checkpoint, into
  a second fresh store. A third figure leaves out only the checkpoint file.
* append, one entry per transaction (one audited API request each): ``record_one`` against a
  plain single-row insert and commit.
* verify: ``AuditLog.verify`` over every entry (streamed, one HMAC per entry), entries/s.
  Baseline: streaming the same rows with the same query and no hashing.

Run ``python benchmarks/bench_audit.py --quick`` (about 30 s; PostgreSQL on 127.0.0.1:5432).
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, fresh_postgres, print_table, write_json

from hyperhealth.security._audit import GENESIS, AuditEntry, AuditLog
from hyperhealth.store import Store
from hyperhealth.store import _schema as S

KEY = bytes(range(32))
T = S.audit_log


def entries(n: int, offset: int = 0) -> list[AuditEntry]:
    """Entries shaped like an API guard's: route, person, purpose, client address, a detail."""
    return [AuditEntry(actor=f"dr-{i % 40}", role="clinician", action="read",
                       resource=f"GET /api/persons/p-{i % 500:04d}/observations",
                       person_id=f"p-{i % 500:04d}", purpose="treatment", outcome="permit",
                       source=f"10.1.{i % 200}.{i % 250}",
                       detail={"codes": ["8867-4", "59408-5"], "rows": i % 1000})
            for i in range(offset, offset + n)]


def plain_rows(batch: list[AuditEntry]) -> list[dict[str, object]]:
    now = time.time_ns() // 1000
    return [{"t_us": now, "actor": e.actor, "role": e.role, "action": e.action,
             "resource": e.resource, "person_id": e.person_id, "purpose": e.purpose,
             "outcome": e.outcome, "source": e.source, "detail": dict(e.detail),
             "prev_hash": GENESIS, "hash": GENESIS} for e in batch]


@contextmanager
def open_store(backend: str, tmp: Path, name: str) -> Iterator[Store]:
    if backend == "sqlite":
        s = Store(f"sqlite:///{tmp / (name + '.sqlite')}")
        try:
            yield s
        finally:
            s.close()
        return
    with fresh_postgres() as url:
        s = Store(url)
        try:
            yield s
        finally:
            s.close()


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def bench_backend(backend: str, n: int, batch: int, single: int) -> list[Row]:
    rows: list[Row] = []
    sec = f"{backend}"
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        with open_store(backend, tmp, "audit") as st, open_store(backend, tmp, "plain") as pl, \
                open_store(backend, tmp, "nocp") as nc:
            log = AuditLog(st, KEY, checkpoint=tmp / "audit-head.json")
            bare = AuditLog(nc, KEY, checkpoint=None)
            data = entries(n)
            chunks = [data[i:i + batch] for i in range(0, n, batch)]

            t0 = time.perf_counter()
            for c in chunks:
                with pl.engine.begin() as conn:
                    conn.execute(T.insert(), plain_rows(c))
            base = rate(n, time.perf_counter() - t0)

            t0 = time.perf_counter()
            for c in chunks:
                log.record(c)
            chained = rate(n, time.perf_counter() - t0)

            t0 = time.perf_counter()
            for c in chunks:
                bare.record(c)
            no_cp = rate(n, time.perf_counter() - t0)

            rows.append(Row(sec, f"append, batches of {batch}", chained, "entries/s", base,
                            "plain INSERT, same batches"))
            rows.append(Row(sec, f"append, batches of {batch}, no checkpoint", no_cp,
                            "entries/s", base, "plain INSERT, same batches"))

            ones = entries(single, offset=n)
            t0 = time.perf_counter()
            for e in ones:
                with pl.engine.begin() as conn:
                    conn.execute(T.insert(), plain_rows([e]))
            base1 = rate(single, time.perf_counter() - t0)
            t0 = time.perf_counter()
            for e in ones:
                log.record_one(e)
            one = rate(single, time.perf_counter() - t0)
            rows.append(Row(sec, "append, one entry per transaction", one, "entries/s", base1,
                            "plain single INSERT + commit"))

            total = n + single
            t0 = time.perf_counter()
            with st.engine.connect() as conn:
                got = sum(1 for _ in conn.execution_options(stream_results=True, yield_per=5000)
                          .execute(sa.select(*T.c).order_by(T.c.seq)))
            read = rate(got, time.perf_counter() - t0)
            t0 = time.perf_counter()
            report = log.verify()
            ver = rate(report.checked, time.perf_counter() - t0)
            if not report.ok or report.checked != total:
                raise SystemExit(f"{backend}: verify failed on a clean log: {report}")
            rows.append(Row(sec, f"verify {total:,} entries", ver, "entries/s", read,
                            "stream the rows, no hashing"))
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--entries", type=int, default=50_000, help="entries appended in batches")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--single", type=int, default=1000,
                    help="entries appended one per transaction")
    ap.add_argument("--quick", action="store_true", help="10,000 entries, 300 single")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    if a.quick:
        a.entries, a.single = 10_000, 300
    backends = ["sqlite", "postgres"] if a.backend == "both" else [a.backend]
    rows: list[Row] = []
    for b in backends:
        rows += bench_backend(b, a.entries, a.batch, a.single)
    print_table(rows)
    for r in rows:
        if r.ratio is not None and r.baseline:
            print(f"{r.section:9} {r.what}: {r.value:,.0f} {r.unit} = {r.ratio:.2f} x baseline "
                  f"({r.baseline_what})")
    if a.json:
        write_json(a.json, rows, {"python": platform.python_version(), "entries": a.entries,
                                  "batch": a.batch, "single": a.single})


if __name__ == "__main__":
    main()
