"""Backoff, written once: the delay before attempt n, and a loop that waits out an outage.

``backoff_delay`` is the one formula (base * 2^(attempt-1), capped; with full
jitter when many callers retry at once, so they do not stampede together).
``retry_with_backoff`` runs a step again while it raises one of the errors
named, sleeping that delay between tries, until ``patience`` seconds are
spent; then the last error is raised.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def backoff_delay(attempt: int, *, base: float, cap: float, jitter: bool = False) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first retry)."""
    delay = min(cap, base * 2 ** (attempt - 1))
    return random.uniform(0, delay) if jitter else delay


def retry_with_backoff(
    step: Callable[[], T], *, retry_on: type[BaseException] | tuple[type[BaseException], ...],
    patience: float, base: float, cap: float,
    on_retry: Callable[[BaseException, float], None] = lambda exc, delay: None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``step()``; while it raises ``retry_on``, call it again after a growing delay.

    ``on_retry(error, delay)`` is told of each retry (to log it). The error
    is raised once the next delay would end past ``patience`` seconds from
    the first call.
    """
    deadline = time.monotonic() + patience
    attempt = 1
    while True:
        try:
            return step()
        except retry_on as exc:
            delay = backoff_delay(attempt, base=base, cap=cap)
            if time.monotonic() + delay > deadline:
                raise
            on_retry(exc, delay)
            sleep(delay)
            attempt += 1
