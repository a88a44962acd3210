"""A claimed row as the parts of its message (``Composed``), a content's shared work done once.

Personalising (a template's values), tracking (click URLs and the open
pixel), the plain-text alternative of an HTML body (shared.rendering.plaintext)
and the extra headers (X-Mailpipe-Id, one-click List-Unsubscribe, the
caller's own) all happen here. SES builds the MIME from these parts (Simple content); for the
transports that need bytes, shared.rendering.mime builds them.

``Composer`` keeps, per content, what every recipient of it shares: its
text alternative and its HTML with the tracked links found (TrackedHtml),
so a recipient of a campaign costs a token per link and a string join;
and the content's SendBulkEmail template (shared.rendering.bulk).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from shared.db.messages import ClaimedMessage
from shared.intake.addresses import NamedAddress, encoded_mailbox
from shared.rendering.mustache import personalize
from shared.rendering.plaintext import html_to_text as html_to_text  # used by bulk, mime
from shared.rendering.plaintext import text_part
from shared.rendering.tracking import TrackedHtml, Tracker, prepare_links, unsubscribe_headers
from shared.runtime.cache import MISSING, BoundedCache
from shared.transports.base import Composed


def to_header(message: ClaimedMessage) -> str:
    """The row's recipient as its To header names it: with its display name, RFC 2047
    encoded when not ASCII (SES, SMTP and MIME headers take 7-bit text)."""
    return NamedAddress(message.to_addr, message.to_name).header()


def _named(message: ClaimedMessage, addresses: tuple[str, ...]) -> tuple[str, ...]:
    """Further To or Cc addresses with the display names they were given with."""
    names = message.extra_names or {}
    return tuple(NamedAddress(a, names.get(a.lower())).header() for a in addresses)


@dataclass(frozen=True)
class SharedParts:
    """What every recipient of one content gets alike."""

    text: str
    #: The HTML with its tracked links found, when tracking is on for the content.
    tracked: TrackedHtml | None


class Composer:
    """Composes claimed messages; thread-safe, one per sender process."""

    def __init__(self, size: int = 256, max_chars: int = 64 * 1024 * 1024) -> None:
        self._shared = BoundedCache(size, max_chars)

    def compose(self, message: ClaimedMessage, tracker: Tracker | None) -> Composed:
        """The message's parts: personalised, tracked, with its extra headers."""
        tracking = tracker is not None and message.tracking and bool(message.html)
        personal = message.variables is not None
        if personal:  # a template's {{variables}}, before anything reads the parts
            message = personalize(message)
        if personal or message.content_id is None:
            html, text = self._own_parts(message, tracker if tracking else None)
        else:
            shared = self.shared(message, tracking)
            html = (shared.tracked.fill(tracker, message.id) if shared.tracked is not None
                    else message.html or None)
            text = shared.text
        return Composed(
            from_header=encoded_mailbox(message.from_addr),
            to=(to_header(message), *_named(message, message.extra_to)),
            cc=_named(message, message.cc),
            bcc=message.bcc,
            subject=message.subject,
            html=html,
            text=text,
            reply_to=message.reply_to,
            headers=(("X-Mailpipe-Id", str(message.id)),
                     *unsubscribe_headers(message, tracker), *message.headers),
            attachments=message.attachments,
            message_id=message.mime_message_id,
        )

    def shared(self, message: ClaimedMessage, tracking: bool) -> SharedParts:
        """The parts of ``message``'s content every recipient shares (made once)."""
        return self.per_content((message.content_key, tracking), lambda: SharedParts(
            text=_text_of(message.html, message.text),
            tracked=prepare_links(message.html) if tracking else None,
        ), chars=content_chars(message))

    def per_content(self, key: tuple, make: Callable[[], object], chars: int = 0):
        """What ``make`` builds from a content once, kept under ``key`` (the content id
        first) for its next recipients. ``chars``: about how large it is (its content's
        HTML and text); the last ``size`` values and ``max_chars`` characters are kept."""
        value = self._shared.get(key)
        if value is MISSING:  # (None is a value too: "this content cannot go in bulk")
            value = make()
            self._shared.put(key, value, chars)
        return value

    @staticmethod
    def _own_parts(message: ClaimedMessage, tracker: Tracker | None) -> tuple[str | None, str]:
        html = message.html or None
        if html and tracker is not None:
            html = tracker.instrument(html, message.id)
        return html, _text_of(message.html, message.text)


def content_chars(message: ClaimedMessage) -> int:
    """How large what is made from ``message``'s content may be: its HTML and text."""
    return len(message.html or "") + len(message.text or "")


def _text_of(html: str | None, text: str | None) -> str:
    """The plain-text part: the content's own, else drawn from its HTML (untracked)."""
    return text_part(html, text)
