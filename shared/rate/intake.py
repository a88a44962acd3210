"""The API's request budget per caller: a GCRA bucket in Redis with bursts.

API keys (``charge_key``: a request, or an SMTP transaction) and client
addresses whose authentications failed (the API, the console's sign-in and
``mailpipe smtp`` share that budget: ``refuse_if_failing``, ``note_failure``)
are each a caller. The fleet's send budget is
shared.rate.limiter's.
"""

from __future__ import annotations

import logging
import math

from redis import Redis
from redis.exceptions import RedisError

from shared.db.keys import ApiKey
from shared.errors import TooManyRequests
from shared.i18n import Text

log = logging.getLogger("mailpipe.intake")

# KEYS[1] = the caller's bucket; ARGV[1] = rate per second, ARGV[2] = burst,
# ARGV[3] = cost, ARGV[4] = 1 to only check (nothing is taken). Returns 0
# when admitted, else the milliseconds to wait.
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
if ARGV[4] == '1' then return 0 end
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

    def admit(self, caller: str, cost: int = 1, *, check_only: bool = False,
              rate: float | None = None) -> float:
        """0 when admitted; otherwise the seconds to wait before trying again.

        ``check_only``: say whether ``cost`` would be admitted, taking nothing.
        ``rate``: this caller's own rate instead of the limiter's (``budget``).
        """
        rate, burst = self.budget(rate)
        wait_ms = int(self._script(keys=[f"mailpipe:intake:{caller}"],
                                   args=[rate, burst, cost, int(check_only)]))
        return wait_ms / 1000

    def budget(self, rate: float | None = None) -> tuple[float, int]:
        """(rate, burst) of a caller with its own ``rate`` (None: the limiter's): the burst
        lasts as many seconds of the caller's rate as the limiter's does of its own
        (100 at 50/s is 2 s; a caller at 1/s gets bursts of 2), at least one request."""
        if rate is None or rate == self.rate:
            return self.rate, self.burst
        return rate, max(1, math.ceil(rate * self.burst / self.rate))


def admit_open(limiter: IntakeLimiter, caller: str, *, check_only: bool = False,
               rate: float | None = None) -> float:
    """``limiter.admit``, admitting (0) while Redis does not answer."""
    try:
        return limiter.admit(caller, check_only=check_only, rate=rate)
    except RedisError as exc:
        # Redis is the conveyor, not the truth: while it is down the API
        # still stores messages (the scheduler enqueues them later), so
        # budgets fail open instead of refusing every request.
        log.warning("request budget unavailable, request admitted: %s", exc)
        return 0.0


def charge_key(limiter: IntakeLimiter, key: ApiKey) -> None:
    """Take one request from ``key``'s intake budget (its own rate, when it has one, else
    the fleet's ``MAILPIPE_INTAKE_RATE``); TooManyRequests when it is spent."""
    wait = admit_open(limiter, f"key:{key.id}", rate=key.intake_rate)
    if wait:
        rate, burst = limiter.budget(key.intake_rate)
        raise TooManyRequests(Text(
            "this API key is over its budget of %(rate)g requests per second (bursts of "
            "%(burst)s); retry in %(wait).1fs", rate=rate, burst=burst, wait=wait), wait)


def refuse_if_failing(limiter: IntakeLimiter, address: str) -> None:
    """TooManyRequests when ``address`` spent its failed-authentication budget (takes nothing)."""
    wait = admit_open(limiter, f"authfail:{address}", check_only=True)
    if wait:
        raise TooManyRequests(Text(
            "too many failed authentications from %(address)s; retry in %(wait).1fs",
            address=address, wait=wait), wait)


def note_failure(limiter: IntakeLimiter, address: str) -> None:
    """Charge one failed authentication to ``address``."""
    admit_open(limiter, f"authfail:{address}")
