"""Outbox bench: what writing outbound events adds to the recorder's work per message.

Starts PostgreSQL in a scratch folder (migrated), one API key, and
``--rounds`` x 2 batches of ``--batch`` messages claimed as a sender claims
them (``sending``, attempt 1). Then applies the batches' ``sent`` outcomes
with ``record_outcomes`` (the recorder's step, in one transaction: the
conditional UPDATE, the rollups, orphan adoption, and the outbox's one
INSERT ... SELECT per batch), alternately with the key's one webhook endpoint
disabled and enabled, so the machine's drifting load falls on both alike.
The first ``--warmup`` pairs are not timed; then the outbox tables are
analyzed, as autovacuum does on a live database. (This bench found that a
foreign key from each delivery to its event, checked per row, read the young,
never analyzed table whole: 290 µs a delivery at 20,000 events; there is none
now.) Reports the median wall time per message of either (the bench process and
PostgreSQL, both on this machine), the difference (what the outbox adds: a
``message.sent`` row and its pending delivery per message) and that
difference against what sending a message costs in all, ``--send-cpu-us``
(CPU µs per message of every process, from bench/pipeline.py's report: the
api's intake, the senders, the recorder, PostgreSQL, Redis).

    .venv/bin/python bench/outbox.py [--rounds 200] [--batch 100] [--json out.json]

Target (issue 28): sending slows by less than 10% with a webhook endpoint.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from common import make_keys, on_migrated_postgres, run_in_scratch
from sqlalchemy import insert, text

from services.recorder.record import record_outcomes
from shared.broker.payloads import Outcome, OutcomeBatch, OutcomeKind
from shared.db.tables import webhook_endpoints

TARGET = 0.10

_CLAIMED = text(
    """
    INSERT INTO messages (api_key_id, content_id, topic_id, from_addr, to_addr, state,
                          attempts, lease_until, worker_id)
    SELECT :key, :content, 'bench', 'bench@bench.example', 'r' || n || '@bench.example',
           'sending', 1, now() + interval '1 hour', 'bench'
      FROM generate_series(1, :n) AS n
    RETURNING id
    """
)


def measure(engine, args: argparse.Namespace) -> dict:
    with engine.begin() as conn:
        [key], [content] = make_keys(conn, 1)
        endpoint = conn.execute(insert(webhook_endpoints).values(
            api_key_id=key, url="https://hooks.example.com/in", secret="sealed",
            enabled=False).returning(webhook_endpoints.c.id)).scalar_one()
        ids = sorted(conn.execute(_CLAIMED, {"key": key, "content": content,
                                             "n": (args.rounds + args.warmup) * 2
                                                  * args.batch}).scalars())
    batches = [ids[i : i + args.batch] for i in range(0, len(ids), args.batch)]
    times: dict[bool, list[float]] = {False: [], True: []}
    for n, batch in enumerate(batches):
        if n == 2 * args.warmup:
            with engine.begin() as conn:
                conn.execute(text("ANALYZE webhook_events, webhook_deliveries"))
            times = {False: [], True: []}
        enabled = n % 2 == 1
        with engine.begin() as conn:
            conn.execute(text("UPDATE webhook_endpoints SET enabled = :on WHERE id = :id"),
                         {"on": enabled, "id": endpoint})
        outcomes = OutcomeBatch(tuple(Outcome(i, 1, OutcomeKind.SENT, time.time(),
                                              provider_message_id=f"ses-{i}") for i in batch))
        started = time.perf_counter()
        changed = record_outcomes(engine, outcomes, max_attempts=5)
        times[enabled].append((time.perf_counter() - started) / len(batch) * 1e6)
        if len(changed) != len(batch):
            raise RuntimeError(f"batch {n}: {len(changed)} of {len(batch)} applied")
    with engine.connect() as conn:
        events, deliveries = conn.execute(text(
            "SELECT (SELECT count(*) FROM webhook_events),"
            " (SELECT count(*) FROM webhook_deliveries)")).one()
    off, on = statistics.median(times[False]), statistics.median(times[True])
    added = on - off
    return {
        "rounds": args.rounds, "batch": args.batch, "warmup": args.warmup,
        "recorder_us_per_message": {"no_endpoint": round(off, 1), "endpoint": round(on, 1)},
        "outbox_us_per_message": round(added, 1),
        "recorder_messages_per_s": {"no_endpoint": round(1e6 / off), "endpoint": round(1e6 / on)},
        "events": events, "deliveries": deliveries,
        "send_cpu_us_per_message": args.send_cpu_us,
        "slowdown": round(added / args.send_cpu_us, 3),
        "target": TARGET,
        "target_met": (added / args.send_cpu_us < TARGET
                       and events == (args.rounds + args.warmup) * args.batch),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200,
                        help="pairs of batches (endpoint disabled, enabled)")
    parser.add_argument("--batch", type=int, default=100, help="outcomes per batch")
    parser.add_argument("--warmup", type=int, default=20, help="pairs not timed")
    parser.add_argument("--send-cpu-us", type=float, default=1900.0,
                        help="CPU µs one message costs to send in all (bench/pipeline.py)")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    return run_in_scratch(
        lambda work: on_migrated_postgres(work, lambda engine: measure(engine, args)),
        "outbox", args.json)


if __name__ == "__main__":
    sys.exit(main())
