"""The account's SES sending quota, shared by the fleet through Redis.

With ``MAILPIPE_SEND_RATE=auto`` the scheduler reads SES ``GetAccount``
every minute and stores it here; senders take their rate from it and stop
claiming when the 24-hour quota is spent.

Redis key layout:

    mailpipe:quota        hash: max_send_rate, max_24h, sent_24h (as SES last
                          reported them), enabled ("1"/"0"), refreshed_at
                          (unix seconds). Expires after 10 minutes without a
                          refresh, so a dead scheduler stops the fleet rather
                          than letting it run on stale numbers.
    mailpipe:quota:since  recipients sent since that refresh (reset by it).
    mailpipe:sent:<sec>   recipients sent in that unix second (2 minutes TTL),
                          for the fleet's current rate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis import Redis

QUOTA_KEY = "mailpipe:quota"
SINCE_KEY = "mailpipe:quota:since"
SENT_PREFIX = "mailpipe:sent:"
QUOTA_TTL = 600
#: Fraction of SES's MaxSendRate used: the gap absorbs network jitter, so
#: requests never arrive at SES faster than its limit.
HEADROOM = 0.985


@dataclass(frozen=True)
class Quota:
    max_send_rate: float
    max_24h: float
    sent_24h: float
    enabled: bool
    refreshed_at: float
    sent_since_refresh: int = 0
    #: GetAccount's EnforcementStatus: HEALTHY, PROBATION (under review) or SHUTDOWN
    #: (not kept in Redis: the scheduler acts on it when it reads it).
    enforcement: str = "HEALTHY"

    @property
    def remaining_24h(self) -> float:
        """Recipients SES will still take in its rolling 24 hours (-1 max means unlimited)."""
        if self.max_24h < 0:
            return float("inf")
        return max(0.0, self.max_24h - self.sent_24h - self.sent_since_refresh)


class QuotaStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def save(self, quota: Quota) -> None:
        """Store a fresh reading from SES and restart the since-refresh count."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(QUOTA_KEY, mapping={
                "max_send_rate": quota.max_send_rate, "max_24h": quota.max_24h,
                "sent_24h": quota.sent_24h, "enabled": int(quota.enabled),
                "refreshed_at": quota.refreshed_at,
            })
            pipe.expire(QUOTA_KEY, QUOTA_TTL)
            pipe.set(SINCE_KEY, 0)
            pipe.execute()

    def load(self) -> Quota | None:
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(QUOTA_KEY)
            pipe.get(SINCE_KEY)
            fields, since = pipe.execute()
        if not fields:
            return None
        value = {k.decode(): v.decode() for k, v in fields.items()}
        return Quota(
            max_send_rate=float(value["max_send_rate"]), max_24h=float(value["max_24h"]),
            sent_24h=float(value["sent_24h"]), enabled=value["enabled"] == "1",
            refreshed_at=float(value["refreshed_at"]), sent_since_refresh=int(since or 0),
        )

    def record_sent(self, recipients: int) -> None:
        """Count recipients just accepted by the provider (quota and current rate)."""
        second = f"{SENT_PREFIX}{int(time.time())}"
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.incrby(SINCE_KEY, recipients)
            pipe.incrby(second, recipients)
            pipe.expire(second, 120)
            pipe.execute()

    def current_rate(self, window: int = 10) -> float:
        """Recipients per second the whole fleet sent over the last ``window`` full seconds."""
        now = int(time.time())
        keys = [f"{SENT_PREFIX}{second}" for second in range(now - window, now)]
        return sum(int(v) for v in self.redis.mget(keys) if v) / window
