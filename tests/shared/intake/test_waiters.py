"""Waiting for an outcome: woken by the recorder's announcement, not by polling."""

from __future__ import annotations

import threading
import time

from shared.intake.waiters import publish_states, wait_until_final


def counting_reader(states: dict[int, str]):
    calls = []

    def read(ids):
        calls.append(list(ids))
        return {i: states[i] for i in ids if i in states}

    return read, calls


def test_announcement_wakes_the_waiter_and_the_rows_are_read_once(redis):
    read, calls = counting_reader({1: "sending", 2: "queued"})
    timer = threading.Timer(0.3, publish_states, (redis, {1: "sent", 2: "failed"}))
    timer.start()
    started = time.monotonic()
    assert wait_until_final(redis, read, [1, 2], timeout=5)
    assert time.monotonic() - started < 2
    assert calls == [[1, 2]]


def test_outcome_committed_before_the_wait_is_seen_at_once(redis):
    read, calls = counting_reader({1: "sent"})
    assert wait_until_final(redis, read, [1], timeout=5)
    assert len(calls) == 1


def test_a_retry_is_not_an_outcome(redis):
    read, _ = counting_reader({1: "sending"})
    threading.Timer(0.1, publish_states, (redis, {1: "queued"})).start()
    started = time.monotonic()
    assert not wait_until_final(redis, read, [1], timeout=0.6)
    assert time.monotonic() - started >= 0.6


def test_announcements_for_other_messages_do_not_end_the_wait(redis):
    read, _ = counting_reader({1: "sending"})
    threading.Timer(0.1, publish_states, (redis, {2: "sent"})).start()
    assert not wait_until_final(redis, read, [1], timeout=0.5)


def test_outcome_announced_while_the_rows_are_read_is_not_missed(redis):
    def stale_read(ids):
        # The recorder commits and announces while this read still sees the old state.
        publish_states(redis, {1: "sent"})
        return {1: "sending"}

    started = time.monotonic()
    assert wait_until_final(redis, stale_read, [1], timeout=5)
    assert time.monotonic() - started < 1
