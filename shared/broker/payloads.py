"""Queue payloads: small, typed, versioned; encoded and decoded only here.

Payloads carry ids and outcomes, never rows: the row in PostgreSQL is the
truth and a payload may be stale, duplicated or lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.errors import MailpipeError

VERSION = 1


class PayloadError(MailpipeError):
    """Raised when a queue payload has an unknown version or shape."""


class OutcomeKind(StrEnum):
    """What became of one send attempt; the recorder maps it to a state."""

    SENT = "sent"
    FAILED = "failed"
    #: Provably not sent: back to ``queued`` after ``retry_after`` seconds.
    RETRY = "retry"
    #: Maybe sent: ends ``unknown``, never resent automatically.
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class SendBatch:
    """Message ids a sender should try to claim and send."""

    ids: tuple[int, ...]


@dataclass(frozen=True)
class Outcome:
    """The result of one claimed attempt (``attempt`` is the claim's number)."""

    message_id: int
    attempt: int
    kind: OutcomeKind
    at: float
    provider_message_id: str | None = None
    error: str | None = None
    retry_after: float = 0.0


@dataclass(frozen=True)
class OutcomeBatch:
    outcomes: tuple[Outcome, ...]


def _check_version(data: Any, kind: str) -> dict:
    if not isinstance(data, dict) or data.get("v") != VERSION or data.get("kind") != kind:
        raise PayloadError(f"not a v{VERSION} {kind} payload: {data!r:.200}")
    return data


def encode_send_batch(batch: SendBatch) -> dict:
    return {"v": VERSION, "kind": "send", "ids": list(batch.ids)}


def decode_send_batch(data: Any) -> SendBatch:
    data = _check_version(data, "send")
    return SendBatch(ids=tuple(int(i) for i in data["ids"]))


def encode_outcomes(batch: OutcomeBatch) -> dict:
    return {
        "v": VERSION,
        "kind": "outcomes",
        # Flat dataclasses: their __dict__ (asdict's deep copy cost a sender ~8% of its CPU).
        "outcomes": [{**o.__dict__, "kind": o.kind.value} for o in batch.outcomes],
    }


def decode_outcomes(data: Any) -> OutcomeBatch:
    data = _check_version(data, "outcomes")
    try:
        return OutcomeBatch(
            outcomes=tuple(
                Outcome(**{**item, "kind": OutcomeKind(item["kind"])}) for item in data["outcomes"]
            )
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PayloadError(f"bad outcomes payload: {exc}") from exc


class EventType(StrEnum):
    """What happened to a message after it was sent (SES notifications, tracking hits)."""

    SENT = "sent"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    REJECTED = "rejected"
    DELAYED = "delayed"
    RENDERING_FAILED = "rendering_failed"
    SUBSCRIPTION = "subscription"
    OPENED = "opened"
    CLICKED = "clicked"
    UNSUBSCRIBED = "unsubscribed"


@dataclass(frozen=True)
class Event:
    """One event for the recorder.

    SES events name their message by ``provider_message_id`` (and are deduped
    by ``sns_message_id``); tracking hits name it by ``message_id``.
    ``detail`` is the one fact stats need (``hard``/``soft`` for a bounce, the
    URL of a click); ``payload`` is the provider's raw notification or the hit's
    request facts (user agent, address, method).
    """

    type: EventType
    at: float
    message_id: int | None = None
    provider_message_id: str | None = None
    sns_message_id: str | None = None
    detail: str | None = None
    payload: dict | None = None


@dataclass(frozen=True)
class EventBatch:
    events: tuple[Event, ...]


def encode_events(batch: EventBatch) -> dict:
    return {
        "v": VERSION,
        "kind": "events",
        "events": [{**e.__dict__, "type": e.type.value} for e in batch.events],
    }


def decode_events(data: Any) -> EventBatch:
    data = _check_version(data, "events")
    try:
        return EventBatch(
            events=tuple(
                Event(**{**item, "type": EventType(item["type"])}) for item in data["events"]
            )
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PayloadError(f"bad events payload: {exc}") from exc


@dataclass(frozen=True)
class WebhookWake:
    """An endpoint with due deliveries: a webhooks worker claims and delivers them
    (the rows say what; a lost or duplicated wake costs nothing)."""

    endpoint_id: int


def encode_webhook_wake(wake: WebhookWake) -> dict:
    return {"v": VERSION, "kind": "webhook_wake", "endpoint": wake.endpoint_id}


def decode_webhook_wake(data: Any) -> WebhookWake:
    data = _check_version(data, "webhook_wake")
    try:
        return WebhookWake(endpoint_id=int(data["endpoint"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise PayloadError(f"bad webhook wake payload: {exc}") from exc
