"""Operator commands that can take a while, with progress: migrate, requeue, prune.

Each runs as short transactions (a migration each, a batch of rows each) so
it can be interrupted and run again, and reports progress on stderr
(``shared.runtime.progress``); the one-line result goes to stdout.
"""

from __future__ import annotations

import sys
from collections import Counter
from datetime import timedelta

from shared.runtime.progress import progress
from shared.settings import Settings

#: Rows one requeue transaction moves.
REQUEUE_BATCH = 5000


def migrate(settings: Settings) -> int:
    from shared.db.migrate import pending_revisions, upgrade

    todo = pending_revisions(settings.database_url)
    if todo:
        with progress("migrating", len(todo), unit="migrations") as bar:
            upgrade(settings.database_url, on_step=lambda rev: bar.advance(1, rev))
    print("database schema is up to date")
    return 0


def requeue(settings: Settings, *, state: str, topic_id: str | None, api_key_id: int | None,
            older_than: timedelta | None) -> int:
    from shared.db.audit import Actor
    from shared.db.engine import make_engine
    from shared.db.sweeps import REQUEUE_RISKS, count_requeueable
    from shared.db.sweeps import requeue as requeue_rows

    engine = make_engine(settings.database_url, pool_size=1)
    filters = {"state": state, "topic_id": topic_id, "api_key_id": api_key_id,
               "older_than": older_than}
    with engine.connect() as conn:
        total = count_requeueable(conn, **filters)
    if total:
        print(REQUEUE_RISKS[state], file=sys.stderr)
    actor = Actor.cli()  # each batch's transaction records its own entry in the audit log
    done = 0
    with progress(f"requeueing {state}", total, unit="messages") as bar:
        while True:
            with engine.begin() as conn:
                count = requeue_rows(conn, **filters, limit=REQUEUE_BATCH, actor=actor)
            done += count
            bar.advance(count)
            if count < REQUEUE_BATCH:
                break
    engine.dispose()
    print(f"requeued {done} {state} messages; the scheduler sends them on its next tick")
    return 0


def prune(settings: Settings, *, batch: int | None = None) -> int:
    """Run retention now, to the end (the scheduler does the same a few seconds a minute)."""
    from services.scheduler.retention import KINDS, RetentionPolicy, more, prune_step
    from shared.db.engine import make_engine

    policy = RetentionPolicy.from_settings(
        settings.model_copy(update={"retention_batch": batch}) if batch else settings)
    if not policy.active:
        print("retention is off (MAILPIPE_RETENTION_DAYS=0): nothing pruned")
        return 0
    engine = make_engine(settings.database_url, pool_size=1)
    totals: Counter = Counter()
    with progress("pruning", unit="rows") as bar:
        while True:
            counts = prune_step(engine, policy)
            totals.update(counts)
            bar.advance(sum(counts.values()),
                        " ".join(f"{k}={totals[k]}" for k in KINDS if totals[k]))
            if not more(counts, policy):
                break
    engine.dispose()
    summary = ", ".join(f"{totals[k]} {k}" for k in KINDS if totals[k]) or "nothing"
    print(f"pruned {summary}")
    return 0
