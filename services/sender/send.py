"""One sender step: reserve budget, claim, render, send, report.

``send_batch`` is what the dramatiq actor runs; it is a plain function of
its dependencies so tests call it directly, without a worker.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import Engine

from shared.addresses import address_of
from shared.db.messages import ClaimedMessage, claim_for_sending
from shared.db.suppressions import suppress_queued
from shared.errors import Failure, SendingPaused, TransportError
from shared.pause import SendingPause
from shared.payloads import Outcome, OutcomeBatch, OutcomeKind, SendBatch
from shared.queues import publish_outcomes
from shared.ratelimit import FleetRateLimiter, sleep_until
from shared.rendering import render
from shared.settings import Settings
from shared.tracking import Tracker, tracker_for
from shared.transports.base import Envelope, Transport

log = logging.getLogger("mailpipe.sender")

#: Retry backoff after a provably-unsent failure: base * 2^(attempt-1), capped.
BACKOFF_BASE = 2.0
BACKOFF_CAP = 300.0


#: After a throttling answer, the whole fleet holds back this many seconds.
THROTTLE_PENALTY = 1.0


@dataclass(frozen=True)
class SenderDeps:
    settings: Settings
    engine: Engine
    broker: RedisBroker
    transport: Transport
    limiter: FleetRateLimiter
    pause: SendingPause
    #: True once this process was asked to stop: claimed rows not yet sent
    #: are handed back instead of sent.
    stopping: Callable[[], bool] = lambda: False


def worker_id() -> str:
    """Names the thread holding a claim, for operators reading a stuck row."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def retry_delay(attempt: int) -> float:
    """Exponential backoff with full jitter, so retried rows do not stampede together."""
    return random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)))


def send_batch(deps: SenderDeps, batch: SendBatch) -> OutcomeBatch:
    """Claim what can be claimed of ``batch``, send it at the fleet rate, report outcomes.

    Budget is reserved before the claim, so a claimed row is never held
    waiting for the rate limiter while its lease runs. While the fleet is
    paused nothing is claimed: SendingPaused makes dramatiq retry the batch
    later.
    """
    paused = deps.pause.reason()
    if paused:
        raise SendingPaused(f"sending is paused: {paused}")
    reservation = deps.limiter.reserve(len(batch.ids))
    sleep_until(reservation.start)
    with deps.engine.begin() as conn:
        # Suppressed recipients end here, before the claim: never sent.
        suppressed = suppress_queued(conn, list(batch.ids))
        claimed = claim_for_sending(
            conn, list(batch.ids), worker_id=worker_id(), lease=deps.settings.send_lease
        )
    deps.limiter.release(len(batch.ids) - len(claimed))
    if suppressed:
        log.info("suppressed %d messages: their recipients are on the suppression list",
                 len(suppressed))
    if len(claimed) < len(batch.ids):
        log.info("skipped %d of %d ids: not queued any more (claimed elsewhere, "
                 "cancelled or done)", len(batch.ids) - len(claimed), len(batch.ids))
    outcomes: list[Outcome] = []
    for index, message in enumerate(claimed):
        halt = "this sender is shutting down" if deps.stopping() else deps.pause.reason()
        if halt:
            outcomes.append(_hand_back(message, halt))
            continue
        sleep_until(reservation.slot(index))
        outcome = send_one(deps.transport, message, on_error=lambda e: _slow_fleet(deps, e),
                           tracker=tracker_for(deps.settings))
        outcomes.append(outcome)
    result = OutcomeBatch(tuple(outcomes))
    publish_outcomes(deps.broker, result)
    return result


def _hand_back(message: ClaimedMessage, reason: str) -> Outcome:
    """A claimed row we will not send now: provably unsent, so back to ``queued``."""
    log.info("message %d handed back unsent: %s", message.id, reason)
    return Outcome(message.id, message.attempt, OutcomeKind.RETRY, time.time(),
                   error=f"not sent: {reason}", retry_after=0.0)


def _slow_fleet(deps: SenderDeps, exc: TransportError) -> None:
    """A throttle slows every sender; a suspended account pauses them all."""
    if exc.throttled:
        deps.limiter.penalize(THROTTLE_PENALTY)
    if exc.pauses_fleet:
        log.error("SES refuses to send for this account; pausing every sender: %s", exc)
        deps.pause.pause(str(exc))


def send_one(
    transport: Transport, message: ClaimedMessage,
    on_error: Callable[[TransportError], None] = lambda exc: None,
    tracker: Tracker | None = None,
) -> Outcome:
    """Send one claimed message and say what became of it. Never raises.

    Every exception becomes an outcome on purpose: the claim is already
    taken, so the row must reach the recorder as sent, failed, retry or
    unknown; raising would leave it ``sending`` until its lease ran out.
    """
    def outcome(kind: OutcomeKind, **fields) -> Outcome:
        return Outcome(message.id, message.attempt, kind, time.time(), **fields)

    try:
        raw = render(message, now=datetime.now(UTC), tracker=tracker).as_bytes()
    except Exception as exc:  # noqa: BLE001 - nothing was sent: a permanent failure
        log.exception("message %d: cannot render", message.id)
        return outcome(OutcomeKind.FAILED, error=f"cannot render message: {exc}")
    try:
        provider_id = transport.send(Envelope(
            address_of(message.from_addr), message.recipients, raw, relay=message.relay))
    except TransportError as exc:
        on_error(exc)
        return _failure_outcome(message, exc, outcome)
    except Exception as exc:  # noqa: BLE001 - a bug mid-send: we cannot know if it went out
        log.exception("message %d: unexpected error while sending", message.id)
        return outcome(OutcomeKind.UNKNOWN, error=f"unexpected error while sending: {exc!r}")
    log.info("message %d to %s sent as %s (attempt %d)",
             message.id, message.to_addr, provider_id, message.attempt)
    return outcome(OutcomeKind.SENT, provider_message_id=provider_id)


def _failure_outcome(message: ClaimedMessage, exc: TransportError, outcome) -> Outcome:
    if exc.failure is Failure.TRANSIENT:
        delay = retry_delay(message.attempt)
        log.warning("message %d: not sent (%s); retrying in %.1fs", message.id, exc, delay)
        return outcome(OutcomeKind.RETRY, error=str(exc), retry_after=delay)
    if exc.failure is Failure.PERMANENT:
        log.warning("message %d to %s failed: %s", message.id, message.to_addr, exc)
        return outcome(OutcomeKind.FAILED, error=str(exc))
    log.error("message %d to %s: outcome unknown, not retried: %s",
              message.id, message.to_addr, exc)
    return outcome(OutcomeKind.UNKNOWN, error=str(exc))
