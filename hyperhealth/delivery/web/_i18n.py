"""English and Spanish for the web pages: gettext catalogs compiled in memory, one language per
request.

API
---
- ``LANGUAGES`` — ``{"en": "English", "es": "Español"}``; ``DEFAULT`` is ``"en"``; ``COOKIE``
  (``hh_lang``) carries the choice before sign-in.
- ``choose_language(request, preferred)`` — the user's saved preference (``preferred``, from
  ``preferences["language"]``), else the ``hh_lang`` cookie, else ``Accept-Language`` (q-values;
  ``es-MX`` counts as ``es``), else English.
- ``language_for(request)`` — the same, reading the signed-in user's preference itself (the
  guard leaves the caller in ``request.state.actor``); cached on the request.
- ``activate(lang)`` / ``current_language()`` — the language of this request, in a
  ``ContextVar``. ``activate_for(request)`` = ``activate(language_for(request))``.
- ``context_processor(request)`` — for ``Jinja2Templates(context_processors=[...])``: activates
  the request's language right before the template renders (``TemplateResponse`` renders in its
  constructor, in the handler's thread, so the variable it sets is the one rendering reads) and
  gives the template ``lang`` and ``languages``.
- ``install(env)`` — newstyle gettext callables (``_``, ``gettext``, ``ngettext``, ``pgettext``)
  that follow the active language; filters ``|date``, ``|datetime``, ``|time``, ``|number``;
  globals ``current_language()`` and ``hh_js_messages()`` (the JS strings of the active
  language).
- ``gettext(msg, **kw)`` / ``ngettext(s, p, n, **kw)`` — for Python code that makes display text
  (``%(name)s`` placeholders filled from ``kw``); ``N_(msg)`` marks a constant for extraction
  and returns it untranslated (translate it where it is shown).
- ``js_messages(lang)`` — ``{msgid: translation}`` for every ``hhT("...")`` (or ``T("...")``,
  for scripts that alias it) string of
  ``static/*.js``; a page embeds it as ``<script id="hh-messages" type="application/json">``
  and ``static/i18n.js`` defines ``window.hhT(text, {name: value})``.
- ``format_date/format_datetime/format_time/format_number`` — Babel formats of the active
  language (Spanish uses CLDR's Latin-American Spanish, ``es_419``).
- ``extract_messages()`` — the catalog template from templates, static JS and this package's
  Python (what ``tools/i18n.py`` writes to ``locale/messages.pot`` and the tests check).

Catalogs are the committed ``locale/<lang>/LC_MESSAGES/messages.po`` files, compiled with Babel
at first use (no binary ``.mo`` in the repository); fuzzy entries are not used.

>>> token = activate("es")
>>> gettext("Sign in")
'Iniciar sesión'
>>> gettext("Person not found")
'Persona no encontrada'
>>> format_number(1234.5, 1)
'1,234.5'
>>> _LANG.reset(token)
>>> gettext("Sign in")
'Sign in'
"""

from __future__ import annotations

import gettext as _gettext
import io
import re
from collections.abc import Iterator
from contextvars import ContextVar, Token
from datetime import date, datetime, tzinfo
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog

HERE = Path(__file__).parent
LOCALE_DIR = HERE / "locale"
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
DOMAIN = "messages"

LANGUAGES: dict[str, str] = {"en": "English", "es": "Español"}
DEFAULT = "en"
COOKIE = "hh_lang"
#: the CLDR locale used for dates and numbers of each language
FORMAT_LOCALE = {"en": "en", "es": "es_419"}

#: Jinja options of the web templates (extraction must parse them the same way)
JINJA_OPTIONS: dict[str, Any] = {"trim_blocks": True, "lstrip_blocks": True,
                                 "extensions": ["jinja2.ext.i18n"]}
#: gettext keywords in Python code (Babel keyword specs)
PY_KEYWORDS: dict[str, Any] = {"gettext": None, "ngettext": (1, 2), "N_": None,
                               "pgettext": ((1, "c"), 2)}
#: the function static JS calls (``T`` is accepted for scripts that alias ``const T = hhT``)
JS_KEYWORDS: dict[str, Any] = {"hhT": None, "T": None}
COMMENT_TAGS = ("Translators:",)

_LANG: ContextVar[str] = ContextVar("hh_language", default=DEFAULT)
_ACCEPT_MAX = 1000  # characters of Accept-Language considered (a header is not a workload)


