"""The fleet-wide sending pause, for when SES says the account may not send.

Redis key layout:

    mailpipe:paused   the reason, as SES gave it. Expires after ``ttl`` so a
                      lifted suspension is noticed by the next send; set
                      again by the next refusal.
"""

from __future__ import annotations

import time

from redis import Redis

PAUSE_KEY = "mailpipe:paused"


class SendingPause:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._seen: tuple[str | None, float] = (None, float("-inf"))

    def pause(self, reason: str, ttl: float = 60.0) -> None:
        self.redis.set(PAUSE_KEY, reason, px=int(ttl * 1000))
        self._seen = (reason, time.monotonic())

    def reason(self, max_age: float = 0.0) -> str | None:
        """Why sending is paused, or None; a reading up to ``max_age`` s old may be reused."""
        value, read_at = self._seen
        if time.monotonic() - read_at > max_age:
            raw = self.redis.get(PAUSE_KEY)
            value = raw.decode() if raw else None
            self._seen = (value, time.monotonic())
        return value

    def resume(self) -> None:
        self.redis.delete(PAUSE_KEY)
        self._seen = (None, time.monotonic())
