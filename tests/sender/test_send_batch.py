"""The sender's claim: a row is sent by one sender only, whatever the queue does."""

from __future__ import annotations

import threading

from sqlalchemy import text

from services.sender.send import SenderDeps, send_batch
from shared.broker.payloads import OutcomeKind, SendBatch
from shared.rate.limiter import FleetRateLimiter
from shared.rate.pause import SendingPause
from shared.transports.file import FileTransport
from tests.scheduler.test_dispatch import make_messages


def deps_for(settings, engine, broker, redis) -> SenderDeps:
    return SenderDeps(settings, engine, broker, FileTransport(settings.file_dir),
                      FleetRateLimiter(redis, settings.send_rate), SendingPause(redis))


def test_two_senders_racing_for_the_same_rows_send_each_once(
    settings, engine, broker, redis, api_key
):
    ids = make_messages(engine, api_key[0].id, 200)
    deps = deps_for(settings, engine, broker, redis)
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
    deps = deps_for(settings, engine, broker, redis)
    first = send_batch(deps, SendBatch(tuple(ids)))
    again = send_batch(deps, SendBatch(tuple(ids)))
    assert [o.kind for o in first.outcomes] == [OutcomeKind.SENT] * 3
    assert again.outcomes == ()
    assert len(list(settings.file_dir.glob("*.eml"))) == 3


def test_claim_records_lease_worker_and_attempt(settings, engine, broker, redis, api_key):
    ids = make_messages(engine, api_key[0].id, 1)
    send_batch(deps_for(settings, engine, broker, redis), SendBatch(tuple(ids)))
    with engine.connect() as conn:
        row = conn.execute(text("SELECT state, attempts, worker_id, lease_until FROM messages"
                                )).one()
    # The recorder has not run: the row is still the sender's claim.
    assert row.state == "sending" and row.attempts == 1
    assert row.worker_id and row.lease_until is not None
