"""The dashboard in a real browser: Playwright drives Debian's Chromium against the app serving
the demo cohort (``run_demo``, the same job as ``hyperhealth demo``).

Screenshots of the main pages at desktop and phone width are written to
``$HYPERHEALTH_SCREENSHOTS`` (default ``build/screenshots``); ``tools/screenshots.sh`` writes the
ones the README shows.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from rich.console import Console

from hyperhealth.actions.alerts import AlertBook
from hyperhealth.config import Settings
from hyperhealth.delivery.api import create_app
from hyperhealth.model import Observation
from hyperhealth.model.codes import HEART_RATE
from hyperhealth.store import Store, open_store
from tests.browser import chromium, live_server

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("HYPERHEALTH_SCREENSHOTS") or ROOT / "build" / "screenshots")
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 20_000


class Demo:
    def __init__(self, store: Store, url: str, summary: dict[str, Any]) -> None:
        self.store, self.url = store, url
        self.accounts = {a["username"]: a for a in summary["accounts"]}
        self.patient_id: str = self.accounts["demo.patient"]["person_id"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:

    from hyperhealth.delivery.cli._demo import run_demo

    settings = Settings.load(data_dir=tmp_path_factory.mktemp("demo"), environ={})
    store = open_store(settings)
    summary = run_demo(store, settings, persons=4, days=14, seed=7,
                       console=Console(quiet=True), quiet=True)
    app = create_app(store, audit_checkpoint=settings.data_dir / "audit-head.json")
    app.state.live_interval = 0.5
    with live_server(app) as url:
        yield Demo(store, url, summary)
    store.close()


@pytest.fixture(scope="module")
def browser(demo: Demo) -> Iterator[Any]:
    with chromium() as b:
        yield b


_used_codes: set[tuple[str, str]] = set()


def _code(secret: str) -> str:
    """A one-time code not used before (a code is accepted once; wait for the next step)."""
    totp = pyotp.TOTP(secret)
    while (code := totp.now(), secret) in _used_codes:
        time.sleep(1)
    _used_codes.add((code, secret))
    return code


def sign_in(browser: Any, demo: Demo, username: str, viewport: dict[str, int] = DESKTOP,
            locale: str = "en-US") -> tuple[Any, Any, list[str]]:
    from playwright.sync_api import expect

    ctx = browser.new_context(viewport=viewport, locale=locale)
    ctx.set_default_timeout(TIMEOUT_MS)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and
            not m.text.startswith("Failed to load resource") else None)
    # failed requests, except the answers the pages expect: the sign-in redirect's 401 and
    # "no genotype on file" (404 from the PGx API), which the PGx card shows as such
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and "/login" not in r.url
            and not (r.status == 404 and r.url.endswith("/pgx")) else None)
    page.goto(demo.url + "/")
    expect(page).to_have_url(re.compile(r"/login"))
    account = demo.accounts[username]
    page.fill("#username", username)
    page.fill("#password", account["password"])
    if account.get("totp_secret"):
        page.fill("#totp", _code(account["totp_secret"]))
    page.locator("form.login button[type=submit]").click()
    expect(page).not_to_have_url(re.compile(r"/login"))
    page.wait_for_load_state("load")
    return ctx, page, errors


def shoot(page: Any, name: str, section: str | None = None) -> None:
    """The visible part of the page, or one section of it."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = str(SHOTS / f"{name}.png")
    if section:
        page.locator(section).screenshot(path=path)
    else:
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=path)


def charts_drawn(page: Any, selector: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator(f"{selector} .main-svg").first).to_be_visible()
    # plotly drew data: at least one trace path with points
    expect(page.locator(f"{selector} .scatterlayer .trace").first).to_be_attached()


def test_patient_sees_their_dashboard(browser: Any, demo: Demo) -> None:
    from playwright.sync_api import expect

    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        ctx, page, errors = sign_in(browser, demo, "demo.patient", viewport)
        try:
            expect(page).to_have_url(f"{demo.url}/persons/{demo.patient_id}")
            expect(page.get_by_role("heading", level=1)).to_have_text("My health")
            cards = page.locator("#glance-cards .card")
            expect(cards.first).to_be_visible()
            assert cards.count() >= 4
            expect(page.locator("#glance-cards")).to_contain_text("Time in range")
            charts_drawn(page, "#trends-chart")
            charts_drawn(page, "#chart")
            expect(page.locator("#risk-card")).to_be_visible()
            expect(page.locator("#pgx-card")).to_contain_text("CYP2C19")
            # the patient's own page has no staff-only prescription check
            expect(page.locator("#pgx-card form")).to_have_count(0)
            shoot(page, f"patient-summary-{label}")
            assert not errors, errors
        finally:
            ctx.close()


def test_clinician_triage_timeline_and_acknowledge(browser: Any, demo: Demo) -> None:
    from playwright.sync_api import expect

    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        ctx, page, errors = sign_in(browser, demo, "dr.demo", viewport)
        try:
            expect(page).to_have_url(f"{demo.url}/clinic")
            rows = page.locator("#triage tbody tr[data-person-id]")
            expect(rows).to_have_count(4)
            # the panel's order is the API's triage order
            api = page.request.get(f"{demo.url}/api/triage").json()
            shown = [rows.nth(i).get_attribute("data-person-id") for i in range(4)]
            assert shown == [r["person_id"] for r in api][:4]
            shoot(page, f"clinician-triage-{label}")
            if label == "phone":
                continue
            # open the patient at the top of the list: the timeline of every stream
            rows.first.locator("a").first.click()
            expect(page).to_have_url(re.compile(r"/persons/"))
            page.wait_for_load_state("load")
            charts_drawn(page, "#chart")
            shoot(page, "patient-timeline-desktop", "#timeline")
            assert not errors, errors
        finally:
            ctx.close()
    ctx, page, errors = sign_in(browser, demo, "dr.demo", PHONE)
    try:
        page.goto(f"{demo.url}/persons/{demo.patient_id}")
        charts_drawn(page, "#chart")
        shoot(page, "patient-timeline-phone", "#timeline")
    finally:
        ctx.close()


