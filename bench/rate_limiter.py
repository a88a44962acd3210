"""bench/rate_limiter.py: how much of R the fleet's limiter hands out, alone.

bench/rate.py measures the whole fleet, and on a busy 2-core machine the
pipeline itself (API, PostgreSQL, senders) can fall below R, hiding what
the limiter does. Here only the limiter runs: 32 threads against one Redis
reserve slots as sender threads do (single sends through ``reserve``, bulk
calls through services.sender.pacing's ``bulk_part``, the part their
sliding second has room for), wait for them (``wait_for_slot``), "send"
(a 20 ms sleep for SES's answer) and go again, for ``--seconds`` per R. The
mix is bench/rate.py's: ``--singles`` of the sends carry one recipient, the
others a batch's 10-30 (at most ``entries_per_call``; below its
BULK_MIN_RATE, one). Reports per R the recipients whose slots came in the
measured part over R, the most any sliding second holds (at most R), and
the calls per recipient. ``--whole`` reserves every bulk call whole (all or
nothing, as before ``bulk_part``), for comparison in the same run.

    .venv/bin/python bench/rate_limiter.py [--rates 14,200,1000 --seconds 20 --json out.json]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis as redis_lib  # noqa: E402

from bench.common import run_in_scratch  # noqa: E402
from bench.rate import most_in_any_second  # noqa: E402
from services.sender.pacing import BULK_MIN_RATE  # noqa: E402
from shared.rate.limiter import FleetRateLimiter  # noqa: E402
from shared.rate.quota import HEADROOM  # noqa: E402
from shared.runtime.localservers import start_redis  # noqa: E402

THREADS = 32
WARMUP = 3.0  # seconds of each phase not measured (the first second fills from empty)
TARGET_PCT = 98.0


def phase(redis, rate: float, seconds: float, singles: float, whole: bool, seed: int) -> dict:
    redis.flushall()
    limiter = FleetRateLimiter(redis, rate * HEADROOM)  # as senders pace it (bursts on)
    most = 1 if rate < BULK_MIN_RATE else min(50, int(rate / max(2, -(-int(rate) // 50))))
    sends: list[tuple[float, int]] = []
    calls = [0]
    lock = threading.Lock()
    began = time.monotonic()
    until = began + seconds

    def thread(number: int) -> None:
        draw = random.Random(seed * 100 + number)
        left = 0
        while time.monotonic() < until:
            wanted = left or (1 if draw.random() < singles else
                              min(most, draw.randint(10, 30)))
            if wanted == 1:
                at, got = limiter.reserve(1), 1
            elif whole:
                at, got = limiter.reserve(wanted), wanted
            else:
                from services.sender.pacing import bulk_part
                at, got = bulk_part(limiter, wanted)
            used = limiter.wait_for_slot(at, got)
            left = wanted - got
            with lock:
                sends.append((used, got))
                calls[0] += 1
            time.sleep(0.020)  # SES's answer

    threads = [threading.Thread(target=thread, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    measured = [(at, n) for at, n in sends if began + WARMUP <= at < until]
    recipients = sum(n for _, n in measured)
    return {
        "R": rate, "measured_seconds": seconds - WARMUP,
        "achieved_vs_R_pct": round(100 * recipients / (seconds - WARMUP) / rate, 1),
        "most_in_any_sliding_second": most_in_any_second(
            [at for at, n in sends for _ in range(n)]),
        "calls_per_recipient": round(calls[0] / max(1, sum(n for _, n in sends)), 3),
        "largest_call": most,
    }


def run(args, work: Path) -> dict:
    server = start_redis(work / "redis")
    load_at_start = os.getloadavg()[0]
    try:
        redis = redis_lib.Redis.from_url(server.url)
        phases = []
        for rate in args.rates:
            for whole in ([False, True] if args.whole else [False]):
                report = phase(redis, rate, args.seconds, args.singles, whole, args.seed)
                report["bulk_calls"] = "whole" if whole else "part that fits"
                phases.append(report)
    finally:
        server.stop()
    split = [p for p in phases if p["bulk_calls"] == "part that fits"]
    return {
        "threads": THREADS, "singles": args.singles, "phases": phases,
        "load_average_start_end": [round(load_at_start, 2), round(os.getloadavg()[0], 2)],
        "target_met": all(p["achieved_vs_R_pct"] >= TARGET_PCT
                          and p["most_in_any_sliding_second"] <= p["R"] for p in split),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=lambda t: [float(p) for p in t.split(",")],
                        default=[14.0, 200.0, 1000.0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--singles", type=float, default=0.2)
    parser.add_argument("--whole", action="store_true",
                        help="also run each R with bulk calls reserved whole")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sys.exit(run_in_scratch(lambda work: run(args, work), "rate-limiter", args.json))


if __name__ == "__main__":
    main()
