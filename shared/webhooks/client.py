"""One POST to a producer's endpoint, with the safety rules of issue 28.

- The target's name is resolved once and every address checked public
  (``shared.transports.guard.is_public``, the rule the tenant SMTP guard
  uses) unless MAILPIPE_WEBHOOK_PRIVATE=true; the connection goes to a
  checked address, so a DNS answer that changes between the check and the
  connection cannot lead into the internal network. TLS still verifies the
  certificate against the URL's host name.
- Redirects are never followed (http.client does not): a 3xx is an answer
  like any other non-2xx, and the delivery is retried.
- One deadline (``timeout``, 15 s) for connecting, sending and the status
  line; at most ``EXCERPT_BYTES`` of the body are read, then the connection
  is closed, so a receiver streaming for ever holds nothing.
"""

from __future__ import annotations

import email.utils
import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from shared.errors import MailpipeError
from shared.transports.guard import is_public

#: Bytes of a response body read and kept (``webhook_deliveries.last_response``).
EXCERPT_BYTES = 1024
#: Longest Retry-After honoured, in seconds: a receiver cannot park an event for ever.
MAX_RETRY_AFTER = 24 * 3600.0
USER_AGENT = "mailpipe-webhooks/1"


class DeliveryError(MailpipeError):
    """Raised when a POST got no HTTP answer: a refused or unresolvable target, no
    connection, TLS refused, or the deadline passed. The message says which; it never
    holds the body or the headers (the signature)."""


class TargetRefused(DeliveryError):
    """Raised when an endpoint's host is at an address mailpipe must not post to."""


@dataclass(frozen=True)
class Answer:
    """What the endpoint answered."""

    status: int
    #: The first EXCERPT_BYTES of the body, decoded leniently.
    excerpt: str
    #: Seconds the receiver asked us to wait (Retry-After), if it did.
    retry_after: float | None
    #: Where a 3xx pointed (not followed).
    location: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def target_addresses(host: str, port: int, *, allow_private: bool) -> list[str]:
    """The addresses of ``host`` to connect to, each checked public unless
    ``allow_private``; raises DeliveryError naming the first that is not."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as exc:
        raise DeliveryError(f"cannot resolve {host!r:.100}: {exc}") from exc
    addresses: list[str] = []
    for *_, sockaddr in infos:
        text = sockaddr[0]
        if not allow_private and not is_public(ipaddress.ip_address(text.partition("%")[0])):
            raise TargetRefused(f"{host!r:.100} is at {text}, not a public address "
                                "(MAILPIPE_WEBHOOK_PRIVATE=true allows it)")
        if text not in addresses:
            addresses.append(text)
    if not addresses:
        raise DeliveryError(f"{host!r:.100}: no address")
    return addresses


class _Pinned:
    """An http.client connection to one checked address, whatever the host name says."""

    address: str
    host: str
    port: int
    timeout: float

    def _socket(self) -> socket.socket:
        return socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTP(_Pinned, http.client.HTTPConnection):
    def connect(self) -> None:
        self.sock = self._socket()


class _PinnedHTTPS(_Pinned, http.client.HTTPSConnection):
    def connect(self) -> None:
        # The certificate is checked against the URL's host, not the address.
        self.sock = self._context.wrap_socket(self._socket(), server_hostname=self.host)


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds a Retry-After header asks for (delay-seconds or an HTTP date), bounded."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float,
         allow_private: bool, context: ssl.SSLContext | None = None) -> Answer:
    """POST ``body`` to ``url``; the answer, or DeliveryError when there is none."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if https else 80)
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    for address in target_addresses(host, port, allow_private=allow_private):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        conn = (_PinnedHTTPS(host, port, timeout=remaining,
                             context=context or ssl.create_default_context())
                if https else _PinnedHTTP(host, port, timeout=remaining))
        conn.address = address
        try:
            return _exchange(conn, parts, body, headers, deadline)
        except ConnectionRefusedError as exc:  # nothing sent: the next address may answer
            last = exc
        except (OSError, http.client.HTTPException, ValueError) as exc:
            # ValueError: http.client refusing a URL or header it cannot send (InvalidURL).
            raise DeliveryError(_describe(exc, timeout)) from None
        finally:
            conn.close()
    raise DeliveryError(_describe(last, timeout) if last else f"no answer within {timeout:g} s")


def _exchange(conn: http.client.HTTPConnection, parts, body: bytes, headers: dict[str, str],
              deadline: float) -> Answer:
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    conn.request("POST", path, body=body, headers={
        "content-type": "application/json", "user-agent": USER_AGENT, **headers})
    sock = conn.sock  # http.client lets go of it once a response will close the connection
    sock.settimeout(max(0.001, deadline - time.monotonic()))
    response = conn.getresponse()
    sock.settimeout(max(0.001, deadline - time.monotonic()))
    try:
        excerpt = response.read(EXCERPT_BYTES)
    except (OSError, http.client.HTTPException):
        excerpt = b""  # the status is what counts; a body cut short is only an excerpt
    return Answer(status=response.status, excerpt=excerpt.decode("utf-8", "replace"),
                  retry_after=retry_after(response.getheader("retry-after")),
                  location=response.getheader("location"))


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return f"TLS failed: {exc}"
    return f"{type(exc).__name__}: {exc}"[:300]
