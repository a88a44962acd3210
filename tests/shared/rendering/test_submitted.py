"""The bytes a submitted message is sent as (shared.rendering.submitted)."""

from __future__ import annotations

from shared.db.messages import ClaimedMessage
from shared.rendering.submitted import sendable


def submitted(raw: bytes, **fields) -> ClaimedMessage:
    return ClaimedMessage(id=7, attempt=1, from_addr="Me <me@example.com>",
                          to_addr="to@dest.test", subject="s", html="h", text=None,
                          reply_to=None, raw=raw, **fields)


def test_folded_bcc_and_instruction_headers_go_the_rest_stays_byte_for_byte():
    raw = (b"From: me@example.com\r\nBcc: a@dest.test,\r\n b@dest.test\r\nTo: to@dest.test\r\n"
           b"X-Mailpipe-Topic: t\r\nx-mailpipe-tracking: off\r\nMessage-ID: <m@example.com>\r\n"
           b"Subject: folded\r\n\tsubject\r\n\r\nBcc: not a header\r\n")
    assert sendable(submitted(raw), None) == (
        b"X-Mailpipe-Id: 7\r\nFrom: me@example.com\r\nTo: to@dest.test\r\n"
        b"Message-ID: <m@example.com>\r\nSubject: folded\r\n\tsubject\r\n\r\n"
        b"Bcc: not a header\r\n")


def test_a_message_without_message_id_gets_one_in_the_senders_domain():
    sent = sendable(submitted(b"From: me@example.com\nSubject: s\n\nbody\n"), None)
    head, _, body = sent.partition(b"\n\n")
    assert body == b"body\n"  # the message's own line ends
    lines = head.split(b"\n")
    assert lines[0] == b"X-Mailpipe-Id: 7"
    assert lines[1].startswith(b"Message-ID: <") and lines[1].endswith(b"@example.com>")
