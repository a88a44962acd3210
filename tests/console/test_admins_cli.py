"""``mailpipe admins create``: a local console account whose printed password signs in."""

from __future__ import annotations

from sqlalchemy import text

from services.cli import run
from services.console.admins import LOCAL_ADMIN, first_admin
from services.console.passwords import verify_password
from shared.db.audit import Actor, entries
from shared.db.console_accounts import find_user


def test_admins_create_prints_a_password_that_is_stored_hashed(console, monkeypatch, capsys):
    monkeypatch.setenv("MAILPIPE_DATABASE_URL", console.settings.database_url)
    assert run(["admins", "create", "Carol@Example.com", "--role", "viewer"]) == 0
    password = capsys.readouterr().out.splitlines()[1]
    with console.engine.connect() as conn:
        user = find_user(conn, "carol@example.com")
    assert user.role == "viewer" and user.password_hash.startswith("$argon2id$")
    assert password not in user.password_hash and verify_password(user.password_hash, password)
    assert run(["admins", "create", "not an address"]) == 2


def test_up_makes_the_first_admin_once(console):
    with console.engine.begin() as conn:
        conn.execute(text("TRUNCATE console_users CASCADE"))
    password = first_admin(console.engine)
    with console.engine.connect() as conn:
        admin = find_user(conn, LOCAL_ADMIN)
    assert admin.role == "admin" and verify_password(admin.password_hash, password)
    assert first_admin(console.engine) is None  # the next start leaves it alone


def test_admins_create_is_in_the_audit_log_as_the_operators_shell(console, monkeypatch,
                                                                    capsys):
    monkeypatch.setenv("MAILPIPE_DATABASE_URL", console.settings.database_url)
    assert run(["admins", "create", "dave@example.com", "--role", "editor"]) == 0
    assert run(["admins", "create", "dave@example.com", "--role", "viewer"]) == 0
    password = capsys.readouterr().out.splitlines()[-1]
    with console.engine.connect() as conn:
        made = [e for e in entries(conn, action="person.", limit=100)
                if e.target == "dave@example.com"]
    assert [e.action for e in made] == ["person.password", "person.create"]
    assert {e.actor_kind for e in made} == {"cli"} and made[0].actor == Actor.cli().name
    assert made[0].before == {"role": "editor", "status": "active"}
    assert made[0].after == {"role": "viewer", "status": "active", "password": "new"}
    assert password not in str(made[0].after)
