"""The dashboard's rollups count what the API counts, once, however the outcomes and events
arrive: duplicates, soft then hard bounces, machine opens, orphans, pruned events, two
recorder threads at once."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

from services.recorder.events import record_events
from services.recorder.record import record_outcomes
from services.scheduler.retention import prune_traffic_minutes
from shared.broker.payloads import Event, EventBatch, EventType, Outcome, OutcomeBatch, OutcomeKind
from shared.db.claims import claim_for_sending
from shared.db.engine import make_engine
from shared.db.events import insert_events
from shared.db.keys import create_key
from shared.db.migrate import upgrade
from shared.db.reads import topic_summary
from shared.db.retention import prune_events
from shared.db.stats import topic_stats
from shared.db.tables import traffic_hours, traffic_key_hours, traffic_minutes
from shared.db.traffic import MEASURES, WINDOWS, active_topics, prune_minutes, traffic
from shared.events.ses import ses_event
from tests.support.sns import ses_event_publishing
from tests.support.stored_messages import store_messages

HUMAN = {"userAgent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0", "ip": "203.0.113.9",
         "method": "GET"}


def queued(engine, key_id: int, count: int, topic: str) -> list[int]:
    ids = store_messages(engine, key_id, [f"r{i}@example.com" for i in range(count)], topic,
                         state="queued")
    with engine.begin() as conn:
        claim_for_sending(conn, ids, worker_id="test", lease=60)
    return ids


def outcome(engine, ids: list[int], kind: OutcomeKind = OutcomeKind.SENT, **options) -> None:
    # Sent ten minutes ago: a click seconds after the send would be a link scanner's.
    batch = OutcomeBatch(tuple(Outcome(i, 1, kind, time.time() - 600,
                                       provider_message_id=f"ses-{i}"
                                       if kind is OutcomeKind.SENT else None, error="x")
                               for i in ids))
    record_outcomes(engine, batch, max_attempts=options.get("max_attempts", 5))


def ses(kind: str, message_id: int, sns_id: str) -> Event:
    return ses_event(ses_event_publishing(kind, f"ses-{message_id}", "r0@example.com"),
                     sns_message_id=sns_id, sns_timestamp=time.time())


def hit(kind: EventType, message_id: int, agent: str = HUMAN["userAgent"]) -> Event:
    return Event(kind, time.time(), message_id=message_id, payload={**HUMAN, "userAgent": agent},
                 detail="https://example.com/x" if kind is EventType.CLICKED else None)


def api_figures(engine, key_id: int, topic: str) -> dict:
    """What GET /v1/topics/{topic} answers, in the dashboard's measures."""
    with engine.connect() as conn:
        stats, summary = topic_stats(conn, key_id, topic), topic_summary(conn, key_id, topic)
    return {"sent": stats["sent"], "delivered": stats["delivered"], "bounced": stats["bounced"],
            "hard_bounced": stats["hardBounced"], "complained": stats["complained"],
            "opened": stats["opens"]["unique"], "clicked": stats["clicks"]["unique"],
            "failed": summary["status"].get("failed", 0)}


def dashboard(engine, window: str, key_id: int | None = None, topic: str | None = None) -> dict:
    with engine.connect() as conn:
        return traffic(conn, WINDOWS[window], datetime.now(UTC), key_id, topic).totals


