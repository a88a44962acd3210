"""The scheduler's dispatch step: due rows to ``queued``, then onto the conveyor."""

from __future__ import annotations

import logging

from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import Engine

from shared.broker.queues import conveyor_lost, enqueue_sends, mark_conveyor
from shared.db.messages import claim_due_messages, make_queued_due
from shared.settings import Settings

log = logging.getLogger("mailpipe.scheduler")


def dispatch_due(engine: Engine, broker: RedisBroker, settings: Settings) -> bool:
    """Claim one batch of due rows and enqueue them; True if there may be more.

    The enqueue happens after the claim commits. If it fails, the rows stay
    ``queued`` and this same step takes them again after ``queue_timeout``.
    """
    with engine.begin() as conn:
        ids = claim_due_messages(
            conn, limit=settings.dispatch_batch, queue_timeout=settings.queue_timeout
        )
    if ids:
        enqueue_sends(broker, ids, settings.send_batch)
        log.info("dispatched %d message%s", len(ids), "" if len(ids) == 1 else "s")
    return len(ids) == settings.dispatch_batch


def requeue_if_redis_lost(engine: Engine, broker: RedisBroker) -> int:
    """If Redis lost its data, make every ``queued`` row due now; returns how many.

    Without this, rows whose queue messages vanished would wait out their
    queue timeout. The mark is set only after the rows are due, so a crash in
    between repeats the step instead of skipping it.
    """
    if not conveyor_lost(broker):
        return 0
    with engine.begin() as conn:
        count = make_queued_due(conn)
    mark_conveyor(broker)
    if count:
        log.warning("Redis lost its queues (restarted empty or flushed): enqueueing "
                    "%d queued messages again", count)
    return count


def dispatch_all_due(
    engine: Engine, broker: RedisBroker, settings: Settings, max_batches: int = 50
) -> None:
    """Run ``dispatch_due`` until nothing is due (bounded, so one tick cannot run forever)."""
    requeue_if_redis_lost(engine, broker)
    for _ in range(max_batches):
        if not dispatch_due(engine, broker, settings):
            return
