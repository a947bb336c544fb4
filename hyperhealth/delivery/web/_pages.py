"""Routes of the web pages, the static files and the vendored plotly.js bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from hyperhealth.delivery.api._deps import get_store
from hyperhealth.delivery.api._errors import ApiError
from hyperhealth.delivery.web._alerts_view import person_alerts
from hyperhealth.errors import NotFound
from hyperhealth.model import METRICS

HERE = Path(__file__).parent


def plotly_js_path() -> Path:
    """Where the installed ``plotly`` package keeps its plotly.min.js bundle."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _templates() -> Jinja2Templates:
    env = Environment(loader=FileSystemLoader(HERE / "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    return Jinja2Templates(env=env)


def install_web(app: FastAPI) -> None:
    """Add the pages, ``/static`` and ``/static/vendor/plotly.min.js`` to ``app``."""
    templates = _templates()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index(request: Request) -> HTMLResponse:
        store = get_store(request)
        persons = [{"person": p, "streams": len(store.streams(p.id))} for p in store.persons()]
        return templates.TemplateResponse(request, "index.html", {"persons": persons})

    @app.get("/persons/{person_id}", response_class=HTMLResponse, include_in_schema=False)
    def person_page(request: Request, person_id: str) -> HTMLResponse:
        store = get_store(request)
        try:
            person = store.person(person_id)
        except NotFound:
            return templates.TemplateResponse(request, "not_found.html",
                                              {"person_id": person_id}, status_code=404)
        streams = [{"info": s, "display": _display(s.code)} for s in store.streams(person_id)]
        ctx: dict[str, Any] = {
            "person": person, "streams": streams,
            "conditions": [c for c in store.conditions(person_id)
                           if c.clinical_status in ("active", "recurrence", "relapse")],
            "medications": [m for m in store.medications(person_id)
                            if m.status in ("active", "intended", "on-hold")],
            "allergies": store.allergies(person_id),
            "alerts": person_alerts(store, person_id),
        }
        return templates.TemplateResponse(request, "person.html", ctx)

    @app.get("/static/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        path = plotly_js_path()
        if not path.is_file():
            raise ApiError(500, "Chart library missing", f"{path} does not exist",
                           where="the installed plotly package",
                           fix="reinstall it: pip install --force-reinstall plotly")
        return FileResponse(path, media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")


def _display(code: str) -> str:
    m = METRICS.get(code)
    return m.display if m else code