def test_a_topics_figures_equal_the_apis_however_events_arrive(engine, api_key):
    key = api_key[0].id
    ids = queued(engine, key, 10, "news")
    outcome(engine, ids[:7])
    outcome(engine, [ids[7]], OutcomeKind.FAILED)
    outcome(engine, [ids[8]], OutcomeKind.RETRY, max_attempts=1)  # retries spent: failed
    record_events(engine, EventBatch((
        ses("Delivery", ids[0], "d0"), ses("Delivery", ids[0], "d0-cc"),  # two recipients
        ses("SoftBounce", ids[1], "b1"), ses("SoftBounce", ids[2], "b2"),
        ses("Complaint", ids[3], "c3"), ses("Reject", ids[4], "r4"),
        # An SES event before the outcome naming its message: an orphan, adopted later.
        ses("Delivery", ids[9], "d9"),
    )))
    record_events(engine, EventBatch((ses("HardBounce", ids[1], "b1-hard"),
                                      ses("Delivery", ids[0], "d0"))))  # a replay
    record_events(engine, EventBatch((
        hit(EventType.OPENED, ids[0]), hit(EventType.OPENED, ids[0]),
        hit(EventType.OPENED, ids[5], agent=""),  # no user agent: a machine's
        hit(EventType.CLICKED, ids[6]), hit(EventType.OPENED, ids[6]))))
    record_events(engine, EventBatch((hit(EventType.OPENED, ids[0]),)))
    outcome(engine, [ids[9]])
    # Retention prunes the events of final messages into event_tallies; a later open of a
    # message whose opens were pruned is not its first.
    with engine.begin() as conn:
        conn.execute(text("UPDATE events SET occurred_at = now() - interval '1 day'"))
        assert prune_events(conn, cutoff=datetime.now(UTC) - timedelta(hours=1), limit=1000)
    record_events(engine, EventBatch((hit(EventType.OPENED, ids[0]),
                                      hit(EventType.CLICKED, ids[6]))))

    expected = api_figures(engine, key, "news")
    assert expected == {"sent": 8, "delivered": 2, "bounced": 2, "hard_bounced": 1,
                        "complained": 1, "opened": 2, "clicked": 1, "failed": 3}
    for window in WINDOWS:
        assert dashboard(engine, window, key, "news") == expected, window
        assert dashboard(engine, window, key) == expected, window  # its only topic
    with engine.connect() as conn:
        assert active_topics(conn, datetime.now(UTC) - timedelta(days=30)) == ["news"]
        day = traffic(conn, WINDOWS["24h"], datetime.now(UTC), key, "news")
    assert day.soft_bounced == 1 and day.rate("bounced") == 2 / 8


def test_the_rollups_count_per_key_and_topic_and_minutes_match_hours(engine, api_key):
    key = api_key[0].id
    with engine.begin() as conn:
        other = create_key(conn, "other", [])[0].id
    outcome(engine, queued(engine, key, 3, "a"))
    outcome(engine, queued(engine, key, 2, "b"))
    outcome(engine, queued(engine, other, 4, "a"))
    assert dashboard(engine, "24h")["sent"] == 9
    assert dashboard(engine, "24h", key)["sent"] == 5
    assert dashboard(engine, "24h", topic="a")["sent"] == 7
    assert dashboard(engine, "1h", other, "a")["sent"] == 4
    with engine.connect() as conn:
        since = WINDOWS["24h"].since(datetime.now(UTC))
        assert sorted(active_topics(conn, since, key)) == ["a", "b"]
        for table in (traffic_minutes, traffic_hours, traffic_key_hours):
            assert conn.execute(select(*(table.c[m] for m in MEASURES))).all()
        sums = [conn.execute(text(f"SELECT sum(sent) FROM {table}")).scalar_one()
                for table in ("traffic_minutes", "traffic_hours", "traffic_key_hours")]
    assert sums == [9, 9, 9]


def test_a_window_counts_from_its_first_bucket(engine, api_key):
    key = api_key[0].id
    ids = queued(engine, key, 2, "t")
    outcome(engine, ids)
    with engine.begin() as conn:  # one send was two hours ago
        for table, topic, named in (("traffic_minutes", ", topic_id", ", 't'"),
                                    ("traffic_hours", ", topic_id", ", 't'"),
                                    ("traffic_key_hours", "", "")):
            conn.execute(text(f"UPDATE {table} SET sent = 1"))
            conn.execute(text(
                f"INSERT INTO {table} (at, api_key_id{topic}, sent) VALUES "
                f"(date_trunc('hour', now()) - interval '2 hours', :k{named}, 1)"), {"k": key})
    assert dashboard(engine, "1h")["sent"] == 1
    assert dashboard(engine, "24h")["sent"] == 2
    now = datetime(2026, 6, 1, 10, 17, 30, tzinfo=UTC)
    assert WINDOWS["1h"].since(now) == datetime(2026, 6, 1, 9, 18, tzinfo=UTC)
    assert WINDOWS["24h"].since(now) == datetime(2026, 5, 31, 11, 0, tzinfo=UTC)
    assert WINDOWS["30d"].since(now) == datetime(2026, 5, 2, 12, 0, tzinfo=UTC)