# -- choosing the language -----------------------------------------------------------------------
def _supported(tag: str | None) -> str | None:
    """``es-MX`` -> ``es``; ``None`` for what we do not have.

    >>> _supported("es-MX"), _supported("EN_gb"), _supported("fr"), _supported(None)
    ('es', 'en', None, None)
    """
    if not tag:
        return None
    primary = tag.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in LANGUAGES else None


def parse_accept_language(header: str) -> list[str]:
    """Language tags of an ``Accept-Language`` header, most wanted first; ``q=0`` and
    malformed entries are dropped, ties keep the header's order.

    >>> parse_accept_language("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5")
    ['fr-CH', 'fr', 'en', 'de', '*']
    >>> parse_accept_language("en;q=0.2, es-MX;q=0.9, it;q=0")
    ['es-MX', 'en']
    >>> parse_accept_language("es;q=abc, en")
    ['en']
    """
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(header[:_ACCEPT_MAX].split(",")):
        tag, *params = (p.strip() for p in part.split(";"))
        if not tag or not re.fullmatch(r"[A-Za-z]{1,8}([-_][A-Za-z0-9]{1,8})*|\*", tag):
            continue
        q = 1.0
        for p in params:
            name, _, value = p.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = -1.0
        if 0 < q <= 1:
            ranked.append((-q, i, tag))
    return [tag for _, _, tag in sorted(ranked)]


def choose_language(request: Any, preferred: str | None) -> str:
    """The language of a page: the user's saved ``preferred`` language, else the ``hh_lang``
    cookie, else the browser's ``Accept-Language``, else English."""
    for candidate in (preferred, request.cookies.get(COOKIE)):
        lang = _supported(candidate)
        if lang:
            return lang
    for tag in parse_accept_language(request.headers.get("accept-language", "")):
        lang = _supported(tag)
        if lang:
            return lang
    return DEFAULT


def saved_language(request: Any) -> str | None:
    """The signed-in user's saved language (``None``: anonymous, a device, or no choice)."""
    actor = getattr(request.state, "actor", None)
    if actor is None or getattr(actor, "user_pk", None) is None:
        return None
    try:
        user = request.app.state.identity.user(actor.username)
    except Exception:  # an account gone since sign-in: fall back to the browser
        return None
    lang = user.preferences.get("language")
    return lang if isinstance(lang, str) else None


def language_for(request: Any) -> str:
    """:func:`choose_language` with the signed-in user's preference; cached on the request."""
    cached = getattr(request.state, "hh_lang", None)
    if isinstance(cached, str):
        return cached
    lang = choose_language(request, saved_language(request))
    request.state.hh_lang = lang
    return lang


# -- the active language -------------------------------------------------------------------------
def activate(lang: str) -> Token[str]:
    """Make ``lang`` (an unknown one: English) the language of the current request."""
    return _LANG.set(lang if lang in LANGUAGES else DEFAULT)


def current_language() -> str:
    return _LANG.get()


def activate_for(request: Any) -> str:
    """Activate the request's language (call it before making display text in a handler)."""
    lang = language_for(request)
    activate(lang)
    return lang


def context_processor(request: Any) -> dict[str, Any]:
    """Template context for :class:`Jinja2Templates`: activates the request's language."""
    return {"lang": activate_for(request), "languages": LANGUAGES}


