"""Routes of the web pages, the static files and the vendored plotly.js bundle.

Pages are rendered on the server in the reader's language (:mod:`._i18n`); their charts and
cards fetch JSON from the API with the session cookie, so they pass the same sign-in, consent
and audit checks as any API client.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from hyperhealth.delivery.api._deps import get_store
from hyperhealth.delivery.api._errors import ApiError
from hyperhealth.delivery.api._guard import (
    SESSION_COOKIE,
    Access,
    AccessDep,
    Rule,
    bearer_token,
    rule,
    visible_persons,
)
from hyperhealth.delivery.web._alerts_view import person_alerts
from hyperhealth.delivery.web._i18n import COOKIE as LANG_COOKIE
from hyperhealth.delivery.web._i18n import LANGUAGES, choose_language
from hyperhealth.delivery.web._render import templates
from hyperhealth.errors import AuthenticationError, HyperhealthError, NotFound
from hyperhealth.model import METRICS
from hyperhealth.model.time import age_on
from hyperhealth.security._model import CARE_ROLES, Actor, Category, Role, category_of

HERE = Path(__file__).parent


def _choices() -> dict[str, tuple[str, ...]]:
    """The settings page offers what the preferences API accepts (one list of allowed values).

    >>> _choices()["glucose_unit"]
    ('mg/dL', 'mmol/L')
    """
    from typing import get_args

    from hyperhealth.delivery.api._auth import PreferencesIn

    return {name: tuple(v for arg in get_args(f.annotation) for v in get_args(arg))
            for name, f in PreferencesIn.model_fields.items()}


#: display preferences a user can choose on the settings page, with their allowed values
PREFERENCES = _choices()
#: who may act on alerts (as the alerts API allows)
_ALERT_ACTORS = frozenset({Role.PATIENT, Role.CLINICIAN, Role.CARE_COORDINATOR})


def plotly_js_path() -> Path:
    """Where the installed ``plotly`` package keeps its plotly.min.js bundle."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


class Pages:
    """Renders a template with what every page needs: the user, their language and units."""

    def __init__(self) -> None:
        self.templates = templates()

    def preferences(self, request: Request, actor: Actor | None) -> dict[str, Any]:
        if actor is None or actor.user_pk is None:
            return {}
        try:
            return dict(request.app.state.identity.user(actor.username).preferences)
        except NotFound:
            return {}

    def render(self, request: Request, actor: Actor | None, name: str,
               ctx: dict[str, Any] | None = None, status_code: int = 200) -> HTMLResponse:
        prefs = self.preferences(request, actor)
        # the language: the saved preference (read here once), else cookie, else the browser's
        request.state.hh_lang = choose_language(request, prefs.get("language"))
        full = {"user": actor, "prefs": prefs,
                "units": {"glucose": prefs.get("glucose_unit", "mg/dL"),
                          "weight": prefs.get("weight_unit", "kg")},
                **(ctx or {})}
        return self.templates.TemplateResponse(request, name, full, status_code=status_code)


