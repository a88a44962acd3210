"""One send budget for the whole fleet: a GCRA token bucket in Redis.

Every sender thread of every process reserves its recipients here, so N
processes share one rate instead of sending at N times the quota.

The Redis keys and the Lua scripts that keep the state: shared.rate.scripts
(the keys' names are imported here too, where callers and tests found them).

A reservation of ``n`` recipients starts at ``max(now, tat)`` and moves
``tat`` forward by ``n / rate`` seconds; the caller sends at its start.
There is no stored burst, so no window edge can let twice the rate through.
A send of many recipients at once (SES SendBulkEmail) is a burst, though:
spaced by the bucket alone, a call of 13 right after a second of single
sends would put 27 recipients in one sliding second. So every slot is also
checked against the sends that may fall in the second before it
(``window``): it moves later until that second holds at most the full rate
(``rate / HEADROOM``) with it. Single sends spaced by the bucket never trip
it; a bulk call after single sends (or the reverse) waits for the second to
clear.
Redis's clock (TIME) is used so that senders on machines with skewed clocks
still share one timeline; each process maps it onto its own monotonic clock
(``RedisClock``). After a throttle, ``tat`` is held at least a moment ahead
of now (``penalize``), so every sender waits.

A slot used late (its thread woke late: a busy CPU) is normally given up
for a fresh one (``wait_for_slot``), since a late send can bunch with later
ones. Not when the fleet has sent so little lately that no bunching can
matter: any sliding second holds at most ``rate + 1`` sends on time, plus
the late ones, which all come from the last RECENT_SECONDS; while those are
within the headroom (``rate / HEADROOM``, the real limit, less ``rate`` and
one), a slot up to SPARSE_LATE_TOLERANCE late is used as it is. That is a
fleet far below its rate, as on a CPU-bound machine with a high limit, where
re-reserving was more than one Redis call per message. For the same
reason, a sparse fleet's thread about to send several messages in a row
reserves their slots in one call (a lease, ``reserve``'s ``ahead``), used
within LEASE_SECONDS or given up; the reservation counts them all, so the
fleet stays sparse with them or no lease is granted.
A bulk call that waits for its second to clear used to leave the rate
freed meanwhile unused, and to charge the bucket its wait again after it
(``tat`` moved on from the slot it got): with calls of 10-30 recipients at
R=200 the fleet reached 88-93% of R (bench/rate.py). So now the wait is not
charged again (up to WINDOW_CREDIT: the sends after it catch it up, the
window still keeping every second under the rate), and a bulk call may take
the part of its recipients that fits at once (``reserve_part``), the rest
going in the thread's next call.
The headroom has no room left once bulk calls fill a second up to the rate,
so such slots enter the window at the latest moment they may be used (their
slot, a lease's spread, SPARSE_LATE_TOLERANCE): a bulk call never shares a
sliding second with more late sends than the window knows of.

With the window's check on, the bucket paces at what the check admits (R
in any 1 + WINDOW_MARGIN s: 98.8% of R) rather than at the headroom's
98.5%: the window, not the bucket, keeps every second under R then, and
the bucket only spaces the slots. The part of a call that fits is taken
down to SPLIT_LEAST (2) recipients. bench/rate.py at R=200 with a fifth
single sends: 97.4-97.7% of R before, 98.0-98.5% after.

No slot is handed out more than MAX_LEAD ahead of now: a reservation that
would start later is refused (nothing is written), and ``wait_for_slot``
asks again once it is that close. So when Redis loses the state (a flush, a
restart without persistence, a failover to an empty replica) while threads
still sleep toward slots they reserved, those slots all lie within MAX_LEAD:
a sender that has reserved before starts the new state LOST_LEAD ahead,
past them and a whole sliding second, and counts the fleet dense (no
leases, no late slots) until well after it (shared.rate.scripts). A sender process
that has never reserved starts it at now (the fleet's first start), as it
holds no slot of the lost state and cannot know that others do.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from redis import Redis

from shared.errors import SendingPaused
from shared.rate.quota import HEADROOM, Quota, QuotaStore
from shared.rate.scripts import TAT_KEY, WINDOW_KEY, WINDOW_SUM_KEY, RateScripts  # noqa: F401

RateSource = Callable[[], float]
#: How late (s) a send may start after its slot. The rate's headroom leaves
#: (1 - HEADROOM) s of each second free for lateness; half of it is for the
#: thread waking up, half for the request's way to SES once it is handed to
#: the socket (measured on a busy 2-core machine: p50 1 ms, p99 6-9 ms).
LATE_TOLERANCE = (1.0 - HEADROOM) / 2
#: How late (s) a slot may be used while the fleet is far below its rate
#: (see the module's docstring): the late sends that could bunch with it all
#: come from the last RECENT_SECONDS - 1 seconds.
SPARSE_LATE_TOLERANCE = 1.0
MAX_RESLOTS = 5
#: How long (s) slots leased ahead (``reserve``'s ``ahead``) stay usable:
#: well within SPARSE_LATE_TOLERANCE of the first of them.
LEASE_SECONDS = SPARSE_LATE_TOLERANCE / 2
#: The sliding second is checked this much longer (s): sends reach SES a few
#: ms off their slots, and two bursts a slot-second apart could otherwise
#: arrive less than a second apart (measured: throttles every 2-3 s). Below
#: 1/HEADROOM - 1, so single sends spaced by the bucket still never trip it.
WINDOW_MARGIN = 0.012
#: How much (s) of a slot's wait for its sliding second to clear the sends
#: after it may catch up (see the module's docstring). In a fleet of bulk
#: calls a slot waits a call's worth of the rate at most (50 recipients:
#: 0.25 s at 200/s); the window check, not the bucket, keeps every second
#: under the rate.
WINDOW_CREDIT = 0.25
#: Share of the fleet's rate a sender process uses during its slow start
#: (the first seconds after it starts and after the rate changes). Then
#: every sender thread claims and renders at once (a start; chunks growing
#: from 1 row to ~12 when the rate rises), and on a 2-core machine a request
#: already paced could wait ~50 ms to be written: the single throttles left
#: in bench/rate.py came at exactly those moments.
SLOW_START_SHARE = 0.95
#: How late (s) a request may reach SES during a slow start, its slot
#: already used (a process busy claiming and rendering on every thread):
#: such slots hold their sliding second that much longer (their window
#: entries), as SLOW_START_SHARE spaces the bucket's slots wider meanwhile.
SLOW_START_SLACK = 0.05
#: The most (s) a slot may lie ahead of now when it is handed out: a thread
#: that would wait longer asks again once it is this close (``wait_for_slot``).
#: Above a bulk call's wait for a sliding second to clear (about a second),
#: so that the fleet is refused only when threads queue for seconds (many
#: threads at a low rate), where one more Redis call each costs nothing.
MAX_LEAD = 2.0
#: Where a lost state restarts (s ahead of now; see the module's docstring):
#: past every slot reserved before (MAX_LEAD), a lease's spread and a send's
#: lateness (LATE_TOLERANCE, 0.1), and a whole sliding second.
LOST_LEAD = MAX_LEAD + 0.1 + 1.0 + WINDOW_MARGIN


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


class RedisClock:
    """Turns instants of Redis's clock into this process's monotonic clock.

    A reply can come back tens of ms after Redis wrote it (measured: up to
    90 ms, its thread waiting for the GIL on a busy 2-core machine); a slot
    taken as "wait so long from the moment the reply is read" would then be
    used that much late, unnoticed, and bunch with later slots. So the
    offset between the clocks is learnt from the quickest recent round
    trips (its error is at most half the round trip) and every slot is
    placed with it, however slow its own reply was.
    """

    #: How fast (s per s) an estimate is assumed to lose precision (clock
    #: steps and drift), so that a fresher, slightly slower one replaces it.
    AGING = 0.001

    def __init__(self) -> None:
        self._estimate: tuple[float, float, float] | None = None  # offset, error, when

    def observe(self, redis_us: int, sent: float, received: float) -> None:
        error = (received - sent) / 2
        if self._estimate is not None:
            _, best, when = self._estimate
            if error > best + (received - when) * self.AGING:
                return
        self._estimate = (redis_us / 1e6 - (sent + received) / 2, error, received)

    def local(self, redis_us: int) -> float:
        offset, _, _ = self._estimate
        return redis_us / 1e6 - offset


class FleetRateLimiter:
    def __init__(
        self, redis: Redis, rate: float | RateSource, *, slow_start: float = 0.0,
        bursts: bool = True,
    ) -> None:
        """``slow_start``: seconds, after this is made and after the rate
        changes, during which only SLOW_START_SHARE of the rate is used.
        ``bursts``: some sends carry many recipients at once (bulk calls), so
        every slot is also checked against the sliding second; False (no
        bulk sends in the fleet) skips that check's cost."""
        self.bursts = bursts
        if not callable(rate) and rate <= 0:
            raise ValueError("rate must be positive")
        self.redis = redis
        self.rate: RateSource = rate if callable(rate) else (lambda: rate)
        self.clock = RedisClock()
        #: Per thread: ``tolerance``, how late it may use its last fleet slot
        #: (``wait_for_slot``); ``lease``, the slots it was handed ahead.
        self._local = threading.local()
        self.slow_start = slow_start
        self._rate_seen: float | None = None
        self._full_rate_from = time.monotonic() + slow_start
        #: Leases granted before this moment (monotonic) are void: a throttle came since.
        self._leases_void_before = 0.0
        #: Whether this limiter has seen the fleet's state: if Redis then
        #: loses it, slots this sender's threads hold may still lie ahead.
        self._seen_state = False
        self._scripts = RateScripts(redis)

    def reserve(self, recipients: int = 1, ahead: int = 0) -> float:
        """Reserve ``recipients`` slots of the fleet's budget; returns when (monotonic) to send.

        Reserve only when ready to send: a slot used late lets its send bunch
        up with later ones. ``ahead``: how many single sends this thread makes
        right after this one. While the fleet is sparse (see the module's
        docstring) they are reserved with it, in the same Redis call, and
        handed out by the next ``reserve(1)`` calls of this thread for
        LEASE_SECONDS: lateness cannot matter then, and a Redis call per
        message was a fifth of a sender's CPU.

        A slot more than MAX_LEAD ahead is not reserved: the time returned
        is when it would be, and ``wait_for_slot`` asks again once it is
        that close (see the module's docstring).
        """
        self._local.provisional = False
        lease = getattr(self._local, "lease", None)
        if lease is not None and recipients == 1:
            left, at, step, granted = lease
            if (left > 0 and time.monotonic() < granted + LEASE_SECONDS
                    and granted > self._leases_void_before):
                self._local.lease = (left - 1, at + step, step, granted)
                self._local.tolerance = SPARSE_LATE_TOLERANCE
                return at
            self._local.lease = None
        at, reserved, rate = self._reserve(recipients, ahead=ahead if recipients == 1 else 0)
        if reserved > recipients:
            # (slots left, the next one's time, the spacing, when granted)
            self._local.lease = (reserved - recipients, at + recipients / rate, 1 / rate,
                                 time.monotonic())
        return at

    def reserve_part(self, most: int, least: int) -> tuple[float, int]:
        """A bulk call's slot: (when to send, how many of its ``most`` recipients may go).

        When the sliding second at the bucket's slot has room for ``least``
        or more but not all, the call takes what fits at that slot (the
        caller sends the rest in its next call) instead of waiting for room
        for all of them: the rate freed while it waited would go unused. Without the
        window check (``bursts`` False) all of them, as ``reserve``. 0: the
        slot lies beyond MAX_LEAD, nothing reserved (ask again once within
        it, ``wait_for_slot`` style).
        """
        at, reserved, _ = self._reserve(most, least=least if self.bursts else most)
        return at, reserved

    def _reserve(self, recipients: int, *, ahead: int = 0,
                 least: int | None = None) -> tuple[float, int, float]:
        """One script call: (the slot, recipients reserved, the rate paced at)."""
        self._local.provisional = False
        rate, starting = self._pace_rate()
        cap = rate / HEADROOM if self.bursts else None
        # With the window's check (bursts), it keeps every sliding second
        # under the rate: the bucket paces at what the window admits.
        pace = cap / (1.0 + WINDOW_MARGIN) if cap else rate
        spare = rate * (1 / HEADROOM - 1) - 1  # the headroom's spare sends
        slack = SLOW_START_SLACK if starting else 0.0
        sent = time.monotonic()
        start, now, recent, reserved = self._scripts.reserve(
            pace, recipients, extra=ahead, sparse=spare,
            max_lead=MAX_LEAD, lost_lead=LOST_LEAD if self._seen_state else 0.0,
            late=SPARSE_LATE_TOLERANCE, cap=cap, window=1.0 + WINDOW_MARGIN,
            credit=WINDOW_CREDIT, least=least, slack=slack)
        self.clock.observe(now, sent, time.monotonic())
        self._seen_state = True
        at = self.clock.local(start)
        if not reserved:  # beyond MAX_LEAD: when it would be, not reserved
            self._local.provisional = True
            return at, 0, pace
        # Within the headroom's spare sends, lateness cannot push a second over the limit.
        sparse = recent <= spare
        self._local.tolerance = SPARSE_LATE_TOLERANCE if sparse else LATE_TOLERANCE
        return at, reserved, pace

    def _pace_rate(self) -> tuple[float, bool]:
        """The fleet's rate, or SLOW_START_SHARE of it during a slow start; whether in one."""
        rate, now = self.rate(), time.monotonic()
        if rate != self._rate_seen:
            if self._rate_seen is not None:
                self._full_rate_from = now + self.slow_start
            self._rate_seen = rate
        starting = now < self._full_rate_from
        return (rate * SLOW_START_SHARE if starting else rate), starting

    def reserve_for_key(self, key_id: int, cap: float, recipients: int = 1) -> float:
        """A slot in one API key's own bucket: its optional cap inside the fleet's rate.

        Redis key ``mailpipe:rate:tat:key:<id>`` (shared.rate.scripts).
        """
        sent = time.monotonic()
        start, now = self._scripts.reserve_for_key(key_id, cap, recipients)
        self.clock.observe(now, sent, time.monotonic())
        return self.clock.local(start)

    def release_for_key(self, key_id: int, cap: float, recipients: int = 1) -> None:
        self._scripts.reserve_for_key(key_id, cap, -recipients)

    @property
    def late_tolerance(self) -> float:
        """How late (s) this thread may use the slot it was last given (``wait_for_slot``)."""
        return getattr(self._local, "tolerance", LATE_TOLERANCE)

    def wait_for_slot(self, send_at: float, recipients: int = 1) -> float:
        """Sleep until ``send_at``; if this thread woke too late, take a fresh slot.

        A send made well after its slot lands in the same second as the sends
        of later slots and can push that second over the limit (seen when
        the CPU is starved and threads wake late). Within LATE_TOLERANCE the
        rate's headroom absorbs it; beyond, the stale slot is given up (later
        still, SPARSE_LATE_TOLERANCE, while the fleet is far below its rate).
        A slot that was not reserved (beyond MAX_LEAD) is asked for again once
        it is within MAX_LEAD. Returns the slot used.
        """
        for _ in range(MAX_RESLOTS):
            send_at = self._reserved(send_at, recipients)
            sleep_until(send_at)
            if time.monotonic() - send_at <= self.late_tolerance:
                return send_at
            send_at = self.reserve(recipients)
        send_at = self._reserved(send_at, recipients)
        sleep_until(send_at)
        return send_at

    def _reserved(self, send_at: float, recipients: int) -> float:
        """``send_at``, or, when it was beyond MAX_LEAD, a slot asked for once within it."""
        while getattr(self._local, "provisional", False):
            # At least a moment apart: threads refused together do not ask in a tight loop.
            sleep_until(max(send_at - MAX_LEAD, time.monotonic() + 0.01))
            send_at = self.reserve(recipients)
        return send_at

    def penalize(self, seconds: float) -> None:
        """Send nothing for the next ``seconds``, fleet-wide (after the provider said "too fast").

        Throttles arriving together (sends that were in flight at once) hold
        the fleet once: each extends the hold to ``seconds`` from now at most.
        This process's slots leased ahead are given up too.
        """
        self._leases_void_before = time.monotonic()
        self._scripts.hold(seconds, LOST_LEAD if self._seen_state else 0.0)


def sleep_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        time.sleep(delay)
