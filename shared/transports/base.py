"""The interface every transport implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Relay:
    """A tenant's own SMTP server, as stored: the password stays encrypted until used."""

    id: int
    url: str
    username: str
    password_encrypted: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Envelope:
    """Who the provider delivers to, and the bytes it delivers.

    ``relay`` set: deliver through that tenant SMTP server, not the
    configured transport.
    """

    mail_from: str
    recipients: tuple[str, ...]
    raw: bytes = field(repr=False)
    relay: Relay | None = None


class Transport(Protocol):
    """Sends one message; returns the provider's message id.

    Raises ``shared.errors.TransportError`` whose ``failure`` says whether the
    message may be sent again. A transport never retries on its own: the
    pipeline alone decides, so an ambiguous failure is never resent blindly.
    """

    def send(self, envelope: Envelope) -> str: ...
