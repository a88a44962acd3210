"""Mailboxes: a display name written as text (``mailbox_text``, what lists and views show)
reads back as the same name, whatever it holds."""

from __future__ import annotations

import pytest

from shared.intake.addresses import NamedAddress, mailbox_text, parse_mailbox


@pytest.mark.parametrize("name", ["홍길동", "Kim, Minsu", 'Kim "MS" Minsu', "J. Doe",
                                  "back\\slash", "=?utf-8?q?Kim?=", None])
def test_a_mailbox_written_as_text_reads_back_as_the_same_name(name):
    assert parse_mailbox(mailbox_text("a@example.com", name)) == NamedAddress(
        "a@example.com", name)


def test_encoded_words_given_unquoted_are_decoded():
    assert parse_mailbox("=?utf-8?b?7ZmN6ri464+Z?= <a@example.com>").name == "홍길동"
