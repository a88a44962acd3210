"""Throttling slows the fleet, a suspended account pauses it, a stopping sender hands back."""

from __future__ import annotations

from dataclasses import replace

import pytest
from redis import Redis
from sqlalchemy import text

from services.sender.send import SenderDeps, send_batch
from shared.broker.payloads import OutcomeKind, SendBatch
from shared.errors import SendingPaused
from shared.rate.limiter import TAT_KEY, FleetRateLimiter
from shared.rate.pause import SendingPause
from shared.runtime.localservers import free_port
from shared.transports.ses import SesTransport
from tests.scheduler.test_dispatch import make_messages


def deps(settings, engine, broker, redis, *, rate=None, stopping=lambda: False):
    return SenderDeps(settings, engine, broker, SesTransport.from_environment(region="us-east-1"),
                      FleetRateLimiter(redis, rate or settings.send_rate), SendingPause(redis),
                      stopping)


def test_throttled_message_goes_back_to_queued_and_slows_the_fleet(
    settings, engine, broker, redis, api_key, fake_ses
):
    [message_id] = make_messages(engine, api_key[0].id, 1)
    fake_ses.script.append("throttle")
    result = send_batch(deps(settings, engine, broker, redis, rate=100), SendBatch((message_id,)))
    [outcome] = result.outcomes
    assert outcome.kind is OutcomeKind.RETRY and "TooManyRequests" in outcome.error
    # The shared bucket is pushed a quarter second ahead: every sender waits.
    redis_now = redis.time()
    now_us = redis_now[0] * 1_000_000 + redis_now[1]
    assert int(redis.get(TAT_KEY)) - now_us > 200_000


def test_message_goes_back_unsent_when_the_rate_limiter_is_unreachable(
    settings, engine, broker, redis, api_key, fake_ses
):
    [message_id] = make_messages(engine, api_key[0].id, 1)
    sender = deps(settings, engine, broker, redis, rate=100)
    unreachable = Redis(port=free_port(), socket_connect_timeout=1)
    sender = replace(sender, limiter=FleetRateLimiter(unreachable, 100))
    [outcome] = send_batch(sender, SendBatch((message_id,))).outcomes
    assert outcome.kind is OutcomeKind.RETRY and "no slot" in outcome.error
    assert fake_ses.requests == 0


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

    sender = replace(deps(settings, engine, broker, redis), limiter=FleetRateLimiter(redis, rate))
    with pytest.raises(SendingPaused, match="24-hour"):
        send_batch(sender, SendBatch(tuple(ids)))
    assert fake_ses.requests == 0
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT state, attempts FROM messages")).all()
    assert rows == [("queued", 0), ("queued", 0)]
    assert queued_outcomes(redis) == []


def queued_outcomes(redis) -> list:
    import json

    from shared.broker.payloads import decode_outcomes

    raw = [redis.hget("dramatiq:mailpipe.outcomes.msgs", i)
           for i in redis.lrange("dramatiq:mailpipe.outcomes", 0, -1)]
    return [o for r in raw for o in decode_outcomes(json.loads(r)["args"][0]).outcomes]


def test_suspended_account_pauses_every_sender(
    settings, engine, broker, redis, api_key, fake_ses
):
    ids = make_messages(engine, api_key[0].id, 3)
    fake_ses.script.append("paused")
    with pytest.raises(SendingPaused):
        send_batch(deps(settings, engine, broker, redis), SendBatch(tuple(ids)))
    assert fake_ses.requests == 1  # the other two were not sent
    assert "SendingPaused" in SendingPause(redis).reason()
    # The refused message goes back to queued; the batch will be retried.
    assert [o.kind for o in queued_outcomes(redis)] == [OutcomeKind.RETRY]
    with pytest.raises(SendingPaused):
        send_batch(deps(settings, engine, broker, redis), SendBatch(tuple(ids)))
    assert fake_ses.requests == 1


def test_stopping_sender_sends_nothing_and_leaves_the_batch_for_later(
    settings, engine, broker, redis, api_key, fake_ses
):
    ids = make_messages(engine, api_key[0].id, 3)
    with pytest.raises(SendingPaused) as stopped:
        send_batch(deps(settings, engine, broker, redis, stopping=lambda: True),
                   SendBatch(tuple(ids)))
    assert stopped.value.delay == 1000  # dramatiq retries the batch a second later
    assert fake_ses.requests == 0
    with engine.connect() as conn:
        from sqlalchemy import text

        assert conn.execute(text("SELECT DISTINCT state FROM messages")).scalars().all() == [
            "queued"]


def test_rows_sent_before_a_pause_are_skipped_when_the_batch_is_retried(
    settings, engine, broker, redis, api_key, fake_ses
):
    ids = make_messages(engine, api_key[0].id, 3)
    fake_ses.script.extend(["ok", "paused"])
    with pytest.raises(SendingPaused):
        send_batch(deps(settings, engine, broker, redis), SendBatch(tuple(ids)))
    SendingPause(redis).resume()
    from services.recorder.record import record_outcomes
    from shared.broker.payloads import OutcomeBatch

    record_outcomes(engine, OutcomeBatch(tuple(queued_outcomes(redis))), max_attempts=5)
    retried = send_batch(deps(settings, engine, broker, redis), SendBatch(tuple(ids)))
    assert [o.message_id for o in retried.outcomes] == ids[1:]
    assert len(fake_ses.accepted) == 3


def test_health_says_when_sending_is_paused(settings, engine, broker, redis):
    import falcon.testing

    from services.api.app import ApiDeps, create_app

    client = falcon.testing.TestClient(create_app(ApiDeps(settings, engine, broker, redis)))
    assert client.simulate_get("/health").json["sending"] == "ok"
    SendingPause(redis).pause("SES SendingPausedException: paused", ttl=30)
    health = client.simulate_get("/health")
    assert health.status_code == 200
    assert health.json["sending"] == "paused: SES SendingPausedException: paused"


def test_claimed_rows_not_yet_sent_are_handed_back_on_stop(
    settings, engine, broker, redis, api_key, fake_ses, caplog
):
    caplog.set_level("INFO", logger="mailpipe.sender")
    ids = make_messages(engine, api_key[0].id, 3)
    calls = iter(range(100))

    def stop_at_second_send() -> bool:
        # Checked before each claim and each send: claim 1, send 1, claim the
        # other two, then stop before sending them.
        return next(calls) >= 3

    with pytest.raises(SendingPaused):
        send_batch(deps(settings, engine, broker, redis, stopping=stop_at_second_send),
                   SendBatch(tuple(ids)))
    assert len(fake_ses.accepted) == 1
    from sqlalchemy import text

    with engine.connect() as conn:
        rows = conn.execute(text("SELECT state, attempts, worker_id FROM messages "
                                 "WHERE id <> :first ORDER BY id"), {"first": ids[0]}).all()
    assert [tuple(r) for r in rows] == [("queued", 0, None), ("queued", 0, None)]
    assert "2 claimed messages handed back unsent" in caplog.text
