"""``hyperhealth audit verify | accesses | export | seal``: the audit trail from the command line.

Register with ``app.add_typer(audit_app, name="audit")`` (``from ... import app as audit_app``).
The key is the keyring's audit key (``HYPERHEALTH_MASTER_KEYS`` or the key file); the signed
checkpoint is ``<data-dir>/audit-head.json``. ``run_*`` take a store and key, for reuse and tests.

``verify`` exits 0 when the chain is intact and 1 when it was tampered with; 2 means it could not
check (no key, store unreachable).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from hyperhealth.security._audit import AuditLog, VerifyReport
from hyperhealth.store import Store

app = typer.Typer(help="The audit trail: check it for tampering, list who accessed a person's "
                       "data, export it as FHIR AuditEvent.", no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
CHECKPOINT_NAME = "audit-head.json"
#: (store, audit key, checkpoint file) for the commands; replaced by tests or other wiring
Opener = Callable[[], AbstractContextManager[tuple[Store, bytes, Path | None]]]
_opener: Opener | None = None


def set_opener(fn: Opener | None) -> None:
    """Use ``fn`` instead of the CLI's settings to open the store and find the key."""
    global _opener
    _opener = fn


@contextmanager
def _from_settings() -> Iterator[tuple[Store, bytes, Path | None]]:
    from hyperhealth.delivery.cli._app import _state, _store
    from hyperhealth.errors import ConfigError
    from hyperhealth.security._keys import load_keyring

    settings = _state.settings
    # never create a key here: a new key would make every existing entry look forged
    keyring = load_keyring(settings.key_file, embedded=False)
    if keyring is None:
        raise ConfigError(f"no audit key: {settings.key_file} does not exist and "
                          "HYPERHEALTH_MASTER_KEYS is not set; point HYPERHEALTH_KEY_FILE at "
                          "the key file the server uses")
    with _store() as store:
        yield store, keyring.audit_key, settings.data_dir / CHECKPOINT_NAME


@contextmanager
def _opened() -> Iterator[tuple[Store, bytes, Path | None]]:
    from hyperhealth.delivery.cli._app import fail
    from hyperhealth.errors import HyperhealthError

    try:
        with (_opener or _from_settings)() as got:
            yield got
    except (HyperhealthError, ValueError) as err:
        fail(str(err), 2)


def _report_text(r: VerifyReport) -> str:
    cp = f"; checkpoint at entry {r.checkpoint.seq}" if r.checkpoint else ""
    if r.ok:
        return f"[green]intact:[/] {r.checked:,} entries checked, newest is {r.head.seq}{cp}"
    assert r.problem is not None
    where = f"entry {r.problem.seq}" if r.problem.seq else "checkpoint"
    return (f"[bold red]TAMPERED[/] at {where} ({r.problem.kind}): {escape(r.problem.message)}"
            f"\n{r.checked:,} entries before it are intact{cp}")


def run_verify(store: Store, key: bytes, *, checkpoint: Path | None = None,
               as_json: bool = False) -> int:
    """Check the chain; print the report; 0 when intact, 1 when tampered with."""
    from rich.progress import Progress

    from hyperhealth.delivery.cli._app import console, emit_json, out

    log = AuditLog(store, key, checkpoint=checkpoint)
    if as_json:
        report = log.verify()
        emit_json(report.to_dict())
    else:
        total = log.head().seq
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("verifying the audit chain", total=total or None)
            report = log.verify(progress=lambda n: bar.update(task, completed=n))
        out.print(_report_text(report))
        for w in report.warnings:
            console.print(f"[yellow]warning:[/] {escape(w)}")
    return 0 if report.ok else 1


def run_accesses(store: Store, key: bytes, person_id: str, *, since: datetime | None = None,
                 limit: int | None = None, as_json: bool = False) -> int:
    """Who accessed a person's data, newest first."""
    from hyperhealth.delivery.cli._app import emit_json, out
    from hyperhealth.model.time import to_us

    since_us = to_us(since if since.tzinfo else since.replace(tzinfo=UTC)) if since else None
    rows = AuditLog(store, key, install_guard=False).accesses(person_id, since_us, limit)
    if as_json:
        emit_json([r.to_dict() for r in rows])
        return 0
    table = Table(title=f"Accesses to {escape(person_id)}'s data ({len(rows)})")
    for col in ("time (UTC)", "who", "role", "action", "what", "purpose", "outcome", "from"):
        table.add_column(col)
    for r in rows:
        style = "red" if r.outcome in ("deny", "error") else \
            "yellow" if r.outcome == "break-glass" else ""
        table.add_row(r.time.strftime("%Y-%m-%d %H:%M:%S"), escape(r.actor), r.role, r.action,
                      escape(r.resource), r.purpose or "-", r.outcome, escape(r.source),
                      style=style)
    out.print(table)
    return 0


