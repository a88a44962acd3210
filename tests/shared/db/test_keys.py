"""A key's settings: one set of rules for the console and ``mailpipe keys``; every change
audited with the change; ``last_used_at`` written at most once a minute."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from shared.db.audit import Actor, entries
from shared.db.keys import (
    KeySettings,
    change_key,
    create_key,
    get_key,
    note_use,
    revoke_key,
    used_recently,
)
from shared.errors import InvalidRequest

ADMIN = Actor("console", "admin@corp.example", "192.0.2.7")


def test_settings_are_stored_as_checked():
    checked = KeySettings("  shop  ", (" Shop.Example ", "한국.kr", "shop.example", " "),
                          5, 0.5).checked()
    assert checked == KeySettings("shop", ("shop.example", "xn--3e0b707e.kr"), 5.0, 0.5)


@pytest.mark.parametrize(("settings", "code", "field"), [
    (KeySettings(""), "invalid_key_name", "name"),
    (KeySettings("x" * 101), "invalid_key_name", "name"),
    (KeySettings("tab\there"), "invalid_key_name", "name"),
    (KeySettings("shop", ("localhost",)), "invalid_domain", "domains"),
    (KeySettings("shop", ("a@shop.example",)), "invalid_domain", "domains"),
    (KeySettings("shop", ("shop.example\n",) * 1 + ("-bad.example",)), "invalid_domain",
     "domains"),
    (KeySettings("shop", tuple(f"d{i}.example" for i in range(51))), "too_many_domains",
     "domains"),
    (KeySettings("shop", (), 0), "invalid_rate", "max_send_rate"),
    (KeySettings("shop", (), None, float("nan")), "invalid_rate", "intake_rate"),
    (KeySettings("shop", (), None, 1e9), "invalid_rate", "intake_rate"),
])
def test_settings_that_break_a_rule_are_refused_naming_the_field(settings, code, field):
    with pytest.raises(InvalidRequest) as refused:
        settings.checked()
    assert (refused.value.code, refused.value.field) == (code, field)


def test_a_refused_key_is_not_created(engine):
    with pytest.raises(InvalidRequest), engine.begin() as conn:
        create_key(conn, "shop", ["not a domain"], actor=ADMIN)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM api_keys")).scalar() == 0


def test_create_change_and_revoke_are_audited_with_the_change(engine):
    with engine.begin() as conn:
        # The log outlives the tables (append-only): only this test's entries count.
        before = conn.execute(text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar()
        key, plain = create_key(conn, "shop", ["shop.example"], 5, intake_rate=2,
                                actor=ADMIN)
    with engine.begin() as conn:
        changed = change_key(conn, key.id, KeySettings("shop", ("shop.example",
                                                                "news.example"), None, 2),
                             actor=ADMIN)
        # The same settings again: nothing changes, nothing is recorded.
        change_key(conn, key.id, changed.settings, actor=ADMIN)
    with engine.begin() as conn:
        assert revoke_key(conn, key.id, actor=Actor.cli())
        assert not revoke_key(conn, key.id, actor=Actor.cli())
        assert change_key(conn, key.id, KeySettings("late"), actor=ADMIN) is None
    assert changed.allowed_domains == ("shop.example", "news.example")
    assert changed.max_send_rate is None and changed.intake_rate == 2
    with engine.connect() as conn:
        log = [e for e in entries(conn, action="key.")
               if e.target == f"key {key.id}" and e.id > before]
    assert [e.action for e in log] == ["key.revoke", "key.change", "key.create"]
    revoke, change, create = log
    assert create.actor == "admin@corp.example" and create.address == "192.0.2.7"
    assert create.after == {"name": "shop", "domains": ["shop.example"], "max_send_rate": 5.0,
                            "intake_rate": 2.0, "configuration_set": None,
                            "prefix": plain[:10]}
    assert change.before["domains"] == ["shop.example"] and change.before["max_send_rate"] == 5
    assert change.after["domains"] == ["shop.example", "news.example"]
    assert change.after["max_send_rate"] is None
    assert revoke.actor_kind == "cli" and revoke.before["name"] == "shop"
    assert "revokedAt" in revoke.after


def test_last_use_is_written_at_most_once_a_minute(engine):
    with engine.begin() as conn:
        key, _ = create_key(conn, "busy", [])
    assert not used_recently(key, datetime.now(UTC))
    with engine.begin() as conn:
        note_use(conn, key.id)
        first = get_key(conn, key.id).last_used_at
    with engine.begin() as conn:
        note_use(conn, key.id)  # within the minute: left as it was
        assert get_key(conn, key.id).last_used_at == first
        assert used_recently(get_key(conn, key.id), datetime.now(UTC))
        conn.execute(text("UPDATE api_keys SET last_used_at = last_used_at - interval '61 s'"))
    with engine.begin() as conn:
        note_use(conn, key.id)
        assert get_key(conn, key.id).last_used_at > first
