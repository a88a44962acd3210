"""Keep the translation catalogs in step with the code: extract, update, check.

Every message is extracted with Babel from the Python code (``Text``,
``ntext``, ``N_``, ``NP_``, ``_``…) and the console's templates (Jinja2's
``_``, ``ngettext``, ``pgettext``), and merged into each language's ``.po``
under ``shared/locale``: new messages come in untranslated, messages no longer
in the code are dropped. A translator then fills in the ``msgstr``s.

    python -m scripts.messages            # update shared/locale/*/LC_MESSAGES/mailpipe.po
    python -m scripts.messages --check    # exit 1 when a message lacks a translation

``tests/shared/test_catalogs.py`` runs the check.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from shared.i18n import DOMAIN, LANGUAGES, catalog_path

ROOT = Path(__file__).resolve().parents[1]
#: Where messages are written, and how each kind of file is read.
SOURCES = ("shared", "services")
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
#: The marking functions (babel's keyword specs: argument numbers, ``c`` the context).
KEYWORDS = {
    "_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3), "N_": None, "NP_": ((1, "c"), 2), "Text": None,
    "ntext": (1, 2),
}


def extract() -> Catalog:
    """Every message the code can show, as a template catalog."""
    template = Catalog(domain=DOMAIN, project="mailpipe")
    for source in SOURCES:
        for filename, lineno, message, comments, context in extract_from_dir(
            ROOT / source, METHODS, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",),
            strip_comment_tags=True,
        ):
            template.add(message, None, [(f"{source}/{filename}", lineno)],
                         auto_comments=comments, context=context)
    return template


def read(lang: str) -> Catalog:
    with catalog_path(lang).open("rb") as po:
        return read_po(po, locale=lang, domain=DOMAIN)


def untranslated(catalog: Catalog, template: Catalog) -> list[str]:
    """The messages of ``template`` that ``catalog`` lacks or leaves (partly) empty."""
    missing = []
    for message in template:
        if not message.id:
            continue
        found = catalog.get(message.id, message.context)
        strings = found.string if found else None
        if not found or not all(strings if isinstance(strings, tuple) else (strings,)) \
                or found.fuzzy:
            key = message.id if isinstance(message.id, str) else message.id[0]
            missing.append(f"{message.context + ' | ' if message.context else ''}{key}")
    return missing


def problems(catalog: Catalog) -> list[str]:
    """Translations whose placeholders differ from their msgid's (Babel's checkers)."""
    return [f"{message.id!r}: {error}" for message, errors in catalog.check()
            for error in errors]


def update(lang: str, template: Catalog) -> None:
    catalog = read(lang)
    catalog.update(template, no_fuzzy_matching=True)
    catalog.obsolete.clear()
    with catalog_path(lang).open("wb") as po:
        write_po(po, catalog, width=100, include_lineno=False, include_previous=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.messages", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help="report untranslated messages instead of updating")
    args = parser.parse_args(argv)
    template = extract()
    failed = False
    for lang in LANGUAGES[1:]:
        if not args.check:
            update(lang, template)
        catalog = read(lang)
        for line in untranslated(catalog, template) + problems(catalog):
            failed = True
            print(f"{catalog_path(lang).relative_to(ROOT)}: {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
