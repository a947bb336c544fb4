"""Commands: demo, ingest, persons, profile, export (fhir, ndjson, research), serve, mqtt-listen,
monitor, edge, risk, pgx, prs, audit, keys, mqtt-acl, mqtt-credentials."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape

from hyperhealth.config import Settings
from hyperhealth.errors import HyperhealthError

app = typer.Typer(
    name="hyperhealth",
    help="One health profile per person: records, wearables, CGM, environment and genotype.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
export_app = typer.Typer(help="Export data as FHIR R4.", no_args_is_help=True)
app.add_typer(export_app, name="export")

console = Console(stderr=True, soft_wrap=True)  # error lines stay whole for grep
out = Console(soft_wrap=True)

DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", envvar="HYPERHEALTH_DATA_DIR",
    help="Data directory for the embedded store [default: ./.hyperhealth]")]
DbUrl = Annotated[str | None, typer.Option(
    "--database-url", envvar="HYPERHEALTH_DATABASE_URL",
    help="SQLAlchemy URL of a PostgreSQL store (replaces the embedded SQLite file)")]
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


class _State:
    settings: Settings


_state = _State()


@app.callback()
def _root(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    _state.settings = Settings.load(data_dir=data_dir, database_url=database_url)


def _store() -> Any:
    from hyperhealth.store import open_store

    return open_store(_state.settings)


def emit_json(obj: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_NAIVE_UTC
                                         | orjson.OPT_SERIALIZE_NUMPY, default=str) + b"\n")


def fail(message: str, code: int = 1) -> None:
    console.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)


# --------------------------------------------------------------------------------------------
@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to import (auto-detected)")],
    person: Annotated[str | None, typer.Option(help="Attach all records to this person id")] = None,
    tz: Annotated[str | None, typer.Option(
        help="Time zone of wall-clock times without an offset (IANA name, e.g. America/New_York)"
    )] = None,
    force: Annotated[bool, typer.Option(help="Re-read files imported before")] = False,
    rejects: Annotated[Path | None, typer.Option(
        help="Write every rejected record (file, line, field, reason) to this CSV")] = None,
    as_json: Json = False,
) -> None:
    """Import files: FHIR R4, Apple Health, wearable CSV, CGM, device JSON, environment, VCF."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from hyperhealth.ingest import IngestOptions, expand, ingest_paths

    missing = [p for p in paths if not p.exists()]
    if missing:
        fail(f"{', '.join(map(str, missing))}: no such file or folder")
    if tz:
        _check_tz(tz)
    opts = IngestOptions(person=person, tz=tz, force=force)
    files = expand(paths)
    with _store() as store, Progress(TextColumn("{task.description}"), BarColumn(),
                                     MofNCompleteColumn(), console=console,
                                     disable=as_json) as bar:
        task = bar.add_task("importing", total=len(files))

        def step(path: Path, _rep: Any) -> None:
            bar.update(task, advance=1, description=f"importing {path.name[:40]}")

        reports = ingest_paths(store, paths, opts, on_file=step)
    if rejects is not None:
        _write_rejects(rejects, reports)
    if as_json:
        emit_json([r.to_dict() for r in reports])
    else:
        _print_ingest(reports)
    if any(not r.ok for r in reports):
        raise typer.Exit(1)


def _check_tz(tz: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        fail(f"--tz {tz!r} is not a time zone name; use an IANA name such as Europe/Madrid", 2)


def _write_rejects(path: Path, reports: list[Any]) -> None:
    import csv

    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "where", "field", "reason", "hint"])
        for r in reports:
            if r.error:
                w.writerow([r.path, r.path, "", r.error, ""])
            for rj in r.rejects:
                w.writerow([r.path, rj.where, rj.field, rj.reason, rj.hint])


def _print_ingest(reports: list[Any]) -> None:
    from collections import Counter

    from rich.table import Table

    added: Counter[str] = Counter()
    read: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    resources: Counter[str] = Counter()
    for r in reports:
        added.update(r.added)
        read.update(r.read)
        skipped.update(r.skipped)
        resources.update(r.resources)
    t = Table(title=f"Imported {len(reports)} file(s)")
    t.add_column("records")
    t.add_column("read", justify="right")
    t.add_column("new", justify="right")
    t.add_column("already stored", justify="right")
    for kind in sorted(k for k in read if k != "rejected"):
        t.add_row(kind, f"{read[kind]:,}", f"{added[kind]:,}", f"{read[kind] - added[kind]:,}")
    out.print(t)
    unknown = [r.path for r in reports if r.unrecognised and not r.error]
    if unknown:
        out.print(f"{len(unknown)} file(s) in the folders are not a recognised format and were "
                  "left alone: " + ", ".join(Path(u).name for u in unknown[:5])
                  + (" ..." if len(unknown) > 5 else ""))
    same = sum(r.already_imported for r in reports)
    if same:
        out.print(f"{same} file(s) had been imported before with the same content (use --force "
                  "to re-read them).")
    if resources:
        out.print("FHIR resources read: " + ", ".join(f"{k} {v:,}" for k, v in
                                                      sorted(resources.items())))
    if skipped:
        out.print("Not imported by design: " + ", ".join(f"{k} {v}" for k, v in
                                                         sorted(skipped.items())))
    flagged = sum(r.flagged for r in reports)
    if flagged:
        out.print(f"{flagged:,} reading(s) stored with an implausible-value flag.")
    nrej = sum(r.read.get("rejected", 0) for r in reports)
    if nrej:
        out.print(f"[yellow]{nrej:,} record(s) rejected[/]; first ones:")
        shown = 0
        for r in reports:
            for rj in r.rejects[: 10 - shown]:
                out.print(f"  {escape(str(rj))}")
                shown += 1
        out.print("  (use --rejects FILE.csv for the full list)")
    for r in reports:
        if r.error:
            out.print(f"[bold red]failed:[/] {escape(r.error)}")


