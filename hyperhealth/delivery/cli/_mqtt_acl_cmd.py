"""``hyperhealth mqtt-acl`` and ``hyperhealth mqtt-credentials issue|revoke``: Mosquitto's
password and ACL files from the store (see :mod:`hyperhealth.security._broker`).

Register with ``app.command("mqtt-acl")(mqtt_acl)`` and
``app.add_typer(credentials_app, name="mqtt-credentials")``.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]

credentials_app = typer.Typer(
    help="Broker passwords for devices, users and services (shown once, stored hashed).",
    no_args_is_help=True)


def _cli() -> Any:
    from hyperhealth.delivery.cli import _app

    return _app


def mqtt_acl(
    password_file: Annotated[Path | None, typer.Option(
        help="Mosquitto password_file to write [default: DATA_DIR/mosquitto/passwd]")] = None,
    acl_file: Annotated[Path | None, typer.Option(
        help="Mosquitto acl_file to write [default: DATA_DIR/mosquitto/acl]")] = None,
    reload_pid: Annotated[int | None, typer.Option(
        help="Send this Mosquitto process SIGHUP when the files changed")] = None,
    pid_file: Annotated[Path | None, typer.Option(
        help="Read the Mosquitto pid to reload from this file (its pid_file option)")] = None,
    watch: Annotated[float | None, typer.Option(
        help="Keep running: rebuild every this many seconds, and when a consent or "
             "break-glass access starts or ends; rewrite and reload only on change")] = None,
    owner: Annotated[str | None, typer.Option(
        help="chown the files to USER[:GROUP] (e.g. mosquitto:mosquitto; needs root)")] = None,
    as_json: Json = False,
) -> None:
    """Write Mosquitto's password and ACL files: devices publish only their own readings topic,
    users read only the alerts of persons they may see, services read readings and publish
    alerts; everything else is denied."""
    from hyperhealth.errors import HyperhealthError
    from hyperhealth.security._broker import (
        BrokerFiles,
        broker_pid,
        build_broker_files,
        reload_broker,
        write_broker_files,
    )
    from hyperhealth.security._broker import watch as watch_loop

    cli = _cli()
    folder = Path(cli._state.settings.data_dir) / "mosquitto"
    pw_path = password_file or folder / "passwd"
    acl_path = acl_file or folder / "acl"
    if watch is not None and watch <= 0:
        cli.fail(f"--watch must be a positive number of seconds, not {watch}", 2)
    reload = reload_pid is not None or pid_file is not None
    try:
        if reload:
            broker_pid(reload_pid, pid_file)  # fail now on a wrong pid, not at the first change
        with cli._store() as store:
            if watch is None:
                files = build_broker_files(store)
                changed = write_broker_files(files, pw_path, acl_path, owner=owner)
                reloaded = False
                if changed and reload:
                    reload_broker(broker_pid(reload_pid, pid_file))
                    reloaded = True
                _report(files, changed, reloaded, pw_path, acl_path, as_json)
                return

            def on_round(files: BrokerFiles, changed: bool) -> None:
                if changed:
                    _report(files, changed, reload, pw_path, acl_path, as_json)

            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            if not as_json:
                cli.console.print(f"watching access every {watch:g} s; writing {pw_path} and "
                                  f"{acl_path} (Ctrl-C to stop)")
            with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends the watch cleanly
                watch_loop(store, pw_path, acl_path, interval_s=watch, owner=owner, stop=stop,
                           reload=(lambda: broker_pid(reload_pid, pid_file)) if reload else None,
                           on_round=on_round)
    except (HyperhealthError, PermissionError) as err:
        cli.fail(str(err), 2)
    except OSError as err:
        cli.fail(f"cannot write the broker files: {err}", 2)


def _report(files: Any, changed: bool, reloaded: bool, pw_path: Path, acl_path: Path,
            as_json: bool) -> None:
    from hyperhealth.security._broker import describe

    cli = _cli()
    if as_json:
        cli.emit_json({**files.summary(), "changed": changed, "reloaded": reloaded,
                       "password_file": str(pw_path), "acl_file": str(acl_path)})
        return
    lines = list(describe(files))
    cli.out.print(escape(lines[0]))
    for line in lines[1:]:
        cli.console.print(f"[yellow]{escape(line)}[/]")
    state = "written" if changed else "unchanged"
    if reloaded:
        state += ", broker reloaded"
    cli.out.print(f"{escape(str(pw_path))} and {escape(str(acl_path))}: {state}")


@credentials_app.command("issue")
def issue(
    username: Annotated[str, typer.Argument(
        help="Device id (registered), user name (existing) or service account name")],
    kind: Annotated[str, typer.Option(help="device, user or service")],
    replace: Annotated[bool, typer.Option(
        "--replace", help="Rotate: replace an existing password")] = False,
    as_json: Json = False,
) -> None:
    """Create a broker password and print it once; only its hash is kept. Run
    ``hyperhealth mqtt-acl`` afterwards so the broker learns it."""
    from hyperhealth.errors import HyperhealthError
    from hyperhealth.security._broker import BrokerKind, issue_credentials

    cli = _cli()
    try:
        k = BrokerKind(kind.strip().lower())
    except ValueError:
        cli.fail(f"--kind {kind!r}: use device, user or service", 2)
        return
    try:
        with cli._store() as store:
            secret = issue_credentials(store, username, k, replace=replace)
    except HyperhealthError as err:
        cli.fail(str(err), 2)
        return
    if as_json:
        cli.emit_json({"username": username, "kind": k.value, "secret": secret})
        return
    cli.console.print(f"broker password for {k.value} {escape(username)!s} (shown once; "
                      "store it on the client now):")
    cli.out.print(secret, markup=False, highlight=False)


@credentials_app.command("revoke")
def revoke(
    username: Annotated[str, typer.Argument(help="Broker username to revoke")],
    as_json: Json = False,
) -> None:
    """Revoke a broker password. Run ``hyperhealth mqtt-acl`` (with --reload-pid) afterwards:
    the reload disconnects a client still using it."""
    from hyperhealth.security._broker import revoke_credentials

    cli = _cli()
    with cli._store() as store:
        done = revoke_credentials(store, username)
    if as_json:
        cli.emit_json({"username": username, "revoked": done})
        return
    if not done:
        cli.fail(f"no active broker credentials named {username!r}", 1)
    cli.out.print(f"revoked {escape(username)}")
