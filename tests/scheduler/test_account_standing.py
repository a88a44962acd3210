"""The account's own standing: GetAccount (SES over HTTP, the suite's scripted SES)
reporting sending disabled or an enforcement status other than HEALTHY pauses the fleet
and says why; the pause lifts once SES reports the account HEALTHY again."""

from __future__ import annotations

import time

import pytest

from services.scheduler.quota import refresh_quota, watch_pause
from shared.rate.pause import FleetPause
from shared.transports.ses import ses_client


@pytest.fixture
def ses(settings, fake_ses):
    fake_ses.account["EnforcementStatus"] = "HEALTHY"
    return ses_client(settings.model_copy(update={"aws_region": "us-east-1"}))


@pytest.mark.parametrize("status", ["PROBATION", "SHUTDOWN"])
def test_an_account_under_review_pauses_the_fleet_until_it_is_healthy(
        engine, redis, fake_ses, ses, status):
    pause = FleetPause(engine, redis, first_probe=0.01)
    assert refresh_quota(ses, None, pause)
    assert pause.state() is None
    fake_ses.account["EnforcementStatus"] = status
    assert refresh_quota(ses, None, pause)
    assert status in pause.state().reason and status in pause.reason()
    assert not watch_pause(ses, pause)  # still under review: still paused
    fake_ses.account["EnforcementStatus"] = "HEALTHY"
    deadline = time.monotonic() + 5
    while not watch_pause(ses, pause):  # the next probe (its backoff: hundredths of a second)
        assert time.monotonic() < deadline, "the pause did not lift once SES said HEALTHY"
    assert pause.state() is None and pause.reason() is None


def test_sending_disabled_pauses_the_fleet_and_says_so(engine, redis, fake_ses, ses):
    pause = FleetPause(engine, redis, first_probe=0.01)
    fake_ses.account["SendingEnabled"] = False
    refresh_quota(ses, None, pause)
    assert "SendingEnabled false" in pause.state().reason


def test_with_the_review_watch_off_only_disabled_sending_pauses(engine, redis, fake_ses, ses):
    pause = FleetPause(engine, redis, first_probe=0.01)
    fake_ses.account["EnforcementStatus"] = "PROBATION"
    assert refresh_quota(ses, None, pause, review=False)
    assert pause.state() is None
    fake_ses.account["SendingEnabled"] = False
    refresh_quota(ses, None, pause, review=False)
    assert "SendingEnabled false" in pause.state().reason
