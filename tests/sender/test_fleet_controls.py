"""Throttling slows the fleet, a suspended account pauses it, a stopping sender hands back."""

from __future__ import annotations

import pytest

from services.sender.send import SenderDeps, send_batch
from shared.errors import SendingPaused
from shared.pause import SendingPause
from shared.payloads import OutcomeKind, SendBatch
from shared.ratelimit import TAT_KEY, FleetRateLimiter
from shared.transports.ses import SesTransport
from tests.scheduler.test_dispatch import make_messages
from tests.support.fake_ses import ScriptedSes


@pytest.fixture
def fake_ses(monkeypatch):
    ses = ScriptedSes()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SESV2", ses.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    yield ses
    ses.close()


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
    # The shared bucket is pushed a second into the future: every sender waits.
    redis_now = redis.time()
    now_us = redis_now[0] * 1_000_000 + redis_now[1]
    assert int(redis.get(TAT_KEY)) - now_us > 800_000


def test_suspended_account_pauses_every_sender(
    settings, engine, broker, redis, api_key, fake_ses
):
    ids = make_messages(engine, api_key[0].id, 3)
    fake_ses.script.append("paused")
    result = send_batch(deps(settings, engine, broker, redis), SendBatch(tuple(ids)))
    assert [o.kind for o in result.outcomes] == [OutcomeKind.RETRY] * 3
    assert fake_ses.requests == 1  # the other two were handed back unsent
    assert "SendingPaused" in SendingPause(redis).reason()
    with pytest.raises(SendingPaused):
        send_batch(deps(settings, engine, broker, redis), SendBatch(tuple(ids)))


def test_stopping_sender_hands_claimed_rows_back_unsent(
    settings, engine, broker, redis, api_key, fake_ses
):
    ids = make_messages(engine, api_key[0].id, 3)
    result = send_batch(deps(settings, engine, broker, redis, stopping=lambda: True),
                        SendBatch(tuple(ids)))
    assert [o.kind for o in result.outcomes] == [OutcomeKind.RETRY] * 3
    assert all(o.retry_after == 0 for o in result.outcomes)
    assert fake_ses.requests == 0


def test_health_says_when_sending_is_paused(settings, engine, broker, redis):
    import falcon.testing

    from services.api.app import ApiDeps, create_app

    client = falcon.testing.TestClient(create_app(ApiDeps(settings, engine, broker, redis)))
    assert client.simulate_get("/health").json["sending"] == "ok"
    SendingPause(redis).pause("SES SendingPausedException: paused", ttl=30)
    health = client.simulate_get("/health")
    assert health.status_code == 200
    assert health.json["sending"] == "paused: SES SendingPausedException: paused"
