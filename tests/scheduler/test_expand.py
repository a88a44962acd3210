"""Campaign expansion: every recipient becomes exactly one message row, whatever happens."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from services.scheduler.dispatch import dispatch_due
from services.scheduler.expand import expand_due_campaigns, expand_step
from shared.db.keys import create_key
from shared.db.suppressions import add_suppressions
from shared.db.templates import create_template
from shared.intake.campaigns import CampaignRequest, create_campaign, json_rows
from shared.rendering.bulk import MAX_ENTRIES
from shared.rendering.mustache import TemplateSource
from tests.scheduler.test_dispatch import queued_batches


def make_campaign(engine, settings, key, count: int, *, scheduled_at=None, extra=()) -> int:
    """A campaign of ``count`` recipients r0..r{count-1}@example.com with a {{name}} each
    (then the ``extra`` ones)."""
    with engine.begin() as conn:
        template = create_template(conn, key.id, f"t{datetime.now().timestamp()}",
                                   TemplateSource("Hi {{name}}", "<p>{{name}}</p>", None))
    request = CampaignRequest(name="c", template_id=template.id, topic_id="camp",
                              scheduled_at=scheduled_at, from_addr=None, reply_to=None)
    recipients = [{"email": f"r{i}@example.com", "name": f"N{i}"} for i in range(count)]
    recipients += extra
    return create_campaign(engine, key, request, lambda _: json_rows(recipients), settings).id


def message_rows(engine, campaign_id: int):
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT id, to_addr, state, variables->>'name' AS name FROM messages "
            "WHERE campaign_id = :c ORDER BY id"), {"c": campaign_id}).all()


def enqueued_ids(redis) -> list[int]:
    """Every message id on the send queue, in queue order."""
    return [i for batch in queued_batches(redis) for i in batch.ids]


def cursor(engine, campaign_id: int) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT expanded FROM campaigns WHERE id = :c"),
                            {"c": campaign_id}).scalar_one()


def test_campaign_expands_in_batches_into_queued_and_enqueued_rows(engine, settings, api_key,
                                                                   broker, redis):
    campaign_id = make_campaign(engine, settings, api_key[0], 25)
    small = settings.model_copy(update={"expand_batch": 10})
    assert expand_step(engine, broker, small)
    assert cursor(engine, campaign_id) == 10 and len(message_rows(engine, campaign_id)) == 10
    expand_due_campaigns(engine, broker, small)
    rows = message_rows(engine, campaign_id)
    assert [r.to_addr for r in rows] == [f"r{i}@example.com" for i in range(25)]
    assert {r.state for r in rows} == {"queued"}
    assert rows[7].name == "N7"
    assert not expand_step(engine, broker, small)
    assert enqueued_ids(redis) == [r.id for r in rows]


def test_a_campaigns_rows_go_to_the_senders_in_campaign_sized_batches(engine, settings,
                                                                      api_key, broker, redis):
    make_campaign(engine, settings, api_key[0], 200)
    expand_due_campaigns(engine, broker, settings.model_copy(
        update={"transport": "ses", "send_batch": 4, "campaign_send_batch": 40}))
    sizes = [len(batch.ids) for batch in queued_batches(redis)]
    assert sum(sizes) == 200
    assert all(20 <= size <= 60 for size in sizes[:-1])  # 0.5-1.5x, not send_batch's 2-6


def test_campaign_batches_are_whole_bulk_calls(engine, settings, api_key, broker, redis):
    # 50 rows per SendBulkEmail call: a batch of 230 would end with a call of 30.
    make_campaign(engine, settings, api_key[0], 3000)
    expand_due_campaigns(engine, broker, settings.model_copy(
        update={"transport": "ses", "campaign_send_batch": 200, "expand_batch": 3000}))
    sizes = [len(batch.ids) for batch in queued_batches(redis)]
    assert sum(sizes) == 3000
    assert all(size % MAX_ENTRIES == 0 and 100 <= size <= 300 for size in sizes[:-1]), sizes
    assert len(set(sizes[:-1])) > 1  # still of varied sizes


@pytest.mark.parametrize("update", [{"transport": "smtp"}, {"transport": "file"},
                                    {"transport": "ses", "ses_bulk": False}],
                         ids=["smtp", "file", "ses-without-bulk"])
def test_without_bulk_sends_campaign_batches_are_as_small_as_intakes(
        engine, settings, api_key, broker, redis, update):
    # One send per message: a batch of 500 would keep 499 waiting on one thread.
    make_campaign(engine, settings, api_key[0], 300)
    expand_due_campaigns(engine, broker, settings.model_copy(update={**update, "send_batch": 20}))
    sizes = [len(batch.ids) for batch in queued_batches(redis)]
    assert sum(sizes) == 300 and all(size <= 30 for size in sizes), sizes


def test_rows_whose_enqueue_was_lost_are_dispatched_after_the_queue_timeout(
        engine, settings, api_key, broker, redis):
    campaign_id = make_campaign(engine, settings, api_key[0], 3)
    expand_due_campaigns(engine, broker, settings)
    redis.flushall()  # the enqueue after the commit is lost
    assert not dispatch_due(engine, broker, settings)  # not yet: they may still be in a queue
    with engine.begin() as conn:  # the queue timeout passes
        conn.execute(text("UPDATE messages SET due_at = now() - interval '1 second'"))
    dispatch_due(engine, broker, settings)
    assert enqueued_ids(redis) == [r.id for r in message_rows(engine, campaign_id)]


def test_a_batch_replayed_after_a_lost_cursor_adds_no_duplicate(engine, settings, api_key, broker):
    campaign_id = make_campaign(engine, settings, api_key[0], 30)
    small = settings.model_copy(update={"expand_batch": 20})
    expand_due_campaigns(engine, broker, small)
    with engine.begin() as conn:  # as if the cursor had been lost after the rows were written
        conn.execute(text("UPDATE campaigns SET expanded = 5 WHERE id = :c"), {"c": campaign_id})
    expand_due_campaigns(engine, broker, small)
    rows = message_rows(engine, campaign_id)
    assert len(rows) == 30 and len({r.to_addr for r in rows}) == 30
    assert cursor(engine, campaign_id) == 30


def test_two_schedulers_expanding_at_once_write_each_recipient_once(engine, settings, api_key,
                                                                   broker):
    ids = [make_campaign(engine, settings, api_key[0], 400) for _ in range(3)]
    small = settings.model_copy(update={"expand_batch": 25})
    start = threading.Barrier(2)

    def scheduler() -> None:
        start.wait()
        while expand_step(engine, broker, small):
            pass

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for campaign_id in ids:
        rows = message_rows(engine, campaign_id)
        assert len(rows) == 400 and len({r.to_addr for r in rows}) == 400


def test_a_campaign_waits_for_its_time(engine, settings, api_key, broker):
    campaign_id = make_campaign(engine, settings, api_key[0], 3,
                                scheduled_at=datetime.now(UTC) + timedelta(hours=1))
    assert not expand_step(engine, broker, settings)
    assert message_rows(engine, campaign_id) == []


def test_expansion_keeps_a_campaign_topped_up_to_its_window(engine, settings, api_key, broker):
    campaign_id = make_campaign(engine, settings, api_key[0], 30)
    windowed = settings.model_copy(update={"expand_batch": 4, "campaign_window": 10})
    expand_due_campaigns(engine, broker, windowed)
    assert len(message_rows(engine, campaign_id)) == 10  # 4 + 4 + 2, then the window is full
    with engine.begin() as conn:  # six of them are sent
        conn.execute(text("UPDATE messages SET state = 'sent' WHERE id IN "
                          "(SELECT id FROM messages ORDER BY id LIMIT 6)"))
    expand_due_campaigns(engine, broker, windowed)
    rows = message_rows(engine, campaign_id)
    assert len(rows) == 16 and sum(r.state == "queued" for r in rows) == 10


def test_suppressed_recipients_are_expanded_as_suppressed(engine, settings, api_key, broker,
                                                          redis):
    key = api_key[0]
    with engine.begin() as conn:
        add_suppressions(conn, key.id, ["r1@example.com", "kim@example.com"], "bounce")
        add_suppressions(conn, key.id, ["r4@example.com"], "unsubscribe")
        other, _ = create_key(conn, "other", [])
        add_suppressions(conn, other.id, ["r2@example.com"], "manual")  # another key's list
    campaign_id = make_campaign(engine, settings, key, 6,
                                extra=[{"email": "Kim@Example.com", "name": "Kim"}])
    windowed = settings.model_copy(update={"expand_batch": 3, "campaign_window": 3})
    expand_due_campaigns(engine, broker, windowed)
    # r0, r1 (suppressed: it takes no room in the window), r2, then r3 fills the window.
    assert cursor(engine, campaign_id) == 4
    expand_due_campaigns(engine, broker, settings.model_copy(update={"campaign_window": 0}))
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT to_addr, state, error FROM messages "
                                 "WHERE campaign_id = :c ORDER BY id"), {"c": campaign_id}).all()
    assert [(r.to_addr, r.state) for r in rows] == [
        ("r0@example.com", "queued"), ("r1@example.com", "suppressed"),
        ("r2@example.com", "queued"), ("r3@example.com", "queued"),
        ("r4@example.com", "suppressed"), ("r5@example.com", "queued"),
        ("Kim@example.com", "suppressed")]
    errors = {r.to_addr: r.error for r in rows}
    assert errors["r4@example.com"] == (
        "the address is on this key's suppression list (unsubscribe)")
    assert errors["r0@example.com"] is None
    with engine.connect() as conn:
        enqueued = conn.execute(text("SELECT to_addr FROM messages WHERE id = ANY(:ids) "
                                     "ORDER BY id"), {"ids": enqueued_ids(redis)}).scalars().all()
    assert enqueued == ["r0@example.com", "r2@example.com", "r3@example.com", "r5@example.com"]
