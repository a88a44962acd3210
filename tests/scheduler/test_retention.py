"""Retention prunes expired data of finished messages in bounded batches, figures unchanged."""

from __future__ import annotations

from datetime import timedelta
from hashlib import sha256

from sqlalchemy import text

from services.scheduler.retention import RetentionPolicy, prune_expired, prune_step
from shared.db.messages import insert_messages
from shared.db.reads import topic_summary
from shared.db.stats import topic_stats
from shared.db.sweeps import requeue
from shared.intake.attachments import Attachment
from shared.intake.requests import MessageRequest

DAY = timedelta(days=1)
POLICY = RetentionPolicy(events=30 * DAY, orphans=7 * DAY, bodies=30 * DAY,
                         idempotency=DAY, batch=1000)


def make_item(engine, key_id: int, recipients: int, *, topic="t", attachments=()) -> list[int]:
    item = MessageRequest(
        topic_id=topic, from_addr="s@example.com",
        recipients=[f"r{i}@example.com" for i in range(recipients)],
        subject="secret subject", html="<p>private body</p>", text="private text",
        reply_to="reply@example.com", attachments=attachments,
    )
    with engine.begin() as conn:
        return [m.id for m in insert_messages(conn, key_id, [item], queue_timeout=300)]


def age(engine, ids: list[int], days: int, state: str = "delivered") -> None:
    """Make ``ids`` and their content ``days`` old and in ``state``."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE messages SET state = :s, "
                          "sent_at = now() - make_interval(days => :d), "
                          "created_at = now() - make_interval(days => :d) WHERE id = ANY(:ids)"),
                     {"s": state, "d": days, "ids": ids})
        conn.execute(text("UPDATE contents SET created_at = now() - make_interval(days => :d) "
                          "WHERE id IN (SELECT content_id FROM messages WHERE id = ANY(:ids))"),
                     {"d": days, "ids": ids})


def add_events(engine, message_id: int | None, days: int, *types: str, machine=False,
               detail=None) -> None:
    with engine.begin() as conn:
        for kind in types:
            conn.execute(
                text("INSERT INTO events (message_id, type, occurred_at, detail, machine, "
                     "provider_message_id) VALUES (:m, :t, now() - make_interval(days => :d), "
                     ":detail, :machine, 'p')"),
                {"m": message_id, "t": kind, "d": days, "detail": detail, "machine": machine})


def count(engine, sql: str, **params) -> int:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def figures(engine, key_id: int) -> tuple[dict, dict]:
    with engine.connect() as conn:
        return topic_stats(conn, key_id, "t"), topic_summary(conn, key_id, "t")


def test_expired_events_go_and_topic_figures_stay_the_same(engine, api_key):
    key_id = api_key[0].id
    old, fresh = make_item(engine, key_id, 3), make_item(engine, key_id, 1)
    age(engine, old, 60)
    age(engine, fresh, 1)
    add_events(engine, old[0], 50, "delivered", "opened", "opened", "clicked")
    add_events(engine, old[0], 50, "opened", machine=True)
    add_events(engine, old[1], 50, "bounced", detail="hard")
    add_events(engine, old[2], 50, "bounced", detail="soft")
    add_events(engine, old[0], 2, "opened")  # a recent open of an old message stays
    add_events(engine, fresh[0], 1, "delivered", "opened")
    before = figures(engine, key_id)
    assert before[0]["opens"] == {"unique": 2, "total": 4, "machine": 1}

    counts = prune_step(engine, POLICY)

    assert counts["events"] == 7
    assert count(engine, "SELECT count(*) FROM events") == 3
    assert figures(engine, key_id) == before
    # A second pass (tallies already there) adds to them rather than replacing.
    add_events(engine, old[0], 40, "opened")
    before = figures(engine, key_id)
    prune_step(engine, POLICY)
    assert figures(engine, key_id) == before
    assert before[0]["opens"]["total"] == 5 and before[1]["events"]["opened"] == 6


def test_events_of_an_unfinished_message_stay(engine, api_key):
    [sending] = make_item(engine, api_key[0].id, 1)
    age(engine, [sending], 60, state="sending")
    add_events(engine, sending, 50, "opened")
    assert prune_step(engine, POLICY)["events"] == 0
    assert count(engine, "SELECT count(*) FROM events") == 1


def test_old_orphans_go_and_recent_ones_wait_for_their_message(engine, api_key):
    add_events(engine, None, 8, "delivered")
    add_events(engine, None, 0, "delivered")
    assert prune_step(engine, POLICY)["orphans"] == 1
    assert count(engine, "SELECT count(*) FROM events WHERE message_id IS NULL") == 1


def test_old_bodies_of_finished_messages_go_pending_and_fresh_ones_stay(engine, api_key):
    key_id = api_key[0].id
    shared_file = Attachment("shared.pdf", "application/pdf", b"shared bytes")
    done = make_item(engine, key_id, 2, attachments=(
        Attachment("own.pdf", "application/pdf", b"own bytes"), shared_file))
    pending = make_item(engine, key_id, 2)
    fresh = make_item(engine, key_id, 1, attachments=(shared_file,))
    age(engine, done, 60)
    age(engine, pending, 60)
    with engine.begin() as conn:  # one recipient of the old request is still queued
        conn.execute(text("UPDATE messages SET state = 'queued' WHERE id = :i"), {"i": pending[1]})
    age(engine, fresh, 1)

    counts = prune_step(engine, POLICY)

    assert (counts["contents"], counts["blobs"]) == (1, 1)
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(text(
            "SELECT m.id, c.subject, c.html, c.text, c.pruned_at, m.state, m.to_addr "
            "FROM messages m JOIN contents c ON c.id = m.content_id"))}
        # Other tests' blobs may be there too (tests truncate from contents down).
        blobs = conn.execute(text("SELECT sha256 FROM attachment_blobs WHERE sha256 = ANY(:h)"),
                             {"h": [sha256(b"own bytes").hexdigest(),
                                    sha256(b"shared bytes").hexdigest()]}).scalars().all()
        links = conn.execute(text("SELECT count(*) FROM content_attachments")).scalar_one()
    assert rows[done[0]].html == "" and rows[done[0]].text is None and rows[done[0]].pruned_at
    # The message row keeps its state and recipient.
    assert rows[done[0]].state == "delivered" and rows[done[0]].to_addr == "r0@example.com"
    assert rows[pending[0]].html == "<p>private body</p>" and rows[pending[0]].pruned_at is None
    assert rows[fresh[0]].html == "<p>private body</p>"
    # The blob the fresh content shares stays.
    assert blobs == [sha256(b"shared bytes").hexdigest()] and links == 1


def test_requeue_leaves_messages_whose_body_was_pruned(engine, api_key):
    ids = make_item(engine, api_key[0].id, 2)
    age(engine, ids, 60, state="unknown")
    prune_step(engine, POLICY)
    with engine.begin() as conn:
        assert requeue(conn, state="unknown") == 0


def test_idempotency_keys_older_than_a_day_go(engine, api_key):
    key_id = api_key[0].id
    with engine.begin() as conn:
        for name, hours in (("old", 30), ("new", 2)):
            conn.execute(text("INSERT INTO idempotency_keys (api_key_id, key, request_hash, "
                              "created_at) VALUES (:a, :k, 'h', "
                              "now() - make_interval(hours => :h))"),
                         {"a": key_id, "k": name, "h": hours})
    assert prune_step(engine, POLICY)["idempotency"] == 1
    assert count(engine, "SELECT count(*) FROM idempotency_keys WHERE key = 'new'") == 1


def test_recipients_of_finished_old_campaigns_go(engine, api_key):
    key_id = api_key[0].id
    [message] = make_item(engine, key_id, 1)
    with engine.begin() as conn:
        content_id = conn.execute(text("SELECT content_id FROM messages WHERE id = :i"),
                                  {"i": message}).scalar_one()
        template = conn.execute(text("INSERT INTO templates (api_key_id, name) VALUES (:a, 'n') "
                                     "RETURNING id"), {"a": key_id}).scalar_one()
        conn.execute(text("INSERT INTO template_versions (template_id, version, subject, html, "
                          "variables) VALUES (:t, 1, 's', 'h', '{}')"), {"t": template})
        for name, expanded in (("done", 3), ("running", 1)):
            campaign = conn.execute(text(
                "INSERT INTO campaigns (api_key_id, name, topic_id, template_id, template_version,"
                " content_id, from_addr, total, expanded, created_at) VALUES (:a, :n, 't', :t, 1,"
                " :c, 's@example.com', 3, :e, now() - interval '60 days') RETURNING id"),
                {"a": key_id, "n": name, "t": template, "c": content_id, "e": expanded}
            ).scalar_one()
            conn.execute(text("INSERT INTO campaign_recipients (campaign_id, seq, email, variables)"
                              " SELECT :c, s, 'r' || s || '@example.com', '{}' "
                              "FROM generate_series(1, 3) s"), {"c": campaign})
    assert prune_step(engine, POLICY)["recipients"] == 3
    assert count(engine, "SELECT count(*) FROM campaign_recipients") == 3


def test_batches_are_bounded_and_the_job_runs_until_done(engine, api_key, settings):
    [message] = make_item(engine, api_key[0].id, 1)
    age(engine, [message], 200)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO events (message_id, type, occurred_at) SELECT :m, "
                          "'opened', now() - interval '100 days' FROM generate_series(1, 25)"),
                     {"m": message})
    small = RetentionPolicy(events=30 * DAY, orphans=None, bodies=None, idempotency=None, batch=10)
    assert prune_step(engine, small)["events"] == 10
    assert count(engine, "SELECT count(*) FROM events") == 15
    job_settings = settings.model_copy(update={"retention_batch": 10})
    totals = prune_expired(engine, job_settings)
    assert totals["events"] == 15 and totals["contents"] == 1
    assert count(engine, "SELECT count(*) FROM events") == 0


def test_retention_days_zero_keeps_everything(engine, api_key, settings):
    [message] = make_item(engine, api_key[0].id, 1)
    age(engine, [message], 2000)
    add_events(engine, message, 2000, "opened")
    add_events(engine, None, 2000, "opened")
    keep = settings.model_copy(update={"retention_days": 0})
    assert not RetentionPolicy.from_settings(keep).active
    assert prune_expired(engine, keep) == {}
    assert count(engine, "SELECT count(*) FROM events") == 2


def test_policy_defaults_follow_retention_days(settings):
    policy = RetentionPolicy.from_settings(settings.model_copy(update={
        "retention_days": 90, "retention_events_days": 30}))
    assert (policy.events, policy.bodies, policy.orphans, policy.idempotency) == (
        30 * DAY, 90 * DAY, 7 * DAY, DAY)


def test_the_raw_bytes_of_an_old_smtp_submission_go_with_its_parts(engine, api_key):
    item = MessageRequest(topic_id="smtp", from_addr="s@example.com",
                          recipients=["r@example.com"], subject="s", html="<pre>b</pre>")
    with engine.begin() as conn:
        (created,) = insert_messages(conn, api_key[0].id,
                                     [item.as_submitted(b"Subject: s\r\n\r\nsecret\r\n")],
                                     queue_timeout=300)
    age(engine, [created.id], 60)
    assert prune_step(engine, POLICY)["contents"] == 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT raw_mime, pruned_at IS NOT NULL FROM contents")).one() \
            == (None, True)
