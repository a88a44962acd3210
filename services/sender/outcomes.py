"""Outcomes: what became of one send, and how outcomes reach the recorder.

``send_one`` composes and sends one claimed message, ``send_many`` one
bulk call's messages; each turns whatever happens into outcomes (sent,
retry, failed or unknown, from the transport's permanent / transient /
ambiguous failure, per entry or for the whole call) and never raises.
``Report`` carries a batch's outcomes to the recorder's queue, the one
writer of sent, failed and unknown, at least every OUTCOME_FLUSH_SECONDS,
and counts what was sent against the fleet's 24-hour quota.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from dramatiq.brokers.redis import RedisBroker
from redis import Redis
from redis.exceptions import RedisError

from services.sender.meter import SendMeter
from shared.broker.payloads import Outcome, OutcomeBatch, OutcomeKind
from shared.broker.queues import publish_outcomes
from shared.db.messages import ClaimedMessage
from shared.errors import Failure, TransportError
from shared.intake.addresses import address_of
from shared.metrics.instruments import RECIPIENTS_SENT, SENDS, transport_label
from shared.rate.quota import QuotaStore
from shared.rendering.compose import Composer
from shared.rendering.mime import build_mime
from shared.rendering.submitted import sendable
from shared.rendering.tracking import Tracker
from shared.runtime.backoff import backoff_delay
from shared.transports.base import BulkSend, EntryResult, Envelope, Pace, Transport, no_pace

log = logging.getLogger("mailpipe.sender")

#: Retry backoff after a provably-unsent failure: base * 2^(attempt-1), capped.
BACKOFF_BASE = 2.0
BACKOFF_CAP = 300.0

#: A long batch hands its outcomes to the recorder at least this often.
OUTCOME_FLUSH_SECONDS = 1.0


def retry_delay(attempt: int) -> float:
    """Exponential backoff with full jitter, so retried rows do not stampede together."""
    return backoff_delay(attempt, base=BACKOFF_BASE, cap=BACKOFF_CAP, jitter=True)


def _outcome(message: ClaimedMessage, kind: OutcomeKind, via: str, label: str | None = None,
             counted: bool = True, **fields) -> Outcome:
    """The outcome, counted in ``mailpipe_sends_total`` by transport (``via``) and outcome
    (``label``: retries are split into throttled and retried) unless the caller counts
    several at once (``counted=False``)."""
    if counted:
        SENDS.labels(via, label or kind.value).inc()
    return Outcome(message.id, message.attempt, kind, time.time(), **fields)


def send_one(
    transport: Transport, message: ClaimedMessage,
    on_error: Callable[[TransportError], None] = lambda exc: None,
    tracker: Tracker | None = None,
    composer: Composer | None = None,
    pace: Pace = no_pace,
) -> Outcome:
    """Send one claimed message and say what became of it. Never raises.

    Every exception becomes an outcome on purpose: the claim is already
    taken, so the row must reach the recorder as sent, failed, retry or
    unknown; raising would leave it ``sending`` until its lease ran out.
    The MIME bytes are built only if the transport asks for them (SES
    builds the MIME itself from the parts where it can).
    """
    via = transport_label(transport, message.relay is not None)
    try:
        envelope = _envelope(message, tracker, composer)
    except Exception as exc:  # noqa: BLE001 - nothing was sent: a permanent failure
        log.exception("message %d: cannot render", message.id)
        return _outcome(message, OutcomeKind.FAILED, via,
                        error=f"cannot render message: {exc}")
    try:
        provider_id = transport.send(envelope, pace)
    except TransportError as exc:
        on_error(exc)
        return _failure_outcome(message, exc, via)
    except Exception as exc:  # noqa: BLE001 - a bug mid-send: we cannot know if it went out
        log.exception("message %d: unexpected error while sending", message.id)
        return _outcome(message, OutcomeKind.UNKNOWN, via,
                        error=f"unexpected error while sending: {exc!r}")
    # DEBUG: at thousands of sends a second one INFO line each costs more CPU
    # than the send's own work; the meter logs the rate, failures still warn.
    log.debug("message %d to %s sent as %s (attempt %d)",
             message.id, message.to_addr, provider_id, message.attempt)
    return _outcome(message, OutcomeKind.SENT, via, provider_message_id=provider_id)


def _envelope(message: ClaimedMessage, tracker: Tracker | None,
              composer: Composer | None) -> Envelope:
    """What the transport sends for ``message``: a submitted message's own bytes (SES
    sends them Raw), else its parts composed (and MIME built only if asked for); tagged
    with the message and named with its key's configuration set, for SES."""
    if message.raw is not None:
        return Envelope(address_of(message.from_addr), message.recipients,
                        sendable(message, tracker), relay=message.relay,
                        tags=message.send_tags, configuration_set=message.configuration_set)
    composed = (composer or Composer(size=0)).compose(message, tracker)
    return Envelope(
        address_of(message.from_addr), message.recipients,
        lambda: build_mime(composed, now=datetime.now(UTC)).as_bytes(),
        relay=message.relay, composed=composed, tags=message.send_tags,
        configuration_set=message.configuration_set)


