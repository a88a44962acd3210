"""Caller-supplied header lines: which may be set, and how they must look."""

from __future__ import annotations

import re

from shared.errors import InvalidRequest
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


def custom_headers(headers: dict[str, str], field: str = "headers") -> tuple[tuple[str, str], ...]:
    """Checked ``(name, value)`` pairs, or InvalidRequest naming the bad one."""
    if len(headers) > MAX_HEADERS:
        raise InvalidRequest("too_many_headers",
                             f"{field}: {len(headers)} headers; the limit is {MAX_HEADERS}",
                             field=field)
    checked = []
    for name, value in headers.items():
        where = f"{field}.{_shown(name)}"
        if not _NAME.fullmatch(name):
            raise InvalidRequest("invalid_header", f"{where}: not a valid header name",
                                 field=where)
        if name.lower() in RESERVED:
            raise InvalidRequest("reserved_header", f"{where}: set by mailpipe, not by callers",
                                 field=where)
        if (not isinstance(value, str) or has_line_break(value) or text_problem(value)
                or len(value) > 998):
            raise InvalidRequest("invalid_header",
                                 f"{where}: must be text of at most 998 characters without "
                                 "line breaks, NUL or lone surrogates", field=where)
        checked.append((name, value))
    return tuple(checked)


def reply_headers(reply_id: str, field: str = "reply_id") -> tuple[tuple[str, str], ...]:
    """In-Reply-To and References for an answer to the message ``reply_id``."""
    bare = reply_id.strip().removeprefix("<").removesuffix(">")
    if not bare or len(bare) > 900 or not _MESSAGE_ID.fullmatch(bare):
        raise InvalidRequest("invalid_message_id",
                             f"{field}: {reply_id[:100]!r} is not a Message-ID", field=field)
    return (("In-Reply-To", f"<{bare}>"), ("References", f"<{bare}>"))


def _shown(name: str) -> str:
    """A header name fit for an error message: control characters and surrogates escaped."""
    name = name[:80]
    return name if name.isprintable() else name.encode("unicode_escape").decode("ascii")
