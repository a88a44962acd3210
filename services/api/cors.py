"""CORS for the fureweb post (``/api/mail``): its callers are web pages on the key's domains.

A page's ``fetch()`` with ``Content-Type: application/json`` is preflighted:
the browser sends ``OPTIONS`` with its ``Origin`` and no body, so no key. The
preflight is allowed when the origin's host is a domain some active key
names, or a subdomain of one (``preflight``). The POST itself carries the
key: it gets ``Access-Control-Allow-Origin`` (the origin echoed, with
``Vary: Origin``) only when the origin falls under *that* key's domains, and
a POST from any other origin is refused (403) before anything is stored
(``origin_refused``), since a page's key is no secret and its domains are
what guard it. Requests without ``Origin`` (servers, curl) are unaffected.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import falcon

from shared.db.keys import ApiKey, some_key_allows_origin_host

#: How long a browser may reuse an allowed preflight (seconds; Chromium caps it at 7200).
MAX_AGE = 600


def origin_host(origin: str | None) -> str | None:
    """The host of an ``Origin`` header (``https://www.example.com:8443``), lower case; None
    for no origin, ``null`` (sandboxed pages, files) or anything but http(s)."""
    if not origin or origin == "null":
        return None
    try:
        parts = urlsplit(origin)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host or parts.path not in ("", "/"):
        return None
    return host.rstrip(".")


def allow(resp: falcon.Response, origin: str) -> None:
    """Let the page at ``origin`` read this answer."""
    resp.set_header("Access-Control-Allow-Origin", origin)


def disallow(resp: falcon.Response) -> None:
    resp.delete_header("Access-Control-Allow-Origin")


def preflight(deps, req: falcon.Request, resp: falcon.Response) -> None:
    """Answer an ``OPTIONS`` preflight: 204, with the allowances for a known origin only."""
    resp.status = falcon.HTTP_204
    resp.set_header("Vary", "Origin")
    origin = req.get_header("Origin")
    host = origin_host(origin)
    if host is None:
        return
    with deps.engine.connect() as conn:
        if not some_key_allows_origin_host(conn, host):
            return
    allow(resp, origin)
    resp.set_header("Access-Control-Allow-Methods", "POST, OPTIONS")
    resp.set_header("Access-Control-Allow-Headers", "content-type")
    resp.set_header("Access-Control-Max-Age", str(MAX_AGE))


def readable_by_origin(deps, req: falcon.Request, resp: falcon.Response) -> None:
    """Before the key is known: let a page on some key's domains read the answer (errors
    included, such as 406 for a bad key)."""
    origin = req.get_header("Origin")
    if origin is None:
        return
    resp.set_header("Vary", "Origin")
    host = origin_host(origin)
    if host is None:
        return
    with deps.engine.connect() as conn:
        if some_key_allows_origin_host(conn, host):
            allow(resp, origin)


def origin_refused(req: falcon.Request, resp: falcon.Response, key: ApiKey) -> str | None:
    """Once the key is known: the origin when it is outside the key's domains (the answer
    is then unreadable there), else None (a request without ``Origin`` passes)."""
    origin = req.get_header("Origin")
    if origin is None:
        return None
    host = origin_host(origin)
    if host is not None and key.allows_origin_host(host):
        allow(resp, origin)
        return None
    disallow(resp)
    return origin
