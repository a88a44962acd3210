"""A sender thread's share of the fleet's rate: the rate over the threads sending now.

A thread sizes its claims by how fast it will send them. The wait for its
last slot says how busy the fleet was then, not how busy it will be: a
thread that found the fleet idle would claim a whole queue message, and
when the other threads start, its share, and its pace, collapse. So each
thread also counts the threads sending now and assumes the rate is split
evenly among them.

Redis key layout:

    mailpipe:senders   sorted set: member a sending thread (its worker id),
                       score when it last claimed (unix seconds, its host's
                       clock). A thread leaves it at the end of its batch;
                       members older than ACTIVE_SECONDS (a dead thread's) are
                       dropped on every read.
"""

from __future__ import annotations

import time

from redis import Redis

SENDERS_KEY = "mailpipe:senders"
#: A thread that has not claimed for this long is not counted (it died, or
#: holds one long claim: its renewals keep it safe meanwhile).
ACTIVE_SECONDS = 30.0


class RateShare:
    """One thread's entry in the roll of sending threads."""

    def __init__(self, redis: Redis, worker: str) -> None:
        self.redis, self.worker = redis, worker

    def threads(self) -> int:
        """Mark this thread as sending; how many threads of the fleet are (itself included)."""
        now = time.time()
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(SENDERS_KEY, {self.worker: now})
            pipe.zremrangebyscore(SENDERS_KEY, "-inf", now - ACTIVE_SECONDS)
            pipe.zcard(SENDERS_KEY)
            pipe.expire(SENDERS_KEY, int(ACTIVE_SECONDS * 2))
            count = pipe.execute()[2]
        return max(1, int(count))

    def leave(self) -> None:
        """This thread's batch is over: it no longer takes a share."""
        self.redis.zrem(SENDERS_KEY, self.worker)
