"""Each process says it is alive: a short-lived Redis key, refreshed on a timer.

The console's dashboard lists the live processes of each kind from these
keys, and says which kind has none (no scheduler: nothing is dispatched; no
recorder: nothing is recorded). A process that dies, hangs or loses Redis
stops refreshing its key and drops out of the list within ``TTL`` seconds.

Redis key layout:

    mailpipe:alive:<kind>:<host>:<pid>  JSON {kind, host, pid, started, beat}
                      (unix seconds); expires TTL seconds after the last beat.
    mailpipe:alive    set of those key names, so a reader never scans the
                      keyspace; a name whose key has expired is removed by
                      the next reader.

Who beats: each api (gunicorn) worker and each sender, recorder, smtp and
webhooks process from a daemon thread (``Heartbeat``); the scheduler from a job of its own
(``beat`` every ``INTERVAL``), so a scheduler whose jobs stopped running
stops beating too.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger("mailpipe.heartbeat")

#: The process kinds the dashboard lists.
KINDS = ("api", "scheduler", "sender", "recorder", "smtp", "webhooks")
#: Kinds a deployment may run none of (0..n): none alive is not a fault.
OPTIONAL_KINDS = frozenset({"smtp", "webhooks"})
PREFIX = "mailpipe:alive:"
INDEX = "mailpipe:alive"
#: Seconds between beats, and how long a beat is believed.
INTERVAL = 10
TTL = 30


@dataclass(frozen=True)
class Alive:
    """One live process, as its last beat described it."""

    kind: str
    host: str
    pid: int
    #: Unix seconds: when the process started beating, and its last beat.
    started: float
    beat: float

    @property
    def started_at(self) -> datetime:
        return datetime.fromtimestamp(self.started, UTC)


def _name(kind: str, host: str, pid: int) -> str:
    return f"{PREFIX}{kind}:{host}:{pid}"


def beat(redis: Redis, kind: str, started: float, *, host: str | None = None,
         pid: int | None = None, ttl: int = TTL) -> None:
    """One beat: (re)write this process's key with its TTL and name it in the index."""
    host, pid = host or socket.gethostname(), pid or os.getpid()
    name = _name(kind, host, pid)
    value = json.dumps({"kind": kind, "host": host, "pid": pid, "started": started,
                        "beat": time.time()})
    with redis.pipeline(transaction=False) as pipe:
        pipe.set(name, value, ex=ttl)
        pipe.sadd(INDEX, name)
        pipe.execute()


def stop(redis: Redis, kind: str, *, host: str | None = None, pid: int | None = None) -> None:
    """Remove this process's key at a clean exit (a crash lets it expire)."""
    name = _name(kind, host or socket.gethostname(), pid or os.getpid())
    with redis.pipeline(transaction=False) as pipe:
        pipe.delete(name)
        pipe.srem(INDEX, name)
        pipe.execute()


def alive(redis: Redis) -> list[Alive]:
    """Every process whose key has not expired, by kind, host and pid.

    Reads the index and the keys it names (two round trips, however large
    Redis is); names whose key expired are removed from the index.
    """
    names = sorted(n.decode() for n in redis.smembers(INDEX))
    if not names:
        return []
    values = redis.mget(names)
    gone = [name for name, value in zip(names, values, strict=True) if value is None]
    if gone:
        redis.srem(INDEX, *gone)
    found = []
    for value in values:
        if value is None:
            continue
        data = json.loads(value)
        found.append(Alive(data["kind"], data["host"], int(data["pid"]),
                           float(data["started"]), float(data["beat"])))
    return sorted(found, key=lambda a: (a.kind, a.host, a.pid))


class Heartbeat:
    """A daemon thread beating for this process every ``interval`` seconds.

    Start it in the process that does the work (after a fork: a forked
    child has no threads of its parent). A Redis outage is logged once per
    outage and waited out: the process keeps working, it only drops out of
    the dashboard until Redis answers again.
    """

    def __init__(self, redis: Redis, kind: str, interval: float = INTERVAL) -> None:
        self.redis, self.kind, self.interval = redis, kind, interval
        self.started = time.time()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def start(self) -> Heartbeat:
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{self.kind}",
                                        daemon=True)
        self._thread.start()
        return self

    def step(self) -> None:
        try:
            beat(self.redis, self.kind, self.started)
        except RedisError as exc:
            if not self._failing:
                log.warning("heartbeat: cannot reach Redis (%s); the dashboard will not "
                            "list this %s until it can", exc, self.kind)
            self._failing = True
        else:
            self._failing = False

    def _run(self) -> None:
        while not self._stopped.is_set():
            self.step()
            self._stopped.wait(self.interval)

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        try:
            stop(self.redis, self.kind)
        except RedisError:
            pass  # it expires by itself
