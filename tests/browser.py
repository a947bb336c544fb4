"""Shared parts of the browser tests: a live server in a thread, and Debian's Chromium driven by
Playwright with the flags ../shared/SERVICES.md asks for (no background traffic to outside hosts).

Without Chromium or Playwright the tests skip with a reason, or fail when
``HYPERHEALTH_REQUIRE_SERVICES=1`` (CI installs both).
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.conftest import services_required

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def _missing(msg: str) -> None:
    if services_required():
        pytest.fail(msg + " (HYPERHEALTH_REQUIRE_SERVICES=1)")
    pytest.skip(msg)


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    _missing("Chromium is not installed (Debian: apt-get install chromium)")
    raise AssertionError("unreachable")


def sync_api() -> Any:
    try:
        from playwright import sync_api as api
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[test]')")
    return api


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium browser (Playwright ``Browser``)."""
    exe = chromium_path()
    api = sync_api()
    with api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free local port; yields its base URL."""
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    end = time.monotonic() + 15
    while not srv.started and time.monotonic() < end:
        time.sleep(0.02)
    assert srv.started, "the test server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        th.join(10)
