"""The reputation guard, through the real recorder and real SES events: bursts of hard
bounces and complaints pause a key, its campaigns or a topic within the batch that
records them; other mail keeps flowing; a resume sends what was held, once."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from services.recorder.events import record_events
from services.recorder.record import record_outcomes
from services.scheduler.dispatch import dispatch_due
from services.scheduler.expand import expand_due_campaigns
from shared.broker.payloads import EventBatch, Outcome, OutcomeBatch, OutcomeKind
from shared.broker.queues import enqueue_sends
from shared.db.audit import Actor, entries
from shared.db.claims import claim_for_sending
from shared.db.keys import create_key
from shared.db.messages import insert_messages
from shared.db.templates import create_template
from shared.guard import Levels, ReputationGuard, resume
from shared.intake.campaigns import CampaignRequest, create_campaign, json_rows
from shared.intake.requests import MessageRequest
from shared.rendering.mustache import TemplateSource
from tests.recorder.test_record_events import ses
from tests.support.pump import Pump

#: SES's levels as the defaults have them, with a sample of 20 sends (tests send few).
GUARD = ReputationGuard(Levels(bounce_warn=0.02, bounce_pause=0.04, complaint_warn=0.0005,
                               complaint_pause=0.0008, min_sends=20), window=1000)
OPERATOR = Actor("cli", "ops@test")


def new_messages(engine, key_id: int, count: int, topic: str = "t") -> list[int]:
    """``count`` queued messages of ``topic`` (one per recipient), not enqueued."""
    item = MessageRequest(topic_id=topic, from_addr="s@example.com",
                          recipients=tuple(f"{topic}{i}@example.com" for i in range(count)),
                          subject="s", html="<p>h</p>", text=None, reply_to=None)
    with engine.begin() as conn:
        return [m.id for m in insert_messages(conn, key_id, [item], queue_timeout=300)]


def record_sent(engine, ids: list[int], guard: ReputationGuard = GUARD) -> None:
    """Claim ``ids`` and record them sent (as ``ses-<id>``) through the guarded recorder."""
    with engine.begin() as conn:
        claimed = claim_for_sending(conn, ids, worker_id="test", lease=60)
    assert len(claimed) == len(ids)
    batch = OutcomeBatch(tuple(Outcome(i, 1, OutcomeKind.SENT, time.time(),
                                       provider_message_id=f"ses-{i}") for i in ids))
    record_outcomes(engine, batch, max_attempts=5, guard=guard)


def sent(engine, key_id: int, count: int, topic: str = "t") -> list[int]:
    ids = new_messages(engine, key_id, count, topic)
    record_sent(engine, ids)
    return ids


def feedback(engine, ids: list[int], kind: str = "HardBounce") -> None:
    """One recorder batch of SES ``kind`` events, one per message."""
    record_events(engine, EventBatch(tuple(ses(kind, i) for i in ids)), GUARD)


def pauses(engine) -> set[tuple]:
    """The pauses in force: (key id, topic, campaigns only, reason)."""
    with engine.connect() as conn:
        return {tuple(r) for r in conn.execute(text(
            "SELECT api_key_id, topic_id, campaigns_only, reason FROM guard_pauses "
            "WHERE resumed_at IS NULL"))}


def claimable(engine, ids: list[int]) -> set[int]:
    """The ids a sender's claim would take now (the claim is rolled back)."""
    with engine.connect() as conn:
        taken = {m.id for m in claim_for_sending(conn, ids, worker_id="probe", lease=60)}
        conn.rollback()
    return taken


