"""`mailpipe recorder`: the single writer of outcomes, one supervised process."""

from __future__ import annotations

import dramatiq
import redis

from services.recorder.events import record_events
from services.recorder.record import record_outcomes
from shared.db.engine import make_engine
from shared.logs import configure_logging
from shared.payloads import decode_events, decode_outcomes
from shared.queues import EVENT_ACTOR, EVENT_QUEUE, OUTCOME_ACTOR, OUTCOME_QUEUE, make_broker
from shared.settings import Settings
from shared.supervisor import ShutdownFlag, supervise
from shared.waiters import publish_states
from shared.workers import run_worker

THREADS = 2


def run_process(settings: Settings) -> None:
    configure_logging("recorder")
    engine = make_engine(settings.database_url, pool_size=THREADS)
    broker = make_broker(settings)
    redis_client = redis.Redis.from_url(settings.redis_url)

    def record(payload: dict) -> None:
        record_outcomes(engine, decode_outcomes(payload), max_attempts=settings.max_attempts,
                        notify=lambda changed: publish_states(redis_client, changed))

    dramatiq.actor(
        record, broker=broker, actor_name=OUTCOME_ACTOR, queue_name=OUTCOME_QUEUE,
        max_retries=1000,
    )

    def record_event_batch(payload: dict) -> None:
        record_events(engine, decode_events(payload))

    dramatiq.actor(
        record_event_batch, broker=broker, actor_name=EVENT_ACTOR, queue_name=EVENT_QUEUE,
        max_retries=1000,
    )
    run_worker(broker, THREADS, ShutdownFlag().install())


def main(settings: Settings) -> int:
    configure_logging("recorder")
    return supervise("recorder", lambda: run_process(settings), 1)
