"""The recorder applies outcomes once, and only to the claim they belong to."""

from __future__ import annotations

import time

from sqlalchemy import text

from services.recorder.record import record_outcomes
from shared.broker.payloads import Outcome, OutcomeBatch, OutcomeKind
from shared.db.claims import claim_for_sending
from tests.scheduler.test_dispatch import make_messages


def claimed(engine, key_id: int, count: int = 1) -> list[int]:
    ids = make_messages(engine, key_id, count)
    with engine.begin() as conn:
        claim_for_sending(conn, ids, worker_id="test", lease=60)
    return ids


def outcome(message_id: int, kind: OutcomeKind, attempt: int = 1, **fields) -> Outcome:
    return Outcome(message_id, attempt, kind, time.time(), **fields)


def row(engine, message_id: int):
    with engine.connect() as conn:
        return conn.execute(text("SELECT * FROM messages WHERE id = :id"), {"id": message_id}).one()


def test_batch_applied_twice_changes_nothing_the_second_time(engine, api_key):
    ids = claimed(engine, api_key[0].id, 3)
    batch = OutcomeBatch(tuple(outcome(i, OutcomeKind.SENT, provider_message_id=f"p{i}")
                               for i in ids))
    assert record_outcomes(engine, batch, max_attempts=5) == {i: "sent" for i in ids}
    first = row(engine, ids[0])
    assert record_outcomes(engine, batch, max_attempts=5) == {}
    assert row(engine, ids[0]) == first
    assert first.provider_message_id == f"p{ids[0]}" and first.sent_at is not None


def test_outcome_of_an_older_attempt_is_ignored(engine, api_key):
    [message_id] = claimed(engine, api_key[0].id)
    stale = OutcomeBatch((outcome(message_id, OutcomeKind.FAILED, attempt=0, error="old"),))
    assert record_outcomes(engine, stale, max_attempts=5) == {}
    assert row(engine, message_id).state == "sending"


def test_retry_goes_back_to_queued_after_its_backoff(engine, api_key):
    [message_id] = claimed(engine, api_key[0].id)
    batch = OutcomeBatch((outcome(message_id, OutcomeKind.RETRY, error="throttled",
                                  retry_after=30),))
    assert record_outcomes(engine, batch, max_attempts=5) == {message_id: "queued"}
    with engine.connect() as conn:
        wait = conn.execute(text("SELECT extract(epoch FROM due_at - now()) FROM messages")
                            ).scalar_one()
    assert 25 < wait <= 30


def test_retry_after_the_last_attempt_fails_the_message(engine, api_key):
    [message_id] = claimed(engine, api_key[0].id)
    batch = OutcomeBatch((outcome(message_id, OutcomeKind.RETRY, error="SES down"),))
    assert record_outcomes(engine, batch, max_attempts=1) == {message_id: "failed"}
    assert row(engine, message_id).error == "gave up after 1 attempts: SES down"


def test_late_success_after_the_lease_ran_out_is_recorded(engine, api_key):
    [message_id] = claimed(engine, api_key[0].id)
    with engine.begin() as conn:
        conn.execute(text("UPDATE messages SET state = 'unknown'"))
    batch = OutcomeBatch((outcome(message_id, OutcomeKind.SENT, provider_message_id="late"),))
    assert record_outcomes(engine, batch, max_attempts=5) == {message_id: "sent"}
