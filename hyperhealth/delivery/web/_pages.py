"""Routes of the web pages, the static files and the vendored plotly.js bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from hyperhealth.delivery.api._deps import get_store
from hyperhealth.delivery.api._errors import ApiError
from hyperhealth.delivery.api._guard import (
    SESSION_COOKIE,
    AccessDep,
    Rule,
    bearer_token,
    rule,
    visible_persons,
)
from hyperhealth.delivery.web._alerts_view import person_alerts
from hyperhealth.errors import AuthenticationError, NotFound
from hyperhealth.model import METRICS
from hyperhealth.security._model import Category, category_of

HERE = Path(__file__).parent


def plotly_js_path() -> Path:
    """Where the installed ``plotly`` package keeps its plotly.min.js bundle."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _templates() -> Jinja2Templates:
    env = Environment(loader=FileSystemLoader(HERE / "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.i18n"])
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    return Jinja2Templates(env=env)


def install_web(app: FastAPI) -> None:
    """Add the pages, ``/static`` and ``/static/vendor/plotly.min.js`` to ``app``."""
    templates = _templates()

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    @rule(Rule("public"))
    def login_page(request: Request, next: str = "/") -> HTMLResponse:
        return templates.TemplateResponse(request, "login.html",
                                          {"next": _local(next), "error": None})

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
            return templates.TemplateResponse(
                request, "login.html", {"next": _local(next), "error": exc.message,
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

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    @rule(Rule("user"))
    def index(request: Request, access: AccessDep) -> HTMLResponse:
        store = get_store(request)
        visible = set(visible_persons(store, access, Category.DEMOGRAPHICS))
        persons = [{"person": p, "streams": len(store.streams(p.id))} for p in store.persons()
                   if p.id in visible]
        return templates.TemplateResponse(request, "index.html",
                                          {"persons": persons, "user": access.user})

    @app.get("/persons/{person_id}", response_class=HTMLResponse, include_in_schema=False)
    @rule(Rule("person"))
    def person_page(request: Request, person_id: str, access: AccessDep) -> HTMLResponse:
        store = get_store(request)
        try:
            person = store.person(person_id)
        except NotFound:
            return templates.TemplateResponse(request, "not_found.html",
                                              {"person_id": person_id}, status_code=404)
        ok = access.allows
        streams = [{"info": s, "display": _display(s.code)} for s in store.streams(person_id)
                   if ok(category_of(s.code))]
        ctx: dict[str, Any] = {
            "person": person, "streams": streams, "user": access.user,
            "conditions": [c for c in store.conditions(person_id)
                           if c.clinical_status in ("active", "recurrence", "relapse")]
            if ok(Category.CONDITIONS) else [],
            "medications": [m for m in store.medications(person_id)
                            if m.status in ("active", "intended", "on-hold")]
            if ok(Category.MEDICATIONS) else [],
            "allergies": store.allergies(person_id) if ok(Category.CONDITIONS) else [],
            "alerts": person_alerts(store, person_id) if ok(Category.ALERTS) else [],
        }
        return templates.TemplateResponse(request, "person.html", ctx)

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

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")


def _local(target: str) -> str:
    """Only redirect within this site (an open redirect would help phishing).

    >>> _local("/persons/p-1"), _local("https://evil.example/"), _local("//evil.example")
    ('/persons/p-1', '/', '/')
    """
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _display(code: str) -> str:
    m = METRICS.get(code)
    return m.display if m else code
