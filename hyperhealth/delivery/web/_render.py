"""The one Jinja environment of the web pages, shared by every page module.

Templates get gettext in the request's language (``_i18n``): a context processor activates it
just before each ``TemplateResponse`` renders, and adds ``lang`` and ``languages``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from hyperhealth.delivery.web import _i18n

TEMPLATES_DIR = Path(__file__).parent / "templates"


def environment() -> Environment:
    """A fresh environment: autoescape, trimmed blocks, i18n installed."""
    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      **_i18n.JINJA_OPTIONS)
    _i18n.install(env)
    return env


@lru_cache(maxsize=1)
def templates() -> Jinja2Templates:
    """The shared :class:`Jinja2Templates` (built once per process)."""
    return Jinja2Templates(env=environment(), context_processors=[_i18n.context_processor])