# --------------------------------------------------------------------------------------------
@app.command()
def persons(as_json: Json = False) -> None:
    """List the persons in the store."""
    from rich.table import Table

    with _store() as store:
        people = store.persons()
        streams = {p.id: store.streams(p.id) for p in people}
    rows = [{"id": p.id, "birth_date": p.birth_date, "sex_at_birth": p.sex_at_birth, "tz": p.tz,
             "streams": len(streams[p.id]),
             "readings": sum(s.count for s in streams[p.id])} for p in people]
    if as_json:
        emit_json(rows)
        return
    t = Table(title=f"{len(rows)} person(s)")
    for col in ("id", "birth date", "sex at birth", "time zone", "streams", "readings"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["id"], str(r["birth_date"] or "—"), r["sex_at_birth"], r["tz"],
                  str(r["streams"]), f"{r['readings']:,}")
    out.print(t)


@app.command()
def profile(
    person: Annotated[str, typer.Argument(help="Person id (see `hyperhealth persons`)")],
    days: Annotated[int, typer.Option(help="Days of daily summaries")] = 14,
    as_json: Json = False,
) -> None:
    """Show one person's profile: demographics, conditions, medications, vitals, coverage."""
    from hyperhealth.delivery.cli._profile_view import render_profile
    from hyperhealth.insights.profile import build_profile

    with _store() as store:
        prof = build_profile(store, person, days=days)
    if as_json:
        emit_json(prof.to_dict())
    else:
        render_profile(out, prof)


# --------------------------------------------------------------------------------------------
@export_app.command("fhir")
def export_fhir(
    person: Annotated[str, typer.Argument(help="Person id")],
    output: Annotated[Path | None,
                      typer.Option("--out", "-o", help="File (default: stdout)")] = None,
    as_json: Json = False,
) -> None:
    """A Patient/$everything-style FHIR R4 Bundle for one person."""
    from hyperhealth.delivery.fhir import export_bundle

    with _store() as store:
        bundle = export_bundle(store, person)
    data = orjson.dumps(bundle, option=orjson.OPT_INDENT_2)
    if output is None:
        sys.stdout.buffer.write(data + b"\n")
        return
    output.write_bytes(data)
    if as_json:
        emit_json({"file": str(output), "entries": len(bundle.get("entry", []))})
    else:
        out.print(f"Wrote {len(bundle.get('entry', []))} resources to {output}")


@export_app.command("ndjson")
def export_ndjson_cmd(
    out_dir: Annotated[Path, typer.Argument(help="Folder for <ResourceType>.ndjson files")],
    as_json: Json = False,
) -> None:
    """FHIR Bulk-Data style NDJSON of everyone, one file per resource type."""
    from hyperhealth.delivery.fhir import export_ndjson

    with _store() as store:
        counts = export_ndjson(store, out_dir)
    if as_json:
        emit_json({"folder": str(out_dir), "counts": counts})
    else:
        for k, v in sorted(counts.items()):
            out.print(f"{k:>24}: {v:,}")


# --------------------------------------------------------------------------------------------
@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    as_json: Json = False,
) -> None:
    """Serve the REST API (/docs) and the web pages."""
    from hyperhealth.delivery.cli._serve import run_server

    with _store() as store:
        run_server(store, host, port, as_json=as_json, console=out)


