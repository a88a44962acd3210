"""Caller-supplied header lines: which may be set, and how they must look."""

from __future__ import annotations

import re

from shared.errors import InvalidRequest
from shared.i18n import Text
from shared.intake.text import has_line_break, text_problem

MAX_HEADERS = 50
#: RFC 5322 field names: printable ASCII except the colon.
#: Both are matched with ``fullmatch``: ``re.match(...$)`` accepts a trailing newline,
#: which once let ``"Bcc\n"`` past the reserved list as a colon-less header line.
_NAME = re.compile(r"[!-9;-~]{1,76}")
_MESSAGE_ID = re.compile(r"[^\s<>()\[\],;:\\\"]+(@[^\s<>()\[\],;:\\\"]+)?")

#: Headers mailpipe writes itself; a caller setting them would forge or break
#: the message (addressing, MIME structure, tracing, unsubscribe).
RESERVED = frozenset({
    "from", "sender", "to", "cc", "bcc", "subject", "date", "message-id", "reply-to",
    "return-path", "received", "mime-version", "content-type", "content-transfer-encoding",
    "content-disposition", "content-id", "dkim-signature", "x-mailpipe-id",
    "list-unsubscribe", "list-unsubscribe-post",
})


def header_problem(name: str, value: object) -> tuple[str, Text] | None:
    """``(code, reason)`` when a caller may not send this header line, else None."""
    if not _NAME.fullmatch(name):
        return "invalid_header", Text("not a valid header name")
    if name.lower() in RESERVED:
        return "reserved_header", Text("set by mailpipe, not by callers")
    if (not isinstance(value, str) or has_line_break(value) or text_problem(value)
            or len(value) > 998):
        return "invalid_header", Text("must be text of at most 998 characters without line "
                                      "breaks, NUL or lone surrogates")
    return None


def reply_headers(reply_id: str, field: str = "reply_id") -> tuple[tuple[str, str], ...]:
    """In-Reply-To and References for an answer to the message ``reply_id``."""
    bare = reply_id.strip().removeprefix("<").removesuffix(">")
    if not bare or len(bare) > 900 or not _MESSAGE_ID.fullmatch(bare):
        raise InvalidRequest("invalid_message_id", Text(
            "%(field)s: %(value)r is not a Message-ID", field=field, value=reply_id[:100]),
            field=field)
    return (("In-Reply-To", f"<{bare}>"), ("References", f"<{bare}>"))
