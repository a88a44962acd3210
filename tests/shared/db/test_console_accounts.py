"""Console accounts: an OIDC identity never takes over an account by its email alone."""

from __future__ import annotations

from sqlalchemy import func, update

from shared.db.console_accounts import oidc_user, save_user
from shared.db.tables import console_users


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