@app.command("mqtt-listen")
def mqtt_listen(
    url: Annotated[str | None, typer.Option(envvar="HYPERHEALTH_MQTT_URL",
                                            help="Broker URL, e.g. mqtt://127.0.0.1:1883")] = None,
    topic: Annotated[str, typer.Option(help="Subscription")] = "hyperhealth/+/readings",
    max_messages: Annotated[int | None, typer.Option(help="Stop after this many messages")] = None,
    monitor: Annotated[bool, typer.Option(help="Run the detectors on what arrives")] = True,
    client_id: Annotated[str | None, typer.Option(
        help="MQTT session name: a listener restarted with the same name gets what its "
             "predecessor did not acknowledge")] = None,
    state_save_s: Annotated[float, typer.Option(
        min=0.0, help="Save the detector state of persons without new findings at least this "
                      "often (seconds); with findings it is saved at once")] = 1.0,
    engine_worker: Annotated[bool, typer.Option(
        help="Run the detectors in a worker thread beside ingest (PostgreSQL): pays when "
             "database round trips are slow, e.g. a database on another host")] = False,
    as_json: Json = False,
) -> None:
    """Store device readings arriving over MQTT (QoS 1, acknowledged after they are stored)."""
    import signal
    from contextlib import ExitStack

    from hyperhealth.delivery.cli._live import monitoring
    from hyperhealth.ingest.mqtt import DEFAULT_CLIENT_ID, MqttListener

    # a service manager stops us with SIGTERM: finish the batch in hand like on Ctrl-C
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    broker = url or _state.settings.mqtt_url
    stats: dict[str, Any] = {}
    with _store() as store, ExitStack() as stack:
        # the engine in the committing thread by default: with the database on this host a
        # worker thread overlapped little and competed for the interpreter lock (bench p99 at
        # 5,000 messages/s: 66-94 ms against 104-150 ms); SQLite has one writer at a time anyway
        live = stack.enter_context(monitoring(
            store, broker, save_every_s=state_save_s,
            background=engine_worker and store.dialect == "postgresql")) if monitor else None
        # the MQTT connection in a child process: packet handling on another core
        listener = MqttListener(store, broker, topic=topic,
                                client_id=client_id or DEFAULT_CLIENT_ID, process=True)
        if not as_json:
            console.print(f"listening on {broker} topic {topic} (Ctrl-C to stop)")
        try:
            stats = listener.run(max_messages=max_messages)
        except KeyboardInterrupt:
            stats = {**listener.stats.to_dict(), "stopped": True}
        stack.close()  # stop monitoring first, so its counts are final
        if live is not None:
            stats["engine"] = live.engine.stats.to_dict()
    if as_json:
        emit_json(stats)


# --------------------------------------------------------------------------------------------
@app.command()
def demo(
    persons_n: Annotated[int, typer.Option("--persons", help="People in the cohort")] = 8,
    days: Annotated[int, typer.Option(help="Days of data per person")] = 14,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same cohort)")] = 7,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Stop after the run")] = False,
    port: Annotated[int, typer.Option(help="Port for the web app")] = 8000,
    as_json: Json = False,
) -> None:
    """Generate a synthetic cohort, ingest it, run every capability, then serve the web app."""
    from hyperhealth.delivery.cli._demo import run_demo

    if persons_n < 1 or days < 1:
        fail("--persons and --days must be at least 1", 2)
    with _store() as store:
        summary = run_demo(store, _state.settings, persons=persons_n, days=days, seed=seed,
                           console=console, quiet=as_json)
        if as_json:
            emit_json(summary)
        if not no_serve:
            from hyperhealth.delivery.cli._serve import run_server

            run_server(store, "127.0.0.1", port, as_json=as_json, console=out)


@app.command("demo-code")
def demo_code(
    username: Annotated[str, typer.Argument(help="a demo staff account, e.g. dr.demo")],
) -> None:
    """Print the current one-time sign-in code of a demo account (demo accounts only)."""
    from hyperhealth.delivery.cli._demo_accounts import demo_code as current_code

    code, left = current_code(_state.settings.data_dir, username)
    out.print(f"{code}  (valid for {left} more seconds)")


def _subcommands() -> None:
    from hyperhealth.delivery.cli._audit_cmd import audit, explain, train
    from hyperhealth.delivery.cli._audit_log import app as audit_log_app
    from hyperhealth.delivery.cli._edge import edge
    from hyperhealth.delivery.cli._keys_cmd import keys_app
    from hyperhealth.delivery.cli._monitor import app as monitor_app
    from hyperhealth.delivery.cli._mqtt_acl_cmd import credentials_app, mqtt_acl
    from hyperhealth.delivery.cli._pgx import pgx
    from hyperhealth.delivery.cli._prs import prs
    from hyperhealth.delivery.cli._research_cmd import research
    from hyperhealth.delivery.cli._risk import app as risk_app

    app.add_typer(monitor_app, name="monitor")
    risk_app.command("train")(train)
    risk_app.command("audit")(audit)
    risk_app.command("explain")(explain)
    app.add_typer(risk_app, name="risk")
    app.command("edge")(edge)
    app.command("pgx")(pgx)
    app.command("prs")(prs)
    app.add_typer(audit_log_app, name="audit")
    app.add_typer(keys_app, name="keys")
    app.command("mqtt-acl")(mqtt_acl)
    app.add_typer(credentials_app, name="mqtt-credentials")
    export_app.command("research")(research)


_subcommands()


def main() -> None:
    try:
        app()
    except HyperhealthError as err:
        console.print(f"[bold red]error:[/] {escape(str(err))}")
        sys.exit(1)
