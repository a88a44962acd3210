"""One send budget for the whole fleet: a GCRA token bucket in Redis.

Every sender thread of every process reserves its recipients here, so N
processes share one rate instead of sending at N times the quota.

Redis key layout:

    mailpipe:rate:tat   the bucket's "theoretical arrival time": the moment,
                        in microseconds of Redis's own clock, at which the
                        next recipient may be sent. Expires when idle.

A reservation of ``n`` recipients starts at ``max(now, tat)`` and moves
``tat`` forward by ``n / rate`` seconds; the caller waits until its start and
spaces its sends ``1 / rate`` apart. There is no stored burst, so no window
edge can let twice the rate through. Redis's clock (TIME) is used so that
senders on machines with skewed clocks still share one timeline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis import Redis

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


@dataclass(frozen=True)
class Reservation:
    """``count`` send slots: the i-th may be used at ``start + i * interval`` (monotonic)."""

    start: float
    interval: float
    count: int

    def slot(self, index: int) -> float:
        return self.start + index * self.interval


class FleetRateLimiter:
    def __init__(self, redis: Redis, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.redis = redis
        self.rate = rate
        self._script = redis.register_script(_RESERVE)

    def reserve(self, recipients: int) -> Reservation:
        """Reserve ``recipients`` consecutive slots of the fleet's budget."""
        wait_us = int(self._script(keys=[TAT_KEY], args=[self.rate, recipients]))
        return Reservation(time.monotonic() + wait_us / 1e6, 1.0 / self.rate, recipients)

    def penalize(self, seconds: float) -> None:
        """Hold the whole fleet back ``seconds`` (after the provider said "too fast")."""
        self._script(keys=[TAT_KEY], args=[self.rate, max(1, round(self.rate * seconds))])

    def release(self, recipients: int) -> None:
        """Hand back slots reserved but not used (claims lost to another sender)."""
        if recipients > 0:
            self._script(keys=[TAT_KEY], args=[self.rate, -recipients])


def sleep_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        time.sleep(delay)
