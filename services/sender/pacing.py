"""Pacing: when a claimed message may leave, and how much to claim at once.

Holds the slot a send takes of the fleet's shared budget (``Slot``, called by
the transport right before the request leaves), a key's own send cap
(``key_slot``), the size of the next claim (``chunk_size``), and the fleet's
brakes: this sender stopping, the 24-hour quota spent, the fleet paused
(``check_may_send``), and a throttle or suspended account slowing or pausing
every sender (``slow_fleet``). The budget itself is shared.rate.limiter's.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from redis.exceptions import RedisError

from shared.errors import Failure, SendingPaused, TransportError
from shared.rate.limiter import FleetRateLimiter
from shared.rate.pause import SendingPause
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
#: How stale (s) a sender's view of the fleet pause may be.
PAUSE_RECHECK = 0.5
#: Claim no more rows at once than can be sent within this many seconds.
CLAIM_HORIZON = 2.0


def chunk_size(wait: float, most: int) -> int:
    """How many rows to claim next (at most ``most``), given how long the last slot took."""
    return max(1, min(most, int(CLAIM_HORIZON / max(wait, 0.001))))


class Slot:
    """A message's pace (see Transport): its slot of the fleet's budget, waited for.

    The transport calls it as late as it can (SES: once the request is built and
    signed), so a thread held up building a request cannot send
    bunched with later slots. Raising TransportError (transient) there means
    "not sent": on a Redis failure the row is retried later; when the quota
    has just run out, the batch stops and the row is handed back unsent with
    its attempt undone (``paused``). Never ``sending`` and then ``unknown``.
    """

    def __init__(self, limiter: FleetRateLimiter, key_at: float, weight: int,
                 ahead: int = 0) -> None:
        """``ahead``: single sends this thread makes right after (FleetRateLimiter.reserve)."""
        self.limiter, self.key_at, self.weight, self.ahead = limiter, key_at, weight, ahead
        #: Seconds the slot lay ahead when reserved: the fleet's current pace.
        self.waited = 0.0
        #: Set when the quota ran out just now: the batch stops, the row is
        #: handed back with its attempt undone (not retried, which would count).
        self.paused: SendingPaused | None = None

    def __call__(self) -> None:
        try:
            send_at = max(self.key_at, self.limiter.reserve(self.weight, self.ahead))
            self.waited = send_at - time.monotonic()
            self.limiter.wait_for_slot(send_at, self.weight)
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
    stopping: Callable[[], bool], limiter: FleetRateLimiter, pause: SendingPause
) -> None:
    """Raise SendingPaused when this sender stops, the quota is spent or the fleet is paused."""
    if stopping():
        raise SendingPaused("this sender is shutting down", delay_ms=1000)
    limiter.rate()  # raises SendingPaused while the 24-hour quota is spent
    paused = pause.reason(max_age=PAUSE_RECHECK)
    if paused:
        raise SendingPaused(f"sending is paused: {paused}")


def slow_fleet(limiter: FleetRateLimiter, pause: SendingPause, exc: TransportError) -> None:
    """A throttle slows every sender; a suspended account pauses them all.

    Best effort: with Redis down the message's own outcome still counts more.
    """
    try:
        if exc.throttled:
            limiter.penalize(THROTTLE_PENALTY)
        if exc.pauses_fleet:
            log.error("SES refuses to send for this account; pausing every sender: %s", exc)
            pause.pause(str(exc))
    except RedisError as redis_exc:
        log.warning("could not slow or pause the fleet (Redis: %s)", redis_exc)
