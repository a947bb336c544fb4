"""The web pages: persons list, one person's page, our static files and the plotly bundle."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hyperhealth.delivery.web import plotly_js_path
from hyperhealth.model import Condition, Observation, Person
from hyperhealth.store import Store
from tests.signin import signed_in

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "hyperhealth" / "delivery" / "web" / "static"
T0 = datetime(2024, 5, 1, tzinfo=UTC)
SNEAKY = "p-<b>x</b>"


@pytest.fixture
def client(sqlite_store: Store) -> Iterator[TestClient]:
    with sqlite_store.transaction() as w:
        w.upsert_person(Person("p-carol", sex_at_birth="female", tz="America/Chicago"))
        w.upsert_person(Person(SNEAKY))
        w.add_observations([Observation("p-carol", "8867-4", T0 + timedelta(minutes=i),
                                        60.0 + i % 20, "/min") for i in range(600)])
        w.add_observations([Observation("p-carol", "99504-3", T0 + timedelta(minutes=5 * i),
                                        100.0 + i % 50, "mg/dL") for i in range(100)])
        w.add_conditions([Condition("p-carol", "44054006", "Diabetes mellitus type 2",
                                    onset=T0 - timedelta(days=400))])
    with signed_in(sqlite_store, client_kw={"raise_server_exceptions": False}) as c:
        yield c


class Page(HTMLParser):
    """Collects headings, links, scripts, labelled controls and ids from a page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag]


def test_home_sends_each_role_to_its_start_page(client: TestClient) -> None:
    r = client.get("/", follow_redirects=False)  # the test client signs in as a clinician
    assert r.status_code == 303 and r.headers["location"] == "/clinic"
    assert client.get("/clinic").status_code == 200


def test_index_lists_persons_with_links(client: TestClient) -> None:
    r = client.get("/persons")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = Page(r.text)
    assert page.all("html") == [{"lang": "en"}]
    assert len(page.all("h1")) == 1
    hrefs = {a["href"] for a in page.all("a")}
    assert "/persons/p-carol" in hrefs
    assert any(m.get("name") == "viewport" for m in page.all("meta"))


def test_pages_escape_what_they_show(client: TestClient) -> None:
    text = client.get("/persons").text
    assert "<b>x</b>" not in text and "p-&lt;b&gt;x&lt;/b&gt;" in text


def test_person_page(client: TestClient) -> None:
    r = client.get("/persons/p-carol")
    assert r.status_code == 200
    page = Page(r.text)
    body = " ".join(page.text)
    assert "p-carol" in body
    assert "Diabetes mellitus type 2" in body
    assert "Heart rate" in body and "Glucose [Mass/volume] in Interstitial fluid" in body
    assert "600" in body  # readings per stream in the table
    scripts = [s["src"] for s in page.all("script") if s.get("src")]
    assert {"/static/vendor/plotly.min.js", "/static/timeline.js", "/static/alerts.js",
            "/static/glance.js", "/static/trends.js", "/static/live.js"} <= set(scripts)
    for src in scripts:  # every script the page names is served
        assert client.get(src).status_code == 200, src
    (chart,) = [d for d in page.all("div") if d.get("id") == "chart"]
    assert chart["data-person-id"] == "p-carol" and chart["aria-label"]
    # every form control has a label
    labels = {lab["for"] for lab in page.all("label")}
    assert {c["id"] for c in page.all("select")} <= labels
    # the chart's data source answers for this person
    assert client.get("/api/persons/p-carol/streams").status_code == 200


def test_unknown_person_page_is_refused_as_html(client: TestClient) -> None:
    """No consent can name an unknown id: the page says so the way it does for a person who
    has not granted access, so ids cannot be probed."""
    r = client.get("/persons/p-nobody")
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
    assert "no access" in r.text and 'href="/"' in r.text


def test_plotly_bundle_is_served_from_the_installed_package(client: TestClient) -> None:
    r = client.get("/static/vendor/plotly.min.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert len(r.content) > 1_000_000
    src = plotly_js_path()
    assert hashlib.sha256(r.content).digest() == hashlib.sha256(src.read_bytes()).digest()
    assert "site-packages" in src.parts  # read from the installed package, never copied
    assert not list((ROOT / "hyperhealth").rglob("plotly*.js"))


def test_own_static_files(client: TestClient) -> None:
    css = client.get("/static/app.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    js = client.get("/static/timeline.js")
    assert js.status_code == 200 and "/observations" in js.text
    assert client.get("/static/nothing.js").status_code == 404


@pytest.mark.parametrize("script", sorted(p.name for p in STATIC.glob("*.js")))
def test_scripts_parse(script: str) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip(f"node is not installed; cannot syntax-check {script}")
    out = subprocess.run([node, "--check", str(STATIC / script)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_settings_keep_units_and_language_with_the_account(client: TestClient) -> None:
    r = client.post("/settings", data={"language": "es", "glucose_unit": "mmol/L",
                                       "weight_unit": "lb"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/settings?saved=true"
    me = client.get("/api/me").json()["preferences"]
    assert me == {"language": "es", "glucose_unit": "mmol/L", "weight_unit": "lb"}
    page = Page(client.get("/persons/p-carol").text)
    assert page.all("html") == [{"lang": "es"}]
    (root,) = [d for d in page.all("div") if d.get("id") == "person"]
    assert (root["data-glucose-unit"], root["data-weight-unit"]) == ("mmol/L", "lb")
    # the summary the page loads converts to the chosen unit
    g = client.get("/api/persons/p-carol/summary").json()
    assert g["units"]["glucose"] == "mmol/L"
    bad = client.post("/settings", data={"language": "es", "glucose_unit": "mg/L"})
    assert bad.status_code == 422 and "glucose_unit" in bad.json()["where"]
    assert client.get("/api/me").json()["preferences"]["glucose_unit"] == "mmol/L"


def test_language_switch_before_sign_in_uses_a_cookie(client: TestClient) -> None:
    r = client.post("/language", data={"lang": "es", "next": "/login"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert r.cookies.get("hh_lang") == "es"
    assert client.post("/language", data={"lang": "xx"}).status_code == 422
    # never a redirect off the site
    r = client.post("/language", data={"lang": "en", "next": "https://evil.example/"},
                    follow_redirects=False)
    assert r.headers["location"] == "/"
