"""The one backoff helper: delays double up to a cap (jittered when asked), and the loop
retries only the errors named and gives up once its patience is spent."""

from __future__ import annotations

import pytest

from shared.runtime.backoff import backoff_delay, retry_with_backoff


def test_delay_doubles_from_the_base_up_to_the_cap():
    assert [backoff_delay(n, base=0.1, cap=0.5) for n in range(1, 6)] == [
        0.1, 0.2, 0.4, 0.5, 0.5]


def test_jittered_delay_stays_within_the_unjittered_one():
    for attempt in range(1, 12):
        assert 0 <= backoff_delay(attempt, base=2.0, cap=300.0, jitter=True) <= min(
            300.0, 2.0 * 2 ** (attempt - 1))


def test_step_is_retried_until_it_succeeds_with_growing_delays():
    calls, slept, told = [], [], []

    def step():
        calls.append(1)
        if len(calls) < 4:
            raise ConnectionError("down")
        return "done"

    result = retry_with_backoff(step, retry_on=ConnectionError, patience=60, base=0.1, cap=0.3,
                                on_retry=lambda exc, delay: told.append(delay),
                                sleep=slept.append)
    assert result == "done" and len(calls) == 4
    assert slept == told == [0.1, 0.2, 0.3]


def test_other_errors_are_not_retried():
    def step():
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError):
        retry_with_backoff(step, retry_on=ConnectionError, patience=60, base=0.1, cap=1,
                           sleep=lambda s: pytest.fail("slept"))


def test_last_error_is_raised_once_patience_is_spent():
    slept = []

    def step():
        raise ConnectionError(f"down {len(slept)}")

    with pytest.raises(ConnectionError, match="down 0"):
        retry_with_backoff(step, retry_on=ConnectionError, patience=0.05, base=0.1, cap=1,
                           sleep=slept.append)
    assert slept == []
