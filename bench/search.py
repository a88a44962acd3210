"""Search bench: the console's message search over 1,000,000 messages.

Starts PostgreSQL in a temporary folder (migrated, so with the search
indexes of migration 0015), then

1. inserts ``--messages`` messages (generate_series, one statement per
   100,000) for four API keys (70/20/7/3%) and 200 topics each, to addresses
   spread over domains as a Korean sender's list is (naver.com 35%,
   gmail.com 25%, daum.net, hanmail.net, … and 14% over 20,000 company
   domains of ~7 recipients each), local parts ``surname.given<n>``;
   ANALYZE;
2. times ``shared.db.message_search.search_messages`` as the console runs
   it (one pooled connection, so psycopg prepares the statements after five
   runs, as in production): by domains common, middling and rare, a common
   domain within one topic and in the smallest key, prefixes common,
   middling and rare, an exact address (``SEARCHES``); ``--repeat`` runs
   each, p50 and max in ms, and the indexes its plan reads;
3. times the same searches with index scans off (``enable_indexscan``,
   ``enable_bitmapscan``: what they cost without the indexes, a sequential
   scan), ``--repeat-off`` runs each, and reports the ratio;
4. reports the size of each search index.

    .venv/bin/python bench/search.py [--messages 1000000] [--repeat 20] [--json out.json]

Target (issue 25): a search by domain over 1,000,000 messages in at most 300 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from common import (
    explain,
    fill,
    indexes_read,
    key_case,
    make_keys,
    relation_sizes,
    run_in_scratch,
    share_case,
    timed,
    vacuum_analyze,
)
from sqlalchemy import create_engine, text

from shared.db.engine import make_engine
from shared.db.message_search import (
    PAGE_SIZE,
    read_query,
    search_messages,
    search_statement,
)
from shared.db.migrate import upgrade
from shared.runtime.localservers import start_postgres

TARGET_MS = 300
#: Share of the messages each key holds; the first is searched.
KEY_SHARES = (0.70, 0.20, 0.07, 0.03)
TOPICS = 200
COMPANY_DOMAINS = 20_000
#: (domain, share); what is left goes to corp<n>.co.kr, n < COMPANY_DOMAINS.
DOMAINS = (("naver.com", 0.35), ("gmail.com", 0.25), ("daum.net", 0.08),
           ("hanmail.net", 0.07), ("kakao.com", 0.04), ("nate.com", 0.03),
           ("hotmail.com", 0.02), ("outlook.com", 0.01), ("yahoo.co.kr", 0.01))
SURNAMES = ("kim", "lee", "park", "choi", "jung", "kang", "cho", "yoon", "jang", "lim",
            "han", "oh", "seo", "shin", "kwon", "hwang", "ahn", "song", "jeon", "hong")
GIVEN = ("minsu", "jiwoo", "seoyeon", "hajun", "gildong", "yuna", "doyun", "jimin",
         "seojun", "eunji")
#: The table and the indexes the searches read, whose sizes are reported.
SIZES = ("messages", "messages_recipient_prefix", "messages_recipient_domain")


@dataclass(frozen=True)
class Search:
    label: str
    #: What is typed; None: an address of the key's, found after seeding.
    typed: str | None
    #: Which key searches (index in KEY_SHARES), in which topic (None: all).
    key: int = 0
    topic: str | None = None


SEARCHES = (
    Search("domain, common (naver.com, ~35%)", "naver.com"),
    Search("domain, 1% (outlook.com)", "outlook.com"),
    Search("@domain, rare (a company, ~7 rows)", "@corp123.co.kr"),
    Search("domain, common, in one topic (0.5%)", "naver.com", topic="topic-7"),
    Search("domain, common, smallest key (3%)", "naver.com", key=3),
    Search("prefix, common (kim, ~5%)", "kim"),
    Search("prefix, 0.5% (kim.minsu)", "kim.minsu"),
    Search("prefix, rare (hong.gildong12)", "hong.gildong12"),
    Search("address, exact (a known one, in capitals)", None),
)


#: A row's domain by its random number ``d``.
_DOMAIN = share_case("d", tuple((f"'{domain}'", share) for domain, share in DOMAINS),
                     f"'corp' || floor(random() * {COMPANY_DOMAINS})::int || '.co.kr'")
#: A row's key (1-based, in KEY_SHARES) by its random number ``pick``.
_KEY = key_case("pick", KEY_SHARES)


#: Rows :a to :b of :total (``common.fill``).
_FILL = text(
    f"""
    INSERT INTO messages (api_key_id, content_id, topic_id, from_addr, to_addr, state,
                          created_at, sent_at, provider_message_id)
    SELECT (CAST(:keys AS bigint[]))[{_KEY}], (CAST(:contents AS bigint[]))[{_KEY}],
           'topic-' || topic,
           'news@shop.example', local || '@' || {_DOMAIN}, 'delivered', at, at,
           '0100' || md5(i::text)
      FROM (SELECT i, random() AS pick, random() AS d,
                   floor(random() * {TOPICS})::int AS topic,
                   (ARRAY{list(SURNAMES)})[1 + floor(random() * {len(SURNAMES)})::int] || '.' ||
                   (ARRAY{list(GIVEN)})[1 + floor(random() * {len(GIVEN)})::int] ||
                   floor(random() * 1000)::int AS local,
                   now() - (:total - i) * interval '7 seconds' AS at
              FROM generate_series(CAST(:a AS int), CAST(:b AS int)) i) r
    """
)


def seed(engine, total: int) -> list[int]:
    """``total`` messages over the keys of KEY_SHARES; their ids."""
    with engine.begin() as conn:
        keys, contents = make_keys(conn, len(KEY_SHARES))
        fill(conn, _FILL, total, 0.25, total=total, keys=keys, contents=contents)
    vacuum_analyze(engine, "messages")
    return keys


def _indexes_read(conn, key_id: int, typed: str, topic: str | None) -> list[str]:
    """The indexes (or "Seq Scan") the plan of this search reads messages by."""
    return indexes_read(explain(
        conn, search_statement(key_id, read_query(typed), topic, PAGE_SIZE + 1)))


def _timed(conn, key_id: int, typed: str, topic: str | None,
           repeat: int) -> tuple[list[float], int, bool]:
    """Milliseconds of each of ``repeat`` searches; rows shown and 'more' of the last."""
    times, found = timed(lambda: search_messages(conn, key_id, typed, topic), repeat)
    return times, len(found.messages), found.more


def measure(engine, without_indexes, keys: list[int], repeat: int,
            repeat_off: int) -> list[dict]:
    """Each search timed on ``engine``, then on ``without_indexes`` (index scans off)."""
    results = []
    with engine.connect() as conn:
        address = conn.execute(text(
            "SELECT to_addr FROM messages WHERE api_key_id = :k AND to_addr LIKE 'hong.%' "
            "ORDER BY id LIMIT 1"), {"k": keys[0]}).scalar_one()
    for search in SEARCHES:
        key_id, typed = keys[search.key], search.typed or address.upper()
        with engine.connect() as conn:
            plan = _indexes_read(conn, key_id, typed, search.topic)
            with_index, shown, more = _timed(conn, key_id, typed, search.topic, repeat)
        with without_indexes.connect() as conn:
            off_plan = _indexes_read(conn, key_id, typed, search.topic)
            without, _, _ = _timed(conn, key_id, typed, search.topic, repeat_off)
        p50, p50_off = statistics.median(with_index), statistics.median(without)
        results.append({
            "search": search.label, "query": typed, "topic": search.topic,
            "shown": shown, "more": more,
            "p50_ms": round(p50, 1), "max_ms": round(max(with_index), 1), "plan": plan,
            "no_index_p50_ms": round(p50_off, 1), "no_index_max_ms": round(max(without), 1),
            "no_index_plan": off_plan, "times_faster": round(p50_off / p50, 1)})
        print(f"{search.label:42} p50 {p50:6.1f} ms  max {max(with_index):6.1f} ms  "
              f"({shown}{'+' if more else ''} shown; {', '.join(plan)})  "
              f"no index: p50 {p50_off:6.1f} ms, {p50_off / p50:.0f}x", flush=True)
    return results


def run(args, work: Path) -> dict:
    pg = start_postgres(work / "pg", fsync=False)
    try:
        upgrade(pg.url)
        engine = make_engine(pg.url, pool_size=1)
        t0 = time.monotonic()
        keys = seed(engine, args.messages)
        seeded = time.monotonic() - t0
        print(f"seeded {args.messages} messages in {seeded:.0f}s", flush=True)
        # Its own connections, set so from the start: a plan psycopg prepared on
        # the other engine's connection is never reused with index scans off.
        without_indexes = create_engine(pg.url, pool_size=1, connect_args={
            "options": "-c enable_indexscan=off -c enable_bitmapscan=off"})
        searches = measure(engine, without_indexes, keys, args.repeat, args.repeat_off)
        domain_ms = max(s["max_ms"] for s in searches if "domain" in s["search"])
        return {"messages": args.messages, "seed_seconds": round(seeded, 1),
                "repeat": args.repeat, "repeat_without_index": args.repeat_off,
                "searches": searches, "sizes": relation_sizes(engine, SIZES),
                "domain_max_ms": domain_ms, "target_ms": TARGET_MS,
                "target_met": domain_ms <= TARGET_MS}
    finally:
        pg.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--repeat-off", type=int, default=3,
                        help="runs of each search with index scans off (each a table scan)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    return run_in_scratch(lambda work: run(args, work), "search", args.json)


if __name__ == "__main__":
    sys.exit(main())
