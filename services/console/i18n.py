"""Console strings in English and Korean, and choosing between them.

The language is the ``mp_lang`` cookie (the switch in the header), else the
best of the browser's Accept-Language, else English. ``STRINGS`` holds
every string the console shows; the two languages have the same keys (a
test checks it, and that every key the pages use exists).
"""

from __future__ import annotations

from collections.abc import Callable

from services.console.strings import EN, KO

LANGUAGES = ("en", "ko")
STRINGS = {"en": EN, "ko": KO}


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
    return "en"


def translator(lang: str) -> Callable[..., str]:
    """``t(key, **values)``: the string in ``lang`` with ``{values}`` filled in.

    An unknown key shows as itself rather than failing the page.
    """
    strings = STRINGS.get(lang, EN)

    def t(key: str, **values: object) -> str:
        text = strings.get(key) or EN.get(key) or key
        return text.format(**values) if values else text

    return t
