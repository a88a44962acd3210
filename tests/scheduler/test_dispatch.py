"""Dispatch: due rows become queued exactly once, however many schedulers run."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from services.scheduler.dispatch import dispatch_due
from shared.broker.payloads import SendBatch, decode_send_batch
from shared.broker.queues import enqueue_sends
from shared.db.messages import claim_due_messages, insert_messages
from shared.intake.requests import MessageRequest


def make_messages(engine, key_id: int, count: int, *, scheduled_at=None) -> list[int]:
    item = MessageRequest(
        topic_id="t", from_addr="s@example.com",
        recipients=tuple(f"r{i}@example.com" for i in range(count)),
        subject="s", html="<p>h</p>", text=None, reply_to=None, scheduled_at=scheduled_at,
    )
    with engine.begin() as conn:
        return [m.id for m in insert_messages(conn, key_id, [item], queue_timeout=300)]


def test_two_schedulers_never_take_the_same_row(engine, api_key):
    ids = make_messages(engine, api_key[0].id, 3000,
                        scheduled_at=datetime.now(UTC) + timedelta(seconds=1))
    time.sleep(1.1)  # now 3000 created rows are due
    taken: list[list[int]] = [[], []]
    start = threading.Barrier(2)

    def scheduler(slot: int) -> None:
        start.wait()
        while True:
            with engine.begin() as conn:
                batch = claim_due_messages(conn, limit=100, queue_timeout=300)
                time.sleep(0.01)  # hold the row locks so the claims overlap
            if not batch:
                return
            taken[slot].extend(batch)

    threads = [threading.Thread(target=scheduler, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not set(taken[0]) & set(taken[1])
    assert sorted(taken[0] + taken[1]) == sorted(ids)
    assert taken[0] and taken[1], "both schedulers should have found work"


def test_future_messages_wait_for_their_time(engine, broker, settings, api_key, redis):
    make_messages(engine, api_key[0].id, 5, scheduled_at=datetime.now(UTC) + timedelta(hours=1))
    assert dispatch_due(engine, broker, settings) is False
    assert redis.llen("dramatiq:mailpipe.send") == 0


def queued_batches(redis) -> list[SendBatch]:
    return [decode_send_batch(json.loads(redis.hget("dramatiq:mailpipe.send.msgs", m))["args"][0])
            for m in redis.lrange("dramatiq:mailpipe.send", 0, -1)]


def test_due_messages_are_queued_and_enqueued(engine, broker, settings, api_key, redis):
    ids = make_messages(engine, api_key[0].id, 45,
                        scheduled_at=datetime.now(UTC) + timedelta(seconds=0.5))
    time.sleep(0.6)
    dispatch_due(engine, broker, settings)
    with engine.connect() as conn:
        states = conn.execute(text("SELECT DISTINCT state FROM messages")).scalars().all()
    assert states == ["queued"]
    # Every id once, in batches of 10 to 30 ids (settings.send_batch is 20).
    batches = queued_batches(redis)
    assert sorted(i for b in batches for i in b.ids) == sorted(ids)
    assert all(len(b.ids) <= 30 for b in batches)
    assert all(len(b.ids) >= 10 for b in batches[:-1])


def test_batch_sizes_vary_so_sender_threads_do_not_finish_in_step(broker, redis):
    enqueue_sends(broker, range(2000), 20)
    sizes = [len(batch.ids) for batch in queued_batches(redis)]
    assert len(set(sizes)) > 3 and max(sizes) <= 30 and min(sizes[:-1]) >= 10
    assert 17 <= sum(sizes) / len(sizes) <= 23  # 20 on average


def test_queued_row_lost_from_redis_is_enqueued_again(engine, broker, settings, api_key, redis):
    make_messages(engine, api_key[0].id, 1)  # due now: inserted queued
    with engine.begin() as conn:
        assert claim_due_messages(conn, limit=10, queue_timeout=300) == []
        conn.execute(text("UPDATE messages SET due_at = now() - interval '1 second'"))
        assert len(claim_due_messages(conn, limit=10, queue_timeout=300)) == 1
