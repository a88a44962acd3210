"""The fleet's rate in Redis: the Lua scripts, beside the keys they use.

shared.rate.limiter decides what to ask for (the rate, how far ahead a slot
may lie, how late it may be used); the state lives here and changes in one
script call each, so every sender thread of every process sees one budget.
``RateScripts`` calls the scripts with named arguments, times in seconds,
and hands back Redis's answers, times in microseconds of Redis's clock.

Redis key layout:

    mailpipe:rate:tat   the bucket's "theoretical arrival time": the moment,
                        in microseconds of Redis's own clock, at which the
                        next recipient may be sent. Never expires: its
                        absence means Redis lost the fleet's state
                        (see shared.rate.limiter).
    mailpipe:rate:window      sorted set of the sends that may still fall in
                              a sliding second: member "<random>:<recipients>",
                              score the latest moment its slots may be used
                              (microseconds of Redis's clock).
    mailpipe:rate:window:sum  the recipients in that set.
    mailpipe:rate:window:last the latest slot handed out with the window's
                              check (microseconds of Redis's clock): no later
                              reservation starts before it.
    mailpipe:rate:tat:sent:<s>  recipients reserved in second <s> of Redis's
                              clock; expire after RECENT_SECONDS.
    mailpipe:rate:tat:key:<id>  an API key's own bucket (``reserve_for_key``):
                              a plain GCRA ``tat``, expiring when idle.
"""

from __future__ import annotations

import secrets
from typing import NamedTuple

from redis import Redis

TAT_KEY = "mailpipe:rate:tat"
WINDOW_KEY = "mailpipe:rate:window"
WINDOW_SUM_KEY = "mailpipe:rate:window:sum"
WINDOW_LAST_KEY = "mailpipe:rate:window:last"

#: Seconds of reservations counted to decide that lateness cannot matter
#: (the current one and the two before: at least two whole seconds).
RECENT_SECONDS = 3

# The fleet's two scripts (bucket alone, bucket and window) share their
# arguments and their parts. KEYS[1] = tat key (KEYS[2], KEYS[3], KEYS[4] =
# window set, sum and last slot). ARGV[1] = rate (recipients/s), ARGV[2] = recipients (> 0),
# ARGV[3] = extra, ARGV[4] = sparse (below), ARGV[5] = the most a slot may
# lie ahead (µs, MAX_LEAD), ARGV[6] = where a lost state restarts (µs ahead,
# LOST_LEAD, or 0), ARGV[7] = how late a sparse fleet's slot may be used (µs,
# SPARSE_LATE_TOLERANCE); window only: ARGV[8] = the most recipients any
# sliding second may hold, ARGV[9] = a unique member name, ARGV[10] = the
# window's length (µs: a second and WINDOW_MARGIN), ARGV[11] = the credit
# (µs: WINDOW_CREDIT), ARGV[12] = the fewest recipients worth a slot of
# their own (below ARGV[2]: the part that fits may be reserved), ARGV[13] =
# how late (µs) this sender's requests may reach SES after their slots
# beyond the window's margin (its slow start), held in the window so much
# longer. Each
# returns {slot start, Redis now, recipients reserved recently, recipients reserved},
# times in microseconds of Redis's clock; 0 reserved: refused, the start
# lies beyond MAX_LEAD (nothing reserved, ask again later). More reserved
# than asked: a lease (below); fewer: the part of a bulk call that fits.
#
# ``recent`` becomes the recipients reserved in the last RECENT_SECONDS;
# when that leaves the fleet sparse even with ``extra`` more (``sparse``: the
# most a sparse fleet reserves in RECENT_SECONDS), the reservation takes
# them too: slots handed out ahead, for the caller's next sends (a lease).
_PROLOGUE = f"""
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local second = tonumber(t[1])
local rate, n = tonumber(ARGV[1]), tonumber(ARGV[2])
local extra, sparse = tonumber(ARGV[3]), tonumber(ARGV[4])
local max_lead, lost_lead, late = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local counter = KEYS[1] .. ':sent:'
local recent = 0
for back = 0, {RECENT_SECONDS - 1} do
  recent = recent + tonumber(redis.call('GET', counter .. (second - back)) or '0')
end
if extra > 0 and recent + n + extra <= sparse then n = n + extra end
local spread = (n - tonumber(ARGV[2])) * 1000000 / rate
local loose = recent + n <= sparse
local dense = math.max(0, math.floor(sparse)) + 1
"""
# The state is gone while slots reserved before it may lie up to MAX_LEAD
# ahead: restart ``lost_lead`` ahead, and count every second until a while
# after that dense, so no slot granted meanwhile is used late (the late
# sends of the slots reserved before are unknown).
_LOST = f"""
local tat = tonumber(redis.call('GET', KEYS[1]) or '-1')
local lost = tat < 0
if lost then
  tat = now + lost_lead
  redis.call('SET', KEYS[1], string.format('%.0f', tat))
  if lost_lead > 0 then
    for s = second, math.ceil(tat / 1000000) do
      redis.call('INCRBY', counter .. s, dense)
      redis.call('EXPIRE', counter .. s, s - second + {RECENT_SECONDS + 1})
    end
  end
end
if tat < now then tat = now end
local start = tat
"""
# Once placed: ``tat`` moved on to ``next_tat`` (never expiring), the
# reservation counted.
_PLACE = f"""
redis.call('SET', KEYS[1], string.format('%.0f', next_tat))
redis.call('INCRBY', counter .. second, n)
redis.call('EXPIRE', counter .. second, {RECENT_SECONDS + 1})
return {{math.floor(start), now, recent + n, n}}
"""
_REFUSED = """
if start - now > max_lead then return {math.floor(start), now, recent, 0} end
"""

