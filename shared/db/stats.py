"""Delivery and engagement figures for a topic, from messages and their events."""

from __future__ import annotations

from sqlalchemy import Connection, text

from shared.broker.payloads import EventType as E

_TOPIC_STATS = text(
    f"""
    WITH tm AS (
        SELECT id, sent_at FROM messages WHERE api_key_id = :key AND topic_id = :topic
    ), ev AS (
        -- Events retention pruned live on as counts in event_tallies.
        SELECT e.message_id, e.type, COALESCE(e.type = '{E.BOUNCED}' AND e.detail = 'hard', false)
               AS hard, e.machine, 1 AS n
          FROM events e JOIN tm ON tm.id = e.message_id
        UNION ALL
        SELECT t.message_id, t.type, t.hard, t.machine, t.n
          FROM event_tallies t JOIN tm ON tm.id = t.message_id
    )
    SELECT
        (SELECT count(*) FROM tm WHERE sent_at IS NOT NULL) AS sent,
        count(DISTINCT message_id) FILTER (WHERE type = '{E.DELIVERED}') AS delivered,
        count(DISTINCT message_id) FILTER (WHERE type = '{E.BOUNCED}') AS bounced,
        count(DISTINCT message_id) FILTER (WHERE type = '{E.BOUNCED}' AND hard)
            AS hard_bounced,
        count(DISTINCT message_id) FILTER (WHERE type = '{E.COMPLAINED}') AS complained,
        count(DISTINCT message_id) FILTER (WHERE type = '{E.REJECTED}') AS rejected,
        count(DISTINCT message_id) FILTER (WHERE type = '{E.DELAYED}') AS delayed,
        count(DISTINCT message_id) FILTER (WHERE type = '{E.UNSUBSCRIBED}') AS unsubscribed,
        count(DISTINCT message_id) FILTER (WHERE type = '{E.OPENED}' AND NOT machine)
            AS unique_opens,
        CAST(COALESCE(sum(n) FILTER (WHERE type = '{E.OPENED}' AND NOT machine), 0) AS bigint)
            AS total_opens,
        CAST(COALESCE(sum(n) FILTER (WHERE type = '{E.OPENED}' AND machine), 0) AS bigint)
            AS machine_opens,
        count(DISTINCT message_id) FILTER (WHERE type = '{E.CLICKED}' AND NOT machine)
            AS unique_clicks,
        CAST(COALESCE(sum(n) FILTER (WHERE type = '{E.CLICKED}' AND NOT machine), 0) AS bigint)
            AS total_clicks,
        CAST(COALESCE(sum(n) FILTER (WHERE type = '{E.CLICKED}' AND machine), 0) AS bigint)
            AS machine_clicks
      FROM ev
    """
)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def topic_stats(conn: Connection, api_key_id: int, topic_id: str) -> dict:
    """Counts of messages per outcome, human opens and clicks (unique and total), and rates.

    Counts are of messages (a message bounced twice is one bounce); opens and
    clicks by prefetchers and scanners are counted apart as ``machine``.
    Rates are over messages sent (accepted by the provider), None before any.
    One read-only statement over the topic's index; no locks.
    """
    r = conn.execute(_TOPIC_STATS, {"key": api_key_id, "topic": topic_id}).one()
    return {
        "sent": r.sent,
        "delivered": r.delivered,
        "bounced": r.bounced,
        "hardBounced": r.hard_bounced,
        "softBounced": r.bounced - r.hard_bounced,
        "complained": r.complained,
        "rejected": r.rejected,
        "delayed": r.delayed,
        "unsubscribed": r.unsubscribed,
        "opens": {"unique": r.unique_opens, "total": r.total_opens, "machine": r.machine_opens},
        "clicks": {"unique": r.unique_clicks, "total": r.total_clicks,
                   "machine": r.machine_clicks},
        "rates": {
            "delivered": _rate(r.delivered, r.sent),
            "bounced": _rate(r.bounced, r.sent),
            "complained": _rate(r.complained, r.sent),
            "opened": _rate(r.unique_opens, r.sent),
            "clicked": _rate(r.unique_clicks, r.sent),
        },
    }