@pytest.fixture
def audit_since(engine) -> int:
    """The audit log's last id before the test (the log outlives the tables)."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar()


def resumes(engine, key: int, since: int) -> list:
    with engine.connect() as conn:
        return [e for e in entries(conn, action="key.resume")
                if e.target == f"key {key}" and e.id > since]


@pytest.fixture
def other_key(engine):
    with engine.begin() as conn:
        return create_key(conn, "other", [])[0]


def test_a_burst_of_hard_bounces_pauses_the_key_within_one_recorder_batch(
        engine, api_key, other_key):
    key = api_key[0].id
    ids = sent(engine, key, 40)
    sent(engine, other_key.id, 40)
    feedback(engine, ids[:4])  # 10% of 40 sends, in one batch
    assert pauses(engine) == {(key, "", False, "bounce")}
    held, flowing = new_messages(engine, key, 3), new_messages(engine, other_key.id, 3)
    assert claimable(engine, held) == set()
    assert claimable(engine, flowing) == set(flowing)
    with engine.connect() as conn:
        figures = conn.execute(text("SELECT figures FROM guard_pauses")).scalar_one()
    assert figures["rate"] >= 0.04 and figures["threshold"] == 0.04


def test_complaints_past_their_level_pause_the_key(engine, api_key):
    ids = sent(engine, api_key[0].id, 40)
    feedback(engine, ids[:1], "Complaint")  # 2.5%: far past 0.08%
    assert pauses(engine) == {(api_key[0].id, "", False, "complaint")}


def test_below_the_minimum_sample_nothing_pauses(engine, api_key):
    ids = sent(engine, api_key[0].id, 10)
    feedback(engine, ids[:5])  # 50%, but of 10 sends
    assert pauses(engine) == set()
    assert claimable(engine, new_messages(engine, api_key[0].id, 1))


def test_a_rate_between_warn_and_pause_warns_then_clean_sends_clear_it(engine, api_key,
                                                                        caplog):
    caplog.set_level("INFO", "mailpipe.guard")
    ids = sent(engine, api_key[0].id, 100)
    feedback(engine, ids[:3])  # ~3%: past the 2% warning, below the 4% pause
    assert pauses(engine) == set()
    with engine.connect() as conn:
        levels = conn.execute(text("SELECT topic_id, traffic, level FROM guard_windows "
                                   "ORDER BY 1, 2")).all()
    assert [tuple(r) for r in levels] == [("", "all", "warn"), ("", "transactional", "warn"),
                                          ("t", "all", "warn")]
    assert "key 1 at warn level, hard-bounce rate" in caplog.text
    sent(engine, api_key[0].id, 100)  # clean sends: the rate falls to about 1.5%
    with engine.connect() as conn:
        assert conn.execute(text("SELECT DISTINCT level FROM guard_windows")).scalars().all() \
            == ["ok"]
    assert "key 1 back below its warn levels" in caplog.text


def test_a_topic_pauses_while_the_same_keys_other_mail_flows(engine, api_key):
    key = api_key[0].id
    news = sent(engine, key, 40, "news")
    sent(engine, key, 400, "receipts")
    feedback(engine, news[:4])  # the topic at 10%, the key at about 1%
    assert pauses(engine) == {(key, "news", False, "bounce")}
    held, flowing = new_messages(engine, key, 2, "news"), new_messages(engine, key, 2, "receipts")
    assert claimable(engine, held) == set()
    assert claimable(engine, flowing) == set(flowing)


def campaign_messages(engine, settings, broker, key, topic: str, count: int) -> list[int]:
    """A campaign of ``count`` recipients on ``topic``, expanded into queued rows."""
    with engine.begin() as conn:
        template = create_template(conn, key.id, f"t{datetime.now(UTC).timestamp()}",
                                   TemplateSource("Hi {{name}}", "<p>{{name}}</p>", None))
    request = CampaignRequest(name=topic, template_id=template.id, topic_id=topic,
                              scheduled_at=None, from_addr=None, reply_to=None)
    rows = [{"email": f"{topic}{i}@example.com", "name": f"N{i}"} for i in range(count)]
    campaign = create_campaign(engine, key, request, lambda _: json_rows(rows), settings)
    expand_due_campaigns(engine, broker, settings)
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT id FROM messages WHERE campaign_id = :c "
                                      "ORDER BY id"), {"c": campaign.id}).scalars())


def test_only_campaigns_pause_when_only_campaigns_are_to_blame(engine, settings, broker,
                                                               api_key):
    key = api_key[0]
    spring = campaign_messages(engine, settings, broker, key, "spring", 40)
    record_sent(engine, spring)
    sent(engine, key.id, 400, "receipts")
    feedback(engine, spring[:4])  # campaigns at 10%, transactional mail at 0%
    assert (key.id, "", True, "bounce") in pauses(engine)
    assert (key.id, "", False, "bounce") not in pauses(engine)
    summer = campaign_messages(engine, settings, broker, key, "summer", 2)
    receipts = new_messages(engine, key.id, 2, "receipts")
    assert claimable(engine, summer) == set()
    assert claimable(engine, receipts) == set(receipts)
    record_sent(engine, receipts)  # transactional sends alone never widen the pause
    assert (key.id, "", False, "bounce") not in pauses(engine)


def test_resume_sends_the_held_messages_once(engine, settings, broker, redis, api_key,
                                             audit_since):
    key = api_key[0].id
    feedback(engine, sent(engine, key, 40)[:4])
    held = new_messages(engine, key, 5)
    enqueue_sends(broker, held, settings.send_batch)
    pump = Pump(settings, engine, broker, redis, None)
    pump.run()
    assert _states(engine, held) == {"queued"}

    with engine.begin() as conn:
        [lifted] = resume(conn, key, None, actor=OPERATOR)
    assert lifted.resumed_by == "ops@test" and pauses(engine) == set()
    dispatch_due(engine, broker, settings)
    enqueue_sends(broker, held, settings.send_batch)  # a stale duplicate as well
    pump.run()
    dispatch_due(engine, broker, settings)
    pump.run()
    assert _states(engine, held) == {"sent"}
    files = sorted(settings.file_dir.iterdir())
    assert len(files) == len(held)
    [entry] = resumes(engine, key, audit_since)
    assert entry.actor == "ops@test" and entry.before["reason"] == "bounce"


def test_a_resumed_key_needs_its_sample_again_before_it_pauses(engine, api_key):
    key = api_key[0].id
    ids = sent(engine, key, 40)
    feedback(engine, ids[:4])
    with engine.begin() as conn:
        resume(conn, key, None, actor=OPERATOR)
    feedback(engine, ids[4:8])  # late bounces of the mail sent before the pause
    assert pauses(engine) == set()


def test_resuming_a_topic_leaves_the_keys_other_pauses(engine, api_key):
    key = api_key[0].id
    news = sent(engine, key, 40, "news")
    sent(engine, key, 400, "receipts")
    feedback(engine, news[:4])
    with engine.begin() as conn:
        assert resume(conn, key, "other", actor=OPERATOR) == []
        [lifted] = resume(conn, key, "news", actor=OPERATOR)
    assert lifted.topic_id == "news" and pauses(engine) == set()


def _states(engine, ids: list[int]) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(text("SELECT state FROM messages WHERE id = ANY(:ids)"),
                                {"ids": ids}).scalars())


def test_keys_resume_on_the_command_line_lifts_a_topic_then_the_key_audited(
        engine, settings, api_key, monkeypatch, capsys, audit_since):
    from services.cli import run

    monkeypatch.setenv("MAILPIPE_DATABASE_URL", settings.database_url)
    key = api_key[0].id
    news = sent(engine, key, 40, "news")
    sent(engine, key, 400, "receipts")
    feedback(engine, news[:4])
    assert run(["keys", "list"]) == 0
    assert "paused (mailpipe keys resume)" in capsys.readouterr().out
    assert run(["keys", "resume", str(key), "--topic", "receipts"]) == 1
    assert "no pause in force on topic 'receipts'" in capsys.readouterr().err
    assert run(["keys", "resume", str(key), "--topic", "news"]) == 0
    assert 'resumed topic "news" of key' in capsys.readouterr().out
    assert pauses(engine) == set() and run(["keys", "resume", str(key)]) == 1
    [entry] = resumes(engine, key, audit_since)
    assert entry.actor_kind == "cli" and entry.before["topic"] == "news"


def test_paused_and_warned_scopes_are_gauged(engine, settings, redis, api_key, other_key):
    from shared.metrics.gauges import FleetCollector

    feedback(engine, sent(engine, api_key[0].id, 40)[:4])     # paused
    feedback(engine, sent(engine, other_key.id, 100)[:3])     # past the warning only
    samples = {(s.name, s.labels.get("scope")): s.value
               for family in FleetCollector(settings, engine, redis).collect()
               for s in family.samples if s.name.startswith("mailpipe_guard")}
    assert samples[("mailpipe_guard_paused", "key")] == 1
    assert samples[("mailpipe_guard_paused", "topic")] == 0
    assert samples[("mailpipe_guard_warned", None)] == 3  # the key, its transactional, its topic


def test_hours_older_than_a_day_are_pruned_and_the_recent_window_stays(engine, api_key):
    from datetime import timedelta

    from shared.db.guard import prune_hours

    sent(engine, api_key[0].id, 25)
    with engine.begin() as conn:
        assert prune_hours(conn, datetime.now(UTC)) == 0
        assert prune_hours(conn, datetime.now(UTC) + timedelta(hours=26)) == 3  # its 3 scopes
        left = conn.execute(text("SELECT count(*) FROM guard_windows WHERE sent > 0")).scalar()
    assert left == 3


def test_a_keys_own_levels_replace_the_settings_and_are_checked(
        engine, settings, api_key, other_key, monkeypatch, capsys, audit_since):
    from services.cli import run

    monkeypatch.setenv("MAILPIPE_DATABASE_URL", settings.database_url)
    strict = api_key[0].id
    assert run(["keys", "levels", str(strict), "--bounce-warn", "0.05"]) == 2  # above 4%
    assert "must be below the pause level" in capsys.readouterr().err
    assert run(["keys", "levels", str(strict), "--bounce-warn", "0.01",
                "--bounce-pause", "0.02"]) == 0
    assert "bounce-warn 0.01 bounce-pause 0.02 complaint-warn 0.0005" in capsys.readouterr().out
    for key in (strict, other_key.id):
        feedback(engine, sent(engine, key, 100, f"k{key}")[:3])  # 3%: between the two
    assert pauses(engine) == {(strict, "", False, "bounce")}
    with engine.connect() as conn:
        [entry] = [e for e in entries(conn, action="key.guard")
                   if e.target == f"key {strict}" and e.id > audit_since]
    assert entry.after["bounce_pause"] == 0.02 and entry.before["bounce_pause"] is None
    assert run(["keys", "levels", str(strict), "--settings"]) == 0
    assert "bounce-pause 0.04" in capsys.readouterr().out


def test_a_pause_is_a_key_paused_or_topic_paused_event_in_the_outbox(engine, api_key):
    from shared.db.webhooks import create_endpoint

    key = api_key[0].id
    with engine.begin() as conn:
        create_endpoint(conn, key, url="https://hooks.example.com/in", event_types=[],
                        topics=[], enabled=True, secret="sealed")
    news = sent(engine, key, 40, "news")
    sent(engine, key, 400, "receipts")
    feedback(engine, news[:4])          # the topic
    feedback(engine, sent(engine, key, 200, "lists")[:40])  # then the whole key
    with engine.connect() as conn:
        events = conn.execute(text("SELECT type, topic_id, data FROM webhook_events "
                                   "WHERE type LIKE '%.paused' ORDER BY id")).all()
    assert [(e.type, e.topic_id) for e in events] == [("topic.paused", "news"),
                                                      ("key.paused", None)]
    assert events[1].data["scope"] == "key" and events[1].data["reason"] == "bounce"
    assert events[0].data["figures"]["threshold"] == 0.04


def test_a_burst_after_a_day_of_clean_mail_pauses_on_the_recent_sends(engine, api_key):
    """The last 24 hours hold 1,050 sends and 5 bounces (0.5%); the last 100 sends, those 5."""
    narrow = ReputationGuard(GUARD.levels, window=100)
    key = api_key[0].id
    record_sent(engine, new_messages(engine, key, 1000), narrow)
    burst = new_messages(engine, key, 50, "burst")
    record_sent(engine, burst, narrow)
    record_events(engine, EventBatch(tuple(ses("HardBounce", i) for i in burst[:5])), narrow)
    with engine.connect() as conn:
        figures = conn.execute(text("SELECT figures FROM guard_pauses WHERE topic_id = ''")
                               ).scalar_one()
    assert figures["window"] == "recent" and figures["rate"] >= 0.04
