"""A stored message as its recipient got it, for people to read: the sender's composer again.

The console shows a message "as sent" by composing its row exactly as a
sender does (``Composer.compose``: the template's values, the tracked links
and the open pixel, the text part, the extra headers) and writing its
headers as the transports that send bytes do (``build_mime``): one way to
render, so the page cannot show what the recipient did not get. (A row sent
by SES's bulk call was rendered by SES from a template mailpipe made to
render alike: shared.rendering.bulk.)

What the preview adds is only for the page that frames it (``framed``): inline
images (``cid:``) as ``data:`` URLs, and links that open nowhere (the frame
is sandboxed without popups), so a look at a message never clicks its links.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from shared.db.messages import ClaimedMessage
from shared.rendering.compose import Composer
from shared.rendering.mime import build_mime
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