def send_many(
    send_bulk: Callable[[BulkSend, Pace], list[EntryResult]], bulk: BulkSend,
    messages: list[ClaimedMessage],
    on_error: Callable[[TransportError], None] = lambda exc: None,
    pace: Pace = no_pace, via: str = "ses",
) -> list[Outcome]:
    """Send ``bulk`` (one entry per message of ``messages``, in order); one outcome each.

    Never raises. An entry's own result decides its message (sent with its
    MessageId, or failed / retried by its status); a call that failed whole
    decides every message alike: throttled or provably unsent, back to
    ``queued``; ambiguous, ``unknown``; refused, ``failed``.
    """
    try:
        results = send_bulk(bulk, pace)
    except TransportError as exc:
        on_error(exc)
        return [_failure_outcome(m, exc, via) for m in messages]
    except Exception as exc:  # noqa: BLE001 - a bug mid-send: we cannot know if it went out
        log.exception("bulk send of %d messages: unexpected error", len(messages))
        return [_outcome(m, OutcomeKind.UNKNOWN, via,
                         error=f"unexpected error while sending: {exc!r}") for m in messages]
    outcomes, slowed, sent = [], False, 0
    for message, result in zip(messages, results, strict=True):
        if isinstance(result, TransportError):
            if not slowed and (result.throttled or result.pauses_fleet):
                on_error(result)  # once per call: the fleet slows down once
                slowed = True
            outcomes.append(_failure_outcome(message, result, via))
        else:
            outcomes.append(_outcome(message, OutcomeKind.SENT, via, counted=False,
                                     provider_message_id=result))
            sent += 1
    # One increment per call (each is a lock and a multiprocess file write, ~1.7 us).
    SENDS.labels(via, OutcomeKind.SENT.value).inc(sent)
    log.debug("bulk send: %d of %d messages sent (ids %d..%d)", sent, len(messages),
             messages[0].id, messages[-1].id)
    return outcomes


def not_sent(message: ClaimedMessage, reason: str) -> Outcome:
    """The outcome of a claimed row its sender provably did not send (back to ``queued``)."""
    return _outcome(message, OutcomeKind.RETRY, "none", counted=False, error=reason,
                    retry_after=retry_delay(message.attempt))


def _failure_outcome(message: ClaimedMessage, exc: TransportError, via: str) -> Outcome:
    if exc.pauses_fleet:
        log.warning("message %d: not sent: SES refuses the account (%s)", message.id, exc)
        return _outcome(message, OutcomeKind.RETRY, via, "retried", error=str(exc),
                        retry_after=retry_delay(message.attempt))
    if exc.failure is Failure.TRANSIENT:
        delay = retry_delay(message.attempt)
        log.warning("message %d: not sent (%s); retrying in %.1fs", message.id, exc, delay)
        return _outcome(message, OutcomeKind.RETRY, via,
                        "throttled" if exc.throttled else "retried",
                        error=str(exc), retry_after=delay)
    if exc.failure is Failure.PERMANENT:
        log.warning("message %d to %s failed: %s", message.id, message.to_addr, exc)
        return _outcome(message, OutcomeKind.FAILED, via, error=str(exc))
    log.error("message %d to %s: outcome unknown, not retried: %s",
              message.id, message.to_addr, exc)
    return _outcome(message, OutcomeKind.UNKNOWN, via, error=str(exc))


class Report:
    """Outcomes of one batch on their way to the recorder, with the sent count.

    ``redis`` holds the fleet's 24-hour sent count (QuotaStore); ``meter``,
    when given, is this process's own sent-per-second log.
    """

    def __init__(self, broker: RedisBroker, redis: Redis, meter: SendMeter | None = None) -> None:
        self.broker, self.meter, self.quota = broker, meter, QuotaStore(redis)
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

    def publish_before_wait(self) -> None:
        """Publish what is unpublished, before this thread waits (best effort: a Redis
        failure leaves it for the next flush)."""
        if not self.unpublished:
            return
        try:
            self.flush()
        except RedisError as exc:
            log.warning("could not publish %d outcomes before a wait (Redis: %s)",
                        len(self.unpublished), exc)

    def flush(self) -> None:
        # Cleared only once published: a flush that fails keeps them for the next.
        publish_outcomes(self.broker, OutcomeBatch(tuple(self.unpublished)))
        self.unpublished = []
        self.published_at = time.monotonic()
        if self.sent_weight:
            weight, self.sent_weight = self.sent_weight, 0
            if self.meter:
                self.meter.add(weight)
            self.quota.record_sent(weight)
            RECIPIENTS_SENT.inc(weight)
