"""A sender that dies holding a queue message does not strand it for long."""

from __future__ import annotations

import time

from sqlalchemy import text

from services.up import Stack
from shared.broker.queues import SEND_QUEUE, enqueue_sends, make_broker
from tests.scheduler.test_dispatch import make_messages
from tests.support.stack import settings_env, wait_for

HEARTBEAT_MS = 3000


def test_message_held_by_a_dead_worker_is_redelivered_within_seconds(
    settings, engine, redis, api_key, tmp_path
):
    fast = settings.model_copy(update={"broker_heartbeat_timeout_ms": HEARTBEAT_MS})
    ids = make_messages(engine, api_key[0].id, 1)
    doomed = make_broker(fast)
    enqueue_sends(doomed, ids, 10)
    # A worker takes the message and dies without acking it: its heartbeat stops.
    consumer = doomed.consume(SEND_QUEUE, prefetch=1, timeout=1000)
    taken = next(consumer)
    assert taken is not None and redis.llen(f"dramatiq:{SEND_QUEUE}") == 0

    stack = Stack(settings_env(fast, MAILPIPE_BROKER_HEARTBEAT_TIMEOUT_MS=str(HEARTBEAT_MS)),
                  log_dir=tmp_path / "logs")
    started = time.monotonic()
    stack.start("sender", "sender", "--processes", "1", "--threads", "2")
    stack.start("recorder", "recorder")
    try:
        def sent() -> bool:
            with engine.connect() as conn:
                return conn.execute(text("SELECT state FROM messages")).scalar_one() == "sent"

        wait_for(sent, 30, "the dead worker's message to be redelivered and sent")
    finally:
        stack.stop_all()
    assert time.monotonic() - started < 30
