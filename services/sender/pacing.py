"""Pacing: when a claimed message may leave, and how much to claim at once.

Holds the slot a send takes of the fleet's shared budget (``Slot``, called by
the transport right before the request leaves, which also keeps the held
rows' leases ahead of it), a key's own send cap (``key_slot``), the size of
the next claim (``chunk_size``), and the fleet's brakes: this sender
stopping, the 24-hour quota spent, the fleet paused (``check_may_send``),
and a throttle slowing every sender (``slow_fleet``). The budget itself is
shared.rate.limiter's; the pause shared.rate.pause's.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from redis.exceptions import RedisError

from shared.errors import ClaimLost, Failure, SendingPaused, TransportError
from shared.rate.limiter import MAX_LEAD, FleetRateLimiter, sleep_until
from shared.rate.pause import FleetPause
from shared.rate.quota import HEADROOM
from shared.rendering.bulk import MAX_ENTRIES

log = logging.getLogger("mailpipe.sender")

#: After a throttling answer, the whole fleet holds back this many seconds
#: (a quarter second: long enough to let SES's window drain a burst, short
#: enough that a stray throttle does not cost a second of the whole budget).
THROTTLE_PENALTY = 0.25
#: A message whose key's cap would make it wait longer than this (s) is
#: left for later instead of holding a sender thread.
KEY_WAIT_LIMIT = 2.0
#: Before a wait for a slot longer than this (s), the outcomes a thread has
#: not published yet are published: a shared rate can keep it waiting longer
#: than a lease, and its sent rows' leases are no longer renewed.
IDLE_WAIT = 0.5
#: How stale (s) a sender's view of the fleet pause may be.
PAUSE_RECHECK = 0.5
#: Claim no more rows at once than can be sent within this many seconds...
CLAIM_HORIZON = 2.0
#: ...nor within this fraction of the lease (leases are renewed as rows are
#: sent, but a claim sized to outlive its lease would need that every time).
CLAIM_FRACTION = 0.5


def chunk_size(pace: float, most: int, *, lease: float, share: float, least: int = 1) -> int:
    """How many rows to claim next: at most ``most``, at least ``least`` (a bulk call's worth).

    As many as this thread sends within CLAIM_HORIZON and CLAIM_FRACTION of
    the ``lease``, at the slower of two paces: the fleet's now (``pace``: its
    last slot's wait per recipient) and this thread's ``share`` of the rate
    (recipients/s: the rate over the threads sending). The last wait alone
    says nothing of the threads about to start: one that found the fleet
    idle would claim everything, then send it at a fraction of the pace.
    """
    per_row = max(pace, 1.0 / max(share, 0.001), 0.001)
    horizon = min(CLAIM_HORIZON, CLAIM_FRACTION * lease)
    return max(1, least, min(most, int(horizon / per_row)))


class Slot:
    """A message's pace (see Transport): its slot of the fleet's budget, waited for.

    The transport calls it as late as it can (SES: once the request is built and
    signed), so a thread held up building a request cannot send
    bunched with later slots. Raising TransportError (transient) there means
    "not sent": on a Redis failure the row is retried later; when the quota
    has just run out, the batch stops and the row is handed back unsent with
    its attempt undone (``paused``). Never ``sending`` and then ``unknown``.

    Once the slot has come, ``cover`` (services.sender.claims) checks that the
    rows about to leave are still this thread's, with lease enough: a row
    whose claim was lost is not sent (``lost``), nor is any when the lease
    cannot be renewed.
    """

    def __init__(self, limiter: FleetRateLimiter, key_at: float, weight: int,
                 ahead: int = 0, cover: Callable[[], None] | None = None,
                 idle: Callable[[], None] | None = None,
                 reserved: float | None = None) -> None:
        """``ahead``: single sends this thread makes right after (FleetRateLimiter.reserve).
        ``idle``: called before a wait of more than IDLE_WAIT (publish what is done).
        ``reserved``: the fleet slot already reserved for these ``weight`` recipients
        (``bulk_part``), used the first time; a second pace (the transport's
        connection died meanwhile) reserves afresh."""
        self.limiter, self.key_at, self.weight, self.ahead = limiter, key_at, weight, ahead
        self.cover, self.idle, self.reserved = cover, idle, reserved
        #: Set when this send's claims were lost (or could not be renewed): not sent.
        self.lost: ClaimLost | None = None
        #: Seconds the slot lay ahead when reserved: the fleet's current pace.
        self.waited = 0.0
        #: Set when the quota ran out just now: the batch stops, the row is
        #: handed back with its attempt undone (not retried, which would count).
        self.paused: SendingPaused | None = None

    def __call__(self) -> None:
        try:
            fleet_at, self.reserved = self.reserved, None
            if fleet_at is None:
                fleet_at = self.limiter.reserve(self.weight, self.ahead)
            send_at = max(self.key_at, fleet_at)
            self.waited = send_at - time.monotonic()
            if self.idle is not None and self.waited > IDLE_WAIT:
                self.idle()
            self.limiter.wait_for_slot(send_at, self.weight)
            if self.cover is not None:
                self.cover()
        except ClaimLost as exc:
            self.lost = exc
            raise TransportError(str(exc), Failure.TRANSIENT) from exc
        except SendingPaused as exc:
            self.paused = exc
            raise TransportError(f"not sent: {exc}", Failure.TRANSIENT) from exc
        except RedisError as exc:
            raise TransportError(f"not sent: no slot of the fleet's rate: {exc}",
                                 Failure.TRANSIENT) from exc


#: Below this fleet (or key) rate a call carries one recipient: single sends.
#: At low rates the CPU is not what limits, and bulk calls of uneven sizes
#: wait for SES's sliding second to clear (bench/rate.py at 14/s: 67% of R
#: with bulk calls, 98% without).
BULK_MIN_RATE = 50.0


def entries_per_call(limiter: FleetRateLimiter, cap: tuple[int, float] | None) -> int:
    """How many recipients one bulk call may carry: at most half a second's worth of the
    fleet's (and the key's) rate, split evenly, and at most SES's 50; 1 (no bulk
    call) below BULK_MIN_RATE.

    A call's recipients reach SES at one instant: a second's worth at most,
    or SES's per-second limit is overrun however well calls are spaced. Half
    a second's worth at most (7 at 14/s), in equal calls (50 at 200/s, four
    a second), so calls of other sizes (a batch's last, single sends) wait
    less for a sliding second to clear (see shared.rate.limiter).
    """
    rate = limiter.rate() / HEADROOM
    if cap:
        rate = min(rate, cap[1])
    if rate < BULK_MIN_RATE:
        return 1
    calls = max(2, math.ceil(rate / MAX_ENTRIES))
    return max(1, min(MAX_ENTRIES, int(rate / calls)))


#: The fewest recipients a bulk call is split off for (``bulk_part``): below,
#: the call waits for room for more of them. bench/rate_model.py at R=200
#: (bench/rate.py's queue: 800 recipients of one content, 200 of their own
#: in each 1,000): 98.2% of R at 5, 98.3-98.4% at 3, 98.8% at 2 and at 1.
SPLIT_LEAST = 2


def bulk_part(limiter: FleetRateLimiter, recipients: int,
              idle: Callable[[], None] | None = None) -> tuple[float, int]:
    """A bulk call's fleet slot and how many of its ``recipients`` go in it (the rest wait).

    Reserved once the call is planned, before its request is built: the
    call carries what its slot has room for (FleetRateLimiter.reserve_part),
    at least SPLIT_LEAST (or all of them) at a time. A slot beyond MAX_LEAD
    is asked for again once within it (``idle`` first, when that is a while).
    """
    least = min(recipients, SPLIT_LEAST)
    at, granted = limiter.reserve_part(recipients, least)
    while not granted:
        if idle is not None and at - time.monotonic() > IDLE_WAIT:
            idle()
        sleep_until(max(at - MAX_LEAD, time.monotonic() + 0.01))
        at, granted = limiter.reserve_part(recipients, least)
    return at, granted


def key_slot(limiter: FleetRateLimiter, cap: tuple[int, float] | None, weight: int = 1) -> float:
    """When the message's API key may send next (now, for a key without a cap).

    A key far over its cap does not hold this thread: the batch comes back
    later (SendingPaused), its rows still ``queued`` and their attempts
    untouched, so other keys' messages keep flowing.
    """
    if cap is None:
        return 0.0
    key_id, rate = cap
    key_at = limiter.reserve_for_key(key_id, rate, weight)
    wait = key_at - time.monotonic()
    if wait > KEY_WAIT_LIMIT:
        limiter.release_for_key(key_id, rate, weight)
        raise SendingPaused(f"API key {key_id} is at its send cap of {rate:g}/s",
                            delay_ms=int(wait * 1000))
    return key_at


def check_may_send(
    stopping: Callable[[], bool], limiter: FleetRateLimiter, pause: FleetPause
) -> None:
    """Raise SendingPaused when this sender stops, the quota is spent or the fleet is paused."""
    if stopping():
        raise SendingPaused("this sender is shutting down", delay_ms=1000)
    limiter.rate()  # raises SendingPaused while the 24-hour quota is spent
    paused = pause.reason(max_age=PAUSE_RECHECK)
    if paused:
        raise SendingPaused(f"sending is paused: {paused}")


def slow_fleet(limiter: FleetRateLimiter, exc: TransportError) -> None:
    """A throttle slows every sender (an account-level refusal pauses them: the batch's).

    Best effort: with Redis down the message's own outcome still counts more.
    """
    if not exc.throttled:
        return
    try:
        limiter.penalize(THROTTLE_PENALTY)
    except RedisError as redis_exc:
        log.warning("could not slow the fleet (Redis: %s)", redis_exc)
