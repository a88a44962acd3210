"""Webhook delivery bench: 100,000 events to a local receiver, deliveries/s.

Starts PostgreSQL and Redis in a temporary folder (migrated), a receiver
(``--receiver``: a threaded http.server in its own process answering 204 and
counting each ``webhook-id`` it gets), and ``mailpipe scheduler`` and
``mailpipe webhooks --processes P --threads T`` as an operator runs them
(``services.up.Stack``), then

1. the ceiling, measured in the same run (before the deliveries and again
   after, their mean): the same receiver posted to by P processes of T threads
   with mailpipe's own HTTP client (``shared.webhooks.client.post``), signed
   bodies of the same size, nothing read from or written to PostgreSQL: what
   this machine and receiver allow;
2. writes ``--events`` events to the outbox (``shared.db.outbox.emit``, 1,000 a
   transaction) for one key with ``--endpoints`` endpoints at the receiver,
   ``--events / --endpoints`` each (``MAILPIPE_WEBHOOK_CONCURRENCY`` in flight
   to each), and times until every delivery is ``delivered``;
3. checks the receiver got every event at least once and none it was not sent.

    .venv/bin/python bench/webhooks.py [--events 100000] [--endpoints 4] [--processes 2]
        [--threads 8] [--concurrency 8] [--json out.json]

Reported: deliveries/s between 10% and 90% delivered (the steady part; overall,
the processes' start included, beside it), the ceiling's posts/s, and their
ratio (the machine is noisy; the ratio is what compares across runs). The target: every event
delivered, none invented.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.request import urlopen

from common import deadline_loop, run_in_scratch
from sqlalchemy import insert, text

from services.up import Stack
from shared.db.engine import make_engine
from shared.db.keys import create_key
from shared.db.migrate import upgrade
from shared.db.outbox import OutboundEvent, emit
from shared.db.tables.webhooks import webhook_endpoints
from shared.runtime.localservers import free_port, start_postgres, start_redis
from shared.webhooks.client import post
from shared.webhooks.envelope import envelope_body
from shared.webhooks.events import OutboundEventType as T
from shared.webhooks.signing import new_secret, signed_headers, webhook_box

SECRET_KEY = "bench secret key"
BATCH = 1000
DATA = {"messageId": 1, "topicId": "bench", "recipient": "ann@example.com",
        "providerMessageId": "0100018f-ses", "campaignId": None}


def serve_receiver(port: int) -> None:
    """The receiver: 204 for every POST, each webhook-id counted; GET answers the counts."""
    seen: dict[str, int] = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("content-length") or 0))
            with lock:
                key = self.headers.get("webhook-id", "")
                seen[key] = seen.get(key, 0) + 1
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_GET(self) -> None:  # noqa: N802
            with lock:
                body = json.dumps({"requests": sum(seen.values()), "unique": len(seen),
                                   "ids": sorted(seen) if self.path == "/ids" else None})
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 1024  # listen()'s backlog: the default 5 resets connections

    Server(("127.0.0.1", port), Handler).serve_forever()


def _counts(port: int, path: str = "/") -> dict:
    with urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as answer:
        return json.loads(answer.read())


def _post_many(url: str, count: int, threads: int) -> int:
    """One ceiling process: ``count`` signed POSTs from ``threads`` threads."""
    secret = new_secret()
    body = envelope_body(T.MESSAGE_DELIVERED, datetime.now(UTC), DATA)
    done = [0]

    def worker(n: int) -> None:
        for i in range(n):
            headers = signed_headers([secret], f"ceiling_{os.getpid()}_{i}", datetime.now(UTC),
                                     body)
            if post(url, body, headers, timeout=15, allow_private=True).ok:
                done[0] += 1

    pool = [threading.Thread(target=worker, args=(count // threads,)) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return done[0]


def ceiling(url: str, count: int, processes: int, threads: int) -> float:
    started = time.monotonic()
    with ProcessPoolExecutor(processes) as pool:
        posted = sum(pool.map(_post_many, [url] * processes, [count // processes] * processes,
                              [threads] * processes))
    return posted / (time.monotonic() - started)


def seed(engine, endpoints: int, url: str, events: int) -> int:
    """A key with ``endpoints`` endpoints at ``url``, each subscribed to its own type, and
    ``events`` events spread over them; returns the key's id."""
    types = list(T)[:endpoints]
    with engine.begin() as conn:
        key, _ = create_key(conn, "bench", [])
        box = webhook_box(SECRET_KEY)
        for i, type_ in enumerate(types):
            conn.execute(insert(webhook_endpoints).values(
                api_key_id=key.id, url=f"{url}/{i}", event_types=[str(type_)],
                secret=box.encrypt(new_secret())))
    for start in range(0, events, BATCH):
        with engine.begin() as conn:
            emit(conn, [OutboundEvent(types[n % endpoints], key.id, datetime.now(UTC),
                                      {**DATA, "n": n}, message_id=n + 1)
                        for n in range(start, min(events, start + BATCH))])
    return key.id


