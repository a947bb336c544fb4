"""Shared fixtures: reference data, real services (PostgreSQL, Mosquitto), stores."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hyperhealth.store import Store

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("HYPERHEALTH_SHARED_DATA", ROOT.parent / "shared" / "data"))
PG_ADMIN_URL = os.environ.get("HYPERHEALTH_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
MQTT_HOST, MQTT_PORT = "127.0.0.1", 1883


def services_required() -> bool:
    return os.environ.get("HYPERHEALTH_REQUIRE_SERVICES") == "1"


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def need_service(name: str, host: str, port: int) -> None:
    """Skip with a reason when a service is down; fail instead when CI requires services."""
    if port_open(host, port):
        return
    msg = f"{name} is not answering on {host}:{port} (see ../shared/SERVICES.md to start it)"
    if services_required():
        pytest.fail(msg + " and HYPERHEALTH_REQUIRE_SERVICES=1")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data folder {SHARED_DATA} is absent")
    return SHARED_DATA


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hh.sqlite'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database with a unique name, dropped afterwards."""
    need_service("PostgreSQL", "127.0.0.1", 5432)
    import sqlalchemy as sa

    name = f"hh_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The same tests against both backends."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hh.sqlite'}"
        s = Store(url)
        yield s
        s.close()
    else:
        gen = pg_url.__wrapped__()  # type: ignore[attr-defined]
        url = next(gen)
        s = Store(url)
        try:
            yield s
        finally:
            s.close()
            next(gen, None)


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[Store]:
    s = Store(sqlite_url)
    yield s
    s.close()
