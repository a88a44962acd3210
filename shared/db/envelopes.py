"""Messages addressed to several people in one send (the compat APIs): the insert,
and where such a message stands for a caller waiting on it.

The claim (``shared.db.claims.claim_for_sending``) returns their further
To, Cc, Bcc, headers, attachments and relay with the rest of the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, bindparam, func, insert, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import BigInteger

from shared.db.attachments import store_attachments
from shared.db.tables import contents, messages
from shared.intake.requests import EnvelopeRequest
from shared.states import MessageState as S

#: What an EnvelopeRequest stores by name on its content and message rows.
_CONTENT_FIELDS = frozenset(contents.c.keys())
_MESSAGE_FIELDS = frozenset(messages.c.keys())


def insert_envelope(conn: Connection, api_key_id: int, item: EnvelopeRequest, *,
                    relay_id: int | None = None, queue_timeout: float) -> tuple[int, str]:
    """Store the content, its attachments and one ``queued`` row; returns (id, state).

    ``item`` has its sender and Message-ID already (shared.intake.envelopes);
    ``relay_id`` names the tenant relay to send through. In the caller's
    transaction; enqueue the id only after it commits (the dispatch sweep
    re-enqueues it after ``queue_timeout`` if that is lost).
    """
    content_id = conn.execute(
        insert(contents)
        .values(api_key_id=api_key_id, **item.model_dump(include=_CONTENT_FIELDS),
                # No open/click tracking: the compat APIs' clients never asked for
                # it, and one pixel would count every To/Cc/Bcc reader as one.
                tracking=False)
        .returning(contents.c.id)
    ).scalar_one()
    store_attachments(conn, content_id, item.attachments)
    row = conn.execute(
        insert(messages)
        .values(api_key_id=api_key_id, content_id=content_id,
                **item.model_dump(include=_MESSAGE_FIELDS),
                to_addr=item.to[0].address, to_name=item.to[0].name,
                extra_to_addrs=[a.address for a in item.to[1:]],
                cc_addrs=[a.address for a in item.cc], bcc_addrs=[a.address for a in item.bcc],
                extra_names=_header_names(item), smtp_relay_id=relay_id,
                state=S.QUEUED, due_at=func.now() + timedelta(seconds=queue_timeout))
        .returning(messages.c.id, messages.c.state)
    ).one()
    return row.id, row.state


def _header_names(item: EnvelopeRequest) -> dict[str, str] | None:
    """Display names of the further To and the Cc, by lower-cased address (None: none)."""
    return {a.key: a.name for a in (*item.to[1:], *item.cc) if a.name} or None


@dataclass(frozen=True)
class SendResult:
    """Where a message stands, for a caller waiting on it."""

    id: int
    state: str
    provider_message_id: str | None
    error: str | None
    mime_message_id: str | None
    #: Sent through the key's own SMTP relay (a tenant send), not the configured transport.
    relayed: bool = False


def send_results(conn: Connection, ids: list[int]) -> dict[int, SendResult]:
    """State, provider id and error of each id (a plain read, no locks)."""
    rows = conn.execute(
        text("SELECT id, state, provider_message_id, error, mime_message_id, "
             "smtp_relay_id IS NOT NULL AS relayed FROM messages "
             "WHERE id = ANY(:ids)").bindparams(bindparam("ids", type_=ARRAY(BigInteger))),
        {"ids": ids},
    )
    return {r.id: SendResult(*r) for r in rows}
