"""Messages bench: the console's message list over 1,000,000 messages.

Starts PostgreSQL in a temporary folder (migrated: the list's indexes of
migration 0019), fills it as ``bench/search.py`` does (four keys, 200 topics
each, a Korean sender's spread of domains, one message every 7 seconds: 81
days), then makes it look like a real fleet's: 0.05% of the rows ``unknown``,
0.5% ``failed`` and 2% ``bounced``, a campaign's and the compat APIs' rows
marked with their source; ANALYZE. Then times
``shared.db.message_list.list_messages`` as the console's list runs it (a
page of 50, one pooled connection, so psycopg prepares the statements as in
production) for each filter of ``LISTS``, the tenth page of some of them, and
``count_matching`` for the requeue of every unknown and every failed message;
``--repeat`` runs each, p50 and max in ms, and the indexes its plan reads.

    .venv/bin/python bench/messages.py [--messages 1000000] [--repeat 20] [--json out.json]

Target (issue 26): every list answers in at most 300 ms p95 over 1,000,000 messages.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import (
    explain,
    indexes_read,
    p95,
    relation_sizes,
    run_in_scratch,
    summary,
    timed,
    vacuum_analyze,
)
from search import seed
from sqlalchemy import text

from shared.db.engine import make_engine
from shared.db.message_list import MessageFilter, _ids, count_matching, list_messages
from shared.db.migrate import upgrade
from shared.runtime.localservers import start_postgres

TARGET_MS = 300
#: The table and the indexes the lists read, whose sizes are reported.
SIZES = ("messages", "messages_state_id", "messages_topic_id", "messages_created_id")


@dataclass(frozen=True)
class Listing:
    label: str
    #: MessageFilter fields; ``key`` is an index in the seeded keys; ``since_days`` and
    #: ``until_days`` are days before now.
    wanted: dict = field(default_factory=dict)
    #: Also time the tenth page (nine ``before`` steps first).
    tenth: bool = False


LISTS = (
    Listing("everything, newest first", tenth=True),
    Listing("state unknown (0.05%)", {"state": "unknown"}),
    Listing("state failed (0.5%)", {"state": "failed"}, tenth=True),
    Listing("state delivered (~97%)", {"state": "delivered"}),
    Listing("topic (0.5%, every key's)", {"topic_id": "topic-7"}, tenth=True),
    Listing("key, smallest (3%)", {"key": 3}),
    Listing("source biz (0.5%)", {"source": "biz"}),
    Listing("recipient domain naver.com (35%)", {"recipient": "naver.com"}, tenth=True),
    Listing("recipient @domain, rare (a company)", {"recipient": "@corp123.co.kr"}),
    Listing("recipient prefix kim.minsu (0.5%)", {"recipient": "kim.minsu"}),
    Listing("recipient domain + state failed", {"recipient": "naver.com", "state": "failed"}),
    Listing("last 24 hours", {"since_days": 1}),
    Listing("a 2-day window a month ago", {"since_days": 31, "until_days": 29}, tenth=True),
    Listing("failed in a window a month ago", {"state": "failed", "since_days": 31,
                                               "until_days": 29}),
    Listing("topic in a window a month ago", {"topic_id": "topic-7", "since_days": 31,
                                              "until_days": 29}),
    Listing("until 60 days ago (the oldest)", {"until_days": 60}),
)

#: Rows made to look like a fleet's: state by a random fraction, source by key and topic.
_SHAPE = (
    "UPDATE messages SET state = 'unknown', error = 'lease expired' WHERE random() < 0.0005",
    "UPDATE messages SET state = 'failed', error = '550 mailbox unavailable' "
    "WHERE state = 'delivered' AND random() < 0.005",
    "UPDATE messages SET state = 'bounced' WHERE state = 'delivered' AND random() < 0.02",
    "UPDATE messages SET source = 'campaign' WHERE topic_id < 'topic-2'",
    "UPDATE messages SET source = 'biz' WHERE topic_id = 'topic-99'",
)


def shape(engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("SELECT setseed(0.5)"))
        for statement in _SHAPE:
            conn.execute(text(statement))
    vacuum_analyze(engine, "messages")


def _filter(listing: Listing, keys: list[int], now: datetime) -> MessageFilter:
    wanted = dict(listing.wanted)
    if "key" in wanted:
        wanted["api_key_id"] = keys[wanted.pop("key")]
    if "since_days" in wanted:
        wanted["since"] = now - timedelta(days=wanted.pop("since_days"))
    if "until_days" in wanted:
        wanted["until"] = now - timedelta(days=wanted.pop("until_days"))
    return MessageFilter(**wanted)


def _indexes_read(conn, wanted: MessageFilter) -> list[str]:
    statement = _ids(conn, wanted, None, None, 51)
    return [] if statement is None else indexes_read(explain(conn, statement))


def measure(engine, keys: list[int], repeat: int) -> list[dict]:
    now = datetime.now(UTC)
    results = []
    with engine.connect() as conn:
        for listing in LISTS:
            wanted = _filter(listing, keys, now)
            times, page = timed(lambda w=wanted: list_messages(conn, w), repeat)
            row = {"list": listing.label, "shown": len(page.messages), **summary(times),
                   "plan": _indexes_read(conn, wanted)}
            if listing.tenth:
                before = None
                for _ in range(9):
                    before = list_messages(conn, wanted, before=before).next_before
                tenth, _ = timed(lambda w=wanted, b=before: list_messages(conn, w, before=b),
                                 repeat)
                row["tenth_page_p95_ms"] = round(p95(tenth), 1)
            results.append(row)
            print(f"{listing.label:38} p50 {row['p50_ms']:6.1f}  p95 {row['p95_ms']:6.1f}  "
                  f"max {row['max_ms']:6.1f} ms"
                  + (f"  page 10 p95 {row['tenth_page_p95_ms']:6.1f}" if listing.tenth else "")
                  + f"  ({row['shown']} shown; {', '.join(row['plan'])})", flush=True)
        for state in ("unknown", "failed"):
            times, count = timed(lambda s=state: count_matching(conn, MessageFilter(state=s)),
                                 repeat)
            results.append({"list": f"count of every {state} (requeue's confirmation)",
                            "count": count, **summary(times)})
            print(f"count every {state:27} p50 {results[-1]['p50_ms']:6.1f}  "
                  f"p95 {results[-1]['p95_ms']:6.1f} ms  ({count})", flush=True)
    return results


def run(args, work: Path) -> dict:
    pg = start_postgres(work / "pg", fsync=False)
    try:
        upgrade(pg.url)
        engine = make_engine(pg.url, pool_size=1)
        t0 = time.monotonic()
        keys = seed(engine, args.messages)
        shape(engine)
        print(f"seeded {args.messages} messages in {time.monotonic() - t0:.0f}s", flush=True)
        lists = measure(engine, keys, args.repeat)
        worst = max(r["p95_ms"] for r in lists)
        return {"messages": args.messages, "repeat": args.repeat, "lists": lists,
                "sizes": relation_sizes(engine, SIZES), "worst_p95_ms": worst,
                "target_ms": TARGET_MS, "target_met": worst <= TARGET_MS}
    finally:
        pg.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    return run_in_scratch(lambda work: run(args, work), "messages", args.json)


if __name__ == "__main__":
    sys.exit(main())
