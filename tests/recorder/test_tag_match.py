"""An SES event whose id names no message finds it by the tag every send carries
(``mailpipe-message``), when that message's send ended ``unknown``: it was sent after all."""

from __future__ import annotations

import time

from sqlalchemy import text

from services.recorder.events import record_events
from services.recorder.record import record_outcomes
from shared.broker.payloads import EventBatch, Outcome, OutcomeBatch, OutcomeKind
from shared.db.claims import claim_for_sending
from shared.events.ses import ses_event
from tests.recorder.test_record_events import events_of, state, suppressed
from tests.scheduler.test_dispatch import make_messages
from tests.support.sns import ses_event_publishing


def tagged(kind: str, provider_id: str, message_id: int, sns_id: str):
    notification = ses_event_publishing(kind, provider_id, "r0@example.com")
    notification["mail"]["tags"] = {"mailpipe-message": [str(message_id)],
                                    "mailpipe-topic": ["t"], "ses:operation": ["SendEmail"]}
    return ses_event(notification, sns_message_id=sns_id, sns_timestamp=time.time())


def claimed(engine, key_id: int, outcome: OutcomeKind | None) -> int:
    (message_id,) = make_messages(engine, key_id, 1)
    with engine.begin() as conn:
        claim_for_sending(conn, [message_id], worker_id="test", lease=60)
    if outcome is not None:
        record_outcomes(engine, OutcomeBatch((Outcome(message_id, 1, outcome, time.time(),
                                                      error="read timed out"),)),
                        max_attempts=5)
    return message_id


def provider_id(engine, message_id: int) -> str | None:
    with engine.connect() as conn:
        return conn.execute(text("SELECT provider_message_id FROM messages WHERE id = :id"),
                            {"id": message_id}).scalar_one()


def test_an_unknown_send_found_by_its_tag_is_sent_after_all_and_its_bounce_suppresses(
        engine, api_key):
    message_id = claimed(engine, api_key[0].id, OutcomeKind.UNKNOWN)
    assert state(engine, message_id) == "unknown"
    record_events(engine, EventBatch((tagged("Send", "ses-lost", message_id, "sns-1"),
                                      tagged("HardBounce", "ses-lost", message_id, "sns-2"))))
    assert state(engine, message_id) == "bounced"
    assert provider_id(engine, message_id) == "ses-lost"
    assert [e[:2] for e in events_of(engine, message_id)] == [
        (message_id, "sent"), (message_id, "bounced")]
    assert suppressed(engine) == [("r0@example.com", "bounce")]
    # Later events find it by SES's id now, as any other.
    record_events(engine, EventBatch((tagged("Complaint", "ses-lost", message_id, "sns-3"),)))
    assert state(engine, message_id) == "complained"


def test_a_tag_does_not_take_an_event_from_a_message_still_sending(engine, api_key):
    # Its outcome is on the way: the event waits as an orphan, adopted when it lands.
    message_id = claimed(engine, api_key[0].id, None)
    record_events(engine, EventBatch((tagged("Delivery", "ses-early", message_id, "sns-4"),)))
    assert events_of(engine, None)[0][1] == "delivered"
    assert events_of(engine, message_id) == []
    record_outcomes(engine, OutcomeBatch((Outcome(message_id, 1, OutcomeKind.SENT, time.time(),
                                                  provider_message_id="ses-early"),)),
                    max_attempts=5)
    assert state(engine, message_id) == "delivered"


def test_a_tag_naming_a_message_sent_under_another_ses_id_is_not_believed(engine, api_key):
    sent = claimed(engine, api_key[0].id, None)
    record_outcomes(engine, OutcomeBatch((Outcome(sent, 1, OutcomeKind.SENT, time.time(),
                                                  provider_message_id="ses-mine"),)),
                    max_attempts=5)
    unknown = claimed(engine, api_key[0].id, OutcomeKind.UNKNOWN)
    # Another install's send on the same topic, its tags naming our ids.
    record_events(engine, EventBatch((tagged("HardBounce", "ses-other", sent, "sns-5"),
                                      tagged("Delivery", "ses-mine", unknown, "sns-6"))))
    assert state(engine, sent) == "delivered"  # by SES's id, its own
    assert state(engine, unknown) == "unknown" and provider_id(engine, unknown) is None
    assert [e[1] for e in events_of(engine, None)] == ["bounced"]
    assert suppressed(engine) == []
