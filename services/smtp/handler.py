"""The answers of ``mailpipe smtp``: each verb checked with what it carries, DATA stored.

- AUTH (PLAIN or LOGIN, only over TLS: aiosmtpd answers 538 before): the
  password is an API key, the user name is not read (clients must send
  one: ``apikey`` by convention). An unknown or revoked key is 535, after a
  pause; an address that failed too often (the API's and the console's
  budget, MAILPIPE_AUTH_FAILURE_RATE) is refused with 454 before any lookup.
- MAIL FROM: without AUTH, 530 (aiosmtpd): no open relay; with a key revoked
  since AUTH, 530 too (the key is read again: its domains may have changed).
  A key over its intake budget (the API's), 451; a sender outside the key's
  domains, 550; a SIZE over MAILPIPE_SMTP_MAX_SIZE, 552 (aiosmtpd).
- RCPT TO: a malformed address, 553; past MAILPIPE_MAX_RECIPIENTS_PER_REQUEST
  recipients, 452 (the client sends the rest in another transaction).
- DATA: more than MAILPIPE_SMTP_MAX_SIZE bytes, 552 (aiosmtpd); then
  shared.intake.submissions stores it: 250 only after the commit, 550 for a
  header From outside the key's domains or a bad X-Mailpipe-* header, 451
  while PostgreSQL does not answer (nothing is stored: the client retries).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from aiosmtpd.smtp import AuthResult, LoginPassword
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from shared.db.keys import ApiKey, authenticated_key, get_key
from shared.errors import Forbidden, PayloadTooLarge, RequestError, TooManyRequests
from shared.intake.addresses import is_valid_address
from shared.intake.submissions import accept_submission, check_mail_from
from shared.metrics.instruments import SMTP_ROWS, SMTP_SUBMISSIONS
from shared.rate.intake import IntakeLimiter, charge_key, note_failure, refuse_if_failing
from shared.settings import Settings

log = logging.getLogger("mailpipe.smtp")

#: How long a failed AUTH waits before its 535: a guessing client is slowed
#: down on its own connection (the address's budget then refuses it).
FAILURE_PAUSE = 1.0

UNAVAILABLE = "451 4.3.0 Temporarily unable to store the message; try again later"


@dataclass
class SubmissionHandler:
    """aiosmtpd's handler: one per process, shared by every connection."""

    settings: Settings
    engine: Engine
    broker: RedisBroker
    #: Failed authentications per client address (not named auth_*: aiosmtpd would take
    #: any handler attribute so named for an AUTH mechanism).
    failure_budget: IntakeLimiter
    #: Each key's intake budget (MAILPIPE_INTAKE_RATE or the key's own), as the API's:
    #: a transaction costs what a request does.
    intake_budget: IntakeLimiter
    failure_pause: float = FAILURE_PAUSE
    #: Sessions between an accepted MAIL and the answer to their DATA (or their end).
    in_flight: set = field(default_factory=set, init=False, repr=False)
    #: Set at shutdown: a transaction in flight finishes, no new one starts.
    stopping: bool = field(default=False, init=False)
    _idle: asyncio.Event | None = field(default=None, init=False, repr=False)

    async def authenticate(self, server, mechanism: str, auth_data: LoginPassword
                           ) -> AuthResult:
        """The session's key, for AUTH PLAIN and LOGIN (see ``services.smtp.session``)."""
        address = _peer_address(server.session.peer)
        try:
            await asyncio.to_thread(refuse_if_failing, self.failure_budget, address)
        except TooManyRequests as exc:
            return AuthResult(success=False, handled=False, message=f"454 4.7.0 {exc.message}")
        try:
            key = await asyncio.to_thread(self._find_key, auth_data.password)
        except SQLAlchemyError as exc:
            log.warning("AUTH from %s: key lookup failed: %s", address, exc)
            return AuthResult(success=False, handled=False,
                              message="454 4.7.0 Temporary authentication failure; try again")
        if key is None:
            await asyncio.to_thread(note_failure, self.failure_budget, address)
            log.info("AUTH %s from %s: unknown or revoked key", mechanism, address)
            await asyncio.sleep(self.failure_pause)
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=key)

    def _find_key(self, password: bytes) -> ApiKey | None:
        try:
            plain = password.decode("utf-8")
        except UnicodeDecodeError:
            return None
        with self.engine.connect() as conn:
            return authenticated_key(conn, plain)

    async def handle_MAIL(self, server, session, envelope, address: str,
                          mail_options: list[str]) -> str:
        if self.stopping:
            return "421 4.3.2 mailpipe is shutting down; send again on a new connection"
        try:
            key = await asyncio.to_thread(self._still_active, session.auth_data)
        except SQLAlchemyError as exc:
            log.warning("MAIL from %s: key lookup failed: %s", _peer_address(session.peer), exc)
            return UNAVAILABLE
        if key is None:
            session.authenticated = False
            return "530 5.7.0 The API key was revoked; authenticate again"
        session.auth_data = key
        try:
            await asyncio.to_thread(charge_key, self.intake_budget, key)
            check_mail_from(key, address, self.settings)
        except RequestError as exc:
            return reply_for(exc)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        self._begin(session)
        return "250 2.1.0 OK"

    def _still_active(self, key: ApiKey) -> ApiKey | None:
        """``key`` as it is now (its domains may have changed), or None once revoked: a
        connection may outlive its key (clients keep them open for many messages)."""
        with self.engine.connect() as conn:
            current = get_key(conn, key.id)
        return current if current is not None and current.revoked_at is None else None

    async def handle_RCPT(self, server, session, envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if not is_valid_address(address):
            return f"553 5.1.3 {_line(address)[:100]!r} is not a valid email address"
        if address.lower() in (a.lower() for a in envelope.rcpt_tos):
            return "250 2.1.5 OK (already a recipient)"
        limit = self.settings.max_recipients_per_request
        if len(envelope.rcpt_tos) >= limit:
            return (f"452 4.5.3 Too many recipients: at most {limit} per message; send the "
                    "rest in another transaction")
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        try:
            created = await asyncio.to_thread(
                accept_submission, self.engine, self.broker, session.auth_data,
                list(envelope.rcpt_tos), bytes(envelope.original_content), self.settings)
        except RequestError as exc:
            SMTP_SUBMISSIONS.labels("refused").inc()
            return reply_for(exc)
        except SQLAlchemyError as exc:
            SMTP_SUBMISSIONS.labels("unavailable").inc()
            log.warning("DATA from %s not stored: %s", _peer_address(session.peer), exc)
            return UNAVAILABLE
        finally:
            self._end(session)
        SMTP_SUBMISSIONS.labels("accepted").inc()
        SMTP_ROWS.inc(len(created))
        ids = ",".join(str(m.id) for m in created[:5]) + ("…" if len(created) > 5 else "")
        return f"250 2.0.0 OK: {len(created)} message(s) accepted ({ids})"

    async def handle_RSET(self, server, session, envelope) -> str:
        self._end(session)
        return "250 2.0.0 OK"

    async def handle_exception(self, error: Exception) -> str:
        log.error("SMTP session failed", exc_info=error)
        return "451 4.3.0 Local error; try again later"

    def ended(self, session) -> None:
        """The connection of ``session`` closed (``services.smtp.session``)."""
        self._end(session)

    def _begin(self, session) -> None:
        self.in_flight.add(session)

    def _end(self, session) -> None:
        self.in_flight.discard(session)
        if not self.in_flight and self._idle is not None:
            self._idle.set()

    async def drain(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for the transactions in flight; how many are left."""
        if self.in_flight:
            self._idle = asyncio.Event()
            try:
                await asyncio.wait_for(self._idle.wait(), timeout)
            except TimeoutError:
                pass
        return len(self.in_flight)


def reply_for(exc: RequestError) -> str:
    """The SMTP reply to a refused submission (one line, the error's English message)."""
    if isinstance(exc, Forbidden):
        status = "550 5.7.1"
    elif isinstance(exc, PayloadTooLarge):
        status = "552 5.3.4"
    elif isinstance(exc, TooManyRequests):
        status = "451 4.7.1"
    elif exc.status >= 500:
        status = "451 4.3.0"
    else:
        status = "550 5.6.0"
    return f"{status} {_line(exc.message)}"


def _line(text: str) -> str:
    """``text`` on one line, so a reply cannot be split into two."""
    return " ".join(text.split())


def _peer_address(peer) -> str:
    return peer[0] if isinstance(peer, tuple) and peer else str(peer)