def run_export(store: Store, key: bytes, fhir: Path, *, person_id: str | None = None,
               as_json: bool = False, chunk: int = 1000) -> int:
    """Write every entry (or one person's) as FHIR AuditEvent, one JSON object per line."""
    import orjson

    from hyperhealth.delivery.cli._app import emit_json, out
    from hyperhealth.security._audit_fhir import to_fhir

    log = AuditLog(store, key, install_guard=False)
    n = 0
    fhir.parent.mkdir(parents=True, exist_ok=True)
    tmp = fhir.with_name(fhir.name + ".part")
    with open(tmp, "wb") as f:
        batch: list[Any] = []
        recs = log.accesses(person_id) if person_id else log.records()
        for rec in recs:
            batch.append(rec)
            if len(batch) >= chunk:
                n += _write(f, to_fhir(batch), orjson.dumps)
                batch = []
        n += _write(f, to_fhir(batch), orjson.dumps)
    tmp.replace(fhir)  # a failed export leaves no half-written file under the final name
    if as_json:
        emit_json({"path": str(fhir), "resources": n})
    else:
        out.print(f"wrote {n:,} AuditEvent resources to {escape(str(fhir))}")
    return 0


def _write(f: Any, resources: list[dict[str, Any]], dumps: Callable[[Any], bytes]) -> int:
    for res in resources:
        f.write(dumps(res) + b"\n")
    return len(resources)


def run_seal(store: Store, key: bytes, checkpoint: Path, *, as_json: bool = False) -> int:
    """Verify, then move the checkpoint to the newest entry; refused if the chain is broken."""
    from hyperhealth.delivery.cli._app import console, emit_json, out

    log = AuditLog(store, key, checkpoint=checkpoint)
    report = log.verify()
    if not report.ok and not (report.problem and report.problem.kind == "checkpoint-missing"):
        if as_json:
            emit_json({"sealed": None, "report": report.to_dict()})
        else:
            console.print(_report_text(report) + "\n[red]not sealed[/]: the chain must verify "
                                                 "first")
        return 1
    head = log.seal()
    if as_json:
        emit_json({"sealed": {"seq": head.seq, "hash": head.hash} if head else None,
                   "path": str(checkpoint)})
    elif head:
        out.print(f"checkpoint {escape(str(checkpoint))} now names entry {head.seq}")
    return 0


# -- commands ----------------------------------------------------------------------------------
@app.command()
def verify(as_json: Json = False) -> None:
    """Check every entry of the audit trail: exit 0 if intact, 1 if edited, deleted, reordered
    or cut short."""
    with _opened() as (store, key, checkpoint):
        code = run_verify(store, key, checkpoint=checkpoint, as_json=as_json)
    raise typer.Exit(code)


@app.command()
def accesses(
    person_id: Annotated[str, typer.Argument(help="The person whose data was accessed")],
    since: Annotated[str | None, typer.Option(
        help="Only accesses from this time on: ISO date or date-time, UTC unless it has an "
             "offset (2024-05-01, 2024-05-01T08:00+02:00)")] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many, newest first")] = None,
    as_json: Json = False,
) -> None:
    """List who accessed a person's data: who, role, what, why, outcome, when (newest first)."""
    from hyperhealth.delivery.cli._app import fail

    start: datetime | None = None
    if since:
        try:
            start = datetime.fromisoformat(since)
        except ValueError:
            fail(f"--since {since!r} is not an ISO date or date-time; e.g. 2024-05-01", 2)
    with _opened() as (store, key, _cp):
        run_accesses(store, key, person_id, since=start, limit=limit, as_json=as_json)


@app.command()
def export(
    fhir: Annotated[Path, typer.Option("--fhir", help="Output file, FHIR AuditEvent as NDJSON")],
    person: Annotated[str | None, typer.Option(help="Only entries about this person")] = None,
    as_json: Json = False,
) -> None:
    """Export the audit trail as FHIR R4 AuditEvent resources (NDJSON)."""
    with _opened() as (store, key, _cp):
        run_export(store, key, fhir, person_id=person, as_json=as_json)


@app.command()
def seal(as_json: Json = False) -> None:
    """After a successful verify, record the newest entry in the signed checkpoint.

    Needed once for a log written before checkpoints (or by a process without the checkpoint
    file). The checkpoint never moves backwards: after restoring an older backup on purpose,
    move the old checkpoint file aside first."""
    with _opened() as (store, key, checkpoint):
        if checkpoint is None:
            from hyperhealth.delivery.cli._app import fail

            fail("no checkpoint file is configured for this store", 2)
            return
        code = run_seal(store, key, checkpoint, as_json=as_json)
    raise typer.Exit(code)
