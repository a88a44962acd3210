"""What SMTP intake reads from a submitted message's bytes (shared.intake.submissions)."""

from __future__ import annotations

import pytest

from shared.errors import InvalidRequest
from shared.intake.submissions import read_submission


def test_the_parts_describe_the_message_and_the_instruction_headers_are_read():
    read = read_submission(
        b"From: =?utf-8?b?67O064K4?= <a@example.com>\r\n"
        b"Subject: =?utf-8?b?7JWI64WV?=\r\n\tfolded\x07\r\n"
        b"Message-ID: <id-1@example.com>\r\nX-Mailpipe-Topic:  news \r\n"
        b"X-Mailpipe-Scheduled-At: 2030-01-01T09:00:00+09:00\r\nX-Mailpipe-Tracking: YES\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nline one\r\n<b>two</b>\r\n")
    assert read.from_mailbox == "보낸 <a@example.com>"
    assert read.subject == "안녕 folded"  # one printable line
    assert read.message_id == "id-1@example.com"
    assert (read.topic_id, read.scheduled_at, read.tracking) == (
        "news", "2030-01-01T09:00:00+09:00", True)
    assert read.text == "line one\n<b>two</b>\n"
    assert read.html == "<pre>line one\n&lt;b&gt;two&lt;/b&gt;\n</pre>"


def test_defaults_without_instruction_headers():
    read = read_submission(b"From: a@example.com\r\n\r\nbody\r\n")
    assert (read.topic_id, read.scheduled_at, read.tracking, read.message_id, read.subject) == (
        "smtp", None, False, None, "-")


@pytest.mark.parametrize("header", [b"", b"From: undisclosed\r\n",
                                    b"From: a@example.com, b@example.com\r\n"])
def test_a_message_without_exactly_one_from_address_is_refused(header):
    with pytest.raises(InvalidRequest) as refused:
        read_submission(header + b"Subject: x\r\n\r\nbody\r\n")
    assert refused.value.field == "From"


def test_a_tracking_header_neither_on_nor_off_is_refused_naming_it():
    with pytest.raises(InvalidRequest) as refused:
        read_submission(b"From: a@example.com\r\nX-Mailpipe-Tracking: maybe\r\n\r\nx\r\n")
    assert refused.value.field == "X-Mailpipe-Tracking"
