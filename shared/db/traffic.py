"""The dashboard's traffic rollups: written with each outcome and event, read by window.

``traffic_minutes`` and ``traffic_hours`` (shared/db/tables/traffic.py) count,
per API key and topic, what happened in each minute and hour, and
``traffic_key_hours`` the same per key alone (every topic together: what the
dashboard reads unless it is asked for one topic, a few rows an hour however
many topics there are):

- ``sent``: messages the provider accepted, at their ``sent_at``;
- ``delivered``, ``bounced``, ``hard_bounced``, ``complained``: messages with
  their first event of that kind (a second bounce of a message is not a
  second bounced message), at that event's time;
- ``opened``, ``clicked``: messages with their first human open or click
  (prefetchers and link scanners are left out), at its time;
- ``failed``: messages that became ``failed`` (a permanent error, retries
  spent, or SES rejecting them after the send), when they did.

Those are the rules of ``shared.db.stats.topic_stats`` (``GET
/v1/topics/{id}``), so a topic's figures over a window that holds all of its
traffic are the API's. The soft bounces of a window are its bounced
messages less its hard ones: a message that bounced soft one day and hard
the next is a bounce of the first day and a hard bounce of the second.

Writers: ``shared.db.outcomes.apply_outcomes`` (sent, failed) and
``shared.db.events`` (the rest), in the transaction that makes the change.
Each takes ``TRAFFIC_LOCK`` before it reads what it counts: rollup rows are
then locked in one order (no deadlock between the recorder's threads), and
"the first open of this message" is decided with every other transaction's
opens committed (two hits on one message in two batches count once).
The lock is taken last in the transaction and held until its commit: a
few milliseconds.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Table, bindparam, func, literal_column, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import BigInteger

from shared.broker.payloads import EventType as E
from shared.db.tables import traffic_hours, traffic_key_hours, traffic_minutes
from shared.db.tables.traffic import MEASURES
from shared.states import MessageState as S

TRAFFIC_LOCK = 727_274
#: Minutes are kept this long (the last hour's chart reads one hour of them).
MINUTES_KEPT = timedelta(days=2)


# --- writing ---------------------------------------------------------------------------

Key = tuple  # (minute, key id, topic)


class Deltas:
    """What one transaction adds: counts per (minute, key, topic) and measure."""

    def __init__(self) -> None:
        self.by_minute: dict[Key, dict[str, int]] = defaultdict(lambda: dict.fromkeys(MEASURES, 0))

    def add(self, at: datetime, api_key_id: int, topic_id: str, measure: str, n: int = 1) -> None:
        minute = at.astimezone(UTC).replace(second=0, microsecond=0)
        self.by_minute[(minute, api_key_id, topic_id)][measure] += n

    def __bool__(self) -> bool:
        return bool(self.by_minute)


_MEASURES = ", ".join(MEASURES)
_ADDED = ", ".join(f"{m} = t.{m} + excluded.{m}" for m in MEASURES)
_SUMS = ", ".join(f"sum({m})::bigint" for m in MEASURES)
#: The minutes as they come (one JSON array: a bind per array of each measure
#: was a third of the recorder's CPU at 1,000 outcomes/s), their hours per
#: topic and per key summed here, each upsert's rows in key order.
_ADD_TRAFFIC = text(
    f"""
    WITH d AS (
        SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS x(
            at timestamptz, api_key_id bigint, topic_id text,
            {", ".join(f"{m} bigint" for m in MEASURES)})
    ), minutes AS (
        INSERT INTO {traffic_minutes.name} AS t (at, api_key_id, topic_id, {_MEASURES})
        SELECT at, api_key_id, topic_id, {_MEASURES} FROM d ORDER BY 1, 2, 3
        ON CONFLICT (at, api_key_id, topic_id) DO UPDATE SET {_ADDED}
    ), hours AS (
        INSERT INTO {traffic_hours.name} AS t (at, api_key_id, topic_id, {_MEASURES})
        SELECT date_trunc('hour', at, 'UTC'), api_key_id, topic_id, {_SUMS}
          FROM d GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (at, api_key_id, topic_id) DO UPDATE SET {_ADDED}
    )
    INSERT INTO {traffic_key_hours.name} AS t (at, api_key_id, {_MEASURES})
    SELECT date_trunc('hour', at, 'UTC'), api_key_id, {_SUMS}
      FROM d GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (at, api_key_id) DO UPDATE SET {_ADDED}
    """
)


def lock_traffic(conn: Connection) -> None:
    """Serialise rollup writers until this transaction ends (see the module docstring)."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": TRAFFIC_LOCK})


