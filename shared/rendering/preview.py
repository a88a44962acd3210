"""A stored message as its recipient got it, for people to read: the sender's composer again.

The console shows a message "as sent" by composing its row exactly as a
sender does (``Composer.compose``: the template's values, the tracked links
and the open pixel, the text part, the extra headers) and writing its
headers as the transports that send bytes do (``build_mime``): one way to
render, so the page cannot show what the recipient did not get. (A row sent
by SES's bulk call was rendered by SES from a template mailpipe made to
render alike: shared.rendering.bulk. A message submitted over SMTP is its
bytes as sent, read back into parts.)

What the preview adds is only for the page that frames it (``framed``): inline
images (``cid:``) as ``data:`` URLs, and links that open nowhere (the frame
is sandboxed without popups), so a look at a message never clicks its links.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email import message_from_bytes, policy

from shared.db.messages import ClaimedMessage
from shared.intake.addresses import address_of
from shared.intake.attachments import Attachment
from shared.rendering.compose import Composer
from shared.rendering.mime import build_mime
from shared.rendering.submitted import field_name, sendable, split_headers
from shared.rendering.tracking import Tracker
from shared.transports.base import Composed

#: The MIME structure's own headers: how the parts are packed, not what the message says.
_STRUCTURE = frozenset({"content-type", "content-transfer-encoding", "mime-version"})
_HEAD = re.compile(r"<head\b[^>]*>", re.IGNORECASE)
_DOCTYPE = re.compile(r"\s*<!doctype\b[^>]*>", re.IGNORECASE)


@dataclass(frozen=True)
class AsSent:
    composed: Composed
    #: The message's header lines, in order, decoded for reading (RFC 2047 words as text).
    headers: tuple[tuple[str, str], ...]


def as_sent(message: ClaimedMessage, tracker: Tracker | None, *,
            sent_at: datetime | None) -> AsSent:
    """``message`` composed as a sender composes it (raises as the sender's compose would:
    a template value missing, …), with its headers as sent at ``sent_at``. Without
    ``sent_at`` (not sent yet) there is no Date; without a Message-ID fixed at intake,
    none is shown (the provider chooses it when it sends)."""
    if message.raw is not None:
        return _submitted(message, tracker)
    composed = Composer(size=0).compose(message, tracker)
    mime = build_mime(replace(composed, attachments=()), now=sent_at or datetime.now(UTC))
    dropped = set(_STRUCTURE)
    if sent_at is None:
        dropped.add("date")
    if composed.message_id is None:
        dropped.add("message-id")
    headers = tuple((name, str(value)) for name, value in mime.items()
                    if name.lower() not in dropped)
    return AsSent(composed, headers)


def _submitted(message: ClaimedMessage, tracker: Tracker | None) -> AsSent:
    """A message submitted over SMTP: its bytes as a sender sends them
    (shared.rendering.submitted), read back into parts; its row's recipient as its Bcc
    when no header names it. A Message-ID the client did not give is not shown (each
    send makes its own)."""
    # Line ends as a mail reader shows them (SMTP carries CRLF).
    sent = message_from_bytes(sendable(message, tracker).replace(b"\r\n", b"\n"),
                              policy=policy.default)
    html, text = sent.get_body(("html",)), sent.get_body(("plain",))
    own_id = any(field_name(f) == "message-id" for f in split_headers(message.raw)[0])
    dropped = _STRUCTURE if own_id else _STRUCTURE | {"message-id"}
    to, cc = _listed(sent, "To"), _listed(sent, "Cc")
    # The row's recipient, when no header names it, was a Bcc: reached by its envelope only.
    named = {address_of(a).lower() for a in (*to, *cc)}
    bcc = () if message.to_addr.lower() in named else (message.to_addr,)
    composed = Composed(
        from_header=str(sent["From"] or ""), to=to, cc=cc, bcc=bcc,
        subject=str(sent["Subject"] or ""),
        html=html.get_content() if html is not None else None,
        text=text.get_content() if text is not None else "",
        reply_to=str(sent["Reply-To"]) if sent["Reply-To"] else None,
        attachments=tuple(_files(sent, html, text)),
        message_id=str(sent["Message-ID"]).strip("<>") if own_id else None)
    headers = tuple((name, str(value)) for name, value in sent.items()
                    if name.lower() not in dropped)
    return AsSent(composed, headers)


def _files(message, *bodies) -> Iterator[Attachment]:
    """Every part but the bodies shown: attached files, and inline ones (``cid:``) where a
    multipart/related part holds them."""
    for part in message.walk():
        if not part.is_multipart() and not any(part is body for body in bodies):
            yield Attachment(part.get_filename() or "", part.get_content_type(),
                             part.get_payload(decode=True) or b"",
                             (part["Content-ID"] or "").strip().strip("<>") or None)


def _listed(message, name: str) -> tuple[str, ...]:
    return tuple(str(a) for a in message[name].addresses) if message[name] else ()


def framed(html: str, attachments) -> str:
    """``html`` for a sandboxed frame: its inline images as ``data:`` URLs (the frame loads
    nothing else) and every link opening a new window (which the sandbox refuses)."""
    for attachment in attachments:
        if attachment.content_ref and attachment.content_type.startswith("image/"):
            url = (f"data:{attachment.content_type};base64,"
                   f"{base64.b64encode(attachment.data).decode()}")
            html = html.replace(f"cid:{attachment.content_ref}", url)
    base = '<base target="_blank">'
    # After <head>, else after a doctype (before it, the page would turn to quirks mode).
    at = _HEAD.search(html) or _DOCTYPE.match(html)
    end = at.end() if at else 0
    return html[:end] + base + html[end:]
