"""``hyperhealth keys init|status|rotate|retire|encrypt-existing``: keys of encryption at rest.

Register with ``app.add_typer(keys_app, name="keys")``. The keys come from
``HYPERHEALTH_MASTER_KEYS`` or the key file (``HYPERHEALTH_KEY_FILE``, default
``<data-dir>/keys.json``); see ``hyperhealth.security._keys``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

if TYPE_CHECKING:
    from hyperhealth.security._keys import Keyring
    from hyperhealth.store import Store

keys_app = typer.Typer(help="Keys of encryption at rest: create, inspect, rotate, retire.",
                       no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
Batch = Annotated[int, typer.Option("--batch", min=1,
                                    help="Values per committed batch (readers go on between)")]


def _cli() -> Any:
    from hyperhealth.delivery.cli import _app

    return _app


def _keyring() -> Keyring:
    from hyperhealth.errors import HyperhealthError
    from hyperhealth.security._keys import load_keyring

    s = _cli()._state.settings
    try:
        kr = load_keyring(s.key_file, embedded=False)
    except HyperhealthError as err:
        _cli().fail(str(err), 2)
    if kr is None:
        _cli().fail(f"no keys: neither HYPERHEALTH_MASTER_KEYS nor the key file {s.key_file} "
                    "exists; create one with `hyperhealth keys init`", 2)
    assert kr is not None
    return kr


def _open(kr: Keyring) -> Store:
    from hyperhealth.store import Store

    return Store(_cli()._state.settings.database_url, keyring=kr)


def _progress(quiet: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.completed:,} values"), console=_cli().console,
                    disable=quiet, transient=True)


@keys_app.command()
def init(key_file: Annotated[Path | None, typer.Option(
            "--key-file", help="Where to create it [default: HYPERHEALTH_KEY_FILE or "
                               "DATA_DIR/keys.json]")] = None,
         as_json: Json = False) -> None:
    """Create a key file (mode 0600) with a master key and the audit and pseudonym keys."""
    from hyperhealth.errors import HyperhealthError
    from hyperhealth.security._keys import Keyring

    cli = _cli()
    path = key_file or cli._state.settings.key_file
    if path.exists():
        cli.fail(f"key file {path} exists already; it holds the keys of stored data, so it is "
                 "never overwritten (rotate with `hyperhealth keys rotate`)", 2)
    try:
        kr = Keyring.create(path)
    except (HyperhealthError, OSError) as err:
        cli.fail(f"cannot create key file {path}: {err}", 2)
        return
    info = {"key_file": str(path), "active": kr.active_id}
    if as_json:
        cli.emit_json(info)
        return
    cli.out.print(f"created {escape(str(path))} (mode 0600), active master key "
                  f"{kr.active_id}. Back it up: without it the encrypted data is lost.")


@keys_app.command()
def status(as_json: Json = False) -> None:
    """Show the master keys and how many stored values each one still wraps."""
    from hyperhealth.security._crypto import key_status

    cli = _cli()
    kr = _keyring()
    with _open(kr) as store:
        counts = key_status(store, kr)
    totals = {m: sum(c.get(m, 0) for c in counts.values())
              for m in [*kr.master_ids, "plaintext", "unknown"]}
    if as_json:
        cli.emit_json({"source": kr.source, "active": kr.active_id,
                       "masters": [{"id": m, "created": kr.created(m), "active":
                                    m == kr.active_id, "values": totals[m]}
                                   for m in kr.master_ids],
                       "columns": counts, "plaintext": totals["plaintext"],
                       "unknown": totals["unknown"]})
        return
    cli.out.print(f"keys from {escape(kr.source)}")
    t = Table("column", *kr.master_ids, "plaintext", "unknown master")
    for name, c in counts.items():
        t.add_row(name, *[f"{c.get(m, 0):,}" for m in kr.master_ids], f"{c['plaintext']:,}",
                  f"{c['unknown']:,}")
    cli.out.print(t)
    for m in kr.master_ids:
        if m == kr.active_id:
            cli.out.print(f"{m}: active (created {kr.created(m) or '?'})")
        elif totals[m]:
            cli.out.print(f"{m}: still wraps {totals[m]:,} values; finish with "
                          "`hyperhealth keys rotate --resume`")
        else:
            cli.out.print(f"{m}: no longer used; `hyperhealth keys retire {m}` removes it")
    if totals["plaintext"]:
        cli.out.print(f"{totals['plaintext']:,} values are not encrypted yet; "
                      "`hyperhealth keys encrypt-existing` converts those the store reads")
    if totals["unknown"]:
        cli.out.print(f"[red]{totals['unknown']:,} values use a master key that is not in this "
                      "keyring[/]: restore the key file that holds it")


@keys_app.command()
def rotate(resume: Annotated[bool, typer.Option(
               "--resume", help="Do not add a key; re-wrap what still uses older keys")] = False,
           batch: Batch = 500, as_json: Json = False) -> None:
    """Add a new active master key and re-wrap every stored data key with it (online)."""
    from hyperhealth.errors import HyperhealthError
    from hyperhealth.security._crypto import rotate as do_rotate

    cli = _cli()
    kr = _keyring()
    with _open(kr) as store, _progress(as_json) as bar:
        task = bar.add_task("re-wrapping data keys", total=None)
        try:
            rep = do_rotate(store, kr, new_key=not resume, batch=batch,
                            progress=lambda _c, n: bar.advance(task, n))
        except HyperhealthError as err:
            cli.fail(str(err), 2)
            return
    if as_json:
        cli.emit_json({"active": rep.active, "rewrapped": rep.rewrapped, "skipped": rep.skipped,
                       "remaining": rep.remaining})
        return
    cli.out.print(f"active master key {rep.active}; re-wrapped "
                  f"{sum(rep.rewrapped.values()):,} values")
    if rep.remaining or rep.skipped:
        cli.out.print(f"still on older keys: {rep.remaining or rep.skipped} (written meanwhile "
                      "by processes that had not seen the new key); run "
                      "`hyperhealth keys rotate --resume` again")
    else:
        cli.out.print("older master keys are no longer used; `hyperhealth keys retire <id>` "
                      "removes them once every server has the new key file")


@keys_app.command()
def retire(master_id: Annotated[str, typer.Argument(help="The master key to remove")],
           as_json: Json = False) -> None:
    """Remove a master key that no stored value uses any more."""
    from hyperhealth.errors import HyperhealthError
    from hyperhealth.security._crypto import retire as do_retire

    cli = _cli()
    kr = _keyring()
    with _open(kr) as store:
        try:
            do_retire(store, kr, master_id)
        except HyperhealthError as err:
            cli.fail(str(err), 2)
    if as_json:
        cli.emit_json({"retired": master_id, "masters": kr.master_ids})
        return
    cli.out.print(f"retired {master_id}; the keyring holds {', '.join(kr.master_ids)}")


@keys_app.command("encrypt-existing")
def encrypt_existing(column: Annotated[list[str] | None, typer.Option(
                         "--column", help="Only this column (table.column; repeatable) "
                                          "[default: the columns the store decrypts]")] = None,
                     batch: Batch = 500, as_json: Json = False) -> None:
    """Encrypt values written before the store had keys (restartable, online)."""
    from hyperhealth.security._crypto import encrypt_existing as do_encrypt

    cli = _cli()
    kr = _keyring()
    with _open(kr) as store, _progress(as_json) as bar:
        task = bar.add_task("encrypting", total=None)
        try:
            done = do_encrypt(store, kr, columns=column, batch=batch,
                              progress=lambda _c, n: bar.advance(task, n))
        except ValueError as err:
            cli.fail(str(err), 2)
            return
    if as_json:
        cli.emit_json({"encrypted": done})
        return
    for name, n in done.items():
        cli.out.print(f"{name}: encrypted {n:,} values")
