"""One sender step: claim a chunk of rows, then per message render, take a rate slot, send.

Outcomes of sends go to the recorder, the one writer of sent, failed and unknown.

``send_batch`` is what the dramatiq actor runs; it is a plain function of
its dependencies so tests call it directly, without a worker.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dramatiq.brokers.redis import RedisBroker
from redis.exceptions import RedisError
from sqlalchemy import Engine

from services.sender.meter import SendMeter
from shared.broker.payloads import Outcome, OutcomeBatch, OutcomeKind, SendBatch
from shared.broker.queues import publish_outcomes
from shared.db.keys import send_rate_caps
from shared.db.messages import ClaimedMessage, claim_for_sending, release_claims
from shared.db.suppressions import suppress_queued
from shared.errors import Failure, SendingPaused, TransportError
from shared.intake.addresses import address_of
from shared.intake.waiters import publish_states
from shared.rate.limiter import FleetRateLimiter
from shared.rate.pause import SendingPause
from shared.rate.quota import QuotaStore
from shared.rendering.mime import RenderCache, render
from shared.rendering.tracking import Tracker, tracker_for
from shared.runtime.backoff import backoff_delay
from shared.settings import Settings
from shared.transports.base import Envelope, Pace, Transport, no_pace

log = logging.getLogger("mailpipe.sender")

#: Retry backoff after a provably-unsent failure: base * 2^(attempt-1), capped.
BACKOFF_BASE = 2.0
BACKOFF_CAP = 300.0


#: After a throttling answer, the whole fleet holds back this many seconds
#: (a quarter second: long enough to let SES's window drain a burst, short
#: enough that a stray throttle does not cost a second of the whole budget).
THROTTLE_PENALTY = 0.25
#: A message whose key's cap would make it wait longer than this (s) is
#: left for later instead of holding a sender thread.
KEY_WAIT_LIMIT = 2.0
#: How stale (s) a sender's view of the fleet pause may be.
PAUSE_RECHECK = 0.5
#: Claim no more rows at once than can be sent within this many seconds.
CLAIM_HORIZON = 2.0
#: A long batch hands its outcomes to the recorder at least this often.
OUTCOME_FLUSH_SECONDS = 1.0


@dataclass(frozen=True)
class SenderDeps:
    settings: Settings
    engine: Engine
    broker: RedisBroker
    transport: Transport
    limiter: FleetRateLimiter
    pause: SendingPause
    #: True once this process was asked to stop: the rest of the batch goes
    #: back to the queue unsent.
    stopping: Callable[[], bool] = lambda: False
    meter: SendMeter | None = None
    renderer: RenderCache = field(default_factory=RenderCache)


def worker_id() -> str:
    """Names the thread holding a claim, for operators reading a stuck row."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def retry_delay(attempt: int) -> float:
    """Exponential backoff with full jitter, so retried rows do not stampede together."""
    return backoff_delay(attempt, base=BACKOFF_BASE, cap=BACKOFF_CAP, jitter=True)


