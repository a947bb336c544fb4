"""The person page shows the person's alerts, and its buttons act on them through the API."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hyperhealth.actions.alerts import AlertBook
from hyperhealth.actions.levels import Level
from hyperhealth.delivery.api._alerts import router
from hyperhealth.security._identity import Identity
from hyperhealth.store import Store
from tests import signin
from tests.browser import chromium, live_server
from tests.browser import sync_api as browser_api
from tests.delivery.alert_rows import add_person, raise_alert
from tests.delivery.test_web import Page
from tests.signin import SignedIn

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "hyperhealth" / "delivery" / "web" / "static"
PID = "p-wendy"


def app_for(store: Store) -> FastAPI:
    app = signin.app_for(store)
    app.include_router(router)  # as the lead wires it in _app.py
    return app


@pytest.fixture
def alerts(sqlite_store: Store) -> dict[str, int]:
    s = sqlite_store
    add_person(s, PID)
    ids = {
        "warn": raise_alert(s, PID, level=Level.WARN, rule="blood_pressure", key="stage2",
                            minutes=50, title="Blood pressure high on average",
                            explanation="The average of 7 readings is in the stage 2 range.",
                            evidence={"mean_systolic_mm_hg": 142.31, "mean_diastolic_mm_hg": 91.0,
                                      "readings": 7, "since": "2024-04-24T08:00:00+00:00"},
                            citation="Whelton PK et al. 2017 ACC/AHA guideline, "
                                     "doi:10.1161/HYP.0000000000000065"),
        "urgent": raise_alert(s, PID, title="Low blood <b>oxygen</b>",
                              evidence={"lowest_pct": 85.0, "threshold_pct": 88,
                                        **{f"extra_{i}": i for i in range(9)}}),
        "old": raise_alert(s, PID, level=Level.INFO, rule="sleep_deficit", key="",
                           title="Short sleep this week", minutes=5),
    }
    book = AlertBook(s)
    book.acknowledge(ids["warn"], "dr-x")
    book.resolve(ids["old"], "dr-x")
    return ids


@pytest.fixture
def client(sqlite_store: Store) -> Iterator[TestClient]:
    with SignedIn(app_for(sqlite_store), raise_server_exceptions=False) as c:
        yield c


def items(page: Page) -> list[dict[str, str | None]]:
    return [li for li in page.all("li") if li.get("data-alert-id")]


def test_person_page_shows_alerts(client: TestClient, alerts: dict[str, int]) -> None:
    r = client.get(f"/persons/{PID}")
    assert r.status_code == 200
    page = Page(r.text)
    text = " ".join(" ".join(page.text).split())
    # active alerts, urgent first; the resolved one only under "Recently closed"
    shown = items(page)
    assert [li["data-alert-id"] for li in shown] == [str(alerts["urgent"]), str(alerts["warn"])]
    assert [li["data-status"] for li in shown] == ["open", "acknowledged"]
    assert "alert level-urgent" in (shown[0]["class"] or "")
    assert "Urgent Low blood <b>oxygen</b>" in text  # the title, escaped
    assert "Low blood &lt;b&gt;oxygen&lt;/b&gt;" in r.text and "<b>oxygen" not in r.text
    assert "SpO2 stayed below the threshold for 10 minutes." in text
    assert "Lowest 85% Threshold 88%" in text  # evidence with units
    assert "3 more evidence items" in text  # 11 items, 8 shown
    assert "Mean systolic 142.31 mmHg Mean diastolic 91 mmHg Readings 7" in text
    assert "Since 2024-04-24 08:00 UTC" in text
    assert "Source: Whelton PK et al. 2017 ACC/AHA guideline" in text
    assert "acknowledged by dr-x" in text
    assert "Recently closed" in text and "Short sleep this week" in text
    assert "do not replace" in text
    # buttons: acknowledge only on the open alert, resolve on both
    actions = [b["data-action"] for b in page.all("button") if "data-action" in b]
    assert actions == ["acknowledge", "resolve", "annotate", "resolve", "annotate"]
    # actions are recorded under the signed-in user, and the page uses only our own scripts
    assert f"recorded under your name ({signin.CLINICIAN})" in r.text
    assert "/static/alerts.js" in [s.get("src") for s in page.all("script")]
    assert all((s["src"] or "").startswith("/static/") for s in page.all("script") if s.get("src"))


def test_page_without_alerts_says_so(client: TestClient, sqlite_store: Store) -> None:
    add_person(sqlite_store, "p-quiet")
    r = client.get("/persons/p-quiet")
    assert r.status_code == 200 and "No open alerts." in r.text
    assert 'id="alert-actor"' not in r.text


def test_what_the_buttons_call_answers(client: TestClient, alerts: dict[str, int]) -> None:
    js = client.get("/static/alerts.js")
    assert js.status_code == 200 and '"/api/alerts/"' in js.text
    page = Page(client.get(f"/persons/{PID}").text)
    for li in items(page):
        r = client.post(f"/api/alerts/{li['data-alert-id']}/resolve", json={"by": "dr-y"})
        assert r.status_code == 200 and r.json()["status"] == "resolved"
    assert items(Page(client.get(f"/persons/{PID}").text)) == []


def test_alerts_script_parses() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed; cannot syntax-check alerts.js")
    out = subprocess.run([node, "--check", str(STATIC / "alerts.js")], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr


# -- in a real browser ---------------------------------------------------------------------------
@pytest.fixture
def server(sqlite_store: Store) -> Iterator[str]:
    with live_server(app_for(sqlite_store)) as url:
        yield url


def test_buttons_in_a_browser(server: str, sqlite_store: Store, alerts: dict[str, int]) -> None:
    sync_api = browser_api()
    book = AlertBook(sqlite_store)
    with chromium() as browser:
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        # signed out, the page sends the browser to the sign-in form and back
        page.goto(f"{server}/persons/{PID}")
        sync_api.expect(page).to_have_url(f"{server}/login?next=/persons/{PID}")
        signin.ensure_accounts(sqlite_store)
        signin.grant_everyone(sqlite_store)
        secret = Identity(sqlite_store).totp_secret(signin.CLINICIAN)
        page.fill("#username", signin.CLINICIAN)
        page.fill("#password", signin.PASSWORD)
        page.fill("#totp", pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Sign in").click()
        sync_api.expect(page).to_have_url(f"{server}/persons/{PID}")
        page.wait_for_load_state("load")  # the deferred scripts have attached their handlers
        urgent = page.locator(f'li[data-alert-id="{alerts["urgent"]}"]')
        urgent.get_by_role("button", name="Acknowledge").click()
        sync_api.expect(urgent.locator(".alert-state")).to_have_text(
            f"acknowledged by {signin.CLINICIAN}")
        sync_api.expect(urgent.get_by_role("button", name="Acknowledge")).to_have_count(0)
        a = book.get(alerts["urgent"])
        assert (a.status, a.acknowledged_by) == ("acknowledged", signin.CLINICIAN)
        # resolve the other one; its buttons go away
        warn = page.locator(f'li[data-alert-id="{alerts["warn"]}"]')
        warn.get_by_role("button", name="Resolve").click()
        sync_api.expect(warn.locator("button")).to_have_count(0)
        sync_api.expect(warn.locator(".alert-state")).to_contain_text("resolved")
        assert book.get(alerts["warn"]).status == "resolved"
        assert [e["actor"] for e in book.history(alerts["warn"])][-1] == signin.CLINICIAN
        assert errors == []

