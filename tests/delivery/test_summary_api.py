"""The summary and trends routes: what the library computes, cut by real consents, in the
units the signed-in user prefers, with what/where/fix errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from fastapi import FastAPI

from hyperhealth.delivery.api._summary import SECTION_CATEGORIES, router
from hyperhealth.insights.summary import SECTIONS, Units, glance, trends
from hyperhealth.model import (
    Exposure,
    LifestyleEvent,
    LifestyleKind,
    Location,
    Observation,
    Person,
)
from hyperhealth.security._consent import ConsentBook
from hyperhealth.security._identity import Identity
from hyperhealth.security._model import Category, Role
from hyperhealth.store import Store
from tests import signin
from tests.signin import PASSWORD, SignedIn, login

PID, OTHER = "p-sum", "p-plain"
TZ = "America/Phoenix"
HOME = Location(33.4484, -112.0740, "Phoenix, AZ, US")
DAYS = 16
T0 = datetime(2024, 7, 1, 7, tzinfo=UTC)  # local midnight in Phoenix


def app_for(store: Store) -> FastAPI:
    app = signin.app_for(store)
    if not any(getattr(r, "path", "") == "/api/persons/{person_id}/summary"
               for r in app.routes):
        app.include_router(router)  # until the lead wires it in _app.py
    return app


def _fill(store: Store) -> None:
    with store.transaction() as w:
        w.upsert_person(Person(PID, tz=TZ, home=HOME))
        w.upsert_person(Person(OTHER, tz=TZ))
        obs, events, env = [], [], []
        for d in range(DAYS):
            day0 = T0 + timedelta(days=d)
            for h in range(24):
                t = day0 + timedelta(hours=h)
                obs.append(Observation(PID, "8867-4", t, 60.0 + (h % 7) + d % 3, "/min"))
                obs.append(Observation(OTHER, "8867-4", t, 70.0 + h % 5, "/min"))
                env += [Exposure(HOME, "air-temperature", t, 30.0 + h % 6, "Cel"),
                        Exposure(HOME, "relative-humidity", t, 25.0, "%"),
                        Exposure(HOME, "pm25", t, 8.0 + h % 3, "ug/m3")]
                if 8 <= h <= 20:
                    obs.append(Observation(PID, "55423-8", t, 400.0 + 10 * d, "{steps}"))
            for q in range(96):
                obs.append(Observation(PID, "99504-3", day0 + timedelta(minutes=15 * q),
                                       90.0 + (q * 7 + d * 13) % 140, "mg/dL"))
            obs.append(Observation(PID, "29463-7", day0 + timedelta(hours=7), 80.0 + d / 10,
                                   "kg"))
            events.append(LifestyleEvent(PID, LifestyleKind.SLEEP, day0 - timedelta(hours=1),
                                         day0 + timedelta(hours=6, minutes=d * 3),
                                         {"stage": "asleep", "efficiency_pct": 91.0},
                                         source="test", record_id=f"s{d}"))
        w.add_observations(obs)
        w.add_lifestyle_events(events)
        w.add_exposures(env)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignedIn]:
    """One store for the module (the tests add users, grants and one reading, each their
    own, and compare with the library on the spot)."""
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('summary-api') / 'hh.sqlite'}")
    _fill(store)
    with SignedIn(app_for(store), raise_server_exceptions=False) as c:
        yield c
    store.close()


def _user(store: Store, name: str, role: Role, person: str | None = None) -> dict[str, str]:
    Identity(store).create_user(name, role, PASSWORD, person_id=person)
    return {"Authorization": f"Bearer {login(store, name)}"}


def _plain(x: Any) -> Any:
    return orjson.loads(orjson.dumps(x))


def test_summary_is_the_library_result_with_nothing_hidden(client: SignedIn) -> None:
    r = client.get(f"/api/persons/{PID}/summary")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["hidden"] == [] and list(body["sections"]) == list(SECTIONS)
    assert body["day"] == (T0 + timedelta(days=DAYS - 1)).date().isoformat()
    want = _plain(glance(client.store, PID))
    assert body["sections"] == want["sections"] and body["as_of"] == want["as_of"]
    sec = body["sections"]
    assert all(sec[s]["status"] == "ok" for s in SECTIONS), {s: sec[s]["status"] for s in sec}
    assert sec["glucose"]["unit"] == "mg/dL" and sec["glucose"]["ranges"]["in_range"] == [70, 180]
    assert sec["environment"]["place"]["label"] == HOME.label
    assert {x["code"] for x in sec["environment"]["readings"]} == {
        "air-temperature", "relative-humidity", "pm25"}
    # every value says its unit
    for item in sec["vitals"]["items"]:
        assert item["unit"] and item["unit_text"]


def test_sections_follow_the_patients_grants(client: SignedIn) -> None:
    store = client.store
    patient = _user(store, "pat.sum", Role.PATIENT, PID)
    dr = _user(store, "dr.partial", Role.CLINICIAN)
    me = Identity(store).user("pat.sum").actor()
    book = ConsentBook(store)
    g = book.grant(PID, "dr.partial", [Category.VITALS, Category.SLEEP], by=me)
    body = client.get(f"/api/persons/{PID}/summary", headers=dr).json()
    assert set(body["sections"]) == {"vitals", "sleep"}
    hidden = {h["section"]: h for h in body["hidden"]}
    assert set(hidden) == {"activity", "glucose", "environment", "advisories"}
    assert hidden["glucose"]["category"] == "cgm"
    assert hidden["activity"]["category"] == "activity"
    assert hidden["environment"]["categories"] == ["location"]
    assert hidden["advisories"]["categories"] == ["alerts", "location"]
    text = orjson.dumps(body).decode()
    assert "99504-3" not in text and "Phoenix" not in text and "steps" not in text.lower()
    # trends: shared codes only
    ok = client.get(f"/api/persons/{PID}/trends?code=8867-4", headers=dr)
    assert ok.status_code == 200
    assert client.get(f"/api/persons/{PID}/trends?code=99504-3", headers=dr).status_code == 403
    assert client.get(f"/api/persons/{PID}/trends?code=sleep", headers=dr).status_code == 200
    assert client.get(f"/api/persons/{PID}/trends?code=55423-8", headers=dr).status_code == 403
    # the patient sees everything of their own, and nothing of someone else
    own = client.get(f"/api/persons/{PID}/summary", headers=patient).json()
    assert own["hidden"] == [] and set(own["sections"]) == set(SECTIONS)
    assert client.get(f"/api/persons/{OTHER}/summary", headers=patient).status_code == 403
    # revoked: the next request is refused outright
    book.revoke(PID, g.pk, by=me)
    assert client.get(f"/api/persons/{PID}/summary", headers=dr).status_code == 403


def test_hidden_does_not_depend_on_whether_the_data_exists(client: SignedIn) -> None:
    """OTHER has no CGM; a clinician without cgm access sees 'glucose' hidden all the same,
    so the list reveals nothing."""
    store = client.store
    _user(store, "pat.plain", Role.PATIENT, OTHER)
    dr = _user(store, "dr.vitals", Role.CLINICIAN)
    ConsentBook(store).grant(OTHER, "dr.vitals", [Category.VITALS],
                             by=Identity(store).user("pat.plain").actor())
    body = client.get(f"/api/persons/{OTHER}/summary", headers=dr).json()
    assert {h["section"] for h in body["hidden"]} == set(SECTIONS) - {"vitals"}
    full = client.get(f"/api/persons/{OTHER}/summary").json()  # the care team sees all
    assert full["sections"]["glucose"]["status"] == "not-used"
    assert set(SECTION_CATEGORIES) == set(SECTIONS)


def test_units_come_from_the_users_preferences_unless_asked(client: SignedIn) -> None:
    store = client.store
    patient = _user(store, "pat.units", Role.PATIENT, PID)
    r = client.put("/api/me/preferences", headers=patient,
                   json={"glucose_unit": "mmol/L", "weight_unit": "lb"})
    assert r.status_code == 200, r.text
    body = client.get(f"/api/persons/{PID}/summary", headers=patient).json()
    assert body["units"] == {"glucose": "mmol/L", "weight": "lb"}
    glu = body["sections"]["glucose"]
    lib = glance(store, PID, units=Units("mmol/L", "lb"))["sections"]["glucose"]
    assert glu["mean"] == lib["mean"] and glu["unit"] == "mmol/L"
    mg = glance(store, PID)["sections"]["glucose"]["mean"]
    assert glu["mean"] == pytest.approx(mg / 18.0156, abs=0.1)
    assert glu["ranges"]["in_range"] == [3.9, 10.0]
    weight = next(i for i in body["sections"]["vitals"]["items"] if i["code"] == "29463-7")
    assert weight["unit_text"] == "lb"
    assert weight["last"]["value"] == round((80.0 + (DAYS - 1) / 10) / 0.45359237, 1)
    # the query wins over the preference
    asked = client.get(f"/api/persons/{PID}/summary?glucose_unit=mg/dL&weight_unit=kg",
                       headers=patient).json()
    assert asked["units"] == {"glucose": "mg/dL", "weight": "kg"}
    tr = client.get(f"/api/persons/{PID}/trends?code=99504-3&period=week",
                    headers=patient).json()
    assert tr["unit"] == "mmol/L"
    assert tr == _plain(trends(store, PID, "99504-3", period="week", units=Units("mmol/L")))
    # the other user (the care-team clinician) has no preference: mg/dL
    assert client.get(f"/api/persons/{PID}/trends?code=99504-3").json()["unit"] == "mg/dL"


def test_trends_route(client: SignedIn) -> None:
    r = client.get(f"/api/persons/{PID}/trends",
                   params={"code": "55423-8", "period": "week", "start": "2024-07-01",
                           "end": "2024-07-14"})
    assert r.status_code == 200, r.text
    body = r.json()
    rows = body["periods"]
    assert [x["start"] for x in rows] == ["2024-07-01", "2024-07-08"]  # Mondays
    assert [x["n"] for x in rows] == [7, 7]
    per_day = [13 * (400 + 10 * d) for d in range(DAYS)]
    assert rows[0]["mean"] == round(sum(per_day[:7]) / 7)
    assert body["baseline"]["days"] == 13  # 1-13 July (the days before 14 July)
    sl = client.get(f"/api/persons/{PID}/trends?code=sleep&period=day").json()
    assert sl["unit"] == "min" and sl["periods"][-1]["mean"] == 7 * 60 + (DAYS - 1) * 3


@pytest.mark.parametrize(("url", "where"), [
    ("summary?day=2024-13-01", "day"),
    ("summary?day=yesterday", "day"),
    ("summary?day=2999-01-01", "day"),
    ("summary?day=0001-01-01", "day"),
    ("trends?code=8867-4&end=9999-12-31", "end"),
    ("summary?sections=vitals,mood", "sections"),
    ("summary?glucose_unit=stone", "glucose_unit"),
    ("trends?code=8867-4&period=fortnight", "period"),
    ("trends?code=no-such-code", "code"),
    ("trends?code=8867-4&start=2024-07-10&end=2024-07-01", "start"),
    ("trends?code=8867-4&start=2024/07/01", "start"),
    ("trends", "code"),
])
def test_bad_parameters_say_what_where_and_how_to_fix(client: SignedIn, url: str,
                                                     where: str) -> None:
    r = client.get(f"/api/persons/{PID}/{url}")
    assert r.status_code == 422, r.text
    p = r.json()
    assert p["what"] and p["fix"] and where in p["where"], p


def test_local_day_of_a_late_reading(client: SignedIn) -> None:
    """A reading at 23:30 in Phoenix (06:30 UTC next day) counts on the Phoenix day."""
    store = client.store
    late = datetime(2024, 7, 16, 23, 30, tzinfo=ZoneInfo(TZ))
    with store.transaction() as w:
        w.add_observations([Observation(PID, "8310-5", late, 37.9, "Cel")])
    body = client.get(f"/api/persons/{PID}/summary?day=2024-07-16&sections=vitals").json()
    temp = next(i for i in body["sections"]["vitals"]["items"] if i["code"] == "8310-5")
    assert temp["today"]["readings"] == 1 and temp["today"]["mean"] == 37.9
    assert temp["series"][-1]["day"] == date(2024, 7, 16).isoformat()
    assert body["as_of"] == late.astimezone(UTC).isoformat()
