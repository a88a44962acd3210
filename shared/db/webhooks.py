"""A key's webhook endpoints: create, read, list, change, delete, rotate the secret.

Every function is scoped to one API key: another key's endpoint is "not
there". The signing secret is written here encrypted (``shared.secrets``)
and read back only by the delivery claim (``shared.db.webhook_deliveries``):
no row this module returns holds it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, func, insert, select, text, update

from shared.db.tables.webhooks import webhook_endpoints as E
from shared.webhooks.events import DisabledReason

#: Endpoints one key may have.
MAX_ENDPOINTS = 20


@dataclass(frozen=True)
class EndpointRow:
    """An endpoint as its key sees it (never its secret)."""

    id: int
    api_key_id: int
    url: str
    event_types: list[str]
    topics: list[str]
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    #: While set and in the future, the secret before the last rotation still signs.
    previous_secret_until: datetime | None
    created_at: datetime
    updated_at: datetime


_COLUMNS = (E.c.id, E.c.api_key_id, E.c.url, E.c.event_types, E.c.topics, E.c.enabled,
            E.c.disabled_reason, E.c.failing_since, E.c.previous_secret_until, E.c.created_at,
            E.c.updated_at)


def create_endpoint(conn: Connection, api_key_id: int, *, url: str, event_types: Sequence[str],
                    topics: Sequence[str], enabled: bool, secret: str) -> EndpointRow | None:
    """Insert an endpoint with its encrypted ``secret``; None when the key already has
    MAX_ENDPOINTS. Counted under the key's row lock (``api_keys``), so two creations at
    once cannot pass the limit together."""
    conn.execute(text("SELECT 1 FROM api_keys WHERE id = :id FOR UPDATE"), {"id": api_key_id})
    count = conn.execute(select(func.count()).where(E.c.api_key_id == api_key_id)).scalar_one()
    if count >= MAX_ENDPOINTS:
        return None
    row = conn.execute(insert(E).values(
        api_key_id=api_key_id, url=url, event_types=list(event_types), topics=list(topics),
        enabled=enabled, disabled_reason=None if enabled else DisabledReason.MANUAL.value,
        secret=secret).returning(*_COLUMNS)).one()
    return EndpointRow(*row)


def get_endpoint(conn: Connection, api_key_id: int, endpoint_id: int) -> EndpointRow | None:
    row = conn.execute(select(*_COLUMNS).where(
        E.c.id == endpoint_id, E.c.api_key_id == api_key_id)).one_or_none()
    return EndpointRow(*row) if row else None


def list_endpoints(conn: Connection, api_key_id: int, *, after: int = 0,
                   limit: int = 100) -> list[EndpointRow]:
    """The key's endpoints in id order, from after ``after``."""
    rows = conn.execute(select(*_COLUMNS).where(E.c.api_key_id == api_key_id, E.c.id > after)
                        .order_by(E.c.id).limit(limit))
    return [EndpointRow(*r) for r in rows]


def change_endpoint(conn: Connection, api_key_id: int, endpoint_id: int, *,
                    url: str | None = None, event_types: Sequence[str] | None = None,
                    topics: Sequence[str] | None = None,
                    enabled: bool | None = None) -> EndpointRow | None:
    """Replace what is given; None when the key has no such endpoint.

    Enabling clears why it was disabled and its failing streak (its pending
    deliveries are then claimed again); disabling by hand says ``manual``.
    """
    values: dict = {"updated_at": func.now()}
    if url is not None:
        values["url"] = url
    if event_types is not None:
        values["event_types"] = list(event_types)
    if topics is not None:
        values["topics"] = list(topics)
    if enabled is not None:
        values |= ({"enabled": True, "disabled_reason": None, "failing_since": None} if enabled
                   else {"enabled": False, "disabled_reason": DisabledReason.MANUAL.value})
    row = conn.execute(update(E).where(E.c.id == endpoint_id, E.c.api_key_id == api_key_id)
                       .values(**values).returning(*_COLUMNS)).one_or_none()
    return EndpointRow(*row) if row else None


def delete_endpoint(conn: Connection, api_key_id: int, endpoint_id: int) -> bool:
    """Delete the endpoint and its deliveries (the events stay: other endpoints', replays)."""
    return conn.execute(delete(E).where(E.c.id == endpoint_id,
                                        E.c.api_key_id == api_key_id)).rowcount == 1


def rotate_secret(conn: Connection, api_key_id: int, endpoint_id: int, *, secret: str,
                  overlap: timedelta) -> EndpointRow | None:
    """Sign with the encrypted ``secret`` from now on, and with the one it replaces for
    ``overlap`` more (both signatures on every delivery meanwhile)."""
    row = conn.execute(
        update(E).where(E.c.id == endpoint_id, E.c.api_key_id == api_key_id)
        .values(previous_secret=E.c.secret, secret=secret,
                previous_secret_until=func.now() + overlap, updated_at=func.now())
        .returning(*_COLUMNS)).one_or_none()
    return EndpointRow(*row) if row else None
