"""The outbox: events written with the change that causes them, one delivery per endpoint."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from shared.db.keys import create_key
from shared.db.outbox import (
    MessageEvent,
    OutboundEvent,
    complete_campaigns,
    emit,
    emit_message_events,
)
from shared.webhooks.events import OutboundEventType as T
from tests.support.stored_messages import store_messages
from tests.support.webhooks import add_endpoint, outbox, pending_deliveries

AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def event(key_id: int, type: T = T.KEY_PAUSED, topic: str | None = "t") -> OutboundEvent:
    return OutboundEvent(type, key_id, AT, {"reason": "bounce"}, topic_id=topic)


def test_no_event_is_written_for_a_key_without_an_enabled_endpoint(engine, api_key):
    add_endpoint(engine, api_key[0].id, enabled=False, disabled_reason="gone")
    with engine.begin() as conn:
        assert emit(conn, [event(api_key[0].id)]).events == 0
    assert outbox(engine) == []


def test_a_delivery_per_endpoint_whose_types_and_topics_match(engine, api_key):
    key_id = api_key[0].id
    every = add_endpoint(engine, key_id)
    sent_only = add_endpoint(engine, key_id, event_types=[T.MESSAGE_SENT.value])
    other_topic = add_endpoint(engine, key_id, topics=["other"])
    this_topic = add_endpoint(engine, key_id, topics=["t"], event_types=[T.KEY_PAUSED.value])
    add_endpoint(engine, key_id, enabled=False, disabled_reason="manual")
    with engine.begin() as conn:
        written = emit(conn, [event(key_id), event(key_id, T.MESSAGE_SENT, topic=None)])
    assert (written.events, written.deliveries) == (2, 4)
    assert pending_deliveries(engine) == [(every, "key.paused"), (this_topic, "key.paused"),
                                          (every, "message.sent"), (sent_only, "message.sent")]
    assert other_topic not in {endpoint for endpoint, _ in pending_deliveries(engine)}


def test_an_event_no_endpoint_wants_is_kept_for_a_replay(engine, api_key):
    add_endpoint(engine, api_key[0].id, event_types=[T.MESSAGE_SENT.value])
    with engine.begin() as conn:
        written = emit(conn, [event(api_key[0].id)])
    assert (written.events, written.deliveries) == (1, 0)


def test_another_keys_endpoint_gets_nothing(engine, api_key):
    with engine.begin() as conn:
        other, _ = create_key(conn, "other", [])
    add_endpoint(engine, other.id)
    with engine.begin() as conn:
        assert emit(conn, [event(api_key[0].id)]).events == 0
    assert outbox(engine) == []


def test_a_rolled_back_transaction_leaves_no_event(engine, api_key):
    add_endpoint(engine, api_key[0].id)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        emit(conn, [event(api_key[0].id)])
        raise RuntimeError("the change failed")
    assert outbox(engine) == [] and pending_deliveries(engine) == []


def test_message_events_carry_the_rows_data(engine, api_key):
    key_id = api_key[0].id
    add_endpoint(engine, key_id)
    [mid] = store_messages(engine, key_id, ["a@example.com"], provider_message_id="p-1",
                           state="failed", error="rejected by SES: Bad content")
    with engine.begin() as conn:
        emit_message_events(conn, [MessageEvent(T.MESSAGE_FAILED, mid, AT)])
    assert outbox(engine) == [("message.failed", mid, {
        "messageId": mid, "topicId": "t", "recipient": "a@example.com",
        "providerMessageId": "p-1", "campaignId": None,
        "error": "rejected by SES: Bad content"})]


def _campaign(engine, key_id: int, states: list[str]) -> tuple[int, list[int]]:
    with engine.begin() as conn:
        content = conn.execute(text(
            "INSERT INTO contents (api_key_id, subject, html) VALUES (:k, 's', 'h') RETURNING id"),
            {"k": key_id}).scalar_one()
        conn.execute(text("INSERT INTO templates (api_key_id, name) VALUES (:k, 'n')"),
                     {"k": key_id})
        conn.execute(text("INSERT INTO template_versions (template_id, version, subject, html,"
                          " variables) SELECT id, 1, 's', 'h', '{}' FROM templates"))
        campaign = conn.execute(text(
            "INSERT INTO campaigns (api_key_id, name, topic_id, template_id, template_version,"
            " content_id, from_addr, total, expanded)"
            " SELECT :k, 'spring', 'news', id, 1, :c, 's@example.com', :n, :n FROM templates"
            " RETURNING id"), {"k": key_id, "c": content, "n": len(states)}).scalar_one()
    ids = [store_messages(engine, key_id, [f"r{i}@example.com"], topic="news",
                          campaign_id=campaign, state=state)[0]
           for i, state in enumerate(states)]
    return campaign, ids


def _finish(engine, message_id: int, campaign_id: int, ready: threading.Barrier) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE messages SET state = 'sent' WHERE id = :id"),
                     {"id": message_id})
        ready.wait()  # both rows changed, neither committed
        complete_campaigns(conn, [campaign_id])


def test_the_last_two_messages_ending_at_once_complete_their_campaign_once(engine, api_key):
    add_endpoint(engine, api_key[0].id)
    campaign, ids = _campaign(engine, api_key[0].id, ["sent", "sending", "sending"])
    ready = threading.Barrier(2)
    threads = [threading.Thread(target=_finish, args=(engine, i, campaign, ready))
               for i in ids[1:]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outbox(engine) == [("campaign.completed", None, {
        "campaignId": campaign, "topicId": "news", "name": "spring", "total": 3,
        "duplicates": 0})]
    with engine.begin() as conn:  # checked again (a late outcome, a resume): no second
        assert complete_campaigns(conn, [campaign]).events == 0


def test_a_campaign_with_a_message_still_pending_is_not_completed(engine, api_key):
    add_endpoint(engine, api_key[0].id)
    campaign, _ = _campaign(engine, api_key[0].id, ["sent", "queued"])
    with engine.begin() as conn:
        assert complete_campaigns(conn, [campaign]).events == 0
    with engine.connect() as conn:
        assert conn.execute(text("SELECT completed_at FROM campaigns")).scalar_one() is None
