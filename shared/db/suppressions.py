"""The per-key suppression list: who a key must not send to, and why.

Addresses are stored lower-cased and compared lower-cased. Entries come from
hard bounces and complaints (``shared.db.events``), one-click unsubscribes,
the API, and SES's own account-level suppression list, which the scheduler
reads on from where it stopped (``suppress_for_every_key``, ``import_cursor``:
an address SES would refuse is not tried). A message to a listed address ends
``suppressed`` at intake (``suppress_new_messages``), when a campaign is expanded
(``shared.db.campaigns``) or at claim time (``suppress_queued``), whichever
comes first after the address was listed. A listed Cc, Bcc or further To of
a compat message is left out of its send by the claim
(``shared.db.claims.claim_for_sending``); the others still get it.

A person's additions and removals (the console, the API) name their
``actor`` and are recorded in the audit log in the same transaction
(``suppression.add``, ``suppression.remove``); the pipeline's own (bounces,
complaints, unsubscribes) are not: the event that caused each is its record.

The console searches a key's list the way it searches messages
(``shared.db.message_search.read_query``): an address, a domain (``@example.com``
or ``example.com``) or the start of an address, on the indexes
``suppressions_prefix`` and ``suppressions_domain`` (migration 0018).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Connection, bindparam, func, literal, select, text, union
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import BigInteger, Text

from shared.db.audit import Actor, record
from shared.db.message_search import Match, read_query
from shared.db.messages import CreatedMessage
from shared.db.outbox import (
    MessageEvent,
    complete_campaigns,
    emit_message_events,
    emit_state_changes,
)
from shared.db.tables import suppressions
from shared.states import BY_ID_STATE, UNCLAIMED
from shared.states import MessageState as S
from shared.webhooks.events import OutboundEventType as T


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
    message_id: int | None = None, *, actor: Actor | None = None,
) -> list[str]:
    """Suppress ``addresses`` for the key; returns those not listed before.

    ON CONFLICT DO NOTHING: an address already listed keeps its first reason.
    With ``actor``, the addresses added (if any) are one ``suppression.add`` entry.
    """
    unique = sorted({a.lower() for a in addresses})
    rows = conn.execute(_ADD, {"key": api_key_id, "addresses": unique, "reason": reason,
                               "message_id": message_id})
    added = sorted(r.address for r in rows)
    if added and actor is not None:
        record(conn, actor, "suppression.add",
               added[0] if len(added) == 1 else f"{len(added)} addresses",
               after={"key": api_key_id, "reason": reason, "addresses": added})
    return added


_UNSUBSCRIBE = text(
    """
    INSERT INTO suppressions (api_key_id, address, reason, message_id)
    SELECT api_key_id, lower(to_addr), 'unsubscribe', id FROM messages WHERE id = :id
    ON CONFLICT (api_key_id, address) DO NOTHING
    RETURNING message_id
    """
)


_SUPPRESS_FOR_EVERY_KEY = text(
    """
    INSERT INTO suppressions (api_key_id, address, reason)
    SELECT k.id, a.address, a.reason
      FROM api_keys k, unnest(:addresses, :reasons) AS a(address, reason)
     WHERE k.revoked_at IS NULL
    ON CONFLICT (api_key_id, address) DO NOTHING
    RETURNING api_key_id, address
    """
).bindparams(bindparam("addresses", type_=ARRAY(Text)), bindparam("reasons", type_=ARRAY(Text)))


def suppress_for_every_key(conn: Connection, entries: list[tuple[str, str]]) -> int:
    """Suppress each (address, reason) for every unrevoked key, as SES's account-level list
    does for the whole account; returns how many (key, address) entries are new. An entry
    already listed keeps its first reason (ON CONFLICT DO NOTHING). A key made later
    does not get them: SES bounces its first send to one (``OnAccountSuppressionList``),
    and that bounce suppresses the address for it."""
    if not entries:
        return 0
    addresses, reasons = zip(*((a.lower(), r) for a, r in entries), strict=True)
    rows = conn.execute(_SUPPRESS_FOR_EVERY_KEY,
                        {"addresses": list(addresses), "reasons": list(reasons)})
    return len(rows.all())


def import_cursor(conn: Connection, source: str) -> datetime | None:
    """How far ``source`` has been read (``import_cursors``), None when never."""
    return conn.execute(text("SELECT read_until FROM import_cursors WHERE source = :source"),
                        {"source": source}).scalar_one_or_none()


def advance_import_cursor(conn: Connection, source: str, until: datetime) -> None:
    """Record that ``source`` has been read up to ``until``; never moves it back (two
    schedulers importing at once leave the later of the two)."""
    conn.execute(text(
        """
        INSERT INTO import_cursors (source, read_until) VALUES (:source, :until)
        ON CONFLICT (source) DO UPDATE
           SET read_until = GREATEST(import_cursors.read_until, EXCLUDED.read_until),
               updated_at = now()
        """), {"source": source, "until": until})


def unsubscribe_message_recipient(conn: Connection, message_id: int) -> bool:
    """Suppress the recipient of ``message_id`` for the key that sent it; False if no message.

    Idempotent: unsubscribing twice (or an address already suppressed) is fine. The
    unsubscription that adds the suppression is a ``message.unsubscribed`` in the outbox
    (``shared.db.outbox``); a second click, or an address already suppressed, is none.
    """
    exists = conn.execute(text("SELECT 1 FROM messages WHERE id = :id"), {"id": message_id})
    if exists.first() is None:
        return False
    added = conn.execute(_UNSUBSCRIBE, {"id": message_id}).scalars().all()
    emit_message_events(conn, [MessageEvent(T.MESSAGE_UNSUBSCRIBED, i) for i in added])
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


_REMOVE = text(
    """
    DELETE FROM suppressions WHERE api_key_id = :key AND address = :address
    RETURNING address, reason, message_id, created_at
    """
)


def remove_suppression(conn: Connection, api_key_id: int, address: str, *,
                       actor: Actor | None = None) -> bool:
    """Take ``address`` off the key's list; False when it was not on it. With ``actor``,
    recorded as ``suppression.remove`` with the entry as it was."""
    row = conn.execute(_REMOVE, {"key": api_key_id, "address": address.lower()}).one_or_none()
    if row is not None and actor is not None:
        record(conn, actor, "suppression.remove", row.address, before={
            "key": api_key_id, "reason": row.reason, "messageId": row.message_id,
            "createdAt": row.created_at.isoformat()})
    return row is not None


@dataclass(frozen=True)
class FoundSuppressions:
    """A page of entries in address order, and whether more match after its last."""

    entries: list[Suppression]
    more: bool


def search_suppressions(conn: Connection, api_key_id: int, typed: str = "", *,
                        after: str | None = None, limit: int = 100) -> FoundSuppressions:
    """The key's entries ``typed`` finds (every entry when it is blank), in address order,
    ``limit`` at a time after ``after`` (keyset). One statement: a UNION of index reads
    each stopped at ``limit + 1`` rows. Plain read, no locks."""
    rows = conn.execute(_search_statement(api_key_id, typed, after, limit + 1)).all()
    return FoundSuppressions([Suppression(*r) for r in rows[:limit]], len(rows) > limit)


def _search_statement(api_key_id: int, typed: str, after: str | None, limit: int):
    s = suppressions.c
    query = read_query(typed)
    # Byte order, as the indexes hold the addresses (lower-case ASCII).
    address = s.address.collate("C")
    wanted = literal(query.text.lower())
    domain = func.split_part(s.address, "@", -1)
    if not query.text:
        conditions = [None]  # the whole list
    elif query.match is Match.ADDRESS:
        conditions = [s.address == wanted]
    elif query.match is Match.DOMAIN:
        conditions = [domain == wanted]
    else:
        # startswith(autoescape): LIKE's wildcards in what was typed are taken literally.
        prefix = address.startswith(query.text.lower(), autoescape=True)
        conditions = [prefix] + ([domain == wanted]
                                 if query.match is Match.DOMAIN_OR_PREFIX else [])
    arms = []
    for condition in conditions:
        arm = select(s.address, s.reason, s.message_id, s.created_at).where(
            s.api_key_id == api_key_id)
        if condition is not None:
            arm = arm.where(condition)
        if after is not None:
            arm = arm.where(address > after)
        arms.append(arm.order_by(address).limit(limit))
    if len(arms) == 1:
        return arms[0]
    merged = union(*arms).subquery()
    return select(merged).order_by(merged.c.address.collate("C")).limit(limit)


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
    RETURNING m.id, m.campaign_id
    """
).bindparams(bindparam("ids", type_=ARRAY(BigInteger)), bindparam("states", type_=ARRAY(Text)))


def _suppress(conn: Connection, ids: list[int], states: list[str]) -> set[int]:
    """End the rows among ``ids`` still in ``states`` whose recipient is suppressed:
    a ``message.suppressed`` each (``shared.db.outbox``), which may complete a campaign."""
    if not ids:
        return set()
    rows = conn.execute(_SUPPRESS, {"ids": ids, "states": states}).all()
    emit_state_changes(conn, {r.id: S.SUPPRESSED for r in rows})
    complete_campaigns(conn, (r.campaign_id for r in rows))
    return {r.id for r in rows}


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
