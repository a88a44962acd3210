"""Per-message routing: a tenant's own SMTP server when the message names one.

Messages from the Biz API's tenant endpoints carry a relay (their SMTP
server, user and encrypted password); every other message goes through the
configured transport. The password is decrypted here, in the sender, right
before connecting, and is never logged. Unless MAILPIPE_TENANT_SMTP_PRIVATE
is set, a tenant server must be at a public address (``shared.transports.guard``).
"""

from __future__ import annotations

import ssl
import threading
from collections import OrderedDict
from dataclasses import replace

from shared.errors import Failure, TransportError
from shared.secrets import SecretBox, SecretError
from shared.transports.base import Envelope, Pace, Relay, Transport, no_pace
from shared.transports.guard import check_relay_host
from shared.transports.smtp import SmtpServer, SmtpTransport, SmtpUrlError, parse_smtp_url

#: Tenant servers kept with open per-thread connections; the least recently
#: used beyond this is dropped (its connections close when collected).
MAX_RELAYS = 256


def ssl_context(cafile=None) -> ssl.SSLContext:
    """System CAs, plus ``cafile`` for servers with private certificates."""
    context = ssl.create_default_context()
    if cafile:
        context.load_verify_locations(cafile=str(cafile))
    return context


class RelayingTransport:
    """Sends through ``default``, or through the envelope's relay when it has one."""

    def __init__(
        self, default: Transport, secrets: SecretBox | None, *,
        context: ssl.SSLContext | None = None, timeout: float = 30.0,
        allow_private: bool = False, helo_name: str | None = None,
    ) -> None:
        self.default = default
        self.secrets = secrets
        self.context = context or ssl_context()
        self.timeout = timeout
        # The guard resolves the host once and the transport connects to exactly the
        # addresses it checked (shared.transports.guard).
        self.guard = None if allow_private else check_relay_host
        self.helo_name = helo_name
        self._relays: OrderedDict[tuple, SmtpTransport] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def send_bulk(self):
        """The default transport's bulk send (SES), or None; relays send one by one."""
        return getattr(self.default, "send_bulk", None)

    def send(self, envelope: Envelope, pace: Pace = no_pace) -> str:
        if envelope.relay is None:
            return self.default.send(envelope, pace)
        return self._for(envelope.relay).send(envelope, pace)

    def _for(self, relay: Relay) -> SmtpTransport:
        # The encrypted password is part of the key: a changed password opens new connections.
        key = (relay.id, relay.url, relay.username, relay.password_encrypted)
        with self._lock:
            transport = self._relays.get(key)
            if transport is not None:
                self._relays.move_to_end(key)
                return transport
        transport = SmtpTransport(self._server(relay), ssl_context=self.context,
                                  timeout=self.timeout, guard=self.guard,
                                  helo_name=self.helo_name)
        with self._lock:
            transport = self._relays.setdefault(key, transport)
            while len(self._relays) > MAX_RELAYS:
                self._relays.popitem(last=False)
        return transport

    def _server(self, relay: Relay) -> SmtpServer:
        try:
            server = parse_smtp_url(relay.url)
        except SmtpUrlError as exc:
            raise TransportError(f"tenant SMTP relay {relay.id}: {exc}", Failure.PERMANENT) from exc
        password = None
        if relay.password_encrypted:
            if self.secrets is None:
                raise TransportError("tenant SMTP relay: MAILPIPE_SECRET_KEY is not set, the "
                                     "password cannot be decrypted", Failure.PERMANENT)
            try:
                password = self.secrets.decrypt(relay.password_encrypted)
            except SecretError as exc:
                raise TransportError(f"tenant SMTP relay {relay.id}: {exc}",
                                     Failure.PERMANENT) from exc
        return replace(server, username=relay.username, password=password)
