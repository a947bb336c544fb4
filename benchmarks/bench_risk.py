"""Risk from the profile: ``risk_for_person`` over Synthea people, against ``build_profile``.

``risk_for_person`` runs every applicable equation (inputs assembled from the records, what-if
scenarios) for one person; the baseline measured in the same run is ``build_profile`` for the
same people, which a page showing a person already calls, so the ratio says what adding risk to
that page costs. A second line times ``calculate`` alone (validation + one equation) against a
bare formula with no validation or provenance (PCE 2013, the same inputs).

Run ``python benchmarks/bench_risk.py`` (needs ../shared/data/fhir/synthea; about a minute).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, print_table, timed, write_json

ROOT = Path(__file__).resolve().parents[1]
SYNTHEA = ROOT.parent / "shared" / "data" / "fhir" / "synthea"

PCE_INPUTS = {"age": 55, "sex": "male", "race": "white", "total_c": 213, "hdl_c": 50,
              "sbp": 120, "bp_treated": False, "smoker": False, "diabetes": False}


def _bare_pce(age: float, tc: float, hdl: float, sbp: float) -> float:
    """White men, untreated, non-smoker, no diabetes: the formula with nothing around it."""
    la = math.log(age)
    s = (12.344 * la + 11.853 * math.log(tc) - 2.664 * la * math.log(tc) - 7.990 * math.log(hdl)
         + 1.769 * la * math.log(hdl) + 1.764 * math.log(sbp))
    return 1 - 0.9144 ** math.exp(s - 61.1816)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundles", type=int, default=60, help="Synthea bundles (default 60)")
    ap.add_argument("--calls", type=int, default=20_000, help="calculate() calls (default 20k)")
    ap.add_argument("--json", type=Path, help="also write the results to this JSON file")
    a = ap.parse_args(argv)
    from hyperhealth.ingest import ingest_paths
    from hyperhealth.insights.profile import build_profile
    from hyperhealth.insights.risk import calculate, risk_for_person
    from hyperhealth.store import Store

    if not SYNTHEA.is_dir():
        raise SystemExit(f"{SYNTHEA} is absent")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="hh-bench-") as d:
        store = Store(f"sqlite:///{Path(d) / 'hh.sqlite'}")
        ingest_paths(store, sorted(SYNTHEA.glob("*.json"))[:a.bundles])
        people = [p.id for p in store.persons()]
        t_base, _ = timed(lambda: [build_profile(store, p) for p in people])
        t_risk, runs = timed(lambda: [risk_for_person(store, p) for p in people])
        computed = sum(r.status == "computed" for pr in runs for r in pr.runs)
        rows.append(Row("risk", "risk_for_person, all equations + what-if", len(people) / t_risk,
                        "persons/s", len(people) / t_base, "build_profile, same persons",
                        extra={"persons": len(people), "equations_computed": computed}))
        store.close()
    n = a.calls
    t0 = time.perf_counter()
    for _ in range(n):
        calculate("pce", PCE_INPUTS)
    t_calc = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(n):
        _bare_pce(55, 213, 50, 120)
    t_bare = time.perf_counter() - t0
    rows.append(Row("risk", "calculate('pce') with validation and provenance", n / t_calc,
                    "calls/s", n / t_bare, "bare PCE formula, no checks"))
    print_table(rows)
    if a.json:
        write_json(a.json, rows, {"bundles": a.bundles, "calls": n})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
