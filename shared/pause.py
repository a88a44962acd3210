"""The fleet-wide sending pause, for when SES says the account may not send.

Redis key layout:

    mailpipe:paused   the reason, as SES gave it. Expires after ``ttl`` so a
                      lifted suspension is noticed by the next send; set
                      again by the next refusal.
"""

from __future__ import annotations

from redis import Redis

PAUSE_KEY = "mailpipe:paused"


class SendingPause:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def pause(self, reason: str, ttl: float = 60.0) -> None:
        self.redis.set(PAUSE_KEY, reason, px=int(ttl * 1000))

    def reason(self) -> str | None:
        value = self.redis.get(PAUSE_KEY)
        return value.decode() if value else None

    def resume(self) -> None:
        self.redis.delete(PAUSE_KEY)
