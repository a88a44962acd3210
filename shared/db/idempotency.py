"""Idempotency keys: the first answer to a POST, replayed for 24 hours."""

from __future__ import annotations

import json

from sqlalchemy import Connection, text

#: How long an Idempotency-Key is remembered.
RETENTION = "24 hours"


def reserve_key(conn: Connection, api_key_id: int, key: str, request_hash: str) -> dict | None:
    """Take ``key`` for this request, or return what it was first used for.

    Returns None when the key is new (or expired): the caller goes on and
    must ``store_result`` in the same transaction. Otherwise returns
    ``{"request_hash", "response"}`` of the first request. The INSERT waits on
    the unique key while a concurrent request with the same key is still in
    its transaction, so two requests racing create the messages once.
    """
    conn.execute(
        text(f"""DELETE FROM idempotency_keys
                  WHERE api_key_id = :a AND key = :k AND created_at < now() - interval '{RETENTION}'
              """),
        {"a": api_key_id, "k": key},
    )
    inserted = conn.execute(
        text("""INSERT INTO idempotency_keys (api_key_id, key, request_hash)
                VALUES (:a, :k, :h) ON CONFLICT DO NOTHING RETURNING key"""),
        {"a": api_key_id, "k": key, "h": request_hash},
    ).first()
    if inserted:
        return None
    row = conn.execute(
        text("SELECT request_hash, response FROM idempotency_keys WHERE api_key_id = :a "
             "AND key = :k"),
        {"a": api_key_id, "k": key},
    ).one()
    return {"request_hash": row.request_hash, "response": row.response}


def store_result(conn: Connection, api_key_id: int, key: str, response: list) -> None:
    """Remember the answer to the request that reserved ``key``."""
    conn.execute(
        text("UPDATE idempotency_keys SET status = 202, response = CAST(:r AS jsonb) "
             "WHERE api_key_id = :a AND key = :k"),
        {"a": api_key_id, "k": key, "r": json.dumps(response)},
    )
