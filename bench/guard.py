"""Reputation guard bench: what counting and judging adds to the recorder's batches at
campaign scale.

Starts PostgreSQL in a scratch folder (migrated), one API key, and ``--rows``
messages claimed as a sender claims them (``sending``, attempt 1): half a
campaign's, half transactional, over ``--topics`` topics. Then records them in
batches of ``--batch`` ``sent`` outcomes with ``record_outcomes`` (the recorder's
step) and, after each, one event batch of hard bounces for ``--bounced`` of the
batch's messages with ``record_events``, alternately with the guard and without
it, so the machine's drifting load falls on both alike. (The bounces stay below
the pause level: what is measured is the counting and judging every batch pays,
not a pause.) The first ``--warmup`` pairs are not timed. The ceiling is the
recorder without the guard, in the same run: the report gives the median wall
time per message of each (the bench process and PostgreSQL, both on this
machine), the difference, its ratio to the ceiling, and the difference against
what sending a message costs in all, ``--send-cpu-us`` (CPU µs per message of
every process, from bench/pipeline.py's report), as bench/outbox.py reports it.

    .venv/bin/python bench/guard.py [--rows 1000000] [--batch 500] [--json out.json]

Target (issue 29): the guard adds less than 10% to what sending a message costs,
pausing nothing at a bounce rate below its levels.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from common import make_keys, on_migrated_postgres, run_in_scratch
from sqlalchemy import text

from services.recorder.events import record_events
from services.recorder.record import record_outcomes
from shared.broker.payloads import (
    Event,
    EventBatch,
    EventType,
    Outcome,
    OutcomeBatch,
    OutcomeKind,
)
from shared.guard import Levels, ReputationGuard
from shared.states import MessageState

TARGET = 0.10

#: ``:n`` claimed rows, every other one a campaign's, spread over ``:topics`` topics.
_CLAIMED = text(
    """
    INSERT INTO messages (api_key_id, content_id, topic_id, from_addr, to_addr, state,
                          attempts, lease_until, worker_id, campaign_id)
    SELECT :key, :content, 'topic-' || (n % :topics), 'bench@bench.example',
           'r' || n || '@bench.example', :sending, 1, now() + interval '1 day', 'bench',
           CASE WHEN n % 2 = 0 THEN 1 END
      FROM generate_series(1, :n) AS n
    """
)


def measure(engine, args: argparse.Namespace) -> dict:
    with engine.begin() as conn:
        [key], [content] = make_keys(conn, 1)
        started = time.perf_counter()
        conn.execute(_CLAIMED, {"key": key, "content": content, "n": args.rows,
                                "topics": args.topics, "sending": MessageState.SENDING.value})
    fill_s = time.perf_counter() - started
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE messages")
        ids = list(conn.execute(text("SELECT id FROM messages ORDER BY random()")).scalars())
    # The settings' levels and sample, but a window the size of a small campaign.
    guard = ReputationGuard(Levels(0.02, 0.04, 0.0005, 0.0008, 1000), window=10_000)
    pairs = min(args.rounds + args.warmup, len(ids) // (2 * args.batch))
    batches = [ids[i * args.batch:(i + 1) * args.batch] for i in range(2 * pairs)]
    times = {on: {"outcomes": [], "events": []} for on in (False, True)}
    for n, batch in enumerate(batches):
        if n == 2 * args.warmup:
            times = {on: {"outcomes": [], "events": []} for on in (False, True)}
        on = n % 2 == 1
        now = time.time()
        outcomes = OutcomeBatch(tuple(Outcome(i, 1, OutcomeKind.SENT, now,
                                              provider_message_id=f"ses-{i}") for i in batch))
        t0 = time.perf_counter()
        changed = record_outcomes(engine, outcomes, max_attempts=5, guard=guard if on else None)
        times[on]["outcomes"].append((time.perf_counter() - t0) / len(batch) * 1e6)
        if len(changed) != len(batch):
            raise RuntimeError(f"batch {n}: {len(changed)} of {len(batch)} applied")
        bounced = batch[:max(1, int(len(batch) * args.bounced))]
        events = EventBatch(tuple(Event(EventType.BOUNCED, now, None, f"ses-{i}",
                                        f"sns-{i}", "hard") for i in bounced))
        t0 = time.perf_counter()
        record_events(engine, events, guard if on else None)
        times[on]["events"].append((time.perf_counter() - t0) / len(bounced) * 1e6)
    with engine.connect() as conn:
        windows, hours, pauses = conn.execute(text(
            "SELECT (SELECT count(*) FROM guard_windows), (SELECT count(*) FROM guard_hours),"
            " (SELECT count(*) FROM guard_pauses)")).one()
    report: dict = {"rows": args.rows, "topics": args.topics, "batch": args.batch,
                    "pairs_timed": pairs - args.warmup, "fill_s": round(fill_s, 1),
                    "guard_rows": {"windows": windows, "hours": hours}, "pauses": pauses}
    for kind in ("outcomes", "events"):
        off = statistics.median(times[False][kind])
        on = statistics.median(times[True][kind])
        report[kind] = {"us_per_message_without": round(off, 1),
                        "us_per_message_with": round(on, 1),
                        "added_us": round(on - off, 1), "ratio": round((on - off) / off, 3)}
    per_message = report["outcomes"]["added_us"] + args.bounced * report["events"]["added_us"]
    report["guard_us_per_message_sent"] = round(per_message, 1)
    report["send_cpu_us_per_message"] = args.send_cpu_us
    report["slowdown"] = round(per_message / args.send_cpu_us, 3)
    report["target"] = TARGET
    report["target_met"] = report["slowdown"] < TARGET and pauses == 0
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="claimed messages in the table (the campaign's scale)")
    parser.add_argument("--topics", type=int, default=20, help="topics they spread over")
    parser.add_argument("--rounds", type=int, default=100,
                        help="pairs of batches timed (without the guard, with it)")
    parser.add_argument("--batch", type=int, default=500, help="outcomes per batch")
    parser.add_argument("--bounced", type=float, default=0.01,
                        help="share of each batch hard-bounced in its event batch")
    parser.add_argument("--warmup", type=int, default=10, help="pairs not timed")
    parser.add_argument("--send-cpu-us", type=float, default=1900.0,
                        help="CPU µs one message costs to send in all (bench/pipeline.py)")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    return run_in_scratch(
        lambda work: on_migrated_postgres(work, lambda engine: measure(engine, args)),
        "guard", args.json)


if __name__ == "__main__":
    sys.exit(main())
