"""``hyperhealth edge``: forward once, show the queue, and run as a process until Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest
import typer
from typer.testing import CliRunner

from hyperhealth.delivery.cli._edge import edge
from hyperhealth.engine.edge import EdgeAgent, parse_map
from hyperhealth.store import Store
from tests.engine.edge_helpers import (
    LOW,
    MAP,
    ROOT,
    LiveServer,
    add_persons,
    cgm,
    free_port,
    wait_for,
)

app = typer.Typer()
app.command("edge")(edge)


@app.callback()
def _root() -> None:
    """(a group, so the command is called by name as in the real CLI)"""


MAP_TOML = """edge_id = "edge-cli"
[[persons]]
id = "p-edge-a"
tz = "Europe/Madrid"
devices = ["watch-a", "cgm-a"]
"""


@pytest.fixture
def map_file(tmp_path: Path) -> Path:
    f = tmp_path / "edge.toml"
    f.write_text(MAP_TOML)
    return f


def test_once_and_status(sqlite_store: Store, tmp_path: Path, map_file: Path) -> None:
    add_persons(sqlite_store)
    folder = tmp_path / "edge"
    with EdgeAgent(folder, edge_map=parse_map(MAP)) as agent:
        for m in cgm(LOW):
            agent.accept(m)
    runner = CliRunner()
    r = runner.invoke(app, ["edge", "--status", "--edge-dir", str(folder), "--json"])
    assert r.exit_code == 0, r.output
    doc = orjson.loads(r.stdout)
    assert doc["queue"]["messages"]["queued"] == len(LOW)
    assert [a["body"]["key"] for a in doc["alerts"]] == ["low", "urgent-low"]
    r = runner.invoke(app, ["edge", "--status", "--edge-dir", str(folder)])
    assert r.exit_code == 0 and "24 message(s) waiting (24 urgent)" in r.stdout
    assert "Glucose below 54 mg/dL" in r.stdout

    dead = f"http://127.0.0.1:{free_port()}"
    r = runner.invoke(app, ["edge", "--once", "--server", dead, "--edge-dir", str(folder),
                            "--map", str(map_file)])
    assert r.exit_code == 1 and "cannot be reached" in r.output and "24 message(s)" in r.output

    server = LiveServer(sqlite_store).start()
    try:
        r = runner.invoke(app, ["edge", "--once", "--server", server.url, "--edge-dir",
                                str(folder), "--map", str(map_file), "--json"])
    finally:
        server.stop()
    assert r.exit_code == 0, r.output
    out = orjson.loads(r.stdout)
    assert out["drained"] and out["messages"] == len(LOW) and out["alerts"] == 2
    assert out["queue"]["messages"] == {"sent": len(LOW)}
    assert len(sqlite_store.series("p-edge-a", "99504-3")) == len(LOW)


def test_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["edge", "--status", "--edge-dir", str(tmp_path / "none")])
    assert r.exit_code == 1 and "no edge queue" in r.output
    r = runner.invoke(app, ["edge", "--edge-dir", str(tmp_path)],
                      env={"HYPERHEALTH_SERVER_URL": ""})
    assert r.exit_code == 2 and "--server is required" in r.output
    r = runner.invoke(app, ["edge", "--server", "ftp://x", "--edge-dir", str(tmp_path)])
    assert r.exit_code == 2


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_runs_until_interrupted(sqlite_store: Store, tmp_path: Path, map_file: Path,
                                stop: signal.Signals) -> None:
    """Ctrl-C in a terminal, or SIGTERM from a service manager: the edge stops cleanly."""
    add_persons(sqlite_store)
    server = LiveServer(sqlite_store).start()
    port = free_port()
    code = ("import typer; from hyperhealth.delivery.cli._edge import edge; "
            "app = typer.Typer(); app.command('edge')(edge); app.callback()(lambda: None); app()")
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "edge", "--server", server.url, "--port", str(port),
         "--edge-dir", str(tmp_path / "edge"), "--map", str(map_file)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"},
        # a test run started in the background (`cmd &`) has SIGINT ignored, and a child keeps
        # that: give the edge the default, as Ctrl-C in a terminal would find it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(url + "/healthz").status_code == 200
            except httpx.HTTPError:
                return proc.poll() is not None

        wait_for(up, 60, "the edge process to listen")
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        for m in cgm(LOW):
            assert httpx.post(url + "/api/ingest/device", json=m).status_code == 200
        wait_for(lambda: len(sqlite_store.series("p-edge-a", "99504-3")) == len(LOW), 60,
                 "the readings to reach the server")
        time.sleep(0.2)
    finally:
        proc.send_signal(stop)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired as exc:  # where it hangs: faulthandler on SIGABRT
            proc.send_signal(signal.SIGABRT)
            out, err = proc.communicate(timeout=30)
            raise AssertionError(f"the edge did not stop within 60 s after {stop.name}:\n{err}"
                                 ) from exc
        finally:
            server.stop()
    assert proc.returncode == 0, err
    assert "URGENT" in out and "Glucose below 54 mg/dL" in out
    assert "edge edge-cli takes device messages on" in err
