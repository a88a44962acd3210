"""Removing secrets and message bodies from what leaves a process (error reports, logs).

Three nets, because a secret can hide anywhere in an event:

- by field name, at any depth: headers, request data, extra, tags, breadcrumbs
  (``x-api-key``, fureweb's ``key``, passwords, tokens, and the message parts
  ``content``/``html``/``text``/``subject``/``body``);
- by value: the configured secrets (MAILPIPE_SECRET_KEY, SMTP password, SNS
  raw secret, Biz API key, the database and Redis passwords) wherever they
  appear in a string, exception messages included;
- by shape: mailpipe API keys (``mp_…``), ``t=``/``token=`` query values and
  ``user:password@`` in URLs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

REDACTED = "[redacted]"

#: Field names whose values never leave (compared lower-case, ``-`` as ``_``).
SECRET_FIELDS = frozenset({
    "x_api_key", "api_key", "apikey", "key", "password", "passwd", "smtp_password",
    "secret", "secret_key", "mailpipe_secret_key", "sns_raw_secret", "token", "t",
    "authorization", "proxy_authorization", "cookie", "set_cookie", "biz_api_key",
    "password_encrypted", "sentry_dsn", "dsn",
    # Message bodies and what they are made of.
    "content", "html", "text", "subject", "body", "raw", "data", "variables", "attachments",
})

_API_KEY = re.compile(r"\bmp_[A-Za-z0-9_-]{16,}")
_QUERY_SECRET = re.compile(r"(?i)((?:^|[?&])(?:t|token|key|api_key|password)=)[^&#\s\"']+")
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s/]+@")


def secret_values(settings) -> list[str]:
    """The configured secrets' values, longest first (so none is left half-redacted)."""
    values: list[str] = []
    for name in ("secret_key", "smtp_password", "sns_raw_secret", "biz_api_key", "sentry_dsn"):
        value = getattr(settings, name, None)
        if value is not None and hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        if value:
            values.append(str(value))
    for name in ("database_url", "redis_url", "smtp_url"):
        url = getattr(settings, name, None)
        if url:
            password = urlsplit(url).password
            if password:
                values.append(password)
    return sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)


class Scrubber:
    """Redacts an event (or any JSON-like value) in place of returning a copy."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = [s for s in secrets if s]

    def text(self, value: str) -> str:
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        value = _API_KEY.sub(REDACTED, value)
        value = _QUERY_SECRET.sub(lambda m: m.group(1) + REDACTED, value)
        return _URL_PASSWORD.sub(lambda m: m.group(1) + REDACTED + "@", value)

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: (REDACTED if _secret_field(k) and v not in (None, "", [], {})
                        else self.value(v)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            pairs = [self._pair(v) for v in value]
            return type(value)(pairs) if isinstance(value, tuple) else pairs
        return value

    def _pair(self, item: Any) -> Any:
        # Headers come as [name, value] pairs in Sentry's request interface.
        if (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)
                and _secret_field(item[0])):
            return type(item)([item[0], REDACTED])
        return self.value(item)

    def event(self, event: dict, hint: dict | None = None) -> dict:
        """``before_send`` / ``before_breadcrumb``: the event with every net applied."""
        return self.value(event)


def _secret_field(name: Any) -> bool:
    return isinstance(name, str) and name.lower().replace("-", "_") in SECRET_FIELDS
