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
from dataclasses import dataclass, field

from dramatiq.brokers.redis import RedisBroker
from redis import Redis
from sqlalchemy import Engine

from services.sender.meter import SendMeter
from services.sender.outcomes import Report, send_many, send_one
from services.sender.pacing import (
    Slot,
    check_may_send,
    chunk_size,
    entries_per_call,
    key_slot,
    slow_fleet,
)
from shared.broker.payloads import OutcomeBatch, SendBatch
from shared.db.engine import autocommit
from shared.db.keys import send_rate_caps
from shared.db.messages import ClaimedMessage, ContentCache, claim_for_sending, release_claims
from shared.db.suppressions import suppress_queued
from shared.intake.waiters import publish_states
from shared.rate.limiter import FleetRateLimiter
from shared.rate.pause import SendingPause
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
    pause: SendingPause
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
    call as the fleet's rate allows in a second (at most 50); rows bulk
    cannot carry exactly as mailpipe renders them go one by one. A call
    charges the budget all its recipients at once.

    Each send reserves its slot of the fleet's budget only when its request
    is ready to leave (``Slot``, called by the transport: a slot used late
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
    todo, held = deque(ids), deque()
    one_by_one: set[int] = set()  # held rows SendBulkEmail cannot carry as mailpipe renders them
    # The first claim: one row, or with bulk sends as many as one call may
    # carry (a second's worth of the rate: their slots are that close).
    chunk = entries_per_call(deps.limiter, caps.get(ids[0])) if send_bulk and ids else 1
    try:
        while todo or held:
            if not held:
                check_may_send(deps.stopping, deps.limiter, deps.pause)
                held.extend(_claim(deps, [todo.popleft() for _ in range(min(chunk, len(todo)))]))
                continue
            check_may_send(deps.stopping, deps.limiter, deps.pause)
            cap = caps.get(held[0].id)
            group = (_bulk_group(held, one_by_one, entries_per_call(deps.limiter, cap))
                     if send_bulk else [])
            bulk, carried, left = (plan_bulk(group, tracker, deps.composer) if group
                                   else (None, [], []))
            one_by_one.update(m.id for m in left)
            if bulk is None:
                carried = [held[0]]
            weight = sum(len(m.recipients) for m in carried)  # the budget counts recipients
            # A single send is followed by the other held rows': slots for them
            # may be leased with its own (at a sparse rate, FleetRateLimiter.reserve).
            ahead = len(held) - 1 if bulk is None else 0
            slot = Slot(deps.limiter, key_slot(deps.limiter, cap, weight), weight, ahead)
            on_error = lambda e: slow_fleet(deps.limiter, deps.pause, e)  # noqa: E731
            outcomes = (send_many(send_bulk, bulk, carried, on_error=on_error, pace=slot)
                        if bulk is not None else
                        [send_one(deps.transport, carried[0], tracker=tracker, pace=slot,
                                  on_error=on_error, composer=deps.composer)])
            if slot.paused:  # not sent: they stay held and go back with the others
                raise slot.paused
            done = {m.id for m in carried}
            held = deque(m for m in held if m.id not in done)
            for message, outcome in zip(carried, outcomes, strict=True):
                report.add(outcome, len(message.recipients))
            # As much of the batch as the pace lets go within CLAIM_HORIZON.
            chunk = chunk_size(slot.waited / weight, len(ids))
    finally:
        if held:
            _release(deps, list(held))
        report.flush()
    return OutcomeBatch(tuple(report.outcomes))


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


def _claim(deps: SenderDeps, ids: list[int]) -> list[ClaimedMessage]:
    # One statement, committed as it returns (so before anything is sent).
    with autocommit(deps.engine) as conn:
        claimed = claim_for_sending(conn, ids, worker_id=worker_id(),
                                    lease=deps.settings.send_lease, contents=deps.contents)
    if len(claimed) < len(ids):
        log.info("%d of %d messages skipped: not queued any more (claimed elsewhere, "
                 "cancelled or done)", len(ids) - len(claimed), len(ids))
    return claimed


def _release(deps: SenderDeps, held: list[ClaimedMessage]) -> None:
    """Claimed rows this sender will not send now go back to ``queued``, unsent."""
    with autocommit(deps.engine) as conn:
        count = release_claims(conn, [m.id for m in held], worker_id=worker_id())
    log.info("%d claimed messages handed back unsent", count)
