"""Idempotency keys: the first answer to a POST, replayed for 24 hours.

The rules around them are in ``shared.intake.idempotency``.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, text

#: How long an Idempotency-Key is remembered.
RETENTION = "24 hours"


def reserve_key(conn: Connection, api_key_id: int, key: str) -> dict | None:
    """Take ``key`` for this request, or return what it was first used for.

    Returns None when the key is new (or expired): the caller goes on and
    must ``store_result`` in the same transaction. Otherwise returns
    ``{"request_hash", "response"}`` of the first request. The INSERT waits on
    the unique key while a concurrent request with the same key is still in
    its transaction, so two requests racing create things once. The row is
    inserted with an empty hash, which ``store_result`` fills in before the
    commit: no other transaction ever sees it empty.
    """
    conn.execute(
        text(f"""DELETE FROM idempotency_keys
                  WHERE api_key_id = :a AND key = :k AND created_at < now() - interval '{RETENTION}'
              """),
        {"a": api_key_id, "k": key},
    )
    inserted = conn.execute(
        text("""INSERT INTO idempotency_keys (api_key_id, key, request_hash)
                VALUES (:a, :k, '') ON CONFLICT DO NOTHING RETURNING key"""),
        {"a": api_key_id, "k": key},
    ).first()
    if inserted:
        return None
    row = conn.execute(
        text("SELECT request_hash, response FROM idempotency_keys WHERE api_key_id = :a "
             "AND key = :k"),
        {"a": api_key_id, "k": key},
    ).one()
    return {"request_hash": row.request_hash, "response": row.response}


def store_result(
    conn: Connection, api_key_id: int, key: str, request_hash: str, status: int, response: Any,
) -> None:
    """Remember the request's hash and answer for the key it reserved (same transaction)."""
    conn.execute(
        text("UPDATE idempotency_keys SET request_hash = :h, status = :s, "
             "response = CAST(:r AS jsonb) WHERE api_key_id = :a AND key = :k"),
        {"a": api_key_id, "k": key, "h": request_hash, "s": status, "r": json.dumps(response)},
    )
