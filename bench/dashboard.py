"""Dashboard bench: every query of the console's home page over 1,000,000 messages and
3,000,000 events.

Starts PostgreSQL in a temporary folder, migrated up to the revision before the
traffic rollups (shared/db/migrations/versions/0020_traffic_rollups.py), then

1. inserts ``--messages`` messages (generate_series, one statement per 100,000) sent
   over the last 30 days for four API keys (70/20/7/3%): 60% in campaigns (300
   topics, each of one key, sent within three hours of its start), 40% in five
   transactional topics per key sent around the clock; states
   as a sender sees them (about 93% delivered, 3% bounced, 0.1% complained, 1%
   failed, 0.1% unknown, the rest sent) and a backlog of 100,000 still queued
   (every fourth of the newest 400,000);
2. inserts their events (about 3 per message: deliveries, bounces with their kind,
   complaints, opens and clicks over the next three days, a tenth of opens by
   machines), then ANALYZE;
3. migrates to the newest revision: the rollups' migration fills them from those
   rows (timed: what an operator's upgrade costs);
4. times each statement the dashboard runs (``services.console.pages.dashboard.
   statements``: the four periods' traffic, the topics, the unknown and failed
   counts, the oldest queued message) for every key, one key, one topic of one key
   and one topic over every key, as the console runs them (one pooled connection,
   so psycopg prepares them after five runs), ``--repeat`` runs each: p50 and p95
   in ms, and the plan's node types with the relations and indexes they read.

    .venv/bin/python bench/dashboard.py [--messages 1000000] [--repeat 50] [--json out.json]

Target (issue 26): every dashboard figure in at most 300 ms p95.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from alembic.script import ScriptDirectory
from common import (
    explain,
    fill,
    key_case,
    make_keys,
    node_types,
    run_in_scratch,
    summary,
    timed,
    vacuum_analyze,
)
from sqlalchemy import text

from services.console.pages.dashboard import statements
from shared.db.engine import make_engine
from shared.db.migrate import alembic_config, upgrade
from shared.runtime.localservers import start_postgres

TARGET_MS = 300
#: The migration that makes and fills the rollups; the bench fills the tables before it.
ROLLUPS = "0020"
KEY_SHARES = (0.70, 0.20, 0.07, 0.03)
CAMPAIGNS = 300
TRANSACTIONAL = ("receipt", "password-reset", "signup", "alert", "digest")
DAYS = 30
#: Rows still queued: a campaign on its way (the oldest queued row's age reads one).
QUEUED = 100_000


#: Campaign rows (i, r < 0.6): the campaign's start is spread over the 30 days and its
#: sends over 3 hours after it, all of one key; transactional rows anywhere, of any key.
#: ``s`` decides the state.
_FILL = text(
    f"""
    INSERT INTO messages (api_key_id, content_id, topic_id, from_addr, to_addr, state,
                          created_at, updated_at, sent_at, due_at, attempts,
                          provider_message_id, error)
    SELECT (CAST(:keys AS bigint[]))[k], (CAST(:contents AS bigint[]))[k], topic,
           'news@shop.example', 'reader' || i || '@example.com',
           state, at, at + interval '1 minute',
           CASE WHEN state IN ('failed', 'unknown') THEN NULL ELSE at + interval '2 seconds' END,
           at, 1,
           CASE WHEN state IN ('failed', 'unknown') THEN NULL ELSE '0100' || md5(i::text) END,
           CASE WHEN state = 'failed' THEN 'rejected: bench' END
      FROM (SELECT i, CASE WHEN r < 0.6 THEN {key_case("c * 0.618 % 1", KEY_SHARES)}
                           ELSE {key_case("pick", KEY_SHARES)} END AS k,
                   CASE WHEN r < 0.6 THEN 'campaign-' || c
                        ELSE (ARRAY{list(TRANSACTIONAL)})[1 + floor(random() * 5)::int] END
                   AS topic,
                   CASE WHEN s < 0.93 THEN 'delivered' WHEN s < 0.96 THEN 'bounced'
                        WHEN s < 0.961 THEN 'complained' WHEN s < 0.971 THEN 'failed'
                        WHEN s < 0.972 THEN 'unknown' ELSE 'sent' END AS state,
                   LEAST(now() - interval '10 minutes',
                         CASE WHEN r < 0.6
                              THEN now() - make_interval(days => {DAYS})
                                   + (c + 0.5) * make_interval(days => {DAYS}) / {CAMPAIGNS}
                                   + random() * interval '3 hours'
                              ELSE now() - random() * make_interval(days => {DAYS}) END) AS at
              FROM (SELECT i, random() AS pick, random() AS r, random() AS s,
                           floor(random() * {CAMPAIGNS})::int AS c
                      FROM generate_series(CAST(:a AS bigint), CAST(:b AS bigint)) i) g) m
    """
)

#: (type, detail, machine, which messages, how many per message, delay after the send).
_EVENTS = (
    ("delivered", "NULL", "false", "state IN ('delivered', 'complained')", "1",
     "interval '3 seconds'"),
    ("bounced", "CASE WHEN m.id % 10 < 7 THEN 'hard' ELSE 'soft' END", "false",
     "state = 'bounced'", "1", "interval '5 seconds'"),
    ("complained", "NULL", "false", "state = 'complained'", "1", "interval '2 hours'"),
    ("opened", "NULL", "random() < 0.1", "state IN ('delivered', 'complained') AND m.id % 5 < 3",
     "1 + m.id / 5 % 5", "random() * random() * interval '3 days'"),
    ("clicked", "'https://shop.example/sale'", "random() < 0.05",
     "state IN ('delivered', 'complained') AND m.id % 5 < 2", "1 + m.id % 3",
     "interval '20 seconds' + random() * random() * interval '3 days'"),
)


def seed(engine, total: int) -> dict:
    """The messages and their events; what was made, and how long it took."""
    t0 = time.monotonic()
    with engine.begin() as conn:
        keys, contents = make_keys(conn, len(KEY_SHARES))
        fill(conn, _FILL, total, 0.26, keys=keys, contents=contents)
        # A backlog: every fourth of the newest rows still waits in the queue.
        conn.execute(text(
            "UPDATE messages SET state = 'queued', sent_at = NULL, provider_message_id = NULL, "
            "updated_at = now() - random() * interval '2 hours', due_at = now() "
            "WHERE id IN (SELECT id FROM messages ORDER BY created_at DESC LIMIT :n) "
            "AND id % 4 = 0"), {"n": 4 * min(QUEUED, total // 10)})
    for kind, detail, machine, which, per, delay in _EVENTS:
        with engine.begin() as conn:
            conn.execute(text(
                f"INSERT INTO events (message_id, type, occurred_at, provider_message_id, "
                f"detail, machine) SELECT m.id, '{kind}', "
                f"LEAST(now(), m.sent_at + {delay}), m.provider_message_id, {detail}, "
                f"{machine} FROM messages m, generate_series(1, {per}) n "
                f"WHERE m.sent_at IS NOT NULL AND {which}"))
    vacuum_analyze(engine)
    with engine.connect() as conn:
        counts = dict(conn.execute(text(
            "SELECT 'messages', count(*) FROM messages UNION ALL "
            "SELECT 'events', count(*) FROM events UNION ALL "
            "SELECT 'topics', count(DISTINCT (api_key_id, topic_id)) FROM messages")).all())
    return {"keys": keys, "counts": counts, "seconds": round(time.monotonic() - t0, 1)}


def measure(engine, keys: list[int], repeat: int) -> list[dict]:
    """Each statement of each filter: ``repeat`` runs, p50 and p95 ms, and its plan."""
    with engine.connect() as conn:
        topic = conn.execute(text(
            "SELECT topic_id FROM messages WHERE api_key_id = :k AND topic_id LIKE 'campaign-%' "
            "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"), {"k": keys[0]}).scalar_one()
    filters = {"every key": (None, None), "one key": (keys[0], None),
               "one key's topic": (keys[0], topic), "a topic, every key": (None, "receipt")}
    results = []
    now = datetime.now(UTC)
    for who, (key, topic_id) in filters.items():
        for name, statement in statements(now, key, topic_id).items():
            with engine.connect() as conn:
                plan = node_types(explain(conn, statement))
                times, rows = timed(lambda c=conn, s=statement: c.execute(s).all(), repeat)
            figures = summary(times, digits=2)
            results.append({"filter": who, "query": name, "rows": len(rows), **figures,
                            "plan": plan})
            print(f"{who:20} {name:20} p50 {figures['p50_ms']:7.2f} ms  "
                  f"p95 {figures['p95_ms']:7.2f} ms  ({len(rows)} rows; {', '.join(plan)})",
                  flush=True)
    return results


def sizes(engine) -> dict:
    """How large the tables and the rollups are, in bytes (with indexes) and rows."""
    found: dict = {}
    with engine.connect() as conn:
        for name in ("messages", "events", "traffic_minutes", "traffic_hours",
                     "traffic_key_hours"):
            found[name] = conn.execute(text(
                f"SELECT pg_size_pretty(pg_total_relation_size('{name}')) || ', ' || "
                f"(SELECT count(*) FROM {name}) || ' rows'")).scalar_one()
        found["messages_attention"] = conn.execute(text(
            "SELECT pg_size_pretty(pg_relation_size('messages_attention'))")).scalar_one()
    return found


def run(args, work: Path) -> dict:
    pg = start_postgres(work / "pg", fsync=False)
    try:
        before = ScriptDirectory.from_config(alembic_config(pg.url)).get_revision(
            ROLLUPS).down_revision
        upgrade(pg.url, before)
        engine = make_engine(pg.url, pool_size=1)
        seeded = seed(engine, args.messages)
        print(f"seeded {seeded['counts']} in {seeded['seconds']}s", flush=True)
        t0 = time.monotonic()
        upgrade(pg.url)
        migrated = round(time.monotonic() - t0, 1)
        vacuum_analyze(engine)
        print(f"migrated (the rollups filled) in {migrated}s", flush=True)
        queries = measure(engine, seeded["keys"], args.repeat)
        worst = max(q["p95_ms"] for q in queries)
        # The rollups may be read whole while they hold no more than the window (here,
        # 30 days of traffic in a 30-day window); messages and events never.
        scans = sorted({node for q in queries for node in q["plan"]
                        if node in ("Seq Scan (messages)", "Seq Scan (events)")})
        return {"messages": seeded["counts"]["messages"], "events": seeded["counts"]["events"],
                "key_topics": seeded["counts"]["topics"], "seed_seconds": seeded["seconds"],
                "migration_seconds": migrated, "repeat": args.repeat, "queries": queries,
                "sizes": sizes(engine), "worst_p95_ms": worst, "sequential_scans": scans,
                "target_ms": TARGET_MS, "target_met": worst <= TARGET_MS and not scans}
    finally:
        pg.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    return run_in_scratch(lambda work: run(args, work), "dashboard", args.json,
                          lambda report: {k: v for k, v in report.items()
                                          if k != "queries"})


if __name__ == "__main__":
    sys.exit(main())