def add_traffic(conn: Connection, deltas: Deltas) -> None:
    """Add ``deltas`` to the rollups (minutes, hours, key hours: one statement, rows in
    one order for every writer). Call with ``TRAFFIC_LOCK`` held (``lock_traffic``)."""
    if not deltas:
        return
    rows = [{"at": minute.isoformat(), "api_key_id": key, "topic_id": topic, **counts}
            for (minute, key, topic), counts in deltas.by_minute.items()]
    conn.execute(_ADD_TRAFFIC, {"rows": json.dumps(rows)})


def count_outcomes(conn: Connection, rows: Iterable[tuple]) -> None:
    """Count the outcomes ``apply_outcomes`` just applied: rows of (id, state, api_key_id,
    topic_id, sent_at, updated_at), ``updated_at`` being the transaction's time."""
    deltas = Deltas()
    for _, state, api_key_id, topic_id, sent_at, updated_at in rows:
        if state == S.SENT:
            deltas.add(sent_at, api_key_id, topic_id, "sent")
        elif state == S.FAILED:
            deltas.add(updated_at, api_key_id, topic_id, "failed")
    if deltas:
        lock_traffic(conn)
        add_traffic(conn, deltas)


#: For each stored event of a counted kind, the measure it may start, unless its
#: message has an earlier event of that measure: stored before (not one of :ids), or
#: pruned into event_tallies. Run with TRAFFIC_LOCK held, so "before" includes
#: every other writer's committed events.
_FIRSTS = text(
    f"""
    WITH s AS (
        SELECT e.id, e.message_id, e.type, e.occurred_at,
               CASE WHEN e.type IN ('{E.OPENED}', '{E.CLICKED}') THEN e.type
                    WHEN e.type IN ('{E.DELIVERED}', '{E.BOUNCED}', '{E.COMPLAINED}')
                    THEN e.type END AS measure,
               e.type = '{E.BOUNCED}' AND e.detail = 'hard' AS hard
          FROM events e
         WHERE e.id = ANY(:ids) AND e.message_id IS NOT NULL
           AND NOT (e.machine AND e.type IN ('{E.OPENED}', '{E.CLICKED}'))
    ), candidates AS (
        SELECT message_id, type, measure, false AS hard, min(occurred_at) AS at
          FROM s WHERE measure IS NOT NULL GROUP BY message_id, type, measure
        UNION ALL
        SELECT message_id, type, 'hard_bounced', true, min(occurred_at)
          FROM s WHERE hard GROUP BY message_id, type
    )
    SELECT c.measure, c.at, m.api_key_id, m.topic_id
      FROM candidates c JOIN messages m ON m.id = c.message_id
     WHERE NOT EXISTS (
               SELECT 1 FROM events o
                WHERE o.message_id = c.message_id AND o.type = c.type
                  AND o.id <> ALL(:ids)
                  AND (NOT c.hard OR o.detail = 'hard')
                  AND NOT (o.machine AND o.type IN ('{E.OPENED}', '{E.CLICKED}')))
       AND NOT EXISTS (
               SELECT 1 FROM event_tallies t
                WHERE t.message_id = c.message_id AND t.type = c.type
                  AND (NOT c.hard OR t.hard)
                  AND NOT (t.machine AND t.type IN ('{E.OPENED}', '{E.CLICKED}')))
    UNION ALL
    SELECT 'failed', now(), m.api_key_id, m.topic_id FROM messages m WHERE m.id = ANY(:failed)
    """
).bindparams(bindparam("ids", type_=ARRAY(BigInteger)),
             bindparam("failed", type_=ARRAY(BigInteger)))


def count_events(conn: Connection, event_ids: list[int], failed_ids: list[int]) -> None:
    """Count the events just stored or adopted (``event_ids``) that start a measure for
    their message, and the messages they moved to ``failed`` (``failed_ids``)."""
    if not event_ids and not failed_ids:
        return
    lock_traffic(conn)
    deltas = Deltas()
    for row in conn.execute(_FIRSTS, {"ids": event_ids, "failed": failed_ids}):
        deltas.add(row.at, row.api_key_id, row.topic_id, row.measure)
    add_traffic(conn, deltas)


