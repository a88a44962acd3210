"""Messages as SMTP clients submit them, for the SMTP tests."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid


def korean_message(*, sender: str = "발신자 <news@example.com>",
                   to: str = "받는사람 <to@dest.test>", cc: str | None = "cc@dest.test",
                   bcc: str | None = "hidden@dest.test", message_id: str | None = None,
                   **headers: str) -> EmailMessage:
    """A message with a Korean subject, display names and attachment file name, a Bcc
    header and ``headers`` (``X_Mailpipe_Topic="t"`` is X-Mailpipe-Topic: t)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    if bcc:
        message["Bcc"] = bcc
    message["Subject"] = "안녕하세요 — 월간 소식"
    message["Message-ID"] = message_id or make_msgid(domain="example.com")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("본문입니다.\n")
    message.add_alternative('<p>본문 <a href="https://example.com/a">링크</a></p>',
                            subtype="html")
    message.add_attachment("첨부 내용".encode(), maintype="text", subtype="plain",
                           filename="보고서.txt")
    return message
