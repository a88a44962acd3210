"""When a failed delivery is tried again, and when an endpoint is given up on.

After the n-th failed attempt the next waits ``SCHEDULE[n-1]`` (about three
days in all), spread by up to ``JITTER`` either way so that the deliveries of
an endpoint that was down for a while do not all come back in the same
second; a receiver's Retry-After is honoured when it asks for longer. After
the last one the delivery is ``failed`` (``POST …/retry`` or a replay sends
it again). An endpoint whose deliveries have all failed for ``GIVE_UP_AFTER``
is disabled (``failing``), and its key sees why.
"""

from __future__ import annotations

import random
from datetime import timedelta

#: Seconds before retry 1, 2, …: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, 14 h, 20 h.
SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000, 50400, 72000)
#: Attempts in all: the first and one per step of the schedule.
MAX_ATTEMPTS = len(SCHEDULE) + 1
JITTER = 0.2
GIVE_UP_AFTER = timedelta(days=5)


def next_delay(attempts: int, retry_after: float | None = None) -> float | None:
    """Seconds until the next attempt after ``attempts`` failed ones; None: no more."""
    if attempts >= MAX_ATTEMPTS:
        return None
    base = SCHEDULE[attempts - 1]
    delay = base * random.uniform(1 - JITTER, 1 + JITTER)
    return max(delay, retry_after or 0.0)
