"""The scheduler's dispatch step: due rows to ``queued``, then onto the conveyor."""

from __future__ import annotations

import logging

from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import Engine

from shared.db.messages import claim_due_messages
from shared.queues import enqueue_sends
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
        log.info("dispatched %d messages", len(ids))
    return len(ids) == settings.dispatch_batch


def dispatch_all_due(
    engine: Engine, broker: RedisBroker, settings: Settings, max_batches: int = 50
) -> None:
    """Run ``dispatch_due`` until nothing is due (bounded, so one tick cannot run forever)."""
    for _ in range(max_batches):
        if not dispatch_due(engine, broker, settings):
            return
