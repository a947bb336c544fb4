"""``hyperhealth export research OUT_DIR``: the de-identified research export.

Register with ``export_app.command("research")(research)``. Only persons with an active research
consent (a grant to the team ``research`` for purpose ``research``) are exported; the command
refuses (exit code 3, nothing written) when k-anonymity over the quasi-identifiers cannot be
reached. The export key comes from ``--key-file``, else ``HYPERHEALTH_RESEARCH_KEY``, else the
keyring's pseudonym key (so exports of one installation share pseudonyms and date shifts); never
from the command line, where shell history and process lists would keep it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

KEY_ENV = "HYPERHEALTH_RESEARCH_KEY"
#: exit code of a refused release (k not reached, nobody consented)
REFUSED = 3

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _cli() -> Any:
    from hyperhealth.delivery.cli import _app

    return _app


def read_key(key_file: Path | None, environ: dict[str, str] | None = None) -> bytes | None:
    """The export key: a file's contents, else the environment variable, else None. Text of hex
    digits (as ``secrets.token_hex(32)`` prints) is read as hex; anything else as raw bytes.

    >>> read_key(None, {"HYPERHEALTH_RESEARCH_KEY": "00ff" * 8}).hex()[:8]
    '00ff00ff'
    """
    from hyperhealth.errors import InputError

    env = os.environ if environ is None else environ
    if key_file is not None:
        try:
            raw = key_file.read_bytes().strip()
        except OSError as exc:
            raise InputError(f"cannot read the key file: {exc.strerror}", where=str(key_file),
                             field="--key-file",
                             hint="give a readable file that holds the research export key"
                             ) from None
    elif env.get(KEY_ENV):
        raw = env[KEY_ENV].strip().encode()
    else:
        return None
    try:
        text = raw.decode("ascii")
        if len(text) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in text):
            return bytes.fromhex(text)
    except UnicodeDecodeError:
        pass
    return raw


def research(
    out_dir: Annotated[Path, typer.Argument(
        help="New folder for the export (must not exist, or be empty)")],
    key_file: Annotated[Path | None, typer.Option(
        "--key-file", help=f"File with the pseudonym/date-shift key (hex or raw, >= 16 bytes); "
                           f"else ${KEY_ENV}")] = None,
    k: Annotated[int, typer.Option(
        "--k", help="Smallest group of persons allowed to share quasi-identifier values")] = 5,
    qi: Annotated[list[str] | None, typer.Option(
        "--qi", help="Person columns to release, all treated as quasi-identifiers "
                     "(repeat; birth_year, sex, zip3, race, ethnicity) [default: all]")] = None,
    suppress: Annotated[bool, typer.Option(
        "--suppress", help="Allow leaving out persons in classes smaller than k")] = False,
    max_suppressed: Annotated[float, typer.Option(
        "--max-suppressed", help="With --suppress: the largest share of persons left out")
    ] = 0.05,
    dates: Annotated[str, typer.Option(
        "--dates", help="'shift': keyed per-person shift, keeps intervals (needs an expert "
                        "determination); 'year': years only (Safe Harbor)")] = "shift",
    min_shift_days: Annotated[int, typer.Option(
        "--min-shift-days", help="Smallest date shift in days")] = 30,
    max_shift_days: Annotated[int, typer.Option(
        "--max-shift-days", help="Largest date shift in days")] = 365,
    keep_weekday: Annotated[bool, typer.Option(
        "--keep-weekday/--any-weekday", help="Shift by whole weeks so weekdays stay")] = True,
    as_json: Json = False,
) -> None:
    """Write the de-identified research export of everyone with a research consent."""
    from hyperhealth.errors import HyperhealthError
    from hyperhealth.security._deid import PERSON_QIS, ExportRefused, research_export

    cli = _cli()
    if dates not in ("shift", "year"):
        cli.fail(f"--dates {dates!r} is not 'shift' or 'year'", 2)
    try:
        given = read_key(key_file)
        with cli._store() as store:
            key = given if given is not None else _keyring_key(store)
            res = research_export(
                store, out_dir, key=key, k=k, quasi_identifiers=qi or PERSON_QIS,
                suppress=suppress, max_suppressed=max_suppressed,
                dates="year" if dates == "year" else "shift", min_shift_days=min_shift_days,
                max_shift_days=max_shift_days, keep_weekday=keep_weekday)
    except ExportRefused as err:
        if as_json:
            cli.emit_json({"refused": err.message, "hint": err.hint, **err.report})
        cli.fail(f"release refused, nothing written: {err}", REFUSED)
        return
    except HyperhealthError as err:
        cli.fail(str(err), 2)
        return
    if as_json:
        cli.emit_json({"out_dir": str(res.out_dir), "seconds": round(res.seconds, 3),
                       **res.manifest})
        return
    _print(cli.out, res)


def _keyring_key(store: Any) -> bytes:
    from hyperhealth.errors import InputError

    ring = getattr(store, "keyring", None)
    if ring is None:
        raise InputError("no export key", field="--key-file",
                         hint=f"pass --key-file PATH, set {KEY_ENV}, or use a store with a "
                              "keyring; make a key with python -c \"import secrets; "
                              "print(secrets.token_hex(32))\"")
    key: bytes = ring.pseudonym_key
    return key


def _print(out: Any, res: Any) -> None:
    m = res.manifest
    ka, counts = m["k_anonymity"], m["counts"]
    t = Table(title=f"research export: {escape(str(res.out_dir))}", show_header=False)
    t.add_column(style="bold")
    t.add_column()
    t.add_row("persons", f"{counts['persons']:,} of {m['consent']['persons_in_store']:,} "
                         f"({m['consent']['persons_with_research_consent']:,} with research "
                         f"consent, {ka['suppressed_persons']:,} suppressed)")
    t.add_row("records", f"{counts['observations']:,} observations, {counts['conditions']:,} "
                         f"conditions, {counts['medications']:,} medications")
    t.add_row("k-anonymity", f"k={ka['k_achieved']} (required {ka['k_required']}) over "
                             f"{', '.join(ka['quasi_identifiers']) or 'no columns'}")
    t.add_row("generalised", "; ".join(ka["generalisations_applied"]) or "nothing")
    d = m["dates"]
    t.add_row("dates", "years only" if d["mode"] == "year" else
              f"shifted per person by {d['shift']['min_days']}-{d['shift']['max_days']} days"
              + (", whole weeks" if d["shift"]["keep_weekday"] else ""))
    t.add_row("rule", escape(m["rule"]["followed"]))
    t.add_row("time", f"{res.seconds:.2f} s")
    out.print(t)
    if not m["rule"]["safe_harbor"]:
        out.print(f"[yellow]note:[/] {escape(m['rule']['note'])}")
