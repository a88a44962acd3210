"""The ``smtp`` transport: smtplib, one reused connection per sender thread.

URLs: ``smtps://host[:465]`` is implicit TLS; ``smtp://host[:587]`` upgrades
with STARTTLS, which is required (and the certificate verified) unless
``?tls=optional`` (used when offered, unverified, as opportunistic TLS is)
or ``?tls=none`` (never; a local relay). Credentials come from the URL's
user part or are passed separately.

What a failure means for a resend, by the stage it happened at:

- connecting, TLS, AUTH, MAIL, RCPT, or the DATA command itself: the server
  has not taken the message. A 4xx reply or a dropped connection is
  transient (retried by the pipeline), a 5xx reply permanent.
- after the server said 354 and the message bytes went out: only the final
  reply decides. 2xx sent, 4xx transient, 5xx permanent; no reply at all
  (drop, timeout) is ambiguous: the server may have queued it, so it is
  never resent automatically.

A connection the server closed while idle is noticed at the first command
and reopened once, before anything of the message was sent.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import smtplib
import socket
import ssl
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from enum import StrEnum
from urllib.parse import parse_qs, unquote, urlsplit

from shared.errors import Failure, TransportError
from shared.transports.base import Envelope, Pace, no_pace

log = logging.getLogger("mailpipe.smtp")


class TlsMode(StrEnum):
    IMPLICIT = "implicit"
    REQUIRED = "required"
    OPTIONAL = "optional"
    NONE = "none"


class SmtpUrlError(ValueError):
    """Raised when an SMTP URL cannot be understood."""


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    tls: TlsMode
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def parse_smtp_url(url: str) -> SmtpServer:
    """``smtp://[user:pass@]host[:port][?tls=required|optional|none]`` or ``smtps://…``."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise SmtpUrlError(f"{_safe(url)!r}: use smtp://host:port or smtps://host:port")
    try:
        port = parts.port
    except ValueError as exc:
        raise SmtpUrlError(f"{_safe(url)!r}: bad port") from exc
    if not _is_host(parts.hostname):
        raise SmtpUrlError(f"{_safe(url)!r:.200}: not a host name or IP address")
    if parts.scheme == "smtps":
        tls, default_port = TlsMode.IMPLICIT, 465
    else:
        mode = parse_qs(parts.query).get("tls", ["required"])[-1]
        if mode not in ("required", "optional", "none"):
            raise SmtpUrlError(f"{_safe(url)!r}: tls= must be required, optional or none")
        tls, default_port = TlsMode(mode), 587
    return SmtpServer(
        host=parts.hostname, port=port or default_port, tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def _is_host(host: str) -> bool:
    """A DNS name (international ones too) or an IP address; no NUL, space or control."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    return len(host) <= 253 and all(ch.isalnum() or ch in "-._" for ch in host)


def server_url(server: SmtpServer) -> str:
    """The normalised URL of ``server``, without credentials."""
    host = f"[{server.host}]" if ":" in server.host else server.host
    if server.tls is TlsMode.IMPLICIT:
        return f"smtps://{host}:{server.port}"
    return f"smtp://{host}:{server.port}?tls={server.tls.value}"


def _safe(url: str) -> str:
    """``url`` with any password masked, for error messages and logs."""
    return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", url)


def _reply_failure(code: int, text: str, stage: str) -> TransportError:
    """4xx: the server asks us to come back later; 5xx: it refuses for good."""
    failure = Failure.TRANSIENT if 400 <= code < 500 else Failure.PERMANENT
    return TransportError(f"SMTP {stage}: {code} {text}", failure)


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


def _crlf(raw: bytes) -> bytes:
    """SMTP wants CRLF line ends; ``email`` renders bare LF."""
    return re.sub(rb"\r?\n", b"\r\n", raw)


def _message_id(raw: bytes) -> str:
    value = BytesHeaderParser().parsebytes(raw).get("Message-ID", "")
    return str(value).strip().strip("<>") or f"smtp-{uuid.uuid4()}"


class _Pinned:
    """Connects to addresses checked beforehand instead of resolving the host again.

    The host name stays smtplib's ``_host``, so TLS (SNI and certificate
    verification, implicit or after STARTTLS) is still for the name. With
    no addresses, the host is resolved and connected to as smtplib does.
    """

    def __init__(self, *args, addresses: tuple[str, ...] = (), **kwargs) -> None:
        self._addresses = addresses
        super().__init__(*args, **kwargs)

    def _get_socket(self, host, port, timeout):
        if not self._addresses:
            return super()._get_socket(host, port, timeout)
        error: OSError | None = None
        for address in self._addresses:
            try:
                return super()._get_socket(address, port, timeout)
            except OSError as exc:
                error = exc
        raise error


class _PinnedSMTP(_Pinned, smtplib.SMTP):
    pass


class _PinnedSMTP_SSL(_Pinned, smtplib.SMTP_SSL):  # noqa: N801 - smtplib's own name
    pass


class _Stale(Exception):
    """The reused connection was closed by the server before we sent anything."""


class SmtpTransport:
    """Sends through one SMTP server; each thread keeps its own open connection."""

    def __init__(
        self, server: SmtpServer, *, ssl_context: ssl.SSLContext | None = None,
        timeout: float = 30.0, helo_name: str | None = None,
        guard: Callable[[str, int], Sequence[str]] | None = None,
    ) -> None:
        self.server = server
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.timeout = timeout
        self.helo_name = helo_name or socket.gethostname()
        #: Called before each connection: raises TransportError to refuse the host, or
        #: returns the checked addresses, which are then the only ones connected to.
        self.guard = guard
        self._local = threading.local()

    def send(self, envelope: Envelope, pace: Pace = no_pace) -> str:
        # An SMTP transaction is several round trips: its pace is its start.
        pace()
        raw = _crlf(envelope.raw)
        reused = getattr(self._local, "smtp", None) is not None
        try:
            return self._send_on(self._connection(), envelope, raw)
        except _Stale:
            if not reused:
                raise TransportError("SMTP server closed the connection before the message",
                                     Failure.TRANSIENT) from None
        self.close()
        try:
            return self._send_on(self._connection(), envelope, raw)
        except _Stale:
            raise TransportError("SMTP server closed the connection before the message",
                                 Failure.TRANSIENT) from None

    def close(self) -> None:
        """Close this thread's connection (politely if the server still listens)."""
        smtp = getattr(self._local, "smtp", None)
        self._local.smtp = None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    # -- connecting --------------------------------------------------------------------------

    def _connection(self) -> smtplib.SMTP:
        smtp = getattr(self._local, "smtp", None)
        if smtp is None:
            smtp = self._open()
            self._local.smtp = smtp
        return smtp

    def _open(self) -> smtplib.SMTP:
        server = self.server
        where = f"{server.host}:{server.port}"
        addresses = tuple(self.guard(server.host, server.port)) if self.guard else ()
        smtp = None
        try:
            if server.tls is TlsMode.IMPLICIT:
                smtp = _PinnedSMTP_SSL(server.host, server.port, addresses=addresses,
                                       local_hostname=self.helo_name, timeout=self.timeout,
                                       context=self.ssl_context)
            else:
                smtp = _PinnedSMTP(server.host, server.port, addresses=addresses,
                                   local_hostname=self.helo_name, timeout=self.timeout)
            smtp.ehlo()
            if server.tls in (TlsMode.REQUIRED, TlsMode.OPTIONAL):
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=self._starttls_context())
                    smtp.ehlo()
                elif server.tls is TlsMode.REQUIRED:
                    raise TransportError(f"SMTP {where} does not offer STARTTLS (use "
                                         "?tls=optional to send unencrypted)", Failure.PERMANENT)
            if server.username and server.password:  # a user without a password: no AUTH
                smtp.login(server.username, server.password)
            return smtp
        except TransportError:
            _discard(smtp)
            raise
        except ssl.SSLCertVerificationError as exc:
            _discard(smtp)
            raise TransportError(f"SMTP {where}: certificate not trusted: {exc.verify_message}",
                                 Failure.PERMANENT) from exc
        except smtplib.SMTPAuthenticationError as exc:
            _discard(smtp)
            raise _reply_failure(exc.smtp_code, _text(exc.smtp_error), "AUTH") from exc
        except smtplib.SMTPNotSupportedError as exc:
            _discard(smtp)
            raise TransportError(f"SMTP {where}: {exc}", Failure.PERMANENT) from exc
        except smtplib.SMTPResponseException as exc:
            _discard(smtp)
            raise _reply_failure(exc.smtp_code, _text(exc.smtp_error), "connect") from exc
        except (smtplib.SMTPException, OSError) as exc:
            # Refused, unreachable, timed out, dropped: no message was offered.
            _discard(smtp)
            raise TransportError(f"SMTP {where} unreachable: {exc!r}", Failure.TRANSIENT) from exc

    def _starttls_context(self) -> ssl.SSLContext:
        """Verified when TLS is required; opportunistic TLS, like Postfix's "may"
        level, encrypts without verifying: the alternative is plain text anyway."""
        if self.server.tls is TlsMode.REQUIRED:
            return self.ssl_context
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context

    # -- one message -------------------------------------------------------------------------

    def _send_on(self, smtp: smtplib.SMTP, envelope: Envelope, raw: bytes) -> str:
        try:
            refused = self._offer(smtp, envelope)
        except TransportError:
            self._reset(smtp)
            raise
        self._transmit(smtp, raw)
        provider_id = _message_id(raw)
        if refused:
            # Delivered to the others: a partial refusal does not fail the message.
            log.warning("SMTP %s: sent as %s but refused for %s", self.server.host, provider_id,
                        "; ".join(f"{r}: {c} {t}" for r, (c, t) in refused.items()))
        return provider_id

    def _offer(self, smtp: smtplib.SMTP, envelope: Envelope) -> dict[str, tuple[int, str]]:
        """MAIL, RCPT and DATA: up to the point where the server waits for the message."""
        try:
            code, reply = smtp.mail(envelope.mail_from)
            if code != 250:
                raise _reply_failure(code, _text(reply), "MAIL FROM")
            refused = {}
            for recipient in envelope.recipients:
                code, reply = smtp.rcpt(recipient)
                if code not in (250, 251):
                    refused[recipient] = (code, _text(reply))
            if len(refused) == len(envelope.recipients):
                codes = {c for c, _ in refused.values()}
                failure = (Failure.TRANSIENT if all(400 <= c < 500 for c in codes)
                           else Failure.PERMANENT)
                detail = "; ".join(f"{r}: {c} {t}" for r, (c, t) in refused.items())
                raise TransportError(f"SMTP RCPT TO refused every recipient: {detail}", failure)
            smtp.putcmd("data")
            code, reply = smtp.getreply()
            if code != 354:
                raise _reply_failure(code, _text(reply), "DATA")
            return refused
        except (smtplib.SMTPServerDisconnected, ConnectionError) as exc:
            self._local.smtp = None
            _discard(smtp)
            raise _Stale() from exc
        except (smtplib.SMTPException, OSError) as exc:
            self._local.smtp = None
            _discard(smtp)
            raise TransportError(f"SMTP failed before the message was sent: {exc!r}",
                                 Failure.TRANSIENT) from exc

    def _transmit(self, smtp: smtplib.SMTP, raw: bytes) -> tuple[int, str]:
        """Send the message bytes; from here on silence means "maybe delivered"."""
        payload = smtplib._quote_periods(raw)  # smtplib's own dot-stuffing
        if not payload.endswith(b"\r\n"):
            payload += b"\r\n"
        try:
            smtp.send(payload + b".\r\n")
            code, reply = smtp.getreply()
        except (smtplib.SMTPException, OSError) as exc:
            self._local.smtp = None
            _discard(smtp)
            raise TransportError(f"SMTP connection lost after DATA; the server may have "
                                 f"accepted the message: {exc!r}", Failure.AMBIGUOUS) from exc
        if 200 <= code < 300:
            return code, _text(reply)
        self._reset(smtp)
        raise _reply_failure(code, _text(reply), "end of DATA")

    def _reset(self, smtp: smtplib.SMTP) -> None:
        """RSET after a refusal, so the connection can carry the next message."""
        if getattr(self._local, "smtp", None) is not smtp:
            return
        try:
            smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._local.smtp = None
            _discard(smtp)


def _discard(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        try:
            smtp.close()
        except OSError:
            pass
