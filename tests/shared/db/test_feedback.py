"""The newest event SNS brought: found past the tracking hits stored after it, in one step
down its own index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from shared.db.feedback import NEWEST, newest_sns_event

AT = datetime(2026, 6, 1, 0, 30, tzinfo=UTC)


def store_events(engine, sns: int, tracking: int, start: int = 0) -> None:
    """``sns`` events from SNS one minute apart from ``AT``, then ``tracking`` opens."""
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO events (type, occurred_at, provider_message_id, sns_message_id) "
            "SELECT 'delivered', :at + make_interval(mins => n), 'ses-' || n, 'sns-' || n "
            "FROM generate_series(:start, :start + :sns - 1) AS n"),
            {"at": AT, "sns": sns, "start": start})
        conn.execute(text(
            "INSERT INTO events (type, occurred_at) SELECT 'opened', now() "
            "FROM generate_series(1, :n)"), {"n": tracking})


def test_none_before_any_event_came_through_sns(engine):
    store_events(engine, 0, 5)
    with engine.connect() as conn:
        assert newest_sns_event(conn) is None


def test_the_newest_sns_event_is_found_past_later_tracking_hits(engine):
    store_events(engine, 3, 50)
    with engine.connect() as conn:
        newest = newest_sns_event(conn)
    assert newest.type == "delivered" and newest.occurred_at == AT + timedelta(minutes=2)


def test_it_reads_its_partial_index_however_many_tracking_hits_followed(engine):
    store_events(engine, 2000, 20_000)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE events"))
        plan = conn.execute(text("EXPLAIN (FORMAT JSON) " + NEWEST.text)).scalar_one()[0]["Plan"]

    def nodes(node: dict) -> list[dict]:
        return [node, *(n for child in node.get("Plans", []) for n in nodes(child))]
    scans = [n for n in nodes(plan) if "Scan" in n["Node Type"]]
    assert [(n["Node Type"], n.get("Index Name")) for n in scans] == [
        ("Index Scan", "events_from_sns")]
