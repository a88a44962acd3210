"""Pacing: throttling slows the fleet, a suspended account pauses it, an unreachable limiter
sends nothing, and a key's own send cap holds inside the fleet's rate without blocking
other keys."""

from __future__ import annotations

import email
import time
from dataclasses import replace

import pytest
from redis import Redis
from sqlalchemy import text

from services.sender.batch import send_batch
from shared.broker.payloads import OutcomeKind, SendBatch
from shared.db.keys import create_key
from shared.errors import SendingPaused
from shared.rate.limiter import TAT_KEY, FleetRateLimiter
from shared.rate.pause import PAUSE_KEY, FleetPause
from shared.runtime.localservers import free_port
from tests.scheduler.test_dispatch import make_messages
from tests.sender.test_batch import one_content_each
from tests.support.pump import queued_outcomes, sender_deps, ses_deps


def test_throttled_message_goes_back_to_queued_and_slows_the_fleet(
    settings, engine, broker, redis, api_key, fake_ses
):
    [message_id] = make_messages(engine, api_key[0].id, 1)
    fake_ses.script.append("throttle")
    result = send_batch(ses_deps(settings, engine, broker, redis, rate=100),
                        SendBatch((message_id,)))
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
    sender = ses_deps(settings, engine, broker, redis, rate=100)
    unreachable = Redis(port=free_port(), socket_connect_timeout=1)
    sender = replace(sender, limiter=FleetRateLimiter(unreachable, 100))
    [outcome] = send_batch(sender, SendBatch((message_id,))).outcomes
    assert outcome.kind is OutcomeKind.RETRY and "no slot" in outcome.error
    assert fake_ses.requests == 0


def test_suspended_account_pauses_every_sender(
    settings, engine, broker, redis, api_key, fake_ses
):
    ids = one_content_each(engine, api_key[0].id, 3)  # one SendEmail each
    fake_ses.script.append("paused")
    with pytest.raises(SendingPaused):
        send_batch(ses_deps(settings, engine, broker, redis), SendBatch(tuple(ids)))
    assert fake_ses.requests == 1  # the other two were not sent
    assert "SendingPaused" in FleetPause(engine, redis).reason()
    assert "SendingPaused" in FleetPause(engine, redis).state().reason  # the row, the truth
    # The refused message goes back to queued with the others, its attempt
    # undone (the account's problem, not the message's); the batch will be retried.
    assert queued_outcomes(redis) == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT state, attempts FROM messages")).all() == [
            ("queued", 0)] * 3
    with pytest.raises(SendingPaused):
        send_batch(ses_deps(settings, engine, broker, redis), SendBatch(tuple(ids)))
    assert fake_ses.requests == 1


def test_health_says_when_sending_is_paused_through_redis_alone(settings, engine, broker, redis):
    import falcon.testing

    from services.api.app import ApiDeps, create_app

    client = falcon.testing.TestClient(create_app(ApiDeps(settings, engine, broker, redis)))
    assert client.simulate_get("/health").json["sending"] == "ok"
    # As a refusal writes it while PostgreSQL is unreachable: the mirror alone
    # (the row's own wording is tests/e2e/test_cleanup_and_account_pause.py's).
    redis.set(PAUSE_KEY, "SES SendingPausedException: paused", px=30_000)
    health = client.simulate_get("/health")
    assert health.status_code == 200
    assert health.json["sending"] == "paused: SES SendingPausedException: paused"


def test_capped_key_sends_no_faster_than_its_cap(settings, engine, broker, redis):
    with engine.begin() as conn:
        key, _ = create_key(conn, "capped", [], max_send_rate=5.0)
    ids = make_messages(engine, key.id, 6)
    started = time.monotonic()
    send_batch(sender_deps(settings, engine, broker, redis), SendBatch(tuple(ids)))
    # 6 sends at 5/s: the last one at least a second after the first.
    assert time.monotonic() - started >= 0.95
    assert len(list(settings.file_dir.glob("*.eml"))) == 6


def test_key_far_over_its_cap_leaves_its_messages_queued(settings, engine, broker, redis):
    with engine.begin() as conn:
        key, _ = create_key(conn, "slow", [], max_send_rate=0.25)
    ids = make_messages(engine, key.id, 3)
    with pytest.raises(SendingPaused, match="send cap"):
        send_batch(sender_deps(settings, engine, broker, redis), SendBatch(tuple(ids)))
    sent = [email.message_from_bytes(p.read_bytes())["X-Mailpipe-Id"]
            for p in settings.file_dir.glob("*.eml")]
    assert len(sent) == 1  # one slot now; the next would be four seconds away
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT id, attempts FROM messages")).all())
    assert sorted(rows.values()) == [0, 0, 1]  # the rest were never claimed


def test_uncapped_key_is_not_slowed_by_a_capped_one(settings, engine, broker, redis, api_key):
    with engine.begin() as conn:
        slow, _ = create_key(conn, "slow", [], max_send_rate=0.5)
    make_messages(engine, slow.id, 1)
    ids = make_messages(engine, api_key[0].id, 20)
    started = time.monotonic()
    send_batch(sender_deps(settings, engine, broker, redis), SendBatch(tuple(ids)))
    assert time.monotonic() - started < 2
