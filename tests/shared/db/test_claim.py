"""The sender's claim returns everything a send needs from one statement.

(Races between two claimers: tests/sender/test_send_batch.py.)
"""

from __future__ import annotations

import pytest
from sqlalchemy import event

from shared.db.claims import ContentCache, claim_for_sending
from shared.db.envelopes import insert_envelope
from shared.db.messages import insert_messages
from shared.db.relays import save_relay
from shared.db.suppressions import add_suppressions
from shared.intake.attachments import Attachment
from shared.intake.requests import EnvelopeRequest, MessageRequest

PDF = Attachment("report.pdf", "application/pdf", b"%PDF-1.4 report")


def claim(engine, ids: list[int], contents: ContentCache | None = None
          ) -> tuple[list, list[str]]:
    """The claimed messages, and the statements the claim sent to PostgreSQL."""
    statements: list[str] = []
    with engine.begin() as conn:
        event.listen(conn, "before_cursor_execute",
                     lambda _c, _cur, statement, *_: statements.append(statement))
        claimed = claim_for_sending(conn, ids, worker_id="w", lease=60, contents=contents)
    return claimed, statements


def envelope(engine, key_id: int, relay_id: int | None = None) -> int:
    item = EnvelopeRequest(
        topic_id="t", from_addr="s@example.com", to=("to@example.com", "To2@Example.com"),
        cc=("cc@example.com", "Gone@Example.com"), bcc=("bcc@example.com",),
        subject="s", html="<p>h</p>", text=None, reply_to=None,
        headers=(("In-Reply-To", "<a@example.com>"),), attachments=(),
        mime_message_id="<m@example.com>", source="biz")
    with engine.begin() as conn:
        return insert_envelope(conn, key_id, item, relay_id=relay_id, queue_timeout=300)[0]


def test_a_compat_message_is_claimed_whole_its_content_read_once(engine, api_key):
    key_id = api_key[0].id
    with engine.begin() as conn:
        relay_id = save_relay(conn, key_id, "smtps://mail.example.com:465", "u", "secret")
        add_suppressions(conn, key_id, ["gone@example.com"], "manual")
    message_id = envelope(engine, key_id, relay_id=relay_id)

    [message], statements = claim(engine, [message_id])

    assert len(statements) == 2  # the claim, then its content
    assert (message.to_addr, message.extra_to, message.cc, message.bcc) == (
        "to@example.com", ("To2@Example.com",), ("cc@example.com",), ("bcc@example.com",))
    assert message.headers == (("In-Reply-To", "<a@example.com>"),)
    assert message.mime_message_id == "<m@example.com>"
    assert (message.relay.id, message.relay.url, message.relay.username) == (
        relay_id, "smtps://mail.example.com:465", "u")
    assert (message.tracking, message.bulk, message.variables, message.attachments) == (
        False, False, None, ())


def test_attachments_take_one_more_query_for_the_whole_batch(engine, api_key):
    key_id = api_key[0].id
    item = MessageRequest(topic_id="t", from_addr="s@example.com",
                          recipients=["a@example.com", "b@example.com"], subject="s",
                          html="<p>h</p>", attachments=(PDF,))
    with engine.begin() as conn:
        ids = [m.id for m in insert_messages(conn, key_id, [item], queue_timeout=300)]

    claimed, statements = claim(engine, ids)

    assert len(statements) == 3  # the claim, the content, its files
    assert [m.attachments for m in claimed] == [(PDF,), (PDF,)]
    assert claimed[0].attachments[0].data is claimed[1].attachments[0].data  # held once


def test_a_templated_message_without_values_is_claimed_with_empty_values(engine, api_key):
    key_id = api_key[0].id
    plain = MessageRequest(topic_id="t", from_addr="s@example.com", recipients=["p@example.com"],
                           subject="s", html="<p>h</p>", tracking=True, bulk=True)
    templated = MessageRequest(
        topic_id="t", from_addr="s@example.com", recipients=["v@example.com", "n@example.com"],
        template_id=1,
    ).with_template(1, "{{name}}", "<p>{{name}}</p>", None,
                    {"v@example.com": '{"name": "Kim"}', "n@example.com": None})
    with engine.begin() as conn:
        ids = [m.id for m in insert_messages(conn, key_id, [plain, templated],
                                             queue_timeout=300)]

    claimed, _ = claim(engine, ids)

    assert [(m.variables, m.tracking, m.bulk) for m in claimed] == [
        (None, True, True), ({"name": "Kim"}, True, False), ({}, True, False)]


def plans(engine, statements) -> list[dict]:
    """PostgreSQL's plan of every statement ``statements(conn)`` sends (then rolled back)."""
    sent: list[tuple[str, dict]] = []
    with engine.connect() as conn:
        event.listen(conn, "before_cursor_execute",
                     lambda _c, _cur, statement, params, *_: sent.append((statement, params)))
        with conn.begin() as transaction:
            statements(conn)
            transaction.rollback()
    with engine.connect() as conn:
        cursor = conn.connection.cursor()
        found = []
        for statement, params in sent:
            cursor.execute("EXPLAIN (FORMAT JSON) " + statement, params)
            found.append(cursor.fetchone()[0][0]["Plan"])
        conn.rollback()
    return found


def messages_scans(plan: dict) -> set[str]:
    """How the plan reads ``messages``: index names, or the node type of other scans."""
    found = set()
    if plan.get("Relation Name") == "messages" and "Scan" in plan["Node Type"]:
        found.add(plan.get("Index Name", plan["Node Type"]))
    for child in plan.get("Plans", []):
        found |= messages_scans(child)
    return found


