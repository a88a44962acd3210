"""Every outbound event is written once per real change, by the writer of that change.

Through the real writers: the recorder's outcomes and events, the lease sweep, intake,
a sender's claim, campaign expansion and the unsubscribe link. A replayed outcome or a
duplicate SNS notification emits nothing more; a key without an endpoint gets no row.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from services.recorder.events import record_events
from services.recorder.record import record_outcomes
from services.scheduler.expand import expand_due_campaigns
from services.scheduler.sweeps import sweep_expired_leases
from shared.broker.payloads import Event, EventBatch, EventType, Outcome, OutcomeBatch, OutcomeKind
from shared.db.cancellation import cancel
from shared.db.claims import claim_for_sending
from shared.db.outcomes import apply_outcomes
from shared.db.suppressions import add_suppressions, suppress_queued, unsubscribe_message_recipient
from shared.intake.messages import accept
from shared.intake.requests import MessageRequest
from tests.recorder.test_record_events import record_sent, sent_messages, ses
from tests.scheduler.test_dispatch import make_messages
from tests.scheduler.test_expand import make_campaign
from tests.support.webhooks import add_endpoint, outbox, outbox_types


def claimed(engine, key_id: int, count: int = 1) -> list[int]:
    ids = make_messages(engine, key_id, count)
    with engine.begin() as conn:
        claim_for_sending(conn, ids, worker_id="test", lease=60)
    return ids


def outcomes(engine, kind: OutcomeKind, ids: list[int], **fields) -> dict[int, str]:
    return record_outcomes(engine, OutcomeBatch(tuple(
        Outcome(i, 1, kind, time.time(), **fields) for i in ids)), max_attempts=5)


def test_sent_failed_and_unknown_outcomes_emit_once_each(engine, api_key):
    add_endpoint(engine, api_key[0].id)
    sent, failed, unknown, spent = claimed(engine, api_key[0].id, 4)
    for _ in range(2):  # the batch again: a replay changes nothing, emits nothing
        record_outcomes(engine, OutcomeBatch((
            Outcome(sent, 1, OutcomeKind.SENT, time.time(), provider_message_id="ses-1"),
            Outcome(failed, 1, OutcomeKind.FAILED, time.time(), error="bad address"),
            Outcome(unknown, 1, OutcomeKind.UNKNOWN, time.time(), error="timed out"),
            Outcome(spent, 1, OutcomeKind.RETRY, time.time(), error="throttled"),
        )), max_attempts=1)
    assert outbox(engine) == [
        ("message.sent", sent, {"messageId": sent, "topicId": "t", "recipient": "r0@example.com",
                                "providerMessageId": "ses-1", "campaignId": None}),
        ("message.failed", failed, {"messageId": failed, "topicId": "t",
                                    "recipient": "r1@example.com", "providerMessageId": None,
                                    "campaignId": None, "error": "bad address"}),
        ("message.unknown", unknown, {"messageId": unknown, "topicId": "t",
                                      "recipient": "r2@example.com", "providerMessageId": None,
                                      "campaignId": None, "error": "timed out"}),
        ("message.failed", spent, {"messageId": spent, "topicId": "t",
                                   "recipient": "r3@example.com", "providerMessageId": None,
                                   "campaignId": None,
                                   "error": "gave up after 1 attempts: throttled"}),
    ]


def test_a_retry_that_requeues_emits_nothing(engine, api_key):
    add_endpoint(engine, api_key[0].id)
    [message_id] = claimed(engine, api_key[0].id)
    assert outcomes(engine, OutcomeKind.RETRY, [message_id], retry_after=1) == {
        message_id: "queued"}
    assert outbox(engine) == []


def test_no_event_is_written_for_a_key_without_an_endpoint(engine, api_key):
    ids = sent_messages(engine, api_key[0].id, 2)
    record_events(engine, EventBatch((ses("Delivery", ids[0]), ses("HardBounce", ids[1]))))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar_one() == 2
    assert outbox(engine) == []


def test_ses_events_emit_once_each_whatever_sns_delivers_twice(engine, api_key):
    add_endpoint(engine, api_key[0].id)
    [message_id] = sent_messages(engine, api_key[0].id)
    batch = EventBatch(tuple(ses(kind, message_id) for kind in
                             ("DeliveryDelay", "Delivery", "HardBounce", "Complaint")))
    record_events(engine, batch)
    record_events(engine, batch)  # SNS delivers again: same MessageIds
    events = outbox(engine)
    assert [t for t, _, _ in events] == [
        "message.sent", "message.delivery_delayed", "message.delivered", "message.bounced",
        "message.complained"]
    data = {t: d for t, _, d in events}
    assert data["message.delivery_delayed"]["delayType"] == "MailboxFull"
    assert data["message.delivered"]["smtpResponse"] == "250 ok"
    assert (data["message.bounced"]["bounceType"], data["message.bounced"]["bounceSubType"]) == (
        "hard", "General")
    assert data["message.complained"]["feedbackType"] == "abuse"
    assert {d["providerMessageId"] for d in data.values()} == {f"ses-{message_id}"}


def test_an_event_before_its_message_was_recorded_sent_is_emitted_when_adopted(engine, api_key):
    add_endpoint(engine, api_key[0].id)
    [message_id] = sent_messages(engine, api_key[0].id, record=False)
    record_events(engine, EventBatch((ses("Delivery", message_id),)))
    assert outbox(engine) == []  # an orphan: no message known yet
    record_sent(engine, [message_id])
    record_sent(engine, [message_id])
    assert outbox_types(engine) == ["message.sent", "message.delivered"]


def test_a_reject_fails_the_message_once(engine, api_key):
    add_endpoint(engine, api_key[0].id)
    [message_id] = sent_messages(engine, api_key[0].id)
    record_events(engine, EventBatch((ses("Reject", message_id),)))
    record_events(engine, EventBatch((ses("Reject", message_id, sns_id="another"),)))
    [(_, _, data)] = outbox(engine, {"message.failed"})
    assert data["error"] == "rejected by SES: Bad content"


def test_opens_and_clicks_are_emitted_with_machine_hits_marked(engine, api_key):
    add_endpoint(engine, api_key[0].id)
    [message_id] = sent_messages(engine, api_key[0].id)
    person = {"userAgent": "Mozilla/5.0 (Windows NT 10.0) Firefox/120.0", "ip": "192.0.2.1"}
    scanner = {"userAgent": "Barracuda Sentinel (EE)", "ip": "192.0.2.2"}
    late = time.time() + 600
    record_events(engine, EventBatch((
        Event(EventType.OPENED, late, message_id=message_id, payload=person),
        Event(EventType.CLICKED, late, message_id=message_id, detail="https://example.com/a",
              payload=scanner),
        Event(EventType.CLICKED, late, message_id=message_id, detail="https://example.com/b",
              payload=person),
    )))
    hits = [(t, d.get("url"), d["machine"]) for t, _, d in
            outbox(engine, {"message.opened", "message.clicked"})]
    assert hits == [("message.opened", None, False),
                    ("message.clicked", "https://example.com/a", True),
                    ("message.clicked", "https://example.com/b", False)]


def test_an_expired_lease_is_unknown_once_and_a_late_success_then_sent(engine, api_key):
    add_endpoint(engine, api_key[0].id)
    [message_id] = claimed(engine, api_key[0].id)
    with engine.begin() as conn:
        conn.execute(text("UPDATE messages SET lease_until = now() - interval '1 second'"))
    sweep_expired_leases(engine)
    sweep_expired_leases(engine)
    record_sent(engine, [message_id])
    assert outbox_types(engine) == ["message.unknown", "message.sent"]


def test_suppressed_at_intake_at_the_claim_and_at_expansion(engine, settings, broker, api_key):
    key = api_key[0]
    add_endpoint(engine, key.id)
    with engine.begin() as conn:
        add_suppressions(conn, key.id, ["r1@example.com"], "bounce")
    accepted = accept(engine, broker, key, [MessageRequest(
        topic_id="t", from_addr="s@example.com",
        recipients=("r0@example.com", "r1@example.com"), subject="s", html="<p>h</p>",
        text=None, reply_to=None, scheduled_at=None)], settings)
    at_intake = [m.id for m in accepted if m.state == "suppressed"]
    [queued] = make_messages(engine, key.id, 1)  # r0, listed after it was accepted
    with engine.begin() as conn:
        add_suppressions(conn, key.id, ["r0@example.com"], "manual")
    with engine.begin() as conn:
        suppress_queued(conn, [queued])
        suppress_queued(conn, [queued])
    campaign = make_campaign(engine, settings, key, 2)
    expand_due_campaigns(engine, broker, settings.model_copy(update={"campaign_window": 0}))
    events = outbox(engine, {"message.suppressed"})
    assert [m for _, m, _ in events][:2] == [at_intake[0], queued]
    assert [d["campaignId"] for _, _, d in events] == [None, None, campaign, campaign]
    assert events[0][2]["error"] == "the address is on this key's suppression list (bounce)"


def test_a_campaign_completes_once_when_its_last_message_ends(engine, settings, broker, api_key):
    key = api_key[0]
    add_endpoint(engine, key.id)
    campaign = make_campaign(engine, settings, key, 3)
    expand_due_campaigns(engine, broker, settings.model_copy(update={"campaign_window": 0}))
    with engine.connect() as conn:
        ids = list(conn.execute(text("SELECT id FROM messages ORDER BY id")).scalars())
    with engine.begin() as conn:
        claim_for_sending(conn, ids, worker_id="test", lease=60)
    outcomes(engine, OutcomeKind.SENT, ids[:2], provider_message_id="p")
    assert "campaign.completed" not in outbox_types(engine)
    outcomes(engine, OutcomeKind.UNKNOWN, ids[2:], error="timed out")
    outcomes(engine, OutcomeKind.SENT, ids[2:], provider_message_id="late")  # unknown → sent
    [(_, _, data)] = outbox(engine, {"campaign.completed"})
    assert data == {"campaignId": campaign, "topicId": "camp", "name": "c", "total": 3,
                    "duplicates": 0}
    assert outbox_types(engine)[-2:] == ["campaign.completed", "message.sent"]


def test_an_unsubscribe_emits_once_however_often_it_is_clicked(engine, api_key):
    add_endpoint(engine, api_key[0].id)
    [message_id] = sent_messages(engine, api_key[0].id)
    with engine.begin() as conn:
        assert unsubscribe_message_recipient(conn, message_id)
    with engine.begin() as conn:
        assert unsubscribe_message_recipient(conn, message_id)
    assert outbox_types(engine) == ["message.sent", "message.unsubscribed"]


def test_outcomes_applied_in_a_transaction_that_rolls_back_leave_no_event(engine, api_key):
    add_endpoint(engine, api_key[0].id)
    ids = claimed(engine, api_key[0].id, 2)
    batch = tuple(Outcome(i, 1, OutcomeKind.SENT, time.time(), provider_message_id="p")
                  for i in ids)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        assert len(apply_outcomes(conn, batch, max_attempts=5)) == 2
        raise RuntimeError("the recorder died before its commit")
    assert outbox(engine) == []
    assert record_outcomes(engine, OutcomeBatch(batch), max_attempts=5) == dict.fromkeys(
        ids, "sent")  # the batch again, redelivered: now it counts, once
    assert outbox_types(engine) == ["message.sent", "message.sent"]


def test_cancelling_a_campaigns_last_pending_message_completes_it(engine, settings, broker,
                                                                  api_key):
    key = api_key[0]
    add_endpoint(engine, key.id)
    campaign = make_campaign(engine, settings, key, 2)
    expand_due_campaigns(engine, broker, settings.model_copy(update={"campaign_window": 0}))
    with engine.connect() as conn:
        first, last = conn.execute(text("SELECT id FROM messages ORDER BY id")).scalars()
    with engine.begin() as conn:
        claim_for_sending(conn, [first], worker_id="test", lease=60)
    outcomes(engine, OutcomeKind.SENT, [first], provider_message_id="p")
    with engine.begin() as conn:
        assert cancel(conn, key.id, message_id=last) == (1, {})
    [(_, _, data)] = outbox(engine, {"campaign.completed"})
    assert data["campaignId"] == campaign
