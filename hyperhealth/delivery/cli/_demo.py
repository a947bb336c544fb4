"""``hyperhealth demo``: a synthetic cohort through every capability that exists."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from hyperhealth.config import Settings
from hyperhealth.store import Store


def run_demo(store: Store, settings: Settings, *, persons: int, days: int, seed: int,
             console: Console, quiet: bool) -> dict[str, Any]:
    """Generate, ingest, profile and export; each step reports what it did and how long it took."""
    from hyperhealth.synth import generate_cohort

    summary: dict[str, Any] = {"store": store.safe_url, "steps": []}

    def step(name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        t0 = time.perf_counter()
        if not quiet:
            with console.status(f"{name} ..."):
                result = fn()
        else:
            result = fn()
        result = {"step": name, "seconds": round(time.perf_counter() - t0, 2), **result}
        summary["steps"].append(result)
        if not quiet:
            console.print(f"[green]✓[/] {name} ({result['seconds']} s): "
                          + ", ".join(f"{k} {v}" for k, v in result.items()
                                      if k not in ("step", "seconds") and not isinstance(v, list)))
        return result

    cohort: Any = None

    def featured() -> str:
        """The demo patient: the first person wearing a glucose sensor, so their dashboard shows
        every card (CGM time in range as well as vitals, sleep, activity and the environment)."""
        from hyperhealth.model.codes import CGM_GLUCOSE

        ids = [p.id for p in store.persons()]
        return next((pid for pid in ids if any(s.code == CGM_GLUCOSE for s in store.streams(pid))),
                    ids[0])

    def generate() -> dict[str, Any]:
        nonlocal cohort
        cohort = generate_cohort(persons=persons, days=days, seed=seed)
        return {"persons": persons, "days": days, "seed": seed,
                "ground_truth_events": len(cohort.ground_truth)}

    def ingest() -> dict[str, Any]:
        added = cohort.write(store)
        gt = settings.data_dir / "synth" / f"ground_truth_seed{seed}.json"
        gt.parent.mkdir(parents=True, exist_ok=True)
        cohort.save_ground_truth(gt)
        return {**{k: v for k, v in added.items() if v}, "ground_truth": str(gt)}

    def monitor() -> dict[str, Any]:
        from hyperhealth.actions.alerts import AlertBook
        from hyperhealth.engine import Engine

        stats = Engine(store).replay()
        alerts = AlertBook(store).find(status=["open", "acknowledged", "resolved"],
                                       limit=100_000)
        levels = {lv: sum(1 for a in alerts if a.level.label == lv)
                  for lv in ("urgent", "warn", "info")}
        return {"readings": stats.readings, "alerts": len(alerts), **levels,
                "open": sum(1 for a in alerts if a.status == "open")}

    def pharmacogenomics() -> dict[str, Any]:
        # one demo person carries CYP2C19 *2/*2 (poor metaboliser) and takes clopidogrel: the
        # medication-safety check must flag it with the CPIC citation
        from datetime import date

        from hyperhealth.actions.alerts import AlertBook
        from hyperhealth.ingest import IngestOptions, ingest_paths
        from hyperhealth.insights.pgx._person import medication_alerts, person_pgx
        from hyperhealth.model import RXNORM, Medication
        from hyperhealth.model.time import to_us
        from hyperhealth.synth._pgx_genotype import write_diplotype_vcf

        pid = featured()
        vcf = settings.data_dir / "synth" / f"{pid}_pgx.vcf"
        write_diplotype_vcf(vcf, {"CYP2C19": ("*2", "*2")}, sample=pid)
        ingest_paths(store, [vcf], IngestOptions(person=pid))
        with store.transaction() as w:
            w.add_medications([Medication(
                pid, "309362", "clopidogrel 75 MG Oral Tablet", RXNORM, kind="statement",
                status="active", start=date(cohort.start.year, 1, 1), source="synth",
                record_id=f"{pid}:medication:309362")])
        found = medication_alerts(store, pid, person_pgx(store, pid))
        now = to_us(cohort.start) + days * 86_400_000_000
        with store.transaction() as w:
            AlertBook(store).apply(w.conn, found, {}, now)
        return {"person": pid, "genotype": "CYP2C19 *2/*2",
                "medication_alerts": [f"{a.title} ({a.citation})" for a in found]}

    def profiles() -> dict[str, Any]:
        from hyperhealth.insights.profile import build_profile

        rows = []
        for p in store.persons():
            prof = build_profile(store, p.id, days=days)
            rows.append({
                "person": p.id,
                "conditions": [c.display for c in prof.active_conditions],
                "streams": len(prof.coverage),
                "readings": sum(c.count for c in prof.coverage),
                "gaps": sum(len(c.gaps) for c in prof.coverage),
            })
        summary["persons"] = rows
        return {"profiles": len(rows)}

    def export() -> dict[str, Any]:
        # one person's full record: every minute-level reading becomes an R4 Observation, which
        # takes seconds per person; `hyperhealth export ndjson` exports everyone
        from hyperhealth.delivery.fhir import export_bundle

        folder = settings.data_dir / "exports"
        folder.mkdir(parents=True, exist_ok=True)
        first = featured()
        bundle = export_bundle(store, first)
        path = folder / f"{first}.fhir.json"
        path.write_bytes(orjson.dumps(bundle))
        return {"person": first, "resources": len(bundle.get("entry", [])), "file": str(path)}

    step("generate synthetic cohort", generate)
    step("ingest into the store", ingest)
    step("run the detectors", monitor)
    step("pharmacogenomics check", pharmacogenomics)
    step("build profiles", profiles)
    step("export a FHIR R4 bundle", export)

    def accounts() -> dict[str, Any]:
        from hyperhealth.delivery.cli._demo_accounts import create_demo_accounts

        made = create_demo_accounts(store, settings.data_dir, patient=featured())
        summary["accounts"] = made["accounts"]
        return {"accounts": len(made["accounts"]), "file": made["file"]}

    step("accounts and consent", accounts)
    if not quiet:
        _print_persons(console, summary["persons"])
        _print_accounts(console, summary["accounts"])
    return summary


def _print_accounts(console: Console, rows: list[dict[str, Any]]) -> None:
    t = Table(title="Sign in with (stored in demo-accounts.json, mode 0600)")
    for col in ("username", "role", "password", "one-time codes"):
        t.add_column(col)
    for r in rows:
        totp = (f"authenticator secret {r['totp_secret']}, or run: hyperhealth demo-code "
                f"{r['username']}" if r.get("totp_secret") else "—")
        t.add_row(r["username"], r["role"], r["password"], totp)
    console.print(t)


def _print_persons(console: Console, rows: list[dict[str, Any]]) -> None:
    t = Table(title="Cohort")
    for col in ("person", "active conditions", "streams", "readings", "gaps > 1 h"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["person"], ", ".join(r["conditions"]) or "—", str(r["streams"]),
                  f"{r['readings']:,}", str(r["gaps"]))
    console.print(t)
