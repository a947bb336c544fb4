"""``hyperhealth edge``: the edge agent near the devices (store-and-forward, urgent rules locally).

Registered by the CLI app as ``app.command("edge")(edge)``.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def edge(
    server: Annotated[str, typer.Option(
        envvar="HYPERHEALTH_SERVER_URL",
        help="Base URL of the hyperhealth server, e.g. http://10.0.0.5:8000")] = "",
    map_file: Annotated[Path | None, typer.Option(
        "--map", help="TOML or JSON file naming the persons served here and their devices "
                      "(see docs/methods.md, Edge agent)")] = None,
    host: Annotated[str, typer.Option(help="Address to take device messages on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port for device messages over HTTP")] = 8787,
    no_http: Annotated[bool, typer.Option("--no-http", help="Take no messages over HTTP")] = False,
    mqtt_url: Annotated[str | None, typer.Option(
        help="Also take device messages from this local MQTT broker (mqtt://host:1883)")] = None,
    mqtt_topic: Annotated[str, typer.Option(help="MQTT subscription")] = "hyperhealth/+/readings",
    edge_id: Annotated[str | None, typer.Option(
        help="This edge's id (default: edge_id of the map, else one generated once and "
             "kept)")] = None,
    edge_dir: Annotated[Path | None, typer.Option(
        help="Where the edge keeps its queue and local store (default: <data dir>/edge)")] = None,
    once: Annotated[bool, typer.Option(
        "--once", help="Forward what is queued now and exit (exit code 1 if the server cannot "
                       "be reached)")] = False,
    status: Annotated[bool, typer.Option(
        "--status", help="Show the queue and the alerts raised here, and exit")] = False,
    as_json: Json = False,
) -> None:
    """Run the edge agent: keep device messages on disk, raise urgent alerts locally, forward."""
    from hyperhealth.delivery.cli._app import _state, console, emit_json, fail, out

    settings = getattr(_state, "settings", None)
    if settings is None:
        from hyperhealth.config import Settings

        settings = Settings.load()
    folder = edge_dir or settings.data_dir / "edge"
    if status:
        _status(folder, as_json)
        return
    if not server:
        fail("--server is required (or HYPERHEALTH_SERVER_URL), e.g. --server "
             "http://10.0.0.5:8000", 2)
    if not server.startswith(("http://", "https://")):
        fail(f"--server {server!r} is not an http(s) URL", 2)
    from hyperhealth.engine.edge import EdgeService, Forwarder, Unreachable, load_map

    edge_map = load_map(map_file) if map_file is not None else None

    def show(a: Any) -> None:
        if not as_json:
            colour = {"urgent": "bold red", "warn": "yellow"}.get(a["level"], "cyan")
            out.print(f"[{colour}]{a['level'].upper()}[/] {a['person']}: {a['title']} "
                      f"(data time {a['time']}) - raised at this edge, queued for the server")

    if once:
        from hyperhealth.engine.edge import EdgeAgent

        with EdgeAgent(folder, edge_map=edge_map, edge_id=edge_id, on_alert=show) as agent:
            fwd = Forwarder(agent.queue, agent.edge_id, server)
            try:
                done = fwd.drain(timeout_s=600)
            except Unreachable as exc:
                fail(f"the server at {server} cannot be reached ({exc}); "
                     f"{agent.queue.counts()['messages'].get('queued', 0)} message(s) stay "
                     "queued")
            finally:
                fwd.close()
            result = {"edge_id": agent.edge_id, "drained": done, **fwd.stats.to_dict(),
                      "queue": agent.queue.counts()}
        if as_json:
            emit_json(result)
        else:
            out.print(f"forwarded {result['messages']:,} message(s) and {result['alerts']} "
                      f"alert(s) in {result['batches']} batch(es) "
                      f"({result['raw_bytes']:,} bytes, {result['sent_bytes']:,} compressed)")
        return
    # a service manager stops us with SIGTERM: stop as on Ctrl-C (the queue is closed cleanly)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    svc = EdgeService(folder, server, edge_map=edge_map, edge_id=edge_id, host=host,
                      port=None if no_http else port, mqtt_url=mqtt_url, mqtt_topic=mqtt_topic,
                      on_alert=show).start()
    try:
        where = [] if no_http else [f"http://{host}:{svc.port}/api/ingest/device"]
        if mqtt_url:
            where.append(f"{mqtt_url} topic {mqtt_topic}")
        if as_json:
            emit_json({"edge_id": svc.agent.edge_id, "listening": where, "server": server,
                       "data_dir": str(folder)})
        else:
            console.print(f"edge [bold]{svc.agent.edge_id}[/] takes device messages on "
                          f"{' and '.join(where) or 'nothing'}; forwarding to {server}; "
                          f"queue in {folder} (Ctrl-C to stop)")
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        svc.stop()


def _status(folder: Path, as_json: bool) -> None:
    from rich.table import Table

    from hyperhealth.delivery.cli._app import emit_json, fail, out
    from hyperhealth.engine.edge import EdgeQueue

    path = folder / "queue.sqlite"
    if not path.exists():
        fail(f"no edge queue in {folder}; start the edge with --server first")
    q = EdgeQueue(path)
    try:
        doc: dict[str, Any] = {"edge_id": q.meta("edge_id"), "queue": q.counts(),
                               "alerts": q.alerts()}
    finally:
        q.close()
    if as_json:
        emit_json(doc)
        return
    m = doc["queue"]["messages"]
    out.print(f"edge {doc['edge_id']}: {m.get('queued', 0):,} message(s) waiting "
              f"({m.get('queued_urgent', 0):,} urgent), {m.get('sent', 0):,} forwarded, "
              f"{m.get('refused', 0):,} refused by the server")
    if doc["alerts"]:
        t = Table(title="alerts raised at this edge")
        for col in ("data time", "person", "level", "alert", "state"):
            t.add_column(col)
        for a in doc["alerts"]:
            b = a["body"]
            t.add_row(b["time"], a["person"], b["level"], b["title"], a["state"])
        out.print(t)
