"""messages.api_key_id and content_id stay valid without per-row foreign keys (migration 0008)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from shared.db.keys import create_key
from tests.scheduler.test_dispatch import make_messages

INSERT = text(
    """INSERT INTO messages (api_key_id, content_id, topic_id, from_addr, to_addr)
       SELECT :key, :content, 't', 's@example.com', 'r' || g || '@example.com'
         FROM generate_series(1, 3) g"""
)


def a_content_id(engine, key_id: int) -> int:
    [message_id] = make_messages(engine, key_id, 1)
    with engine.connect() as conn:
        return conn.execute(text("SELECT content_id FROM messages WHERE id = :m"),
                            {"m": message_id}).scalar_one()


def message_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM messages")).scalar_one()


@pytest.mark.parametrize("missing", ["api key", "content"])
def test_inserting_messages_with_a_missing_reference_fails_and_inserts_nothing(
    engine, api_key, missing
):
    key_id = api_key[0].id
    content_id = a_content_id(engine, key_id)
    before = message_count(engine)
    params = {"key": key_id + 1000 if missing == "api key" else key_id,
              "content": content_id + 1000 if missing == "content" else content_id}
    with pytest.raises(IntegrityError, match="do not exist") as caught:
        with engine.begin() as conn:
            conn.execute(INSERT, params)
    assert caught.value.orig.sqlstate == "23503"  # foreign_key_violation, as a foreign key says
    assert message_count(engine) == before


def test_inserting_messages_with_valid_references_succeeds(engine, api_key):
    key_id = api_key[0].id
    content_id = a_content_id(engine, key_id)
    with engine.begin() as conn:
        assert conn.execute(INSERT, {"key": key_id, "content": content_id}).rowcount == 3


@pytest.mark.parametrize("table", ["api_keys", "contents"])
def test_a_referenced_key_or_content_cannot_be_deleted(engine, api_key, table):
    content_id = a_content_id(engine, api_key[0].id)
    with engine.begin() as conn:
        # A key nothing but messages refers to (the content is the first key's).
        other, _ = create_key(conn, "other", [])
        conn.execute(INSERT, {"key": other.id, "content": content_id})
    target = other.id if table == "api_keys" else content_id
    with pytest.raises(IntegrityError, match="referenced by messages cannot be deleted"):
        with engine.begin() as conn:
            conn.execute(text(f"DELETE FROM {table} WHERE id = :id"), {"id": target})
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {table} WHERE id = :id"),
                            {"id": target}).scalar_one() == 1


def test_an_unreferenced_content_can_be_deleted(engine, api_key):
    key_id = api_key[0].id
    with engine.begin() as conn:
        content_id = conn.execute(
            text("INSERT INTO contents (api_key_id, subject, html) VALUES (:k, 's', 'h') "
                 "RETURNING id"), {"k": key_id}).scalar_one()
        assert conn.execute(text("DELETE FROM contents WHERE id = :id"),
                            {"id": content_id}).rowcount == 1