def send_batch(deps: SenderDeps, batch: SendBatch) -> OutcomeBatch:
    """Claim the ``queued`` rows among ``batch`` a chunk at a time and send them at the fleet rate.

    Each send reserves its slot of the fleet's budget only when its request
    is ready to leave (``_Slot``, called by the transport: a slot used late
    would bunch its send with later ones and break the rate). Rows are
    claimed in chunks sized so that the last of a chunk waits about
    CLAIM_HORIZON for its slot at the current pace: one claim per chunk at
    high rates, one row at a time when slots are scarce, so a claimed row
    never waits out its lease. Outcomes reach the recorder at least every
    second.

    When the fleet is paused, the quota is spent or this sender is stopping,
    claimed-but-unsent rows go back to ``queued`` (their attempt undone), the
    outcomes so far are published, and SendingPaused makes dramatiq retry the
    batch later; rows already sent are then skipped by their claims.
    """
    ids = list(batch.ids)
    with deps.engine.begin() as conn:
        # Suppressed recipients end here, before the claim: never sent.
        suppressed = suppress_queued(conn, ids)
        caps = send_rate_caps(conn, ids)
    if suppressed:
        log.info("suppressed %d messages: their recipients are on the suppression list",
                 len(suppressed))
        publish_states(deps.limiter.redis, dict.fromkeys(suppressed, "suppressed"))
    tracker = tracker_for(deps.settings)
    report = _Report(deps)
    todo, held = deque(ids), deque()
    chunk = 1
    try:
        while todo or held:
            if not held:
                _check_may_send(deps)
                held.extend(_claim(deps, [todo.popleft() for _ in range(min(chunk, len(todo)))]))
                continue
            message = held[0]
            _check_may_send(deps)
            weight = len(message.recipients)  # the budget counts recipients
            slot = _Slot(deps.limiter, _key_slot(deps, caps.get(message.id), weight), weight)
            outcome = send_one(deps.transport, message, tracker=tracker, pace=slot,
                               on_error=lambda e: _slow_fleet(deps, e), renderer=deps.renderer)
            if slot.paused:  # not sent: it stays held and goes back with the others
                raise slot.paused
            held.popleft()
            report.add(outcome, weight)
            chunk = _chunk_size(slot.waited, deps.settings)
    finally:
        if held:
            _release(deps, list(held))
        report.flush()
    return OutcomeBatch(tuple(report.outcomes))


class _Report:
    """Outcomes of one batch on their way to the recorder, with the sent count."""

    def __init__(self, deps: SenderDeps) -> None:
        self.deps = deps
        self.outcomes: list[Outcome] = []
        self.unpublished: list[Outcome] = []
        self.sent_weight = 0
        self.published_at = time.monotonic()

    def add(self, outcome: Outcome, weight: int) -> None:
        # Kept before anything else can raise: the outcome of a send made
        # must reach the recorder (flush, in ``finally``) or the row ends unknown.
        self.outcomes.append(outcome)
        self.unpublished.append(outcome)
        if outcome.kind is OutcomeKind.SENT:
            self.sent_weight += weight
        if time.monotonic() - self.published_at >= OUTCOME_FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        batch, self.unpublished = OutcomeBatch(tuple(self.unpublished)), []
        self.published_at = time.monotonic()
        publish_outcomes(self.deps.broker, batch)
        if self.sent_weight:
            weight, self.sent_weight = self.sent_weight, 0
            if self.deps.meter:
                self.deps.meter.add(weight)
            QuotaStore(self.deps.limiter.redis).record_sent(weight)


def _claim(deps: SenderDeps, ids: list[int]) -> list[ClaimedMessage]:
    with deps.engine.begin() as conn:
        claimed = claim_for_sending(conn, ids, worker_id=worker_id(),
                                    lease=deps.settings.send_lease)
    if len(claimed) < len(ids):
        log.info("%d of %d messages skipped: not queued any more (claimed elsewhere, "
                 "cancelled or done)", len(ids) - len(claimed), len(ids))
    return claimed


def _release(deps: SenderDeps, held: list[ClaimedMessage]) -> None:
    """Claimed rows this sender will not send now go back to ``queued``, unsent."""
    with deps.engine.begin() as conn:
        count = release_claims(conn, [m.id for m in held], worker_id=worker_id())
    log.info("%d claimed messages handed back unsent", count)


def _chunk_size(wait: float, settings: Settings) -> int:
    """How many rows to claim next, given how long the last slot took to come."""
    return max(1, min(settings.send_batch, int(CLAIM_HORIZON / max(wait, 0.001))))


