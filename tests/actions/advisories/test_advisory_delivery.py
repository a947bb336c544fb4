"""The advisories API route and the rich view."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from rich.console import Console

from hyperhealth.actions.advisories import advisories_for, environment_from_values
from hyperhealth.delivery.api._advisories import router
from hyperhealth.delivery.cli._advisories_view import render_advisories
from hyperhealth.model import Condition, Exposure, Location, Person
from hyperhealth.store import Store
from tests.signin import SignedIn, app_for

HOME = Location(38.58, -121.49, "home")
MONITOR = Location(38.59, -121.49, "Monitor A")
T0 = datetime(2024, 7, 3, 12, tzinfo=UTC)


@pytest.fixture
def client(sqlite_store: Store) -> Iterator[TestClient]:
    with sqlite_store.transaction() as w:
        w.upsert_person(Person("asthma", birth_date=date(1990, 5, 1), home=HOME))
        w.upsert_person(Person("plain", birth_date=date(1990, 5, 1), home=HOME))
        w.add_conditions([Condition("asthma", "195967001", "Asthma", onset=date(2000, 1, 1),
                                    record_id="c1")])
        w.add_exposures([Exposure(MONITOR, "pm25", T0 + timedelta(hours=h), 45.0, "ug/m3",
                                  source="test") for h in range(6)])
    app = app_for(sqlite_store, web=False)
    app.include_router(router)
    with SignedIn(app, raise_server_exceptions=False) as c:
        yield c


def test_route_returns_personal_advice(client: TestClient) -> None:
    at = "2024-07-03T15:30:00Z"
    mine = client.get("/api/persons/asthma/advisories", params={"at": at})
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert body["person_id"] == "asthma" and body["at"].startswith("2024-07-03T15:30:00")
    (air,) = body["advisories"]
    assert (air["rule"], air["level"]) == ("air-quality", "warn")
    assert any("Asthma" in w for w in air["why"])
    assert air["evidence"]["pollutants"][0]["reading"]["monitor"] == "Monitor A"
    assert "does not replace" in air["note"] and "EPA" in air["citation"]
    assert set(body["not_checked"]) == {"heat", "cold", "pollen", "uv"}
    # same air, a person outside the sensitive groups: nothing to do
    other = client.get("/api/persons/plain/advisories", params={"at": at}).json()
    assert other["advisories"] == []


def test_route_errors_say_what_and_how(client: TestClient) -> None:
    r = client.get("/api/persons/nobody/advisories")  # no consent can exist for it
    assert r.status_code == 403 and "no access" in r.json()["what"]
    r = client.get("/api/persons/asthma/advisories", params={"at": "2024-07-03T15:30:00"})
    assert r.status_code == 422 and "time zone" in r.json()["what"]


def test_openapi_documents_the_route(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/persons/{person_id}/advisories" in paths


def test_rich_view_shows_level_title_why_and_note() -> None:
    now = datetime(2024, 7, 3, 15, tzinfo=UTC)
    env = environment_from_values(now, {"pm25": 185.0, "air-temperature": 40.0,
                                        "relative-humidity": 40.0})
    got = advisories_for(Person("p", birth_date=date(1950, 1, 1)), [], [], env, [], now)
    console = Console(width=100, record=True)
    console.print(render_advisories(got))
    out = console.export_text()
    flat = " ".join(out.split())
    assert "URGENT Air quality very unhealthy (PM2.5, AQI 260)" in out
    assert "Why this applies to you" in out and "you are 74" in out
    assert "ug/m3" in out  # units survive markup escaping
    assert "does not replace advice from your clinician" in flat
