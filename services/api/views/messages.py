"""How rows are shown in API answers (camelCase, RFC 3339 times, seed status codes)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from shared.broker.payloads import EventType as E
from shared.states import MessageState as S


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def message_view(row: dict) -> dict:
    return {
        "id": row["id"],
        "topicId": row["topic_id"],
        "from": row["from_addr"],
        "to": row["to_addr"],
        # The display name ``to`` was given with (null: none); ``names``: those of
        # alsoTo and cc, by lower-cased address.
        "toName": row["to_name"],
        # A compat-API message reaches several people in one send.
        "cc": row["cc_addrs"],
        "bcc": row["bcc_addrs"],
        "alsoTo": row["extra_to_addrs"],
        "names": row["extra_names"] or {},
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


def go_duration(seconds: float) -> str:
    """``seconds`` as Go's ``time.Duration.String()`` writes it ("1.234567ms", "1m2.5s")."""
    def number(value: float) -> str:
        text = f"{value:.9f}"
        return text.rstrip("0").rstrip(".") if "." in text else text

    if seconds >= 60:
        minutes, rest = divmod(seconds, 60)
        hours, minutes = divmod(int(minutes), 60)
        return (f"{hours}h" if hours else "") + f"{minutes}m{number(rest)}s"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return number(round(seconds / scale, 6)) + unit
    return f"{round(seconds * 1e9)}ns"


def cancel_view(cancelled: int, kept: dict[str, int]) -> dict:
    """What a DELETE did: how many were cancelled, and what was already beyond reach."""
    return {
        "cancelled": cancelled,
        "notCancelled": sum(kept.values()),
        "notCancelledByStatus": kept,
    }


#: aws-ses-sender-go's names for what happened to a message: SES's
#: notificationType (its Result.Status) and its own "Open".
SEED_EVENT_NAMES = {
    E.SENT: "Send", E.DELIVERED: "Delivery", E.BOUNCED: "Bounce", E.COMPLAINED: "Complaint",
    E.REJECTED: "Reject", E.DELAYED: "DeliveryDelay", E.RENDERING_FAILED: "Rendering Failure",
    E.SUBSCRIPTION: "Subscription", E.OPENED: "Open", E.CLICKED: "Click",
    E.UNSUBSCRIBED: "Unsubscribe",
}


def topic_view(topic_id: str, summary: dict, stats: dict) -> dict:
    """mailpipe's topic answer with aws-ses-sender-go's ``request`` and ``result`` in it.

    ``request`` counts messages by seed status code (processing ones only in
    ``total``, as upstream did); ``result.statuses`` counts messages per
    event, under upstream's names.
    """
    status = summary["status"]
    by_code = Counter()
    for state, n in status.items():
        by_code[S(state).code] += n
    total = sum(status.values())
    return {
        "topicId": topic_id,
        "total": total,
        "status": status,
        "events": summary["events"],
        "stats": stats,
        "request": {"total": total, "created": by_code[0], "sent": by_code[2],
                    "failed": by_code[3], "stopped": by_code[4]},
        "result": {"statuses": {SEED_EVENT_NAMES[E(kind)]: n
                                for kind, n in summary["messagesByEvent"].items()}},
    }

