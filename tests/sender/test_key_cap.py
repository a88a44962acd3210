"""A key's own send cap holds inside the fleet's rate, without blocking other keys."""

from __future__ import annotations

import email
import time

import pytest
from sqlalchemy import text

from services.sender.send import SenderDeps, send_batch
from shared.broker.payloads import SendBatch
from shared.db.keys import create_key
from shared.errors import SendingPaused
from shared.rate.limiter import FleetRateLimiter
from shared.rate.pause import SendingPause
from shared.transports.file import FileTransport
from tests.scheduler.test_dispatch import make_messages


def deps_for(settings, engine, broker, redis) -> SenderDeps:
    return SenderDeps(settings, engine, broker, FileTransport(settings.file_dir),
                      FleetRateLimiter(redis, settings.send_rate), SendingPause(redis))


def test_capped_key_sends_no_faster_than_its_cap(settings, engine, broker, redis):
    with engine.begin() as conn:
        key, _ = create_key(conn, "capped", [], max_send_rate=5.0)
    ids = make_messages(engine, key.id, 6)
    started = time.monotonic()
    send_batch(deps_for(settings, engine, broker, redis), SendBatch(tuple(ids)))
    # 6 sends at 5/s: the last one at least a second after the first.
    assert time.monotonic() - started >= 0.95
    assert len(list(settings.file_dir.glob("*.eml"))) == 6


def test_key_far_over_its_cap_leaves_its_messages_queued(settings, engine, broker, redis):
    with engine.begin() as conn:
        key, _ = create_key(conn, "slow", [], max_send_rate=0.25)
    ids = make_messages(engine, key.id, 3)
    with pytest.raises(SendingPaused, match="send cap"):
        send_batch(deps_for(settings, engine, broker, redis), SendBatch(tuple(ids)))
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
    send_batch(deps_for(settings, engine, broker, redis), SendBatch(tuple(ids)))
    assert time.monotonic() - started < 2
