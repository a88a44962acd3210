"""The reputation guard's SQL: count sends and feedback per scope, read the rates, pause,
resume (tables: shared/db/tables/guard.py; the rules: shared.guard).

A scope is a key (``topic_id = ''``), one of its topics, or a key's campaign or
transactional mail (``traffic``). Each recorder batch adds what it recorded to
two small tables, one upsert for both:

- ``guard_windows``: one row per scope, the last N sends as a decaying window:
  k new sends multiply the counts by (1 - 1/N)^k, i.e. ``1 - new/N`` where
  ``new = N(1 - (1 - 1/N)^k)`` is what k sends add to ``sent``;
- ``guard_hours``: one row per scope and hour, summed for the last 24 hours.

A batch of a million-message campaign's outcomes touches three rows per
(key, topic) it holds, however many messages it carries; the sends' scopes come
with the outcomes' own UPDATE (shared.db.outcomes), so only bounces and
complaints read their messages again. The recorder's
writers hold ``EVENTS_LOCK`` (shared.db.events) when they count, so two
batches never update the same rows at once; rows are upserted in key order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Connection, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.types import BigInteger, Integer, Text

from shared.states import MessageState as S


class GuardLevel(StrEnum):
    """A scope's last verdict (``guard_windows.level``): ok, past a warning level, or
    past a pause level (paused or covered by a wider pause)."""

    OK = "ok"
    WARN = "warn"
    PAUSE = "pause"


#: The hours ``guard_hours`` keeps: the last day's, and one more for the hour under way.
HOURS_KEPT = timedelta(hours=25)

#: The claim's test that a row is not held by a pause in force (shared.db.claims puts it
#: in the claim's own statement, so a pause and a claim cannot pass each other; almost
#: always a probe of an empty partial index).
NOT_PAUSED = """NOT EXISTS (
        SELECT 1 FROM guard_pauses p
         WHERE p.resumed_at IS NULL AND p.api_key_id = messages.api_key_id
           AND p.topic_id IN ('', messages.topic_id)
           AND (NOT p.campaigns_only OR messages.campaign_id IS NOT NULL))"""

_COUNT = text(
    """
    WITH per AS (
        SELECT * FROM unnest(:keys, :topics, :traffics, :sent, :hard, :complained)
                   AS per(api_key_id, topic_id, traffic, sent, hard, complained)
    ), hours AS (
        INSERT INTO guard_hours AS h (api_key_id, topic_id, traffic, at, sent, hard_bounced,
                                      complained)
        SELECT api_key_id, topic_id, traffic, date_trunc('hour', now()), sent, hard, complained
          FROM per
        ON CONFLICT (api_key_id, topic_id, traffic, at) DO UPDATE
           SET sent = h.sent + excluded.sent,
               hard_bounced = h.hard_bounced + excluded.hard_bounced,
               complained = h.complained + excluded.complained
    )
    INSERT INTO guard_windows AS w (api_key_id, topic_id, traffic, sent, hard_bounced,
                                    complained, updated_at)
    SELECT api_key_id, topic_id, traffic, :n * (1 - power(1 - 1 / :n, sent)), hard, complained,
           now()
      FROM per
    ON CONFLICT (api_key_id, topic_id, traffic) DO UPDATE
       SET sent = w.sent * (1 - excluded.sent / :n) + excluded.sent,
           hard_bounced = w.hard_bounced * (1 - excluded.sent / :n) + excluded.hard_bounced,
           complained = w.complained * (1 - excluded.sent / :n) + excluded.complained,
           updated_at = now()
    RETURNING api_key_id, topic_id, traffic, level
    """
).bindparams(bindparam("keys", type_=ARRAY(BigInteger)),
             bindparam("topics", type_=ARRAY(Text)),
             bindparam("traffics", type_=ARRAY(Text)),
             bindparam("sent", type_=ARRAY(Integer)),
             bindparam("hard", type_=ARRAY(Integer)),
             bindparam("complained", type_=ARRAY(Integer)))

#: A scope: (key id, topic id or '' for the whole key, traffic).
Scope = tuple[int, str, str]


def scopes(api_key_id: int, topic_id: str, campaign: bool) -> tuple[Scope, Scope, Scope]:
    """The three scopes a message of ``topic_id`` (a campaign's or not) counts in."""
    return ((api_key_id, "", "all"),
            (api_key_id, "", "campaign" if campaign else "transactional"),
            (api_key_id, topic_id, "all"))


def messages_scopes(conn: Connection, message_ids: list[int]) -> dict[int, tuple[Scope, ...]]:
    """The scopes of each of ``message_ids`` (a primary-key read each; no locks)."""
    if not message_ids:
        return {}
    rows = conn.execute(text("SELECT id, api_key_id, topic_id, campaign_id IS NOT NULL "
                             "FROM messages WHERE id = ANY(:ids)").bindparams(
                                 bindparam("ids", type_=ARRAY(BigInteger))),
                        {"ids": message_ids})
    return {r[0]: scopes(r[1], r[2], r[3]) for r in rows}


def count(conn: Connection, deltas: dict[Scope, list[int]], *, window: int
          ) -> dict[Scope, str]:
    """Add ``deltas`` ({scope: [sent, hard bounced, complained]}) to the scopes' window
    rows and current hours; returns the scopes touched with the level they were at.

    One statement, rows upserted in key order (call with ``EVENTS_LOCK`` held: the
    recorder's batches count one at a time).
    """
    if not deltas:
        return {}
    keys = sorted(deltas)
    rows = conn.execute(_COUNT, {
        "keys": [k[0] for k in keys], "topics": [k[1] for k in keys],
        "traffics": [k[2] for k in keys], "sent": [deltas[k][0] for k in keys],
        "hard": [deltas[k][1] for k in keys], "complained": [deltas[k][2] for k in keys],
        "n": float(window),
    })
    return {(r[0], r[1], r[2]): r[3] for r in rows}


@dataclass(frozen=True)
class ScopeFigures:
    """A scope's two windows as stored, its last verdict, and its key's own levels."""

    api_key_id: int
    topic_id: str
    traffic: str
    #: The last N sends (decayed): sent, hard bounced, complained.
    recent: tuple[float, float, float]
    #: The last 24 hours.
    day: tuple[int, int, int]
    level: str
    #: The key's bounce warn, bounce pause, complaint warn, complaint pause (None: settings).
    key_levels: tuple[float | None, float | None, float | None, float | None]


_FIGURES = text(
    """
    SELECT w.api_key_id, w.topic_id, w.traffic, w.sent, w.hard_bounced, w.complained,
           COALESCE(h.sent, 0), COALESCE(h.hard_bounced, 0), COALESCE(h.complained, 0),
           w.level, k.guard_bounce_warn, k.guard_bounce_pause, k.guard_complaint_warn,
           k.guard_complaint_pause
      FROM unnest(:keys, :topics, :traffics) AS s(api_key_id, topic_id, traffic)
      JOIN guard_windows w USING (api_key_id, topic_id, traffic)
      JOIN api_keys k ON k.id = w.api_key_id
      LEFT JOIN LATERAL (
           SELECT sum(h.sent) AS sent, sum(h.hard_bounced) AS hard_bounced,
                  sum(h.complained) AS complained
             FROM guard_hours h
            WHERE h.api_key_id = w.api_key_id AND h.topic_id = w.topic_id
              AND h.traffic = w.traffic
              AND h.at >= date_trunc('hour', now()) - interval '23 hours') h ON true
     ORDER BY 1, 2, 3
    """
).bindparams(bindparam("keys", type_=ARRAY(BigInteger)),
             bindparam("topics", type_=ARRAY(Text)),
             bindparam("traffics", type_=ARRAY(Text)))


def figures(conn: Connection, scopes: list[tuple[int, str, str]]) -> list[ScopeFigures]:
    """The figures of ``scopes`` (key id, topic id, traffic): a primary-key read each,
    and at most 24 hourly rows."""
    if not scopes:
        return []
    keys, topics, traffics = zip(*sorted(set(scopes)), strict=True)
    rows = conn.execute(_FIGURES, {"keys": list(keys), "topics": list(topics),
                                   "traffics": list(traffics)})
    return [ScopeFigures(r[0], r[1], r[2], (r[3], r[4], r[5]), (int(r[6]), int(r[7]), int(r[8])),
                         r[9], (r[10], r[11], r[12], r[13])) for r in rows]


_SET_LEVELS = text(
    """
    UPDATE guard_windows w SET level = s.level, figures = s.figures
      FROM jsonb_to_recordset(:rows) AS s(api_key_id bigint, topic_id text, traffic text,
                                          level text, figures jsonb)
     WHERE (w.api_key_id, w.topic_id, w.traffic) = (s.api_key_id, s.topic_id, s.traffic)
    """
).bindparams(bindparam("rows", type_=JSONB))


def set_levels(conn: Connection, levels: list[dict]) -> None:
    """Store each scope's new level and the figures behind it (rows of api_key_id,
    topic_id, traffic, level, figures); the rows were locked by ``count``."""
    if levels:
        conn.execute(_SET_LEVELS, {"rows": levels})


@dataclass(frozen=True)
class GuardPause:
    """A pause, in force or resumed."""

    id: int
    api_key_id: int
    #: '' for the whole key or its campaigns.
    topic_id: str
    campaigns_only: bool
    #: 'bounce' or 'complaint'.
    reason: str
    figures: dict
    paused_at: datetime
    resumed_at: datetime | None = None
    resumed_by: str | None = None

    @property
    def scope(self) -> str:
        """'key', 'campaigns' or 'topic'."""
        return "topic" if self.topic_id else "campaigns" if self.campaigns_only else "key"


_PAUSE_COLUMNS = ("id, api_key_id, topic_id, campaigns_only, reason, figures, paused_at, "
                  "resumed_at, resumed_by")

_PAUSE = text(
    f"""
    INSERT INTO guard_pauses (api_key_id, topic_id, campaigns_only, reason, figures)
    SELECT * FROM jsonb_to_recordset(:rows) AS p(api_key_id bigint, topic_id text,
                                                  campaigns_only boolean, reason text,
                                                  figures jsonb)
    ON CONFLICT (api_key_id, topic_id, campaigns_only) WHERE resumed_at IS NULL DO NOTHING
    RETURNING {_PAUSE_COLUMNS}
    """
).bindparams(bindparam("rows", type_=JSONB))


def pause(conn: Connection, pauses: list[dict]) -> list[GuardPause]:
    """Put ``pauses`` in force (rows of api_key_id, topic_id, campaigns_only, reason,
    figures); returns those new, a scope already paused is left as it is."""
    if not pauses:
        return []
    return [GuardPause(*r) for r in conn.execute(_PAUSE, {"rows": pauses})]


def active_pauses(conn: Connection, api_key_id: int | None = None) -> list[GuardPause]:
    """The pauses in force (of one key, or all), oldest first."""
    where = "resumed_at IS NULL" + (" AND api_key_id = :key" if api_key_id is not None else "")
    rows = conn.execute(text(f"SELECT {_PAUSE_COLUMNS} FROM guard_pauses WHERE {where} "
                             "ORDER BY id"), {"key": api_key_id})
    return [GuardPause(*r) for r in rows]


_RESUME = text(
    f"""
    UPDATE guard_pauses SET resumed_at = now(), resumed_by = :by
     WHERE resumed_at IS NULL AND api_key_id = :key
       AND (CAST(:topic AS text) IS NULL OR topic_id = :topic)
    RETURNING {_PAUSE_COLUMNS}
    """
)

#: A resumed scope starts afresh: its figures led to the pause an operator lifted, so
#: late bounces of mail sent before it would pause it again at once. A key's resume
#: resets every scope of the key (its topics' figures are part of its own); a topic's,
#: that topic's. ``topics`` NULL: the whole key.
_RESET = text(
    """
    WITH s AS (SELECT * FROM unnest(:keys, :topics) AS s(api_key_id, topic_id)),
    hours AS (
        DELETE FROM guard_hours h USING s
         WHERE h.api_key_id = s.api_key_id AND h.topic_id = COALESCE(s.topic_id, h.topic_id)
    )
    UPDATE guard_windows w
       SET sent = 0, hard_bounced = 0, complained = 0, level = :ok, figures = NULL,
           updated_at = now()
      FROM s
     WHERE w.api_key_id = s.api_key_id AND w.topic_id = COALESCE(s.topic_id, w.topic_id)
    """
).bindparams(bindparam("keys", type_=ARRAY(BigInteger)), bindparam("topics", type_=ARRAY(Text)))

#: The held rows, due again now: the scheduler's next dispatch enqueues them (the claim
#: still sends each once). Through ``messages_topic`` (api_key_id, topic_id, state).
_RELEASE_HELD = text(
    """
    UPDATE messages SET due_at = now()
     WHERE api_key_id = :key AND state = :queued AND due_at > now()
       AND (CAST(:topic AS text) IS NULL OR topic_id = :topic)
       AND (NOT :campaigns_only OR campaign_id IS NOT NULL)
    """
)


def resume(conn: Connection, api_key_id: int, topic_id: str | None = None, *, by: str
           ) -> list[GuardPause]:
    """Lift the pauses in force of key ``api_key_id`` (every one, or the topic's alone);
    returns those lifted. Their scopes' figures start afresh and their held ``queued``
    rows become due now. Row locks: the pauses', the scopes' windows, the held rows."""
    resumed = [GuardPause(*r) for r in conn.execute(
        _RESUME, {"key": api_key_id, "topic": topic_id, "by": by})]
    if not resumed:
        return []
    scopes = sorted({(p.api_key_id, p.topic_id or None) for p in resumed},
                    key=lambda s: (s[0], s[1] or ""))
    conn.execute(_RESET, {"keys": [s[0] for s in scopes], "topics": [s[1] for s in scopes],
                          "ok": GuardLevel.OK.value})
    for p in resumed:
        conn.execute(_RELEASE_HELD, {"key": p.api_key_id, "topic": p.topic_id or None,
                                     "campaigns_only": p.campaigns_only,
                                     "queued": S.QUEUED.value})
    return resumed


def warned(conn: Connection, api_key_id: int | None = None
           ) -> list[tuple[int, str, str, str, dict]]:
    """The scopes past a warn level (warn or pause): (key id, topic id, traffic, level,
    figures), through the partial index ``guard_windows_warned``."""
    # A constant, built from the enum: the partial index's predicate must be provable.
    where = f"level <> '{GuardLevel.OK}'" + (
        " AND api_key_id = :key" if api_key_id is not None else "")
    rows = conn.execute(text(f"SELECT api_key_id, topic_id, traffic, level, figures "
                             f"FROM guard_windows WHERE {where} ORDER BY 1, 2, 3"),
                        {"key": api_key_id})
    return [tuple(r) for r in rows]


def standing(conn: Connection) -> tuple[dict[str, int], int]:
    """The pauses in force by scope ('key', 'campaigns', 'topic': every one present) and
    the number of scopes at warn level, for the metrics: two reads of partial indexes."""
    paused = dict.fromkeys(("key", "campaigns", "topic"), 0)
    for scope, n in conn.execute(text(
            "SELECT CASE WHEN topic_id <> '' THEN 'topic' WHEN campaigns_only THEN 'campaigns' "
            "ELSE 'key' END, count(*) FROM guard_pauses WHERE resumed_at IS NULL GROUP BY 1")):
        paused[scope] = n
    warned = conn.execute(text("SELECT count(*) FROM guard_windows "
                               f"WHERE level = '{GuardLevel.WARN}'")).scalar_one()
    return paused, warned


#: A key's own levels (api_keys columns), in shared.guard.Levels' order.
LEVEL_COLUMNS = ("guard_bounce_warn", "guard_bounce_pause", "guard_complaint_warn",
                 "guard_complaint_pause")


def key_levels(conn: Connection, api_key_id: int, *, lock: bool = False
               ) -> tuple[float | None, ...] | None:
    """The key's own levels (None each: the setting's), or None when there is no such key;
    ``lock``: FOR UPDATE, for a change that reads them first."""
    row = conn.execute(text(f"SELECT {', '.join(LEVEL_COLUMNS)} FROM api_keys WHERE id = :id"
                            + (" FOR UPDATE" if lock else "")), {"id": api_key_id}).first()
    return tuple(row) if row else None


def store_key_levels(conn: Connection, api_key_id: int, levels: tuple[float | None, ...]
                     ) -> None:
    """Write the key's own levels (in ``LEVEL_COLUMNS``' order)."""
    conn.execute(text(f"UPDATE api_keys SET {', '.join(f'{c} = :{c}' for c in LEVEL_COLUMNS)} "
                      "WHERE id = :id"), {"id": api_key_id, **dict(zip(LEVEL_COLUMNS, levels,
                                                                         strict=True))})


def prune_hours(conn: Connection, now: datetime) -> int:
    """Delete hours older than ``HOURS_KEPT`` (through ``guard_hours_at``)."""
    return conn.execute(text("DELETE FROM guard_hours WHERE at < :cutoff"),
                        {"cutoff": now - HOURS_KEPT}).rowcount
