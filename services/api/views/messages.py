"""How rows are shown in API answers (camelCase, RFC 3339 times, seed status codes)."""

from __future__ import annotations

from datetime import datetime

from shared.states import MessageState as S


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def message_view(row: dict) -> dict:
    return {
        "id": row["id"],
        "topicId": row["topic_id"],
        "from": row["from_addr"],
        "to": row["to_addr"],
        # A compat-API message reaches several people in one send.
        "cc": row["cc_addrs"],
        "bcc": row["bcc_addrs"],
        "alsoTo": row["extra_to_addrs"],
        "messageId": row["mime_message_id"],
        "status": row["state"],
        "statusCode": S(row["state"]).code,
        "attempts": row["attempts"],
        "providerMessageId": row["provider_message_id"],
        "error": row["error"],
        "scheduledAt": _time(row["scheduled_at"]),
        "createdAt": _time(row["created_at"]),
        "sentAt": _time(row["sent_at"]),
        "events": [
            {"type": e["type"], "at": _time(e["occurred_at"]), "detail": e["detail"],
             "machine": e["machine"], "payload": e["payload"]}
            for e in row["events"]
        ],
    }


def cancel_view(cancelled: int, kept: dict[str, int]) -> dict:
    """What a DELETE did: how many were cancelled, and what was already beyond reach."""
    return {
        "cancelled": cancelled,
        "notCancelled": sum(kept.values()),
        "notCancelledByStatus": kept,
    }
