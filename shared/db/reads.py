"""Reads for the API: one message, topic summaries, sent counts. Scoped to a key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, literal, select, union_all

from shared.db.tables import event_tallies, events, messages


def get_message(conn: Connection, api_key_id: int, message_id: int) -> dict | None:
    """The message with its events, or None when the key does not own it."""
    row = conn.execute(
        select(messages).where(messages.c.id == message_id, messages.c.api_key_id == api_key_id)
    ).one_or_none()
    if row is None:
        return None
    event_rows = conn.execute(
        select(events.c.type, events.c.occurred_at, events.c.detail, events.c.machine,
               events.c.payload)
        .where(events.c.message_id == message_id)
        .order_by(events.c.occurred_at, events.c.id)
    )
    return {
        **row._asdict(),
        "events": [e._asdict() for e in event_rows],
    }


def topic_summary(conn: Connection, api_key_id: int, topic_id: str) -> dict:
    """Message count per state, event count per type, and messages per event type."""
    by_state = dict(
        conn.execute(
            select(messages.c.state, func.count())
            .where(messages.c.api_key_id == api_key_id, messages.c.topic_id == topic_id)
            .group_by(messages.c.state)
        ).all()
    )
    topic = select(messages.c.id).where(messages.c.api_key_id == api_key_id,
                                        messages.c.topic_id == topic_id)
    # Events retention pruned live on as counts in event_tallies.
    every = union_all(
        select(events.c.message_id, events.c.type, literal(1).label("n"))
        .where(events.c.message_id.in_(topic)),
        select(event_tallies.c.message_id, event_tallies.c.type, event_tallies.c.n)
        .where(event_tallies.c.message_id.in_(topic)),
    ).subquery()
    by_event = conn.execute(
        select(every.c.type, func.sum(every.c.n), func.count(every.c.message_id.distinct()))
        .group_by(every.c.type)
    ).all()
    return {"status": by_state, "events": {kind: int(n) for kind, n, _ in by_event},
            "messagesByEvent": {kind: m for kind, _, m in by_event}}


def sent_count(conn: Connection, api_key_id: int, hours: int) -> tuple[int, datetime]:
    """(messages of this key whose send was accepted in the last ``hours`` hours, since when)."""
    since = conn.execute(select(func.now() - func.make_interval(0, 0, 0, 0, hours))
                         ).scalar_one()
    count = conn.execute(
        select(func.count()).where(messages.c.api_key_id == api_key_id,
                                   messages.c.sent_at >= since)
    ).scalar_one()
    return count, since
