"""Cancelling messages the pipeline has not claimed yet (one, or a whole topic)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from shared.db.campaigns import cancel_topic_campaigns
from shared.db.outbox import complete_campaigns
from shared.states import UNCLAIMED, sql_list
from shared.states import MessageState as S

_CANCEL = text(
    f"""
    WITH target AS (
        SELECT id, state FROM messages
         WHERE api_key_id = :api_key_id
           AND (CAST(:message_id AS bigint) IS NULL OR id = :message_id)
           AND (CAST(:topic_id AS text) IS NULL OR topic_id = :topic_id)
    ), cancelled AS (
        UPDATE messages m
           SET state = '{S.CANCELLED}', error = 'cancelled by the API', updated_at = now()
          FROM target
         WHERE m.id = target.id AND m.state IN ({sql_list(UNCLAIMED)})
        RETURNING m.id
    )
    SELECT target.state AS state, count(*) AS n,
           count(cancelled.id) AS cancelled
      FROM target LEFT JOIN cancelled ON cancelled.id = target.id
     GROUP BY target.state
    """
)


def cancel(
    conn: Connection, api_key_id: int, *, message_id: int | None = None,
    topic_id: str | None = None,
) -> tuple[int, dict[str, int]]:
    """Cancel the key's unclaimed rows (one message or a whole topic).

    Returns (cancelled, {state: n} of the rows that could not be cancelled).
    The UPDATE is conditional on ``created``/``queued``, so it races safely
    with a sender's claim: a row claimed first is reported, not cancelled.
    """
    cancelled = 0
    kept: dict[str, int] = {}
    params = {"api_key_id": api_key_id, "message_id": message_id, "topic_id": topic_id}
    for row in conn.execute(_CANCEL, params):
        cancelled += row.cancelled
        if row.n - row.cancelled:
            kept[row.state] = row.n - row.cancelled
    if cancelled and message_id is not None:
        # The campaign's last pending message may be this one. (A topic's cancellation
        # cancels its campaigns: they do not complete.)
        complete_campaigns(conn, conn.execute(text(
            "SELECT campaign_id FROM messages WHERE id = :id"), {"id": message_id}).scalars())
    return cancelled, kept


@dataclass(frozen=True)
class TopicCancellation:
    #: Message rows cancelled.
    cancelled: int
    #: {state: n} of the rows already beyond reach (claimed or finished).
    kept: dict[str, int]
    #: Campaigns of the topic cancelled (they expand no further).
    campaigns: int


def cancel_topic(conn: Connection, api_key_id: int, topic_id: str) -> TopicCancellation:
    """Cancel a topic: its campaigns, so that no more rows are expanded, then its unclaimed rows.

    Campaigns first: that waits for an expansion batch in flight to commit,
    so its rows are among those cancelled next (``cancel_topic_campaigns``).
    """
    campaigns = cancel_topic_campaigns(conn, api_key_id, topic_id)
    cancelled, kept = cancel(conn, api_key_id, topic_id=topic_id)
    return TopicCancellation(cancelled, kept, campaigns)
