"""Queue payloads: small, typed, versioned; encoded and decoded only here.

Payloads carry ids and outcomes, never rows: the row in PostgreSQL is the
truth and a payload may be stale, duplicated or lost.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
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
        "outcomes": [{**asdict(o), "kind": o.kind.value} for o in batch.outcomes],
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