class _Slot:
    """A message's pace (see Transport): its slot of the fleet's budget, waited for.

    The transport calls it as late as it can (SES: once boto3 has built and
    signed the request), so a thread held up building a request cannot send
    bunched with later slots. Raising TransportError (transient) there means
    "not sent": on a Redis failure the row is retried later; when the quota
    has just run out, the batch stops and the row is handed back unsent with
    its attempt undone (``paused``). Never ``sending`` and then ``unknown``.
    """

    def __init__(self, limiter: FleetRateLimiter, key_at: float, weight: int) -> None:
        self.limiter, self.key_at, self.weight = limiter, key_at, weight
        #: Seconds the slot lay ahead when reserved: the fleet's current pace.
        self.waited = 0.0
        #: Set when the quota ran out just now: the batch stops, the row is
        #: handed back with its attempt undone (not retried, which would count).
        self.paused: SendingPaused | None = None

    def __call__(self) -> None:
        try:
            send_at = max(self.key_at, self.limiter.reserve(self.weight))
            self.waited = send_at - time.monotonic()
            self.limiter.wait_for_slot(send_at, self.weight)
        except SendingPaused as exc:
            self.paused = exc
            raise TransportError(f"not sent: {exc}", Failure.TRANSIENT) from exc
        except RedisError as exc:
            raise TransportError(f"not sent: no slot of the fleet's rate: {exc}",
                                 Failure.TRANSIENT) from exc


def _key_slot(deps: SenderDeps, cap: tuple[int, float] | None, weight: int = 1) -> float:
    """When the message's API key may send next (now, for a key without a cap).

    A key far over its cap does not hold this thread: the batch comes back
    later (SendingPaused), its rows still ``queued`` and their attempts
    untouched, so other keys' messages keep flowing.
    """
    if cap is None:
        return 0.0
    key_id, rate = cap
    key_at = deps.limiter.reserve_for_key(key_id, rate, weight)
    wait = key_at - time.monotonic()
    if wait > KEY_WAIT_LIMIT:
        deps.limiter.release_for_key(key_id, rate, weight)
        raise SendingPaused(f"API key {key_id} is at its send cap of {rate:g}/s",
                            delay_ms=int(wait * 1000))
    return key_at


def _check_may_send(deps: SenderDeps) -> None:
    if deps.stopping():
        raise SendingPaused("this sender is shutting down", delay_ms=1000)
    deps.limiter.rate()  # raises SendingPaused while the 24-hour quota is spent
    paused = deps.pause.reason(max_age=PAUSE_RECHECK)
    if paused:
        raise SendingPaused(f"sending is paused: {paused}")


def _slow_fleet(deps: SenderDeps, exc: TransportError) -> None:
    """A throttle slows every sender; a suspended account pauses them all.

    Best effort: with Redis down the message's own outcome still counts more.
    """
    try:
        if exc.throttled:
            deps.limiter.penalize(THROTTLE_PENALTY)
        if exc.pauses_fleet:
            log.error("SES refuses to send for this account; pausing every sender: %s", exc)
            deps.pause.pause(str(exc))
    except RedisError as redis_exc:
        log.warning("could not slow or pause the fleet (Redis: %s)", redis_exc)


def send_one(
    transport: Transport, message: ClaimedMessage,
    on_error: Callable[[TransportError], None] = lambda exc: None,
    tracker: Tracker | None = None,
    renderer: RenderCache | None = None,
    pace: Pace = no_pace,
) -> Outcome:
    """Send one claimed message and say what became of it. Never raises.

    Every exception becomes an outcome on purpose: the claim is already
    taken, so the row must reach the recorder as sent, failed, retry or
    unknown; raising would leave it ``sending`` until its lease ran out.
    """
    def outcome(kind: OutcomeKind, **fields) -> Outcome:
        return Outcome(message.id, message.attempt, kind, time.time(), **fields)

    try:
        now = datetime.now(UTC)
        raw = (renderer.render_bytes(message, now=now, tracker=tracker) if renderer
               else render(message, now=now, tracker=tracker).as_bytes())
    except Exception as exc:  # noqa: BLE001 - nothing was sent: a permanent failure
        log.exception("message %d: cannot render", message.id)
        return outcome(OutcomeKind.FAILED, error=f"cannot render message: {exc}")
    try:
        provider_id = transport.send(Envelope(
            address_of(message.from_addr), message.recipients, raw, relay=message.relay), pace)
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
