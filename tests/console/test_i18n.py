"""Every console string exists in English and Korean; the language follows the browser."""

from __future__ import annotations

import re
from pathlib import Path

from services.console.i18n import pick_language, translator
from services.console.strings import EN, KO

CONSOLE = Path(__file__).resolve().parents[2] / "services" / "console"


def test_both_languages_have_the_same_strings():
    assert set(EN) == set(KO)
    assert all(KO[key].strip() for key in KO)


def test_every_string_a_page_names_exists():
    used = set()
    for path in [*CONSOLE.glob("templates/*.html"), *CONSOLE.glob("pages/*.py")]:
        used |= set(re.findall(r"""t\(["']([a-z_]+\.[a-z_]+)["']""", path.read_text()))
        used |= set(re.findall(r'error="([a-z_]+\.[a-z_]+)"', path.read_text()))
    missing = sorted(key for key in used if key not in EN)
    assert not missing


def test_the_language_is_the_browsers_best_supported_choice():
    assert pick_language(None, "ko-KR,ko;q=0.9,en-US;q=0.8") == "ko"
    assert pick_language(None, "fr-FR,fr;q=0.9,en;q=0.5,ko;q=0.4") == "en"
    assert pick_language(None, "en;q=0.2, ko;q=0.8") == "ko"
    assert pick_language("en", "ko-KR") == "en"  # the switch wins
    assert pick_language(None, None) == "en"
    assert translator("ko")("nav.templates") == "템플릿"