def prune_minutes(conn: Connection, now: datetime | None = None) -> int:
    """Delete minutes older than ``MINUTES_KEPT`` (the hours keep their counts)."""
    cutoff = (now or datetime.now(UTC)) - MINUTES_KEPT
    return conn.execute(traffic_minutes.delete().where(traffic_minutes.c.at < cutoff)).rowcount


# --- reading ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Window:
    """A span the dashboard shows: ``buckets`` points of ``step`` seconds, ending with the
    one now is in, read from ``by_topic`` for one topic, else from ``by_key``."""

    name: str
    step: int
    buckets: int
    by_topic: Table
    by_key: Table

    def since(self, now: datetime) -> datetime:
        """The start of the first bucket: the window's figures count from it to now."""
        start = int(now.timestamp()) // self.step * self.step - (self.buckets - 1) * self.step
        return datetime.fromtimestamp(start, UTC)


#: By the name the console's pages give them (``?period=``).
WINDOWS = {
    "1h": Window("1h", 60, 60, traffic_minutes, traffic_minutes),
    "24h": Window("24h", 3600, 24, traffic_hours, traffic_key_hours),
    "7d": Window("7d", 3 * 3600, 56, traffic_hours, traffic_key_hours),
    "30d": Window("30d", 12 * 3600, 60, traffic_hours, traffic_key_hours),
}


@dataclass(frozen=True)
class Traffic:
    """A window's figures: per bucket (``points``: bucket start → counts) and in total."""

    window: Window
    since: datetime
    points: dict[datetime, dict[str, int]]
    totals: dict[str, int]

    @property
    def soft_bounced(self) -> int:
        return max(0, self.totals["bounced"] - self.totals["hard_bounced"])

    def rate(self, measure: str) -> float | None:
        """``measure`` over messages sent in the window; None before any send."""
        sent = self.totals["sent"]
        return self.totals[measure] / sent if sent else None


def _filtered(query, table: Table, api_key_id: int | None, topic_id: str | None):
    if api_key_id is not None:
        query = query.where(table.c.api_key_id == api_key_id)
    if topic_id is not None:
        query = query.where(table.c.topic_id == topic_id)
    return query


def traffic_statement(window: Window, since: datetime, api_key_id: int | None = None,
                      topic_id: str | None = None):
    """The window's counts per bucket: a range of a rollup's primary key (or of
    ``traffic_hours_topic`` for one topic): its hours times its keys, or the topic's
    hours."""
    table = window.by_key if topic_id is None else window.by_topic
    bucket = func.to_timestamp(func.floor(func.extract("epoch", table.c.at) / window.step)
                               * window.step).label("bucket")
    query = (select(bucket, *(func.sum(table.c[m]).label(m) for m in MEASURES))
             .where(table.c.at >= since).group_by(literal_column("1")))
    return _filtered(query, table, api_key_id, topic_id)


def traffic(conn: Connection, window: Window, now: datetime, api_key_id: int | None = None,
            topic_id: str | None = None) -> Traffic:
    """What happened in ``window`` up to ``now``, for one key and topic or all."""
    since = window.since(now)
    points = {}
    for row in conn.execute(traffic_statement(window, since, api_key_id, topic_id)):
        points[row.bucket] = {m: int(getattr(row, m)) for m in MEASURES}
    totals = {m: sum(p[m] for p in points.values()) for m in MEASURES}
    return Traffic(window, since, points, totals)


#: The newest rows of ``traffic_hours`` the topic list reads: it names the topics among
#: them, so it costs the same however many topics the window holds.
TOPIC_ROWS = 5_000


def topics_statement(since: datetime, api_key_id: int | None = None, limit: int = 200):
    """Topics with traffic since ``since``, the most recently active first: from the
    newest ``TOPIC_ROWS`` hours of topics, read backwards along the primary key."""
    t = traffic_hours
    newest = _filtered(select(t.c.topic_id, t.c.at).where(t.c.at >= since), t, api_key_id,
                       None).order_by(t.c.at.desc()).limit(TOPIC_ROWS).subquery()
    return (select(newest.c.topic_id, func.max(newest.c.at).label("last_at"))
            .group_by(newest.c.topic_id)
            .order_by(func.max(newest.c.at).desc(), newest.c.topic_id).limit(limit))


def active_topics(conn: Connection, since: datetime, api_key_id: int | None = None,
                  limit: int = 200) -> list[str]:
    """The topics (of one key, or of every key) with traffic since ``since``."""
    return [r.topic_id for r in conn.execute(topics_statement(since, api_key_id, limit))]
