"""The recorder applies SES events and tracking hits once, in order, to the right message."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from services.recorder.events import record_events
from services.recorder.record import record_outcomes
from shared.broker.payloads import Event, EventBatch, EventType, Outcome, OutcomeBatch, OutcomeKind
from shared.db.claims import claim_for_sending
from shared.events.ses import ses_event
from tests.scheduler.test_dispatch import make_messages
from tests.support.sns import ses_event_publishing, ses_identity_notification


def sent_messages(engine, key_id: int, count: int = 1, *, record: bool = True) -> list[int]:
    """Messages claimed and (when ``record``) recorded as sent as ``ses-<id>``."""
    ids = make_messages(engine, key_id, count)
    with engine.begin() as conn:
        claim_for_sending(conn, ids, worker_id="test", lease=60)
    if record:
        record_sent(engine, ids)
    return ids


def record_sent(engine, ids: list[int]) -> None:
    batch = OutcomeBatch(tuple(Outcome(i, 1, OutcomeKind.SENT, time.time(),
                                       provider_message_id=f"ses-{i}") for i in ids))
    record_outcomes(engine, batch, max_attempts=5)


def ses(kind: str, message_id: int, sns_id: str | None = None, fmt=ses_event_publishing,
        to: str = "r0@example.com"):
    return ses_event(fmt(kind, f"ses-{message_id}", to),
                     sns_message_id=sns_id or f"sns-{kind}-{message_id}", sns_timestamp=time.time())


def state(engine, message_id: int) -> str:
    with engine.connect() as conn:
        return conn.execute(text("SELECT state FROM messages WHERE id = :id"),
                            {"id": message_id}).scalar_one()


def events_of(engine, message_id: int | None = None) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT message_id, type, detail, machine FROM events "
            "WHERE message_id IS NOT DISTINCT FROM :id ORDER BY id"), {"id": message_id})]


def suppressed(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT address, reason FROM suppressions ORDER BY address"))]


@pytest.mark.parametrize("fmt", [ses_event_publishing, ses_identity_notification])
@pytest.mark.parametrize("kind,final,suppression", [
    ("Delivery", "delivered", None),
    ("HardBounce", "bounced", "bounce"),
    ("SoftBounce", "bounced", None),
    ("Complaint", "complained", "complaint"),
])
def test_ses_event_moves_state_and_suppresses_hard_bounces_and_complaints(
    engine, api_key, fmt, kind, final, suppression
):
    [message_id] = sent_messages(engine, api_key[0].id)
    record_events(engine, EventBatch((ses(kind, message_id, fmt=fmt),)))
    assert state(engine, message_id) == final
    expected = [("r0@example.com", suppression)] if suppression else []
    assert suppressed(engine) == expected


def test_reject_fails_the_message_with_the_reason(engine, api_key):
    [message_id] = sent_messages(engine, api_key[0].id)
    record_events(engine, EventBatch((ses("Reject", message_id),)))
    assert state(engine, message_id) == "failed"
    with engine.connect() as conn:
        error = conn.execute(text("SELECT error FROM messages")).scalar_one()
    assert error == "rejected by SES: Bad content"


@pytest.mark.parametrize("kind", ["Send", "DeliveryDelay", "Open", "Click", "Subscription"])
def test_informational_events_are_stored_without_changing_state(engine, api_key, kind):
    [message_id] = sent_messages(engine, api_key[0].id)
    record_events(engine, EventBatch((ses(kind, message_id),)))
    assert state(engine, message_id) == "sent"
    assert len(events_of(engine, message_id)) == 1


def test_the_same_events_applied_twice_are_recorded_once(engine, api_key):
    ids = sent_messages(engine, api_key[0].id, 2)
    batch = EventBatch((ses("Delivery", ids[0]), ses("HardBounce", ids[1])))
    assert len(record_events(engine, batch)) == 2
    assert record_events(engine, batch) == []
    replayed_in_one_batch = EventBatch((ses("Complaint", ids[0]), ses("Complaint", ids[0])))
    assert len(record_events(engine, replayed_in_one_batch)) == 1
    assert [len(events_of(engine, i)) for i in ids] == [2, 1]
    assert state(engine, ids[0]) == "complained"


def test_events_out_of_order_never_move_a_state_back(engine, api_key):
    [message_id] = sent_messages(engine, api_key[0].id)
    record_events(engine, EventBatch((ses("Complaint", message_id),)))
    record_events(engine, EventBatch((ses("Delivery", message_id),)))
    assert state(engine, message_id) == "complained"


def test_event_for_an_unknown_message_is_kept_as_an_orphan(engine, api_key):
    orphan = ses_event(ses_event_publishing("Delivery", "nobody-knows"), sns_message_id="x",
                       sns_timestamp=time.time())
    [stored] = record_events(engine, EventBatch((orphan,)))
    assert stored.message_id is None
    assert events_of(engine, None) == [(None, "delivered", None, False)]


def test_event_arriving_before_the_send_outcome_is_applied_when_it_lands(engine, api_key):
    [message_id] = sent_messages(engine, api_key[0].id, record=False)
    record_events(engine, EventBatch((ses("Delivery", message_id), ses("HardBounce", message_id))))
    assert state(engine, message_id) == "sending" and events_of(engine, message_id) == []
    record_sent(engine, [message_id])
    assert state(engine, message_id) == "bounced"
    assert [e[1] for e in events_of(engine, message_id)] == ["delivered", "bounced"]
    assert suppressed(engine) == [("r0@example.com", "bounce")]


def test_tracking_hits_by_machines_are_marked(engine, api_key):
    [message_id] = sent_messages(engine, api_key[0].id)
    later = time.time() + 3600
    person = {"userAgent": "Mozilla/5.0 (Windows NT 10.0) Firefox/120.0", "ip": "192.0.2.1",
              "method": "GET"}
    batch = EventBatch((
        Event(EventType.OPENED, later, message_id=message_id, payload=person),
        Event(EventType.OPENED, later, message_id=message_id,
              payload={**person, "userAgent": "Mozilla/5.0"}),
        Event(EventType.CLICKED, time.time(), message_id=message_id, detail="https://x.example/",
              payload=person),  # seconds after the send: a scanner
        Event(EventType.CLICKED, later, message_id=message_id, detail="https://x.example/",
              payload=person),
    ))
    record_events(engine, batch)
    assert [(e[1], e[3]) for e in events_of(engine, message_id)] == [
        ("opened", False), ("opened", True), ("clicked", True), ("clicked", False)]


def test_tracking_hit_for_a_message_that_is_not_there_is_kept_unlinked(engine, api_key):
    batch = EventBatch((Event(EventType.OPENED, time.time(), message_id=999_999, payload={}),))
    [stored] = record_events(engine, batch)
    assert stored.message_id is None


def test_bounce_suppresses_the_addresses_it_names(engine, api_key):
    # A message with several recipients (compat APIs) may bounce for one of them only.
    [message_id] = sent_messages(engine, api_key[0].id)
    bounce = ses_event_publishing("HardBounce", f"ses-{message_id}", "Cc.Person@Example.com")
    event = ses_event(bounce, sns_message_id="sns-cc", sns_timestamp=time.time())
    record_events(engine, EventBatch((event,)))
    assert suppressed(engine) == [("cc.person@example.com", "bounce")]


def test_nul_characters_in_a_hit_do_not_poison_the_batch(engine, api_key):
    [message_id] = sent_messages(engine, api_key[0].id)
    hit = Event(EventType.OPENED, time.time() + 3600, message_id=message_id,
                payload={"userAgent": "Evil\x00Agent", "ip": "192.0.2.1", "method": "GET"})
    [stored] = record_events(engine, EventBatch((hit,)))
    with engine.connect() as conn:
        agent = conn.execute(text("SELECT payload->>'userAgent' FROM events")).scalar_one()
    assert stored.message_id == message_id and agent == "EvilAgent"


def test_events_racing_their_send_outcomes_end_up_attached_without_deadlock(engine, api_key):
    import threading

    ids = sent_messages(engine, api_key[0].id, 60, record=False)
    start = threading.Barrier(2)

    def outcomes() -> None:
        start.wait()
        for message_id in ids:
            record_sent(engine, [message_id])

    def deliveries() -> None:
        start.wait()
        for message_id in ids:
            record_events(engine, EventBatch((ses("Delivery", message_id),)))

    threads = [threading.Thread(target=outcomes), threading.Thread(target=deliveries)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert events_of(engine, None) == []
    with engine.connect() as conn:
        states = set(conn.execute(text("SELECT state FROM messages")).scalars())
    assert states == {"delivered"}


def test_scanner_click_seconds_after_a_late_delivery_is_a_machine_click(engine, api_key):
    [message_id] = sent_messages(engine, api_key[0].id)
    delivered_at = time.time() + 600  # delivered ten minutes after the send (greylisted)
    delivery = ses("Delivery", message_id)
    record_events(engine, EventBatch((Event(**{**delivery.__dict__, "at": delivered_at}),)))
    person = {"userAgent": "Mozilla/5.0 (Windows NT 10.0) Firefox/120.0", "ip": "192.0.2.1",
              "method": "GET"}
    record_events(engine, EventBatch((
        Event(EventType.CLICKED, delivered_at + 2, message_id=message_id, detail="https://x/",
              payload=person),
        Event(EventType.CLICKED, delivered_at + 300, message_id=message_id, detail="https://x/",
              payload=person),
    )))
    assert [(e[1], e[3]) for e in events_of(engine, message_id)] == [
        ("delivered", False), ("clicked", True), ("clicked", False)]
