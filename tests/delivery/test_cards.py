"""The risk and pharmacogenomics cards of the person page, in Debian's Chromium.

The lead wires the cards into ``person.html``; until then the tests serve them from a test-only
page inside the real app (real store, real sign-in form, real JSON API) and check that what the
browser shows matches what the API answers for the same person.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from hyperhealth.delivery.api._guard import AccessDep, Rule, rule
from hyperhealth.delivery.web import _i18n
from hyperhealth.delivery.web._render import environment
from hyperhealth.ingest import IngestOptions, ingest_paths
from hyperhealth.insights.pgx._person import clear_cache
from hyperhealth.model import Person
from hyperhealth.security._consent import ConsentBook
from hyperhealth.security._identity import Identity
from hyperhealth.security._model import ALL_CATEGORIES, Actor, Category, Role
from hyperhealth.store import Store
from hyperhealth.synth._pgx_genotype import write_diplotype_vcf
from tests import signin
from tests.browser import chromium, live_server
from tests.browser import sync_api as browser_api
from tests.delivery.test_web import Page
from tests.insights.risk.risk_records import PID, fill

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "hyperhealth" / "delivery" / "web" / "static"
BARE = "p-bare"  # a person with no records: nothing to compute, no genotype
LIMITED = "test.nogenes"  # a clinician the patient shared everything with except genomics
COORDINATOR = "test.coordinator"  # a care coordinator in the care team: no prescribing

# the smallest page that holds the partials, as person.html will; only our own scripts
SKELETON = """<!doctype html>
<html lang="{{ current_language() }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>cards</title>
<link rel="stylesheet" href="/static/app.css"><link rel="stylesheet" href="/static/cards.css">
{% if i18n %}<script id="hh-messages" type="application/json">{{ hh_js_messages()|tojson }}</script>
<script src="/static/i18n.js"></script>{% endif %}
<script src="/static/dom.js" defer></script>
<script src="/static/risk.js" defer></script><script src="/static/pgx.js" defer></script>
</head><body><main id="main"><h1>Person {{ person.id }}</h1>
{% include "_risk_card.html" %}
{% include "_pgx_card.html" %}
</main></body></html>"""


def harness(store: Store) -> FastAPI:
    """The real app plus ``/test-cards/{person_id}``, which renders the two partials."""
    app = signin.app_for(store)
    page = environment().from_string(SKELETON)
    i18n = (STATIC / "i18n.js").is_file()  # the page's translation helper, once it is there

    @app.get("/test-cards/{person_id}", response_class=HTMLResponse, include_in_schema=False)
    @rule(Rule("person"))
    def cards(request: Request, person_id: str, access: AccessDep,
              lang: str = "en") -> HTMLResponse:
        _i18n.activate(lang)
        try:
            return HTMLResponse(page.render(person=store.person(person_id),
                                            can_prescribe=access.user.role is Role.CLINICIAN,
                                            i18n=i18n))
        finally:
            _i18n.activate("en")

    return app


@pytest.fixture
def world(sqlite_store: Store, tmp_path: Path) -> Store:
    """p-risk (tests/insights/risk/risk_records.py) with a CYP2C19 *2/*2, SLCO1B1 *5/*5 VCF;
    p-bare with nothing; a clinician without genomics access; a care coordinator."""
    s = sqlite_store
    clear_cache()
    fill(s)
    with s.transaction() as w:
        w.upsert_person(Person(BARE))
    vcf = write_diplotype_vcf(tmp_path / "pm.vcf.gz", {"CYP2C19": ("*2", "*2"),
                                                        "SLCO1B1": ("*5", "*5")}, sample="PM1")
    reports = ingest_paths(s, [vcf], IngestOptions(person=PID))
    assert all(r.ok for r in reports), [r.to_dict() for r in reports]
    signin.ensure_accounts(s)
    signin.grant_everyone(s)
    identity = Identity(s)
    identity.create_user(LIMITED, Role.CLINICIAN, signin.PASSWORD)
    identity.create_user(COORDINATOR, Role.CARE_COORDINATOR, signin.PASSWORD, teams=[signin.TEAM])
    ConsentBook(s).grant(PID, LIMITED, sorted(ALL_CATEGORIES - {Category.GENOMICS}),
                         by=Actor(username=signin.ADMIN, role=Role.ADMIN))
    return s


# -- without a browser -----------------------------------------------------------------------------
def render(**ctx: Any) -> Page:
    return Page(environment().from_string(
        '{% include "_risk_card.html" %}{% include "_pgx_card.html" %}').render(**ctx))


def test_partials_carry_what_the_scripts_need() -> None:
    page = render(person=Person("p-<x>"), can_prescribe=True)
    sections = {s["id"]: s for s in page.all("section")}
    assert sections["risk-card"]["data-person-id"] == "p-<x>"  # escaped in the HTML, intact here
    assert sections["pgx-card"]["data-can-prescribe"] == "true"
    assert [s.get("aria-labelledby") for s in sections.values()] == ["risk-heading",
                                                                       "pgx-heading"]
    assert {p.get("id") for p in page.all("p") if p.get("aria-live") == "polite"} == {
        "risk-status", "pgx-status"}
    assert [a["for"] for a in page.all("label")] == ["rx-drug"]
    assert "Check a proposed prescription" in "".join(page.text)
    assert "support a clinician's judgement; they do not replace it" in "".join(page.text)
    for ctx in ({"can_prescribe": False}, {}):  # not a clinician, or the page did not say
        other = render(person=Person("p-1"), **ctx)
        sections = {s["id"]: s for s in other.all("section")}
        assert sections["pgx-card"]["data-can-prescribe"] == "false"
        assert other.all("form") == [] and other.all("label") == []


def test_scripts_parse() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed; cannot syntax-check the card scripts")
    for name in ("risk.js", "pgx.js"):
        out = subprocess.run([node, "--check", str(STATIC / name)], capture_output=True,
                             text=True)
        assert out.returncode == 0, (name, out.stderr)


def test_scripts_only_write_text() -> None:
    """API data reaches the page as text nodes: no innerHTML/insertAdjacentHTML/eval."""
    for name in ("risk.js", "pgx.js"):
        js = (STATIC / name).read_text()
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(",
                             js), name
        assert "window.hhT" in js


# -- in a real browser -------------------------------------------------------------------------
@pytest.fixture
def server(world: Store) -> Iterator[str]:
    with live_server(harness(world)) as url:
        yield url


@pytest.fixture
def browser(world: Store) -> Iterator[Any]:
    with chromium() as b:
        yield b


class Session:
    """A signed-in browser context at phone width, collecting script errors."""

    def __init__(self, browser: Any, server: str, store: Store, username: str) -> None:
        sync_api = browser_api()
        self.expect = sync_api.expect
        self.server = server
        self.context = browser.new_context(viewport={"width": 390, "height": 844})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error"
                     and "Failed to load resource" not in m.text else None)
        # back to a script-free address, so that no other page's scripts run in this context
        self.page.goto(f"{server}/login?next=/static/cards.css")
        self.page.fill("#username", username)
        self.page.fill("#password", signin.PASSWORD)
        secret = Identity(store).totp_secret(username)
        if secret:
            self.page.fill("#totp", pyotp.TOTP(secret).now())
        self.page.get_by_role("button", name="Sign in").click()
        self.expect(self.page).to_have_url(f"{server}/static/cards.css")

    def open(self, person: str, lang: str = "en") -> Any:
        self.page.goto(f"{self.server}/test-cards/{person}?lang={lang}")
        for card in ("#risk-card", "#pgx-card"):
            self.expect(self.page.locator(card)).not_to_have_attribute("data-state", "loading")
            self.expect(self.page.locator(card)).not_to_have_attribute("aria-busy", "true")
        return self.page

    def api(self, path: str) -> Any:
        r = self.context.request.get(self.server + path)  # the same session cookie
        assert r.ok, (path, r.status)
        return r.json()

    def fits(self) -> None:
        """Nothing but the tables' own scroll boxes is wider than the 390 px screen."""
        width = self.page.evaluate("document.documentElement.scrollWidth")
        wide = self.page.evaluate("""() => [...document.querySelectorAll('body *')]
            .filter((e) => !e.closest('.scroll') && e.getBoundingClientRect().right > 391)
            .map((e) => e.tagName + '.' + e.className + ' ' + e.textContent.slice(0, 40))""")
        assert width <= 390, (width, wide)


def number(text: str) -> float:
    m = re.search(r"-?\d+(?:\.\d+)?", text.replace(",", ""))
    assert m, text
    return float(m.group())


def test_risk_card_matches_the_api(browser: Any, server: str, world: Store) -> None:
    s = Session(browser, server, world, signin.CLINICIAN)
    page = s.open(PID)
    s.expect(page.locator("#risk-card")).to_have_attribute("data-state", "ready")
    data = s.api(f"/api/persons/{PID}/risk")
    computed = [r for r in data["runs"] if r["status"] == "computed"]
    assert {r["equation"] for r in computed} >= {"pce", "qrisk3", "prevent"}
    card = page.locator("#risk-card")
    assert card.locator("article.risk-eq").count() == len(computed)
    for run in computed:
        art = card.locator(f'article[data-equation="{run["equation"]}"]')
        s.expect(art.locator("h3")).to_have_text(run["name"])
        for e in run["result"]["estimates"]:
            row = art.locator(f'table.estimates tr[data-outcome="{e["outcome"]}"]'
                              f'[data-horizon="{e["horizon_years"] or ""}"]')
            shown = number(row.locator("td.estimate").inner_text())
            want = 100 * e["value"] if e["unit"] == "proportion" else e["value"]
            assert abs(shown - want) <= 0.05 + 1e-9, (run["equation"], e, shown)
            if e["unit"] == "proportion":
                assert row.locator("td.estimate").inner_text().endswith("%")
            assert e["label"] in row.locator("th").inner_text()
            if e["category"]:
                assert row.locator("td").nth(1).inner_text() == e["category"]
        # every scenario the API computed for the headline estimate has a "now vs if" row
        head = run["result"]["estimates"][0]
        scenarios = run["what_if"]["scenarios"]
        if not any(sc["applicable"] for sc in scenarios):  # eGFR: nothing to change
            assert art.locator(".whatif").count() == 0
            continue
        for sc in scenarios:
            match = [x for x in sc["estimates"] if (x["outcome"], x["horizon_years"])
                     == (head["outcome"], head["horizon_years"])]
            if not (sc["applicable"] and match):
                s.expect(art.locator(f'details.wi-other li[data-change="{sc["change"]}"]')
                         ).to_have_count(1)
                continue
            tr = art.locator(f'table.whatif-table tr[data-change="{sc["change"]}"]')
            s.expect(tr).to_have_count(1)
            scale = 100 if head["unit"] == "proportion" else 1
            assert abs(number(tr.locator("td.wi-now").inner_text())
                       - scale * match[0]["now"]) <= 0.05 + 1e-9
            assert abs(number(tr.locator("td.wi-if").inner_text())
                       - scale * match[0]["if"]) <= 0.05 + 1e-9
            assert tr.locator(".wi-bars[aria-hidden=true] .wi-bar").count() == 2
    # the smoker's PCE: stopping smoking lowers the estimate, and the table says by how much
    stop = card.locator('article[data-equation="pce"] tr[data-change="stop_smoking"]')
    assert number(stop.locator("td.wi-diff").inner_text()) < 0
    assert "percentage points" in stop.locator("td.wi-diff").inner_text()

    # QRISK3's licence notice is shown next to every QRISK3 score, and only there
    disclaimer = next(r for r in computed if r["equation"] == "qrisk3")["result"]["disclaimer"]
    assert "ClinRisk" in disclaimer
    for art in card.locator("article.risk-eq").all():
        text = art.inner_text()
        if art.get_attribute("data-equation") == "qrisk3":
            assert art.locator("p.licence").inner_text().endswith(disclaimer)
            assert art.locator("p.licence").is_visible()
        else:
            assert "ClinRisk" not in text
    assert card.inner_text().count("ClinRisk Ltd. have released") == 1

    # inputs (collapsed), limits, citations; equations not computed say why
    q = card.locator('article[data-equation="qrisk3"]')
    inputs = q.locator("details.inputs")
    assert inputs.get_attribute("open") is None
    inputs.locator("summary").click()
    s.expect(inputs.locator("caption")).to_have_text("Inputs used")
    s.expect(inputs.locator('tr[data-input="townsend"] td').nth(1)).to_have_text("assumed")
    s.expect(inputs.locator("summary")).to_contain_text("3 assumed")
    assert "BMJ 2017;357:j2099" in q.locator(".sources").inner_text()
    assert q.locator('.sources a[href="https://doi.org/10.1136/bmj.j2099"]').count() == 1
    s.expect(card.locator('li[data-equation="findrisc"]')).to_contain_text(
        "the person has diabetes")
    s.expect(card).to_contain_text("they do not replace it")
    assert card.inner_text().count(computed[0]["result"]["note"]) == 1  # said once, not 5x
    s.expect(page.locator("#risk-status")).to_contain_text(f"{len(computed)} equations computed")
    # accessible structure: h2 card, h3 per equation, captions and scopes on every table
    assert [h.evaluate("e => e.tagName") for h in card.locator("h2, h3").all()][:2] == [
        "H2", "H3"]
    for table in card.locator("table").all():
        assert table.locator("caption").count() == 1
        assert table.locator("thead th:not([scope=col])").count() == 0
    s.fits()
    assert s.errors == []


def test_risk_card_optional_inputs_not_available(browser: Any, server: str,
                                                 world: Store) -> None:
    """p-risk has an HbA1c but no UACR and no SDI decile: PREVENT uses the HbA1c add-on model,
    the card names it under the equation's name and lists the two optional inputs that were not
    available apart from the required ones, with the API's reasons."""
    s = Session(browser, server, world, signin.CLINICIAN)
    page = s.open(PID)
    card = page.locator("#risk-card")
    s.expect(card).to_have_attribute("data-state", "ready")
    run = next(r for r in s.api(f"/api/persons/{PID}/risk")["runs"]
               if r["equation"] == "prevent")
    optional = run["inputs"]["optional_missing"]
    assert [m["name"] for m in optional] == ["uacr", "sdi_decile"]  # the records' facts
    assert run["inputs"]["missing"] == []
    model = run["result"]["model"]
    assert model == {"id": "hba1c", "label": "base model adding HbA1c",
                     "optional_used": ["hba1c"]}
    assert model["label"] in run["result"]["warnings"][0]  # the same model the equation names

    art = card.locator('article[data-equation="prevent"]')
    line = art.locator("p.risk-model")
    # right under the name, before the estimates, visible without opening anything
    assert art.locator("h3 + p.risk-model").count() == 1
    s.expect(line).to_be_visible()
    s.expect(line).to_have_attribute("data-model", model["id"])
    s.expect(line.locator(".model-name")).to_have_text(model["label"])
    s.expect(line).to_contain_text("urine albumin-to-creatinine ratio (UACR)")
    s.expect(line).to_contain_text("Social Deprivation Index (SDI) decile")

    inputs = art.locator("details.inputs")
    s.expect(inputs.locator("summary")).to_contain_text(
        f"0 missing, 0 assumed, {len(optional)} optional not available")
    inputs.locator("summary").click()
    box = inputs.locator("section.optional-missing")
    s.expect(box).to_be_visible()
    s.expect(box.locator("h4")).to_have_text("Optional, not available")
    assert box.get_attribute("aria-labelledby") == box.locator("h4").get_attribute("id")
    items = box.locator("li")
    s.expect(items).to_have_count(len(optional))
    for item, m in zip(items.all(), optional, strict=True):
        assert item.get_attribute("data-input") == m["name"]
        text = item.inner_text()
        assert m["reason"] in text and f"to add: {m['hint']}" in text, (m, text)
    s.expect(box.locator('li[data-input="uacr"] strong')).to_have_text(
        "urine albumin-to-creatinine ratio (UACR)")
    # not the required list: nothing blocked the calculation, and it does not look as if it did
    assert inputs.locator("ul.missing").count() == 0
    assert box.locator("ul.missing").count() == 0
    assert box.evaluate("e => getComputedStyle(e).borderTopStyle") == "dashed"
    # HbA1c was used: in the inputs table, not in the list
    s.expect(inputs.locator('tr[data-input="hba1c"]')).to_have_count(1)
    assert box.locator('li[data-input="hba1c"]').count() == 0
    # the assembly's note on which optional inputs were used is shown with the inputs
    for note in run["inputs"]["notes"]:
        s.expect(inputs).to_contain_text(note)
    # an equation without optional inputs has neither the model line nor the box
    pce = card.locator('article[data-equation="pce"]')
    assert pce.locator("p.risk-model").count() == 0
    assert pce.locator("section.optional-missing").count() == 0
    s.fits()
    assert s.errors == []


def test_pgx_card_and_prescription_check(browser: Any, server: str, world: Store) -> None:
    s = Session(browser, server, world, signin.CLINICIAN)
    page = s.open(PID)
    pgx = page.locator("#pgx-card")
    s.expect(pgx).to_have_attribute("data-state", "ready")
    data = s.api(f"/api/persons/{PID}/pgx")
    genes = data["phenotypes"]["genes"]
    row = pgx.locator('table.pgx-genes tr[data-gene="CYP2C19"]')
    s.expect(row.locator("td.diplotype")).to_have_text(genes["CYP2C19"]["diplotype"])
    s.expect(row.locator("td.diplotype")).to_have_text("*2/*2")
    s.expect(row.locator("td.phenotype")).to_have_text("Poor Metabolizer")
    s.expect(pgx.locator('table.pgx-genes tr[data-gene="SLCO1B1"] td.diplotype')
             ).to_have_text("*5/*5")
    actionable = [d for d in data["drugs"]
                  if d["action"] in ("avoid", "consider_alternative", "adjust_dose")]
    s.expect(pgx.locator("table.pgx-drugs tbody tr")).to_have_count(len(actionable))
    clop = pgx.locator('table.pgx-drugs tr[data-drug="clopidogrel"]')
    s.expect(clop).to_have_attribute("data-action", "avoid")
    s.expect(clop).to_contain_text("Avoid if another option exists")
    s.expect(clop).to_contain_text("CYP2C19: Poor Metabolizer")
    s.expect(clop).to_contain_text("Strong (CVI ACS PCI)")
    s.expect(clop).to_contain_text("PMID 35034351")
    for gene in data["not_called"]:  # CYP2D6, HLA: not read from a VCF, and said so
        s.expect(pgx.locator(f'.pgx-not-called li[data-gene="{gene}"]')).to_have_count(1)
    s.expect(pgx.locator(".disclaimer")).to_have_text(data["disclaimer"])

    # the prescription check (a clinician): labelled input, answer in a live region
    form = page.locator("#rx-check")
    s.expect(form).to_be_visible()
    drug = page.get_by_label("Medicine name or RxNorm ingredient code")
    result = page.locator("#rx-result")
    assert result.get_attribute("aria-live") == "polite"
    drug.fill("clopidogrel")
    page.get_by_role("button", name="Check").click()
    s.expect(result).to_have_attribute("data-state", "done")
    s.expect(result.locator(".rx-verdict")).to_have_attribute("data-action", "avoid")
    s.expect(result).to_contain_text("Avoid if another option exists")
    s.expect(result).to_contain_text("The guideline advises avoiding clopidogrel")
    s.expect(result).to_contain_text("CYP2C19: Poor Metabolizer")
    s.expect(result).to_contain_text("PMID 35034351")
    s.expect(result).to_contain_text("does not replace a clinician")
    # an RxNorm code, and then a medicine no guideline covers
    drug.fill("36567")
    drug.press("Enter")
    s.expect(result.locator(".rx-verdict")).to_have_attribute("data-action",
                                                              "consider_alternative")
    s.expect(result).to_contain_text("simvastatin")
    s.expect(result).to_contain_text("SLCO1B1: Poor Function")
    drug.fill("paracetamol")
    drug.press("Enter")
    s.expect(result).to_have_attribute("data-state", "error")
    s.expect(result).to_contain_text("Could not check paracetamol")
    s.fits()
    assert s.errors == []


def test_person_without_records_or_genotype(browser: Any, server: str, world: Store) -> None:
    s = Session(browser, server, world, signin.CLINICIAN)
    page = s.open(BARE)
    s.expect(page.locator("#pgx-card")).to_have_attribute("data-state", "none")
    s.expect(page.locator("#pgx-body")).to_contain_text("No genotype on file")
    risk = page.locator("#risk-card")
    s.expect(risk).to_have_attribute("data-state", "ready")
    assert risk.locator("article.risk-eq").count() == 0
    pce = risk.locator('li[data-equation="pce"]')
    s.expect(pce).to_have_attribute("data-status", "incomplete")
    s.expect(pce.locator('li[data-input="age"]')).to_contain_text(
        "to add: record the person's birth date")
    s.expect(page.locator("#risk-status")).to_contain_text("0 equations computed")
    # the check still answers, and says there is no genotype to check against
    page.get_by_label("Medicine name or RxNorm ingredient code").fill("clopidogrel")
    page.get_by_role("button", name="Check").click()
    s.expect(page.locator("#rx-result")).to_contain_text("no genotype on file")
    s.expect(page.locator("#rx-result .rx-verdict")).to_have_attribute("data-action", "no_data")
    assert s.errors == []


def test_not_shared_and_no_prescribing(browser: Any, server: str, world: Store) -> None:
    # a clinician without the genomics category: the card says so; the risk card still works
    s = Session(browser, server, world, LIMITED)
    page = s.open(PID)
    s.expect(page.locator("#pgx-card")).to_have_attribute("data-state", "not-shared")
    s.expect(page.locator("#pgx-status")).to_have_text(
        "Pharmacogenomic results for this person are not shared with you.")
    assert page.locator("#pgx-body").inner_text() == ""
    s.expect(page.locator("#rx-check")).to_be_hidden()
    s.expect(page.locator("#risk-card")).to_have_attribute("data-state", "ready")
    assert page.locator("#risk-card article.risk-eq").count() >= 1
    assert s.context.request.get(f"{server}/api/persons/{PID}/pgx").status == 403
    assert s.errors == []
    s.context.close()
    # a care coordinator sees the results but gets no prescription form
    c = Session(browser, server, world, COORDINATOR)
    page = c.open(PID)
    s.expect(page.locator("#pgx-card")).to_have_attribute("data-state", "ready")
    s.expect(page.locator("#pgx-card")).to_have_attribute("data-can-prescribe", "false")
    assert page.locator("#rx-check").count() == 0 and page.locator("form").count() == 0
    assert c.errors == []


def test_cards_in_spanish(browser: Any, server: str, world: Store) -> None:
    """The scripts' strings come from the page's embedded catalog (static/i18n.js)."""
    if not (STATIC / "i18n.js").is_file():
        pytest.skip("static/i18n.js is not there yet")
    s = Session(browser, server, world, signin.CLINICIAN)
    page = s.open(PID, lang="es")
    risk = page.locator("#risk-card")
    s.expect(risk).to_have_attribute("data-state", "ready")
    s.expect(page.locator("#risk-status")).to_contain_text("ecuaciones calculadas")
    pce = risk.locator('article[data-equation="pce"]')
    s.expect(pce.locator("table.estimates caption")).to_have_text("Estimaciones")
    prevent = risk.locator('article[data-equation="prevent"]')
    s.expect(prevent.locator("p.risk-model strong")).to_have_text("Modelo utilizado:")
    s.expect(prevent.locator("p.risk-model .model-name")).to_have_text("modelo base con HbA1c")
    prevent.locator("details.inputs summary").click()
    s.expect(prevent.locator("section.optional-missing h4")).to_have_text(
        "Opcionales, no disponibles")
    s.expect(prevent.locator('section.optional-missing li[data-input="uacr"] strong')
             ).to_have_text("cociente albúmina/creatinina en orina (UACR)")
    want = next(r for r in s.api(f"/api/persons/{PID}/risk")["runs"]
                if r["equation"] == "pce")["result"]["estimates"][0]["value"]
    shown = pce.locator("td.estimate").inner_text()
    assert abs(number(shown) - 100 * want) <= 0.05 + 1e-9, shown
    s.expect(page.locator("#rx-heading")).to_have_text("Verificar una prescripción propuesta")
    page.locator("#rx-drug").fill("clopidogrel")
    page.locator("#rx-form button").click()
    s.expect(page.locator("#rx-result .rx-verdict")).to_contain_text("Evitar si hay otra opción")
    assert s.errors == []
