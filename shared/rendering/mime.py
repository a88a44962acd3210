"""The RFC 5322 bytes of a composed message, for the transports that send bytes.

SES builds the MIME itself from a message's parts (shared.rendering.compose);
SMTP, tenant relays, the file transport and SES's Raw content (what its
Simple content cannot say) get the bytes built here.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from shared.db.messages import ClaimedMessage
from shared.intake.addresses import address_of
from shared.intake.attachments import add_attachments
from shared.rendering.compose import Composer, html_to_text
from shared.rendering.tracking import Tracker
from shared.transports.base import Composed

__all__ = ["build_mime", "html_to_text", "render"]


def build_mime(composed: Composed, *, now) -> EmailMessage:
    """The message for ``composed``: text and HTML alternatives, then its files.

    Bcc recipients are only in the envelope, never in a header.
    """
    mime = EmailMessage()
    mime["Subject"] = composed.subject
    mime["From"] = composed.from_header
    mime["To"] = ", ".join(composed.to)
    if composed.cc:
        mime["Cc"] = ", ".join(composed.cc)
    if composed.reply_to:
        mime["Reply-To"] = composed.reply_to
    mime["Date"] = format_datetime(now)
    if composed.message_id:
        mime["Message-ID"] = f"<{composed.message_id}>"
    else:
        domain = address_of(composed.from_header).rpartition("@")[2] or None
        mime["Message-ID"] = make_msgid(domain=domain)
    for name, value in composed.headers:
        mime[name] = value
    mime.set_content(composed.text, cte="quoted-printable")
    if composed.html:
        mime.add_alternative(composed.html, subtype="html", cte="quoted-printable")
    add_attachments(mime, composed.attachments)
    return mime


def render(message: ClaimedMessage, *, now, tracker: Tracker | None = None) -> EmailMessage:
    """The RFC 5322 message for one claimed row (personalised, tracked, with its headers)."""
    return build_mime(Composer(size=0).compose(message, tracker), now=now)
