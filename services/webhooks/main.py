"""`mailpipe webhooks`: P supervised processes of T dramatiq threads on the webhooks queue.

Only the webhooks queue (``WEBHOOK_QUEUE``) is declared here: these workers
never take a send or an outcome, and senders never take a delivery, so a
slow endpoint holds nothing but its own turn.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import dramatiq
import redis

from services.webhooks.deliver import WebhookDeps, deliver_endpoint
from shared.broker.payloads import decode_webhook_wake
from shared.broker.queues import WEBHOOK_ACTOR, WEBHOOK_QUEUE, make_broker
from shared.broker.workers import run_worker
from shared.db.engine import make_engine
from shared.metrics.setup import serve as serve_metrics
from shared.runtime import heap
from shared.runtime.context import PayloadContext
from shared.runtime.heartbeat import Heartbeat
from shared.runtime.logs import configure_logging
from shared.runtime.observe import observe
from shared.runtime.supervisor import ShutdownFlag, supervise
from shared.settings import Settings
from shared.webhooks.signing import webhook_box


def build_deps(settings: Settings, threads: int, flag: ShutdownFlag) -> WebhookDeps:
    from shared.metrics.instruments import WEBHOOK_DELIVERIES

    return WebhookDeps(
        settings=settings,
        engine=make_engine(settings.database_url, pool_size=threads),
        broker=make_broker(settings),
        redis=redis.Redis.from_url(settings.redis_url),
        box=webhook_box(settings.secret_key),
        pool=ThreadPoolExecutor(threads * settings.webhook_concurrency,
                                thread_name_prefix="webhook-post"),
        stopping=lambda: flag.requested,
        observe=lambda outcome: WEBHOOK_DELIVERIES.labels(outcome).inc(),
    )


def register(deps: WebhookDeps) -> None:
    """Declare the delivery actor on ``deps.broker``."""

    def deliver(payload: dict) -> None:
        deliver_endpoint(deps, decode_webhook_wake(payload).endpoint_id)

    dramatiq.actor(deliver, broker=deps.broker, actor_name=WEBHOOK_ACTOR,
                   queue_name=WEBHOOK_QUEUE, max_retries=1000)


def run_process(settings: Settings, threads: int) -> None:
    configure_logging("webhooks", settings.log_level)
    observe("webhooks", settings)
    flag = ShutdownFlag().install()
    deps = build_deps(settings, threads, flag)
    register(deps)
    deps.broker.add_middleware(PayloadContext())
    heap.settle()
    heartbeat = Heartbeat(deps.redis, "webhooks").start()
    run_worker(deps.broker, threads, flag)
    deps.pool.shutdown(wait=True)
    heartbeat.stop()


def main(settings: Settings, processes: int, threads: int) -> int:
    configure_logging("webhooks", settings.log_level)
    observe("webhooks", settings)
    webhook_box(settings.secret_key)  # no secret key: say so now, not in every delivery
    serve_metrics(settings.metrics_port_webhooks, settings.metrics_host)  # children summed
    return supervise("webhooks", lambda: run_process(settings, threads), processes)