def test_clinician_acknowledges_an_alert(browser: Any, demo: Demo) -> None:
    from playwright.sync_api import expect

    book = AlertBook(demo.store)
    open_alert = next(a for a in book.find(demo.patient_id) if a.status == "open")
    ctx, page, errors = sign_in(browser, demo, "dr.demo")
    try:
        page.goto(f"{demo.url}/persons/{demo.patient_id}")
        page.wait_for_load_state("load")
        item = page.locator(f'li[data-alert-id="{open_alert.id}"]')
        item.get_by_role("button", name="Acknowledge").click()
        expect(item.locator(".alert-state")).to_have_text("acknowledged by dr.demo")
        a = book.get(open_alert.id)
        assert (a.status, a.acknowledged_by) == ("acknowledged", "dr.demo")
        # a note goes into the alert's history
        item.get_by_role("button", name="Add a note").click()
        item.locator("textarea").fill("Called the patient; sensor re-applied.")
        item.get_by_role("button", name="Save note").click()
        expect(page.locator("#alert-status")).to_have_text("Note saved.")
        # the live stream (polled every 0.5 s here) brings back this page's own changes; they are
        # not announced again over what the page said (the acknowledgement once replaced this)
        page.wait_for_timeout(2000)
        expect(page.locator("#alert-status")).to_have_text("Note saved.")
        assert any("sensor re-applied" in str(e) for e in book.history(open_alert.id))
        assert not errors, errors
    finally:
        ctx.close()


def test_new_readings_and_alerts_appear_live(browser: Any, demo: Demo) -> None:
    from playwright.sync_api import expect

    ctx, page, errors = sign_in(browser, demo, "dr.demo")
    try:
        page.goto(f"{demo.url}/persons/{demo.patient_id}")
        page.wait_for_load_state("load")
        expect(page.locator("#live-status")).to_contain_text("Live")
        last = max(s.last for s in demo.store.streams(demo.patient_id))
        with demo.store.transaction() as w:
            w.add_observations([Observation(demo.patient_id, HEART_RATE,
                                            last.replace(second=0, microsecond=0)
                                            + _minutes(1), 187.0, "/min")])
        expect(page.locator("#live-status")).to_contain_text("187")
        assert not errors, errors
    finally:
        ctx.close()


def _minutes(n: int) -> Any:
    from datetime import timedelta

    return timedelta(minutes=n)


def test_language_switch(browser: Any, demo: Demo) -> None:
    from playwright.sync_api import expect

    ctx, page, errors = sign_in(browser, demo, "demo.patient")
    try:
        page.select_option("#lang-select", "es")
        page.locator("form.lang button").click()
        page.wait_for_load_state("load")
        expect(page.locator("html")).to_have_attribute("lang", "es")
        expect(page.get_by_role("heading", level=1)).to_have_text("Mi salud")
        expect(page.locator("#glance-heading")).not_to_have_text("At a glance")
        expect(page.locator("#glance-cards .card").first).to_be_visible()
        shoot(page, "patient-summary-es-desktop")
        assert not errors, errors
    finally:
        ctx.close()
    # the choice is kept with the account: a new sign-in (English browser) stays in Spanish
    ctx, page, _ = sign_in(browser, demo, "demo.patient", locale="en-US")
    try:
        expect(page.locator("html")).to_have_attribute("lang", "es")
        page.select_option("#lang-select", "en")  # and back
        page.locator("form.lang button").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
    finally:
        ctx.close()


def test_revoking_a_clinicians_access_takes_it_away(browser: Any, demo: Demo) -> None:
    """Runs last in this module: it removes the care team's access to the demo patient."""
    from playwright.sync_api import expect

    staff, clinician, _ = sign_in(browser, demo, "dr.demo")
    ctx, patient, errors = sign_in(browser, demo, "demo.patient")
    try:
        clinician.goto(f"{demo.url}/persons/{demo.patient_id}")
        expect(clinician.get_by_role("heading", level=1)).to_contain_text(demo.patient_id)
        patient.goto(f"{demo.url}/sharing")
        grant = patient.locator("li.grant", has_text="demo-care")
        expect(grant).to_have_count(1)
        grant.get_by_role("button", name=re.compile("Revoke")).click()
        expect(patient.locator("[role=status]").first).to_contain_text(re.compile("[Rr]evoked"))
        # the clinician's next request is refused, and the patient leaves the triage list
        clinician.reload()
        expect(clinician.locator("h1")).to_contain_text(re.compile("[Nn]o access|[Aa]ccess"))
        clinician.goto(f"{demo.url}/clinic")
        rows = clinician.locator("#triage tbody tr[data-person-id]")
        expect(rows).to_have_count(3)
        gone = clinician.locator(f'#triage tr[data-person-id="{demo.patient_id}"]')
        expect(gone).to_have_count(0)
        assert not errors, errors
    finally:
        ctx.close()
        staff.close()
