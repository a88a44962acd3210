"""People management: each change is audited with the account's role and status, ends the
account's sessions, and never leaves the console without an enabled admin, even when two
admins demote each other at the same moment."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import text

from shared.db import people
from shared.db.audit import Actor, entries
from shared.db.console_accounts import create_session, find_session, find_user, oidc_user
from shared.errors import Conflict, InvalidRequest

BOSS = Actor("console", "boss@corp.example", "192.0.2.1")


@pytest.fixture
def accounts(engine):
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE console_users CASCADE"))
    return engine


def _audited(engine, action: str, target: str):
    with engine.connect() as conn:
        return [e for e in entries(conn, action=action, limit=1000) if e.target == target]


def test_an_invitation_is_bound_to_the_first_subject_with_its_role(accounts):
    with accounts.begin() as conn:
        invited = people.invite(conn, " Ann@Corp.example ", "editor", actor=BOSS)
        assert (invited.email, invited.status) == ("ann@corp.example", "invited")
        user = oidc_user(conn, "ann@corp.example", "https://idp ann", "viewer")
        assert user.role == "editor"
        assert people.get_person(conn, invited.id).status == "active"
        with pytest.raises(Conflict, match="already has an account"):
            people.invite(conn, "ann@corp.example", "admin", actor=BOSS)
        with pytest.raises(InvalidRequest, match="not an email address"):
            people.invite(conn, "ann", "viewer", actor=BOSS)
        with pytest.raises(InvalidRequest, match="no role"):
            people.invite(conn, "bob@corp.example", "owner", actor=BOSS)
    entry, = _audited(accounts, "person.invite", "ann@corp.example")
    assert (entry.actor, entry.after) == (BOSS.name, {"role": "editor", "status": "invited",
                                                      "kind": "oidc"})


def test_a_role_change_and_disabling_end_the_accounts_sessions(accounts):
    with accounts.begin() as conn:
        person = people.add_local(conn, "cho@corp.example", "editor", "$argon2id$h", actor=BOSS)
        session = create_session(conn, find_user(conn, person.email), None, timedelta(hours=1))
        people.set_role(conn, person.id, "viewer", actor=BOSS)
        assert find_session(conn, session) is None
        session = create_session(conn, find_user(conn, person.email), None, timedelta(hours=1))
        people.disable(conn, person.id, actor=BOSS)
        assert find_session(conn, session) is None
        with pytest.raises(Conflict, match="disabled"):
            people.set_role(conn, person.id, "editor", actor=BOSS)
        assert people.enable(conn, person.id, actor=BOSS).role == "viewer"
    assert [e.action for e in _audited(accounts, "person.", "cho@corp.example")] == [
        "person.enable", "person.disable", "person.role", "person.create"]


def test_the_last_admin_is_kept(accounts):
    with accounts.begin() as conn:
        only = people.add_local(conn, "only@corp.example", "admin", "$argon2id$h")
    for change in (lambda conn: people.set_role(conn, only.id, "editor", actor=BOSS),
                   lambda conn: people.disable(conn, only.id, actor=BOSS),
                   lambda conn: people.add_local(conn, "only@corp.example", "viewer",
                                                 "$argon2id$new", replace=True)):
        with pytest.raises(Conflict, match="no admin left"), accounts.begin() as conn:
            change(conn)
    with accounts.connect() as conn:
        assert people.get_person(conn, only.id).audited() == {"role": "admin",
                                                              "status": "active"}


def test_two_admins_demoting_each_other_at_once_leave_one_admin(accounts):
    with accounts.begin() as conn:
        first = people.add_local(conn, "first@corp.example", "admin", "$argon2id$h")
        second = people.add_local(conn, "second@corp.example", "admin", "$argon2id$h")
    start = threading.Barrier(2)
    outcomes: dict[int, str] = {}

    def demote(person_id: int) -> None:
        start.wait()
        try:
            with accounts.begin() as conn:
                people.set_role(conn, person_id, "viewer", actor=BOSS)
            outcomes[person_id] = "demoted"
        except Conflict:
            outcomes[person_id] = "refused"

    threads = [threading.Thread(target=demote, args=(p.id,)) for p in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values()) == ["demoted", "refused"]
    with accounts.connect() as conn:
        roles = [people.get_person(conn, p.id).role for p in (first, second)]
    assert sorted(roles) == ["admin", "viewer"]
