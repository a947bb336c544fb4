"""Helpers shared by the benchmark scripts: timing, fresh databases, a plain-text table.

Benchmarks print every figure next to a baseline measured in the same run, because absolute
times on a shared 2-core machine move by tens of percent from one minute to the next.
"""

from __future__ import annotations

import json
import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PG_ADMIN_URL = os.environ.get("HYPERHEALTH_BENCH_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@dataclass
class Row:
    """One line of the results table: a figure, its unit, the baseline and their ratio."""

    section: str
    what: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_what: str = ""
    higher_is_better: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """How many times better than the baseline (>1 means better, whatever the unit)."""
        if not self.baseline or not self.value:
            return None
        return self.value / self.baseline if self.higher_is_better else self.baseline / self.value


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds taken by ``fn()`` and its result."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def latencies_ms(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> list[float]:
    """Wall-clock milliseconds of ``repeats`` calls after ``warmup`` discarded calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; ``values`` must not be empty."""
    if len(values) == 1:
        return float(values[0])
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    if q <= 0:
        return float(min(values))
    if q >= 100:
        return float(max(values))
    return float(cuts[int(q) - 1])


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def print_table(rows: Sequence[Row]) -> None:
    """A fixed-width table: section, figure, unit, baseline, ratio (x better than baseline)."""
    head = ("section", "measure", "value", "unit", "baseline", "x better", "baseline is")
    body = [(r.section, r.what, _fmt(r.value), r.unit, _fmt(r.baseline),
             "-" if r.ratio is None else f"{r.ratio:.1f}x", r.baseline_what) for r in rows]
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(len(head))]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(line.format(*head))
    print(line.format(*("-" * w for w in widths)))
    for b in body:
        print(line.format(*b))


def write_json(path: Path, rows: Sequence[Row], meta: dict[str, Any]) -> None:
    """The results as JSON (for tracking figures across commits)."""
    data = {"meta": meta, "results": [{**asdict(r), "ratio": r.ratio} for r in rows]}
    path.write_text(json.dumps(data, indent=2) + "\n")


@contextmanager
def fresh_postgres(prefix: str = "hh_bench") -> Iterator[str]:
    """A new PostgreSQL database with a unique name, dropped afterwards; yields its URL."""
    import sqlalchemy as sa

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        admin.dispose()
        raise SystemExit(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc.orig}\n"
                         "start it (see ../shared/SERVICES.md) or use --backend sqlite") from exc
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
