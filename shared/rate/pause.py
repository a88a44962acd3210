"""The fleet-wide sending pause, for when SES says the account may not send.

An account-level answer (credentials expired or refused, a signature or clock
SES will not take, a permission missing, the account's sending paused or
suspended) says nothing about the message: every sender would get it.
``FleetPause`` pauses the fleet: the truth in PostgreSQL (shared.db.pause,
one row), mirrored in Redis for the senders' check before each claim and
send (``FleetPause.reason``). The scheduler keeps the mirror in step with
the row and probes the account on a backoff (services.scheduler.quota); a
probe that succeeds lifts both, and sending resumes by itself.

Redis key layout:

    mailpipe:paused   the reason, as SES gave it. Expires after MIRROR_TTL
                      unless the scheduler sets it again from PostgreSQL, so
                      a pause no scheduler keeps (one written while
                      PostgreSQL was unreachable, or with no scheduler
                      running) ends by itself, and the next refusal sets it
                      again.
"""

from __future__ import annotations

import logging
import time

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from shared.db.pause import Pause, pause_sending, resume_sending, sending_pause, take_probe

log = logging.getLogger("mailpipe.pause")

PAUSE_KEY = "mailpipe:paused"
#: How long (s) the Redis mirror outlives the scheduler's last refresh of it.
MIRROR_TTL = 60.0
#: The longest wait (s) between two probes of a paused account.
PROBE_CAP = 300.0


class FleetPause:
    """The pause itself: PostgreSQL's row (the truth) and its Redis mirror, kept together."""

    def __init__(self, engine: Engine, redis: Redis, *, first_probe: float = 10.0) -> None:
        """``first_probe``: seconds before the account is first asked again (then doubling)."""
        self.engine, self.redis, self.first_probe = engine, redis, first_probe
        #: The mirror as this process last read or wrote it, and when (time.monotonic).
        self._seen: tuple[str | None, float] = (None, float("-inf"))

    def pause(self, reason: str) -> bool:
        """Pause every sender for ``reason``; True if the fleet was not paused already.

        Both writes are tried whatever the other does: with PostgreSQL down
        the mirror alone stops the senders (for MIRROR_TTL, then the next
        refusal pauses again); with Redis down the scheduler mirrors the row
        once Redis is back.
        """
        created = False
        try:
            with self.engine.begin() as conn:
                created = pause_sending(conn, reason, first_probe=self.first_probe)
        except SQLAlchemyError as exc:
            log.error("could not record the fleet's pause in PostgreSQL (%s); pausing "
                      "through Redis alone", exc)
        try:
            self._set_mirror(reason)
        except RedisError as exc:
            log.error("could not pause the senders through Redis (%s)", exc)
        if created:
            log.error("SES refuses to send for this account; every sender pauses until the "
                      "account answers again (probed in %gs, then on a backoff): %s",
                      self.first_probe, reason)
        return created

    def reason(self, max_age: float = 0.0) -> str | None:
        """Why sending is paused (the Redis mirror: the senders' fast check), or None; a
        reading up to ``max_age`` s old may be reused."""
        value, read_at = self._seen
        if time.monotonic() - read_at > max_age:
            raw = self.redis.get(PAUSE_KEY)
            value = raw.decode() if raw else None
            self._seen = (value, time.monotonic())
        return value

    def state(self) -> Pause | None:
        """The pause in force (PostgreSQL), or None."""
        with self.engine.connect() as conn:
            return sending_pause(conn)

    def mirror(self) -> Pause | None:
        """Set the Redis mirror from PostgreSQL's row (the scheduler, every few seconds)."""
        paused = self.state()
        if paused is not None:
            self._set_mirror(paused.reason)
        return paused

    def take_probe(self) -> Pause | None:
        """The pause, when its probe is due and this caller is the one to make it."""
        with self.engine.begin() as conn:
            return take_probe(conn, base=self.first_probe, cap=PROBE_CAP)

    def resume(self) -> str | None:
        """Lift the pause (row and mirror); returns the reason it had, if any."""
        with self.engine.begin() as conn:
            reason = resume_sending(conn)
        self.redis.delete(PAUSE_KEY)
        self._seen = (None, time.monotonic())
        return reason

    def _set_mirror(self, reason: str) -> None:
        self.redis.set(PAUSE_KEY, reason, px=int(MIRROR_TTL * 1000))
        self._seen = (reason, time.monotonic())
