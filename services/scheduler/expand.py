"""The scheduler's expansion step: due campaigns become message rows, a batch at a time.

A campaign is kept topped up to ``campaign_window`` unsent rows rather than
expanded whole: a million recipients sent at 14/s would otherwise sit in the
send queue for a day, and pausing would have to touch every one of them.

Each batch is one transaction (rows + cursor), so killing the scheduler at
any moment loses at most the batch in flight, which the next run redoes;
the unique (campaign, address) index makes sure a redone batch adds no
duplicate. Everything happens inside PostgreSQL (INSERT ... SELECT from the
stored grid): the scheduler's memory does not grow with the list.
"""

from __future__ import annotations

import logging
import time

from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import Engine

from shared.broker.queues import enqueue_sends
from shared.db.campaigns import expand_next_batch
from shared.metrics.instruments import CAMPAIGN_ROWS
from shared.rendering.bulk import MAX_ENTRIES
from shared.settings import Settings

log = logging.getLogger("mailpipe.scheduler")


def expand_step(engine: Engine, broker: RedisBroker, settings: Settings) -> bool:
    """Expand one batch of one due campaign and enqueue its rows; True if a batch was
    expanded (there may be more).

    The enqueue happens after the batch commits, as intake's does: if it
    fails, the rows stay ``queued`` and the dispatch step enqueues them
    after ``queue_timeout``.
    """
    with engine.begin() as conn:
        batch = expand_next_batch(conn, batch=settings.expand_batch,
                                  window=settings.campaign_window,
                                  queue_timeout=settings.queue_timeout)
    if batch is None:
        return False
    CAMPAIGN_ROWS.inc(batch.inserted)
    log.info("campaign %d: %d/%d recipients expanded (+%d rows)",
             batch.campaign_id, batch.expanded, batch.total, batch.inserted)
    if settings.bulk_sends:
        enqueue_sends(broker, batch.queued, settings.campaign_send_batch, unit=MAX_ENTRIES)
    else:  # one send per message: batches as small as intake's, so every thread has some
        enqueue_sends(broker, batch.queued, settings.send_batch)
    return True


def expand_due_campaigns(engine: Engine, broker: RedisBroker, settings: Settings,
                         max_seconds: float = 10.0) -> None:
    """Run ``expand_step`` until nothing is due, for at most ``max_seconds``.

    Bounded so that a million-recipient campaign does not hold the job past
    its next tick; the next run carries on from the cursor.
    """
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline:
        if not expand_step(engine, broker, settings):
            return
