"""Encrypting tenant SMTP passwords (and webhook signing secrets) at rest.

The key is derived from MAILPIPE_SECRET_KEY with HKDF (a purpose label keeps
it distinct from the HMAC keys other features derive from the same secret);
the ciphertext is Fernet (AES-128-CBC + HMAC-SHA256), so a tampered or
foreign value fails to decrypt instead of yielding garbage. Rotating
MAILPIPE_SECRET_KEY makes stored passwords unreadable: their sends fail
permanently and the tenant's next request stores the password again.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.errors import ConfigError, MailpipeError

_PURPOSE = b"mailpipe smtp relay password v1"
#: Webhook signing secrets get a key of their own (shared.webhooks.signing).
WEBHOOK_PURPOSE = b"mailpipe webhook secret v1"


class SecretError(MailpipeError):
    """Raised when a stored secret cannot be decrypted with the current key."""


class SecretBox:
    """Encrypts and decrypts short secrets with a key derived from the secret key.

    ``purpose`` keeps each kind of secret under a key of its own; ``what`` names
    the kind in errors ("SMTP passwords", "webhook secrets").
    """

    def __init__(self, secret_key: str | None, *, purpose: bytes = _PURPOSE,
                 what: str = "tenant SMTP passwords") -> None:
        self.what = what
        if not secret_key:
            raise ConfigError(f"MAILPIPE_SECRET_KEY: required to store {what} encrypted")
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                       info=purpose).derive(secret_key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, ValueError) as exc:
            raise SecretError(
                f"cannot decrypt one of the stored {self.what} (MAILPIPE_SECRET_KEY changed?)"
            ) from exc

    def __repr__(self) -> str:  # never show key material in logs or tracebacks
        return "SecretBox(<hidden>)"
