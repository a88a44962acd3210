"""Reads the console needs beyond the REST API's: template history, time series, export.

(Message search: shared/db/message_search.py.)

All scoped to one API key; plain reads, no locks.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select, text

from shared.broker.payloads import EventType
from shared.db.tables import campaigns, messages, template_versions, templates


def recent_campaign_ids(conn: Connection, api_key_id: int, limit: int = 50) -> list[int]:
    """The ids of the key's newest campaigns, newest first."""
    return list(conn.execute(
        select(campaigns.c.id).where(campaigns.c.api_key_id == api_key_id)
        .order_by(campaigns.c.id.desc()).limit(limit)
    ).scalars())


def template_history(conn: Connection, api_key_id: int, template_id: int,
                     limit: int = 50) -> list[dict]:
    """The template's versions, newest first: ``{version, subject, created_at}``."""
    rows = conn.execute(
        select(template_versions.c.version, template_versions.c.subject,
               template_versions.c.created_at)
        .select_from(template_versions.join(templates,
                                            templates.c.id == template_versions.c.template_id))
        .where(templates.c.id == template_id, templates.c.api_key_id == api_key_id,
               templates.c.deleted_at.is_(None))
        .order_by(template_versions.c.version.desc()).limit(limit)
    )
    return [r._asdict() for r in rows]


def topics(conn: Connection, api_key_id: int, limit: int = 100) -> list[dict]:
    """The key's topics, most recently active first: ``{topic_id, messages, last_at}``."""
    rows = conn.execute(
        select(messages.c.topic_id, func.count().label("messages"),
               func.max(messages.c.created_at).label("last_at"))
        .where(messages.c.api_key_id == api_key_id)
        .group_by(messages.c.topic_id).order_by(func.max(messages.c.created_at).desc())
        .limit(limit)
    )
    return [r._asdict() for r in rows]


_SERIES = text(
    """
    WITH tm AS (
        SELECT id, sent_at FROM messages WHERE api_key_id = :key AND topic_id = :topic
    ), points AS (
        SELECT sent_at AS at, CAST(:sent AS text) AS type FROM tm WHERE sent_at IS NOT NULL
        UNION ALL
        SELECT e.occurred_at, e.type FROM events e JOIN tm ON tm.id = e.message_id
         WHERE NOT e.machine AND e.type = ANY(:types)
    )
    SELECT to_timestamp(floor(extract(epoch FROM at) / :bucket) * :bucket) AS bucket,
           type, count(*) AS n
      FROM points GROUP BY 1, 2 ORDER BY 1
    """
)


#: Human events drawn over time beside the sends.
_SERIES_EVENTS = [str(e) for e in (EventType.DELIVERED, EventType.BOUNCED, EventType.OPENED,
                                     EventType.CLICKED)]


def topic_series(conn: Connection, api_key_id: int, topic_id: str,
                 bucket_seconds: int) -> list[tuple[datetime, str, int]]:
    """(bucket start, type, count) of sends and human events of a topic over time."""
    rows = conn.execute(_SERIES, {"key": api_key_id, "topic": topic_id, "bucket": bucket_seconds,
                                  "sent": str(EventType.SENT), "types": _SERIES_EVENTS})
    return [(r.bucket, r.type, r.n) for r in rows]


def topic_span(conn: Connection, api_key_id: int, topic_id: str) -> tuple | None:
    """(first, last) send time of the topic, or None before any send."""
    row = conn.execute(
        select(func.min(messages.c.sent_at), func.max(messages.c.sent_at))
        .where(messages.c.api_key_id == api_key_id, messages.c.topic_id == topic_id)
    ).one()
    return tuple(row) if row[0] else None


_EXPORT = text(
    """
    SELECT m.id, m.to_addr, m.to_name, m.state, m.provider_message_id, m.sent_at,
           count(*) FILTER (WHERE e.type = 'opened' AND NOT e.machine) AS opens,
           count(*) FILTER (WHERE e.type = 'clicked' AND NOT e.machine) AS clicks,
           bool_or(e.type = 'unsubscribed') IS TRUE AS unsubscribed,
           max(e.detail) FILTER (WHERE e.type = 'bounced') AS bounce
      FROM messages m LEFT JOIN events e ON e.message_id = m.id
     WHERE m.api_key_id = :key AND m.topic_id = :topic AND m.id > :after
     GROUP BY m.id ORDER BY m.id LIMIT :limit
    """
)


def export_page(conn: Connection, api_key_id: int, topic_id: str, after: int,
                limit: int = 5000) -> list:
    """One page (by id) of a topic's messages with their outcome and engagement counts."""
    return conn.execute(_EXPORT, {"key": api_key_id, "topic": topic_id, "after": after,
                                  "limit": limit}).all()
