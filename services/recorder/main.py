"""`mailpipe recorder`: the single writer of outcomes, one supervised process."""

from __future__ import annotations

import dramatiq
import redis

from services.recorder.events import record_events
from services.recorder.record import record_outcomes
from shared.broker.payloads import decode_events, decode_outcomes
from shared.broker.queues import EVENT_ACTOR, EVENT_QUEUE, OUTCOME_ACTOR, OUTCOME_QUEUE, make_broker
from shared.broker.workers import run_worker
from shared.db.engine import make_engine, retry_while_database_down
from shared.guard import ReputationGuard
from shared.intake.waiters import publish_states
from shared.metrics.setup import serve as serve_metrics
from shared.runtime import heap
from shared.runtime.context import PayloadContext
from shared.runtime.heartbeat import Heartbeat
from shared.runtime.logs import configure_logging
from shared.runtime.observe import observe
from shared.runtime.supervisor import ShutdownFlag, supervise
from shared.settings import Settings

THREADS = 2
#: Seconds a batch waits out a PostgreSQL restart before dramatiq retries it.
DATABASE_PATIENCE = 60.0


def run_process(settings: Settings) -> None:
    configure_logging("recorder", settings.log_level)
    observe("recorder", settings)
    engine = make_engine(settings.database_url, pool_size=THREADS)
    broker = make_broker(settings)
    broker.add_middleware(PayloadContext())
    redis_client = redis.Redis.from_url(settings.redis_url)
    guard = ReputationGuard.from_settings(settings)

    def record(payload: dict) -> None:
        batch = decode_outcomes(payload)
        retry_while_database_down(
            lambda: record_outcomes(engine, batch, max_attempts=settings.max_attempts,
                                    notify=lambda changed: publish_states(redis_client, changed),
                                    guard=guard),
            patience=DATABASE_PATIENCE, what="an outcome batch")

    dramatiq.actor(
        record, broker=broker, actor_name=OUTCOME_ACTOR, queue_name=OUTCOME_QUEUE,
        max_retries=1000,
    )

    def record_event_batch(payload: dict) -> None:
        batch = decode_events(payload)
        retry_while_database_down(lambda: record_events(engine, batch, guard),
                                  patience=DATABASE_PATIENCE, what="an event batch")

    dramatiq.actor(
        record_event_batch, broker=broker, actor_name=EVENT_ACTOR, queue_name=EVENT_QUEUE,
        max_retries=1000,
    )
    heap.settle()
    heartbeat = Heartbeat(redis_client, "recorder").start()
    run_worker(broker, THREADS, ShutdownFlag().install())
    heartbeat.stop()


def main(settings: Settings) -> int:
    configure_logging("recorder", settings.log_level)
    observe("recorder", settings)
    serve_metrics(settings.metrics_port_recorder, settings.metrics_host)
    return supervise("recorder", lambda: run_process(settings), 1)
