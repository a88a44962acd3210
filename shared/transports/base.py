"""The interface every transport implements, and what it is handed to send.

A send is an ``Envelope``: who the provider delivers to, the message as
parts (``Composed``: subject, bodies, headers, files; SES builds the MIME
from them) and, built only when a transport asks for it, the RFC 5322 bytes
(SMTP, the file transport, and SES for what its Simple content cannot say).
A ``BulkSend`` is one content for many recipients, each with their own
values (SES SendBulkEmail); only transports with ``send_bulk`` take one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from shared.errors import TransportError

#: Called once by a transport right before a message leaves for the
#: provider; blocks until the message may go (the fleet's rate limiter).
#: Raises TransportError when the message must not go now.
Pace = Callable[[], None]


def no_pace() -> None:
    """Send at once."""


@dataclass(frozen=True)
class Relay:
    """A tenant's own SMTP server, as stored: the password stays encrypted until used."""

    id: int
    url: str
    username: str
    password_encrypted: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Composed:
    """One message as parts, personalised and instrumented, before any MIME exists.

    ``from_header`` may carry a display name (RFC 2047-encoded when not
    ASCII); ``headers`` are the extra ones (X-Mailpipe-Id, List-Unsubscribe,
    the caller's own), in order. ``message_id``: a Message-ID the caller
    fixed (the compat APIs), None to let the provider choose.
    """

    from_header: str
    to: tuple[str, ...]
    subject: str
    html: str | None
    text: str
    cc: tuple[str, ...] = ()
    #: Only in the envelope, never in a header.
    bcc: tuple[str, ...] = ()
    reply_to: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    #: shared.intake.attachments.Attachment items
    attachments: tuple[Any, ...] = ()
    message_id: str | None = None


@dataclass(frozen=True)
class Envelope:
    """Who the provider delivers to, and what.

    ``mime`` is the message's bytes, or a function building them, called at
    most once and only by a transport that needs bytes (``raw``).
    ``composed`` is the same message as parts, for a provider that builds
    the MIME itself. ``relay`` set: deliver through that tenant SMTP server,
    not the configured transport. ``tags``: names and values a provider that tags its
    sends records with the message (SES EmailTags); ``configuration_set``: the SES
    configuration set to name instead of the transport's own (the key's).
    """

    mail_from: str
    recipients: tuple[str, ...]
    mime: bytes | Callable[[], bytes] = field(repr=False)
    relay: Relay | None = None
    composed: Composed | None = None
    tags: tuple[tuple[str, str], ...] = ()
    configuration_set: str | None = None

    @cached_property
    def raw(self) -> bytes:
        """The RFC 5322 bytes (built on first use)."""
        return self.mime if isinstance(self.mime, bytes) else self.mime()


@dataclass(frozen=True)
class BulkEntry:
    """One recipient of a BulkSend: its values for the template's slots, its own headers."""

    to: str
    values: dict[str, str]
    headers: tuple[tuple[str, str], ...] = ()
    #: As ``Envelope.tags``, for this recipient's message.
    tags: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class BulkSend:
    """One content to many recipients in one provider call (SES SendBulkEmail).

    ``subject``, ``html`` and ``text`` are templates whose only tags are
    ``{{slot}}`` names filled from each entry's ``values`` (see
    shared.rendering.bulk: the values never change when HTML-escaped, so
    escaping and not escaping render alike). ``headers`` go to every entry.
    """

    from_header: str
    subject: str
    html: str | None
    text: str
    entries: tuple[BulkEntry, ...]
    reply_to: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    #: As ``Envelope.configuration_set`` (the entries share their content, and so a key).
    configuration_set: str | None = None


#: The outcome of one BulkEntry: the provider's message id, or why it was not sent.
EntryResult = str | TransportError


class Transport(Protocol):
    """Sends one message; returns the provider's message id.

    Raises ``shared.errors.TransportError`` whose ``failure`` says whether the
    message may be sent again. A transport never retries on its own: the
    pipeline alone decides, so an ambiguous failure is never resent blindly.

    ``pace`` is called as late as the transport can, so that whatever time
    building the request takes cannot bunch sends up after their slots.

    A transport that can send one content to many recipients in one call
    also has ``send_bulk(bulk: BulkSend, pace) -> list[EntryResult]``: one
    result per entry, in order, or one TransportError raised for the whole
    call (nothing known of any entry beyond what it says).
    """

    def send(self, envelope: Envelope, pace: Pace = no_pace) -> str: ...


def bulk_sender(transport: Transport) -> Callable[[BulkSend, Pace], list[EntryResult]] | None:
    """The transport's ``send_bulk``, or None when it sends one message per call."""
    return getattr(transport, "send_bulk", None)
