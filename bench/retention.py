"""Retention bench: prune 1,000,000 expired rows while the real pipeline sends.

Starts PostgreSQL and Redis in a temporary folder and the four mailpipe
processes (``services.up.Stack``, ``file`` transport, the scheduler's own
retention off so the bench decides when pruning runs), then

1. inserts ``--events`` expired events (generate_series, one statement per
   100,000) on ``--events / 10`` delivered messages 200 days old, their
   contents and a topic's figures to compare afterwards;
2. keeps the send queue fed (POSTs of 100 recipients whenever fewer than
   ``--backlog`` rows wait) and measures messages sent per second in
   windows of ``--window`` seconds, alternately without and with pruning
   (so drift in the machine's other load hits both alike), until all is pruned;
3. pruning runs ``prune_step`` back to back (the scheduler's step, with its
   pause between steps): the worst case for sends, since the scheduler
   itself runs steps only ``RUN_BUDGET`` seconds per
   ``MAILPIPE_RETENTION_INTERVAL``;
4. reports rows pruned per second of pruning, the longest step, sends/s
   without and with pruning, and whether the topic's figures are unchanged.

    .venv/bin/python bench/retention.py [--events 1000000] [--window 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from common import BenchError, deadline_loop, http_json
from sqlalchemy import text

from services.scheduler.retention import STEP_PAUSE, RetentionPolicy, more, prune_step
from services.up import Stack
from shared.db.engine import make_engine
from shared.db.keys import create_key
from shared.db.migrate import upgrade
from shared.db.stats import topic_stats
from shared.runtime.localservers import free_port, start_postgres, start_redis

#: One old content per this many old messages (a request's recipients share it).
PER_CONTENT = 10
EVENTS_PER_MESSAGE = 10


def seed_expired(engine, key_id: int, events: int) -> None:
    """Old delivered messages (topic ``old``) with ``EVENTS_PER_MESSAGE`` events each."""
    messages = events // EVENTS_PER_MESSAGE
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO contents (api_key_id, subject, html, created_at) "
            "SELECT :k, 'old', '<p>old body</p>', now() - interval '200 days' "
            "FROM generate_series(1, :n)"), {"k": key_id, "n": messages // PER_CONTENT})
        first = conn.execute(text("SELECT min(id) FROM contents")).scalar_one()
        conn.execute(text(
            "INSERT INTO messages (api_key_id, content_id, topic_id, from_addr, to_addr, state,"
            " created_at, sent_at, provider_message_id) "
            "SELECT :k, :first + (i - 1) / :per, 'old', 'b@bench.example', "
            "'r' || i || '@old.example', 'delivered', now() - interval '200 days', "
            "now() - interval '200 days', 'p' || i FROM generate_series(1, :n) i"),
            {"k": key_id, "first": first, "per": PER_CONTENT, "n": messages})
        low = conn.execute(text("SELECT min(id) FROM messages")).scalar_one()
    for start in range(0, events, 100_000):
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO events (message_id, type, occurred_at, detail, machine) "
                "SELECT :low + (i % :m), (ARRAY['delivered','opened','clicked','bounced'])"
                "[1 + i % 4], now() - interval '199 days', "
                "CASE WHEN i % 8 = 3 THEN 'hard' END, i % 5 = 0 "
                "FROM generate_series(:a, :b) i"),
                {"low": low, "m": messages, "a": start, "b": min(events, start + 100_000) - 1})
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")


class Feeder(threading.Thread):
    """Keeps about ``backlog`` rows waiting to be sent, in POSTs of 100 recipients."""

    def __init__(self, api: str, key: str, engine, backlog: int) -> None:
        super().__init__(daemon=True)
        self.api, self.key, self.engine, self.backlog = api, key, engine, backlog
        self.stop = threading.Event()
        self.posted = 0

    def run(self) -> None:
        while not self.stop.is_set():
            with self.engine.connect() as conn:
                waiting = conn.execute(text(
                    "SELECT count(*) FROM messages WHERE state IN ('created','queued','sending')"
                )).scalar_one()
            if waiting >= self.backlog:
                time.sleep(0.05)
                continue
            recipients = [f"n{self.posted + i}@new.example" for i in range(100)]
            body = json.dumps({"messages": [{"topicId": "new", "emails": recipients,
                                             "subject": "s", "content": "<p>new</p>"}]})
            status, answer = http_json("POST", f"{self.api}/v1/messages", body=body.encode(),
                                       key=self.key)
            if status != 200:
                raise BenchError(f"POST answered {status}: {answer}")
            self.posted += 100


def sent_between(engine, start: float, end: float) -> int:
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT count(*) FROM messages WHERE sent_at >= to_timestamp(:a) "
            "AND sent_at < to_timestamp(:b) AND topic_id = 'new'"), {"a": start, "b": end}
        ).scalar_one()


class Pruner(threading.Thread):
    """Runs ``prune_step`` back to back while ``go`` is set, until nothing is left."""

    def __init__(self, engine, policy: RetentionPolicy) -> None:
        super().__init__(daemon=True)
        self.engine, self.policy = engine, policy
        self.go, self.done = threading.Event(), threading.Event()
        self.totals: Counter = Counter()
        self.busy = 0.0
        self.longest = 0.0

    def run(self) -> None:
        while True:
            self.go.wait()
            t0 = time.monotonic()
            counts = prune_step(self.engine, self.policy)
            took = time.monotonic() - t0
            self.busy += took + STEP_PAUSE
            self.longest = max(self.longest, took)
            self.totals.update(counts)
            if not more(counts, self.policy):
                self.done.set()
                return
            time.sleep(STEP_PAUSE)


def alternate(engine, pruner: Pruner, window: float) -> dict:
    """Windows of ``window`` s without and with pruning, in turn, until pruning is done.

    Interleaving makes the comparison fair on a machine whose other load
    drifts: both kinds of window see the same drift.
    """
    rates: dict[str, list[float]] = {"off": [], "on": []}
    pruning = False
    while True:
        (pruner.go.set if pruning else pruner.go.clear)()
        a = time.time()
        if pruning:
            pruner.done.wait(window)
        else:
            time.sleep(window)
        b = time.time()
        rates["on" if pruning else "off"].append(sent_between(engine, a, b) / (b - a))
        if pruner.done.is_set():
            pruner.go.clear()
            a = time.time()
            time.sleep(window)
            rates["off"].append(sent_between(engine, a, time.time()) / window)
            return rates
        pruning = not pruning


def _summary(values: list[float]) -> dict:
    return {"windows": len(values), "mean": round(statistics.mean(values), 1),
            "median": round(statistics.median(values), 1)}


def run(args, work: Path) -> dict:
    pg = start_postgres(work / "pg", fsync=False)
    rd = start_redis(work / "redis")
    stack = None
    try:
        upgrade(pg.url)
        engine = make_engine(pg.url, pool_size=4)
        with engine.begin() as conn:
            key, plain = create_key(conn, "bench", [])
        t0 = time.monotonic()
        seed_expired(engine, key.id, args.events)
        seeded = time.monotonic() - t0
        print(f"seeded {args.events} expired events in {seeded:.0f}s", flush=True)
        with engine.connect() as conn:
            before = topic_stats(conn, key.id, "old")
        port = free_port()
        env = {"MAILPIPE_DATABASE_URL": pg.url, "MAILPIPE_REDIS_URL": rd.url,
               "MAILPIPE_TRANSPORT": "file", "MAILPIPE_FILE_DIR": str(work / "outbox"),
               "MAILPIPE_SEND_RATE": "100000", "MAILPIPE_DEFAULT_FROM": "b@bench.example",
               "MAILPIPE_RETENTION_DAYS": "0", "MAILPIPE_LOG_LEVEL": "WARNING"}
        stack = Stack(env, log_dir=work / "logs")
        stack.start("api", "api", "--bind", f"127.0.0.1:{port}", "--workers", "1")
        stack.start("scheduler", "scheduler")
        stack.start("sender", "sender", "--processes", str(args.processes), "--threads", "4")
        stack.start("recorder", "recorder")
        api = f"http://127.0.0.1:{port}"
        for _ in deadline_loop(60, "the API"):
            try:
                if http_json("GET", f"{api}/health")[0] == 200:
                    break
            except OSError:
                pass
        feeder = Feeder(api, plain, engine, args.backlog)
        feeder.start()
        time.sleep(3 * args.window)  # warm up: processes started, pools filled
        day = timedelta(days=1)
        pruner = Pruner(engine, RetentionPolicy(events=30 * day, orphans=7 * day,
                                                bodies=30 * day, idempotency=day,
                                                batch=args.batch))
        pruner.start()
        rates = alternate(engine, pruner, args.window)
        feeder.stop.set()
        with engine.connect() as conn:
            after = topic_stats(conn, key.id, "old")
            left = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
        pruned = sum(pruner.totals.values())
        off, on = _summary(rates["off"]), _summary(rates["on"])
        return {"events_seeded": args.events, "seed_seconds": round(seeded, 1),
                "batch": args.batch, "pruned": dict(pruner.totals), "events_left": left,
                "prune_seconds": round(pruner.busy, 1),
                "rows_per_s": round(pruned / pruner.busy),
                "longest_step_s": round(pruner.longest, 3),
                "sent_per_s_without_pruning": off, "sent_per_s_while_pruning": on,
                "send_change": f"{(on['mean'] / off['mean'] - 1) * 100:+.1f}%",
                "sent_per_s_windows": {k: [round(v) for v in vs] for k, vs in rates.items()},
                "stats_unchanged": before == after}
    finally:
        if stack:
            stack.stop_all()
        rd.stop()
        pg.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--window", type=float, default=10.0,
                        help="seconds per window (without, then with pruning, in turn)")
    parser.add_argument("--backlog", type=int, default=2000)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="mailpipe-retention-"))
    try:
        report = run(args, work)
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report["stats_unchanged"] else 2


if __name__ == "__main__":
    sys.exit(main())
