"""The audit log keeps what happened and cannot be rewritten through mailpipe."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from shared.db.audit import Actor, entries, record


def test_entries_are_recorded_and_found_newest_first(engine):
    admin = Actor("console", "admin@corp.example", "192.0.2.7")
    with engine.begin() as conn:
        record(conn, admin, "key.create", "key 7", after={"name": "shop", "domains": []})
        record(conn, Actor.cli(), "suppression.remove", "a@example.com",
               before={"reason": "bounce"})
        record(conn, admin, "key.revoke", "key 7", before={"revoked": False},
               after={"revoked": True})
    with engine.connect() as conn:
        keys = entries(conn, action="key.")
        assert [e.action for e in keys[:2]] == ["key.revoke", "key.create"]
        assert keys[0].address == "192.0.2.7" and keys[0].after == {"revoked": True}
        assert entries(conn, action="suppression.remove")[0].actor_kind == "cli"
        assert all(e.actor == "admin@corp.example"
                   for e in entries(conn, actor="admin@corp"))


def test_an_entry_rolled_back_with_its_change_is_not_kept(engine):
    with pytest.raises(RuntimeError), engine.begin() as conn:
        record(conn, Actor.cli(), "messages.requeue", "rolled back")
        raise RuntimeError("the change failed")
    with engine.connect() as conn:
        assert not [e for e in entries(conn) if e.target == "rolled back"]


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET actor = 'someone else'",
    "DELETE FROM audit_log",
    "TRUNCATE audit_log",
])
def test_no_one_can_edit_or_delete_entries(engine, statement):
    with engine.begin() as conn:
        record(conn, Actor.cli(), "key.create", "key 1")
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement))
