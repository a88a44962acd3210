"""Messages addressed to several people in one send (the compat APIs), and what a
sender needs beyond the basic claim: extra recipients, headers, attachments, relay.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Connection, bindparam, func, insert, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import BigInteger

from shared.db.attachments import load_attachments, store_attachments
from shared.db.suppressions import listed
from shared.db.tables import contents, messages
from shared.intake.requests import EnvelopeRequest
from shared.transports.base import Relay

if TYPE_CHECKING:  # shared.db.messages imports this module
    from shared.db.messages import ClaimedMessage

log = logging.getLogger("mailpipe.sender")


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
                to_addr=item.to[0], extra_to_addrs=list(item.to[1:]),
                cc_addrs=list(item.cc), bcc_addrs=list(item.bcc), smtp_relay_id=relay_id,
                state="queued", due_at=func.now() + timedelta(seconds=queue_timeout))
        .returning(messages.c.id, messages.c.state)
    ).one()
    return row.id, row.state


_EXTRAS = text(
    """
    SELECT m.id, m.api_key_id, m.content_id, m.extra_to_addrs, m.cc_addrs, m.bcc_addrs,
           m.mime_message_id, c.headers, r.id AS relay_id, r.url, r.username, r.password_encrypted
      FROM messages m
      JOIN contents c ON c.id = m.content_id
      LEFT JOIN smtp_relays r ON r.id = m.smtp_relay_id
     WHERE m.id = ANY(:ids)
    """
).bindparams(bindparam("ids", type_=ARRAY(BigInteger)))


def with_send_extras(conn: Connection, claimed: list[ClaimedMessage]) -> list[ClaimedMessage]:
    """``claimed`` (ClaimedMessage) completed with recipients, headers, attachments, relay.

    Cc, Bcc and further To addresses on the key's suppression list are left
    out (of the headers too): they do not get the message, the others do.

    A plain read of rows this transaction has just claimed: no other writer
    changes these columns after intake.
    """
    if not claimed:
        return claimed
    rows = {r.id: r for r in conn.execute(_EXTRAS, {"ids": [m.id for m in claimed]})}
    files = load_attachments(conn, sorted({r.content_id for r in rows.values()}))
    suppressed = listed(conn, {(r.api_key_id, address.lower()) for r in rows.values()
                               for address in (*r.extra_to_addrs, *r.cc_addrs, *r.bcc_addrs)})
    completed = []
    for message in claimed:
        row = rows[message.id]
        relay = (Relay(row.relay_id, row.url, row.username, row.password_encrypted)
                 if row.relay_id is not None else None)
        extra_to, cc, bcc = (
            _unlisted(row, addresses, suppressed)
            for addresses in (row.extra_to_addrs, row.cc_addrs, row.bcc_addrs))
        completed.append(replace(
            message, extra_to=extra_to, cc=cc, bcc=bcc,
            mime_message_id=row.mime_message_id,
            headers=tuple((name, value) for name, value in row.headers or ()),
            attachments=files.get(row.content_id, ()),
            relay=relay,
        ))
    return completed


def _unlisted(row, addresses: list[str], suppressed: set[tuple[int, str]]) -> tuple[str, ...]:
    left_out = [a for a in addresses if (row.api_key_id, a.lower()) in suppressed]
    if left_out:
        log.info("message %d: %s left out of the send: on the key's suppression list",
                 row.id, ", ".join(left_out))
    return tuple(a for a in addresses if a not in left_out)


@dataclass(frozen=True)
class SendResult:
    """Where a message stands, for a caller waiting on it."""

    id: int
    state: str
    provider_message_id: str | None
    error: str | None
    mime_message_id: str | None


def send_results(conn: Connection, ids: list[int]) -> dict[int, SendResult]:
    """State, provider id and error of each id (a plain read, no locks)."""
    rows = conn.execute(
        text("SELECT id, state, provider_message_id, error, mime_message_id FROM messages "
             "WHERE id = ANY(:ids)").bindparams(bindparam("ids", type_=ARRAY(BigInteger))),
        {"ids": ids},
    )
    return {r.id: SendResult(*r) for r in rows}
