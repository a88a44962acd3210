"""Keys and suppressions bench: the console's key page and suppression list on a big database.

Starts PostgreSQL in a temporary folder (migrated: with migration 0018's
messages_key_created, suppressions_prefix and suppressions_domain), then

1. inserts ``--messages`` messages (one statement per 100,000) for four API
   keys (70/20/7/3%), made over the last 60 days, in a spread of states
   (delivered mostly; sent, bounced, complained, failed, suppressed, queued),
   and ``--suppressions`` suppressions for the biggest key, at a Korean
   sender's spread of domains; ANALYZE;
2. fills the rollup the key page reads (the dashboard's per key and hour)
   from those messages, as the recorder would have counted them;
3. times, ``--repeat`` times each on one pooled connection (prepared after
   five runs, as in production), every read the pages make: a key's 30 days
   a day at a time (``shared.db.traffic.traffic`` with the key page's
   ``KEY_DAYS``) for each key, ``list_keys`` (the keys page), and
   ``shared.db.suppressions.search_suppressions`` (the suppressions page):
   the first page, a page deep in the list, a common and a rare domain, a
   common and a rare prefix, one address; p50, p95 and max in ms, and the
   indexes its plan reads.

    .venv/bin/python bench/key_pages.py [--messages 1000000] [--suppressions 200000]
                                        [--repeat 30] [--json out.json]

Target (issue 26): every figure and list in at most 300 ms p95.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from common import (
    explain,
    fill,
    indexes_read,
    key_case,
    make_keys,
    share_case,
    summary,
    timed,
    vacuum_analyze,
)
from sqlalchemy import text

from services.console.pages.keys import KEY_DAYS
from shared.db.engine import make_engine
from shared.db.keys import list_keys
from shared.db.migrate import upgrade
from shared.db.suppressions import _search_statement, search_suppressions
from shared.db.traffic import traffic, traffic_statement
from shared.runtime.localservers import start_postgres

TARGET_MS = 300
KEY_SHARES = (0.70, 0.20, 0.07, 0.03)
DAYS = 60
#: (state, share) of the messages; the rest are delivered.
STATES = (("sent", 0.05), ("bounced", 0.02), ("complained", 0.002), ("failed", 0.01),
          ("suppressed", 0.01), ("queued", 0.005))
DOMAINS = (("naver.com", 0.35), ("gmail.com", 0.25), ("daum.net", 0.08),
           ("hanmail.net", 0.07), ("kakao.com", 0.04), ("nate.com", 0.03))
SURNAMES = ("kim", "lee", "park", "choi", "jung", "kang", "cho", "yoon", "jang", "lim",
            "han", "oh", "seo", "shin", "kwon", "hwang", "ahn", "song", "jeon", "hong")


_KEY = key_case("pick", KEY_SHARES)
_STATE = share_case("s", tuple((f"'{state}'", share) for state, share in STATES), "'delivered'")
_DOMAIN = share_case("d", tuple((f"'{d}'", share) for d, share in DOMAINS),
                     "'corp' || floor(random() * 20000)::int || '.co.kr'")
_LOCAL = (f"(ARRAY{list(SURNAMES)})[1 + floor(random() * {len(SURNAMES)})::int]"
          " || '.' || md5(random()::text)::varchar(6)")

_FILL = text(
    f"""
    INSERT INTO messages (api_key_id, content_id, topic_id, from_addr, to_addr, state,
                          created_at)
    SELECT (CAST(:keys AS bigint[]))[{_KEY}], (CAST(:contents AS bigint[]))[{_KEY}],
           'topic-' || floor(random() * 200)::int, 'news@shop.example',
           'user' || i || '@example.com', {_STATE},
           now() - random() * interval '{DAYS} days'
      FROM (SELECT i, random() AS pick, random() AS s
              FROM generate_series(CAST(:a AS int), CAST(:b AS int)) i) r
    """
)
_SUPPRESS = text(
    f"""
    INSERT INTO suppressions (api_key_id, address, reason, message_id, created_at)
    SELECT :key, lower({_LOCAL} || i || '@' || {_DOMAIN}),
           (ARRAY['bounce', 'complaint', 'unsubscribe', 'manual'])[1 + i % 4], NULL,
           now() - random() * interval '365 days'
      FROM (SELECT i, random() AS d FROM generate_series(1, CAST(:n AS int)) i) r
    ON CONFLICT DO NOTHING
    """
)

def _rollup(table) -> text:
    """What the recorder would have counted into ``table`` (a rollup of the key page's
    window: per hour and key, and topic if it has one), sends and outcomes at the
    message's time."""
    topic = ", topic_id" if "topic_id" in table.c else ""
    return text(
        f"""
        INSERT INTO {table.name} (at, api_key_id{topic}, sent, delivered, bounced,
                                  complained, failed)
        SELECT date_trunc('hour', created_at), api_key_id{topic},
               count(*) FILTER (WHERE state NOT IN ('failed', 'suppressed', 'queued')),
               count(*) FILTER (WHERE state = 'delivered'),
               count(*) FILTER (WHERE state = 'bounced'),
               count(*) FILTER (WHERE state = 'complained'),
               count(*) FILTER (WHERE state = 'failed')
          FROM messages GROUP BY 1, 2{topic}
        """
    )


