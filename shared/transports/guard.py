"""Which addresses a tenant's SMTP server may be at: public ones only.

A tenant names its own SMTP server (the Biz tenant sends); without this
check, ``smtp_url`` would let any API caller make mailpipe connect to its
own network: the cloud metadata service, Redis, PostgreSQL, an internal
relay. ``check_relay_host`` resolves the name once, refuses it unless every
address is public, and returns the addresses; the SMTP transport connects to
exactly those (``SmtpTransport`` with a ``guard``), so a DNS answer that
changes between the check and the connection cannot lead elsewhere. Intake
calls the same function, so a caller hears at request time that its server
is refused (MAILPIPE_TENANT_SMTP_PRIVATE=true turns the check off).

"Public" is ``is_global`` and not multicast, for the address and for any
IPv4 address it embeds: Python 3.11 calls ``::127.0.0.1`` (IPv4-compatible),
``64:ff9b::a9fe:a9fe`` (NAT64) and ``2002:7f00:1::`` (6to4) global, but a
gateway turns each into the private IPv4 address inside it.
"""

from __future__ import annotations

import ipaddress
import socket

from shared.errors import Failure, TransportError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
#: RFC 8215 local-use NAT64: a private translator by definition.
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class RelayRefused(TransportError):
    """Raised when a tenant SMTP server is at an address mailpipe must not connect to."""

    def __init__(self, message: str) -> None:
        super().__init__(message, Failure.PERMANENT)


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address a gateway would reach for this IPv6 address, if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client; the server half is Teredo's own
    if address in _NAT64 or address in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    """True when ``address``, and any IPv4 address it embeds, is a public unicast address."""
    if not address.is_global or address.is_multicast or address in _NAT64_LOCAL:
        return False
    inner = embedded_ipv4(address)
    return inner is None or (inner.is_global and not inner.is_multicast)


def check_relay_host(host: str, port: int) -> tuple[str, ...]:
    """The addresses of ``host`` to connect to, all checked public; else raise.

    RelayRefused (permanent) names the first address that is not public; a
    name that cannot be resolved is a transient TransportError (DNS may
    answer later). Connect to the returned addresses, not to ``host``.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as exc:  # ValueError: a NUL in the name
        raise TransportError(f"tenant SMTP server {host!r:.100}: cannot resolve: {exc}",
                             Failure.TRANSIENT) from exc
    addresses: list[str] = []
    for *_, sockaddr in infos:
        text = sockaddr[0]
        address = ipaddress.ip_address(text.partition("%")[0])
        if not is_public(address):
            raise RelayRefused(
                f"tenant SMTP server {host!r:.100} is at {address}, not a public address "
                "(MAILPIPE_TENANT_SMTP_PRIVATE=true allows it)")
        if text not in addresses:
            addresses.append(text)
    if not addresses:
        raise TransportError(f"tenant SMTP server {host!r:.100}: no address", Failure.TRANSIENT)
    return tuple(addresses)
