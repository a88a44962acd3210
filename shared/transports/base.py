"""The interface every transport implements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

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

    ``pace`` is called as late as the transport can, so that whatever time
    building the request takes cannot bunch sends up after their slots.
    """

    def send(self, envelope: Envelope, pace: Pace = no_pace) -> str: ...
