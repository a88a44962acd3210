"""gunicorn's access log without the secrets some URLs carry.

Query strings hold the SNS raw-delivery secret (``?token=``) and the
tracking and unsubscribe tokens (``?t=``): logged as they come, the access
log would be a list of working credentials. ``RedactingLogger`` writes the
path and the names of the parameters, and the values of only the harmless
ones (``SAFE_PARAMS``); the Referer is cut at its query the same way.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from gunicorn.glogging import Logger

#: Query parameters whose values are neither secrets nor personal data.
SAFE_PARAMS = frozenset({"wait", "hours", "after", "before", "limit", "version", "state",
                         "status", "page"})
REDACTED = "-"
#: Request headers gunicorn offers to access log formats (``%({name}i)s``) that carry secrets.
SECRET_HEADERS = ("{x-api-key}i", "{authorization}i", "{cookie}i")


def redact_query(query: str) -> str:
    """``query`` with the value of every parameter outside SAFE_PARAMS replaced."""
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(name, value if name in SAFE_PARAMS else REDACTED)
                      for name, value in pairs], safe="-")


def redact_url(url: str) -> str:
    """A URL (the Referer) with its query redacted and its fragment dropped."""
    base, _, query = url.partition("#")[0].partition("?")
    return f"{base}?{redact_query(query)}" if query else base


class RedactingLogger(Logger):
    """gunicorn's logger; request lines, queries and referers come out redacted."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        path, _, query = environ.get("RAW_URI", "").partition("?")
        query = redact_query(query)
        target = f"{path}?{query}" if query else path
        atoms["r"] = f"{environ['REQUEST_METHOD']} {target} {environ['SERVER_PROTOCOL']}"
        atoms["q"] = query
        atoms["f"] = redact_url(environ.get("HTTP_REFERER", "-"))
        for name in SECRET_HEADERS:
            atoms.pop(name, None)
        return atoms
