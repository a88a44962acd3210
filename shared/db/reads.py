"""Reads for the API: one message, topic summaries, sent counts. Scoped to a key."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from shared.db.tables import event_tallies, events, messages

#: Seed-compatible numeric codes (aws-ses-sender-go): 0 created,
#: 1 processing, 2 sent (and later), 3 failed, 4 stopped.
STATE_CODES = {
    "created": 0,
    "queued": 1,
    "sending": 1,
    "unknown": 1,
    "sent": 2,
    "delivered": 2,
    "bounced": 2,
    "complained": 2,
    "failed": 3,
    "suppressed": 3,
    "cancelled": 4,
}


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
    """Message count per state and event count per type for one topic."""
    by_state = dict(
        conn.execute(
            select(messages.c.state, func.count())
            .where(messages.c.api_key_id == api_key_id, messages.c.topic_id == topic_id)
            .group_by(messages.c.state)
        ).all()
    )
    by_event = dict(
        conn.execute(
            select(events.c.type, func.count())
            .select_from(events.join(messages, messages.c.id == events.c.message_id))
            .where(messages.c.api_key_id == api_key_id, messages.c.topic_id == topic_id)
            .group_by(events.c.type)
        ).all()
    )
    # Events retention pruned are counted in event_tallies.
    for kind, n in conn.execute(
        select(event_tallies.c.type, func.sum(event_tallies.c.n))
        .select_from(event_tallies.join(messages, messages.c.id == event_tallies.c.message_id))
        .where(messages.c.api_key_id == api_key_id, messages.c.topic_id == topic_id)
        .group_by(event_tallies.c.type)
    ):
        by_event[kind] = by_event.get(kind, 0) + int(n)
    return {"status": by_state, "events": by_event}


def sent_count(conn: Connection, api_key_id: int, hours: int) -> int:
    """Messages of this key whose send was accepted in the last ``hours`` hours."""
    return conn.execute(
        select(func.count()).where(
            messages.c.api_key_id == api_key_id,
            messages.c.sent_at >= func.now() - func.make_interval(0, 0, 0, 0, hours),
        )
    ).scalar_one()
