"""The scheduler's log says what was done, not that a job ran (jobs run every second)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from services.scheduler.dispatch import dispatch_due
from services.scheduler.main import quiet_routine_lines
from tests.scheduler.test_dispatch import make_messages


@pytest.fixture
def apscheduler_level():
    logger = logging.getLogger("apscheduler")
    before = logger.level
    yield
    logger.setLevel(before)


def _run_one_job() -> None:
    ran = threading.Event()
    scheduler = BackgroundScheduler()
    # An interval job, as the scheduler's are (a one-off job's removal races the shutdown).
    scheduler.add_job(ran.set, "interval", seconds=60, next_run_time=datetime.now(UTC))
    scheduler.start()
    assert ran.wait(10)
    scheduler.shutdown()


def _routine(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name.startswith("apscheduler") and r.levelno < logging.WARNING]


@pytest.mark.usefixtures("apscheduler_level")
def test_apschedulers_routine_lines_are_not_logged_at_info(caplog):
    caplog.set_level(logging.INFO)
    quiet_routine_lines("INFO")
    _run_one_job()
    assert _routine(caplog) == []


@pytest.mark.usefixtures("apscheduler_level")
def test_debug_shows_them_again(caplog):
    caplog.set_level(logging.DEBUG)
    quiet_routine_lines("DEBUG")
    _run_one_job()
    assert any("executed successfully" in line for line in _routine(caplog))


def test_dispatch_logs_how_many_it_dispatched_and_nothing_when_none_was_due(
        engine, broker, settings, api_key, caplog):
    caplog.set_level(logging.INFO, logger="mailpipe.scheduler")
    dispatch_due(engine, broker, settings)
    assert caplog.messages == []
    make_messages(engine, api_key[0].id, 1, scheduled_at=datetime.now(UTC) + timedelta(seconds=0.3))
    time.sleep(0.4)  # now due
    dispatch_due(engine, broker, settings)
    assert caplog.messages == ["dispatched 1 message"]
