"""English and Spanish: the catalog covers every string of the pages, the language is chosen
as the issue asks (the user's choice first), and pages come out in it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po
from fastapi.testclient import TestClient
from starlette.requests import Request

from hyperhealth.delivery.web import _i18n
from hyperhealth.model import Person
from hyperhealth.security._identity import Identity
from hyperhealth.security._model import Role
from hyperhealth.store import Store
from tests.signin import PASSWORD, app_for, login


# -- the catalog ----------------------------------------------------------------------------------
def test_spanish_catalog_covers_every_string() -> None:
    """Extracts the templates, static JS and Python afresh: a new untranslated, fuzzy or
    placeholder-changing string fails here (fix: tools/i18n.py update, translate, check)."""
    template = _i18n.extract_messages()
    assert len(template) > 50  # the extraction found the pages' strings at all
    problems = _i18n.problems("es", template)
    assert not problems, "\n".join(problems[:40])


def test_extraction_sees_every_kind_of_source() -> None:
    where = {loc[0].rsplit(".", 1)[-1] for m in _i18n.extract_messages() for loc in m.locations}
    assert {"html", "js", "py"} <= where
    ids = {m.id for m in _i18n.extract_messages()}
    assert "Sign in" in ids  # a template {{ _() }}
    assert "There is no person with the id <code>%(id)s</code> in this store." in ids  # trans
    assert "Access was not given: %(reason)s" in ids  # hhT in static JS
    assert "Vital signs" in ids  # N_ in Python


def _catalog_dir(tmp_path: Path, entries: list[tuple[str, str, bool]]) -> Path:
    cat = Catalog(locale="es", domain="messages")
    for msgid, msgstr, fuzzy in entries:
        cat.add(msgid, msgstr, flags=["fuzzy"] if fuzzy else [])
    path = tmp_path / "es" / "LC_MESSAGES" / "messages.po"
    path.parent.mkdir(parents=True)
    with path.open("wb") as f:
        write_po(f, cat)
    return tmp_path


@pytest.fixture
def scratch_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setattr(_i18n, "LOCALE_DIR", tmp_path)
    _i18n.translations.cache_clear()
    yield tmp_path
    _i18n.translations.cache_clear()  # the real catalog again for the next test


def test_the_check_finds_what_is_wrong(scratch_catalog: Path) -> None:
    _catalog_dir(scratch_catalog, [
        ("Hello %(name)s", "Hola %(nombre)s", False),  # placeholder renamed
        ("Good night", "Buenas noches", True),  # fuzzy
        ("Empty", "", False),
        ("Fine %(n)s", "Bien %(n)s", False),
    ])
    template = Catalog()
    for msgid in ("Hello %(name)s", "Good night", "Empty", "Fine %(n)s", "Missing"):
        template.add(msgid, locations=[("x.html", 1)])
    found = _i18n.problems("es", template)
    assert len(found) == 4
    joined = "\n".join(found)
    assert "placeholders differ in 'Hello %(name)s'" in joined
    assert "fuzzy" in joined and "'Good night'" in joined
    assert "untranslated: 'Empty'" in joined and "untranslated: 'Missing'" in joined
    assert "Fine" not in joined


def test_fuzzy_entries_are_not_used(scratch_catalog: Path) -> None:
    _catalog_dir(scratch_catalog, [("Good night", "Buenas noches", True),
                                   ("Good day", "Buen día", False)])
    token = _i18n.activate("es")
    try:
        assert _i18n.gettext("Good day") == "Buen día"
        assert _i18n.gettext("Good night") == "Good night"
    finally:
        _i18n._LANG.reset(token)


def test_placeholders_survive_translation() -> None:
    token = _i18n.activate("es")
    try:
        text = _i18n.gettext("Revoke access for %(name)s", name="Dr Ana <b>")
        assert text == "Revocar el acceso de Dr Ana <b>"
    finally:
        _i18n._LANG.reset(token)
    assert _i18n.gettext("Revoke access for %(name)s", name="x") == "Revoke access for x"


def test_js_messages_cover_the_scripts() -> None:
    es = _i18n.js_messages("es")
    en = _i18n.js_messages("en")
    assert set(es) == set(en) and len(es) >= 10
    assert all(k == v for k, v in en.items())
    assert es["Choose at least one kind of data to share."] == \
        "Elija al menos un tipo de datos para compartir."
    assert all(v for v in es.values())


def test_dates_and_numbers_follow_the_language() -> None:
    when = datetime(2024, 5, 1, 18, 30, tzinfo=UTC)
    assert _i18n.format_date(date(2024, 5, 1)) == "May 1, 2024"
    assert _i18n.format_datetime(when, "short", tz="America/Mexico_City") == "5/1/24, 12:30\u202fPM"
    token = _i18n.activate("es")
    try:
        assert _i18n.format_date(date(2024, 5, 1)) == "1 may 2024"
        assert _i18n.format_datetime(when, "short", tz="America/Mexico_City").startswith(
            "1/5/24")
        assert _i18n.format_number(1234.5, 1) == "1,234.5"  # es_419, as in Mexico
    finally:
        _i18n._LANG.reset(token)


# -- choosing the language ----------------------------------------------------------------------
def _request(headers: dict[str, str] | None = None, cookie: str | None = None) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if cookie is not None:
        raw.append((b"cookie", f"{_i18n.COOKIE}={cookie}".encode()))
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw,
                    "query_string": b""})


@pytest.mark.parametrize(("preferred", "cookie", "accept", "expected"), [
    ("es", "en", "en-US,en;q=0.9", "es"),  # the saved preference wins
    (None, "es", "en", "es"),  # then the cookie (before sign-in)
    (None, None, "es-MX,es;q=0.9,en;q=0.8", "es"),  # a region still means Spanish
    (None, None, "fr-CH, fr;q=0.9, es;q=0.8, en;q=0.7", "es"),  # first we have
    (None, None, "en;q=0.3, es;q=0.9", "es"),  # by q, not by order
    (None, None, "es;q=0, en;q=0.1", "en"),  # q=0: not acceptable
    (None, None, "de, fr", "en"),  # nothing we have
    (None, None, "", "en"),
    (None, None, "es;q=banana, *;q=0.1", "en"),  # malformed entries are dropped
    ("fr", "xx", "es", "es"),  # unsupported preference and cookie fall through
    (None, None, "ES_es", "es"),
])
def test_choose_language(preferred: str | None, cookie: str | None, accept: str,
                         expected: str) -> None:
    req = _request({"Accept-Language": accept} if accept else {}, cookie)
    assert _i18n.choose_language(req, preferred) == expected


def test_a_huge_header_is_cut() -> None:
    accept = ", ".join(["de;q=0.5"] * 5000) + ", es"
    assert _i18n.choose_language(_request({"Accept-Language": accept}), None) == "en"


# -- pages -----------------------------------------------------------------------------------
@pytest.fixture
def client(sqlite_store: Store) -> Iterator[TestClient]:
    with sqlite_store.transaction() as w:
        w.upsert_person(Person("p-lucia", birth_date=date(1990, 2, 3)))
    Identity(sqlite_store).create_user("lucia", Role.PATIENT, PASSWORD, person_id="p-lucia")
    with TestClient(app_for(sqlite_store), raise_server_exceptions=False,
                    follow_redirects=False) as c:
        yield c


def _lang(html: str) -> str:
    m = re.search(r'<html lang="(\w+)"', html)
    assert m, html[:200]
    return m.group(1)


def _embedded(html: str) -> dict[str, Any]:
    m = re.search(r'<script id="hh-messages" type="application/json">(.*?)</script>', html,
                  re.S)
    assert m, "the page embeds no JS strings"
    data: dict[str, Any] = json.loads(m.group(1))
    return data


def test_login_page_in_spanish(client: TestClient) -> None:
    r = client.get("/login", headers={"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"})
    assert r.status_code == 200
    assert _lang(r.text) == "es"
    assert "<h1>Iniciar sesión</h1>" in r.text
    assert "Contraseña" in r.text and "Password" not in r.text
    assert _embedded(r.text) == _i18n.js_messages("es")
    r = client.get("/login", headers={"Accept-Language": "en"})
    assert _lang(r.text) == "en" and "<h1>Sign in</h1>" in r.text
    assert _embedded(r.text) == _i18n.js_messages("en")


def test_no_language_leaks_between_requests(client: TestClient) -> None:
    for _ in range(3):
        assert "Iniciar sesión" in client.get("/login", headers={"Accept-Language": "es"}).text
        r = client.get("/login")
        assert _lang(r.text) == "en" and "Iniciar sesión" not in r.text


def test_cookie_before_sign_in(client: TestClient) -> None:
    client.cookies.set(_i18n.COOKIE, "es")
    try:
        assert _lang(client.get("/login", headers={"Accept-Language": "en"}).text) == "es"
    finally:
        client.cookies.clear()


def test_the_saved_preference_wins_over_the_browser(client: TestClient) -> None:
    store: Store = client.app.state.store  # type: ignore[attr-defined]
    identity = Identity(store)
    auth = {"Authorization": f"Bearer {login(store, 'lucia')}"}
    identity.set_preferences("lucia", language="es")
    r = client.get("/settings", headers={**auth, "Accept-Language": "en-US,en"})
    assert r.status_code == 200 and _lang(r.text) == "es"
    assert "<h1>Configuración</h1>" in r.text
    identity.set_preferences("lucia", language="en")
    r = client.get("/settings", headers={**auth, "Accept-Language": "es"})
    assert _lang(r.text) == "en" and "<h1>Settings</h1>" in r.text


def test_values_templates_translate_are_in_the_catalog() -> None:
    """Levels, alert statuses, roles and metric names reach templates as data and are
    translated there with ``_(value)``: each must be an extracted (so translated) msgid."""
    from hyperhealth.actions.alerts._lifecycle import STATUSES
    from hyperhealth.actions.levels import Level
    from hyperhealth.model import METRICS
    from hyperhealth.security._model import Role

    ids = {m.id for m in _i18n.extract_messages()}
    values = ({lv.label for lv in Level} | set(STATUSES) | {r.value for r in Role}
              | {m.display for m in METRICS.values()})
    missing = sorted(values - ids)
    assert not missing, f"add these to hyperhealth/delivery/web/_labels.py: {missing}"
    token = _i18n.activate("es")
    try:
        assert _i18n.gettext("Heart rate --resting") == "Frecuencia cardíaca en reposo"
        assert _i18n.gettext("care-coordinator") == "coordinador de atención"
    finally:
        _i18n._LANG.reset(token)