def run(args: argparse.Namespace, work: Path) -> dict:
    pg = start_postgres(work / "pg", fsync=False)
    redis = start_redis(work / "redis")
    port = free_port()
    receiver = subprocess.Popen([sys.executable, __file__, "--receiver", str(port)])
    stack = None
    try:
        upgrade(pg.url)
        engine = make_engine(pg.url, pool_size=2)
        url = f"http://127.0.0.1:{port}/hook"
        for _ in deadline_loop(20, "the receiver"):
            try:
                _counts(port)
                break
            except OSError:
                continue
        ceiling_count = min(args.events, 20_000)
        ceiling_rate = ceiling(url, ceiling_count, args.processes, args.threads)
        print(f"ceiling: {ceiling_rate:.0f} posts/s ({ceiling_count} signed POSTs, "
              f"{args.processes}x{args.threads})", flush=True)
        before = _counts(port)["requests"]
        first_ceiling = ceiling_rate
        started = time.monotonic()
        seed(engine, args.endpoints, url, args.events)
        seeded = time.monotonic() - started
        print(f"{args.events} events written in {seeded:.1f}s", flush=True)
        stack = Stack({
            "MAILPIPE_DATABASE_URL": pg.url, "MAILPIPE_REDIS_URL": redis.url,
            "MAILPIPE_TRANSPORT": "file", "MAILPIPE_FILE_DIR": str(work / "outbox"),
            "MAILPIPE_SECRET_KEY": SECRET_KEY, "MAILPIPE_WEBHOOK_ALLOW_HTTP": "true",
            "MAILPIPE_WEBHOOK_PRIVATE": "true", "MAILPIPE_LOG_LEVEL": "WARNING",
            "MAILPIPE_WEBHOOK_CONCURRENCY": str(args.concurrency),
            "MAILPIPE_METRICS_PORT_SCHEDULER": "0", "MAILPIPE_METRICS_PORT_WEBHOOKS": "0",
            "MAILPIPE_METRICS_DIR": str(work / "metrics"),
        }, log_dir=work / "logs")
        started = time.monotonic()
        stack.start("scheduler", "scheduler")
        stack.start("webhooks", "webhooks", "--processes", str(args.processes),
                    "--threads", str(args.threads))
        delivered, marks = 0, {}
        for _ in deadline_loop(args.timeout, "every delivery", poll=0.5):
            with engine.connect() as conn:
                delivered = conn.execute(text(
                    "SELECT count(*) FROM webhook_deliveries WHERE state = 'delivered'"
                )).scalar_one()
            for share in (0.1, 0.9):  # the steady part: neither start-up nor the tail
                if delivered >= share * args.events and share not in marks:
                    marks[share] = (time.monotonic(), delivered)
            if delivered >= args.events:
                break
        took = time.monotonic() - started
        (t10, n10), (t90, n90) = marks[0.1], marks[0.9]
        rate = (n90 - n10) / (t90 - t10)
        got = _counts(port, "/ids")
        # Again after: the machine's other work changes over minutes; the two bracket the run.
        after = ceiling(url, ceiling_count, args.processes, args.threads)
        print(f"ceiling after: {after:.0f} posts/s", flush=True)
        ceiling_rate = (ceiling_rate + after) / 2
        ids = {i for i in got["ids"] if i.startswith("evt_")}
        delivered_requests = got["requests"] - before
        with engine.connect() as conn:
            wanted = {f"evt_{i}" for (i,) in conn.execute(text("SELECT id FROM webhook_events"))}
        print(f"{delivered} delivered in {took:.1f}s (processes' start included); steady "
              f"{rate:.0f}/s, {rate / ceiling_rate:.2f} of the ceiling", flush=True)
        return {
            "events": args.events, "endpoints": args.endpoints, "processes": args.processes,
            "threads": args.threads, "concurrency": args.concurrency,
            "delivered": delivered, "seconds": round(took, 1),
            "overall_per_s": round(delivered / took),
            "deliveries_per_s": round(rate), "ceiling_posts_per_s": round(ceiling_rate),
            "ceiling_before_after": [round(first_ceiling), round(after)],
            "ratio_to_ceiling": round(rate / ceiling_rate, 3),
            "requests": delivered_requests, "duplicates": delivered_requests - len(ids),
            "missing": len(wanted - ids), "invented": len(ids - wanted),
            "target_met": ids == wanted,
        }
    finally:
        if stack is not None:
            stack.stop_all()
        receiver.terminate()
        redis.stop()
        pg.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--endpoints", type=int, default=4)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.receiver:
        serve_receiver(args.receiver)
        return 0
    return run_in_scratch(lambda work: run(args, work), "webhooks", args.json)


if __name__ == "__main__":
    sys.exit(main())
