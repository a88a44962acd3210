"""The console's language follows the browser, and its pages speak it."""

from __future__ import annotations

from services.console.i18n import label, pick_language, templates


def test_the_language_is_the_browsers_best_supported_choice():
    assert pick_language(None, "ko-KR,ko;q=0.9,en-US;q=0.8") == "ko"
    assert pick_language(None, "fr-FR,fr;q=0.9,en;q=0.5,ko;q=0.4") == "en"
    assert pick_language(None, "en;q=0.2, ko;q=0.8") == "ko"
    assert pick_language("en", "ko-KR") == "en"  # the switch wins
    assert pick_language(None, None) == "en"


def test_labels_take_their_context():
    assert label("ko", "state", "sent") == "발송 완료"
    assert label("ko", "stat", "sent") == "발송"
    assert label("en", "state", "sent") == "Sent"
    assert label("ko", "state", "no-such-state") == "no-such-state"


def test_templates_render_plural_forms_in_each_language():
    source = '{{ ngettext("%(num)s message found", "%(num)s messages found", n) }}'
    english, korean = (templates(lang).from_string(source) for lang in ("en", "ko"))
    assert english.render(n=1) == "1 message found"
    assert english.render(n=2) == "2 messages found"
    assert korean.render(n=1) == korean.render(n=1).strip() and "1" in korean.render(n=1)
    assert korean.render(n=1) != english.render(n=1)
