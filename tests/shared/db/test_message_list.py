"""The console's message list: every key's messages newest first, each filter alone and
together, keyset pages that neither repeat nor skip, a time window, and the indexes read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from shared.db.keys import create_key
from shared.db.message_list import (
    MessageFilter,
    _ids,
    count_matching,
    list_messages,
    matching_ids,
)
from tests.support.stored_messages import store_messages


def _keys(engine, api_key):
    with engine.begin() as conn:
        other, _ = create_key(conn, "other", [])
    return api_key[0].id, other.id


def _ids_of(page) -> list[int]:
    return [m.id for m in page.messages]


def test_every_key_and_door_newest_first_with_subject_and_key_name(engine, api_key):
    mine, other = _keys(engine, api_key)
    first = store_messages(engine, mine, ["a@naver.com"], topic="t1")
    second = store_messages(engine, other, ["b@gmail.com"], topic="t2", source="biz",
                            to_name="김민수")
    with engine.connect() as conn:
        page = list_messages(conn, MessageFilter())
    assert _ids_of(page) == [*second, *first]
    newest = page.messages[0]
    assert (newest.key_name, newest.source, newest.to_name, newest.subject) == \
        ("other", "biz", "김민수", "s")
    assert page.next_before is None


def test_each_filter_narrows_the_list(engine, api_key):
    mine, other = _keys(engine, api_key)
    unknown = store_messages(engine, mine, ["kim.minsu@daum.net"], topic="alerts",
                             state="unknown")
    failed = store_messages(engine, other, ["lee@corp.example"], topic="alerts",
                            state="failed")
    naver = store_messages(engine, mine, ["kim.jiwoo@naver.com", "park@Naver.com"],
                           topic="news", state="delivered")
    fureweb = store_messages(engine, other, ["kim.yuna@naver.com"], topic="fureweb",
                             source="fureweb", state="sent")

    def found(**wanted) -> set[int]:
        with engine.connect() as conn:
            return set(_ids_of(list_messages(conn, MessageFilter(**wanted))))

    assert found(state="unknown") == set(unknown)
    assert found(state="failed") == set(failed)
    assert found(topic_id="alerts") == {*unknown, *failed}
    assert found(api_key_id=other) == {*failed, *fureweb}
    assert found(source="fureweb") == set(fureweb)
    # A recipient as the results' search reads it, across every key unless one is chosen.
    assert found(recipient="naver.com") == {*naver, *fureweb}
    assert found(recipient="@NAVER.com", api_key_id=other) == set(fureweb)
    assert found(recipient="kim.") == {unknown[0], naver[0], fureweb[0]}
    assert found(recipient="kim.", topic_id="news") == {naver[0]}
    assert found(recipient="kim.", state="unknown") == set(unknown)
    assert found(recipient="lee@corp.example") == set(failed)
    assert found(recipient="nobody@nowhere.example") == set()
    assert found(state="failed", topic_id="news") == set()


def test_pages_follow_each_other_without_repeating_or_skipping(engine, api_key):
    ids = store_messages(engine, api_key[0].id, [f"p{n}@example.com" for n in range(7)],
                         state="failed")
    store_messages(engine, api_key[0].id, ["other@example.com"], state="sent")
    seen, before = [], None
    with engine.connect() as conn:
        while True:
            page = list_messages(conn, MessageFilter(state="failed"), before=before, limit=3)
            seen.extend(_ids_of(page))
            if page.next_before is None:
                break
            before = page.next_before
        assert count_matching(conn, MessageFilter(state="failed")) == 7
        assert count_matching(conn, MessageFilter(state="failed"), upto=ids[3]) == 4
        assert matching_ids(conn, MessageFilter(state="failed"), upto=ids[3], limit=2) == \
            [ids[3], ids[2]]
    assert seen == sorted(ids, reverse=True)


def test_a_time_window_holds_the_messages_stored_in_it(engine, api_key):
    now = datetime.now(UTC)
    ids = store_messages(engine, api_key[0].id, ["old@example.com", "mid@example.com",
                                                 "new@example.com"])
    with engine.begin() as conn:
        for message_id, age in zip(ids, (timedelta(days=3), timedelta(hours=5),
                                         timedelta(minutes=1)), strict=True):
            conn.execute(text("UPDATE messages SET created_at = :at WHERE id = :id"),
                         {"at": now - age, "id": message_id})

    def found(**wanted) -> list[int]:
        with engine.connect() as conn:
            return _ids_of(list_messages(conn, MessageFilter(**wanted)))

    assert found(since=now - timedelta(hours=1)) == [ids[2]]
    assert found(since=now - timedelta(days=1)) == [ids[2], ids[1]]
    assert found(until=now - timedelta(days=1)) == [ids[0]]
    assert found(since=now - timedelta(days=4), until=now - timedelta(hours=1)) == \
        [ids[1], ids[0]]
    assert found(since=now + timedelta(minutes=1)) == []
    assert found(until=now - timedelta(days=5)) == []


def _plan(conn, wanted: MessageFilter) -> str:
    statement = _ids(conn, wanted, None, None, 51)
    compiled = statement.compile(conn)
    return "\n".join(row[0] for row in conn.exec_driver_sql(
        "EXPLAIN " + str(compiled), compiled.params))


def test_a_state_and_a_topic_are_read_from_their_own_index(engine, api_key):
    store_messages(engine, api_key[0].id, [f"r{n}@example.com" for n in range(200)],
                   state="delivered")
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE messages")
        # However few they are and however old: the newest of a state or a topic are the
        # end of their index's range, never a walk back through the whole table.
        assert "messages_state_id" in _plan(conn, MessageFilter(state="unknown"))
        assert "messages_topic_id" in _plan(conn, MessageFilter(topic_id="rare"))
        assert "messages_created_id" in "\n".join(row[0] for row in conn.exec_driver_sql(
            "EXPLAIN SELECT min(id) FROM (SELECT id FROM messages WHERE created_at >= now() "
            "ORDER BY created_at, id LIMIT 1000) w"))
