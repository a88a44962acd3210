"""The console's language: chosen per request, its templates rendered through gettext.

The language is the ``mp_lang`` cookie (the switch in the header), else the
best of the browser's Accept-Language, else English. Every word a page shows
comes from the one catalog (``shared.i18n``): templates call ``_()``,
``ngettext()`` and ``pgettext()`` (Jinja2's i18n extension), pages hand them
``Text`` values and the labels of ``services.console.labels``. Moments go
through one filter, ``{{ moment|when }}`` (``services.console.times``), and
are shown in the reader's time zone.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2
from babel.numbers import format_decimal

from services.console.labels import LABELS
from services.console.times import time_element
from shared.i18n import LANGUAGES, Text, translate, translations

TEMPLATES = Path(__file__).parent / "templates"


def pick_language(chosen: str | None, accept_language: str | None) -> str:
    """``chosen`` if supported, else the first supported language of the header by q."""
    if chosen in LANGUAGES:
        return chosen
    ranked = []
    for position, item in enumerate((accept_language or "").split(",")):
        name, _, params = item.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        ranked.append((-q, position, name.strip().lower().split("-")[0]))
    for _, _, name in sorted(ranked):
        if name in LANGUAGES:
            return name
    return LANGUAGES[0]


def label(lang: str, kind: str, value: str) -> str:
    """The name of ``value`` of ``kind`` (a state, phase, event…) in ``lang``; unknown: itself."""
    message = LABELS.get(kind, {}).get(value)
    return translations(lang).pgettext(kind, message) if message else value


@cache
def templates(lang: str) -> jinja2.Environment:
    """The console's templates in ``lang`` (one environment per language, made once)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             extensions=["jinja2.ext.i18n"])
    catalog = translations(lang)
    env.install_gettext_callables(catalog.gettext, catalog.ngettext, newstyle=True,
                                  pgettext=catalog.pgettext, npgettext=catalog.npgettext)
    env.globals.update(lang=lang, label=lambda kind, value: label(lang, kind, value),
                       tr=lambda value: translate(value, lang))
    env.filters["when"] = time_element
    # Counts as the language writes them (1,234), for ngettext's num: ngettext(…, n, num=n|number)
    env.filters["number"] = lambda n: format_decimal(n, locale=lang)
    return env


def message(lang: str, value: Text | str) -> str:
    """A ``Text`` (or plain data) in ``lang``, for the console's JSON answers."""
    return translate(value, lang)
