"""Accepting a message submitted over SMTP: an envelope and its bytes, through REST's rules.

``mailpipe smtp`` (services.smtp) checks what it can at each verb: the key
at AUTH, the envelope sender at MAIL (``check_mail_from``), each recipient
at RCPT. After DATA, ``accept_submission`` reads what intake needs from the
bytes (``read_submission``) and stores the message as a native API request
would be (shared.intake.messages.accept): one content carrying the bytes
as submitted, one message row per envelope recipient (so Bcc recipients,
who are in no header, get theirs), the header From checked against the
key's domains, suppressed recipients recorded as suppressed, the rows
enqueued after the commit.

Optional headers set what the JSON API's fields set (they are removed
before sending: shared.rendering.submitted):

- ``X-Mailpipe-Topic``: the topicId (default ``smtp``);
- ``X-Mailpipe-Scheduled-At``: an RFC 3339 time to send at (default now);
- ``X-Mailpipe-Tracking``: ``on``/``true``/``yes``/``1`` for open and click
  tracking (default off: a client that speaks SMTP expects its bytes);
- ``X-Mailpipe-Bulk``: ``on`` for bulk mail, which carries RFC 8058
  one-click List-Unsubscribe headers (default off), as the JSON ``bulk``.

A client that lost the connection after DATA sends again: the same key,
Message-ID and set of envelope recipients within 24 hours is answered as
the first time and creates nothing (the Idempotency-Key machinery,
shared.intake.idempotency, under a key made of the three). A message
without a Message-ID has no such protection.
"""

from __future__ import annotations

import hashlib
import html as htmllib
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.errors import HeaderParseError
from email.message import EmailMessage, Message
from email.parser import BytesParser

from dramatiq.brokers.redis import RedisBroker
from pydantic import ValidationError
from sqlalchemy import Engine

from shared.db.keys import ApiKey
from shared.db.messages import CreatedMessage
from shared.errors import InvalidRequest
from shared.i18n import Text
from shared.intake.addresses import mailbox_text
from shared.intake.idempotency import Idempotency
from shared.intake.messages import accept
from shared.intake.requests import MessageRequest
from shared.intake.rules import sender_for
from shared.settings import Settings
from shared.sources import MessageSource

#: The topic of a submission without X-Mailpipe-Topic.
DEFAULT_TOPIC = "smtp"
#: The instruction headers intake reads (any case).
TOPIC, SCHEDULED_AT = "X-Mailpipe-Topic", "X-Mailpipe-Scheduled-At"
TRACKING, BULK = "X-Mailpipe-Tracking", "X-Mailpipe-Bulk"
_YES, _NO = frozenset({"on", "true", "yes", "1"}), frozenset({"off", "false", "no", "0"})
_HEADERS = BytesParser(policy=policy.default)
#: What a subject is shortened to as the content's description (the bytes keep it whole).
_SUBJECT_CHARS = 998


@dataclass(frozen=True)
class Submission:
    """What intake reads from a submitted message's bytes."""

    #: The header From, ``Name <address>``.
    from_mailbox: str
    #: Without angle brackets; None when the client gave none.
    message_id: str | None
    #: Describing it (console, search): the decoded subject, the HTML part (or the
    #: text part as preformatted HTML) and the text part.
    subject: str
    html: str
    text: str | None
    topic_id: str
    scheduled_at: str | None
    tracking: bool
    bulk: bool


def check_mail_from(key: ApiKey, address: str, settings: Settings) -> None:
    """Raise Forbidden when the envelope sender (MAIL FROM) is outside the key's domains."""
    sender_for(key, address or None, settings, field="MAIL FROM")


def read_submission(raw: bytes) -> Submission:
    """The parts of ``raw`` intake needs; InvalidRequest when it has no usable From."""
    # Line ends as a mail reader shows them (SMTP carries CRLF): these parts describe it.
    raw = raw.replace(b"\r\n", b"\n")
    # The headers read with the modern policy (encoded words, address lists), the parts
    # with compat32's plain parser: parsing the whole message with the modern policy took
    # four times as long (3.4 ms of a 20 KB message's intake).
    headers = _HEADERS.parsebytes(raw, headersonly=True)
    parts = message_from_bytes(raw, policy=policy.compat32)
    text = _part(parts, "plain")
    return Submission(
        from_mailbox=_from_mailbox(headers),
        message_id=_header(headers, "message-id").strip().strip("<>") or None,
        subject=_described(_header(headers, "subject")),
        html=_part(parts, "html") or f"<pre>{htmllib.escape(text or '')}</pre>",
        text=text,
        topic_id=_header(headers, TOPIC).strip() or DEFAULT_TOPIC,
        scheduled_at=_header(headers, SCHEDULED_AT).strip() or None,
        tracking=_switch(headers, TRACKING),
        bulk=_switch(headers, BULK),
    )


