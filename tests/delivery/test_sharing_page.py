"""The patient's data-sharing page: grants, grant and revoke through the API, access history."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from hyperhealth.delivery.web import _sharing_page
from hyperhealth.model import Observation, Person
from hyperhealth.security._consent import ConsentBook
from hyperhealth.security._identity import Identity
from hyperhealth.security._model import Category, Role
from hyperhealth.store import Store
from tests.browser import chromium, live_server
from tests.browser import sync_api as browser_api
from tests.delivery.test_web import Page
from tests.signin import PASSWORD, app_for, login

PID, OTHER = "p-ines", "p-omar"
HOUR_US = 3_600_000_000
ORIGIN = {"Origin": "http://testserver"}
T0 = datetime(2024, 5, 1, tzinfo=UTC)


@dataclass
class World:
    client: TestClient
    store: Store


@pytest.fixture
def world(sqlite_store: Store) -> Iterator[World]:
    with sqlite_store.transaction() as w:
        w.upsert_person(Person(PID, birth_date=date(1970, 3, 4), tz="America/Mexico_City"))
        w.upsert_person(Person(OTHER, birth_date=date(1980, 1, 1)))
        w.add_observations([Observation(PID, "8867-4", T0 + timedelta(minutes=i), 62.0 + i,
                                        "/min") for i in range(10)])
    identity, consents = Identity(sqlite_store), ConsentBook(sqlite_store)
    identity.create_user("ines", Role.PATIENT, PASSWORD, person_id=PID)
    identity.create_user("omar", Role.PATIENT, PASSWORD, person_id=OTHER)
    identity.create_user("dr.rivera", Role.CLINICIAN, PASSWORD, display_name="Dr Ana Rivera")
    identity.create_user("cc.luz", Role.CARE_COORDINATOR, PASSWORD)
    identity.create_user("site.admin", Role.ADMIN, PASSWORD)
    identity.add_team("diabetes-clinic", ["cc.luz"])
    patient = identity.user("ines").actor()
    now = time.time_ns() // 1000
    consents.grant(PID, "dr.rivera", [Category.VITALS, Category.CGM], by=patient)
    old = consents.grant(PID, "cc.luz", [Category.ACTIVITY], by=patient)
    consents.revoke(PID, old.pk, by=patient)
    consents.grant(PID, "diabetes-clinic", [Category.LABS], grantee_kind="team", by=patient,
                   start_us=now - 3 * HOUR_US, end_us=now - HOUR_US)
    consents.grant(OTHER, "dr.rivera", [Category.SLEEP],
                   by=identity.user("omar").actor())
    app = app_for(sqlite_store)
    if not any(getattr(r, "path", None) == "/sharing" for r in app.routes):
        app.include_router(_sharing_page.router)  # until install_web includes it
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as c:
        yield World(c, sqlite_store)


def _as(w: World, username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {login(w.store, username)}"}


def _sign_in_with_cookie(w: World, username: str) -> None:
    """As the browser does: the login form sets the session cookie."""
    r = w.client.post("/login", data={"username": username, "password": PASSWORD,
                                      "next": "/sharing"})
    assert r.status_code == 303, r.text


def _grant_cards(html: str) -> dict[str, str]:
    """``{grant id: text of its card}`` for every grant on the page."""
    out = {}
    for m in re.finditer(r'<li class="grant state-(\w+)" id="grant-(\d+)">(.*?)</li>', html,
                         re.S):
        out[m.group(2)] = m.group(1) + " " + re.sub(r"<[^>]+>|\s+", " ", m.group(3))
    return out


def test_patient_sees_their_grants(world: World) -> None:
    r = world.client.get("/sharing", headers=_as(world, "ines"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    cards = _grant_cards(r.text)
    assert len(cards) == 3  # omar's grant is not ines's business
    states = sorted(c.split()[0] for c in cards.values())
    assert states == ["active", "expired", "revoked"]
    active = next(c for c in cards.values() if c.startswith("active"))
    assert "Dr Ana Rivera" in active and "dr.rivera" in active
    assert "Vital signs" in active and "Glucose" in active and "until you revoke it" in active
    revoked = next(c for c in cards.values() if c.startswith("revoked"))
    assert "cc.luz" in revoked and "Physical activity" in revoked and "Revoked on" in revoked
    expired = next(c for c in cards.values() if c.startswith("expired"))
    assert "diabetes-clinic" in expired and "care team" in expired
    assert "Laboratory results" in expired
    page = Page(r.text)
    revoke = [b for b in page.all("button") if b.get("data-revoke")]
    assert len(revoke) == 1  # only the active grant can be revoked
    assert OTHER not in r.text


def test_form_is_labelled_and_offers_every_category(world: World) -> None:
    r = world.client.get("/sharing", headers=_as(world, "ines"))
    page = Page(r.text)
    boxes = [i for i in page.all("input") if i.get("type") == "checkbox"]
    assert sorted(b["value"] or "" for b in boxes) == sorted(c.value for c in Category)
    labelled = {a.get("for") for a in page.all("label")}
    for control in page.all("input") + page.all("select"):
        if control.get("type") in ("hidden",):
            continue
        assert control.get("id") in labelled, f"unlabelled control {control}"
    live = [p for p in page.all("p") if p.get("id") == "sharing-status"]
    assert live and live[0].get("aria-live") == "polite" and live[0].get("role") == "status"
    assert any(s.get("src") == "/static/sharing.js" for s in page.all("script"))
    assert world.client.get("/static/sharing.js").status_code == 200
    assert world.client.get("/static/sharing.css").status_code == 200


def test_access_history_lists_who_did_what(world: World) -> None:
    dr = _as(world, "dr.rivera")
    assert world.client.get(f"/api/persons/{PID}/observations?code=8867-4",
                            headers=dr).status_code == 200
    assert world.client.get(f"/api/persons/{PID}/pgx", headers=dr).status_code == 403
    r = world.client.get("/sharing", headers=_as(world, "ines"))
    rows = re.findall(r'<tr class="outcome-([\w-]+)">(.*?)</tr>', r.text, re.S)
    text = [(o, re.sub(r"<[^>]+>|\s+", " ", t)) for o, t in rows]
    assert any(o == "permit" and "dr.rivera" in t and "Viewed readings" in t
               and "clinician" in t and "Allowed" in t for o, t in text), text
    assert any(o == "deny" and "dr.rivera" in t and "Viewed pharmacogenomic results" in t
               and "Refused" in t for o, t in text), text
    assert "America/Mexico_City" in r.text


def test_break_glass_is_flagged(world: World) -> None:
    store = world.store
    ConsentBook(store).break_glass(Identity(store).user("dr.rivera").actor(), OTHER,
                                   "unconscious in the emergency room", minutes=30)
    assert world.client.get(f"/api/persons/{OTHER}", headers=_as(world, "dr.rivera")
                            ).status_code == 200
    r = world.client.get("/sharing", headers=_as(world, "omar"))
    assert 'class="outcome-break-glass"' in r.text
    assert "Emergency access, flagged for review" in r.text


@pytest.mark.parametrize("who", ["dr.rivera", "cc.luz", "site.admin"])
def test_others_get_the_explanation(world: World, who: str) -> None:
    r = world.client.get("/sharing", headers=_as(world, who))
    assert r.status_code == 200
    assert "grant-form" not in r.text and "data-revoke" not in r.text
    assert PID not in r.text and OTHER not in r.text
    assert "revoke that access at any time" in r.text
    assert ('href="/docs#/sharing"' in r.text) == (who == "site.admin")


def test_anonymous_is_sent_to_login(world: World) -> None:
    r = world.client.get("/sharing")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_grant_and_revoke_round_trip(world: World) -> None:
    """What the page's script does: POST and DELETE on the API with the session cookie."""
    c = world.client
    _sign_in_with_cookie(world, "ines")
    before = _grant_cards(c.get("/sharing").text)
    body = {"grantee": "cc.luz", "grantee_kind": "user",
            "categories": ["sleep", "mental-health"], "purpose": "treatment",
            "end": "2999-01-01T06:00:00Z"}
    # the guard refuses a cookie write from another site
    r = c.post(f"/api/persons/{PID}/consents", json=body,
               headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    r = c.post(f"/api/persons/{PID}/consents", json=body, headers=ORIGIN)
    assert r.status_code == 201, r.text
    gid = str(r.json()["id"])
    after = _grant_cards(c.get("/sharing").text)
    assert set(after) - set(before) == {gid}
    card = after[gid]
    assert card.startswith("active") and "Sleep" in card and "Mood and mental health" in card
    assert "2999" in card and "until you revoke it" not in card
    assert f'data-revoke="{gid}"' in c.get("/sharing").text

    r = c.delete(f"/api/persons/{PID}/consents/{gid}", headers=ORIGIN)
    assert r.status_code == 200 and r.json()["state"] == "revoked"
    page = c.get("/sharing").text
    assert _grant_cards(page)[gid].startswith("revoked")
    assert f'data-revoke="{gid}"' not in page
    # and both changes are in the access history
    assert "Granted access" in page and "Revoked access" in page


def test_a_patient_cannot_grant_for_someone_else(world: World) -> None:
    _sign_in_with_cookie(world, "omar")
    r = world.client.post(f"/api/persons/{PID}/consents", headers=ORIGIN, json={
        "grantee": "dr.rivera", "categories": ["vitals"]})
    assert r.status_code == 403


def test_spanish(world: World) -> None:
    h = {**_as(world, "ines"), "Accept-Language": "es-MX,es;q=0.9,en;q=0.5"}
    r = world.client.get("/sharing", headers=h)
    assert r.status_code == 200
    for words in ("Compartir mis datos", "Signos vitales", "Glucosa", "Quién accedió a mis datos",
                  "Revocar el acceso de Dr Ana Rivera", "Dar acceso"):
        assert words in r.text, words
    # every category label and hint offered in English has a Spanish one
    for label, hint in _sharing_page.CATEGORY_LABELS.values():
        assert f">{label}<" not in r.text and hint not in r.text


# -- in a real browser, at phone width ------------------------------------------------------------
@pytest.fixture
def server(world: World) -> Iterator[str]:
    with live_server(world.client.app) as url:
        yield url


def test_grant_and_revoke_in_a_browser_at_phone_width(server: str, world: World) -> None:
    """The form and the Revoke button work from the keyboard at 390 px, the results are
    announced, and the page never scrolls sideways."""
    expect = browser_api().expect
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 390, "height": 844},
                                locale="es-MX", extra_http_headers={
                                    "Accept-Language": "es-MX,es;q=0.9"})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{server}/sharing")
        page.fill("#username", "ines")
        page.fill("#password", PASSWORD)
        page.press("#password", "Enter")
        expect(page).to_have_url(f"{server}/sharing")
        page.wait_for_load_state("load")

        def no_sideways_scroll() -> None:
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"the page is {width} px wide at 390 px"

        no_sideways_scroll()
        # an empty category choice is refused in the page, with focus on the first box
        page.fill("#grantee", "cc.luz")
        page.get_by_role("button", name="Dar acceso").click()
        status = page.locator("#sharing-status")
        expect(status).to_contain_text("Elija al menos un tipo de datos")
        expect(page.locator("#cat-demographics")).to_be_focused()
        # the keyboard: space ticks the focused box
        page.keyboard.press("Space")
        page.get_by_label("Glucosa", exact=True).check()
        page.get_by_role("button", name="Dar acceso").click()
        expect(status).to_contain_text("cc.luz ya puede ver los datos que eligió")
        card = page.locator("li.grant.state-active", has_text="cc.luz")
        expect(card).to_contain_text("Glucosa")
        expect(card).to_contain_text("Datos básicos")
        no_sideways_scroll()
        grants = ConsentBook(world.store).grants(PID)
        new = next(g for g in grants if g.grantee == "cc.luz" and g.revoked_us is None)
        assert new.categories == {Category.DEMOGRAPHICS, Category.CGM}
        # revoke from the keyboard
        button = card.get_by_role("button", name="Revocar el acceso de cc.luz")
        button.focus()
        page.keyboard.press("Enter")
        expect(status).to_contain_text("Se revocó el acceso de cc.luz")
        expect(page.locator("li.grant.state-active", has_text="cc.luz")).to_have_count(0)
        expect(page.locator("#grants-h")).to_be_focused()
        assert ConsentBook(world.store).get(PID, new.pk).state(
            time.time_ns() // 1000) == "revoked"
        expect(page.locator("#accesses")).to_contain_text("Revocó un acceso")
        no_sideways_scroll()
        assert not errors, errors

