"""One send budget for the whole fleet: a GCRA token bucket in Redis.

Every sender thread of every process reserves its recipients here, so N
processes share one rate instead of sending at N times the quota.

Redis key layout:

    mailpipe:rate:tat   the bucket's "theoretical arrival time": the moment,
                        in microseconds of Redis's own clock, at which the
                        next recipient may be sent. Expires when idle.

A reservation of ``n`` recipients starts at ``max(now, tat)`` and moves
``tat`` forward by ``n / rate`` seconds; the caller sends at its start.
There is no stored burst, so no window edge can let twice the rate through.
Redis's clock (TIME) is used so that
senders on machines with skewed clocks still share one timeline.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from redis import Redis

from shared.errors import SendingPaused
from shared.quota import HEADROOM, Quota, QuotaStore

TAT_KEY = "mailpipe:rate:tat"

# KEYS[1] = tat key; ARGV[1] = rate (recipients/s); ARGV[2] = recipients
# (negative to hand back unused ones). Returns the wait in microseconds.
_RESERVE = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local rate = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local start = tat
if n < 0 then start = now end
local new_tat = tat + n * 1000000 / rate
if new_tat < now then new_tat = now end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', 60000)
return math.floor(start - now)
"""


RateSource = Callable[[], float]
#: How late (s) a send may leave after its slot: the share of a second the
#: rate's headroom leaves free.
LATE_TOLERANCE = 1.0 - HEADROOM
MAX_RESLOTS = 5


class QuotaRate:
    """The fleet's rate from the SES quota the scheduler stores (``MAILPIPE_SEND_RATE=auto``).

    Raises SendingPaused while SES's numbers are unknown, sending is disabled
    for the account, or the 24-hour quota is spent. Read at most every
    ``cache_seconds`` per process.
    """

    def __init__(self, store: QuotaStore, cache_seconds: float = 2.0) -> None:
        self.store = store
        self.cache_seconds = cache_seconds
        self._quota: Quota | None = None
        self._read_at = float("-inf")

    def __call__(self) -> float:
        if time.monotonic() - self._read_at > self.cache_seconds:
            self._quota, self._read_at = self.store.load(), time.monotonic()
        quota = self._quota
        if quota is None:
            raise SendingPaused("waiting for the scheduler to read the SES quota (GetAccount)")
        if not quota.enabled:
            raise SendingPaused("SES reports sending is disabled for this account")
        if quota.remaining_24h <= 0:
            raise SendingPaused(
                f"the 24-hour SES quota of {quota.max_24h:.0f} recipients is spent; sending "
                "resumes when SES's rolling window allows", delay_ms=30_000,
            )
        return quota.max_send_rate * HEADROOM


class FleetRateLimiter:
    def __init__(self, redis: Redis, rate: float | RateSource) -> None:
        if not callable(rate) and rate <= 0:
            raise ValueError("rate must be positive")
        self.redis = redis
        self.rate: RateSource = rate if callable(rate) else (lambda: rate)
        self._script = redis.register_script(_RESERVE)

    def reserve(self, recipients: int = 1) -> float:
        """Reserve ``recipients`` slots of the fleet's budget; returns when (monotonic) to send.

        Reserve only when ready to send: a slot used late lets its send bunch
        up with later ones.
        """
        wait_us = int(self._script(keys=[TAT_KEY], args=[self.rate(), recipients]))
        return time.monotonic() + wait_us / 1e6

    def reserve_for_key(self, key_id: int, cap: float, recipients: int = 1) -> float:
        """A slot in one API key's own bucket: its optional cap inside the fleet's rate.

        Redis key ``mailpipe:rate:tat:key:<id>``, same layout as the fleet's.
        """
        wait_us = int(self._script(keys=[f"{TAT_KEY}:key:{key_id}"], args=[cap, recipients]))
        return time.monotonic() + wait_us / 1e6

    def release_for_key(self, key_id: int, cap: float, recipients: int = 1) -> None:
        self._script(keys=[f"{TAT_KEY}:key:{key_id}"], args=[cap, -recipients])

    def wait_for_slot(self, send_at: float, recipients: int = 1) -> None:
        """Sleep until ``send_at``; if this thread woke too late, take a fresh slot.

        A send made well after its slot lands in the same second as the sends
        of later slots and can push that second over the limit (seen when
        the CPU is starved and threads wake late). Within LATE_TOLERANCE the
        rate's headroom absorbs it; beyond, the stale slot is given up.
        """
        for _ in range(MAX_RESLOTS):
            sleep_until(send_at)
            if time.monotonic() - send_at <= LATE_TOLERANCE:
                return
            send_at = self.reserve(recipients)
        sleep_until(send_at)

    def penalize(self, seconds: float) -> None:
        """Hold the whole fleet back ``seconds`` (after the provider said "too fast")."""
        rate = self.rate()
        self._script(keys=[TAT_KEY], args=[rate, max(1, round(rate * seconds))])

    def release(self, recipients: int) -> None:
        """Hand back a reservation not used (the claim went to another sender)."""
        if recipients > 0:
            self._script(keys=[TAT_KEY], args=[self.rate(), -recipients])


# KEYS[1] = the caller's bucket; ARGV[1] = rate per second, ARGV[2] = burst,
# ARGV[3] = cost. Returns 0 when admitted, else the milliseconds to wait.
_ADMIT = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + cost * 1000000 / rate
local allowed_at = new_tat - burst * 1000000 / rate
if allowed_at > now then return math.ceil((allowed_at - now) / 1000) end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat),
           'PX', math.ceil(burst * 1000 / rate) + 1000)
return 0
"""


class IntakeLimiter:
    """Per-caller request budget for the API: ``rate`` per second, bursts of ``burst``.

    Redis keys: ``mailpipe:intake:<caller>``, the caller's GCRA arrival time.
    """

    def __init__(self, redis: Redis, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._script = redis.register_script(_ADMIT)

    def admit(self, caller: str, cost: int = 1) -> float:
        """0 when admitted; otherwise the seconds to wait before trying again."""
        wait_ms = int(self._script(keys=[f"mailpipe:intake:{caller}"],
                                   args=[self.rate, self.burst, cost]))
        return wait_ms / 1000


def sleep_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        time.sleep(delay)
