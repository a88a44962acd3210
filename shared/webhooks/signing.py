"""Signing secrets and signatures, per the Standard Webhooks specification.

A secret is ``whsec_`` + base64 of 32 random bytes (the format every Standard
Webhooks library reads). A delivery is signed with the specification's own
Python library (``standardwebhooks``): HMAC-SHA256 over ``id.timestamp.body``,
sent as ``v1,<base64>``. While a rotated-out secret is still valid, each
delivery carries both signatures, space-separated, so a receiver verifies
with either secret (the libraries accept any signature of the list).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks import Webhook

from shared.secrets import WEBHOOK_PURPOSE, SecretBox

PREFIX = "whsec_"
#: Random bytes in a new secret (the specification allows 24 to 64).
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh ``whsec_…`` signing secret."""
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def webhook_id(event_id: int) -> str:
    """The ``webhook-id`` of an event: the same for every retry and replay of it, so a
    receiver deduplicates by it."""
    return f"evt_{event_id}"


def signed_headers(secrets_: Sequence[str], message_id: str, at: datetime,
                   body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body``, signed with each of ``secrets_``
    (the current secret first)."""
    signatures = " ".join(Webhook(s).sign(message_id, at, body) for s in secrets_)
    return {"webhook-id": message_id, "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signatures}


def webhook_box(secret_key: str | None) -> SecretBox:
    """The box signing secrets are kept encrypted in (ConfigError without a secret key)."""
    return SecretBox(secret_key, purpose=WEBHOOK_PURPOSE, what="webhook secrets")
