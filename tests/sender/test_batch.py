"""The sender's step: a row is sent by one sender only, whatever the queue does, and
rows claimed but not sent go back to ``queued`` when the batch stops (quota, pause, shutdown)."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from sqlalchemy import text

from services.sender.batch import send_batch
from shared.broker.payloads import OutcomeKind, SendBatch
from shared.errors import SendingPaused
from shared.rate.limiter import FleetRateLimiter
from shared.rate.pause import FleetPause
from tests.scheduler.test_dispatch import make_messages
from tests.support.pump import queued_outcomes, sender_deps, ses_deps


def test_two_senders_racing_for_the_same_rows_send_each_once(
    settings, engine, broker, redis, api_key
):
    ids = make_messages(engine, api_key[0].id, 200)
    deps = sender_deps(settings, engine, broker, redis)
    start = threading.Barrier(2)
    results = []

    def sender() -> None:
        start.wait()
        for chunk in range(0, len(ids), 10):
            results.append(send_batch(deps, SendBatch(tuple(ids[chunk:chunk + 10]))))

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent = [o.message_id for r in results for o in r.outcomes]
    assert sorted(sent) == sorted(ids)
    assert len(list(settings.file_dir.glob("*.eml"))) == 200


def test_redelivered_batch_sends_nothing(settings, engine, broker, redis, api_key):
    ids = make_messages(engine, api_key[0].id, 3)
    deps = sender_deps(settings, engine, broker, redis)
    first = send_batch(deps, SendBatch(tuple(ids)))
    again = send_batch(deps, SendBatch(tuple(ids)))
    assert [o.kind for o in first.outcomes] == [OutcomeKind.SENT] * 3
    assert again.outcomes == ()
    assert len(list(settings.file_dir.glob("*.eml"))) == 3


def test_claim_records_lease_worker_and_attempt(settings, engine, broker, redis, api_key):
    ids = make_messages(engine, api_key[0].id, 1)
    send_batch(sender_deps(settings, engine, broker, redis), SendBatch(tuple(ids)))
    with engine.connect() as conn:
        row = conn.execute(text("SELECT state, attempts, worker_id, lease_until FROM messages"
                                )).one()
    # The recorder has not run: the row is still the sender's claim.
    assert row.state == "sending" and row.attempts == 1
    assert row.worker_id and row.lease_until is not None



@pytest.mark.parametrize("runs_out", ["before the claim", "at the slot"])
def test_spent_quota_hands_the_batch_back_without_using_attempts(
    settings, engine, broker, redis, api_key, fake_ses, runs_out
):
    ids = make_messages(engine, api_key[0].id, 2)
    calls = iter(range(100))

    def rate() -> float:  # the fleet's rate source: spent from call N on
        if next(calls) >= (0 if runs_out == "before the claim" else 2):
            raise SendingPaused("the 24-hour SES quota of 100 recipients is spent")
        return 100.0

    sender = replace(ses_deps(settings, engine, broker, redis),
                     limiter=FleetRateLimiter(redis, rate))
    with pytest.raises(SendingPaused, match="24-hour"):
        send_batch(sender, SendBatch(tuple(ids)))
    assert fake_ses.requests == 0
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT state, attempts FROM messages")).all()
    assert rows == [("queued", 0), ("queued", 0)]
    assert queued_outcomes(redis) == []


def test_stopping_sender_sends_nothing_and_leaves_the_batch_for_later(
    settings, engine, broker, redis, api_key, fake_ses
):
    ids = make_messages(engine, api_key[0].id, 3)
    with pytest.raises(SendingPaused) as stopped:
        send_batch(ses_deps(settings, engine, broker, redis, stopping=lambda: True),
                   SendBatch(tuple(ids)))
    assert stopped.value.delay == 1000  # dramatiq retries the batch a second later
    assert fake_ses.requests == 0
    with engine.connect() as conn:
        from sqlalchemy import text

        assert conn.execute(text("SELECT DISTINCT state FROM messages")).scalars().all() == [
            "queued"]


def one_content_each(engine, key_id: int, count: int) -> list[int]:
    """``count`` messages of their own contents: each goes by SendEmail, none shares a call."""
    return [i for _ in range(count) for i in make_messages(engine, key_id, 1)]


def test_rows_sent_before_a_pause_are_skipped_when_the_batch_is_retried(
    settings, engine, broker, redis, api_key, fake_ses
):
    ids = one_content_each(engine, api_key[0].id, 3)
    fake_ses.script.extend(["ok", "paused"])
    with pytest.raises(SendingPaused):
        send_batch(ses_deps(settings, engine, broker, redis), SendBatch(tuple(ids)))
    FleetPause(engine, redis).resume()
    from services.recorder.record import record_outcomes
    from shared.broker.payloads import OutcomeBatch

    record_outcomes(engine, OutcomeBatch(tuple(queued_outcomes(redis))), max_attempts=5)
    retried = send_batch(ses_deps(settings, engine, broker, redis), SendBatch(tuple(ids)))
    assert [o.message_id for o in retried.outcomes] == ids[1:]
    assert len(fake_ses.accepted) == 3


def test_claimed_rows_not_yet_sent_are_handed_back_on_stop(
    settings, engine, broker, redis, api_key, fake_ses, caplog
):
    caplog.set_level("INFO", logger="mailpipe.sender")
    ids = one_content_each(engine, api_key[0].id, 3)  # one SendEmail each
    calls = iter(range(100))

    def stop_at_second_send() -> bool:
        # Checked before each claim and each send: claim the three (a bulk
        # transport's first claim is a call's worth), send 1, then stop.
        return next(calls) >= 2

    with pytest.raises(SendingPaused):
        send_batch(ses_deps(settings, engine, broker, redis, stopping=stop_at_second_send),
                   SendBatch(tuple(ids)))
    assert len(fake_ses.accepted) == 1
    from sqlalchemy import text

    with engine.connect() as conn:
        rows = conn.execute(text("SELECT state, attempts, worker_id FROM messages "
                                 "WHERE id <> :first ORDER BY id"), {"first": ids[0]}).all()
    assert [tuple(r) for r in rows] == [("queued", 0, None), ("queued", 0, None)]
    assert "2 claimed messages handed back unsent" in caplog.text
