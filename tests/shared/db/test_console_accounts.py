"""Console accounts: an OIDC identity never takes over an account by its email alone."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from shared.db.console_accounts import (
    create_session,
    disable_user,
    end_sessions,
    find_session,
    oidc_user,
    save_user,
)
from shared.db.tables import console_sessions, console_users


def test_an_account_is_bound_to_the_first_subject_that_signs_in(engine):
    with engine.begin() as conn:
        first = oidc_user(conn, "Boss@corp.example", "https://idp sub-1", "viewer")
        assert first is not None and first.email == "boss@corp.example"
        again = oidc_user(conn, "boss@corp.example", "https://idp sub-1", "viewer")
        assert again is not None and again.id == first.id


def test_another_subject_with_the_same_email_is_refused(engine):
    with engine.begin() as conn:
        admin = save_user(conn, "admin@corp.example", "admin")  # invited by email
        bound = oidc_user(conn, "admin@corp.example", "https://idp real-admin", "viewer")
        assert bound is not None and bound.id == admin.id and bound.role == "admin"
        assert oidc_user(conn, "admin@corp.example", "https://idp impostor", "viewer") is None
        # The refused sign-in changed nothing: the real subject still signs in.
        assert oidc_user(conn, "admin@corp.example", "https://idp real-admin", "viewer")


def test_a_disabled_account_cannot_sign_in_with_oidc(engine):
    with engine.begin() as conn:
        user = oidc_user(conn, "gone@corp.example", "https://idp gone", "viewer")
        conn.execute(update(console_users).where(console_users.c.id == user.id)
                     .values(disabled_at=func.now()))
        assert oidc_user(conn, "gone@corp.example", "https://idp gone", "viewer") is None


def _sessions(conn, user) -> int:
    return conn.execute(select(func.count()).select_from(console_sessions)
                        .where(console_sessions.c.user_id == user.id)).scalar_one()


def test_a_new_password_a_new_role_or_disabling_ends_every_session(engine):
    with engine.begin() as conn:
        user = save_user(conn, "ops@corp.example", "editor", "hash-1")
        for change in (lambda: save_user(conn, "ops@corp.example", "editor", "hash-2"),
                       lambda: save_user(conn, "ops@corp.example", "admin"),
                       lambda: disable_user(conn, user.id)):
            create_session(conn, user, None, timedelta(hours=1))
            create_session(conn, user, None, timedelta(hours=1))
            change()
            assert _sessions(conn, user) == 0


def test_saving_an_account_unchanged_keeps_its_sessions(engine):
    with engine.begin() as conn:
        user = save_user(conn, "same@corp.example", "viewer", "hash")
        session_id = create_session(conn, user, None, timedelta(hours=1))
        save_user(conn, "same@corp.example", "viewer")
        assert find_session(conn, session_id) is not None
        assert end_sessions(conn, user.id) == 1 and find_session(conn, session_id) is None
