"""bench/traffic.py: what adding to the dashboard's traffic rollups costs a recorder batch.

Starts PostgreSQL in a scratch folder (migrated), one API key, and times
``--rounds`` x ``--calls`` transactions each doing what the recorder does
per outcome batch: ``lock_traffic`` then ``add_traffic`` of two minutes'
counts (two topics). Reports the median over the rounds of the Python CPU
(``time.process_time``, this process: the statement's parameters built and
dumped) and the wall time (PostgreSQL too) per transaction. Issue 29's
figure: the three array-bound upserts became one JSON-bound statement,
1,180-1,270 -> 600-700 µs of Python CPU per transaction.

    .venv/bin/python bench/traffic.py [--rounds 5 --calls 1000 --json out.json]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import run_in_scratch  # noqa: E402
from shared.db.engine import make_engine  # noqa: E402
from shared.db.keys import create_key  # noqa: E402
from shared.db.migrate import upgrade  # noqa: E402
from shared.db.traffic import Deltas, add_traffic, lock_traffic  # noqa: E402
from shared.runtime.localservers import start_postgres  # noqa: E402


def run(args, work: Path) -> dict:
    pg = start_postgres(work / "pg", fsync=False)
    try:
        upgrade(pg.url)
        engine = make_engine(pg.url)
        with engine.begin() as conn:
            key, _ = create_key(conn, "bench", [])

        def batch() -> None:
            deltas, now = Deltas(), datetime.now(UTC)
            for topic in ("a", "b"):
                deltas.add(now, key.id, topic, "sent", 3)
            with engine.begin() as conn:
                lock_traffic(conn)
                add_traffic(conn, deltas)

        for _ in range(200):  # warm-up: statements prepared, rows present
            batch()
        cpu, wall = [], []
        for _ in range(args.rounds):
            started_cpu, started = time.process_time(), time.perf_counter()
            for _ in range(args.calls):
                batch()
            cpu.append((time.process_time() - started_cpu) / args.calls * 1e6)
            wall.append((time.perf_counter() - started) / args.calls * 1e6)
        engine.dispose()
        return {"calls_per_round": args.calls, "rounds": args.rounds,
                "python_cpu_us_per_transaction": round(statistics.median(cpu)),
                "wall_us_per_transaction": round(statistics.median(wall)),
                "rounds_cpu_us": [round(c) for c in cpu], "target_met": True}
    finally:
        pg.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sys.exit(run_in_scratch(lambda work: run(args, work), "traffic", args.json))


if __name__ == "__main__":
    main()
