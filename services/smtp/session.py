"""One SMTP connection: aiosmtpd's session, with AUTH checked by the handler off the loop.

aiosmtpd decodes AUTH PLAIN and LOGIN itself and hands the credentials to a
synchronous ``authenticator``. Checking an API key reads PostgreSQL and
Redis, which must not stall every other connection on the event loop, so
here ``_authenticate`` returns the handler's coroutine and the two
mechanisms await it. The session also tells the handler when it ends, so a
shutdown knows which transactions are still in flight.
"""

from __future__ import annotations

import inspect
import logging

from aiosmtpd.smtp import SMTP, AuthResult

from shared.metrics.instruments import SMTP_REPLIES


class _KnownWarnings(logging.Filter):
    """aiosmtpd's log warnings about what is meant here: it sets the deprecated
    ``Session.login_data`` itself on every AUTH, and an implicit-TLS session requires
    AUTH without "requiring TLS" in its sense (STARTTLS): it is TLS from the start."""

    KNOWN = ("login_data is deprecated", "auth_require_tls == False")

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(known in record.getMessage() for known in self.KNOWN)


logging.getLogger("mail.log").addFilter(_KnownWarnings())


class Session(SMTP):
    """An SMTP connection whose AUTH is ``handler.authenticate`` (a coroutine)."""

    def _authenticate(self, mechanism: str, auth_data):
        return self.event_handler.authenticate(self, mechanism, auth_data)

    async def auth_PLAIN(self, _, args: list[str]) -> AuthResult:
        return await _settled(await super().auth_PLAIN(_, args))

    async def auth_LOGIN(self, _, args: list[str]) -> AuthResult:
        return await _settled(await super().auth_LOGIN(_, args))

    async def push(self, status) -> None:
        code = status[:3].decode() if isinstance(status, bytes) else status[:3]
        if code.isdigit():
            SMTP_REPLIES.labels(code).inc()
        await super().push(status)

    def connection_lost(self, error: Exception | None) -> None:
        self.event_handler.ended(self.session)
        super().connection_lost(error)


async def _settled(result):
    """The mechanism's result: the handler's check awaited, or aiosmtpd's own refusal."""
    return await result if inspect.isawaitable(result) else result