def test_statements_on_claimed_ids_read_them_by_primary_key_whatever_the_statistics(
        engine, api_key):
    from datetime import UTC, datetime

    from sqlalchemy import text

    from shared.broker.payloads import Outcome, OutcomeKind
    from shared.db.claims import release_claims, renew_claims
    from shared.db.outcomes import apply_outcomes
    from shared.db.suppressions import suppress_queued

    def post(count: int) -> list[int]:
        item = MessageRequest(topic_id="t", from_addr="s@example.com",
                              recipients=tuple(f"r{i}@example.com" for i in range(count)),
                              subject="s", html="<p>h</p>", text=None, reply_to=None)
        with engine.begin() as conn:
            return [m.id for m in insert_messages(conn, api_key[0].id, [item],
                                                  queue_timeout=300)]

    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE messages SET (autovacuum_enabled = off)"))
    try:
        # Statistics taken while every row was long sent, then a campaign's window queued.
        post(20_000)
        with engine.begin() as conn:
            conn.execute(text("UPDATE messages SET state = 'sent', sent_at = now()"))
            conn.execute(text("ANALYZE messages"))
        ids = post(5_000)[:50]
        now = datetime.now(UTC).timestamp()
        found = plans(engine, lambda conn: (
            suppress_queued(conn, ids),
            claim_for_sending(conn, ids, worker_id="w", lease=60),
            renew_claims(conn, [(i, 1) for i in ids], worker_id="w", seconds=60),
            release_claims(conn, [(i, 1) for i in ids], worker_id="w"),
            apply_outcomes(conn, tuple(Outcome(i, 1, OutcomeKind.SENT, now, "ses") for i in ids),
                           max_attempts=5)))
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE messages RESET (autovacuum_enabled)"))
    reading_messages = [scans for scans in map(messages_scans, found) if scans]
    assert reading_messages == [{"messages_pkey"}] * 5


def test_a_senders_later_claims_of_a_content_do_not_read_it_again(engine, api_key):
    item = MessageRequest(topic_id="t", from_addr="s@example.com",
                          recipients=[f"r{i}@example.com" for i in range(4)], subject="Hi",
                          html="<p>a newsletter</p>", tracking=True, bulk=True,
                          headers=(("X-Campaign", "june"),))
    with engine.begin() as conn:
        ids = [m.id for m in insert_messages(conn, api_key[0].id, [item], queue_timeout=300)]
    contents = ContentCache()

    first, read = claim(engine, ids[:2], contents)
    later, again = claim(engine, ids[2:], contents)

    assert (len(read), len(again)) == (2, 1)  # the claim alone, the second time
    assert [m.to_addr for m in first + later] == [f"r{i}@example.com" for i in range(4)]
    assert {(m.subject, m.html, m.headers, m.tracking, m.bulk) for m in first + later} == {
        ("Hi", "<p>a newsletter</p>", (("X-Campaign", "june"),), True, True)}


@pytest.mark.parametrize("limit", [{"size": 2}, {"max_chars": 2 * len("<p>h</p>")}])
def test_the_content_cache_keeps_at_most_its_size(engine, api_key, limit):
    items = [MessageRequest(topic_id="t", from_addr="s@example.com", recipients=["a@example.com"],
                            subject=f"s{i}", html="<p>h</p>") for i in range(3)]
    with engine.begin() as conn:
        ids = [m.id for m in insert_messages(conn, api_key[0].id, items, queue_timeout=300)]
    contents = ContentCache(**limit)  # room for two of them

    claimed, _ = claim(engine, ids, contents)  # three contents in one claim: all returned
    assert [m.subject for m in claimed] == ["s0", "s1", "s2"]

    def reads(content_keys: set) -> int:
        statements = []
        with engine.connect() as conn:
            event.listen(conn, "before_cursor_execute",
                         lambda _c, _cur, statement, *_: statements.append(statement))
            assert set(contents.parts(conn, content_keys)) == content_keys
        return len(statements)

    oldest, *newest = [m.content_key for m in claimed]
    assert reads(set(newest)) == 0  # the two last read are held
    assert reads({oldest}) == 1     # the first was dropped


def test_a_content_id_handed_out_again_is_not_mistaken_for_the_cached_one(engine, api_key):
    from sqlalchemy import text

    def post(subject: str) -> list[int]:
        item = MessageRequest(topic_id="t", from_addr="s@example.com",
                              recipients=["a@example.com"], subject=subject, html="<p>h</p>")
        with engine.begin() as conn:
            return [m.id for m in insert_messages(conn, api_key[0].id, [item],
                                                  queue_timeout=300)]

    contents = ContentCache()
    [first], _ = claim(engine, post("first"), contents)
    # The database emptied (or restored) under a running sender: the same content id
    # now names another content, stored later.
    [again] = post("second")
    with engine.begin() as conn:
        conn.execute(text("UPDATE contents SET subject = 'second', created_at = now() "
                          "+ interval '1 second' WHERE id = :old"), {"old": first.content_id})
        conn.execute(text("UPDATE messages SET content_id = :old WHERE id = :id"),
                     {"old": first.content_id, "id": again})
    [second], _ = claim(engine, [again], contents)
    assert first.subject == "first"
    assert (second.content_id, second.subject) == (first.content_id, "second")
