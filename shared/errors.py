"""mailpipe's one error hierarchy.

HTTP status codes are attached here so the API maps every domain error in one
place (``services.api.errors``); nothing else in ``shared`` knows about HTTP.
"""

from __future__ import annotations

from enum import StrEnum

from dramatiq.errors import Retry

from shared.i18n import LANGUAGES, Text


class MailpipeError(Exception):
    """Base class for every error mailpipe raises on purpose."""


class ConfigError(MailpipeError):
    """Raised when a setting is missing or invalid; the message names the variable."""


class RequestError(MailpipeError):
    """Raised when a caller's request cannot be served; carries an HTTP status.

    ``code`` is stable and machine-readable, ``message`` is for humans and
    names the offending field when there is one. ``text`` is that message not
    yet in a language (``shared.i18n.Text``): the API answers its English
    (``message``), the console its translation. Each of ``details`` has a
    code, an English message and a field, and its ``text`` likewise.
    """

    status = 400

    def __init__(
        self, code: str, message: Text | str, *, field: str | None = None,
        details: list[dict] | None = None,
    ) -> None:
        self.text = message if isinstance(message, Text) else Text(message)
        self.message = str(self.text)
        super().__init__(self.message)
        self.code = code
        self.field = field
        self.details = details

    def to_dict(self, lang: str = LANGUAGES[0]) -> dict:
        """The error as JSON, its words in ``lang``: English for the API (``message``),
        the reader's language for the console."""
        body = {"code": self.code, "message": self.text.translate(lang)}
        if self.field is not None:
            body["field"] = self.field
        if self.details:
            body["errors"] = [{name: value.translate(lang) if isinstance(value, Text) else value
                               for name, value in detail.items()} for detail in self.details]
        return body


class InvalidRequest(RequestError):
    """Raised when a request body or parameter fails validation."""

    status = 400


class PayloadTooLarge(RequestError):
    """Raised when a request body or one of its lists is larger than allowed."""

    status = 413


class Unauthorized(RequestError):
    """Raised when the API key is missing, unknown or revoked."""

    status = 401


class Forbidden(RequestError):
    """Raised when the key is valid but may not do what was asked."""

    status = 403


class NotFound(RequestError):
    """Raised when the addressed resource does not exist for the calling key."""

    status = 404


class Conflict(RequestError):
    """Raised when a request contradicts an earlier one (an Idempotency-Key reused)."""

    status = 409


class TooManyRequests(RequestError):
    """Raised when a key sends requests faster than its intake budget; says when to retry."""

    status = 429

    def __init__(self, message: Text, retry_after: float) -> None:
        super().__init__("rate_limited", message)
        self.retry_after = retry_after


class Unavailable(RequestError):
    """Raised when a dependency (database, Redis) cannot be reached."""

    status = 503


class Failure(StrEnum):
    """How sure we are that a failed send did not reach the provider."""

    #: The provider refused the message for good; retrying cannot help.
    PERMANENT = "permanent"
    #: The provider provably did not accept it (throttled, connection refused):
    #: safe to send again later.
    TRANSIENT = "transient"
    #: It may or may not have been accepted (timeout, 5xx after sending, a
    #: dropped connection): never resent automatically.
    AMBIGUOUS = "ambiguous"


class TransportError(MailpipeError):
    """Raised by a transport when a send did not return a provider message id.

    ``failure`` says whether the message may be sent again; ``throttled``
    marks a rate answer from the provider, which slows the whole fleet;
    ``pauses_fleet`` marks an account that may not send at all right now
    (sending paused, account suspended, credentials expired or refused, a
    signature or clock SES will not take, a permission missing): nothing
    about the message, so it goes back unsent and every sender stops until
    the account answers again.
    """

    def __init__(
        self, message: str, failure: Failure, *, throttled: bool = False,
        pauses_fleet: bool = False,
    ) -> None:
        super().__init__(message)
        self.failure = failure
        self.throttled = throttled
        self.pauses_fleet = pauses_fleet


class ClaimLost(MailpipeError):
    """Raised when a sender is about to send a row it claimed and finds it is no longer
    its own (its lease ran out and the sweep took it), or cannot renew its lease.

    The row is not sent. ``stop``: PostgreSQL could not be reached, so the
    batch stops and hands back what it holds.
    """

    def __init__(self, message: str, *, stop: bool = False) -> None:
        super().__init__(message)
        self.stop = stop


class SendingPaused(MailpipeError, Retry):
    """Raised when a sender stops before the end of a batch: the fleet is paused,
    the 24-hour quota is spent, or the sender is shutting down.

    It is dramatiq's ``Retry``: the batch comes back after ``delay`` ms
    without an error logged, and the rows it already sent are skipped then
    because their claims are taken.
    """

    def __init__(self, message: str, delay_ms: int = 5000) -> None:
        MailpipeError.__init__(self, message)
        Retry.__init__(self, message, delay=delay_ms)
