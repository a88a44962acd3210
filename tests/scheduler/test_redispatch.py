"""Re-enqueueing queued rows: at once when Redis lost its data, ever more rarely otherwise."""

from __future__ import annotations

import json

from sqlalchemy import text

from services.scheduler.dispatch import dispatch_all_due, requeue_if_redis_lost
from shared.broker.payloads import decode_send_batch
from shared.broker.queues import CONVEYOR_KEY, SEND_QUEUE, mark_conveyor
from shared.db.messages import claim_due_messages
from tests.scheduler.test_dispatch import make_messages


def _wait_after_claim(engine, *, unclaimed_for: float, state: str = "queued") -> float:
    """Claim a due row that was last enqueued ``unclaimed_for`` s ago; its next wait (s)."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE messages SET state = :s, due_at = now() - interval '1 second', "
                          "updated_at = now() - make_interval(secs => :ago)"),
                     {"s": state, "ago": unclaimed_for})
        assert len(claim_due_messages(conn, limit=10, queue_timeout=5)) == 1
        return conn.execute(text("SELECT extract(epoch FROM due_at - now()) FROM messages")
                            ).scalar_one()


def _enqueued_ids(redis) -> list[int]:
    """The ids of every send batch waiting in Redis (batch sizes vary, ids do not)."""
    queue = f"dramatiq:{SEND_QUEUE}"
    found = []
    for message_id in redis.lrange(queue, 0, -1):
        message = json.loads(redis.hget(f"{queue}.msgs", message_id))
        found += decode_send_batch(message["args"][0]).ids
    return sorted(found)


def test_row_still_unclaimed_waits_twice_as_long_before_the_next_enqueue(engine, api_key):
    make_messages(engine, api_key[0].id, 1)
    # First enqueue of a created row, or a re-enqueue soon after: queue_timeout.
    assert abs(_wait_after_claim(engine, unclaimed_for=0, state="created") - 5) < 1
    assert abs(_wait_after_claim(engine, unclaimed_for=1) - 5) < 1
    # Unclaimed for 40 s: most likely in a long queue, so wait 80 s this time.
    assert abs(_wait_after_claim(engine, unclaimed_for=40) - 80) < 1
    # Never more than an hour.
    assert abs(_wait_after_claim(engine, unclaimed_for=86_400) - 3600) < 1


def test_queued_rows_are_enqueued_at_once_when_redis_lost_its_data(
    engine, broker, settings, api_key, redis
):
    ids = make_messages(engine, api_key[0].id, 30)  # queued, due in queue_timeout (300 s)
    mark_conveyor(broker)
    dispatch_all_due(engine, broker, settings)
    assert redis.llen(f"dramatiq:{SEND_QUEUE}") == 0

    redis.flushall()  # e.g. Redis restarted without its data
    dispatch_all_due(engine, broker, settings)
    assert _enqueued_ids(redis) == sorted(ids)  # every queued row, once
    assert redis.exists(CONVEYOR_KEY)
    # Noticed once: the next tick enqueues nothing more.
    assert requeue_if_redis_lost(engine, broker) == 0
    dispatch_all_due(engine, broker, settings)
    assert _enqueued_ids(redis) == sorted(ids)
    assert len(ids) == 30
