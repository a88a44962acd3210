"""The console's message search: an address, a domain, a prefix, an id; one key's only."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from shared.db.keys import create_key
from shared.db.message_search import (
    Found,
    Match,
    Query,
    read_query,
    search_messages,
    search_statement,
)
from tests.support.stored_messages import store_messages

ADDRESSES = [
    "Hong.Gildong@Example.com", "hong2@other.org", "ahong@example.com", "kim@EXAMPLE.COM",
    "lee@mail.example.com", "park@myexample.com", "hong.gildong@example.com.au",
    "a_b@wild.example", "axb@wild.example", "a%b@wild.example", "abc@wild.example",
    "a\\b@wild.example", "a\\\\b@wild.example",
]


@pytest.fixture
def key_id(engine, api_key) -> int:
    store_messages(engine, api_key[0].id, ADDRESSES)
    return api_key[0].id


def found(engine, key_id: int, typed: str, **kwargs) -> list[str]:
    with engine.connect() as conn:
        return [m["to_addr"] for m in search_messages(conn, key_id, typed, **kwargs).messages]


@pytest.mark.parametrize(("typed", "query"), [
    ("  hong ", Query("hong", Match.PREFIX)),
    ("hong@exa", Query("hong@exa", Match.PREFIX)),
    ("Hong@Example.com", Query("Hong@Example.com", Match.ADDRESS)),
    ("@example.com", Query("example.com", Match.DOMAIN)),
    ("@localhost", Query("localhost", Match.DOMAIN)),
    ("example.com", Query("example.com", Match.DOMAIN_OR_PREFIX)),
    ("hong.gildong", Query("hong.gildong", Match.DOMAIN_OR_PREFIX)),
    ("example.", Query("example.", Match.PREFIX)),
    ("a b.com", Query("a b.com", Match.PREFIX)),
])
def test_what_is_typed_reads_as_an_address_a_domain_or_a_prefix(typed, query):
    assert read_query(typed) == query


def test_a_prefix_finds_addresses_that_begin_with_it_whatever_their_case(engine, key_id):
    assert found(engine, key_id, "hong") == [
        "hong.gildong@example.com.au", "hong2@other.org", "Hong.Gildong@Example.com"]
    assert found(engine, key_id, "HONG2") == ["hong2@other.org"]


@pytest.mark.parametrize("typed", ["example.com", "@example.com", "@EXAMPLE.com", "Example.COM"])
def test_a_domain_finds_its_recipients_not_its_subdomains_nor_lookalikes(engine, key_id, typed):
    assert found(engine, key_id, typed) == [
        "kim@EXAMPLE.COM", "ahong@example.com", "Hong.Gildong@Example.com"]


def test_a_bare_dotted_word_is_also_the_start_of_an_address(engine, key_id):
    assert found(engine, key_id, "hong.gildong") == [
        "hong.gildong@example.com.au", "Hong.Gildong@Example.com"]


def test_a_full_address_finds_that_recipient_only(engine, key_id):
    assert found(engine, key_id, "HONG.GILDONG@example.com") == ["Hong.Gildong@Example.com"]


@pytest.mark.parametrize(("typed", "addresses"), [
    ("a_", ["a_b@wild.example"]),
    ("a%", ["a%b@wild.example"]),
    ("a\\b", ["a\\b@wild.example"]),
    ("a\\\\", ["a\\\\b@wild.example"]),
    ("%", []),
    ("_", []),
])
def test_like_wildcards_in_the_query_are_taken_literally(engine, key_id, typed, addresses):
    assert found(engine, key_id, typed) == addresses


def test_a_message_id_and_a_provider_id_are_found(engine, key_id):
    [message_id] = store_messages(engine, key_id, ["x@ids.example"], provider_message_id="0100-abc")
    assert found(engine, key_id, str(message_id)) == ["x@ids.example"]
    assert found(engine, key_id, "0100-abc") == ["x@ids.example"]
    assert found(engine, key_id, "1" * 30) == []  # longer than any id: not an error
    assert found(engine, key_id, "²") == found(engine, key_id, "١") == []  # digits, not ids


def test_another_keys_messages_are_never_found(engine, key_id):
    with engine.begin() as conn:
        other, _ = create_key(conn, "other", [])
    [theirs] = store_messages(engine, other.id, ["hong@example.com"], provider_message_id="theirs")
    for typed in ("hong", "example.com", "@example.com", "hong@example.com", "theirs",
                  str(theirs)):
        assert "hong@example.com" not in found(engine, key_id, typed), typed
    assert found(engine, other.id, "hong") == ["hong@example.com"]


def test_the_newest_are_shown_and_more_is_said_when_more_match(engine, key_id):
    ids = store_messages(engine, key_id, [f"n{i}@page.example" for i in range(5)])
    with engine.connect() as conn:
        page = search_messages(conn, key_id, "page.example", limit=3)
        whole = search_messages(conn, key_id, "page.example", limit=5)
    assert [m["id"] for m in page.messages] == ids[:1:-1] and page.more
    assert len(whole.messages) == 5 and not whole.more


def test_a_topic_narrows_the_search(engine, key_id):
    store_messages(engine, key_id, ["hong@example.com"], topic="june")
    assert found(engine, key_id, "example.com", topic_id="june") == ["hong@example.com"]


def test_nothing_typed_finds_nothing(engine, key_id):
    with engine.connect() as conn:
        assert search_messages(conn, key_id, "   ") == Found([], False)


def _indexes_read(engine, key_id: int, typed: str) -> set[str]:
    """The indexes (or "Seq Scan") PostgreSQL reads messages by when searching ``typed``."""
    statement = search_statement(key_id, read_query(typed), None, 101)
    with engine.connect() as conn:
        compiled = statement.compile(conn)
        plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + str(compiled),
                                    compiled.params).scalar_one()[0]["Plan"]

    def names(node: dict) -> set[str]:
        own = {node["Index Name"]} if "Index Name" in node else set()
        if node["Node Type"] == "Seq Scan":
            own.add("Seq Scan")
        return own.union(*(names(child) for child in node.get("Plans", [])))
    return names(plan)


@pytest.mark.parametrize(("typed", "index"), [
    ("hong", "messages_recipient_prefix"),
    ("hong@example.com", "messages_recipient_prefix"),
    ("@example.com", "messages_recipient_domain"),
    ("example.com", "messages_recipient_domain"),
])
def test_each_way_of_matching_reads_its_index(engine, key_id, typed, index):
    store_messages(engine, key_id, [f"f{i}@filler{i % 20}.example" for i in range(5000)])
    with engine.begin() as conn:
        conn.execute(text("ANALYZE messages"))
    read = _indexes_read(engine, key_id, typed)
    assert index in read and "Seq Scan" not in read, read
