"""API keys: created once, stored as a sha256 hash, looked up by hash; the domains a key
allows, for senders and for the web pages that call the fureweb post (CORS)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, Connection, Text, bindparam, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY

from shared.db.tables import api_keys

KEY_PREFIX = "mp_"


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    key_prefix: str
    allowed_domains: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None
    #: Recipients per second this key's messages may use of the fleet's rate.
    max_send_rate: float | None = None

    def allows_sender(self, address: str) -> bool:
        """True when the key names no domains, or the address is in one of them."""
        if not self.allowed_domains:
            return True
        domain = address.rpartition("@")[2].lower()
        return domain in self.allowed_domains

    def allows_origin_host(self, host: str) -> bool:
        """True when ``host`` (a web page's, lower case) is one of the key's domains or a
        subdomain of one (www.example.com for example.com). A key without domains was
        registered for no web site: it allows no origin."""
        return any(d in domain_suffixes(host) for d in self.allowed_domains)


def domain_suffixes(host: str) -> list[str]:
    """``a.b.example.com`` and every domain above it: the registered domains it falls under."""
    labels = host.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


def some_key_allows_origin_host(conn: Connection, host: str) -> bool:
    """Whether an unrevoked key names ``host`` or a domain above it (one query on the
    partial GIN index ``api_keys_allowed_domains``; no locks)."""
    return conn.execute(
        text("SELECT EXISTS (SELECT 1 FROM api_keys WHERE revoked_at IS NULL "
             "AND allowed_domains && :domains)").bindparams(
            bindparam("domains", type_=ARRAY(Text))),
        {"domains": domain_suffixes(host)},
    ).scalar_one()


def hash_key(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def _row_to_key(row) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        key_prefix=row.key_prefix,
        allowed_domains=tuple(row.allowed_domains),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        max_send_rate=row.max_send_rate,
    )


def create_key(
    conn: Connection, name: str, domains: list[str], max_send_rate: float | None = None
) -> tuple[ApiKey, str]:
    """Insert a new key; returns it and the plain key, which is never stored."""
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    row = conn.execute(
        insert(api_keys)
        .values(
            name=name,
            key_hash=hash_key(plain),
            key_prefix=plain[:10],
            allowed_domains=[d.lower() for d in domains],
            max_send_rate=max_send_rate,
        )
        .returning(api_keys)
    ).one()
    return _row_to_key(row), plain


def find_active_key(conn: Connection, plain: str) -> ApiKey | None:
    """The unrevoked key whose hash matches ``plain``, else None."""
    row = conn.execute(
        select(api_keys).where(
            api_keys.c.key_hash == hash_key(plain), api_keys.c.revoked_at.is_(None)
        )
    ).one_or_none()
    return _row_to_key(row) if row else None


def list_keys(conn: Connection) -> list[ApiKey]:
    return [_row_to_key(r) for r in conn.execute(select(api_keys).order_by(api_keys.c.id))]


def revoke_key(conn: Connection, key_id: int) -> bool:
    """Revoke a key; False when there is no such unrevoked key."""
    result = conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=datetime.now().astimezone())
    )
    return result.rowcount == 1


def send_rate_caps(conn: Connection, message_ids: list[int]) -> dict[int, tuple[int, float]]:
    """{message id: (key id, cap)} for those of ``message_ids`` whose key has a send cap."""
    rows = conn.execute(
        text("""SELECT m.id, k.id AS key_id, k.max_send_rate
                  FROM messages m JOIN api_keys k ON k.id = m.api_key_id
                 WHERE m.id = ANY(:ids) AND k.max_send_rate IS NOT NULL""").bindparams(
            bindparam("ids", type_=ARRAY(BigInteger))),
        {"ids": message_ids},
    )
    return {r.id: (r.key_id, r.max_send_rate) for r in rows}