def seed(engine, total: int, suppressed: int) -> list[int]:
    with engine.begin() as conn:
        keys, contents = make_keys(conn, len(KEY_SHARES))
        fill(conn, _FILL, total, 0.25, keys=keys, contents=contents)
        conn.execute(_SUPPRESS, {"key": keys[0], "n": suppressed})
        conn.execute(_rollup(KEY_DAYS.by_key))
    vacuum_analyze(engine, "messages", "suppressions", KEY_DAYS.by_key.name)
    return keys


def _time(conn, run: Callable, repeat: int) -> dict:
    return summary(timed(lambda: run(conn), repeat)[0])


def measure(engine, keys: list[int], repeat: int) -> list[dict]:
    results = []
    with engine.connect() as conn:
        now = datetime.now(UTC)
        for n, key_id in enumerate(keys):
            since = KEY_DAYS.since(now)
            rows = conn.execute(text(f"SELECT count(*) FROM {KEY_DAYS.by_key.name} "
                                     "WHERE api_key_id = :k AND at >= :since"),
                                {"k": key_id, "since": since}).scalar_one()
            results.append({
                "read": f"key page traffic, key {n} ({KEY_SHARES[n]:.0%}: {rows:,} rollup rows)",
                **_time(conn, lambda c, k=key_id: traffic(c, KEY_DAYS, now, api_key_id=k),
                        repeat),
                "plan": indexes_read(explain(conn, traffic_statement(KEY_DAYS, since, key_id)))})
        results.append({"read": "list_keys", **_time(conn, list_keys, repeat), "plan": []})
        middle = conn.execute(text(
            "SELECT address FROM suppressions WHERE api_key_id = :k ORDER BY address "
            "COLLATE \"C\" OFFSET (SELECT count(*) / 2 FROM suppressions) LIMIT 1"),
            {"k": keys[0]}).scalar_one()
        one = conn.execute(text("SELECT address FROM suppressions WHERE api_key_id = :k "
                                "AND address LIKE 'hong.%' LIMIT 1"),
                           {"k": keys[0]}).scalar_one()
        searches = (("first page", "", None), ("a page in the middle", "", middle),
                    ("domain, common (naver.com, ~35%)", "@naver.com", None),
                    ("domain, rare (a company)", "corp123.co.kr", None),
                    ("prefix, common (kim, ~5%)", "kim", None),
                    ("prefix, rare", one[:9], None), ("address, exact", one.upper(), None))
        for label, typed, after in searches:
            statement = _search_statement(keys[0], typed, after, 101)
            results.append({
                "read": f"search_suppressions, {label}",
                **_time(conn, lambda c, t=typed, a=after: search_suppressions(
                    c, keys[0], t, after=a), repeat),
                "plan": indexes_read(explain(conn, statement))})
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--suppressions", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="mailpipe-bench-keys-"))
    server = start_postgres(folder / "pg", fsync=False)
    try:
        upgrade(server.url)
        engine = make_engine(server.url, pool_size=1)
        t0 = time.perf_counter()
        keys = seed(engine, args.messages, args.suppressions)
        print(f"seeded {args.messages:,} messages and {args.suppressions:,} suppressions "
              f"in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        results = measure(engine, keys, args.repeat)
        engine.dispose()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    over = [r["read"] for r in results if r["p95_ms"] > TARGET_MS]
    for r in results:
        print(f"{r['read']:<72} p50 {r['p50_ms']:>7} p95 {r['p95_ms']:>7} max {r['max_ms']:>7}"
              f"  {', '.join(r['plan'])}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(f"over {TARGET_MS} ms p95: {over or 'none'}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