def install_web(app: FastAPI) -> None:
    """Add the pages, ``/static`` and ``/static/vendor/plotly.min.js`` to ``app``."""
    pages = Pages()
    app.state.pages = pages

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    @rule(Rule("public"))
    def login_page(request: Request, next: str = "/") -> HTMLResponse:
        return pages.render(request, None, "login.html", {"next": _local(next), "error": None})

    @app.post("/login", include_in_schema=False)
    @rule(Rule("public"))
    def login(request: Request, username: Annotated[str, Form(max_length=120)],
              password: Annotated[str, Form(max_length=256)],
              totp: Annotated[str, Form(max_length=10)] = "",
              next: Annotated[str, Form(max_length=500)] = "/") -> Response:
        from hyperhealth.delivery.api._auth import _throttle

        _throttle(request)
        try:
            pair = request.app.state.identity.login(username, password, totp or None)
        except AuthenticationError as exc:
            return pages.render(request, None, "login.html",
                                {"next": _local(next), "error": exc.message,
                                 "username": username}, status_code=401)
        resp = RedirectResponse(_local(next), status_code=303)
        resp.set_cookie(SESSION_COOKIE, pair.access_token, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")
        return resp

    @app.post("/logout", include_in_schema=False)
    @rule(Rule("public"))
    def logout(request: Request) -> Response:
        token = bearer_token(request)
        if token:
            request.app.state.identity.revoke(token)
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    @app.post("/language", include_in_schema=False)
    @rule(Rule("public"))
    def language(request: Request, lang: Annotated[str, Form(max_length=8)],
                 next: Annotated[str, Form(max_length=500)] = "/") -> Response:
        """Switch language: kept in a cookie, and in the account when signed in."""
        if lang not in LANGUAGES:
            raise ApiError(422, "Invalid request", f"no language {lang!r}", where="form field lang",
                           fix=f"use one of: {', '.join(LANGUAGES)}")
        token = bearer_token(request)
        if token:
            try:
                actor = request.app.state.identity.authenticate(token)
            except HyperhealthError:
                actor = None
            if actor is not None and actor.user_pk is not None:
                request.app.state.identity.set_preferences(actor.username, language=lang)
        resp = RedirectResponse(_local(next), status_code=303)
        resp.set_cookie(LANG_COOKIE, lang, httponly=True, samesite="lax", path="/",
                        max_age=365 * 86400, secure=request.url.scheme == "https")
        return resp

    @app.get("/", include_in_schema=False)
    @rule(Rule("user"))
    def home(access: AccessDep) -> Response:
        """Patients land on their own page, care staff on the triage panel."""
        user = access.user
        if user.role is Role.PATIENT and user.person_id:
            return RedirectResponse(f"/persons/{user.person_id}", status_code=303)
        if user.role in CARE_ROLES:
            return RedirectResponse("/clinic", status_code=303)
        return RedirectResponse("/persons", status_code=303)

    @app.get("/persons", response_class=HTMLResponse, include_in_schema=False)
    @rule(Rule("user"))
    def persons(request: Request, access: AccessDep) -> HTMLResponse:
        store = get_store(request)
        visible = set(visible_persons(store, access, Category.DEMOGRAPHICS))
        rows = [{"person": p, "streams": len(store.streams(p.id))} for p in store.persons()
                if p.id in visible]
        return pages.render(request, access.user, "index.html", {"persons": rows})

    @app.get("/clinic", response_class=HTMLResponse, include_in_schema=False)
    @rule(Rule("staff"))
    def clinic(request: Request, access: AccessDep) -> HTMLResponse:
        """The clinician's triage panel (rows come from ``GET /api/triage``)."""
        return pages.render(request, access.user, "clinic.html")

    @app.get("/settings", response_class=HTMLResponse, include_in_schema=False)
    @rule(Rule("user"))
    def settings_page(request: Request, access: AccessDep, saved: bool = False) -> HTMLResponse:
        return pages.render(request, access.user, "settings.html",
                            {"choices": PREFERENCES, "saved": saved})

    @app.post("/settings", include_in_schema=False)
    @rule(Rule("user", write=True))
    def save_settings(request: Request, access: AccessDep,
                      language: Annotated[str, Form(max_length=8)] = "en",
                      glucose_unit: Annotated[str, Form(max_length=8)] = "mg/dL",
                      weight_unit: Annotated[str, Form(max_length=8)] = "kg") -> Response:
        chosen = {"language": language, "glucose_unit": glucose_unit, "weight_unit": weight_unit}
        for key, value in chosen.items():
            if value not in PREFERENCES[key]:
                raise ApiError(422, "Invalid request", f"{key}={value!r} is not offered",
                               where=f"form field {key}",
                               fix=f"use one of: {', '.join(PREFERENCES[key])}")
        user = access.user
        if user.user_pk is None:
            raise ApiError(422, "Invalid request", "a device has no display preferences",
                           where="session", fix="sign in as a user")
        request.app.state.identity.set_preferences(user.username, **chosen)
        resp = RedirectResponse("/settings?saved=true", status_code=303)
        resp.set_cookie(LANG_COOKIE, language, httponly=True, samesite="lax", path="/",
                        max_age=365 * 86400, secure=request.url.scheme == "https")
        return resp

    @app.get("/persons/{person_id}", response_class=HTMLResponse, include_in_schema=False)
    @rule(Rule("person"))
    def person_page(request: Request, person_id: str, access: AccessDep) -> HTMLResponse:
        store = get_store(request)
        try:
            person = store.person(person_id)
        except NotFound:
            return pages.render(request, access.user, "not_found.html",
                                {"person_id": person_id}, status_code=404)
        return pages.render(request, access.user, "person.html",
                            _person_context(store, person, access))

    @app.get("/static/vendor/plotly.min.js", include_in_schema=False)
    @rule(Rule("public"))
    def plotly_js() -> FileResponse:
        path = plotly_js_path()
        if not path.is_file():
            raise ApiError(500, "Chart library missing", f"{path} does not exist",
                           where="the installed plotly package",
                           fix="reinstall it: pip install --force-reinstall plotly")
        return FileResponse(path, media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    from hyperhealth.delivery.web import _sharing_page

    app.include_router(_sharing_page.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")


def _person_context(store: Any, person: Any, access: Access) -> dict[str, Any]:
    """What the person page shows, cut down to the categories the reader may see."""
    pid, ok, user = person.id, access.allows, access.user
    streams = [{"info": s, "display": _display(s.code)} for s in store.streams(pid)
               if ok(category_of(s.code))]
    last = max((s["info"].last for s in streams), default=None)
    advisories = None
    if ok(Category.ALERTS) and last is not None:
        from hyperhealth.actions.advisories import assess_person

        # advice for the time of the latest reading, so a replayed or synthetic record shows
        # the environment of its own days rather than of today
        advisories = assess_person(store, pid, min(last, datetime.now(UTC)))
    return {
        "person": person, "streams": streams, "as_of": last,
        "age": age_on(person.birth_date, (last or datetime.now(UTC)).date())
        if person.birth_date else None,
        "own": user.role is Role.PATIENT and user.person_id == pid,
        "can_act": user.role in _ALERT_ACTORS,
        "can_prescribe": user.role is Role.CLINICIAN,
        "shows": {c.value: ok(c) for c in Category},
        "conditions": [c for c in store.conditions(pid)
                       if c.clinical_status in ("active", "recurrence", "relapse")]
        if ok(Category.CONDITIONS) else [],
        "medications": [m for m in store.medications(pid)
                        if m.status in ("active", "intended", "on-hold")]
        if ok(Category.MEDICATIONS) else [],
        "allergies": store.allergies(pid) if ok(Category.CONDITIONS) else [],
        "alerts": person_alerts(store, pid) if ok(Category.ALERTS) else None,
        "advisories": advisories,
        "events": _timeline_events(store, pid, ok),
    }


def _timeline_events(store: Any, pid: str, ok: Any) -> dict[str, list[dict[str, Any]]]:
    """Alerts and medication periods drawn on the timeline (only categories the reader sees)."""
    from hyperhealth.actions.alerts import AlertBook

    alerts = [{"t": a.opened.isoformat(), "title": a.title, "level": a.level.label}
              for a in AlertBook(store).find(pid, status=["open", "acknowledged", "resolved"],
                                             limit=500)] if ok(Category.ALERTS) else []
    meds = [{"name": m.display or m.code, "start": m.start.isoformat() if m.start else None,
             "end": m.end.isoformat() if m.end else None}
            for m in store.medications(pid)] if ok(Category.MEDICATIONS) else []
    return {"alerts": alerts, "medications": meds}


def _local(target: str) -> str:
    """Only redirect within this site (an open redirect would help phishing).

    >>> _local("/persons/p-1"), _local("https://evil.example/"), _local("//evil.example")
    ('/persons/p-1', '/', '/')
    """
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _display(code: str) -> str:
    m = METRICS.get(code)
    return m.display if m else code
