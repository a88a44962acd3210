"""Which URLs an endpoint may have: the rule the API applies when one is set.

``url_problem`` is the shape (an absolute http(s) URL with a host, no user
or password, no fragment, at most MAX_URL characters); ``policy_problem``
the operator's choices: ``https`` unless MAILPIPE_WEBHOOK_ALLOW_HTTP, and a
host that is not private, loopback or link-local unless
MAILPIPE_WEBHOOK_PRIVATE (an address in the URL, or what its name resolves
to now: the caller hears at once; every delivery checks again, since DNS
may change, see ``shared.webhooks.client``). A name that does not resolve
yet is let through: its deliveries fail and are retried until it does.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from shared.i18n import Text, ntext
from shared.transports.guard import is_public
from shared.webhooks.client import DeliveryError, TargetRefused, target_addresses

MAX_URL = 2000


def url_problem(url: str) -> tuple[str, Text] | None:
    """(code, reason) when ``url`` cannot be an endpoint's URL at all, else None."""
    if len(url) > MAX_URL:
        return "invalid_url", ntext("at most %(num)s character", "at most %(num)s characters",
                                    MAX_URL)
    if not url.isascii() or any(c.isspace() or ord(c) < 32 for c in url):
        return "invalid_url", Text("must be an http or https URL in ASCII, without spaces "
                                   "(IDN hosts in their xn-- form)")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises for a bad port)
    except ValueError:
        return "invalid_url", Text("is not a valid URL")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "invalid_url", Text("must be an absolute http or https URL with a host")
    if parts.username is not None or parts.password is not None:
        return "invalid_url", Text("must not hold a user name or password")
    if parts.fragment:
        return "invalid_url", Text("must not have a fragment (#…)")
    return None


def policy_problem(url: str, *, allow_http: bool, allow_private: bool
                   ) -> tuple[str, Text] | None:
    """(code, reason) when this deployment does not let an endpoint be at ``url``."""
    parts = urlsplit(url)
    if parts.scheme != "https" and not allow_http:
        return "webhook_url_not_https", Text(
            "must be an https URL (MAILPIPE_WEBHOOK_ALLOW_HTTP=true allows http)")
    if allow_private:
        return None
    host = parts.hostname or ""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None and not is_public(literal):
        return "webhook_url_private", Text(
            "%(host)s is not a public address (MAILPIPE_WEBHOOK_PRIVATE=true allows it)",
            host=host)
    try:
        target_addresses(host, parts.port or 443, allow_private=False)
    except TargetRefused:
        return "webhook_url_private", Text(
            "%(host)s resolves to an address that is not public "
            "(MAILPIPE_WEBHOOK_PRIVATE=true allows it)", host=host)
    except DeliveryError:
        pass  # not resolvable yet: its deliveries are retried until it is
    return None
