"""The sender's step: claim the rows of one queued batch a chunk at a time and send them.

``send_batch`` is what the dramatiq actor runs; it is a plain function of
its dependencies (``SenderDeps``) so tests call it directly, without a
worker. Pacing (slots, key caps, chunk sizes, the fleet's brakes) is in
services.sender.pacing; what becomes of each send, and how outcomes reach
the recorder, in services.sender.outcomes.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from dramatiq.brokers.redis import RedisBroker
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from services.sender.claims import Claims, keeping
from services.sender.meter import SendMeter
from services.sender.outcomes import Report, not_sent, send_many, send_one
from services.sender.pacing import (
    Slot,
    bulk_part,
    check_may_send,
    chunk_size,
    entries_per_call,
    key_slot,
    slow_fleet,
)
from services.sender.share import RateShare
from shared.broker.payloads import OutcomeBatch, OutcomeKind, SendBatch
from shared.db.claims import ContentCache
from shared.db.engine import autocommit
from shared.db.keys import send_rate_caps
from shared.db.messages import ClaimedMessage
from shared.db.suppressions import suppress_queued
from shared.errors import SendingPaused, TransportError
from shared.intake.waiters import publish_states
from shared.rate.limiter import FleetRateLimiter
from shared.rate.pause import FleetPause
from shared.rendering.bulk import bulk_eligible, plan_bulk
from shared.rendering.compose import Composer
from shared.rendering.tracking import tracker_for
from shared.settings import Settings
from shared.states import MessageState as S
from shared.transports.base import Transport, bulk_sender

log = logging.getLogger("mailpipe.sender")


@dataclass(frozen=True)
class SenderDeps:
    """Everything a send step uses, built once per process by services.sender.main."""

    settings: Settings
    engine: Engine
    broker: RedisBroker
    #: Announces suppressions to waiting callers and counts the fleet's sends
    #: against its 24-hour quota.
    redis: Redis
    transport: Transport
    limiter: FleetRateLimiter
    #: The fleet's pause: read before each claim and send, set when SES refuses the account.
    pause: FleetPause
    #: True once this process was asked to stop: the rest of the batch goes
    #: back to the queue unsent.
    stopping: Callable[[], bool] = lambda: False
    meter: SendMeter | None = None
    composer: Composer = field(default_factory=Composer)
    #: Contents this process has read, for every claim of their rows.
    contents: ContentCache = field(default_factory=ContentCache)


def worker_id() -> str:
    """Names the thread holding a claim, for operators reading a stuck row."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def send_batch(deps: SenderDeps, batch: SendBatch) -> OutcomeBatch:
    """Claim the ``queued`` rows among ``batch`` a chunk at a time and send them at the fleet rate.

    Rows sharing a content and sender go out together through the
    transport's bulk send when it has one (SES SendBulkEmail), as many per
    call as the fleet's rate allows in a second (at most 50) and its slot
    has room for (``bulk_part``: the rest go in the next call); rows bulk
    cannot carry exactly as mailpipe renders them go one by one. A call
    charges the budget all its recipients at once.

    Each send reserves its slot of the fleet's budget only when its request
    is ready to leave (``Slot``, called by the transport: a slot used late
    would bunch its send with later ones and break the rate). Rows are
    claimed in chunks this thread can send within CLAIM_HORIZON and half a
    lease at its share of the rate (``chunk_size``), and the leases of the
    rows it holds are renewed ahead of each send (services.sender.claims), so
    no claim of a live sender runs out. Outcomes reach the recorder at least
    every second.

    When the fleet is paused, the quota is spent, this sender is stopping or
    SES refuses the account (which pauses the fleet), every claimed-but-unsent
    row goes back to ``queued`` (its attempt undone), the outcomes so far are
    published, and SendingPaused makes dramatiq retry the batch later; rows
    already sent are then skipped by their claims.
    """
    ids = list(batch.ids)
    with autocommit(deps.engine) as conn:
        # Suppressed recipients end here, before the claim: never sent.
        suppressed = suppress_queued(conn, ids)
        caps = send_rate_caps(conn, ids)
    if suppressed:
        log.info("suppressed %d messages: their recipients are on the suppression list",
                 len(suppressed))
        publish_states(deps.redis, dict.fromkeys(suppressed, S.SUPPRESSED))
    tracker = tracker_for(deps.settings)
    report = Report(deps.broker, deps.redis, deps.meter)
    send_bulk = bulk_sender(deps.transport)
    worker = worker_id()
    claims = Claims(deps.engine, worker, deps.settings.send_lease, deps.contents)
    share = RateShare(deps.redis, worker)
    todo = deque(ids)
    one_by_one: set[int] = set()  # held rows SendBulkEmail cannot carry as mailpipe renders them
    # With bulk sends a claim carries at least one call's worth (a second's
    # worth of the rate at most: their slots are that close).
    least = entries_per_call(deps.limiter, caps.get(ids[0])) if send_bulk and ids else 1
    pace = 0.0  # the last slot's wait per recipient: the fleet's pace
    try:
        while todo or claims:
            check_may_send(deps.stopping, deps.limiter, deps.pause)
            if not claims:
                rate_share = deps.limiter.rate() / share.threads()
                chunk = chunk_size(pace, len(todo), lease=deps.settings.send_lease,
                                   share=rate_share, least=least)
                claims.claim([todo.popleft() for _ in range(min(chunk, len(todo)))])
                continue
            waited = _send_next(deps, claims, caps, one_by_one, tracker, report, send_bulk)
            if waited is not None:
                pace = waited
    finally:
        _clean_up(deps, report, claims, share)
    return OutcomeBatch(tuple(report.outcomes))