# -- catalogs ------------------------------------------------------------------------------------
def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(lang: str) -> _gettext.NullTranslations:
    """The compiled catalog of ``lang`` (English, or a language without a catalog: none)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    path = po_path(lang)
    if lang == DEFAULT or not path.is_file():
        return _gettext.NullTranslations()
    with path.open("rb") as f:
        catalog = read_po(f, locale=lang, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return _gettext.GNUTranslations(buf)


def _t() -> _gettext.NullTranslations:
    return translations(_LANG.get())


def _fill(text: str, kw: dict[str, Any]) -> str:
    return text % kw if kw else text


def gettext(message: str, **kw: Any) -> str:
    """``message`` in the active language, ``%(name)s`` placeholders filled from ``kw``."""
    return _fill(_t().gettext(message), kw)


def ngettext(singular: str, plural: str, n: int, **kw: Any) -> str:
    """The singular or plural form for ``n`` (also available as ``%(num)s``)."""
    return _t().ngettext(singular, plural, n) % {"num": n, **kw}


def pgettext(context: str, message: str, **kw: Any) -> str:
    """``message`` in ``context`` (for words that translate differently by use)."""
    return _fill(_t().pgettext(context, message), kw)


def N_(message: str) -> str:
    """Mark a constant for extraction; translate it with :func:`gettext` where it is shown."""
    return message


def _jinja_gettext(message: str) -> str:  # Jinja's newstyle wrapper fills the placeholders
    return _t().gettext(message)


def _jinja_ngettext(singular: str, plural: str, n: int) -> str:
    return _t().ngettext(singular, plural, n)


def _jinja_pgettext(context: str, message: str) -> str:
    return _t().pgettext(context, message)


def _jinja_npgettext(context: str, singular: str, plural: str, n: int) -> str:
    return _t().npgettext(context, singular, plural, n)


# -- dates and numbers ---------------------------------------------------------------------------
def _locale() -> str:
    return FORMAT_LOCALE.get(_LANG.get(), "en")


def _when(value: Any) -> Any:
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return value


def format_date(value: date | datetime | str | None, format: str = "medium",
                tz: tzinfo | str | None = None) -> str:
    """A date in the active language (``format``: short, medium, long, full or a pattern).

    >>> format_date(date(2024, 5, 1))
    'May 1, 2024'
    """
    from babel.dates import format_date as fmt

    if value is None:
        return ""
    when: date = _when(value)
    if isinstance(when, datetime) and tz is not None and when.tzinfo is not None:
        when = when.astimezone(_zone(tz))
    return fmt(when, format=format, locale=_locale())


def format_datetime(value: datetime | str | None, format: str = "medium",
                    tz: tzinfo | str | None = None) -> str:
    """A date and time in the active language, in time zone ``tz`` (default: as given)."""
    from babel.dates import format_datetime as fmt

    if value is None:
        return ""
    when: datetime = _when(value)
    zone = _zone(tz) if tz is not None else when.tzinfo
    return fmt(when, format=format, tzinfo=zone, locale=_locale())


def format_time(value: datetime | str | None, format: str = "short",
                tz: tzinfo | str | None = None) -> str:
    """A time of day in the active language, in time zone ``tz`` (default: as given)."""
    from babel.dates import format_time as fmt

    if value is None:
        return ""
    when: datetime = _when(value)
    zone = _zone(tz) if tz is not None else when.tzinfo
    return fmt(when, format=format, tzinfo=zone, locale=_locale())


def format_number(value: float | int | None, digits: int | None = None) -> str:
    """A number in the active language; ``digits`` fixes the decimals.

    >>> format_number(1234.56), format_number(3.14159, 2), format_number(None)
    ('1,234.56', '3.14', '')
    """
    from babel.numbers import format_decimal

    if value is None:
        return ""
    if digits is None:
        return format_decimal(value, locale=_locale())
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return format_decimal(round(value, digits), format=pattern, locale=_locale(),
                          decimal_quantization=True)


def _zone(tz: tzinfo | str) -> tzinfo:
    if isinstance(tz, str):
        from zoneinfo import ZoneInfo

        return ZoneInfo(tz)
    return tz


# -- Jinja ---------------------------------------------------------------------------------------
def install(env: Any) -> None:
    """Give ``env`` (with ``jinja2.ext.i18n``) gettext in the active language, the ``date``,
    ``datetime`` and ``number`` filters and the ``current_language``/``hh_js_messages``
    globals."""
    env.install_gettext_callables(_jinja_gettext, _jinja_ngettext, newstyle=True,
                                  pgettext=_jinja_pgettext, npgettext=_jinja_npgettext)
    env.filters["date"] = format_date
    env.filters["datetime"] = format_datetime
    env.filters["time"] = format_time
    env.filters["number"] = format_number
    env.globals["current_language"] = current_language
    env.globals["hh_js_messages"] = lambda: js_messages(current_language())
    env.globals.setdefault("languages", LANGUAGES)


# -- JS strings ----------------------------------------------------------------------------------
def js_files() -> list[Path]:
    return sorted(STATIC_DIR.glob("*.js"))


@lru_cache(maxsize=1)
def js_msgids() -> tuple[str, ...]:
    """Every ``hhT("...")`` string of ``static/*.js``, in file order, once each."""
    seen: dict[str, None] = {}
    for path in js_files():
        for _, msg, _, _ in _extract_file(path, "javascript"):
            if isinstance(msg, str):
                seen.setdefault(msg)
    return tuple(seen)


@cache
def js_messages(lang: str) -> dict[str, str]:
    """``{msgid: translation}`` for the JS strings (English: the strings themselves)."""
    t = translations(lang if lang in LANGUAGES else DEFAULT)
    return {m: t.gettext(m) for m in js_msgids()}


# -- extraction (tools/i18n.py and the tests) --------------------------------------------------
def _extract_file(path: Path, method: str) -> Iterator[tuple[int, Any, list[str], str | None]]:
    from babel.messages.extract import extract

    if method == "jinja":
        keywords: dict[str, Any] = {k: None for k in ("_", "gettext")}
        keywords.update({"ngettext": (1, 2), "pgettext": ((1, "c"), 2),
                         "npgettext": ((1, "c"), 2, 3)})
        options = {"trim_blocks": "true", "lstrip_blocks": "true",
                   "extensions": ",".join(JINJA_OPTIONS["extensions"])}
        with path.open("rb") as f:
            yield from extract("jinja2.ext:babel_extract", f, keywords, list(COMMENT_TAGS), options)
        return
    kw = JS_KEYWORDS if method == "javascript" else PY_KEYWORDS
    with path.open("rb") as f:
        yield from extract(method, f, kw, list(COMMENT_TAGS))


def sources() -> list[tuple[Path, str]]:
    """The files strings are extracted from, with their extraction method."""
    return ([(p, "jinja") for p in sorted(TEMPLATES_DIR.glob("*.html"))] +
            [(p, "javascript") for p in js_files()] +
            [(p, "python") for p in sorted(HERE.glob("*.py"))])


def extract_messages() -> Catalog:
    """The catalog template (msgids with their locations and translator comments)."""
    catalog = Catalog(project="hyperhealth", version="web", charset="utf-8",
                      copyright_holder="the hyperhealth authors", fuzzy=False)
    root = HERE.parents[2]
    for path, method in sources():
        where = path.relative_to(root).as_posix()
        for lineno, msg, comments, context in _extract_file(path, method):
            catalog.add(msg, None, [(where, lineno)], auto_comments=comments,
                        context=context)
    return catalog


_PLACEHOLDER = re.compile(r"%\((\w+)\)[sdifr]|\{(\w+)\}")


def placeholders(text: str) -> set[str]:
    """Names of the ``%(name)s`` (and ``{name}``) placeholders of a message.

    >>> sorted(placeholders("%(n)s readings since {day}"))
    ['day', 'n']
    """
    return {a or b for a, b in _PLACEHOLDER.findall(text)}


def problems(lang: str, template: Catalog | None = None) -> list[str]:
    """What keeps the ``lang`` catalog from covering ``template`` (default: a fresh
    :func:`extract_messages`): missing, empty or fuzzy translations, placeholders that differ."""
    from babel.messages.pofile import read_po

    template = template if template is not None else extract_messages()
    path = po_path(lang)
    if not path.is_file():
        return [f"{path}: no catalog for {lang!r}; run tools/i18n.py update"]
    with path.open("rb") as f:
        catalog = read_po(f, locale=lang, domain=DOMAIN)
    out: list[str] = []
    for msg in template:
        if not msg.id:
            continue
        where = ", ".join(f"{f}:{n}" for f, n in msg.locations[:2])
        label = f"{msg.id if isinstance(msg.id, str) else msg.id[0]!r} ({where})"
        have = catalog.get(msg.id, context=msg.context)
        if have is None or not have.string:
            out.append(f"untranslated: {label}")
            continue
        strings = [have.string] if isinstance(have.string, str) else list(have.string)
        if not all(strings):
            out.append(f"untranslated: {label}")
            continue
        if have.fuzzy:
            out.append(f"fuzzy (not used until checked): {label}")
            continue
        ids = [msg.id] if isinstance(msg.id, str) else [i for i in msg.id if i]
        want = set().union(*(placeholders(i) for i in ids)) - {"num"}
        for s in strings:
            got = placeholders(s) - {"num"}
            if got != want:
                out.append(f"placeholders differ in {label}: the English has "
                           f"{sorted(want)}, the translation {s!r} has {sorted(got)}")
    return out


__all__ = ["COOKIE", "DEFAULT", "LANGUAGES", "N_", "activate", "activate_for",
           "choose_language", "context_processor", "current_language", "extract_messages",
           "format_date", "format_datetime", "format_number", "format_time", "gettext", "install",
           "js_messages", "language_for", "ngettext", "parse_accept_language", "pgettext",
           "placeholders", "problems", "translations"]