def test_two_recorder_threads_count_a_messages_first_open_once(engine, api_key):
    [message_id] = queued(engine, api_key[0].id, 1, "t")
    outcome(engine, [message_id])
    with engine.begin() as conn:
        insert_events(conn, [hit(EventType.OPENED, message_id)])
        # The other thread's open is stored beside this one's, then waits for the count.
        other = threading.Thread(target=record_events, args=(
            engine, EventBatch((hit(EventType.OPENED, message_id),))))
        other.start()
        time.sleep(0.5)
        assert other.is_alive()
    other.join(10)
    with engine.connect() as conn:
        opens = conn.execute(text("SELECT count(*) FROM events WHERE type = 'opened'")
                             ).scalar_one()
    assert opens == 2
    assert dashboard(engine, "1h")["opened"] == 1


def test_minutes_older_than_two_days_are_pruned_and_hours_kept(engine, api_key):
    outcome(engine, queued(engine, api_key[0].id, 1, "t"))
    with engine.begin() as conn:
        assert prune_minutes(conn, datetime.now(UTC) + timedelta(days=1)) == 0
        assert prune_minutes(conn, datetime.now(UTC) + timedelta(days=3)) == 1
        assert conn.execute(text("SELECT count(*) FROM traffic_hours")).scalar_one() == 1


def test_the_migration_fills_the_rollups_from_what_is_stored(fresh_database):
    url = fresh_database()
    upgrade(url, "0019")
    engine = make_engine(url, pool_size=1)
    try:
        with engine.begin() as conn:
            key = conn.execute(text("INSERT INTO api_keys (name, key_hash, key_prefix) VALUES "
                                    "('k', 'h', 'p') RETURNING id")).scalar_one()
            content = conn.execute(text("INSERT INTO contents (api_key_id, subject, html) "
                                        "VALUES (:k, 's', 'h') RETURNING id"), {"k": key}
                                   ).scalar_one()
            ids = conn.execute(text(
                "INSERT INTO messages (api_key_id, content_id, topic_id, from_addr, to_addr, "
                "state, sent_at, updated_at) SELECT :k, :c, 't', 'f@example.com', "
                "'r' || i || '@example.com', CASE WHEN i = 5 THEN 'failed' ELSE 'delivered' END,"
                " CASE WHEN i < 5 THEN now() - make_interval(days => i) END, now() "
                "FROM generate_series(1, 6) i RETURNING id"), {"k": key, "c": content}
            ).scalars().all()
            conn.execute(text(
                "INSERT INTO events (message_id, type, occurred_at, detail, machine) VALUES "
                "(:a, 'delivered', now(), NULL, false), (:a, 'delivered', now(), NULL, false), "
                "(:b, 'bounced', now(), 'soft', false), (:b, 'bounced', now(), 'hard', false), "
                "(:c, 'opened', now(), NULL, true), (:a, 'opened', now(), NULL, false), "
                "(:a, 'clicked', now(), 'u', true)"), {"a": ids[0], "b": ids[1], "c": ids[2]})
            conn.execute(text("INSERT INTO event_tallies (message_id, type, hard, machine, n) "
                              "VALUES (:d, 'opened', false, false, 2), "
                              "(:d, 'complained', false, false, 1)"), {"d": ids[3]})
        upgrade(url, "0020")
        expected = api_figures(engine, key, "t")
        assert expected == {"sent": 4, "delivered": 1, "bounced": 1, "hard_bounced": 1,
                            "complained": 1, "opened": 2, "clicked": 0, "failed": 1}
        assert dashboard(engine, "30d", key, "t") == expected
        assert dashboard(engine, "30d", key) == expected  # every topic: traffic_key_hours
        with engine.connect() as conn:  # minutes for the last two days only
            assert conn.execute(text("SELECT sum(sent) FROM traffic_minutes")).scalar_one() == 1
    finally:
        engine.dispose()
    upgrade(url)


def test_the_schedulers_job_prunes_old_minutes(engine, api_key):
    outcome(engine, queued(engine, api_key[0].id, 1, "t"))
    with engine.begin() as conn:
        conn.execute(text("UPDATE traffic_minutes SET at = at - interval '3 days'"))
    assert prune_traffic_minutes(engine) == 1
