"""Turning a claimed row into the MIME message a transport sends."""

from __future__ import annotations

import re
import threading
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from html import unescape
from html.parser import HTMLParser

from shared.db.messages import ClaimedMessage
from shared.intake.addresses import address_of
from shared.intake.attachments import add_attachments
from shared.rendering.mustache import personalize
from shared.rendering.tracking import Tracker, instrumented, unsubscribe_headers


class _TextExtractor(HTMLParser):
    """Plain-text fallback for HTML bodies: text content, block elements as line breaks."""

    BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = unescape("".join(parser.parts))
    return re.sub(r"\n\s*\n+", "\n\n", text).strip()


def render(message: ClaimedMessage, *, now, tracker: Tracker | None = None) -> EmailMessage:
    """The RFC 5322 message for one recipient: text and HTML alternatives.

    With a ``tracker``: tracked links and an open pixel (unless the message
    has tracking off), and one-click List-Unsubscribe headers on bulk mail.
    """
    message = personalize(message)  # a template's {{variables}}, before anything reads the parts
    message = instrumented(message, tracker)
    mime = EmailMessage()
    mime["Subject"] = message.subject
    mime["From"] = message.from_addr
    mime["To"] = ", ".join((message.to_addr, *message.extra_to))
    if message.cc:
        mime["Cc"] = ", ".join(message.cc)
    # Bcc recipients are only in the envelope, never in a header.
    if message.reply_to:
        mime["Reply-To"] = message.reply_to
    mime["Date"] = format_datetime(now)
    if message.mime_message_id:
        mime["Message-ID"] = f"<{message.mime_message_id}>"
    else:
        mime["Message-ID"] = make_msgid(domain=address_of(message.from_addr).rpartition("@")[2]
                                        or None)
    mime["X-Mailpipe-Id"] = str(message.id)
    for name, value in unsubscribe_headers(message, tracker):
        mime[name] = value
    for name, value in message.headers:
        mime[name] = value
    if message.html:
        mime.set_content(message.text or html_to_text(message.html), cte="quoted-printable")
        mime.add_alternative(message.html, subtype="html", cte="quoted-printable")
    else:  # a text-only message (the Biz API's use_html=false)
        mime.set_content(message.text or "", cte="quoted-printable")
    add_attachments(mime, message.attachments)
    return mime


#: Headers that differ between recipients of one content; everything else
#: (Subject, From, Reply-To, MIME structure, bodies, attachments) is shared.
_PER_RECIPIENT = (b"to", b"date", b"message-id", b"x-mailpipe-id")


class RenderCache:
    """Renders a content once per sender process and reuses it for every recipient.

    Building the MIME tree with the ``email`` package costs about as much
    CPU as the SES call itself; for a campaign every recipient of one
    content gets the same bytes except To, Date, Message-ID and
    X-Mailpipe-Id. Messages whose bytes differ otherwise (template values,
    tracked links, one-click unsubscribe, Cc, custom headers, a fixed
    Message-ID) are rendered whole every time.
    """

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._entries: dict[tuple, tuple[bytes, bytes]] = {}
        self._lock = threading.Lock()

    def render_bytes(self, message: ClaimedMessage, *, now, tracker: Tracker | None) -> bytes:
        if not self._shareable(message, tracker):
            return render(message, now=now, tracker=tracker).as_bytes()
        key = (message.content_id, message.from_addr)
        with self._lock:
            entry = self._entries.get(key)
        if entry is None:
            entry = _split_shared(render(message, now=now, tracker=tracker).as_bytes())
            with self._lock:
                if len(self._entries) >= self.size:
                    self._entries.pop(next(iter(self._entries)))
                self._entries[key] = entry
        shared_head, body = entry
        domain = address_of(message.from_addr).rpartition("@")[2] or None
        own = (f"To: {message.to_addr}\nDate: {format_datetime(now)}\n"
               f"Message-ID: {make_msgid(domain=domain)}\nX-Mailpipe-Id: {message.id}\n")
        return own.encode() + shared_head + b"\n" + body

    @staticmethod
    def _shareable(message: ClaimedMessage, tracker: Tracker | None) -> bool:
        return (
            message.content_id is not None
            and message.variables is None
            and not (message.extra_to or message.cc or message.headers or message.mime_message_id)
            and not (tracker is not None and (message.tracking or message.bulk))
        )


def _split_shared(raw: bytes) -> tuple[bytes, bytes]:
    """(the header block without per-recipient headers, the body) of a rendered message."""
    head, _, body = raw.partition(b"\n\n")
    kept: list[bytes] = []
    keep = True
    for line in head.split(b"\n"):
        if line[:1] not in (b" ", b"\t"):  # a new header, not a folded continuation
            keep = line.split(b":", 1)[0].strip().lower() not in _PER_RECIPIENT
        if keep:
            kept.append(line + b"\n")
    return b"".join(kept), body
