"""The interface every transport implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Envelope:
    """Who the provider delivers to, and the bytes it delivers."""

    mail_from: str
    recipients: tuple[str, ...]
    raw: bytes


class Transport(Protocol):
    """Sends one message; returns the provider's message id.

    Raises ``shared.errors.TransportError`` whose ``failure`` says whether the
    message may be sent again. A transport never retries on its own: the
    pipeline alone decides, so an ambiguous failure is never resent blindly.
    """

    def send(self, envelope: Envelope) -> str: ...
