"""Tenant SMTP relays: one row per (key, server, user); the password encrypted."""

from __future__ import annotations

from sqlalchemy import Connection, func
from sqlalchemy.dialects.postgresql import insert as pg_insert

from shared.db.tables import smtp_relays


def save_relay(
    conn: Connection, api_key_id: int, url: str, username: str, password_encrypted: str | None
) -> int:
    """Insert or refresh the relay and return its id, in the caller's transaction.

    The latest password sent for a (key, url, user) wins: a tenant who
    changed it fixes every queued message on its next request. Upsert on the
    unique identity, so two requests at once end with one row.
    """
    statement = pg_insert(smtp_relays).values(
        api_key_id=api_key_id, url=url, username=username, password_encrypted=password_encrypted
    )
    statement = statement.on_conflict_do_update(
        constraint="smtp_relays_identity",
        set_={"password_encrypted": statement.excluded.password_encrypted,
              "updated_at": func.now()},
    ).returning(smtp_relays.c.id)
    return conn.execute(statement).scalar_one()