def accept_submission(
    engine: Engine, broker: RedisBroker, key: ApiKey, recipients: list[str], raw: bytes,
    settings: Settings,
) -> list[CreatedMessage]:
    """Store the submission (one row per envelope recipient), then enqueue what is due.

    Raises Forbidden when the header From is outside the key's domains,
    InvalidRequest when an instruction header or the From is not valid;
    nothing is written then. A resend (same key, Message-ID and recipients
    within 24 hours) returns the first answer and creates nothing.
    """
    submission = read_submission(raw)
    sender = sender_for(key, submission.from_mailbox, settings, field="From")
    try:
        request = MessageRequest(
            topic_id=submission.topic_id, recipients=recipients, subject=submission.subject,
            html=submission.html, text=submission.text, from_addr=sender,
            scheduled_at=submission.scheduled_at, tracking=submission.tracking,
            bulk=submission.bulk,
        ).as_submitted(raw)
    except ValidationError as exc:
        raise _invalid(exc) from None
    return accept(engine, broker, key, [request], settings,
                  idempotency=_idempotency(submission.message_id, recipients),
                  source=MessageSource.SMTP)


def _idempotency(message_id: str | None, recipients: list[str]) -> Idempotency | None:
    """The Idempotency-Key of a submission: its Message-ID and envelope recipients."""
    if message_id is None:
        return None
    wanted = "\n".join([message_id, *sorted({r.lower() for r in recipients})])
    return Idempotency(f"smtp:{hashlib.sha256(wanted.encode()).hexdigest()}", lambda: "smtp")


def _header(message: EmailMessage, name: str) -> str:
    try:
        return str(message.get(name) or "")
    except (HeaderParseError, ValueError, IndexError):
        return ""


def _described(subject: str) -> str:
    """The subject as the content's description: on one line, printable (the bytes keep it
    as it was)."""
    printable = "".join(c if c.isprintable() else " " for c in subject)
    return " ".join(printable.split())[:_SUBJECT_CHARS] or "-"


def _from_mailbox(message: EmailMessage) -> str:
    try:
        addresses = message["from"].addresses if message["from"] is not None else ()
    except (HeaderParseError, ValueError, IndexError, AttributeError):
        addresses = ()
    if len(addresses) != 1 or not addresses[0].addr_spec or "@" not in addresses[0].addr_spec:
        raise InvalidRequest("invalid_from", Text(
            "From: the message needs one From header with one address"), field="From")
    return mailbox_text(addresses[0].addr_spec, addresses[0].display_name or None)


def _part(message: Message, subtype: str) -> str | None:
    """The first ``text/<subtype>`` part that is not an attached file, as text (a byte its
    charset cannot decode, or an unknown charset, shown as U+FFFD: it only describes)."""
    for part in message.walk():
        if (part.get_content_type() == f"text/{subtype}"
                and part.get_content_disposition() != "attachment"):
            payload = part.get_payload(decode=True) or b""
            charset = part.get_content_charset() or "us-ascii"
            try:
                text = payload.decode(charset, errors="replace")
            except LookupError:
                text = payload.decode("utf-8", errors="replace")
            return text.replace("\x00", "")
    return None


def _switch(message: EmailMessage, name: str) -> bool:
    """An on/off instruction header (absent: off)."""
    value = _header(message, name).strip().lower()
    if not value or value in _NO:
        return False
    if value in _YES:
        return True
    raise InvalidRequest("invalid_header", Text(
        "%(header)s: %(value)r is neither on nor off", header=name, value=value[:40]),
        field=name)


#: Where each field of the request came from.
_HEADER_OF_FIELD = {"topic_id": TOPIC, "scheduled_at": SCHEDULED_AT, "from_addr": "From",
                    "subject": "Subject", "recipients": "RCPT TO"}


def _invalid(exc: ValidationError) -> InvalidRequest:
    """The first problem of ``exc`` named by the header (or envelope part) it came from."""
    error = exc.errors(include_url=False)[0]
    loc = str(error["loc"][0]) if error["loc"] else ""
    where = _HEADER_OF_FIELD.get(loc, loc)
    return InvalidRequest("invalid_header", Text(
        "%(field)s: %(problem)s", field=where, problem=error["msg"]), field=where)
