#!/usr/bin/env python3
"""Keep the web pages' translation catalogs in step with the templates, JS and Python.

Usage (from the repository root)::

    .venv/bin/python tools/i18n.py extract   # write hyperhealth/delivery/web/locale/messages.pot
    .venv/bin/python tools/i18n.py update    # extract, then merge into every <lang>/messages.po
    .venv/bin/python tools/i18n.py check     # every string translated, not fuzzy, same placeholders

Strings come from ``templates/*.html`` (``{{ _("...") }}``, ``{% trans %}``; parsed with the
pages' Jinja options), ``static/*.js`` (``hhT("...")``) and ``delivery/web/*.py``
(``gettext("...")``, ``N_("...")``). ``update`` keeps existing translations, adds new strings
with an empty translation (Babel may suggest one marked fuzzy: fuzzy entries are not used until a
translator checks them and removes the flag) and drops strings no longer used. Files are
written without line numbers and only when a message changed, so a template edit that moves a
string does not touch the catalogs, and dates in the headers change only with the content.
``check`` exits 1 and lists the problems.
"""

from __future__ import annotations

import argparse
import io
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from babel.messages.catalog import Catalog  # noqa: E402
from babel.messages.pofile import read_po, write_po  # noqa: E402

from hyperhealth.delivery.web import _i18n  # noqa: E402

POT = _i18n.LOCALE_DIR / f"{_i18n.DOMAIN}.pot"
_HEADER = """\
# {what} of hyperhealth's web pages.
# Copyright (C) the hyperhealth authors; distributed under the project's licence.
# Maintained with tools/i18n.py (extract, update, check); do not edit msgids here.
#"""
_VOLATILE = (b'"POT-Creation-Date:', b'"PO-Revision-Date:', b'"Generated-By:')


def _render(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_po(buf, catalog, width=100, include_lineno=False, sort_by_file=True,
             ignore_obsolete=True)
    return buf.getvalue()


def _stable(data: bytes) -> bytes:
    return b"\n".join(line for line in data.splitlines() if not line.startswith(_VOLATILE))


def _write(path: Path, catalog: Catalog) -> bool:
    """Write ``catalog`` unless only its dates would change; True when written."""
    data = _render(catalog)
    if path.is_file() and _stable(path.read_bytes()) == _stable(data):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return True


def extract() -> Catalog:
    template = _i18n.extract_messages()
    template.header_comment = _HEADER.format(what="Strings to translate")
    if POT.is_file():  # keep the old creation date when nothing else changed
        with POT.open("rb") as f:
            old = read_po(f)
        template.creation_date = old.creation_date
        if _stable(_render(template)) != _stable(POT.read_bytes()):
            template.creation_date = datetime.now(UTC)
    wrote = _write(POT, template)
    print(f"{POT.relative_to(ROOT)}: {len(template)} messages"
          f"{'' if wrote else ' (unchanged)'}")
    return template


def update(template: Catalog) -> None:
    for lang in sorted(set(_i18n.LANGUAGES) - {_i18n.DEFAULT}):
        path = _i18n.po_path(lang)
        if path.is_file():
            with path.open("rb") as f:
                catalog = read_po(f, locale=lang, domain=_i18n.DOMAIN)
        else:
            catalog = Catalog(locale=lang, domain=_i18n.DOMAIN, project="hyperhealth",
                              version="web", copyright_holder="the hyperhealth authors",
                              language_team=f"{_i18n.LANGUAGES[lang]} <{lang}@li.org>",
                              fuzzy=False)
        catalog.header_comment = _HEADER.format(what=f"Translations ({lang})")
        catalog.last_translator = "the hyperhealth authors"
        before = _stable(_render(catalog))
        catalog.update(template, update_header_comment=False)
        catalog.obsolete.clear()
        if _stable(_render(catalog)) != before:
            catalog.revision_date = datetime.now(UTC)
        wrote = _write(path, catalog)
        todo = len(_i18n.problems(lang, template))
        print(f"{path.relative_to(ROOT)}: {len(catalog)} messages, {todo} to translate or "
              f"check{'' if wrote else ' (unchanged)'}")


def check() -> int:
    template = _i18n.extract_messages()
    found = 0
    for lang in sorted(set(_i18n.LANGUAGES) - {_i18n.DEFAULT}):
        for p in _i18n.problems(lang, template):
            print(f"{lang}: {p}")
            found += 1
    if found:
        print(f"{found} problem(s); translate them in the .po files (after "
              "'tools/i18n.py update'), then run check again")
        return 1
    print(f"all {len(template)} messages translated")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["extract", "update", "check"])
    args = parser.parse_args(argv)
    if args.command == "check":
        return check()
    template = extract()
    if args.command == "update":
        update(template)
    return 0


if __name__ == "__main__":
    sys.exit(main())
