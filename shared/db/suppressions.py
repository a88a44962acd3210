"""The per-key suppression list: who a key must not send to, and why.

Addresses are stored lower-cased and compared lower-cased. Entries come from
hard bounces and complaints (``shared.db.events``), one-click unsubscribes
and the API. A message to a listed address ends ``suppressed`` at intake
(``suppress_new_messages``), when a campaign is expanded
(``shared.db.campaigns``) or at claim time (``suppress_queued``), whichever
comes first after the address was listed. A listed Cc, Bcc or further To of
a compat message is left out of its send by the claim
(``shared.db.claims.claim_for_sending``); the others still get it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Connection, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import BigInteger, Text

from shared.db.messages import CreatedMessage
from shared.states import BY_ID_STATE, UNCLAIMED
from shared.states import MessageState as S


@dataclass(frozen=True)
class Suppression:
    address: str
    reason: str
    message_id: int | None
    created_at: datetime


_ADD = text(
    """
    INSERT INTO suppressions (api_key_id, address, reason, message_id)
    SELECT :key, a.address, :reason, :message_id
      FROM unnest(:addresses) AS a(address)
    ON CONFLICT (api_key_id, address) DO NOTHING
    RETURNING address
    """
).bindparams(bindparam("addresses", type_=ARRAY(Text)))


def add_suppressions(
    conn: Connection, api_key_id: int, addresses: list[str], reason: str,
    message_id: int | None = None,
) -> list[str]:
    """Suppress ``addresses`` for the key; returns those not listed before.

    ON CONFLICT DO NOTHING: an address already listed keeps its first reason.
    """
    unique = sorted({a.lower() for a in addresses})
    rows = conn.execute(_ADD, {"key": api_key_id, "addresses": unique, "reason": reason,
                               "message_id": message_id})
    return sorted(r.address for r in rows)


_UNSUBSCRIBE = text(
    """
    INSERT INTO suppressions (api_key_id, address, reason, message_id)
    SELECT api_key_id, lower(to_addr), 'unsubscribe', id FROM messages WHERE id = :id
    ON CONFLICT (api_key_id, address) DO NOTHING
    """
)


def unsubscribe_message_recipient(conn: Connection, message_id: int) -> bool:
    """Suppress the recipient of ``message_id`` for the key that sent it; False if no message.

    Idempotent: unsubscribing twice (or an address already suppressed) is fine.
    """
    exists = conn.execute(text("SELECT 1 FROM messages WHERE id = :id"), {"id": message_id})
    if exists.first() is None:
        return False
    conn.execute(_UNSUBSCRIBE, {"id": message_id})
    return True


def list_suppressions(
    conn: Connection, api_key_id: int, *, limit: int, after: str | None = None,
    address: str | None = None,
) -> list[Suppression]:
    """The key's entries in address order, ``limit`` at a time after ``after`` (keyset)."""
    rows = conn.execute(
        text(
            """
            SELECT address, reason, message_id, created_at FROM suppressions
             WHERE api_key_id = :key
               AND (CAST(:after AS text) IS NULL OR address > :after)
               AND (CAST(:address AS text) IS NULL OR address = :address)
             ORDER BY address
             LIMIT :limit
            """
        ),
        {"key": api_key_id, "after": after, "limit": limit,
         "address": address.lower() if address else None},
    )
    return [Suppression(*r) for r in rows]


def remove_suppression(conn: Connection, api_key_id: int, address: str) -> bool:
    """Take ``address`` off the key's list; False when it was not on it."""
    result = conn.execute(
        text("DELETE FROM suppressions WHERE api_key_id = :key AND address = :address"),
        {"key": api_key_id, "address": address.lower()},
    )
    return result.rowcount == 1


def suppressed_error(alias: str) -> str:
    """The SQL for a suppressed message's ``error``, from the suppressions row ``alias``."""
    return f"'the address is on this key''s suppression list (' || {alias}.reason || ')'"


_SUPPRESS = text(
    f"""
    UPDATE messages m
       SET state = '{S.SUPPRESSED}',
           error = {suppressed_error("s")},
           updated_at = now()
      FROM suppressions s
     WHERE m.id = ANY(:ids)
       AND m.{BY_ID_STATE} = ANY(:states)
       AND s.api_key_id = m.api_key_id
       AND s.address = lower(m.to_addr)
    RETURNING m.id
    """
).bindparams(bindparam("ids", type_=ARRAY(BigInteger)), bindparam("states", type_=ARRAY(Text)))


def _suppress(conn: Connection, ids: list[int], states: list[str]) -> set[int]:
    """End the rows among ``ids`` still in ``states`` whose recipient is suppressed."""
    if not ids:
        return set()
    return {r.id for r in conn.execute(_SUPPRESS, {"ids": ids, "states": states})}


def suppress_queued(conn: Connection, ids: list[int]) -> list[int]:
    """End the ``queued`` rows among ``ids`` whose recipient is suppressed; returns them.

    Run in the sender's claim transaction just before the claim: a suppressed
    row leaves ``queued`` here, so the claim (on ``queued`` rows only) skips it
    and it never reaches the transport. Conditional on ``queued``, so it
    races harmlessly with other senders and with cancellation.
    """
    return sorted(_suppress(conn, ids, [S.QUEUED]))


def suppress_new_messages(conn: Connection, created: list[CreatedMessage]) -> list[CreatedMessage]:
    """``created`` with the rows whose recipient is suppressed ended ``suppressed``.

    Run in the intake transaction, after the insert and before anything is
    enqueued: the caller's answer already says ``suppressed`` and nothing is
    queued for those rows. (A suppression added later is caught by
    ``suppress_queued`` at send time.) Locks only the rows just inserted.
    """
    ids = _suppress(conn, [m.id for m in created], sorted(UNCLAIMED))
    return [replace(m, state=S.SUPPRESSED) if m.id in ids else m for m in created]
