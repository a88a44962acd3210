"""The audit log: named queries over ``audit_log`` (append-only; see migration 0017).

Every state-changing action of the console, and the key, suppression and
requeue actions of the CLI and the API, is recorded in the same transaction
as the change it describes: an action that rolls back leaves no entry, an
entry never describes something that did not happen.
"""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from shared.db.tables import audit_log


@dataclass(frozen=True)
class Actor:
    """Who acts: ``kind`` is console (a person), cli (an operator's shell) or api (a key)."""

    kind: str
    name: str
    address: str | None = None

    @classmethod
    def cli(cls) -> Actor:
        """The operating-system user running ``mailpipe`` on this host."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return cls("cli", f"{user}@{socket.gethostname()}")

    @classmethod
    def api_key(cls, key_id: int, name: str, address: str | None) -> Actor:
        return cls("api", f"key {key_id} ({name})", address)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor_kind: str
    actor: str
    address: str | None
    action: str
    target: str | None
    before: Any
    after: Any


def record(conn: Connection, actor: Actor, action: str, target: str | None = None, *,
           before: Any = None, after: Any = None) -> None:
    """Append one entry, in the caller's transaction."""
    conn.execute(audit_log.insert().values(
        actor_kind=actor.kind, actor=actor.name, address=actor.address, action=action,
        target=target, before=before, after=after))


def entries(conn: Connection, *, action: str | None = None, actor: str | None = None,
            since: datetime | None = None, until: datetime | None = None,
            before_id: int | None = None, limit: int = 100) -> list[AuditEntry]:
    """Newest first; ``action`` matches a whole verb or a prefix ending in '.'
    (``key.`` finds every key action), ``actor`` a substring; ``before_id`` pages."""
    a = audit_log.c
    query = select(audit_log).order_by(a.id.desc()).limit(limit)
    if action:
        query = query.where(a.action.startswith(action, autoescape=True) if
                            action.endswith(".") else a.action == action)
    if actor:
        query = query.where(a.actor.contains(actor, autoescape=True))
    if since is not None:
        query = query.where(a.at >= since)
    if until is not None:
        query = query.where(a.at < until)
    if before_id is not None:
        query = query.where(a.id < before_id)
    return [AuditEntry(**row._mapping) for row in conn.execute(query)]
