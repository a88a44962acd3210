"""SES's account-level suppression list read over HTTP (the suite's scripted SES: moto's sesv2
has no ListSuppressedDestinations), page after page and on from where the last read
stopped: each address is suppressed for every active key with SES's reason, and a message
to one is not tried."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from services.scheduler.ses_suppressions import OVERLAP, SOURCE, import_account_suppressions
from shared.db.keys import create_key, revoke_key
from shared.db.messages import insert_messages
from shared.db.suppressions import import_cursor, suppress_new_messages
from shared.intake.requests import MessageRequest
from shared.settings import load_settings
from shared.states import MessageState
from shared.transports.ses import ses_client

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def entry(address: str, reason: str, at: datetime) -> dict:
    return {"EmailAddress": address, "Reason": reason, "LastUpdateTime": at.timestamp()}


def listed(engine) -> set[tuple]:
    with engine.connect() as conn:
        return {tuple(r) for r in conn.execute(text(
            "SELECT api_key_id, address, reason FROM suppressions"))}


def run(engine, at: datetime):
    client = ses_client(load_settings(database_url="postgresql://unused/db",
                                      aws_region="us-east-1", _env_file=None))
    return import_account_suppressions(client, engine, page_pause=0, now=lambda: at)


def test_every_address_on_ses_list_is_suppressed_for_every_active_key_with_its_reason(
        engine, fake_ses):
    with engine.begin() as conn:
        shop, _ = create_key(conn, "shop", [])
        news, _ = create_key(conn, "news", [])
        old, _ = create_key(conn, "old", [])
        revoke_key(conn, old.id)
        conn.execute(text("DELETE FROM import_cursors"))
    fake_ses.reads.suppressed_page = 2  # three pages
    fake_ses.reads.suppressed = [
        entry("Gone@Example.com", "BOUNCE", T0), entry("angry@example.com", "COMPLAINT", T0),
        entry("full@example.com", "BOUNCE", T0 + timedelta(minutes=1)),
        entry("x@example.com", "BOUNCE", T0 + timedelta(minutes=2)),
        entry("y@example.com", "COMPLAINT", T0 + timedelta(minutes=3))]
    assert run(engine, T0 + timedelta(hours=1)) == 10
    assert fake_ses.reads.calls.count("ListSuppressedDestinations") == 3
    reasons = {"gone@example.com": "bounce", "angry@example.com": "complaint",
               "full@example.com": "bounce", "x@example.com": "bounce",
               "y@example.com": "complaint"}
    assert listed(engine) == {(k.id, a, r) for k in (shop, news) for a, r in reasons.items()}
    with engine.connect() as conn:
        assert import_cursor(conn, SOURCE) == T0 + timedelta(hours=1) - OVERLAP
    # A message to one of them ends suppressed at intake, never tried.
    item = MessageRequest(topic_id="t", from_addr="s@example.com",
                          recipients=("gone@example.com",), subject="s", html="<p>h</p>")
    with engine.begin() as conn:
        created = insert_messages(conn, shop.id, [item], queue_timeout=300)
        (message,) = suppress_new_messages(conn, created)  # intake's own step
    assert message.state == MessageState.SUPPRESSED


def test_the_next_read_asks_only_for_what_ses_updated_since_and_a_failure_moves_nothing(
        engine, fake_ses):
    with engine.begin() as conn:
        key, _ = create_key(conn, "shop", [])
        conn.execute(text("DELETE FROM import_cursors"))
    fake_ses.reads.suppressed = [entry("first@example.com", "BOUNCE", T0)]
    first_run = T0 + timedelta(hours=1)
    assert run(engine, first_run) == 1
    # Listed before the cursor (SES would not name it again), and one since.
    fake_ses.reads.suppressed += [
        entry("before@example.com", "BOUNCE", first_run - timedelta(hours=2)),
        entry("since@example.com", "COMPLAINT", first_run + timedelta(minutes=10))]
    fake_ses.reads.refuse("ListSuppressedDestinations", 429, "TooManyRequestsException")
    assert run(engine, first_run + timedelta(hours=1)) is None
    with engine.connect() as conn:
        assert import_cursor(conn, SOURCE) == first_run - OVERLAP
    fake_ses.reads.refused.clear()
    assert run(engine, first_run + timedelta(hours=1)) == 1
    assert {a for _, a, _ in listed(engine)} == {"first@example.com", "since@example.com"}
