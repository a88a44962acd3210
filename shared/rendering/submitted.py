"""A message submitted over SMTP as it is sent: the client's bytes with mailpipe's headers.

The content keeps the bytes as the client sent them (``contents.raw_mime``);
each envelope recipient's row is sent those bytes, to that recipient alone,
after these changes to the header block (the body's bytes are untouched):

- ``Bcc`` is removed (a Bcc recipient is reached by its own row's envelope,
  and nobody sees the list), and so are the ``X-Mailpipe-*`` headers the
  client gave (instructions to mailpipe, read at intake:
  shared.intake.submissions);
- ``X-Mailpipe-Id`` is added, and RFC 8058 one-click List-Unsubscribe for
  bulk mail, as for every other message (shared.rendering.compose);
- a ``Message-ID`` when the client gave none (the client's is kept).

With tracking asked for, the HTML parts' links and open pixel are rewritten
as for a REST message and the message is written out again by the email
package: the bytes then differ in encoding, never in what a reader sees.
"""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.utils import make_msgid

from shared.db.messages import ClaimedMessage
from shared.intake.addresses import address_of
from shared.rendering.tracking import Tracker, unsubscribe_headers

#: Header names the client gave that never leave mailpipe (lower case; and X-Mailpipe-*).
_DROPPED = frozenset({"bcc"})
_OWN_PREFIX = "x-mailpipe-"
_HEADER_END = re.compile(rb"\r?\n\r?\n")


def split_headers(raw: bytes) -> tuple[list[bytes], bytes, bytes]:
    """(the header fields, each with its folded lines; the line ending; the rest from the
    blank line on). A message without a blank line is all header."""
    end = _HEADER_END.search(raw)
    head, rest = (raw[:end.start()], raw[end.start():]) if end else (raw, b"")
    newline = b"\r\n" if b"\r\n" in raw[:end.end() if end else len(raw)] or not raw else b"\n"
    fields: list[bytes] = []
    for line in head.split(newline):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += newline + line
        elif line:
            fields.append(line)
    return fields, newline, rest


def field_name(field: bytes) -> str:
    """A header field's name, lower case."""
    return field.partition(b":")[0].strip().decode("ascii", "replace").lower()


def sendable(message: ClaimedMessage, tracker: Tracker | None) -> bytes:
    """The bytes ``message`` (a row of a submitted message) is sent as (see above)."""
    assert message.raw is not None
    raw = message.raw
    if tracker is not None and message.tracking:
        raw = _tracked(raw, tracker, message.id)
    fields, newline, rest = split_headers(raw)
    named = [(field_name(f), f) for f in fields]
    kept = [f for name, f in named if name not in _DROPPED and not name.startswith(_OWN_PREFIX)]
    added = [("X-Mailpipe-Id", str(message.id)), *unsubscribe_headers(message, tracker)]
    if not any(name == "message-id" for name, _ in named):
        domain = address_of(message.from_addr).rpartition("@")[2] or None
        added.append(("Message-ID", make_msgid(domain=domain)))
    ours = [f"{name}: {value}".encode("ascii") for name, value in added]
    return newline.join([*ours, *kept]) + rest


def _tracked(raw: bytes, tracker: Tracker, message_id: int) -> bytes:
    """``raw`` with its HTML parts (not attached files) tracked, or as it was without any."""
    parsed = message_from_bytes(raw, policy=policy.SMTP)
    changed = False
    for part in parsed.walk():
        if part.get_content_type() == "text/html" and not part.is_attachment():
            part.set_content(tracker.instrument(part.get_content(), message_id),
                             subtype="html", cte="quoted-printable")
            changed = True
    return parsed.as_bytes() if changed else raw