_RESERVE = _PROLOGUE + _LOST + _REFUSED + """
local next_tat = start + n * 1000000 / rate
""" + _PLACE

# The window holds each reservation until the latest moment its slots may
# be used: its start, a lease's spread and, for a sparse fleet's slots, how
# late they may be used. After a lost state it also holds the late sends of
# a sparse fleet's slots reserved before it (at most ``sparse``).
#
# Slots start in the order they are handed out (never before ``last``, the
# latest start so far), so checking the second before a slot checks every
# second it falls in, and the entries a placement drops as out of its
# window are out of every later one's. A reservation that may be split
# (``least`` below ``n``) takes the part that fits at the first moment at
# least ``least`` do, rather than wait for all of it: the rate freed
# meanwhile would go unused. The time a slot waits for its second to clear
# is not charged to the bucket again after it (up to ``credit``): ``tat``
# moves on from where the bucket alone would have put the slot (``paced``),
# so the sends after it catch up that time, the window check still keeping
# every second under ``cap``.
_RESERVE_IN_WINDOW = _PROLOGUE + _LOST + """
local cap, window = tonumber(ARGV[8]), tonumber(ARGV[10])
local credit, least = tonumber(ARGV[11]), tonumber(ARGV[12])
local last = tonumber(redis.call('GET', KEYS[4]) or '0')
if start < last then start = last end
local paced = start
if lost and lost_lead > 0 and dense > 1 then
  redis.call('ZADD', KEYS[2], string.format('%.0f', tat), 'lost:' .. (dense - 1))
  redis.call('INCRBY', KEYS[3], dense - 1)
  redis.call('PEXPIRE', KEYS[2], 60000)
  redis.call('PEXPIRE', KEYS[3], 60000)
end
local sum = tonumber(redis.call('GET', KEYS[3]) or '0')
-- Entries out of the window of ``start`` are left out of ``sum`` (the first
-- ``gone`` by score) but removed only once the slot is placed: a refused
-- reservation changes nothing.
local gone = 0
local function expire(upto)
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', upto, 'LIMIT', gone, -1)) do
    sum = sum - tonumber(string.match(member, ':(%d+)$'))
    gone = gone + 1
  end
end
expire(start - window)
while sum > 0 and sum + n > cap do
  local room = math.floor(cap - sum)
  if least < n and room >= least then n = room break end
  local oldest = redis.call('ZRANGE', KEYS[2], gone, gone, 'WITHSCORES')
  if #oldest == 0 then sum = 0 break end
  start = tonumber(oldest[2]) + window + 1
  expire(start - window)
end
""" + _REFUSED + """
if gone > 0 then redis.call('ZREMRANGEBYRANK', KEYS[2], 0, gone - 1) end
local latest = start + spread + tonumber(ARGV[13])
if loose then latest = latest + late end
redis.call('ZADD', KEYS[2], string.format('%.0f', latest), ARGV[9] .. ':' .. n)
redis.call('PEXPIRE', KEYS[2], 60000)
redis.call('SET', KEYS[3], tostring(sum + n), 'PX', 60000)
redis.call('SET', KEYS[4], string.format('%.0f', start), 'PX', 60000)
local next_tat = math.max(paced, start - credit) + n * 1000000 / rate
""" + _PLACE

