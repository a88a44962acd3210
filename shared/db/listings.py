"""A topic's or a campaign's messages, one row each with its engagement, page by page.

What ses-go showed per recipient ("메세지 열람 여부 조회", "내부 링크 클릭 여부
조회"): each message's state with its human opens and clicks and whether it
bounced. Pages are keyset pages over ``messages.id`` (``after``), so a
million-row campaign is listed or exported at the same cost per page.
Read-only; no locks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import BigInteger, Connection, and_, cast, exists, func, or_, select

from shared.broker.payloads import EventType as E
from shared.db.tables import event_tallies, events, messages
from shared.states import MessageState


@dataclass(frozen=True)
class MessageFilter:
    """Which of a key's messages to list; ``None`` means either way."""

    topic_id: str | None = None
    campaign_id: int | None = None
    states: frozenset[MessageState] = frozenset()
    opened: bool | None = None
    clicked: bool | None = None
    bounced: bool | None = None
    address: str | None = None


def _counted(kind: str):
    """Human (not machine) events of one type for the outer message row, with the ones
    retention pruned (``event_tallies``)."""
    stored = (select(func.count()).select_from(events)
              .where(events.c.message_id == messages.c.id, events.c.type == kind,
                     events.c.machine.is_(False))
              .scalar_subquery())
    pruned = (select(cast(func.coalesce(func.sum(event_tallies.c.n), 0), BigInteger))
              .where(event_tallies.c.message_id == messages.c.id, event_tallies.c.type == kind,
                     event_tallies.c.machine.is_(False))
              .scalar_subquery())
    return stored + pruned


def _has(kind: str, *, humans_only: bool):
    found = []
    for table in (events, event_tallies):
        condition = and_(table.c.message_id == messages.c.id, table.c.type == kind)
        if humans_only:
            condition = and_(condition, table.c.machine.is_(False))
        found.append(exists().where(condition))
    return or_(*found)


def _where(api_key_id: int, f: MessageFilter) -> list:
    clauses = [messages.c.api_key_id == api_key_id]
    if f.topic_id is not None:
        clauses.append(messages.c.topic_id == f.topic_id)
    if f.campaign_id is not None:
        clauses.append(messages.c.campaign_id == f.campaign_id)
    if f.states:
        clauses.append(messages.c.state.in_(sorted(f.states)))
    if f.address is not None:
        clauses.append(func.lower(messages.c.to_addr) == f.address.lower())
    for wanted, kind in ((f.opened, E.OPENED), (f.clicked, E.CLICKED), (f.bounced, E.BOUNCED)):
        if wanted is not None:
            found = _has(kind, humans_only=kind != E.BOUNCED)
            clauses.append(found if wanted else ~found)
    return clauses


def list_messages(conn: Connection, api_key_id: int, where: MessageFilter, *,
                  after: int = 0, limit: int = 100) -> list[dict]:
    """Up to ``limit`` messages with ids above ``after``, in id order, with their counts.

    One statement: the topic index (``messages_topic``) or the campaign's
    unique index narrows the rows, correlated counts over ``events_message``
    add the engagement.
    """
    query = (
        select(messages.c.id, messages.c.topic_id, messages.c.campaign_id, messages.c.to_addr,
               messages.c.to_name, messages.c.state, messages.c.attempts,
               messages.c.provider_message_id, messages.c.error, messages.c.scheduled_at,
               messages.c.sent_at,
               _counted(E.OPENED).label("opens"), _counted(E.CLICKED).label("clicks"),
               *(_has(kind, humans_only=False).label(kind.value)
                 for kind in (E.BOUNCED, E.COMPLAINED, E.DELIVERED)))
        .where(*_where(api_key_id, where), messages.c.id > after)
        .order_by(messages.c.id)
        .limit(limit)
    )
    return [row._asdict() for row in conn.execute(query)]


def all_messages(connect, api_key_id: int, where: MessageFilter,
                 page: int = 1000) -> Iterable[dict]:
    """Every matching message, fetched ``page`` rows per short read (for CSV export).

    ``connect`` makes a connection per page, so a slow reader of a large
    export never holds one transaction (or a pool connection) open throughout.
    """
    after = 0
    while True:
        with connect() as conn:
            rows = list_messages(conn, api_key_id, where, after=after, limit=page)
        yield from rows
        if len(rows) < page:
            return
        after = rows[-1]["id"]
