"""One endpoint's turn: claim its due deliveries, POST them signed, record each attempt.

A wake names an endpoint (``shared.broker.queues.wake_webhooks``). Its worker
claims at most ``webhook_concurrency`` deliveries of it (the claim counts
every worker's live leases), posts them in parallel, settles them, and claims
again, until nothing is due or ``TURN_SECONDS`` have passed; then it hands
the endpoint on to a next wake, so one busy endpoint cannot keep a worker
thread for ever while other endpoints wait.

What an answer means: a 2xx within the timeout is delivered; 410 disables
the endpoint at once (``gone``) and the delivery is ``failed``; anything
else (another status, a 3xx not followed, no answer) is retried on the
schedule of ``shared.webhooks.retries``, honouring Retry-After, and counts
toward the endpoint's failing streak.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from dramatiq.brokers.redis import RedisBroker
from redis import Redis
from sqlalchemy import Engine

from shared.broker.queues import wake_webhooks, webhooks_asleep
from shared.db.webhook_deliveries import (
    ClaimedDelivery,
    Settled,
    claim_deliveries,
    endpoint_failed,
    endpoint_gone,
    endpoint_succeeded,
    settle_deliveries,
)
from shared.secrets import SecretBox, SecretError
from shared.settings import Settings
from shared.webhooks.client import Answer, DeliveryError, post
from shared.webhooks.envelope import envelope_body
from shared.webhooks.events import DeliveryState as D
from shared.webhooks.retries import next_delay
from shared.webhooks.signing import signed_headers, webhook_id

log = logging.getLogger("mailpipe.webhooks")

#: Seconds one wake works one endpoint before handing it on to a next wake.
TURN_SECONDS = 20.0


@dataclass
class WebhookDeps:
    settings: Settings
    engine: Engine
    broker: RedisBroker
    redis: Redis
    box: SecretBox
    #: Runs the attempts of one claim side by side (at most the concurrency cap each).
    pool: ThreadPoolExecutor
    stopping: Callable[[], bool] = lambda: False
    worker_id: str = f"{socket.gethostname()}:{os.getpid()}"
    #: Told of each attempt's outcome (metrics): delivered, retry, failed, gone.
    observe: Callable[[str], None] = lambda outcome: None


@dataclass(frozen=True)
class Attempt:
    """What became of one POST."""

    delivery: ClaimedDelivery
    answer: Answer | None
    error: str | None


def attempt(deps: WebhookDeps, delivery: ClaimedDelivery) -> Attempt:
    """Sign and POST one delivery. Never raises for the endpoint's doing."""
    try:
        secrets = [deps.box.decrypt(delivery.secret)]
        if delivery.previous_secret:
            secrets.append(deps.box.decrypt(delivery.previous_secret))
    except SecretError as exc:
        return Attempt(delivery, None, str(exc))
    body = envelope_body(delivery.type, delivery.occurred_at, delivery.data)
    headers = signed_headers(secrets, webhook_id(delivery.event_id), datetime.now(UTC), body)
    try:
        answer = post(delivery.url, body, headers, timeout=deps.settings.webhook_timeout,
                      allow_private=deps.settings.webhook_private)
    except DeliveryError as exc:
        return Attempt(delivery, None, str(exc))
    return Attempt(delivery, answer, None)


def _error(answer: Answer) -> str | None:
    if answer.ok:
        return None
    if 300 <= answer.status < 400:
        return (f"answered {answer.status}; redirects are not followed "
                f"(Location: {answer.location or '-'})")[:500]
    return f"answered {answer.status}"


def outcome(a: Attempt) -> tuple[str, Settled]:
    """What an attempt means for its delivery, and its name in the metrics."""
    answer = a.answer
    said = {"status": answer.status if answer else None,
            "response": answer.excerpt if answer else None,
            "error": _error(answer) if answer else a.error}
    if answer is not None and answer.ok:
        return "delivered", Settled(a.delivery, D.DELIVERED, **said)
    if answer is not None and answer.status == 410:
        return "gone", Settled(a.delivery, D.FAILED, **said)
    delay = next_delay(a.delivery.attempt, answer.retry_after if answer else None)
    if delay is None:
        return "failed", Settled(a.delivery, D.FAILED, **said)
    return "retry", Settled(a.delivery, D.PENDING, delay=delay, **said)


def settle(deps: WebhookDeps, endpoint_id: int, attempts: list[Attempt]) -> None:
    """Record every attempt of one claim, and what they say of the endpoint, in one
    transaction: a 410 disables it; else one success ends its failing streak; only
    failures continue it (and after GIVE_UP_AFTER disable it)."""
    named = [outcome(a) for a in attempts]
    kinds = {kind for kind, _ in named}
    with deps.engine.begin() as conn:
        settle_deliveries(conn, [s for _, s in named], worker_id=deps.worker_id)
        if "gone" in kinds:
            if endpoint_gone(conn, endpoint_id):
                log.warning("webhook endpoint %d answered 410 Gone: disabled", endpoint_id)
        elif "delivered" in kinds:
            endpoint_succeeded(conn, endpoint_id)
        elif not endpoint_failed(conn, endpoint_id):
            log.warning("webhook endpoint %d: failing for too long, disabled", endpoint_id)
    for kind, _ in named:
        deps.observe(kind)


def deliver_endpoint(deps: WebhookDeps, endpoint_id: int) -> int:
    """One wake's turn on ``endpoint_id``: returns the attempts made."""
    settings = deps.settings
    ends = time.monotonic() + TURN_SECONDS
    made = 0
    while not deps.stopping():
        with deps.engine.begin() as conn:
            claimed = claim_deliveries(conn, endpoint_id, worker_id=deps.worker_id,
                                       slots=settings.webhook_concurrency,
                                       lease=settings.webhook_lease)
        if not claimed:
            webhooks_asleep(deps.redis, endpoint_id)
            return made
        attempts = list(deps.pool.map(lambda d: attempt(deps, d), claimed))
        settle(deps, endpoint_id, attempts)
        made += len(attempts)
        if time.monotonic() >= ends:
            break
    # A turn used up, or the worker stopping: the next wake carries on (due rows stay due).
    wake_webhooks(deps.broker, [endpoint_id], force=True)
    return made
