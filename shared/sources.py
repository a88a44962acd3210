"""Where a message came in: the door that stored it, one enum.

Stored on every message row (``messages.source``, migration 0018) so the
console lists and filters them by it. The door names it, never the caller:
the native API's rows are ``api``, a campaign's expansion ``campaign``, and
the compat APIs' envelopes ``biz`` and ``fureweb`` (their schemas set it),
SMTP submissions ``smtp``.
"""

from __future__ import annotations

from enum import StrEnum


class MessageSource(StrEnum):
    API = "api"
    BIZ = "biz"
    FUREWEB = "fureweb"
    CAMPAIGN = "campaign"
    #: Submitted over SMTP (``mailpipe smtp``, migration 0022).
    SMTP = "smtp"
