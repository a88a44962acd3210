"""Message rows: intake, dispatch, and what a sender's claim hands it (``ClaimedMessage``).

The claim itself, its renewal and its hand-back are shared.db.claims.

Every state change here is one conditional statement whose row count
decides who won; nothing reads a row and then acts on what it saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import BigInteger, Text

from shared.db.attachments import store_attachments
from shared.db.tables import contents
from shared.intake.attachments import Attachment
from shared.intake.requests import MessageRequest
from shared.sources import MessageSource
from shared.states import UNCLAIMED, sql_list
from shared.states import MessageState as S
from shared.transports.base import Relay


@dataclass(frozen=True)
class CreatedMessage:
    id: int
    topic_id: str
    to_addr: str
    state: str


_INSERT_MESSAGES = text(
    f"""
    INSERT INTO messages (api_key_id, content_id, topic_id, from_addr, to_addr, to_name,
                          state, scheduled_at, due_at, variables, source)
    SELECT :api_key_id, :content_id, :topic_id, :from_addr, r.addr, r.name,
           CASE WHEN :due_now THEN '{S.QUEUED}' ELSE '{S.CREATED}' END,
           COALESCE(:scheduled_at, now()),
           CASE WHEN :due_now THEN now() + make_interval(secs => :queue_timeout)
                ELSE :scheduled_at END,
           CAST(r.vars AS jsonb), :source
    FROM unnest(:recipients, :names, CAST(:variables AS text[]))
         WITH ORDINALITY AS r(addr, name, vars, n)
    ORDER BY r.n
    RETURNING id, to_addr, state
    """
).bindparams(bindparam("recipients", type_=ARRAY(Text)), bindparam("names", type_=ARRAY(Text)),
             bindparam("variables", type_=ARRAY(Text)))


#: What a MessageRequest stores on its content row: the fields named like its columns.
_CONTENT_FIELDS = frozenset(contents.c.keys())


def insert_messages(
    conn: Connection, api_key_id: int, items: list[MessageRequest], *, queue_timeout: float,
    source: MessageSource = MessageSource.API,
) -> list[CreatedMessage]:
    """Store each item's content and one row per recipient, in the caller's transaction.

    Each item's sender is already chosen (``from_addr``, see shared.intake).
    Rows due now are inserted ``queued`` (their ids must be enqueued after
    commit; if that enqueue is lost, the dispatch sweep re-enqueues them after
    ``queue_timeout``); rows scheduled for later are ``created``. ``source``: the door
    they came in by.
    """
    created: list[CreatedMessage] = []
    now = datetime.now().astimezone()
    for item in items:
        content_id = conn.execute(
            insert(contents)
            .values(api_key_id=api_key_id, **item.model_dump(include=_CONTENT_FIELDS))
            .returning(contents.c.id)
        ).scalar_one()
        store_attachments(conn, content_id, item.attachments)
        due_now = item.scheduled_at is None or item.scheduled_at <= now
        rows = conn.execute(
            _INSERT_MESSAGES,
            {
                "api_key_id": api_key_id,
                "content_id": content_id,
                "topic_id": item.topic_id,
                "from_addr": item.from_addr,
                "due_now": due_now,
                "scheduled_at": item.scheduled_at,
                "queue_timeout": queue_timeout,
                "source": source,
                "recipients": [r.address for r in item.recipients],
                # Display names apart: the address alone is matched and suppressed.
                "names": [r.name for r in item.recipients],
                # NULL pads unnest: untemplated rows get no variables.
                "variables": item.recipient_values(),
            },
        )
        created.extend(CreatedMessage(r.id, item.topic_id, r.to_addr, r.state) for r in rows)
    return created


_CLAIM_DUE = text(
    f"""
    UPDATE messages
       SET state = '{S.QUEUED}',
           -- A row enqueued before and still unclaimed is far more likely
           -- waiting in a long queue than lost: each re-enqueue waits twice
           -- as long as the last (at most an hour), so a backlog is not
           -- enqueued again every queue_timeout. (A Redis that lost its data
           -- is noticed at once instead: make_queued_due.)
           due_at = now() + CASE
                      WHEN state = '{S.QUEUED}' THEN greatest(
                          make_interval(secs => :queue_timeout),
                          least(2 * (now() - updated_at), interval '1 hour'))
                      ELSE make_interval(secs => :queue_timeout)
                    END,
           updated_at = now()
     WHERE id IN (SELECT id FROM messages
                   WHERE state IN ({sql_list(UNCLAIMED)}) AND due_at <= now()
                   ORDER BY due_at
                   LIMIT :limit
                   FOR UPDATE SKIP LOCKED)
    RETURNING id
    """
)


def claim_due_messages(conn: Connection, *, limit: int, queue_timeout: float) -> list[int]:
    """Move up to ``limit`` due rows to ``queued`` and return their ids.

    Takes ``created`` rows whose time has come, and ``queued`` rows that no
    sender claimed within ``queue_timeout`` (the queue message was lost) or
    whose retry backoff has ended; a row taken again while still unclaimed
    waits twice as long before the next time. Row locks with SKIP LOCKED: two schedulers
    running this at once take disjoint rows. Enqueue the ids only after the
    caller's transaction commits.
    """
    rows = conn.execute(_CLAIM_DUE, {"limit": limit, "queue_timeout": queue_timeout})
    return [r.id for r in rows]


_MAKE_QUEUED_DUE = text(
    f"""
    UPDATE messages SET due_at = now()
     WHERE state = '{S.QUEUED}' AND due_at > now()
    """
)


def make_queued_due(conn: Connection) -> int:
    """Make every ``queued`` row due now, so dispatch enqueues it again; returns the count.

    For when Redis lost its data (restarted empty, flushed): every queue
    message is gone, so no row should wait out its queue timeout. Rows in a
    retry backoff are retried early, once. Duplicates of messages that did
    survive are dropped by the senders' claims.
    """
    return conn.execute(_MAKE_QUEUED_DUE).rowcount


@dataclass(frozen=True)
class ClaimedMessage:
    """What a sender needs to render and send one claimed row (all of it from the claim)."""

    id: int
    attempt: int
    from_addr: str
    to_addr: str
    subject: str
    html: str
    text: str | None
    reply_to: str | None
    #: The shared content, so a sender can render it once for all its recipients.
    content_id: int | None = None
    #: When that content was stored: with its id, what tells it apart from any
    #: other (a database restored or emptied under a running sender reuses ids).
    content_created_at: datetime | None = None
    #: Further To, Cc and Bcc (the compat APIs); empty for a plain message.
    extra_to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    mime_message_id: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    attachments: tuple[Attachment, ...] = ()
    relay: Relay | None = None
    #: Set when the parts are a template: this recipient's values, filled in
    #: by shared.rendering.mime.
    variables: dict[str, str] | None = None
    #: Open/click tracking wanted, and bulk mail (one-click List-Unsubscribe headers).
    tracking: bool = False
    bulk: bool = False
    #: Whose and what it is: SES tags each send with them (``send_tags``).
    api_key_id: int | None = None
    topic_id: str | None = None
    #: The SES configuration set its key names instead of the fleet's (None: the fleet's).
    configuration_set: str | None = None
    #: The display name of ``to_addr``, and of further To and Cc by lower-cased
    #: address: written in the headers only (shared.rendering.compose).
    to_name: str | None = None
    extra_names: dict[str, str] | None = None
    #: The message as its client submitted it over SMTP: what is sent (with mailpipe's
    #: headers, shared.rendering.submitted); the parts above then only describe it.
    raw: bytes | None = None

    @property
    def content_key(self) -> tuple[int | None, datetime | None]:
        """What a sender may cache a content's derived parts under."""
        return self.content_id, self.content_created_at

    @property
    def send_tags(self) -> tuple[tuple[str, str], ...]:
        """Names and values SES tags its send with (EmailTags: ``shared.transports.ses_content``
        makes them fit SES's rules): the recorder finds the message by ``mailpipe-message``
        when SES's id does not; SES's metrics split by them."""
        return (("mailpipe-message", str(self.id)), ("mailpipe-topic", self.topic_id or ""),
                ("mailpipe-key", str(self.api_key_id or "")))

    @property
    def recipients(self) -> tuple[str, ...]:
        """Everyone this one send reaches: To, Cc and Bcc (Bcc only in the envelope)."""
        return (self.to_addr, *self.extra_to, *self.cc, *self.bcc)


def message_states(conn: Connection, ids: list[int]) -> dict[int, str]:
    """Current state of each id (for tests and synchronous waits)."""
    rows = conn.execute(
        text("SELECT id, state FROM messages WHERE id = ANY(:ids)").bindparams(
            bindparam("ids", type_=ARRAY(BigInteger))
        ),
        {"ids": ids},
    )
    return {r.id: r.state for r in rows}


