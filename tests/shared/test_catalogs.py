"""Every message the code can raise or a page can show has its Korean, and a right one."""

from __future__ import annotations

from scripts.messages import extract, problems, read, untranslated
from shared.i18n import Text, ntext


def test_the_korean_catalog_translates_every_message_the_code_has():
    template = extract()
    assert len(template) > 100  # the extraction found the code's messages
    assert untranslated(read("ko"), template) == []


def test_translations_keep_their_msgids_placeholders():
    assert problems(read("ko")) == []


def test_a_text_is_english_for_the_api_and_korean_for_the_console():
    text = Text("%(email)s is not allowed to use this console. Ask an administrator to "
                "add it to MAILPIPE_CONSOLE_ALLOW.", email="a@example.com")
    assert str(text).startswith("a@example.com is not allowed")
    assert text.translate("ko").startswith("a@example.com")
    assert text.translate("ko") != str(text)


def test_plural_texts_pick_their_form():
    one = ntext("%(num)s row", "%(num)s rows", 1)
    assert str(one) == "1 row"
    assert str(ntext("%(num)s row", "%(num)s rows", 3)) == "3 rows"
