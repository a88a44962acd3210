"""The scheduler's webhooks step: wake a worker for every endpoint with due deliveries.

Nothing is claimed here (the workers claim, shared.db.webhook_deliveries):
the step only reads which endpoints have due rows and enqueues a wake for
each that is not awake already. PostgreSQL is the truth: if Redis loses the
wakes and their marks (a restart, a flush), the next tick wakes them again.
"""

from __future__ import annotations

import logging

from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import Engine

from shared.broker.queues import wake_webhooks
from shared.db.webhook_deliveries import due_endpoints

log = logging.getLogger("mailpipe.scheduler")


def wake_due_webhooks(engine: Engine, broker: RedisBroker) -> int:
    """Enqueue a wake for each endpoint with due deliveries not already awake; how many."""
    with engine.connect() as conn:
        endpoints = due_endpoints(conn)
    woken = wake_webhooks(broker, endpoints) if endpoints else 0
    if woken:
        log.info("woke webhook workers for %d endpoint%s", woken, "" if woken == 1 else "s")
    return woken
