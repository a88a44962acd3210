"""``mailpipe keys``: create, change and revoke a key by the rules of the console's keys
page, each recorded in the audit log as the operator's shell."""

from __future__ import annotations

import getpass

from sqlalchemy import text

from services.cli import run
from shared.db.audit import entries
from shared.db.keys import get_key


def test_keys_are_created_changed_and_revoked_with_an_audit_entry_each(
        engine, settings, monkeypatch, capsys):
    monkeypatch.setenv("MAILPIPE_DATABASE_URL", settings.database_url)
    with engine.connect() as conn:  # the log outlives the tables: only this test's entries
        before = conn.execute(text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar()
    assert run(["keys", "create", "--name", "shop", "--domain", "Shop.Example",
                "--intake-rate", "5"]) == 0
    first, plain = capsys.readouterr().out.splitlines()[:2]
    key_id = int(first.split()[1])
    assert plain.startswith("mp_")
    assert run(["keys", "change", str(key_id), "--domain", "news.example", "--rate", "2"]) == 0
    assert run(["keys", "change", str(key_id), "--fleet-intake-rate"]) == 0
    with engine.connect() as conn:
        key = get_key(conn, key_id)
    assert (key.allowed_domains, key.max_send_rate, key.intake_rate) == (
        ("news.example",), 2.0, None)
    assert run(["keys", "revoke", str(key_id)]) == 0
    assert run(["keys", "revoke", str(key_id)]) == 1
    assert run(["keys", "change", str(key_id), "--name", "late"]) == 1
    with engine.connect() as conn:
        log = [e for e in entries(conn, action="key.")
               if e.target == f"key {key_id}" and e.id > before]
    assert [e.action for e in log] == ["key.revoke", "key.change", "key.change", "key.create"]
    assert {e.actor_kind for e in log} == {"cli"}
    assert all(e.actor.startswith(f"{getpass.getuser()}@") for e in log)
    assert log[-1].after["domains"] == ["shop.example"] and log[-1].after["intake_rate"] == 5


def test_a_key_that_breaks_a_rule_is_refused_with_the_reason(settings, monkeypatch, capsys):
    monkeypatch.setenv("MAILPIPE_DATABASE_URL", settings.database_url)
    assert run(["keys", "create", "--name", "shop", "--rate", "0"]) == 2
    assert "a rate is a number per second above 0" in capsys.readouterr().err
    assert run(["keys", "create", "--name", "shop", "--domain", "no domain"]) == 2
    assert "'no domain' is not a domain name" in capsys.readouterr().err


def test_a_keys_own_configuration_set_is_set_checked_and_given_back_to_the_fleets(
        engine, settings, monkeypatch, capsys):
    monkeypatch.setenv("MAILPIPE_DATABASE_URL", settings.database_url)
    assert run(["keys", "create", "--name", "news", "--configuration-set", "news-set"]) == 0
    key_id = int(capsys.readouterr().out.split()[1])
    assert run(["keys", "change", str(key_id), "--configuration-set", "not a set!"]) == 2
    assert "configuration set's name is 1 to 64 letters" in capsys.readouterr().err
    with engine.connect() as conn:
        assert get_key(conn, key_id).ses_configuration_set == "news-set"
    assert run(["keys", "change", str(key_id), "--fleet-configuration-set"]) == 0
    assert "configuration set fleet" in capsys.readouterr().out
    with engine.connect() as conn:
        assert get_key(conn, key_id).ses_configuration_set is None
