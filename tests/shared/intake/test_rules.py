"""The intake rules every door shares: sender, one copy per address, enqueue after commit."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from shared.broker.payloads import decode_send_batch
from shared.broker.queues import SEND_QUEUE
from shared.db.keys import create_key
from shared.db.messages import insert_messages
from shared.errors import Forbidden, InvalidRequest
from shared.intake.addresses import NamedAddress
from shared.intake.requests import MessageRequest
from shared.intake.rules import intake, sender_for, unique_addresses
from tests.support.pump import drain


def _store(conn, key_id: int) -> list[int]:
    item = MessageRequest(topic_id="t", recipients=["a@example.com"], subject="s", html="h",
                          from_addr="s@example.com")
    return [m.id for m in insert_messages(conn, key_id, [item], queue_timeout=300)]


def _sent_ids(redis) -> list[int]:
    return [i for batch in drain(redis, SEND_QUEUE, decode_send_batch) for i in batch.ids]


def test_due_ids_are_enqueued_only_after_the_commit(engine, broker, redis, settings, api_key):
    with intake(engine, broker, settings) as batch:
        ids = _store(batch.conn, api_key[0].id)
        batch.due(ids)
        assert redis.llen(f"dramatiq:{SEND_QUEUE}") == 0
    assert _sent_ids(redis) == ids


def test_a_failed_intake_stores_and_enqueues_nothing(engine, broker, redis, settings, api_key):
    with pytest.raises(RuntimeError), intake(engine, broker, settings) as batch:
        batch.due(_store(batch.conn, api_key[0].id))
        raise RuntimeError("refused after the insert")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM messages")).scalar_one() == 0
    assert _sent_ids(redis) == []


def test_the_same_address_is_kept_once_in_its_first_group():
    def named(*addresses: str) -> list[NamedAddress]:
        return [NamedAddress(a) for a in addresses]

    assert unique_addresses(named("a@x.com", "B@x.com", "A@X.com"),
                            named("b@x.com", "c@x.com")) == (
        tuple(named("a@x.com", "B@x.com")), tuple(named("c@x.com")))


def test_an_address_given_twice_with_names_keeps_its_first_name():
    first, again = NamedAddress("a@x.com", "홍길동"), NamedAddress("A@x.com", "Hong")
    assert unique_addresses([first, again]) == ((first,),)


def test_sender_defaults_and_must_be_in_the_keys_domains(engine, settings):
    with engine.begin() as conn:
        key, _ = create_key(conn, "narrow", ["example.com"])
    assert sender_for(key, None, settings) == settings.default_from
    with pytest.raises(Forbidden) as refused:
        sender_for(key, "me@elsewhere.org", settings, field="messages[0].from")
    assert refused.value.field == "messages[0].from"
    with pytest.raises(InvalidRequest):
        sender_for(key, None, settings.model_copy(update={"default_from": None}))