# An API key's own bucket (``reserve_for_key``): plain GCRA, expiring when
# idle. KEYS[1] = its tat key; ARGV[1] = rate, ARGV[2] = recipients (negative
# to hand back unused ones). Returns {slot start, Redis now} (µs).
_KEY_BUCKET = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local rate, n = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local start = tat
if n < 0 then start = now end
local new_tat = tat + n * 1000000 / rate
if new_tat < now then new_tat = now end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', 60000)
return {math.floor(start), now}
"""

# KEYS[1] = tat key; ARGV[1] = microseconds, ARGV[2] = LOST_LEAD (µs) or 0.
# Nobody's slot starts before now + ARGV[1]; holds already in place are not
# lengthened (a burst of throttles holds the fleet once, not once per
# throttle). A lost state is left to the next reservation, which restarts it
# further ahead than any hold (unless this sender never reserved).
_HOLD = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local hold_until = tonumber(t[1]) * 1000000 + tonumber(t[2]) + tonumber(ARGV[1])
local tat = redis.call('GET', KEYS[1])
if not tat and tonumber(ARGV[2]) > 0 then return 0 end
if tonumber(tat or '0') < hold_until then
  redis.call('SET', KEYS[1], string.format('%.0f', hold_until))
end
return 0
"""


def _us(seconds: float) -> int:
    return int(seconds * 1e6)


class Reservation(NamedTuple):
    """A fleet script's answer; times in microseconds of Redis's clock."""

    start: int
    now: int
    #: Recipients reserved in the last RECENT_SECONDS, these included.
    recent: int
    #: Recipients reserved: more than asked for, a lease; fewer, the part of a
    #: bulk call that fits (``least``); 0, refused (beyond ``max_lead``).
    reserved: int


class RateScripts:
    """The scripts, registered on one Redis client."""

    def __init__(self, redis: Redis) -> None:
        self._reserve = redis.register_script(_RESERVE)
        self._in_window = redis.register_script(_RESERVE_IN_WINDOW)
        self._key_bucket = redis.register_script(_KEY_BUCKET)
        self._hold = redis.register_script(_HOLD)

    def reserve(
        self, rate: float, recipients: int, *, extra: int, sparse: float, max_lead: float,
        lost_lead: float, late: float, cap: float | None = None, window: float = 0.0,
        credit: float = 0.0, least: int | None = None, slack: float = 0.0,
    ) -> Reservation:
        """``recipients`` slots of the fleet's bucket (the arguments: above the scripts).

        ``cap``: the most recipients any sliding ``window`` (s) may hold, the
        slot checked against it too (bulk sends); None, the bucket alone.
        With it, ``credit`` (s): how much of a wait for the sliding second the
        sends after it may catch up; ``least``: the part of ``recipients``
        that may be reserved alone when no more fits (None: all or nothing);
        ``slack`` (s): how much later than its slot this send may reach SES
        (held in the window that much longer).
        """
        args = [rate, int(recipients), extra, sparse, _us(max_lead), _us(lost_lead), _us(late)]
        if cap is None:
            return Reservation(*self._reserve(keys=[TAT_KEY], args=args))
        least = int(recipients) if least is None else max(1, int(least))
        return Reservation(*self._in_window(
            keys=[TAT_KEY, WINDOW_KEY, WINDOW_SUM_KEY, WINDOW_LAST_KEY],
            args=[*args, cap, secrets.token_hex(6), _us(window), _us(credit), least,
                  _us(slack)]))

    def reserve_for_key(self, key_id: int, rate: float, recipients: int) -> tuple[int, int]:
        """Slots of an API key's own bucket (negative ``recipients``: handed back): (start, now)."""
        start, now = self._key_bucket(keys=[f"{TAT_KEY}:key:{key_id}"], args=[rate, recipients])
        return start, now

    def hold(self, seconds: float, lost_lead: float) -> None:
        """Nobody's slot starts in the next ``seconds`` (see _HOLD)."""
        self._hold(keys=[TAT_KEY], args=[_us(seconds), _us(lost_lead)])
