"""Console accounts and sessions: named queries over shared/db/tables/console.py.

A session is looked up by the sha256 of its cookie value, joined to its
user in one read; expired sessions and disabled users find nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from shared.db.tables import console_sessions, console_users


@dataclass(frozen=True)
class ConsoleUser:
    id: int
    email: str
    role: str
    password_hash: str | None


@dataclass(frozen=True)
class ConsoleSession:
    """A signed-in browser: who, the CSRF token, the API key it acts as."""

    user: ConsoleUser
    csrf: str
    api_key_id: int | None
    expires_at: datetime


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _user(row) -> ConsoleUser:
    return ConsoleUser(row.id, row.email, row.role, row.password_hash)


def find_user(conn: Connection, email: str) -> ConsoleUser | None:
    """The enabled account of ``email`` (case-insensitive), or None."""
    row = conn.execute(select(console_users).where(
        console_users.c.email == email.strip().lower(), console_users.c.disabled_at.is_(None),
    )).one_or_none()
    return _user(row) if row else None


def count_users(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(console_users)).scalar_one()


def accounts_exist(conn: Connection, *, local: bool = False) -> bool:
    """Whether an enabled account exists (``local``: one that signs in with a password).
    No lock: the sign-in page reads it to decide whether to say how accounts are made."""
    u = console_users.c
    found = select(u.id).where(u.disabled_at.is_(None))
    if local:
        found = found.where(u.password_hash.is_not(None))
    return conn.execute(select(found.exists())).scalar_one()


def list_users(conn: Connection) -> list[ConsoleUser]:
    rows = conn.execute(select(console_users).order_by(console_users.c.id))
    return [_user(r) for r in rows]


def save_user(conn: Connection, email: str, role: str,
              password_hash: str | None = None) -> ConsoleUser:
    """Create the account, or set the role (and the password, when given) of an existing one.

    An existing account whose password or role changes, or that is enabled
    again, loses every session: its holders sign in again under the new terms.
    """
    email = email.strip().lower()
    before = conn.execute(select(console_users).where(console_users.c.email == email)
                          .with_for_update()).one_or_none()
    values = {"email": email, "role": role}
    changes = {"role": role, "disabled_at": None}
    if password_hash is not None:
        values["password_hash"] = changes["password_hash"] = password_hash
    row = conn.execute(
        pg_insert(console_users).values(**values)
        .on_conflict_do_update(index_elements=["email"], set_=changes)
        .returning(console_users)
    ).one()
    if before is not None and (password_hash is not None or before.role != role
                               or before.disabled_at is not None):
        end_sessions(conn, row.id)
    return _user(row)


def disable_user(conn: Connection, user_id: int) -> bool:
    """Disable an account and end its sessions; False when there is no such account."""
    done = conn.execute(update(console_users).where(console_users.c.id == user_id)
                        .values(disabled_at=func.coalesce(console_users.c.disabled_at,
                                                          func.now())))
    end_sessions(conn, user_id)
    return bool(done.rowcount)


def end_sessions(conn: Connection, user_id: int) -> int:
    """Delete every session of the account (sign-out everywhere); how many there were."""
    return conn.execute(delete(console_sessions)
                        .where(console_sessions.c.user_id == user_id)).rowcount


def oidc_user(conn: Connection, email: str, subject: str,
              default_role: str) -> ConsoleUser | None:
    """The account of an allowed OIDC identity, created with ``default_role`` on first sign-in.

    An account is bound to the first subject that signs in to it (an account
    made by email, local or invited, is bound then); another subject with the
    same email gets None: an email alone never takes over an account and its
    role. A disabled account gets None.
    """
    u = console_users.c
    row = conn.execute(
        pg_insert(console_users)
        .values(email=email.strip().lower(), role=default_role, oidc_subject=subject)
        .on_conflict_do_update(index_elements=["email"],
                               set_={"oidc_subject": func.coalesce(u.oidc_subject, subject)})
        .returning(console_users)
    ).one()
    if row.oidc_subject != subject or row.disabled_at is not None:
        return None
    return _user(row)


def create_session(conn: Connection, user: ConsoleUser, api_key_id: int | None,
                   lifetime: timedelta) -> str:
    """A new session for ``user``; returns the opaque id for the cookie (stored hashed)."""
    session_id = secrets.token_urlsafe(32)
    conn.execute(console_sessions.insert().values(
        id_hash=_hash(session_id), user_id=user.id, csrf=secrets.token_urlsafe(32),
        api_key_id=api_key_id, expires_at=func.now() + lifetime,
    ))
    conn.execute(update(console_users).where(console_users.c.id == user.id)
                 .values(last_login_at=func.now()))
    # Sign-ins are rare: a good moment to forget sessions that have expired.
    conn.execute(delete(console_sessions).where(console_sessions.c.expires_at < func.now()))
    return session_id


def find_session(conn: Connection, session_id: str) -> ConsoleSession | None:
    """The unexpired session of an enabled user for the cookie value, or None."""
    s, u = console_sessions.c, console_users.c
    row = conn.execute(
        select(u.id, u.email, u.role, u.password_hash, s.csrf, s.api_key_id, s.expires_at)
        .select_from(console_sessions.join(console_users, u.id == s.user_id))
        .where(s.id_hash == _hash(session_id), s.expires_at > func.now(),
               u.disabled_at.is_(None))
    ).one_or_none()
    if row is None:
        return None
    return ConsoleSession(_user(row), row.csrf, row.api_key_id, row.expires_at)


def set_session_key(conn: Connection, session_id: str, api_key_id: int) -> None:
    conn.execute(update(console_sessions).where(console_sessions.c.id_hash == _hash(session_id))
                 .values(api_key_id=api_key_id))


def delete_session(conn: Connection, session_id: str) -> None:
    conn.execute(delete(console_sessions).where(console_sessions.c.id_hash == _hash(session_id)))
