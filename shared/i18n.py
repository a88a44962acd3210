"""The words mailpipe shows to people, in English and Korean: one gettext catalog.

English is the source language: every message is written in English in the
code (the ``msgid``), and ``shared/locale/ko/LC_MESSAGES/mailpipe.po`` holds
its Korean. Babel extracts the messages (``./scripts/messages``), and
``tests/shared/test_catalogs.py`` fails when the catalog misses one.

A message is marked for extraction where it is written:

- ``Text("row %(row)s: %(problem)s", row=4, problem=...)``: a message not yet
  in a language, with its parameters. Domain errors carry one
  (``RequestError(code, Text(...))``); the API sends its English (``str()``),
  the console its translation (``text.translate(lang)``).
- ``ntext(singular, plural, n, **params)``: the same with plural forms.
- ``N_("...")`` / ``NP_(context, "...")``: a label kept in a table and
  translated where it is shown.

Placeholders are Python's ``%(name)s``, as gettext's python-format expects
(Babel checks that both languages name the same ones).
"""

from __future__ import annotations

import gettext
from collections.abc import Mapping
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

#: Every language mailpipe speaks; the first is the source and the fallback.
LANGUAGES = ("en", "ko")
DOMAIN = "mailpipe"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"


def N_(message: str) -> str:
    """Marks ``message`` for extraction; it is translated where it is shown."""
    return message


def NP_(context: str, message: str) -> str:
    """Marks ``message`` in ``context`` for extraction (``pgettext`` translates it)."""
    return message


def catalog_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The catalog of ``lang``, compiled in memory from its ``.po`` (English: the msgids)."""
    if lang not in LANGUAGES[1:]:
        return gettext.NullTranslations()
    with catalog_path(lang).open("rb") as po:
        catalog = read_po(po, locale=lang, domain=DOMAIN)
    mo = BytesIO()
    write_mo(mo, catalog)
    mo.seek(0)
    return gettext.GNUTranslations(mo)


class Text:
    """A message for people, not yet in a language: an English msgid and its parameters.

    Parameters that are themselves ``Text`` are translated with it, so a row
    number and the problem found in that row read as one sentence in either
    language.
    """

    __slots__ = ("message", "plural", "count", "params")

    def __init__(self, message: str, /, **params: Any) -> None:
        self.message = message
        self.plural: str | None = None
        self.count: int | None = None
        self.params: Mapping[str, Any] = params

    def translate(self, lang: str) -> str:
        catalog = translations(lang)
        if self.plural is None:
            template = catalog.gettext(self.message)
        else:
            template = catalog.ngettext(self.message, self.plural, self.count)
        if not self.params:
            return template
        return template % {name: value.translate(lang) if isinstance(value, Text) else value
                           for name, value in self.params.items()}

    def __str__(self) -> str:
        return self.translate(LANGUAGES[0])

    def __repr__(self) -> str:
        return f"Text({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Text) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))


def ntext(singular: str, plural: str, n: int, /, **params: Any) -> Text:
    """A ``Text`` whose words depend on ``n``, written ``%(num)s`` as in Jinja2's ``ngettext``."""
    text = Text(singular, num=n, **params)
    text.plural, text.count = plural, n
    return text


def translate(value: Text | str | None, lang: str) -> str | None:
    """``value`` in ``lang``: a ``Text`` translated, a plain string (data, not words) as it is."""
    return value.translate(lang) if isinstance(value, Text) else value