def _send_next(deps: SenderDeps, claims: Claims, caps: dict, one_by_one: set[int],
               tracker, report: Report, send_bulk) -> float | None:
    """Send the first held row (with the held rows one bulk call can carry along).

    Returns the slot's wait per recipient (None when nothing was sent).
    Raises SendingPaused when the batch must stop: the quota ran out at the
    slot, the lease could not be renewed, or SES refused the account.
    """
    held = claims.held
    cap = caps.get(held[0].id)
    group = (_bulk_group(held, one_by_one, entries_per_call(deps.limiter, cap))
             if send_bulk else [])
    bulk, carried, left = (plan_bulk(group, tracker, deps.composer) if group
                           else (None, [], []))
    one_by_one.update(m.id for m in left)
    refused: list[TransportError] = []  # account-level answers: the fleet's, not the message's

    def on_error(exc: TransportError) -> None:
        slow_fleet(deps.limiter, exc)
        if exc.pauses_fleet:
            refused.append(exc)

    # Every wait for a slot (a bulk call's part, the key's cap, the fleet's
    # slot) may last longer than a lease: the held rows are renewed meanwhile.
    with keeping(claims):
        fleet_at = None
        if bulk is None:
            carried = [held[0]]
        else:
            # The call carries what its slot has room for; the rest stay held for the next one.
            fleet_at, granted = bulk_part(deps.limiter, len(carried), report.publish_before_wait)
            if granted < len(carried):  # bulk entries carry one recipient each
                bulk, carried = replace(bulk, entries=bulk.entries[:granted]), carried[:granted]
        weight = sum(len(m.recipients) for m in carried)  # the budget counts recipients
        # A single send is followed by the other held rows': slots for them
        # may be leased with its own (at a sparse rate, FleetRateLimiter.reserve).
        ahead = len(held) - 1 if bulk is None else 0
        slot = Slot(deps.limiter, key_slot(deps.limiter, cap, weight), weight, ahead,
                    cover=lambda: claims.cover(carried), idle=report.publish_before_wait,
                    reserved=fleet_at)
        outcomes = (send_many(send_bulk, bulk, carried, on_error=on_error, pace=slot)
                    if bulk is not None else
                    [send_one(deps.transport, carried[0], tracker=tracker, pace=slot,
                              on_error=on_error, composer=deps.composer)])
    if slot.paused:  # not sent: they stay held and go back with the others
        raise slot.paused
    if slot.lost:  # not sent: lost rows left ``held``; the others are still this thread's
        if slot.lost.stop:
            raise SendingPaused(str(slot.lost), delay_ms=5000)
        return None
    if refused:
        deps.pause.pause(str(refused[0]))
        if all(o.kind is OutcomeKind.RETRY for o in outcomes):
            # Nothing of the call went out: its rows go back with the other
            # held ones, their attempts undone, to wait for the account.
            raise SendingPaused(f"sending is paused: {refused[0]}")
    claims.sent({m.id for m in carried})
    for message, outcome in zip(carried, outcomes, strict=True):
        report.add(outcome, len(message.recipients))
    return slot.waited / weight


def _clean_up(deps: SenderDeps, report: Report, claims: Claims, share: RateShare) -> None:
    """The end of a batch, however it ends: outcomes first, then the rows held unsent.

    Outcomes of sends made go to the recorder before anything else is tried,
    each step in its own guard: a PostgreSQL that cannot take the hand-back
    (a SIGTERM during a database restart) must not keep SES's answers from
    the recorder, or rows SES accepted would end ``unknown``.
    """
    try:
        report.flush()
    finally:
        try:
            _hand_back(claims, report)
        finally:
            try:
                share.leave()
            except RedisError:
                pass  # the roll forgets it after ACTIVE_SECONDS


def _hand_back(claims: Claims, report: Report) -> None:
    """Held rows go back to ``queued`` unsent; without PostgreSQL, through the recorder."""
    try:
        claims.release()
    except SQLAlchemyError as exc:
        # Provably unsent: a retry outcome says so, and the recorder applies it
        # once PostgreSQL is back (else their leases would run out: ``unknown``).
        log.error("could not hand back %d held messages (%s); the recorder will put them "
                  "back to queued", len(claims), exc)
        for message in claims.held:
            report.add(not_sent(message, f"handed back unsent: {exc.__class__.__name__}"), 0)
        report.flush()


def _bulk_group(held: deque[ClaimedMessage], one_by_one: set[int],
                most: int) -> list[ClaimedMessage]:
    """The held rows that can share one SendBulkEmail call with the first ([] if none can).

    Same content and sender, each ``bulk_eligible``, at most ``most``; a
    group of one is no group (SendEmail sends it).
    """
    first = held[0]
    if most < 2 or first.id in one_by_one or not bulk_eligible(first):
        return []
    key = (first.content_id, first.from_addr)
    group = [m for m in held if (m.content_id, m.from_addr) == key
             and m.id not in one_by_one and bulk_eligible(m)][:most]
    return group if len(group) > 1 else []
