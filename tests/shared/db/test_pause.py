"""The fleet's pause row: one pause however many senders are refused, one probe however
many schedulers look, and the probes' backoff."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from shared.db.pause import pause_sending, sending_pause, take_probe


@pytest.fixture
def paused(engine):
    with engine.begin() as conn:
        assert pause_sending(conn, "SES ExpiredToken: expired", first_probe=0)


def seconds_to_next_probe(engine) -> float:
    with engine.connect() as conn:
        return conn.execute(text("SELECT extract(epoch FROM next_probe_at - now()) "
                                 "FROM sending_pause")).scalar_one()


def make_probe_due(engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE sending_pause SET next_probe_at = now()"))


def test_a_second_refusal_keeps_the_first_pause_and_its_probe(engine, paused):
    with engine.begin() as conn:
        before = sending_pause(conn)
        assert not pause_sending(conn, "SES AccessDenied: denied", first_probe=60)
        after = sending_pause(conn)
    assert after.reason == "SES AccessDenied: denied"
    assert (after.paused_at, after.next_probe_at) == (before.paused_at, before.next_probe_at)


def test_two_schedulers_at_a_due_probe_make_one(engine, paused):
    start = threading.Barrier(2)
    taken: list = []

    def scheduler() -> None:
        with engine.begin() as conn:
            start.wait()
            taken.append(take_probe(conn, base=10, cap=300))

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(p is None for p in taken) == [False, True]
    assert [p.probes for p in taken if p] == [1]


def test_probes_back_off_doubling_up_to_the_cap(engine, paused):
    waits = []
    for _ in range(7):
        make_probe_due(engine)
        with engine.begin() as conn:
            assert take_probe(conn, base=10, cap=300) is not None
            assert take_probe(conn, base=10, cap=300) is None  # not due again yet
        waits.append(round(seconds_to_next_probe(engine)))
    assert waits == [10, 20, 40, 80, 160, 300, 300]
