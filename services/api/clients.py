"""Who the client is: the TCP peer, or what a trusted proxy says it forwarded.

``X-Forwarded-For`` is written by whoever sends the request, so it is read
only when the direct peer is one of MAILPIPE_TRUSTED_PROXIES. The header is
then walked from the right (each proxy appends the address it saw) past the
trusted proxies themselves; the first untrusted address is the client.
Anything a client wrote further left is never reached.
"""

from __future__ import annotations

import ipaddress
from ipaddress import IPv4Network, IPv6Network

import falcon

Networks = tuple[IPv4Network | IPv6Network, ...]


def parse_networks(value: str) -> Networks:
    """MAILPIPE_TRUSTED_PROXIES (comma- or space-separated addresses or CIDRs) as networks."""
    return tuple(ipaddress.ip_network(item, strict=False)
                 for item in value.replace(",", " ").split())


def _trusted(address: str, networks: Networks) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


def client_address(req: falcon.Request, trusted: Networks) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy."""
    peer = req.remote_addr or ""
    if not trusted or not _trusted(peer, trusted):
        return peer
    forwarded = req.get_header("X-Forwarded-For") or ""
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop[:100]
    return hops[0][:100] if hops else peer
